"""The line-based JSON protocol between the benchmark and its role processes (:mod:`latency_bench.roles`).

Commands arrive on stdin, one JSON object per line (:class:`Commands` reads them on a thread; end of stdin stops the
role); events leave on stdout, one JSON object per line (:func:`emit`).
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from typing import Any


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout (the orchestrator reads them)."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class Commands:
    """Reads stdin lines on a thread; ``get()`` returns the next command or None; ``eof`` once stdin closed."""

    def __init__(self) -> None:
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self.eof = threading.Event()
        threading.Thread(target=self._read, name="commands", daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            line = line.strip()
            if line:
                try:
                    self.queue.put(json.loads(line))
                except json.JSONDecodeError as exc:
                    emit("error", error=f"command must be a JSON object, got {line!r}: {exc}")
        self.eof.set()

    def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        try:
            return self.queue.get(timeout=timeout) if timeout else self.queue.get_nowait()
        except queue.Empty:
            return None
