"""The inputs of ``bci-stream calibrate``: option parsing, and loading and checking the calibration files.

:func:`load_calibration` loads the files (any format :func:`bci_stream.io.load_recording` reads) and
checks them: the ``--labels`` event names occur in the files, at least two classes, at least
:data:`MIN_TRIALS` cues per class, same channels and sfreq in every run. Every refusal is a
:class:`CalibrationError` naming the file, the rule and the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.core.channels import match_channels, non_eeg_reason, shortlist
from bci_stream.core.errors import BciStreamError
from bci_stream.io import load_recording
from bci_stream.io.load import check_names, format_options
from bci_stream.io.channel_names import read_channel_names
from bci_stream.io.errors import DataError
from bci_stream.io.labels import absent_events, label_names_of
from bci_stream.train.classical.configs import EVAL_TIMES
from bci_stream.train.classical.data import sensorimotor_channels, trials_of
from bci_stream.train.classical.prepared import Prepared, Run

MIN_TRIALS = 4


class CalibrationError(BciStreamError, ValueError):
    """The calibration files or options cannot give a decoder (the message says which rule and value)."""


def parse_labels(text: str) -> dict[str, str]:
    """``"T1=fists,T2=feet"`` → ``{"T1": "fists", "T2": "feet"}`` (event/marker name → class name)."""
    out: dict[str, str] = {}
    parts = [p.strip() for p in text.split(",")]
    if any(not p for p in parts[:-1]):  # a trailing comma is harmless, an empty pair inside is a typo
        raise CalibrationError(f"--labels must be EVENT=CLASS pairs separated by single commas (e.g. "
                               f"T1=fists,T2=feet), with no empty pair; got {text!r}")
    for part in [p for p in parts if p]:
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise CalibrationError(
                f"--labels must be EVENT=CLASS pairs separated by commas (e.g. T1=fists,T2=feet); got {text!r}")
        if key in out:
            raise CalibrationError(f"--labels names event {key!r} twice; got {text!r}")
        out[key] = value
    if not out:
        raise CalibrationError(
            f"--labels must map at least two events to classes (e.g. T1=fists,T2=feet); got {text!r}")
    return out


def parse_channels(text: str | None) -> list[str] | None:
    """``"C3,Cz,C4"`` → ``["C3", "Cz", "C4"]``; None or empty → None."""
    if not text:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    return names or None


def parse_channel_names(text: str | None) -> list[str] | None:
    """``--channel-names``: the files' channel names in file order (see :mod:`bci_stream.io.channel_names`); None or
    empty → None. A bad value raises :class:`CalibrationError`."""
    try:
        return read_channel_names(text)
    except DataError as exc:
        raise CalibrationError(str(exc)) from None


def load_calibration(paths: Sequence[str | Path], label_map: Mapping[str, str], *,
                     channels: Sequence[str] | None = None, min_trials: int = MIN_TRIALS,
                     progress: bool = False, reader_options: Mapping[str, Any] | None = None,
                     channel_names: Sequence[str] | None = None) -> Prepared:
    """Load and check calibration files; return a :class:`~.prepared.Prepared` of their runs.

    Parameters
    ----------
    paths
        One file per run.
    label_map
        Event (annotation / marker / state value) name → class name.
    channels
        Channels to use (matched after normalising names); default: the first file's EEG channels
        (:func:`eeg_channels`), which every other file must have.
    min_trials
        Fewest cues per class over all files.
    reader_options
        Format options (e.g. XDF ``stream``, ``marker_stream``), each given to the files whose format takes it.
    channel_names
        New names for the channels of every file, one per channel in the file's order (``--channel-names``), given
        before anything is picked (``channels``, or the default EEG channels and the sensorimotor rows).

    Raises
    ------
    CalibrationError
        With a message naming the file, the rule and the value: ``sfreq mismatch between runs``,
        ``channels missing in``, ``not in the files``, ``only one class present`` / ``no class present``,
        ``fewer than N trials``, ``has no cue of``, a reader option no file's format takes, ``--channel-names``
        with a count other than a file's channels; loader errors are re-raised as ``cannot load FILE: ...``.
    """
    if not paths:
        raise CalibrationError("FILE... must name at least one recording; got none")
    per_file = _per_file_options(paths, reader_options or {})
    labels = label_names_of(label_map)
    if len(labels) < 2:
        raise CalibrationError(
            f"only one class present in --labels: it must map events to at least two classes; got {dict(label_map)}")
    recs = []
    it = paths
    if progress:
        from tqdm import tqdm
        it = tqdm(paths, desc="loading", unit="file", leave=False)
    for p in it:
        try:
            recs.append(load_recording(p, **per_file[str(p)]))
        except DataError as exc:
            hint = next((f" (calibrate: --{o.replace('_', '-')} NAME)" for o in ("marker_stream", "stream")
                         if f"pass {o}=" in str(exc) or str(exc).startswith(f"{o} must name")), "")
            raise CalibrationError(f"cannot load {p}: {exc}{hint}") from None
    notes: list[str] = []
    if channel_names is not None:
        was = list(recs[0].ch_names)
        for rec in recs:
            try:
                rec.ch_names = check_names(channel_names, rec.n_chans, rec.source, "--channel-names")
            except DataError as exc:
                raise CalibrationError(str(exc)) from None
        notes.append(f"renamed the {len(was)} channels of every file by --channel-names: "
                     f"{shortlist([f'{a} -> {b}' for a, b in zip(was, recs[0].ch_names)], 4)}")
    first = recs[0]
    for rec in recs[1:]:
        if rec.sfreq != first.sfreq:
            raise CalibrationError(
                f"sfreq mismatch between runs: {rec.source} has sfreq={rec.sfreq:g} Hz, {first.source} has "
                f"{first.sfreq:g} Hz (every run must have the same rate; we never resample)")
    wanted = list(channels) if channels else eeg_channels(first, notes)
    runs = []
    for rec in recs:
        idx, missing, ambiguous = match_channels(rec.ch_names, wanted)
        if missing:
            where = "--channels" if channels else f"the first file {first.source}"
            raise CalibrationError(
                f"channels missing in {rec.source}: {missing[:10]}{' ...' if len(missing) > 10 else ''} "
                f"({len(missing)} of the {len(wanted)} channels of {where}; pass --channels with a set every "
                f"file has)")
        if ambiguous:
            name, hits = next(iter(ambiguous.items()))
            raise CalibrationError(f"channel {name!r} matches several channels of {rec.source}: {hits}")
        if len(set(idx)) != len(idx):
            raise CalibrationError(f"--channels names a channel twice (after normalising names): {wanted}")
        runs.append((rec, idx))
    absent = absent_events(label_map, [ev for rec in recs for ev in rec.events])
    counts_ev: dict[str, int] = {}
    for rec in recs:
        for ev in rec.events:
            counts_ev[str(ev.description)] = counts_ev.get(str(ev.description), 0) + 1
    listing = ", ".join(f"{d!r} ×{n}" for d, n in sorted(counts_ev.items())) or "none"
    not_in_files = (f"--labels names event(s) {absent} not in the files (their events are: {listing})"
                    if absent else "")
    out_runs = []
    for rec, idx in runs:
        trials = trials_of(rec.events, {str(k): v for k, v in label_map.items()}, labels, rec.n_times, rec.sfreq,
                           min_after_s=max(EVAL_TIMES))
        out_runs.append(Run(data=np.ascontiguousarray(rec.data[idx].T), sfreq=rec.sfreq,
                            ch_names=[rec.ch_names[i] for i in idx], trials=trials, source=rec.source))
    counts = {name: int(sum((r.trials.classes == k).sum() for r in out_runs)) for k, name in enumerate(labels)}
    have = [n for n, c in counts.items() if c > 0]
    if absent:  # the cause first: events --labels names that no file has
        raise CalibrationError(not_in_files + ("" if len(have) >= 2 else
                                               f"; cues per class {counts}: fewer than two classes occur"))
    if len(have) < 2:
        raise CalibrationError(
            f"{'only one class' if have else 'no class'} present in the files: cues per class {counts} (cues "
            f"at least {max(EVAL_TIMES):g} s before a file's end); --labels must map events of at least two "
            "classes that occur")
    empty = [r.source for r in out_runs if len(r.trials) == 0]
    if empty:
        raise CalibrationError(
            f"{empty[0]} has no cue of --labels {sorted(label_map)} at least {max(EVAL_TIMES):g} s before its end; "
            f"leave the file out")
    few = {n: c for n, c in counts.items() if c < min_trials}
    if few:
        raise CalibrationError(
            f"fewer than {min_trials} trials for class(es) {few} (cues per class {counts}); record more runs")
    if not channels and sensorimotor_channels(wanted) is None:
        notes.append(f"no 10-10 sensorimotor channels (FC/C/CP rows) recognised among the {len(wanted)} channel "
                     f"names ({shortlist(wanted, 6)}): every candidate uses all "
                     "of them; pass --channels to choose")
    notes += amplitude_notes(out_runs)
    return Prepared(out_runs, labels, notes=notes)


def _per_file_options(paths: Sequence[str | Path], options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each file's share of ``options``: those its format takes (:func:`~bci_stream.io.load.format_options`)."""
    per_file = {str(p): {k: v for k, v in options.items() if k in format_options(p)} for p in paths}
    unused = [k for k in options if not any(k in o for o in per_file.values())]
    if unused:
        flags = ", ".join("--" + k.replace("_", "-") for k in unused)
        raise CalibrationError(f"{flags} applies to no file given: no file's format takes it (XDF files take "
                               f"--stream and --marker-stream; files: "
                               f"{', '.join(Path(p).name for p in paths[:4])}{' ...' if len(paths) > 4 else ''})")
    return per_file


def eeg_channels(rec, notes: list[str]) -> list[str]:
    """The channels of ``rec`` that may be EEG (:func:`~bci_stream.core.channels.non_eeg_reason`: not declared of
    another type, not named like an EOG/ECG/EMG/trigger/auxiliary channel); the others are left out and said so in
    ``notes``. All channels when none looks like EEG."""
    types = rec.ch_types or [None] * len(rec.ch_names)
    why = {n: non_eeg_reason(n, t) for n, t in zip(rec.ch_names, types)}
    kept = [n for n in rec.ch_names if why[n] is None]
    left = [f"{n} ({why[n]})" for n in rec.ch_names if why[n] is not None]
    if not kept:
        notes.append(f"no channel of {rec.source} looks like EEG ({', '.join(left[:6])}): all are used")
        return list(rec.ch_names)
    if left:
        notes.append(f"left out {len(left)} channel(s) that are not EEG: {shortlist(left)}; pass --channels to "
                     "choose the channels yourself")
    return kept


# plausible spread of scalp EEG in µV (median over channels of each run's standard deviation); outside it the file's
# unit is most likely wrong (volts read as µV, or µV stored as volts)
PLAUSIBLE_SD_UV = (0.5, 5000.0)


def amplitude_notes(runs: Sequence[Run]) -> list[str]:
    """A warning per run whose median channel standard deviation is outside :data:`PLAUSIBLE_SD_UV`."""
    out = []
    lo, hi = PLAUSIBLE_SD_UV
    for r in runs:
        sd = float(np.median(np.std(r.data, axis=0)))
        if not lo <= sd <= hi:
            out.append(f"warning: {r.source}: the median channel standard deviation is {sd:.3g} µV, outside the "
                       f"{lo:g}-{hi:g} µV of scalp EEG: check the file's units (a model calibrated on it expects "
                       "the same scale from the stream)")
    return out


__all__ = ["MIN_TRIALS", "PLAUSIBLE_SD_UV", "CalibrationError", "amplitude_notes", "eeg_channels", "load_calibration",
           "parse_channel_names", "parse_channels", "parse_labels"]
