"""A decoder that cannot keep up with its stream: said in ``load.warning``, the log and the recording, and its end.

The recent load (:class:`~bci_stream.service.liveness.LoadWindow`) measures it (``busy``, the backlog, the samples
lost), but figures alone leave a decoder losing half its input ``running`` with nothing said. This watch reads the
figures at each status report and warns when, over a window of at least :data:`MIN_WINDOW_S`, the worker was busy
with the stream :data:`BUSY_WARN` of the time or more, or samples were lost while the backlog reached
:data:`BACKLOG_FULL` of the inlet's buffer (``options.max_buffer_s``: the oldest samples are dropped). The warning
names the busy fraction, the samples lost in the window, the work per sample against the sample period, and what to
do; it is logged once per episode and ends (logged, an event with message null) once the window's ``busy`` is below
:data:`BUSY_END` with no loss at a full buffer. A loss at a full buffer while the decoder is not saturated (``busy``
below :data:`BUSY_END`, its backlog since drained below a tenth of the buffer, or at the next report still not
saturated: the first report may come while the burst is still being pulled) is a burst, said as one: more than
``max_buffer_s`` came at once, or the worker did not run; the remedy is a longer buffer (before, it was blamed on the
decoder's speed, with a smaller model as the advice: audit s63fault F1, s68ingest F2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bci_stream.service.worker_load import WorkerLoad

log = logging.getLogger("bci_stream.worker")

#: busy at least this share of a window of at least :data:`MIN_WINDOW_S`: saturated
BUSY_WARN = 0.95
#: the warning ends once busy is below this (and no samples are lost at a full buffer)
BUSY_END = 0.8
#: the shortest window read (seconds): the first chunks after a start (a model warming up) say nothing
MIN_WINDOW_S = 3.0
#: samples lost while the backlog reached this share of the inlet's buffer: lost to the backlog limit
BACKLOG_FULL = 0.9


class SaturationWatch:
    """Whether one decoded stream keeps up (see the module docstring).

    Parameters
    ----------
    describe
        The load window's ``describe(now) -> figures`` (:meth:`~bci_stream.service.liveness.LoadWindow.describe`).
    sfreq
        The stream's nominal rate (0 or less: irregular, no sample period to compare with).
    max_buffer_s
        ``options.max_buffer_s``: the inlet's buffer, seconds.
    on_event
        ``on_event(kind, **fields)``: the recording's events (``saturated``).
    name
        Who is speaking in the log (``decoder <id>``).
    shared
        The stream shares its worker process with others (the advice then names a dedicated worker).
    worker_load
        A shared worker's own load (:class:`~bci_stream.service.worker_load.WorkerLoad`): its busy share is
        ``worker_busy`` in the figures, and saturates the stream as its own ``busy`` does (a stream's ``busy`` is its
        part of the worker's work: near 1/N or below with N streams, however far behind the worker falls).
    """

    def __init__(self, describe: Callable[[float], dict[str, Any]], sfreq: float, max_buffer_s: float,
                 on_event: Callable[..., None], name: str, shared: bool = False,
                 worker_load: WorkerLoad | None = None) -> None:
        self.window_describe, self.sfreq, self.max_buffer_s = describe, sfreq, max_buffer_s
        self.on_event, self.name, self.shared, self.worker_load = on_event, name, shared, worker_load
        self.warning: str | None = None
        #: a loss at a full buffer seen at a report with the decoder not saturated and its backlog not yet drained:
        #: the report was taken while a burst was still being pulled, or a flood began; the next report tells
        self.undecided = False

    def describe(self, now: float) -> dict[str, Any]:
        """The load figures at ``now`` with ``worker_busy`` (a shared worker's; else None) and ``warning`` (None
        while the decoder keeps up)."""
        figures = self.window_describe(now)
        figures["worker_busy"] = None if self.worker_load is None else self.worker_load.busy(now)
        figures["warning"] = self.check(figures)
        return figures

    def check(self, f: dict[str, Any]) -> str | None:
        """The warning for the window's figures ``f`` (logged and recorded when it starts and when it ends)."""
        own, lost = f.get("busy"), f.get("samples_lost") or 0
        busy = max((b for b in (own, f.get("worker_busy")) if b is not None), default=None)
        full = self.max_buffer_s * self.sfreq if self.sfreq > 0 else 0.0
        losing = lost > 0 and full > 0 and self._held(f) >= BACKLOG_FULL * full
        saturated = busy is not None and f.get("window_s", 0.0) >= MIN_WINDOW_S and busy >= BUSY_WARN
        if self.warning is None and not (saturated or losing):
            self.undecided = False
            return None
        if self.warning is None and not saturated and not self.undecided and not self._caught_up(f) \
                and (busy is None or busy < BUSY_END):  # (audit s68ingest F2: a burst was said as a slow decoder)
            self.undecided = True
            return None
        if self.warning is not None and not losing and (busy is None or busy < BUSY_END):
            log.info("%s: keeping up again (busy %.2f over the last %.0f s): the saturation warning ended", self.name,
                     busy or 0.0, f.get("window_s", 0.0))
            self.on_event("saturated", message=None)
            self.warning, self.undecided = None, False
            return None
        started = self.warning is None
        self.warning = self.text(f, lost)
        if started:
            log.warning("%s: %s", self.name, self.warning)
            self.on_event("saturated", message=self.warning)
        return self.warning

    @staticmethod
    def _held(f: dict[str, Any]) -> int:
        """The most the inlet held over the window: its largest backlog after a chunk, or, where one pull empties it
        (a buffer of up to PULL_MAX_SAMPLES), at a pull (before, such a buffer's overflow was never said: the
        backlog after the pull was 0)."""
        return max(f.get("backlog_max", 0), f.get("held_max", 0))

    def _caught_up(self, f: dict[str, Any]) -> bool:
        """The backlog drained below a tenth of the inlet's buffer."""
        return f.get("backlog_samples", 0) < (1 - BACKLOG_FULL) * self.max_buffer_s * max(self.sfreq, 0.0)

    def text(self, f: dict[str, Any], lost: int) -> str:
        """The warning in words, with the window's figures."""
        busy, rate, worker = f.get("busy") or 0.0, f.get("input_rate_hz") or 0.0, f.get("worker_busy")
        if worker is not None and worker >= BUSY_END and worker > busy:
            e2e = (f.get("hist") or {}).get("e2e") or {}
            late = f"; its outputs up to {e2e['max'] * 1e3:.0f} ms after their input's stamps" if e2e.get("max") else ""
            return (f"the shared worker running this decoder cannot keep up with its streams: busy (not waiting for "
                    f"data) {worker:.0%} of the last {f.get('window_s', 0):.0f} s (this stream's own part: "
                    f"{busy:.0%}, pulling {rate:.0f} samples/s){late}; {lost} sample(s) lost in that window (the inlet "
                    f"keeps max_buffer_s={self.max_buffer_s:g} s and drops the oldest). Spread the streams over more "
                    "shared workers (setting shared_workers), give this one a dedicated worker (options.worker "
                    "'dedicated') on a host with the cores for it, or use a smaller model")
        if lost and (self._caught_up(f) or self.undecided) and busy < BUSY_END \
                and (worker is None or worker < BUSY_END):  # a burst (module doc): drained, or still not saturated
            return (f"{lost} sample(s) lost in the last {f.get('window_s', 0):.0f} s to the inlet's buffer (it keeps "
                    f"max_buffer_s={self.max_buffer_s:g} s and drops the oldest; it held up to "
                    f"{self._held(f)} sample(s)) while the decoder was not saturated (busy {busy:.0%}): "
                    "more than max_buffer_s of samples came at once (a sender pushing what it held during a pause) or "
                    "this worker did not run meanwhile (a stopped or starved process). Raise options.max_buffer_s to "
                    "hold such bursts, or have the sender push its samples as it takes them")
        nominal = f" (the stream's nominal rate: {self.sfreq:g} Hz)" if self.sfreq > 0 else ""
        cost = f"{1e3 * busy / rate:.2f} ms of work per sample" if rate > 0 else "no sample decoded"
        period = f" against a sample period of {1e3 / self.sfreq:.2f} ms" if self.sfreq > 0 and rate > 0 else ""
        where = "a dedicated worker (options.worker 'dedicated'), " if self.shared else ""
        return (f"the decoder cannot keep up with its stream: busy {busy:.0%} of the last {f.get('window_s', 0):.0f} "
                f"s, pulling {rate:.0f} samples/s{nominal}: {cost}{period}; {lost} sample(s) lost in that window "
                f"(the inlet keeps max_buffer_s={self.max_buffer_s:g} s and drops the oldest), backlog "
                f"{f.get('backlog_samples', 0)} sample(s). Use a smaller model, {where}a faster host, or a sender that "
                "pushes chunks of several samples (a worker behind its stream steps them in one call)")
