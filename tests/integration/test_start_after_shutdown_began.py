"""A decoder's start once the service's shutdown began (SIGTERM to serve's process group while POSTs still start
decoders) is refused as the shutdown's (503 ``ServiceEndingError``), and no worker is spawned for it. Before (audit
s68fault F1): shared workers were started after the shutdown began, then killed as hung, and a start whose fork server
the signal had ended was a bare 500 with a ConnectionRefusedError traceback."""

from __future__ import annotations

import pytest

from bci_stream.core.errors import ServiceEndingError
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import REPO


@pytest.mark.parametrize("worker", ["shared", "dedicated"])
def test_a_start_after_the_shutdown_began_is_refused_and_spawns_nothing(worker):
    sup = Supervisor(str(REPO / "models"), status_interval=0.1)
    try:
        sup.begin_shutdown()
        spec = DecoderSpec.model_validate({"stream": {"name": "bci-no-such-stream-s68"}, "model": "sim-mi-gru",
                                           "id": "late", "options": {"worker": worker}})
        with pytest.raises(ServiceEndingError, match="decoder late was not started: the service is shutting down"):
            sup.start(spec, 4, 160.0)
        assert sup.get("late") is None and sup.list() == []
        assert all(w is None for w in sup.pool.workers), "a shared worker was started after the shutdown began"
    finally:
        sup.shutdown()
