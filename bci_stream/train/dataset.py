"""Recordings → preprocessed, labelled sequences, split by recording (or by a trial-aligned tail block).

The split never mixes samples: each recording goes whole to train, validation or test, except with
``validation_tail_s``, where the last seconds of each training recording (cut at the onset of a
labelled segment, so no cue is split) become a validation sequence. Preprocessing is the online
:class:`~bci_stream.dsp.preprocess.Preprocessor`, run over each whole recording as it would run
live; its standardisation statistics come from the training parts only (after filtering and CAR,
skipping the filters' warm-up). Channels a training or validation file marks bad (FIF ``info['bads']``) are left
out unless ``data.channels`` names them (:func:`leave_out_bad_channels`, as ``calibrate`` does); a test file's mark
is a note. NaN/inf samples are held as the service holds them, and the samples of every bad span (a NaN stretch
plus settling, ``bad*`` annotations, ``boundary``, ``data.bad_events``) and the labelled segments reaching into them
are unlabelled and left out of the standardisation statistics (:mod:`bci_stream.train.bad_data`, as ``calibrate``
leaves those trials out); each sequence carries its bad-span samples (``Sequence.bad``) for what learns from
unlabelled samples too (distillation, the CSP initialisation's scaling).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.core.channels import shortlist
from bci_stream.io import Event, Recording
from bci_stream.io.labels import window_lead
from bci_stream.io.recording import UNLABELLED
from bci_stream.dsp.preprocess import PreprocessingConfig, Preprocessor
from bci_stream.train.bad_data import hold_and_unlabel
from bci_stream.train.classical.bad_spans import bad_event_notes
from bci_stream.train.config import ConfigError, RunConfig, file_identity
from bci_stream.train.content_print import content_print
from bci_stream.train.data_checks import (check_events, check_filters, check_split_classes, check_split_copies,
                                          load_run_recordings)
from bci_stream.train.label_spacing import spacing_warnings


@dataclass
class Sequence:
    """One contiguous piece of one recording, ready for a network.

    Attributes
    ----------
    name
        ``<recording>`` or ``<recording>[a:b]`` (sample range) for a piece.
    x
        ``[T, C]`` float32, preprocessed exactly as online.
    labels
        ``[T]`` int64, -1 = no label.
    raw
        ``[C, T]`` µV float64, the same samples before preprocessing (for the CSP+LDA baseline).
    start
        First sample of the piece in its recording.
    soft
        ``[T, K]`` float32, a teacher's probabilities (distillation targets), or None.
    bad
        ``[T]`` bool, the samples inside a bad span (a NaN/inf stretch, held, plus the settling after it; ``bad*``
        marks; boundaries; ``data.bad_events``: :attr:`~bci_stream.train.bad_data.BadData.bad`). They are unlabelled,
        and also left out of what learns from every sample: the distillation term and the scaling of the CSP spatial
        initialisation. Unlabelled samples outside the spans (rest, a trial reaching into a span) are not bad.
        Default: no sample is bad.
    """

    name: str
    source: str
    x: np.ndarray
    labels: np.ndarray
    raw: np.ndarray
    start: int = 0
    soft: np.ndarray | None = None
    bad: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.bad is None:
            self.bad = np.zeros(self.n_times, dtype=bool)
        elif self.bad.shape != (self.n_times,) or self.bad.dtype != bool:
            raise ValueError(f"Sequence {self.name}: bad must be a [T] bool array with T = {self.n_times}, got "
                             f"shape {self.bad.shape} dtype {self.bad.dtype}")

    @property
    def n_times(self) -> int:
        return int(self.x.shape[0])


@dataclass
class Dataset:
    train: list[Sequence]
    validation: list[Sequence]
    test: list[Sequence]
    ch_names: list[str]
    sfreq: float
    label_names: list[str]
    trial_classes: list[str]
    preprocessing: PreprocessingConfig
    info: dict[str, Any] = field(default_factory=dict)
    #: samples from each cue to its label's start (``data.label_window``'s start,
    #: :func:`~bci_stream.io.labels.window_lead`; 0 without a window): trial times count from the cue
    #: (:mod:`~bci_stream.train.evaluate.metrics`)
    lead: int = 0

    @property
    def n_chans(self) -> int:
        return len(self.ch_names)

    @property
    def trial_class_ids(self) -> list[int]:
        return [self.label_names.index(c) for c in self.trial_classes]


def crop(rec: Recording, crop_s: tuple[float, float] | None) -> Recording:
    """The part ``[start_s, stop_s)`` of a recording (events shifted, those outside dropped; its channels, their
    types, units and bad marks as they are)."""
    if crop_s is None:
        return rec
    a = int(round(crop_s[0] * rec.sfreq))
    b = min(int(round(crop_s[1] * rec.sfreq)), rec.n_times)
    if a >= b:
        raise ConfigError(f"data.crop_s {crop_s} leaves no sample of {rec.source} ({rec.duration:g} s long)")
    events = [Event(e.onset - a, e.duration, e.description) for e in rec.events if a <= e.onset < b]
    return replace(rec, data=rec.data[:, a:b], labels=rec.labels[a:b], events=events)


def leave_out_bad_channels(recs: list[Recording], channels: list[str] | None,
                           judged: list[bool] | None = None) -> tuple[list[Recording], list[str], dict[str, list[str]]]:
    """The recordings ``train`` uses, a note on the channels the files mark bad (``Recording.bad_channels``: a
    lab's own mark of a broken electrode, FIF ``info['bads']``), and the channels left out (name -> the files that
    mark it bad).

    Without ``data.channels`` (``channels`` None) a channel that a training or validation file marks bad is left out
    of every recording, as ``calibrate`` leaves it out of its default channels: the model neither reads it nor needs
    it live. The files the model is fitted on decide its channels: the training files, and the validation files,
    on which early stopping picks its weights and the CSP+LDA reference is fitted. A test file (``judged``) is only
    scored: its mark leaves nothing out, and a note says the model reads that channel there as it is. Channels named
    in ``data.channels`` are used even when marked bad (the recordings keep the mark), and the note says which.
    ``recs`` have the first file's channel order (:func:`~bci_stream.io.load.load_recordings`).

    Parameters
    ----------
    judged
        Per recording, whether it is a test file (default: none is).

    Raises
    ------
    ConfigError
        Every channel is marked bad in a training or validation file (and ``data.channels`` is not given).
    """
    judged = judged or [False] * len(recs)
    marked: dict[int, list[str]] = {}  # channel position -> the training / validation files that mark it bad
    noted: dict[int, list[str]] = {}  # channel position -> the test files that mark it bad
    for rec, is_test in zip(recs, judged):
        for i, name in enumerate(rec.ch_names):
            if name in rec.bad_channels:
                (noted if is_test else marked).setdefault(i, []).append(Path(rec.source).name)

    def listing(marks: dict[int, list[str]]) -> str:
        return ", ".join(f"{recs[0].ch_names[i]} ({shortlist(files, 3)})" for i, files in sorted(marks.items()))

    if channels is not None:
        every = {i: marked.get(i, []) + noted.get(i, []) for i in sorted(set(marked) | set(noted))}
        return recs, ([f"data.channels uses {len(every)} channel(s) marked bad in the files: {listing(every)} (read "
                       "as any other channel)"] if every else []), {}
    notes = []
    if only_test := {i: files for i, files in noted.items() if i not in marked}:
        notes.append(f"test file(s) mark {len(only_test)} channel(s) bad that no training or validation file marks: "
                     f"{listing(only_test)}; the model uses them (the files it is fitted on decide its channels) and "
                     "reads them in those test files as they are")
    if not marked:
        return recs, notes, {}
    keep = [i for i in range(recs[0].n_chans) if i not in marked]
    if not keep:
        raise ConfigError(f"data: every channel is marked bad in the files ({listing(marked)}); name the channels to "
                          "train on in data.channels")
    left_out = {recs[0].ch_names[i]: files for i, files in sorted(marked.items())}
    return [rec.rows(keep) for rec in recs], [
        f"left out {len(marked)} channel(s) marked bad in the files: {listing(marked)}; the model does not use them "
        "(data.channels names the channels to use, marked bad or not)"] + notes, left_out


def segment_starts(labels: np.ndarray) -> np.ndarray:
    """First sample of every run of one label value (labelled or not)."""
    return np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])


def tail_cut(labels: np.ndarray, sfreq: float, tail_s: float, source: str = "a recording", lead: int = 0) -> int:
    """Where a tail of about ``tail_s`` seconds starts: the first labelled-segment onset at or after
    ``n_times - tail_s * sfreq`` (so no cue is split between train and validation); under a label window that starts
    ``lead > 0`` samples after each cue, that segment's cue (so the validation trial keeps the cue its times count
    from).

    Raises
    ------
    ConfigError
        If the tail is not shorter than the recording (nothing would be left to train on), or no labelled
        segment starts within it.
    """
    n = len(labels)
    target = n - int(round(tail_s * sfreq))
    if target < 1:
        raise ConfigError(f"data.validation_tail_s must be shorter than each recording it cuts (data.tail_files, "
                          f"default data.train): got {tail_s:g} s, but {source} is {n / sfreq:g} s long")
    before = max(int(lead), 0)
    onsets = [s - before for s in segment_starts(labels) if labels[s] != UNLABELLED and s - before >= max(target, 1)]
    if not onsets:
        raise ConfigError(
            f"data.validation_tail_s={tail_s:g} s leaves no labelled segment onset to cut at in a "
            f"{n / sfreq:g} s recording"
        )
    return int(onsets[0])


def _fit_preprocessing(config: RunConfig, pieces: list[tuple[np.ndarray, int, np.ndarray]], ch_names: list[str],
                       sfreq: float) -> PreprocessingConfig:
    """Filter + CAR each training recording as online, then mean/std over its training part (``pieces``: the
    recording ``[T, C]``, where its training part stops, and its samples in bad spans, which are left out: held
    values and the filters' settling after them are not the signal the statistics describe)."""
    p = config.preprocessing
    base = PreprocessingConfig(bandpass=p.bandpass, filter_order=p.filter_order, notch=p.notch, car=p.car)
    try:  # the filters for these channels at this rate: a setting they cannot take named (s69dsp F3: a traceback)
        Preprocessor(base, len(ch_names), sfreq)
    except ValueError as exc:
        raise ConfigError(f"preprocessing.{exc} ({len(ch_names)} channel(s) {ch_names[:5]} at {sfreq:g} Hz)") from None
    if not p.standardise:
        return base
    warm = int(round(p.warmup_s * sfreq))
    parts = []
    for x, stop, bad in pieces:
        z = Preprocessor(base, len(ch_names), sfreq).process(x)[:stop]
        first = min(warm, max(len(z) - 1, 0))
        parts.append(z[first:][~bad[first:stop]].astype(np.float64))
    z = np.concatenate(parts)
    if len(z) < 2:
        raise ConfigError("data: the training part has no sample outside its bad spans (data marked bad or NaN, "
                          "and the settling after them) to fit the standardisation on; see the notes of each file")
    std = z.std(0)
    if not np.isfinite(std).all():  # not "flat" (raw NaN/inf are held first; this is what a filter made)
        bad = [ch_names[i] for i in np.flatnonzero(~np.isfinite(std))]
        raise ConfigError(f"data: channels {bad} hold non-finite values in the training data after filtering and "
                          "CAR (NaN or inf)")
    if not (std > 0).all():
        bad = [ch_names[i] for i in np.flatnonzero(~(std > 0))]
        raise ConfigError(f"data: channels {bad} are flat in the training data after filtering and CAR (std 0)")
    return base.model_copy(update={"mean": z.mean(0).tolist(), "std": std.tolist()})


@dataclass
class _Splits:
    """The recordings of each split after every data check, and where each training part stops."""

    by_split: dict[str, list[Recording]]
    train_stop: dict[str, int]
    sfreq: float
    ch_names: list[str]
    label_names: list[str]
    trial_classes: list[str]
    notes: list[str] = field(default_factory=list)
    channels_left_out: dict[str, list[str]] = field(default_factory=dict)  # name -> the files that mark it bad
    bad: dict[str, np.ndarray] = field(default_factory=dict)  # source -> [T] bool, samples in bad spans
    unlabelled: list[dict[str, Any]] = field(default_factory=list)  # per file with bad spans (BadData.as_dict)
    prints: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # split -> each file's content print
    warnings: list[str] = field(default_factory=list)  # cues closer than their labels (label_spacing)


def _load_splits(config: RunConfig) -> _Splits:
    """Load and crop every file, and make every refusal that needs the data but not the preprocessing."""
    d = config.data
    files = {s: config.data_files(s) for s in ("train", "validation", "test")}
    order = [(s, f) for s in ("train", "validation", "test") for f in files[s]]
    recs = load_run_recordings(config, [f for _, f in order])
    prints: dict[str, list[dict[str, Any]]] = {s: [] for s in files}  # as loaded: evaluate compares files so loaded
    for (split, _), rec in zip(order, recs):
        prints[split].append(content_print(rec))
    check_events(config, recs)
    check_split_copies(config, recs)
    recs, notes, left_out = leave_out_bad_channels(recs, d.channels, [s == "test" for s, _ in order])
    recs = [crop(r, d.crop_s) for r in recs]
    warnings = spacing_warnings(config, [s for s, _ in order], recs)  # before bad spans unlabel some cues
    recs, bad, unlabelled = _hold_and_unlabel(config, recs, notes)
    by_split: dict[str, list[Recording]] = {"train": [], "validation": [], "test": []}
    for (split, _), rec in zip(order, recs):
        by_split[split].append(rec)
    first = recs[0]
    sfreq, ch_names, label_names = first.sfreq, list(first.ch_names), list(first.label_names)
    check_filters(config, sfreq)
    trial_classes = list(d.trial_classes) or label_names

    train_stop = {}
    tails = {file_identity(config.path(str(Path(d.root) / f))) for f in (d.tail_files or d.train)}
    try:
        for rec in by_split["train"]:
            cut = d.validation_tail_s and file_identity(Path(rec.source)) in tails
            train_stop[rec.source] = (tail_cut(rec.labels, sfreq, d.validation_tail_s, Path(rec.source).name,
                                               window_lead(d.label_window, sfreq)) if cut else rec.n_times)
        warnings += check_split_classes(
            config, [r.labels[:train_stop[r.source]] for r in by_split["train"]], [r.labels for r in by_split["test"]],
            label_names, trial_classes,
            [r.labels for r in by_split["validation"]] + [r.labels[train_stop[r.source]:] for r in by_split["train"]])
    except ConfigError as exc:
        if not unlabelled:
            raise
        gone = ", ".join(f"{u['file']} {u['segments_unlabelled']}" for u in unlabelled)
        raise ConfigError(f"{exc} (after unlabelling the labelled segments that reach into data marked bad: NaN "
                          f"stretches, bad* marks, boundaries, data.bad_events; segments per file: {gone})") from None
    return _Splits(by_split, train_stop, sfreq, ch_names, label_names, trial_classes, notes, left_out, bad,
                   unlabelled, prints, warnings)


def _hold_and_unlabel(config: RunConfig, recs: list[Recording], notes: list[str]
                      ) -> tuple[list[Recording], dict[str, np.ndarray], list[dict[str, Any]]]:
    """Each recording with its NaN/inf held and its bad spans unlabelled (:func:`~.bad_data.hold_and_unlabel`), its
    bad samples by source, and what was unlabelled per file; the notes say it per file, and which
    ``data.bad_events`` unlabelled nothing (a bad event that is also a cue is refused by the config already)."""
    d, ev = config.data, config.evaluation
    reach_s = max([*ev.trial_times_s, ev.curve_max_s] + ([ev.csp_window_s[1]] if ev.csp_lda else []))
    cues = [str(k) for k, v in d.label_map.items() if v is not None]
    out, bad, unlabelled, marked = [], {}, [], set()
    for rec in recs:
        rec, done = hold_and_unlabel(rec, d.bad_events, reach_s, cues)
        out.append(rec)
        bad[rec.source] = done.bad
        marked |= done.segments.overlapped
        if (note := done.note(d.crop_s[0] if d.crop_s else 0.0)) is not None:
            notes.append(note)
            unlabelled.append(done.as_dict())
    notes += bad_event_notes(d.bad_events, [e for r in recs for e in r.events], marked=marked, span_s=reach_s,
                             option="data.bad_events")
    return out, bad, unlabelled


def check_data(config: RunConfig) -> None:
    """Every refusal of :func:`prepare_dataset` that the recordings alone decide (files, channels, events, Nyquist,
    validation tail, classes per split), without preprocessing: what ``bci-stream train --nproc-per-node N`` checks
    once before it starts its processes.

    Raises
    ------
    ConfigError, DataError
        As :func:`prepare_dataset`.
    """
    _load_splits(config)


def prepare_dataset(config: RunConfig) -> Dataset:
    """Load, crop, split, fit preprocessing on the training part, and preprocess every sequence."""
    sp = _load_splits(config)
    by_split, train_stop, sfreq, ch_names = sp.by_split, sp.train_stop, sp.sfreq, sp.ch_names
    label_names, trial_classes = sp.label_names, sp.trial_classes

    def as_input(rec: Recording) -> np.ndarray:
        return np.ascontiguousarray(rec.data.T, dtype=np.float32)  # what an LSL float32 stream carries

    pre_cfg = _fit_preprocessing(config, [(as_input(r), train_stop[r.source], sp.bad[r.source])
                                          for r in by_split["train"]], ch_names, sfreq)

    def process(rec: Recording) -> np.ndarray:
        return Preprocessor(pre_cfg, len(ch_names), sfreq).process(as_input(rec))

    out: dict[str, list[Sequence]] = {"train": [], "validation": [], "test": []}
    for rec in by_split["train"]:
        z, stop, bad = process(rec), train_stop[rec.source], sp.bad[rec.source]
        out["train"].append(Sequence(_piece_name(rec, 0, stop), rec.source, z[:stop], rec.labels[:stop],
                                     rec.data[:, :stop], bad=bad[:stop]))
        if stop < rec.n_times:
            out["validation"].append(Sequence(_piece_name(rec, stop, rec.n_times), rec.source, z[stop:],
                                              rec.labels[stop:], rec.data[:, stop:], start=stop, bad=bad[stop:]))
    for split in ("validation", "test"):
        for rec in by_split[split]:
            out[split].append(Sequence(rec.name, rec.source, process(rec), rec.labels, rec.data,
                                       bad=sp.bad[rec.source]))

    info = {
        "sfreq": sfreq,
        "n_chans": len(ch_names),
        "label_names": label_names,
        "trial_classes": trial_classes,
        "splits": {s: [_describe(q, label_names, sfreq) for q in seqs] for s, seqs in out.items()},
        "files_content": sp.prints,
        **({"notes": sp.notes} if sp.notes else {}),
        **({"warnings": sp.warnings} if sp.warnings else {}),
        **({"channels_left_out": sp.channels_left_out} if sp.channels_left_out else {}),
        **({"unlabelled": sp.unlabelled} if sp.unlabelled else {}),
    }
    return Dataset(out["train"], out["validation"], out["test"], ch_names, sfreq, label_names, trial_classes,
                   pre_cfg, info, lead=window_lead(config.data.label_window, sfreq))


def _piece_name(rec: Recording, a: int, b: int) -> str:
    return rec.name if (a, b) == (0, rec.n_times) else f"{rec.name}[{a}:{b}]"


def _describe(q: Sequence, label_names: list[str], sfreq: float) -> dict[str, Any]:
    counts = {n: 0 for n in label_names}
    for s in segment_starts(q.labels):
        if q.labels[s] != UNLABELLED:
            counts[label_names[q.labels[s]]] += 1
    return {"name": q.name, "file": Path(q.source).name, "start_sample": q.start, "n_times": q.n_times,
            "seconds": round(q.n_times / sfreq, 3), "segments_per_class": counts}
