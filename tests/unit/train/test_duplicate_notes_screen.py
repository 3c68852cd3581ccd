"""``duplicate_notes`` screens the channel pairs by their SDs (sd(a - b) >= |sd(a) - sd(b)|) before it measures any
difference: it names exactly the pairs that measuring every pair names (random runs with channels copied, scaled and
noised around the limit, flat channels, and a run of one signal on every channel)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bci_stream.train.classical import amplitude_notes
from bci_stream.train.classical.amplitude_notes import DUPLICATE_RATIO, _drift_removed, duplicate_notes


def every_pair(data: np.ndarray, sfreq: float, names: list[str]) -> list[str]:
    """The pairs by the definition: every pair's drift-free difference measured."""
    hp = _drift_removed(data, max(int(round(sfreq)), 1))
    sd = hp.std(axis=0)
    limit = DUPLICATE_RATIO * float(np.median(sd))
    return [f"{names[i]}/{names[j]}" for i in range(len(names)) for j in range(i + 1, len(names))
            if sd[i] > 0 and sd[j] > 0 and (hp[:, j] - hp[:, i]).std() <= limit]


@pytest.mark.parametrize("seed", range(12))
def test_the_screen_names_the_pairs_every_pair_names(seed: int, monkeypatch) -> None:
    monkeypatch.setattr(amplitude_notes, "shortlist", lambda items, n: "|".join(items))  # every pair named
    rng = np.random.default_rng(seed)
    sfreq, n_chans = 100.0, 16
    names = [f"ch{i}" for i in range(n_chans)]
    data = rng.normal(0.0, 1.0, (3000, n_chans)).cumsum(axis=0) * 0.1 + rng.normal(0.0, 20.0, (3000, n_chans))
    med = float(np.median(data.std(axis=0)))
    for _ in range(rng.integers(1, 6)):  # copies: exact, scaled, noised below, at and above the limit
        a, b = rng.choice(n_chans, 2, replace=False)
        noise = rng.choice([0.0, 0.3, 0.9, 1.1, 3.0]) * DUPLICATE_RATIO * med
        data[:, a] = data[:, b] * (1 + rng.normal(0.0, DUPLICATE_RATIO)) + rng.normal(0.0, noise + 1e-12, len(data))
    if seed % 3 == 0:
        data[:, rng.integers(n_chans)] = 0.0  # flat: not a pair
    if seed == 11:
        data[:, :] = data[:, :1]  # one signal everywhere
    notes = duplicate_notes([SimpleNamespace(data=data, sfreq=sfreq, ch_names=names, source="r")])
    named = notes[0].split("channel pair(s) ")[1].split(" carry")[0].split("|") if notes else []
    assert named == every_pair(data, sfreq, names)
