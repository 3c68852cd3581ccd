"""When a crashed decoder is restarted, and what its status says while the restart waits.

A decoder's ``restarts`` counts every restart of its life (status, ``/metrics``). The budget (``max_restarts``)
and the backoff (``restart_backoff`` doubled per restart, at most 30 s: :func:`~.backends.starts.restart_delay`)
count only the restarts since a worker generation last ran healthy: one that reported ``running`` and lived on for
``healthy_s`` seconds (setting ``restart_reset_s``; stalls meanwhile count as healthy: the worker was fine, the
source was not). So a crash after a long good run is treated as a first crash (restarted after the first backoff,
with the whole budget), while crashes in quick succession (a worker that dies at start, or soon after it runs)
still end in ``error`` after ``max_restarts``; as systemd's ``StartLimitIntervalSec`` and supervisord's
``startsecs``. A decoder whose workers could not load its model for a condition of the server (exit code
``EXIT_UNAVAILABLE``: memory, file descriptors, storage) at least twice in a row until the budget is used up says so
in its final ``last_error``: the model, how many times in a row, the last error, and that it will not be retried
automatically (as a hot swap's refusal does; the exit code does not say whether it was a shortage, so not "may never
fit"). After a single such failure ``last_error`` is the exit and the worker's error. Any other crash the budget
leaves final says so after its own words (``not restarted: its restarts are used up ...``), and so does the log.

While a restart waits for its backoff the decoder is ``starting`` (``last_error`` says why, the handle's
``restart_at`` when): ``error`` is final, a decoder that will not decode again unless it is started anew.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from bci_stream.core.load_errors import given_up
from bci_stream.service.backends.starts import restart_delay, start_failure
from bci_stream.service.worker_entry import EXIT_UNAVAILABLE, NODE_GONE, RESTARTED

log = logging.getLogger("bci_stream.supervisor")

#: Seconds a worker generation must have been running for its crash to count as a first crash (the default of the
#: ``restart_reset_s`` setting).
DEFAULT_HEALTHY_S = 60.0


def exit_error(handle: Any, exit_message: str) -> str:
    """``last_error`` of ``handle`` whose worker ended with ``handle.exit_code`` (not a refusal): ``exit_message``
    (the backend's) and what the worker said before it (a crash's traceback, the model it could not load now); a
    stream that left a shared worker: the code and the worker's pid."""
    said = handle.status.error
    if handle.slot_exit is not None:
        return (f"decoder {handle.id} ended with code {handle.exit_code} in shared worker pid {handle.process.pid}"
                + (f": {said}" if said else ""))
    keep = said and (said.startswith(("worker crashed", RESTARTED)) or handle.exit_code == EXIT_UNAVAILABLE
                     or NODE_GONE in said)  # a Ray actor whose node went down says so (audit s70ray F5)
    return exit_message + (f"; its last error: {said}" if keep else "")


def final(handle: Any) -> bool:
    """No restart of ``handle`` is coming: its worker ended and it was left in ``error`` (restarts used up, a
    refusal, a placement nobody can meet) or ended cleanly (``stopped``, exit code 0). It stays so, with no worker,
    until it is deleted. Read it on the supervisor's monitor thread (which alone judges ends and restarts)."""
    return handle.exit_code is not None and handle.restart_at is None and handle.status.state in ("error", "stopped")


class RestartPolicy:
    """The crash policy of one supervisor.

    Parameters
    ----------
    max_restarts
        Restarts allowed since the decoder last ran healthy; one more crash leaves it in ``error``.
    backoff
        Delay of the first restart in seconds (doubled on each further one since it last ran healthy; at most 30 s).
    healthy_s
        Seconds a generation must have run (from its first ``connecting`` or ``running`` status) to reset the budget
        and backoff.
    """

    def __init__(self, max_restarts: int, backoff: float, healthy_s: float = DEFAULT_HEALTHY_S) -> None:
        if not healthy_s > 0:
            raise ValueError(f"restart_reset_s must be > 0 seconds, got {healthy_s!r}")
        self.max_restarts, self.backoff, self.healthy_s = max_restarts, backoff, healthy_s

    def saw(self, handle: Any, state: str, now: float) -> None:
        """A status of the current generation: note when it first ran, or waited for its stream (``connecting``: a
        decoder waiting for an amplifier not yet on could never renew its budget, and crashes of the shared worker
        its neighbours crashed ended it for good: audit s62multi F7)."""
        if state in ("connecting", "running") and handle.running_since is None:
            handle.running_since = now

    def _reset_if_healthy(self, handle: Any, now: float) -> None:
        """The generation that just ended ran for ``healthy_s``: its crash is a first crash again."""
        if handle.running_since is not None and now - handle.running_since >= self.healthy_s:
            if handle.recent_restarts:
                log.info("decoder %s ran %.0f s before this crash: its restart budget and backoff start anew",
                         handle.id, now - handle.running_since)
            handle.recent_restarts = 0
        handle.running_since = None

    def crashed(self, handle: Any, now: float, refused: bool) -> float | None:
        """A worker of ``handle`` ended (``handle.last_error`` says how); schedule its restart, or leave it in
        ``error`` (refused, or the budget is used up). Returns the delay, or None (final). Call under the
        supervisor's lock."""
        self._reset_if_healthy(handle, now)
        delay = None if refused else restart_delay(handle.recent_restarts, self.max_restarts, self.backoff)
        handle.load_failures = handle.load_failures + 1 if handle.exit_code == EXIT_UNAVAILABLE else 0
        if delay is None and handle.load_failures >= 2:  # one failure alone: its exit and its error, as they are
            handle.last_error = given_up(f"model {handle.spec.model!r}", handle.load_failures,
                                         handle.status.error or str(handle.last_error), shortage=False)
        elif delay is None and not refused:  # before: the same words as each restarted crash's, and no log line
            handle.last_error = f"{handle.last_error}; {self._used_up(handle)}"
        if delay is None and not refused:
            log.error("decoder %s: %s", handle.id, handle.last_error)
        if delay is not None:
            handle.restarts += 1
            handle.recent_restarts += 1
            handle.restart_at = now + delay
            log.error("%s; restart %d/%d in %.1f s (%d in all)", handle.last_error, handle.recent_restarts,
                      self.max_restarts, delay, handle.restarts)
        self._show(handle, delay)
        return delay

    def _used_up(self, handle: Any) -> str:
        """Why a crash is final: no restart allowed, or the restarts since it last ran healthy are used up."""
        if not self.max_restarts:
            return "not restarted (setting max_restarts is 0): it stays in error until deleted"
        return (f"not restarted: its restarts are used up ({handle.recent_restarts}/{self.max_restarts} since it last "
                f"ran healthy, {self.healthy_s:g} s in a row; settings max_restarts, restart_reset_s): it stays in "
                "error until deleted")

    def start_failed(self, handle: Any, exc: BaseException, now: float) -> float | None:
        """A restart failed (:func:`~.backends.starts.start_failure` judges it, on the restarts since the decoder
        last ran healthy): schedule the next try, or leave it in ``error``. Call under the supervisor's lock."""
        self._reset_if_healthy(handle, now)
        view = SimpleNamespace(id=handle.id, last_error=handle.last_error, restarts=handle.recent_restarts)
        delay = start_failure(view, exc, self.max_restarts, self.backoff)
        handle.last_error = view.last_error
        if delay is not None:
            handle.restarts += view.restarts - handle.recent_restarts
            handle.recent_restarts = view.restarts
            if not handle.stopping:
                handle.restart_at = now + delay
        self._show(handle, delay)
        return delay

    @staticmethod
    def _show(handle: Any, delay: float | None) -> None:
        """``starting`` while a restart is pending (``error`` only when final); a crash ends any stall."""
        if delay is None:
            handle.restart_at = None
        handle.status = replace(handle.status, state="error" if delay is None else "starting",
                                error=handle.last_error, stall=None)
