"""The warnings calibrate gives about the amplitude of its runs (a wrong unit, a bad electrode or gain).

* :func:`amplitude_notes`: a run whose median channel standard deviation is not that of scalp EEG in µV;
* :func:`channel_sd_notes`: channels far from their run's median channel standard deviation (flat, or 10x off);
* :func:`bridge_notes`: channel pairs carrying one signal (a gel bridge, an input wired twice).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bci_stream.core.channels import shortlist
from bci_stream.core.units import PLAUSIBLE_SD_UV, implausible_amplitude
from bci_stream.train.classical.prepared import Run

# plausible spread of scalp EEG in µV (median over channels of each run's standard deviation); outside it the file's
# unit is most likely wrong (volts read as µV, or µV stored as volts)
# PLAUSIBLE_SD_UV: scalp EEG's median channel SD (µV), one range for calibrate, evaluate and the service's check


def _finite_sd(data: np.ndarray, width: int = 0) -> np.ndarray:
    """Per-channel standard deviation of ``data`` ``[T, C]`` over its finite samples (NaN where a channel has
    none), one channel at a time (a long recording is not copied whole). ``width > 1``: of the data minus its
    centred moving mean over ``width`` samples (a crude high-pass near ``sfreq / width``; slow drift removed)."""
    out = np.full(data.shape[1], np.nan)
    for c in range(data.shape[1]):
        x = np.asarray(data[:, c], dtype=np.float64)
        x = x[np.isfinite(x)]
        if 1 < width < x.size:
            cs = np.concatenate([[0.0], np.cumsum(x)])
            mean = (cs[width:] - cs[:-width]) / width  # mean over x[i:i + width]
            x = x[width // 2: width // 2 + mean.size] - mean
        if x.size:
            out[c] = float(x.std())
    return out


def amplitude_notes(runs: Sequence[Run]) -> list[str]:
    """A warning per run whose median channel standard deviation is outside :data:`PLAUSIBLE_SD_UV` (non-finite
    samples and channels without a finite sample are ignored)."""
    out = []
    lo, hi = PLAUSIBLE_SD_UV
    for r in runs:
        sds = _finite_sd(r.data)
        sds = sds[np.isfinite(sds)]
        if sds.size == 0:
            continue
        sd = float(np.median(sds))
        if not lo <= sd <= hi:
            why = implausible_amplitude(sd, "µV") or ""  # its hint: the unit that would make it plausible
            hint = why[why.index(" (plausible"):] if " (plausible" in why else ""
            out.append(f"warning: {r.source}: the median channel standard deviation is {sd:.3g} µV, outside the "
                       f"{lo:g}-{hi:g} µV of scalp EEG{hint}: check the file's units (a file that gives none, e.g. "
                       "an XDF stream without desc/channels/channel/unit, is read as µV; a model calibrated on it "
                       "expects the same scale from the stream)")
    return out


# a channel whose standard deviation is more than this factor above or below its run's median is flagged
CHANNEL_SD_FACTOR = 10.0


#: what calibrate's channel warnings advise (evaluate, whose model fixes its channels, says what it means there)
CALIBRATE_REMEDY = "check it, or leave it out with --channels"


def channel_sd_notes(runs: Sequence[Run], factor: float = CHANNEL_SD_FACTOR, remedy: str = CALIBRATE_REMEDY
                     ) -> list[str]:
    """A warning per run naming the channels whose standard deviation is 0 (flat) or more than ``factor`` times
    above or below the run's median channel standard deviation (a bad electrode, a wrong gain): one such channel
    can ruin the spatial filters and covariances of every candidate. SDs are taken after removing a 1 s moving
    mean (slow drift, e.g. a DC-coupled amplifier's, is not a bad channel)."""
    out = []
    for r in runs:
        sds = _finite_sd(r.data, max(int(round(r.sfreq)), 1))
        ok = np.isfinite(sds)
        if ok.sum() < 2:
            continue
        med = float(np.median(sds[ok]))
        bad = []
        for name, sd in zip(r.ch_names, sds):
            if not np.isfinite(sd):
                continue
            if sd == 0:
                bad.append(f"{name} (flat: SD 0)")
            elif med > 0 and not med / factor <= sd <= med * factor:
                bad.append(f"{name} (SD {sd:.3g} µV, {sd / med:.3g}x the median)")
        if bad:
            out.append(f"warning: {r.source}: channel(s) {shortlist(bad, 6)} far from the run's median channel SD "
                       f"{med:.3g} µV (flat, or more than {factor:g}x above or below it): a bad electrode or gain "
                       f"can ruin every candidate; {remedy}")
    return out


# two channels whose drift-free signals correlate this much are one source seen twice: their difference is under
# ~4.5 % of their SD (sqrt(2 (1 - r))); scalp neighbours stay below it, a gel bridge or a channel wired twice do not
BRIDGE_R = 0.999


def bridge_notes(runs: Sequence[Run], r_min: float = BRIDGE_R,
                 remedy: str = "check them, or leave one of each pair out with --channels") -> list[str]:
    """A warning per run naming the channel pairs whose signals (a 1 s moving mean removed) correlate at ``r_min``
    or more: a gel bridge between two electrodes, or one input wired or mapped twice (MNE's
    ``compute_bridged_electrodes`` looks for the same). The spatial filters and covariances see one source twice."""
    out = []
    for r in runs:
        width = max(int(round(r.sfreq)), 1)
        data = np.asarray(r.data, dtype=np.float64)
        if data.shape[1] < 2 or data.shape[0] <= width or not np.isfinite(data).all():
            continue  # (non-finite stretches: held before this is asked; a run too short to tell)
        cs = np.concatenate([np.zeros((1, data.shape[1])), np.cumsum(data, axis=0)])
        hp = data[width // 2: width // 2 + data.shape[0] - width + 1] - (cs[width:] - cs[:-width]) / width
        sd = hp.std(axis=0)
        live = np.flatnonzero(sd > 0)  # a flat channel is channel_sd_notes' to name
        if len(live) < 2:
            continue
        corr = np.corrcoef(hp[:, live].T)
        i, j = np.nonzero(np.triu(corr >= r_min, k=1))
        if len(i):
            pairs = [f"{r.ch_names[live[a]]}/{r.ch_names[live[b]]} (r {corr[a, b]:.5f})" for a, b in zip(i, j)]
            out.append(f"warning: {r.source}: channel pair(s) {shortlist(pairs, 6)} nearly identical (r >= "
                       f"{r_min:g}, a 1 s moving mean removed): a gel bridge between the electrodes, or one input "
                       f"wired or mapped twice; {remedy}")
    return out


__all__ = ["BRIDGE_R", "CALIBRATE_REMEDY", "CHANNEL_SD_FACTOR", "amplitude_notes", "bridge_notes", "channel_sd_notes"]
