"""The warnings calibrate gives about the amplitude of its runs (a wrong unit, a bad electrode or gain).

* :func:`amplitude_notes`: a run whose median channel standard deviation is not that of scalp EEG in µV
  (:func:`beyond_input_limit`: calibrate's refusal of one beyond the service's input limit);
* :func:`channel_sd_notes`: channels far from their run's median channel standard deviation (flat, or 10x off);
* :func:`duplicate_notes`: channel pairs carrying one signal (an input wired or mapped twice).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bci_stream.core.channels import shortlist
from bci_stream.core.units import MAX_INPUT_V, PLAUSIBLE_SD_UV, implausible_amplitude
from bci_stream.train.classical.prepared import Run

# plausible spread of scalp EEG in µV (median over channels of each run's standard deviation); outside it the file's
# unit is most likely wrong (volts read as µV, or µV stored as volts)
# PLAUSIBLE_SD_UV: scalp EEG's median channel SD (µV), one range for calibrate, evaluate and the service's check


def _drift_removed(x: np.ndarray, width: int) -> np.ndarray:
    """``x`` (``[T]`` or ``[T, C]``) minus its centred moving mean over ``width`` samples, ``T - width + 1`` rows (a
    crude high-pass near ``sfreq / width``; slow drift removed)."""
    cs = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)])
    mean = (cs[width:] - cs[:-width]) / width  # mean over x[i:i + width]
    return x[width // 2: width // 2 + len(mean)] - mean


def _finite_sd(data: np.ndarray, width: int = 0) -> np.ndarray:
    """Per-channel standard deviation of ``data`` ``[T, C]`` over its finite samples (NaN where a channel has
    none), one channel at a time (a long recording is not copied whole). ``width > 1``: of the data minus its
    centred moving mean over ``width`` samples (a crude high-pass near ``sfreq / width``; slow drift removed)."""
    out = np.full(data.shape[1], np.nan)
    for c in range(data.shape[1]):
        x = np.asarray(data[:, c], dtype=np.float64)
        x = x[np.isfinite(x)]
        if 1 < width < x.size:
            x = _drift_removed(x, width)
        if x.size:
            out[c] = float(x.std())
    return out


def median_channel_sd(data: np.ndarray) -> float | None:
    """The median over channels of each channel's standard deviation of ``data`` ``[T, C]`` (its finite samples;
    channels without one ignored), or None when no channel has a finite sample."""
    sds = _finite_sd(data)
    sds = sds[np.isfinite(sds)]
    return float(np.median(sds)) if sds.size else None


def plausible_scale(data: np.ndarray) -> bool:
    """Whether ``data`` ``[T, C]`` (µV) has the median channel standard deviation of scalp EEG
    (:data:`PLAUSIBLE_SD_UV`); True when that cannot be told (no finite sample)."""
    sd = median_channel_sd(data)
    return sd is None or PLAUSIBLE_SD_UV[0] <= sd <= PLAUSIBLE_SD_UV[1]


def amplitude_notes(runs: Sequence[Run]) -> list[str]:
    """A warning per run whose median channel standard deviation is outside :data:`PLAUSIBLE_SD_UV` (non-finite
    samples and channels without a finite sample are ignored)."""
    out = []
    lo, hi = PLAUSIBLE_SD_UV
    for r in runs:
        sd = median_channel_sd(r.data)
        if sd is None:
            continue
        if not lo <= sd <= hi:
            why = implausible_amplitude(sd, "µV") or ""  # its hint: the unit that would make it plausible
            hint = why[why.index(" (plausible"):] if " (plausible" in why else _factor_hint(sd)
            out.append(f"warning: {r.source}: the median channel standard deviation is {sd:.3g} µV, outside the "
                       f"{lo:g}-{hi:g} µV of scalp EEG{hint}: check the file's units (a file that gives none, e.g. "
                       "an XDF stream without desc/channels/channel/unit, is read as µV, but an EDF/BDF channel of "
                       "blank physical dimension as V, as mne reads it; a model calibrated on it expects the same "
                       "scale from the stream)")
    return out


def _too_large_by(sd: float) -> float | None:
    """The power of 1000 (1e6 and up) that would make a median channel SD ``sd`` (µV) scalp EEG's, or None."""
    lo, hi = PLAUSIBLE_SD_UV
    return next((k for k in (1e6, 1e9, 1e12) if lo <= sd / k <= hi), None)


def _factor_hint(sd: float) -> str:
    """``" (scalp EEG's if divided by 1e+06: ...)"`` for a median channel SD ``sd`` (µV) that no named unit makes
    plausible (:func:`~bci_stream.core.units.implausible_amplitude`); else ``""``."""
    k = _too_large_by(sd)
    if k is None:
        return ""
    why = ": µV numbers read as V (a file that declares V, or an EDF/BDF channel of blank physical dimension)"
    return f" (scalp EEG's if divided by {k:g}{why if k == 1e6 else ''})"


def beyond_input_limit(runs: Sequence[Run]) -> str | None:
    """Why calibrate refuses ``runs`` (None: it does not): a run whose median channel standard deviation is beyond the
    service's input limit (:data:`~bci_stream.core.units.MAX_INPUT_V`, 1e6 µV). The service holds every value beyond
    it as corrupt, so a decoder of such values could never decode a stream: neither one with the same unit error
    (every sample held) nor a right one (1e6 times smaller than what it was fitted on). Audit s46: a Muse recording
    in µV saved as V was calibrated (a unit warning only), and live its model answered one class."""
    limit = MAX_INPUT_V * 1e6
    big = [(r.source, sd) for r in runs if (sd := median_channel_sd(r.data)) is not None and sd > limit]
    if not big:
        return None
    source, sd = big[0]
    more = f" ({len(big)} of the {len(runs)} runs)" if len(big) > 1 else ""
    return (f"{source}{more}: the median channel standard deviation is {sd:.3g} µV ({sd * 1e-6:.3g} V), beyond the "
            f"±{MAX_INPUT_V:g} V the service takes as EEG: it would hold every such value as corrupt, so no decoder of "
            f"these values could decode a stream{_factor_hint(sd)}; fix the file's unit (in MNE: "
            f"raw.apply_function(lambda x: x / {_too_large_by(sd) or 1e6:g}), then save) and calibrate again")


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


# two channels whose drift-free difference has a standard deviation under this fraction of the run's median channel SD
# carry one signal: one input wired or mapped twice, or two electrodes shorted. Scalp channels never come this close:
# the closest pair of every EEGMMIDB run here (S001-S005, 64 channels) differs by 3 % or more (S004's FC4/FC6,
# 0.66 µV: likely a gel bridge, which this does not judge: MNE's compute_bridged_electrodes does)
DUPLICATE_RATIO = 1e-3


def duplicate_notes(runs: Sequence[Run], ratio: float = DUPLICATE_RATIO,
                    remedy: str = "check them, or leave one of each pair out with --channels") -> list[str]:
    """A warning per run naming the channel pairs that carry one signal (their difference, a 1 s moving mean
    removed, under ``ratio`` times the run's median channel SD): the spatial filters and covariances see one
    source twice."""
    out = []
    for r in runs:
        width = max(int(round(r.sfreq)), 1)
        data = np.asarray(r.data, dtype=np.float64)
        if data.shape[1] < 2 or data.shape[0] <= width or not np.isfinite(data).all():
            continue  # (non-finite stretches: held before this is asked; a run too short to tell)
        hp = _drift_removed(data, width)
        sd = hp.std(axis=0)
        limit = ratio * float(np.median(sd))
        pairs = []
        for i in np.flatnonzero(sd > 0)[:-1]:  # a flat channel is channel_sd_notes' to name
            # sd(a - b) >= |sd(a) - sd(b)|: only the channels of an SD within the limit of this one's can pair with it
            # (a few: every pair's difference measured took 0.145 s of CPU on a 64-channel 125 s run, this 0.023 s)
            near = i + 1 + np.flatnonzero((np.abs(sd[i + 1:] - sd[i]) <= limit * (1 + 1e-9)) & (sd[i + 1:] > 0))
            if len(near):
                diff = (hp[:, near] - hp[:, i:i + 1]).std(axis=0)
                pairs += [f"{r.ch_names[i]}/{r.ch_names[j]}" for j in near[diff <= limit]]
        if pairs:
            out.append(f"warning: {r.source}: channel pair(s) {shortlist(pairs, 6)} carry one signal (their "
                       f"difference under {ratio:g} of the median channel SD, a 1 s moving mean removed): one input "
                       f"wired or mapped twice, or two electrodes shorted; {remedy}")
    return out


__all__ = ["CALIBRATE_REMEDY", "CHANNEL_SD_FACTOR", "DUPLICATE_RATIO", "amplitude_notes", "channel_sd_notes",
           "duplicate_notes"]
