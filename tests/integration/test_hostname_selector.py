"""A decoder that selects its stream by ``hostname`` never goes on with the same source on another host: two senders
on two host names (``unshare``: a UTS namespace each, the network shared), one stream name and source_id. liblsl
re-subscribes an inlet by source_id, whatever the host; before, the decoder then decoded the other host's samples
with the same state, ``running``, its status still naming the host it selected. Real LSL, a real worker process."""

from __future__ import annotations

import subprocess

import pytest

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.clock_sender import sender
from support.common import TINY_SFREQ, unique
from support.lsl import wait_for


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_a_decoder_pinned_to_a_host_refuses_the_same_source_from_another(models_dir, worker):
    assert subprocess.run(["unshare", "--user", "--map-root-user", "--uts", "true"]).returncode == 0, \
        "unshare (util-linux) cannot make a user namespace here: the test needs senders on host names of their own"
    sup = Supervisor(str(models_dir), status_interval=0.1, shared_workers=1)
    name = unique("pinned")
    other = sender(name, None, 20.0, hostname="host-a")  # sends once it has a consumer: only if switched to
    mine = sender(name, None, 2.0, hostname="host-b")
    try:
        spec = DecoderSpec.model_validate({"stream": {"name": name, "hostname": "host-b"}, "model": "tiny-gru",
                                           "options": {"worker": worker}})
        handle = sup.start(spec, n_outputs=3, sfreq=TINY_SFREQ)
        assert mine.wait(60) == 0  # host-b sent its 2 s and is gone
        wait_for(lambda: handle.status.state == "error", 60, "the switch to host-a refused")
        error = handle.status.error
        assert "came back as a new outlet instance on host 'host-a', not on 'host-b'" in error, error
        assert handle.status.counters.samples_in == int(2.0 * TINY_SFREQ)  # host-b's, none of host-a's
        assert handle.status.stream["hostname"] == "host-b"
    finally:
        for p in (other, mine):
            if p.poll() is None:
                p.kill()
        sup.shutdown()
