"""The ``replacing`` warning says what the replaced values were, and gives the cue of an undeclared unit (µV sent as
V) only when most of them were finite but beyond ±1 V: a channel that is NaN (an electrode off) is no unit mislabel."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.dsp.preprocess import NonFiniteGuard
from bci_stream.service.nonfinite_watch import NonFiniteWatch

SFREQ, N_CHANS = 100.0, 4
CUE = "a unit the stream does not declare"


def _warning(x: np.ndarray) -> str | None:
    """One second of ``x`` through a guard (±1 V bound) and the watch, as the decoder feeds them, in 10 chunks."""
    guard = NonFiniteGuard(N_CHANS, "hold")
    guard.limit = np.full(N_CHANS, 1.0, dtype=np.float32)
    watch = NonFiniteWatch(SFREQ, lambda *a, **k: None, "decoder t")
    for chunk in np.array_split(x.astype(np.float32), 10):
        guard.apply(chunk)
        bad = guard.last_bad
        if bad is not None:
            watch.saw(bad, ["C3", "Cz", "C4", "Pz"], np.zeros(len(chunk)))
        n_bad = 0 if bad is None else int(bad.any(axis=1).sum())
        watch.replaced(len(chunk), n_bad, guard.last_replaced, guard.last_beyond, "hold")
    return watch.warning


@pytest.mark.parametrize(("what", "cue"), [("nan", False), ("beyond", True), ("mostly_beyond", True),
                                           ("mostly_nan", False)])
def test_the_cue_of_a_unit_mislabel_only_for_values_beyond_the_bound(what, cue):
    x = np.random.default_rng(0).normal(0.0, 1e-5, (int(SFREQ), N_CHANS))
    if what == "nan":
        x[:, 0] = np.nan
    elif what == "beyond":
        x[:] = 20.0
    elif what == "mostly_beyond":
        x[:, :3] = 20.0
        x[:, 3] = np.inf
    else:
        x[:, :3] = np.nan
        x[:, 3] = -20.0
    warning = _warning(x)
    assert warning is not None and warning.startswith("100% of the last second's samples had a value "), warning
    said = warning.split(", on channel(s)")[0].removeprefix("100% of the last second's samples had a value ")
    assert said == {"nan": "not finite", "beyond": "beyond ±1 V of the stream's unit"}.get(
        what, "not finite or beyond ±1 V of the stream's unit"), warning
    assert (CUE in warning) is cue, warning


def test_the_guard_counts_the_finite_values_beyond_its_bound_apart():
    guard = NonFiniteGuard(2, "zero")
    x = np.array([[np.nan, 3.0], [np.inf, 0.5], [2.0, -4.0]], dtype=np.float32)
    guard.apply(x.copy())
    assert guard.last_beyond == 0  # no bound: only NaN/inf are replaced
    guard.limit = np.full(2, 1.0, dtype=np.float32)
    guard.apply(x.copy())
    assert (int(guard.last_bad.sum()), guard.last_beyond) == (5, 3)
    guard.apply(np.zeros((2, 2), dtype=np.float32))
    assert guard.last_bad is None and guard.last_beyond == 0
