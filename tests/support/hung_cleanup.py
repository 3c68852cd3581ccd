"""A dedicated worker, in a process of its own, that fails and then hangs in its clean-up (as one whose recording
sits on a dead network mount): the target of :mod:`tests.unit.service.test_hung_cleanup` (a spawned process imports
it by name)."""

from __future__ import annotations

import threading
from multiprocessing.connection import Connection

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.worker import DecoderWorker


def run_then_hang(spec_json: str, models_dir: str, cmd_conn: Connection, status_conn: Connection, limit: float,
                  crash: bool) -> None:
    """Run a decoder of ``spec_json`` whose load fails (``crash``: with a RuntimeError, else as the spec makes it
    fail) and whose clean-up never ends; the process exits as the worker does (``SystemExit`` of its code)."""

    class HungWorker(DecoderWorker):
        cleanup_limit_s = limit

        def load(self) -> None:
            if crash:
                raise RuntimeError("a crash while loading")
            super().load()

        def close(self) -> None:
            super().close()
            threading.Event().wait()  # never set: hung

    worker = HungWorker("d1", 1, DecoderSpec.model_validate_json(spec_json), models_dir, cmd_conn,
                        StatusSender(status_conn), 0.1)
    raise SystemExit(worker.run())


def run_then_live_on(spec_json: str, models_dir: str, cmd_conn: Connection, status_conn: Connection,
                     limit: float) -> None:
    """Run a decoder of ``spec_json`` whose model is refused, its clean-up ending at once, in this process, which then
    lives on for ``3 * limit`` s and exits 0: the timer of :meth:`DecoderWorker.exit_if_stuck` must not end it."""
    import time

    class QuickWorker(DecoderWorker):
        cleanup_limit_s = limit

    worker = QuickWorker("d1", 1, DecoderSpec.model_validate_json(spec_json), models_dir, cmd_conn,
                         StatusSender(status_conn), 0.1)
    worker.run()
    time.sleep(3 * limit)
    raise SystemExit(0)
