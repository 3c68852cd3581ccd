"""A forgetting least-squares line of timestamps against sample index (the model of liblsl's dejitter)."""

from __future__ import annotations

from typing import Any

import numpy as np

REBASE = 100_000  # samples: the fit's index origin moves on after this many (numerics)
FLOOR_ANCHORS = 512  # the latest anchors kept for :meth:`LineFit.floor` (at most a half-life of them)

Line = tuple[int, float, float, float]
"""``(x_ref, y_ref, a, b)``: ``t = y_ref + a + b (x - x_ref)``."""


def line_at(line: Line, x: Any) -> Any:
    x_ref, y_ref, a, b = line
    return y_ref + a + b * (x - x_ref)


class LineFit:
    """Exponentially weighted least squares ``t = y_ref + a + b (x - x_ref)`` of anchor stamps ``t`` against
    sample index ``x``, with a ridge prior on the slope ``b``, so one anchor already gives a line.

    The same estimate as liblsl's ``postproc_dejitterer`` (recursive least squares with a forget factor),
    kept as weighted sums so a chunk's anchors go in with a few numpy calls.

    It also keeps the latest anchors of its segment (since :meth:`start`; :data:`FLOOR_ANCHORS`, at most a half-life
    back) for :meth:`floor`: the line's offset to their lower envelope.

    Parameters
    ----------
    period
        The nominal sample period 1/sfreq, s: the first prior slope; the slope stays within 10 % of it.
    halftime_samples
        Half-life of an anchor's weight, in samples.
    """

    def __init__(self, period: float, halftime_samples: float) -> None:
        self.lam = 2.0 ** (-1.0 / halftime_samples)
        self.kappa = 1.0 / period**2  # the prior weighs like anchors spread over about a second
        self.b_lo, self.b_hi = 0.9 * period, 1.1 * period
        self.b = self.b0 = period
        self.ready = False  # a line exists
        self.provisional = False  # it rests on an assumed step end, not on an anchor
        self.x_ref = self.x_last = 0
        self.y_ref = self.a = 0.0
        self.s0 = self.su = self.sv = self.suu = self.suv = 0.0
        self.halftime = halftime_samples
        self._kept()

    def _kept(self) -> None:
        """A new ring of kept anchors (new arrays: a copy of the fit keeps its own), none of them written."""
        self.kx = np.zeros(FLOOR_ANCHORS, dtype=np.int64)
        self.ky = np.zeros(FLOOR_ANCHORS)
        self.kn = 0
        self._floor: float | None = 0.0

    def _keep1(self, x: int, y: float) -> None:
        i = self.kn % FLOOR_ANCHORS
        self.kx[i], self.ky[i] = x, y
        self.kn += 1
        self._floor = None

    def _keep(self, xs: Any, ys: Any) -> None:
        pos = (self.kn + np.arange(len(xs))) % FLOOR_ANCHORS
        self.kx[pos] = xs
        self.ky[pos] = ys
        self.kn += len(xs)
        self._floor = None

    def floor(self) -> float:
        """The most negative residual of the kept anchors (their stamp minus the line), or 0: added to the line, it
        is their lower envelope. Where stamps are push times (later than the sample's time by a delay >= 0), the
        least-squares line is late by the mean delay and the envelope by about the least."""
        if self._floor is None:
            n = min(self.kn, FLOOR_ANCHORS)
            xs, ys = self.kx[:n], self.ky[:n]
            recent = xs >= self.x_last - self.halftime
            self._floor = min(0.0, float(np.min(ys[recent] - self.at(xs[recent]), initial=0.0)))
        return self._floor

    def at(self, x: Any) -> Any:
        return self.y_ref + self.a + self.b * (x - self.x_ref)

    def line(self) -> Line:
        return self.x_ref, self.y_ref, self.a, self.b

    def start(self, x: int, y: float, provisional: bool) -> None:
        """A new line through ``(x, y)`` with the last slope as prior (at the start, after a gap or a clock
        step); ``provisional`` when ``x`` is only an assumed step end (no anchor)."""
        self.ready, self.provisional = True, provisional
        self.b0 = self.b
        self.x_ref = self.x_last = x
        self.y_ref, self.a = y, 0.0
        self.s0 = 0.0 if provisional else 1.0
        self.su = self.sv = self.suu = self.suv = 0.0
        self._kept()
        if not provisional:
            self._keep1(x, y)

    def add1(self, x: int, y: float) -> None:
        """Add one anchor (after every anchor so far) and refit."""
        if x - self.x_ref > REBASE:
            self._rebase(x)
        u, v = float(x - self.x_ref), y - self.y_ref
        self._update(self.lam ** (x - self.x_last), 1.0, u, v, u * u, u * v)
        self.x_last = x
        self._keep1(x, y)

    def add(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Add anchors (``xs`` increasing, after every anchor so far) and refit."""
        last = int(xs[-1])
        if last - self.x_ref > REBASE:
            self._rebase(last)
        w = self.lam ** (last - xs).astype(np.float64)
        u = (xs - self.x_ref).astype(np.float64)
        v = ys - self.y_ref
        wu = w * u
        self._update(self.lam ** (last - self.x_last), float(w.sum()), float(wu.sum()), float(w @ v),
                     float(wu @ u), float(wu @ v))
        self.x_last = last
        self._keep(xs[-FLOOR_ANCHORS:], ys[-FLOOR_ANCHORS:])

    def _update(self, f: float, s0: float, su: float, sv: float, suu: float, suv: float) -> None:
        self.s0 = self.s0 * f + s0
        self.su = self.su * f + su
        self.sv = self.sv * f + sv
        self.suu = self.suu * f + suu
        self.suv = self.suv * f + suv
        mu, mv = self.su / self.s0, self.sv / self.s0
        b = (self.suv - self.su * mv + self.kappa * self.b0) / (self.suu - self.su * mu + self.kappa)
        self.b = min(max(b, self.b_lo), self.b_hi)
        self.a = mv - self.b * mu

    def _rebase(self, x_new: int) -> None:
        """Move the origin to ``x_new`` (and the line's value there), shifting the sums to match."""
        du = float(x_new - self.x_ref)
        dv = self.a + self.b * du
        s0, su, sv = self.s0, self.su, self.sv
        self.suu += -2.0 * du * su + du * du * s0
        self.suv += -du * sv - dv * su + du * dv * s0
        self.su, self.sv = su - du * s0, sv - dv * s0
        self.x_ref, self.y_ref, self.a = x_new, self.y_ref + dv, 0.0
