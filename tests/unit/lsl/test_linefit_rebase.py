"""``LineFit``'s origin moves on every :data:`~bci_stream.lsl.linefit.REBASE` samples (numerics); anchors added one by
one (``add1``: a stream of 1-sample chunks) cross it as chunked anchors (``add``) do, and the line is the same either
way and the same as a fit that never moves its origin would give (audit s53cov: ``add1``'s move was never run by the
suite, though every per-sample stream passes it after 100,000 samples, 200 s at 500 Hz)."""

from __future__ import annotations

import numpy as np

from bci_stream.lsl import linefit
from bci_stream.lsl.linefit import REBASE, LineFit

SFREQ = 500.0


def anchors(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Stamps of a clock 40 ppm fast with 0.2 ms of jitter, one per sample from 1000 s."""
    x = np.arange(n, dtype=np.int64)
    y = 1000.0 + x * (1.00004 / SFREQ) + np.random.default_rng(53).normal(0.0, 2e-4, n)
    return x, y


def fitted(fit: LineFit, x: np.ndarray, y: np.ndarray, chunk: int) -> LineFit:
    fit.start(int(x[0]), float(y[0]), provisional=False)
    if chunk == 1:
        for xi, yi in zip(x[1:].tolist(), y[1:].tolist()):
            fit.add1(xi, yi)
    else:
        for i in range(1, len(x), chunk):
            fit.add(x[i:i + chunk], y[i:i + chunk])
    return fit


def test_one_by_one_and_chunked_anchors_give_one_line_across_the_origin_moves(monkeypatch):
    x, y = anchors(int(2.5 * REBASE))
    one = fitted(LineFit(1 / SFREQ, 10 * SFREQ), x, y, 1)
    chunked = fitted(LineFit(1 / SFREQ, 10 * SFREQ), x, y, 32)
    assert one.x_ref > 2 * REBASE and chunked.x_ref > 2 * REBASE  # the origin moved on twice
    monkeypatch.setattr(linefit, "REBASE", 10 * len(x))  # a fit whose origin never moves
    fixed = fitted(LineFit(1 / SFREQ, 10 * SFREQ), x, y, 1)
    assert fixed.x_ref == 0
    ends = np.array([len(x) - 1, len(x) + 5000])
    for fit in (one, chunked):
        np.testing.assert_allclose(fit.at(ends), fixed.at(ends), rtol=0, atol=1e-7)
        assert abs(fit.b - fixed.b) <= 1e-12
    np.testing.assert_allclose(one.at(ends), 1000.0 + ends * (1.00004 / SFREQ), rtol=0, atol=2e-4)
