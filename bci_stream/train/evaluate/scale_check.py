"""Whether a file ``evaluate`` scores has the amplitude of the model's own training files.

A model fitted on values in one unit answers one class on values in another (audit s46: a model calibrated on a
recording read in volts as µV, scored on the same subject's µV, put every trial in one class, and nothing said why;
the reverse, the file in the wrong unit, was warned by its implausible amplitude). A card's
``training.files_content`` holds each training file's per-channel mean and RMS over its first samples
(:mod:`bci_stream.train.content_print`); the same statistic of each file scored, over the model's channels, is
compared with them, and a ratio of :data:`SCALE_FACTOR` or more either way is said.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bci_stream.core.channels import ch_name_key

if TYPE_CHECKING:
    from bci_stream.io.recording import Recording
    from bci_stream.train.evaluate.in_sample import TrainingFile

#: Amplitude ratio (file scored / training files) from which a unit mismatch is said: sessions, subjects and caps
#: differ by far less (a factor of 2-3); units by 1000 or more.
SCALE_FACTOR = 100.0


def _median_sd(stats: dict[str, Any], ch_names: Sequence[str]) -> float | None:
    """The median over ``ch_names`` (those in ``stats``) of each channel's SD, ``sqrt(rms² - mean²)``, from a
    content print's statistics; None when no channel has a finite, positive one."""
    try:
        at = {ch_name_key(n): i for i, n in enumerate(stats["ch_names"])}
        sds = []
        for n in ch_names:
            i = at.get(ch_name_key(n))
            if i is None or stats["rms"][i] is None or stats["mean"][i] is None:
                continue
            sd = float(np.sqrt(max(float(stats["rms"][i]) ** 2 - float(stats["mean"][i]) ** 2, 0.0)))
            if np.isfinite(sd) and sd > 0:
                sds.append(sd)
    except (KeyError, IndexError, TypeError, ValueError):  # a print of another shape (an older or edited card)
        return None
    return float(np.median(sds)) if sds else None


def scale_warnings(training: Sequence[TrainingFile], recordings: Sequence[Recording],
                   ch_names: Sequence[str]) -> list[str]:
    """One sentence per recording whose amplitude over the model's ``ch_names`` is :data:`SCALE_FACTOR` times that of
    the model's training files or more, either way ([] when the card holds no content prints)."""
    from bci_stream.train.content_print import HEAD, content_stats

    trained = [sd for t in training if isinstance(t.content, dict) and (sd := _median_sd(t.content, ch_names))]
    if not trained:
        return []
    ref = float(np.median(trained))
    out = []
    for rec in recordings:
        sd = _median_sd(content_stats(rec), ch_names)
        if sd is None or 1 / SCALE_FACTOR < sd / ref < SCALE_FACTOR:
            continue
        out.append(f"{Path(str(rec.source)).name}: over the model's channels its amplitude (median channel SD over "
                   f"its first {HEAD} samples, {sd:.3g} µV) is {sd / ref:.3g} times that of the model's training "
                   f"files ({ref:.3g} µV): one of them is read in another unit than it was recorded in (a file "
                   "without units read as µV, µV saved as V); the model's outputs on it mean nothing until they agree")
    return out


__all__ = ["SCALE_FACTOR", "scale_warnings"]
