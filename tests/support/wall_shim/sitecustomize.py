"""A wall clock that steps, for tests (this folder on ``PYTHONPATH``: every Python process started with it, a serve's
workers too, imports this at start). ``time.time()`` and ``time.time_ns()`` get an offset in seconds read from the
file ``$BCI_TEST_WALL_OFFSET_FILE`` (read again every 0.1 s); the monotonic clocks (and liblsl's ``local_clock``) are
untouched, as when NTP steps a host's clock or a resumed VM sets it. (libfaketime cannot do this here: with
``FAKETIME_DONT_FAKE_MONOTONIC=1`` it makes Python's ``time.sleep`` fail with EINVAL.)"""

import os
import time

_FILE = os.environ.get("BCI_TEST_WALL_OFFSET_FILE")
if _FILE:
    _time, _time_ns, _monotonic = time.time, time.time_ns, time.monotonic
    _cache = [0.0, -1.0]  # the offset, when it was read

    def _offset() -> float:
        now = _monotonic()
        if now - _cache[1] > 0.1:
            try:
                with open(_FILE) as f:
                    _cache[0] = float(f.read().strip() or 0.0)
            except (OSError, ValueError):
                pass
            _cache[1] = now
        return _cache[0]

    time.time = lambda: _time() + _offset()
    time.time_ns = lambda: _time_ns() + int(_offset() * 1e9)
