"""A restart whose model copy cannot be read now (an I/O error of the disk) still goes ahead: its worker retries the
read, or says why (review s61 F2: since the supervisor verifies the copy before a restart, the Ray path, which caught
only ModelError there, let the OSError out of the monitor round after the restart time was cleared: the decoder stayed
``starting`` for good, never restarted and never final).

The real supervisor (its monitor rounds run here), a real copy of the bundled model; the backend's slow start (Ray's)
and its start queue stand in for a cluster; the disk's EIO is raised by the registry's file check."""

from __future__ import annotations

import errno
import time

from bci_stream.core import registry
from bci_stream.core.spec import DecoderSpec
from bci_stream.core.status import WorkerStatus
from bci_stream.service.backends.handle import DecoderHandle
from support.common import REPO
from support.idle_supervisor import idle_supervisor


class Dead:
    """A worker process that ended (exit code 1)."""

    pid, exitcode = 1, 1

    def is_alive(self) -> bool:
        return False

    def join(self, timeout: float | None = None) -> None:
        return None


def test_a_copy_that_cannot_be_read_now_does_not_hold_up_the_restart(monkeypatch, tmp_path):
    monkeypatch.setenv("BCI_STREAM_PINS_DIR", str(tmp_path / "pins"))
    with idle_supervisor(REPO / "models", max_restarts=3) as sup:
        monkeypatch.setattr(sup.backend, "slow_start", True, raising=False)  # as RayBackend
        submitted: list[str] = []
        monkeypatch.setattr(sup.starts, "submit", lambda h: submitted.append(h.id))
        handle = DecoderHandle("pinread", DecoderSpec.model_validate({"stream": {"name": "x"},
                                                                      "model": "eegmmidb-s001-gru"}), backend="ray")
        assert not isinstance(sup._copy(handle), Exception)
        handle.process, handle.exit_code, handle.restart_at = Dead(), 1, time.monotonic() - 1
        handle.status = WorkerStatus(state="starting", error="worker crashed: boom")
        with sup._lock:
            sup._handles[handle.id] = handle

        def eio(entry, *args, **kwargs):
            raise OSError(errno.EIO, "Input/output error", str(entry.onnx_path))

        with monkeypatch.context() as m:
            m.setattr(registry, "verify_files", eio)
            sup._monitor_once(0.0)  # before: OSError out of the round
        assert submitted == ["pinread"] and handle.status.state == "starting" and handle.generation == 1
