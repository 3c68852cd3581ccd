"""How busy a shared worker process is as a whole: the share of the recent time it did not wait for data.

A stream's own ``load.busy`` is its part of the worker's work (a batched step's time split among the streams in it),
so with N streams on one worker each stream's ``busy`` stays near 1/N or below however far behind the worker falls:
an audit ran 8-16 streams of 64 channels at 1 kHz on one shared worker, their outputs 50-600 ms late, every
``busy`` 0.08-0.27 and no ``load.warning`` (audit s42, perf F1). The worker's own figure is what says it: a worker
that keeps up waits for its streams' next samples some of the time (in a pull's timeout, or for a control message);
one that never waits, busy or kept off the CPU by the rest of the host, is behind. :class:`WorkerLoad` counts the
seconds the worker loop waited (:meth:`WorkerLoad.waited`) and gives ``1 - waited / elapsed`` over a sliding window
(:meth:`WorkerLoad.busy`), which every stream of the worker reads as its ``load.worker_busy``
(:class:`~bci_stream.service.saturation.SaturationWatch` warns on it as on its own ``busy``).
"""

from __future__ import annotations

from collections import deque

#: the window's length and the interval of its marks, seconds (as a stream's LoadWindow)
WINDOW_S, STEP_S = 10.0, 1.0
#: the shortest span read (seconds): a worker just started says nothing
MIN_SPAN_S = 3.0


class WorkerLoad:
    """The recent busy share of one worker loop (see the module docstring); ``now``: ``local_clock()`` at its start."""

    def __init__(self, now: float) -> None:
        self.total_waited = 0.0
        self.marks: deque[tuple[float, float]] = deque([(now, 0.0)])  # (time, total_waited then)

    def waited(self, seconds: float) -> None:
        """The loop spent ``seconds`` waiting for data or a message (a pull's or a poll's timeout)."""
        self.total_waited += seconds

    def busy(self, now: float) -> float | None:
        """``1 - waited / elapsed`` since the oldest mark at most :data:`WINDOW_S` old (None below
        :data:`MIN_SPAN_S`), clipped to [0, 1]; a new mark once :data:`STEP_S` has passed."""
        marks = self.marks
        while len(marks) > 1 and now - marks[1][0] >= WINDOW_S:
            marks.popleft()
        t0, waited0 = marks[0]
        if now - marks[-1][0] >= STEP_S:
            marks.append((now, self.total_waited))
        span = now - t0
        if span < MIN_SPAN_S:
            return None
        return min(1.0, max(0.0, 1.0 - (self.total_waited - waited0) / span))
