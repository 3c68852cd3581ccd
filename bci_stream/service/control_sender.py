"""A shared worker's messages to the supervisor on its control pipe, sent by a thread (the worker's loop never blocks
on the pipe)."""

from __future__ import annotations

import queue
import threading
from multiprocessing.connection import Connection
from typing import Any


class ControlSender:
    """Messages to the supervisor on the worker's control pipe, sent by a thread (the loop never blocks)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.broken = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="bci-stream-control", daemon=True)
        self._thread.start()

    def put(self, message: Any) -> None:
        self._queue.put(message)

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self.conn.send(message)
            except (OSError, BrokenPipeError, ValueError):  # the supervisor is gone
                self.broken = True
                return

    def close(self, timeout: float = 2.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
