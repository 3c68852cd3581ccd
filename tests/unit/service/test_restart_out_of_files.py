"""A worker restart that fails for want of file descriptors says so in the words an operator acts on: its
``last_error`` names the open-files limit (RLIMIT_NOFILE), as the 503 of a ``POST /decoders`` does, and the restart is
retried under the crash policy (review s53rev F3: it said only ``OSError: [Errno 24] Too many open files``). The real
Supervisor; its worker start (the backend's, or the shared pool's) made to fail with EMFILE, as the fork-server
handshake fails when the API process is out of descriptors (tests/integration/test_open_files_decoders.py runs that
for a first start)."""

from __future__ import annotations

import errno
import os

import pytest

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from support.idle_supervisor import idle_supervisor


@pytest.fixture
def supervisor(tmp_path):
    with idle_supervisor(tmp_path, max_restarts=3) as sup:
        yield sup


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_a_restart_out_of_file_descriptors_names_the_limit_and_is_retried(supervisor, worker):
    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m",
                                                              "options": {"worker": worker}}))
    with supervisor._lock:
        supervisor._handles["d1"] = handle

    def out_of_files(*args, **kwargs):
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    if worker == "shared":
        supervisor.pool.place = out_of_files
    else:
        supervisor.backend.start = out_of_files
    supervisor._restart(handle)
    assert "its worker process could not be started: [Errno 24] Too many open files" in handle.last_error, \
        handle.last_error
    assert "its limit (RLIMIT_NOFILE) is" in handle.last_error, handle.last_error
    assert handle.restarts == 1 and "restart 1/3 in" in handle.last_error, handle.last_error  # retried
