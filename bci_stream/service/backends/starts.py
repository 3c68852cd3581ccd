"""Worker starts off the supervisor's monitor thread, and the restart policy they share with crashes.

A Ray actor may take up to ``start_timeout`` seconds to be placed and to connect back; the monitor thread must
go on reading every other decoder's status and checking its liveness meanwhile. A backend that says
``slow_start = True`` therefore has its restarts run by :class:`Starts` (a thread per start): the decoder shows
state ``starting`` while its start is under way, and the monitor loop takes up the result (:meth:`Starts.done`)
when it is ready. A start that fails is judged by :func:`start_failure`: a placement that no node can meet
(a plain :class:`~bci_stream.core.errors.PlacementError`) is final at once; a transient failure
(:class:`WorkerStartFailed`: the actor did not start in time, or died while starting; or any other error of the
backend) is retried under the same policy as a worker crash (:func:`restart_delay`: ``max_restarts``,
``restart_backoff`` doubled each time, at most 30 s).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any, Callable

from bci_stream.core.errors import (BciStreamError, DecoderStoppingError, ModelError, PlacementError,
                                    ServiceEndingError)

MAX_BACKOFF_S = 30.0
#: How often a start waiting for its worker looks whether the service's shutdown began (s).
WAIT_SLICE_S = 0.2


class WorkerStartFailed(PlacementError):
    """A worker that could be placed did not start (timeout, or it died while starting): worth another try."""


def start_ended(handle: Any, ending: threading.Event) -> BciStreamError | None:
    """Why a start of ``handle``'s worker that is still waiting must end now, or None: the service's shutdown began
    (``ending``: :class:`ServiceEndingError`, a 503), or the decoder is being deleted (:class:`DecoderStoppingError`,
    the 409 its ``POST`` gets). Before, such a start waited on for its whole ``start_timeout``: cut off by the server's
    graceful shutdown (a bare 500), or answered 422 "did not start within 60 s" for a decoder deleted long before
    (audit s61ray F3, F4)."""
    if ending.is_set():
        return ServiceEndingError(f"decoder {handle.id} was not started: the service is shutting down (SIGTERM or "
                                  "Ctrl-C) while its worker waited to be placed or to start")
    if handle.stopping:
        return DecoderStoppingError(f"decoder {handle.id} was stopped (DELETE, or the service's shutdown) while this "
                                    "request started it: it is gone")
    return None


def wait_sliced(step: Callable[[float], bool], timeout: float, ended: Callable[[], BciStreamError | None]) -> bool:
    """``step(t)`` again (``t`` at most :data:`WAIT_SLICE_S`) until it is true (True) or ``timeout`` s passed (False);
    the error ``ended()`` gives (the service's shutdown, a DELETE: :func:`start_ended`) is raised as soon as it gives
    one. A start's wait for its worker and a command's for its answer (:mod:`~bci_stream.service.requests`)."""
    deadline = time.monotonic() + timeout
    while True:
        if step(max(0.0, min(WAIT_SLICE_S, deadline - time.monotonic()))):
            return True
        if (why := ended()) is not None:
            raise why
        if time.monotonic() >= deadline:
            return False


def wait_in_slices(wait: Callable[[float], Any], timeout: float, ended: Callable[[], BciStreamError | None]) -> Any:
    """What ``wait(t)`` returns, called again by :func:`wait_sliced` while it raises :class:`TimeoutError` (Ray's
    ``GetTimeoutError`` is one): its last TimeoutError after ``timeout`` s."""
    got: list[Any] = []
    timed_out: list[TimeoutError] = []

    def step(t: float) -> bool:
        try:
            got.append(wait(t))
            return True
        except TimeoutError as exc:
            timed_out[:] = [exc]
            return False

    if wait_sliced(step, timeout, ended):
        return got[0]
    raise timed_out[0]


def restart_delay(restarts: int, max_restarts: int, backoff: float) -> float | None:
    """Seconds before restart number ``restarts + 1``, or None when ``max_restarts`` are used up."""
    if restarts >= max_restarts:
        return None
    return min(MAX_BACKOFF_S, backoff * 2 ** restarts)


def start_failure(handle: Any, exc: BaseException, max_restarts: int, backoff: float) -> float | None:
    """Record why ``handle``'s restart failed in its ``last_error``; the delay of the next try, or None (final).

    A placement nobody can meet is final, and so is a model that is no longer what the decoder ran (ModelError from
    the supervisor's pin check); a transient failure is retried while restarts are left (``restarts`` counts this try
    as one).
    """
    reason = str(exc) if isinstance(exc, (PlacementError, ModelError)) else f"{type(exc).__name__}: {exc}"
    transient = isinstance(exc, WorkerStartFailed) or not isinstance(exc, (PlacementError, ModelError))
    delay = restart_delay(handle.restarts, max_restarts, backoff) if transient else None
    cause = handle.last_error.split(" | restart ")[0] if handle.last_error else "a crash"
    if delay is None:
        used = f" ({handle.restarts}/{max_restarts} restarts used)" if transient else ""
        handle.last_error = f"decoder {handle.id} could not be restarted after {cause}{used}: {reason}"
        return None
    handle.restarts += 1
    handle.last_error = (f"{cause} | restart {handle.restarts - 1} failed: {reason}; restart {handle.restarts}/"
                         f"{max_restarts} in {delay:.1f} s")
    return delay


class Starts:
    """Worker starts, each on a daemon thread of its own; :meth:`done` hands finished ones to the monitor loop.

    Restarts are rare, so a thread per start is cheap, and a daemon thread never holds up the exit of a service
    shut down while a start waits (an actor still waiting dies with the Ray driver).

    Parameters
    ----------
    start
        ``start(handle) -> WorkerLink`` (the backend's start; may block up to its timeout).
    """

    def __init__(self, start: Callable[[Any], Any]) -> None:
        self._start = start
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[Any, Future]] = {}
        self._closed = False

    def submit(self, handle: Any) -> None:
        """Start ``handle``'s worker on a thread (one start per decoder at a time; none once shut down)."""
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(self._start(handle))
            except BaseException as exc:  # noqa: BLE001 - handed to the monitor loop, which judges it
                future.set_exception(exc)

        with self._lock:
            if self._closed:  # the service is going away: its decoders are stopped, not restarted
                return
            if handle.id in self._pending:
                raise RuntimeError(f"decoder {handle.id} is already starting")
            self._pending[handle.id] = (handle, future)
        threading.Thread(target=run, name=f"bci-stream-start-{handle.id}", daemon=True).start()

    def pending(self, decoder_id: str) -> bool:
        with self._lock:
            return decoder_id in self._pending

    def done(self) -> list[tuple[Any, Future]]:
        """The finished starts (each once): ``(handle, future)``; ``future.result()`` is the link or raises."""
        with self._lock:
            finished = [(h, f) for h, f in self._pending.values() if f.done()]
            for handle, _ in finished:
                self._pending.pop(handle.id, None)
        return finished

    def shutdown(self) -> None:
        """Take no more starts; those under way end by their own timeout (their threads do not block exit)."""
        with self._lock:
            self._closed = True
