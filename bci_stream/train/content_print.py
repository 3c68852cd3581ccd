"""A recording's content print: a few statistics of its first samples per channel, enough to recognise the same
recording in another file (a copy in another format, its channels in another order, some left out or renamed by
case), small enough for a model card (``training.files_content``, beside ``training.files_sha256``).

``evaluate`` compares each file it scores with the prints of the model's training files
(:func:`~bci_stream.train.evaluate.in_sample.in_sample_warnings`): a file's sha256 recognises a byte-identical copy
only; a training recording re-saved in another format (EDF read and written as FIF by mne, its channels reordered)
has other bytes, and its figures were reported as test figures without a warning.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from bci_stream.core.channels import normalise_ch_name
from bci_stream.io.recording import Recording

#: Samples the print is taken over (from the first): about 13 s at 160 Hz, 2 s at 1 kHz.
HEAD = 2048
#: "The same": each statistic equal to this fraction of itself, and of the largest RMS of the shared channels (a
#: 16-bit EDF's values written as float32 and read back differ by about 1e-7 of their size; another recording of the
#: same montage differs by far more than this in some channel).
RTOL = 1e-4


def content_print(rec: Recording) -> dict[str, Any]:
    """``sfreq``, ``n_times``, ``ch_names`` and, per channel over the first :data:`HEAD` samples, ``mean`` and ``rms``
    (7 significant digits; NaN, for a channel of no finite sample there, as null)."""
    head = np.asarray(rec.data[:, :HEAD], dtype=np.float64)
    with warnings.catch_warnings():  # a channel of no finite sample: "mean of empty slice", its statistics NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, rms = np.nanmean(head, axis=1), np.sqrt(np.nanmean(head ** 2, axis=1))
    return {"sfreq": float(rec.sfreq), "n_times": int(rec.data.shape[1]), "ch_names": list(rec.ch_names),
            "mean": [_num(v) for v in mean], "rms": [_num(v) for v in rms]}


def same_content(printed: Any, rec: Recording) -> bool:
    """Does ``rec`` hold the samples ``printed`` (a :func:`content_print`, as a card holds it) was taken of: the same
    rate and length, and the same statistics in the channels both have (by normalised name when they share at least
    half of the smaller set; else by position when of the same count)? False for anything that is not a print."""
    try:
        sfreq, n_times, names = float(printed["sfreq"]), int(printed["n_times"]), list(printed["ch_names"])
        stats = np.array([printed["mean"], printed["rms"]], dtype=np.float64)  # null -> nan
    except (TypeError, KeyError, ValueError):
        return False
    if stats.shape != (2, len(names)) or sfreq != rec.sfreq or n_times != rec.data.shape[1]:
        return False
    mine = content_print(rec)
    ours = np.array([mine["mean"], mine["rms"]], dtype=np.float64)
    keys = {normalise_ch_name(n): i for i, n in enumerate(rec.ch_names)}
    pairs = [(i, keys[k]) for i, k in enumerate(normalise_ch_name(n) for n in names) if k in keys]
    if len(pairs) < max(1, min(len(names), len(keys)) // 2):
        if len(names) != len(rec.ch_names):
            return False
        pairs = [(i, i) for i in range(len(names))]
    a, b = stats[:, [i for i, _ in pairs]], ours[:, [j for _, j in pairs]]
    scale = np.nanmax(np.abs(a[1])) if np.isfinite(a[1]).any() else 0.0
    return bool(np.allclose(a, b, rtol=RTOL, atol=RTOL * scale, equal_nan=True))


def _num(v: float) -> float | None:
    return float(f"{v:.7g}") if np.isfinite(v) else None


__all__ = ["content_print", "same_content"]
