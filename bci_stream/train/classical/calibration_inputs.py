"""The inputs of ``bci-stream calibrate``: option parsing, and loading and checking the calibration files.

:func:`load_calibration` loads the files (any format :func:`bci_stream.io.load_recording` reads) and
checks them: the ``--labels`` event names occur in the files, at least two classes, at least
:data:`MIN_TRIALS` cues per class, same channels and sfreq in every run. Every refusal is a
:class:`CalibrationError` naming the file, the rule and the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bci_stream.core.channels import match_channels
from bci_stream.core.errors import BciStreamError
from bci_stream.io import load_recording
from bci_stream.io.errors import DataError
from bci_stream.io.labels import label_names_of
from bci_stream.train.classical.configs import EVAL_TIMES
from bci_stream.train.classical.data import trials_of
from bci_stream.train.classical.prepared import Prepared, Run

MIN_TRIALS = 4


class CalibrationError(BciStreamError, ValueError):
    """The calibration files or options cannot give a decoder (the message says which rule and value)."""


def parse_labels(text: str) -> dict[str, str]:
    """``"T1=fists,T2=feet"`` → ``{"T1": "fists", "T2": "feet"}`` (event/marker name → class name)."""
    out: dict[str, str] = {}
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise CalibrationError(
                f"--labels must be EVENT=CLASS pairs separated by commas (e.g. T1=fists,T2=feet); got {text!r}")
        if key in out:
            raise CalibrationError(f"--labels names event {key!r} twice; got {text!r}")
        out[key] = value
    if not out:
        raise CalibrationError(f"--labels must map at least two events to classes (e.g. T1=fists,T2=feet); got {text!r}")
    return out


def parse_channels(text: str | None) -> list[str] | None:
    """``"C3,Cz,C4"`` → ``["C3", "Cz", "C4"]``; None or empty → None."""
    if not text:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    return names or None

def load_calibration(paths: Sequence[str | Path], label_map: Mapping[str, str], *,
                     channels: Sequence[str] | None = None, min_trials: int = MIN_TRIALS,
                     progress: bool = False) -> Prepared:
    """Load and check calibration files; return a :class:`~.prepared.Prepared` of their runs.

    Parameters
    ----------
    paths
        One file per run.
    label_map
        Event (annotation / marker / state value) name → class name.
    channels
        Channels to use (matched after normalising names); default: the first file's channels, which
        every other file must have.
    min_trials
        Fewest cues per class over all files.

    Raises
    ------
    CalibrationError
        With a message naming the file, the rule and the value: ``sfreq mismatch between runs``,
        ``channels missing in``, ``not in the files``, ``only one class present``,
        ``fewer than N trials``, ``has no cue of``; loader errors are re-raised as
        ``cannot load FILE: ...``.
    """
    if not paths:
        raise CalibrationError("FILE... must name at least one recording; got none")
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
            recs.append(load_recording(p))
        except DataError as exc:
            raise CalibrationError(f"cannot load {p}: {exc}") from None
    first = recs[0]
    for rec in recs[1:]:
        if rec.sfreq != first.sfreq:
            raise CalibrationError(
                f"sfreq mismatch between runs: {rec.source} has sfreq={rec.sfreq:g} Hz, {first.source} has "
                f"{first.sfreq:g} Hz (every run must have the same rate; we never resample)")
    wanted = list(channels) if channels else list(first.ch_names)
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
    present = {str(ev.description) for rec in recs for ev in rec.events}
    absent = [k for k in label_map if str(k) not in present]
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
    if len(have) < 2:
        raise CalibrationError(
            f"only one class present in the files: cues per class {counts}; --labels must map events of at least "
            f"two classes that occur" + (f"; {not_in_files}" if absent else ""))
    if absent:
        raise CalibrationError(not_in_files)
    empty = [r.source for r in out_runs if len(r.trials) == 0]
    if empty:
        raise CalibrationError(
            f"{empty[0]} has no cue of --labels {sorted(label_map)} at least {max(EVAL_TIMES):g} s before its end; "
            f"leave the file out")
    few = {n: c for n, c in counts.items() if c < min_trials}
    if few:
        raise CalibrationError(
            f"fewer than {min_trials} trials for class(es) {few} (cues per class {counts}); record more runs")
    return Prepared(out_runs, labels)


__all__ = ["MIN_TRIALS", "CalibrationError", "load_calibration", "parse_channels", "parse_labels"]
