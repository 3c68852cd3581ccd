"""What the trainer checks about its recordings before it trains: each refusal names the config key.

* :func:`load_run_recordings`: the files, read with ``data.label_window`` and the ``[data.reader]`` options
  (each file gets those its format's reader takes; an option no reader takes is refused); a loader error that
  asks for such an option says which key.
* :func:`check_events`: every event ``data.label_map`` maps to a class occurs in some file (as ``evaluate``
  and ``calibrate`` require): a typo would otherwise train a class without a sample.
* :func:`check_split_copies`: no file of one split holds the samples of a file of another split (a renamed copy,
  the recording re-saved in another format, a cropped copy, an overlapping piece), found by content as
  ``calibrate`` finds a run given twice (:func:`~bci_stream.train.classical.distinct_runs.copy_of`): the config's
  check compares files on disk only.
* :func:`check_filters`: the band-pass, notch and CSP band lie below the data's Nyquist frequency.
* :func:`check_split_classes`: the training part holds every class, and the validation data and test files hold
  trials of every trial class (a test accuracy over one class, or none, is no test).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.io.data_root import data_root, missing_data_hint
from bci_stream.core.errors import ChannelError, DataError
from bci_stream.io import Recording, load_recordings
from bci_stream.io.recording import UNLABELLED
from bci_stream.train.config import ConfigError, RunConfig


def reader_options(paths: Sequence[Path], reader: dict[str, Any], strict: bool = True) -> list[dict[str, Any]]:
    """The ``[data.reader]`` options each file's reader takes (a run may mix formats, e.g. XDF and EDF).

    Raises
    ------
    ConfigError
        With ``strict``, an option that no file's reader takes (a typo, or an option of another format).
    """
    if not reader:
        return [{} for _ in paths]
    from bci_stream.io.load import _suffix, format_options

    takes: list[dict[str, Any]] = []
    allowed_by: dict[str, list[str]] = {}
    for path in paths:
        allowed = allowed_by.setdefault(_suffix(Path(path)), format_options(path))
        takes.append({k: v for k, v in reader.items() if k in allowed})
    unknown = sorted(set(reader) - {k for t in takes for k in t})
    if unknown and strict:
        listing = "; ".join(f"{s}: {', '.join(a) or 'none'}" for s, a in allowed_by.items())
        raise ConfigError(f"data.reader: option(s) {unknown} are taken by no reader of these files (options per "
                          f"format: {listing})")
    return takes


def _hint(message: str, paths: Sequence[Path]) -> str:
    """The config key for a loader error that asks for a keyword argument, or ``""``."""
    xdf = any(Path(p).name.lower().endswith((".xdf", ".xdfz", ".xdf.gz")) for p in paths)
    if "label_window=" in message:
        return (" (in the run config: data.label_window = [start_s, stop_s]"
                + (", or data.reader.until_next = true for XDF cue markers" if xdf else "") + ")")
    for option in ("marker_stream", "stream"):
        if f"pass {option}=" in message:
            return f" (in the run config: [data.reader] {option} = \"<name>\")"
    return ""


def load_run_recordings(config: RunConfig, paths: Sequence[Path]) -> list[Recording]:
    """``paths`` read as the config says: ``data.label_map``, ``data.channels``, ``data.label_window`` and the
    ``[data.reader]`` options.

    Raises
    ------
    ConfigError
        A reader option that no file's format takes.
    DataError
        A file the loader refuses; when the loader asks for an option, the message names the config key.
    """
    d = config.data
    check_files(config)
    keys = [f"data.{split}[{i}]" for split in ("train", "validation", "test") for i in range(len(getattr(d, split)))]
    try:
        return load_with_options(paths, d.label_map, d.channels, d.label_window, d.reader,
                                 keys=keys if len(keys) == len(paths) else None)
    except ChannelError as exc:  # the loader names its own parameter (ch_names): say which key that is
        text = str(exc)
        if d.channels is None or not text.startswith("ch_names "):
            raise
        raise ChannelError("data.channels " + text.removeprefix("ch_names ")) from None


def check_files(config: RunConfig) -> None:
    """Refuse a file of ``data.train``, ``data.validation`` or ``data.test`` that is not on disk, naming the key, the
    entry and where it was looked for (``data.root`` + the entry, relative to the config file)."""
    for split in ("train", "validation", "test"):
        for i, (f, path) in enumerate(zip(getattr(config.data, split), config.data_files(split))):
            if not path.is_file():
                hint = f"; {missing_data_hint()}" if path.is_relative_to(data_root()) else ""
                raise ConfigError(f"data.{split}[{i}] = {f!r} is not a file: {path} (data.root "
                                  f"{config.data.root!r} + the entry, relative to the config file's folder){hint}")


def load_with_options(paths: Sequence[Path], label_map: Any, ch_names: Sequence[str] | None,
                      label_window: Sequence[float] | None, reader: dict[str, Any], strict: bool = True,
                      keys: Sequence[str] | None = None) -> list[Recording]:
    """``paths`` read with a label map, channels, a label window and reader options, each file with the options its
    format takes (``strict``: an option no file takes is a ConfigError; else it is left out, as when ``evaluate``
    reads other formats than the model was trained on). ``keys``: each file's config key (``data.train[1]``), named
    when the files' rates differ."""
    takes = reader_options(paths, reader, strict)
    kwargs: dict[str, Any] = {"label_map": label_map, "ch_names": ch_names,
                              "label_window": None if label_window is None else tuple(label_window)}
    try:
        return load_recordings(list(paths), **kwargs, file_options=takes, keys=keys)
    except DataError as exc:
        hint = _hint(str(exc), paths)
        if not hint:
            raise
        raise type(exc)(f"{exc}{hint}") from None


def check_events(config: RunConfig, recs: Sequence[Recording]) -> None:
    """Refuse a ``data.label_map`` that maps to a class an event no file has."""
    from bci_stream.io.labels import absent_events

    events = [e for r in recs for e in r.events]
    absent = absent_events(config.data.label_map, events)
    if absent:
        raise ConfigError(f"data.label_map names event(s) {absent} that occur in none of the files "
                          f"(their events: {sorted({str(e.description) for e in events})})")


def check_split_copies(config: RunConfig, recs: Sequence[Recording]) -> None:
    """Refuse a file of ``data.train``, ``data.validation`` or ``data.test`` that holds the same samples as a file of
    another split (:func:`~bci_stream.train.classical.distinct_runs.same_samples`: a renamed copy, or the recording
    re-saved in another format or channel order), or shares a stretch of them
    (:func:`~bci_stream.train.classical.shared_stretch.shared_stretch`: a cropped copy, or an overlapping piece of
    one recording): its test or validation figures would be in-sample. ``recs``: every file as loaded, in the order
    train, validation, test (before ``data.crop_s``)."""
    from bci_stream.train.classical.distinct_runs import copy_of
    from bci_stream.train.classical.shared_stretch import overlap_words

    d = config.data
    keyed = [(split, i, f) for split in ("train", "validation", "test") for i, f in enumerate(getattr(d, split))]
    if len(keyed) != len(recs):
        raise ValueError(f"check_split_copies: {len(recs)} recordings for {len(keyed)} files of the splits")
    for j, (split, i, f) in enumerate(keyed):
        for k in range(j):
            other, oi, of = keyed[k]
            if other == split:
                continue
            same, ov = copy_of(recs[k], recs[j])
            if not same:
                continue
            rec = recs[k]
            why = (f"splits must not share a recording (its {split} figures would be in-sample), give each recording "
                   f"in one split only")
            if ov is not None:
                raise ConfigError(
                    f"data.{split}[{i}]: file {f!r} shares samples with {of!r} in data.{other}[{oi}] "
                    f"({overlap_words(repr(of), repr(f), rec.sfreq, ov)}: a cropped copy or an overlapping recording, "
                    f"{ov.n} samples at {rec.sfreq:g} Hz); {why}")
            raise ConfigError(
                f"data.{split}[{i}]: file {f!r} holds the same samples as {of!r} in data.{other}[{oi}] (a copy "
                f"of it, renamed or re-saved in another format: {rec.data.shape[1]} samples x "
                f"{rec.data.shape[0]} channels at {rec.sfreq:g} Hz); {why}")


def check_filters(config: RunConfig, sfreq: float) -> None:
    """Refuse a filter frequency at or above the data's Nyquist frequency (``sfreq / 2``)."""
    nyquist = sfreq / 2
    p, ev = config.preprocessing, config.evaluation
    bands = [("preprocessing.bandpass", p.bandpass and p.bandpass[1], p.bandpass and list(p.bandpass)),
             ("preprocessing.notch", p.notch, p.notch)]
    if ev.csp_lda:
        bands.append(("evaluation.csp_band", ev.csp_band[1], list(ev.csp_band)))
    for key, high, value in bands:
        if high is not None and high >= nyquist:
            raise ConfigError(f"{key} must lie below Nyquist ({nyquist:g} Hz for the data's {sfreq:g} Hz), "
                              f"got {value}")


def segments_per_class(labels: np.ndarray, label_names: list[str]) -> dict[str, int]:
    """Labelled segments (contiguous runs of one label) per class name."""
    counts = {n: 0 for n in label_names}
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]]) if len(labels) else []
    for s in starts:
        if labels[s] != UNLABELLED:
            counts[label_names[labels[s]]] += 1
    return counts


def _summed(parts: Sequence[np.ndarray], label_names: list[str], classes: list[str]) -> dict[str, int]:
    """Labelled segments of each of ``classes`` summed over ``parts``."""
    counts = {n: 0 for n in classes}
    for labels in parts:
        for n, k in segments_per_class(labels, label_names).items():
            if n in counts:
                counts[n] += k
    return counts


#: Fewer training trials of a trial class than this are warned of (``calibrate``'s least number of trials per class).
FEW_TRIALS = 4


def check_split_classes(config: RunConfig, train_parts: Sequence[np.ndarray], test: Sequence[np.ndarray],
                        label_names: list[str], trial_classes: list[str],
                        validation: Sequence[np.ndarray] = ()) -> list[str]:
    """Refuse a training part without every class, or validation data or test files without trials of every trial
    class; return the warning of a training part with fewer than :data:`FEW_TRIALS` trials of a trial class (a net
    fitted on 2 trials of a class trained, tested and exported with no word but the chance check's: audit s68train
    F6; ``calibrate`` refuses such files, its CV needing them).

    Parameters
    ----------
    train_parts
        Labels of the training part of each training recording (before any validation tail).
    test
        Labels of each test recording.
    validation
        Labels of the validation data: each validation recording and each training recording's tail.
    """
    d = config.data
    tail = (f"; data.validation_tail_s = {d.validation_tail_s:g} s holds out the end of "
            f"{', '.join(d.tail_files or d.train)}" if d.validation_tail_s else "")
    counts = _summed(train_parts, label_names, label_names)
    if missing := [n for n, k in counts.items() if k == 0]:
        raise ConfigError(f"data.train: the training part has no segment of class(es) {missing} "
                          f"(segments per class: {counts}){tail}; a class needs training data")
    few = {n: k for n, k in counts.items() if n in trial_classes and k < FEW_TRIALS}
    warnings = [f"data.train: the training part holds fewer than {FEW_TRIALS} trials of class(es) {sorted(few)} "
                f"(trials per class: {counts}){tail}: a decoder fitted on so few trials of a class is a guess; "
                "calibration runs of 15 or more trials per class are usual"] if few else []
    counts = _summed(validation, label_names, trial_classes)
    if validation and (missing := [n for n, k in counts.items() if k == 0]):
        where = ("data.validation and data.validation_tail_s" if d.validation and d.validation_tail_s
                 else "data.validation" if d.validation else "data.validation_tail_s")
        raise ConfigError(f"{where}: the validation data hold no trial of class(es) {missing} of data.trial_classes "
                          f"(trials per class: {counts}){tail}; early stopping on validation data without a class "
                          f"would favour a decoder that never says it (give validation files with every class, or "
                          f"a longer data.validation_tail_s)")
    counts = _summed(test, label_names, trial_classes)
    if test and (missing := [n for n, k in counts.items() if k == 0]):
        raise ConfigError(f"data.test: the test files hold no trial of class(es) {missing} of data.trial_classes "
                          f"(trials per class: {counts}); a test accuracy needs trials of every trial class")
    return warnings
