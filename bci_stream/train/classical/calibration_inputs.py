"""The inputs of ``bci-stream calibrate``: option parsing, and loading and checking the calibration files.

:func:`load_calibration` loads the files (any format :func:`bci_stream.io.load_recording` reads) and
checks them: the ``--labels`` event names occur in the files, at least two classes, at least
:data:`MIN_TRIALS` cues per class, same channels and sfreq in every run. Trials overlapping data a file marks bad
(``BAD*`` annotations, discontinuities, ``--bad-events``, non-finite samples, which are replaced as the service
does) are left out and said (:mod:`.bad_spans`). A file whose XDF timestamps jump forward (two runs recorded into one
file) gives one run per part, said in a note (:func:`_split_at_jumps`). Every refusal is a :class:`CalibrationError`
naming the file, the rule and the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.core.channels import (match_channels, match_note, non_eeg_reason, renamable_flags,
                                      renamed_hint, shortlist)
from bci_stream.core.errors import BciStreamError
from bci_stream.core.units import PLAUSIBLE_SD_UV
from bci_stream.io import load_recording
from bci_stream.io.load import check_names, events_summary, named_options, options_by_file, renamed_bads
from bci_stream.io.channel_names import read_channel_names
from bci_stream.io.errors import DataError, LabelMapError
from bci_stream.io.reader_flags import in_flags
from bci_stream.io.xdf_clock import JUMP
from bci_stream.io.labels import absent_events, label_names_of, merge_label_maps, near_names, reader_hint
from bci_stream.train.classical.amplitude_notes import (CHANNEL_SD_FACTOR, amplitude_notes, beyond_input_limit,
                                                        channel_sd_notes, duplicate_notes)
from bci_stream.train.classical.bad_spans import (bad_spans, beyond_limit, check_bad_events, hold_nonfinite, leave_out,
                                                  limit_for, nonfinite_note, nonfinite_stretches, usable)
from bci_stream.train.classical.configs import DECISION_TIME, EVAL_TIMES
from bci_stream.train.classical.data import (Trials, channel_pick_note, name_twins_message, numbered_hint,
                                             shared_channels_hint, trials_of)
from bci_stream.train.classical.distinct_runs import repeated_run, repeated_run_message
from bci_stream.train.content_print import content_print
from bci_stream.train.label_spacing import cue_response_notes
from bci_stream.train.classical.prepared import Prepared, Run

MIN_TRIALS = 4
#: what the non-finite note adds for calibrate (a trial is said in its own note only when one is left out)
LEFT_OUT_THEN = "; a trial overlapping them or the settling after them is left out (said below when one is)"
_BAD = "bad"  # default_channels' reason for a channel a file marks bad


class CalibrationError(BciStreamError, ValueError):
    """The calibration files or options cannot give a decoder (the message says which rule and value)."""


def parse_labels(text: str | Sequence[str] | None, pairs: Sequence[str] = ()) -> dict[str, str | None]:
    """``--labels "T1=fists,T2=feet"`` values (repeated: merged, as evaluate merges them) and ``--label EVENT=CLASS``
    values (one pair, split at its last ``=``: the event may hold ``,`` and ``=``) → ``{"T1": "fists", ...}``;
    ``EVENT=`` → None (cues no trial, as evaluate and replay read it). A bad value raises CalibrationError."""
    texts = [text] if isinstance(text, str) else list(text or ())
    try:
        out = merge_label_maps([t for t in texts if t], pairs, allow_ignore=True)
    except LabelMapError as exc:
        raise CalibrationError(str(exc)) from None
    if not any(out.values()):  # '' is given, an empty one: said as given
        given = ", ".join([f"--labels {t!r}" for t in texts] + [f"--label {p!r}" for p in pairs]) or "neither"
        raise CalibrationError("--labels or --label must map at least two events to classes (e.g. --labels "
                               f"T1=fists,T2=feet, or --label 'cond=1=left' --label 'cond=2=right'); got {given}")
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


def load_calibration(paths: Sequence[str | Path], label_map: Mapping[str, str | None], *,
                     channels: Sequence[str] | None = None, min_trials: int = MIN_TRIALS,
                     progress: bool = False, reader_options: Mapping[str, Any] | None = None,
                     channel_names: Sequence[str] | None = None, bad_events: Sequence[str] = ()) -> Prepared:
    """Load and check calibration files; return a :class:`~.prepared.Prepared` of their runs.

    Parameters
    ----------
    paths
        One file per run (an XDF file whose timestamps jump forward: one run per part with trials).
    label_map
        Event (annotation / marker / state value) name → class name, or None: read, but cues no trial.
    channels
        Channels to use (matched after normalising names), at least 2, even those a file marks bad (said in the
        notes); default: the first file's EEG channels less those any file types as not EEG or marks bad
        (:func:`default_channels`). Without it every file must have the EEG channels of every other file (whatever
        their order; a file's bad channels aside); the refusal names, for each file, the channels it lacks.
    min_trials
        Fewest cues per class over all files.
    reader_options
        Format options (e.g. XDF ``stream``, ``marker_stream``), each given to the files whose format takes it.
    channel_names
        New names for the channels of every file, one per channel in the file's order (``--channel-names``), given
        before anything is picked (``channels``, or the default EEG channels and the sensorimotor rows).
    bad_events
        Event names whose span marks bad data (``--bad-events``, e.g. ``1023``): with ``BAD*`` annotations,
        discontinuities and non-finite stretches, the trials overlapping them are left out (:mod:`.bad_spans`), and
        said per file, reason and class in the notes (``Prepared.left_out`` holds the counts).

    Raises
    ------
    CalibrationError
        With a message naming the file, the rule and the value: ``sfreq mismatch between runs``,
        ``channels missing in`` / ``channels differ between the files``, ``at least 2 channels``, ``no finite
        sample`` (a used channel only NaN/inf), ``not in the files``, ``only one class present`` / ``no class
        present``, ``fewer than N trials`` (each saying what was left out why), ``has no cue of``, ``no usable
        trial``, ``--bad-events`` naming a ``--labels`` event, a reader option no file's format takes,
        ``--channel-names`` with a count other than a file's channels, ``holds the same samples as`` (a file given
        twice, or a copy); loader errors are re-raised as
        ``cannot load FILE: ...``.
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
            recs.append(load_recording(p, cues=label_map,  # cues: a code 0 is an event; named: no .loc looked up
                                       **named_options(p, per_file[str(p)], channel_names is not None)))
        except DataError as exc:
            raise CalibrationError(f"cannot load {p}: {in_flags(str(exc), 'calibrate')}") from None
    notes: list[str] = []
    if channel_names is not None:
        was = list(recs[0].ch_names)
        for rec in recs:
            try:
                new = check_names(channel_names, rec.n_chans, rec.source, "--channel-names")
            except DataError as exc:
                raise CalibrationError(str(exc)) from None
            rec.bad_channels, rec.ch_names = renamed_bads(rec.bad_channels, rec.ch_names, new), new
        notes.append(f"renamed the {len(was)} channels of every file by --channel-names: "
                     f"{shortlist([f'{a} -> {b}' for a, b in zip(was, recs[0].ch_names)], 4)}")
    first = recs[0]
    for rec in recs[1:]:
        if rec.sfreq != first.sfreq:
            raise CalibrationError(
                f"sfreq mismatch between runs: {rec.source} has sfreq={rec.sfreq:.10g} Hz, {first.source} has "
                f"{first.sfreq:.10g} Hz (every run must have the same rate; we never resample)")
    wanted = list(channels) if channels else default_channels(recs, notes)
    if len(wanted) < 2:
        what = "--channels" if channels else f"the EEG channels of {first.source}"
        marked = "" if channels else "".join(f"; {n}" for n in notes if "marked bad in the files" in n)
        raise CalibrationError(f"{what} must name at least 2 channels (CSP and covariances need >= 2, and a common "
                               f"average reference of one channel is zero); got {list(wanted)}{marked}")
    if not channels and (twins := name_twins_message(first.source, wanted)) is not None:  # C3 and C3.. both used
        raise CalibrationError(twins)
    if not channels:
        _check_same_channels(recs, wanted)
    runs = []
    for rec in recs:
        renamable = renamable_flags(rec.ch_types)  # an sEEG contact T3 is not read as T7
        idx, missing, ambiguous = match_channels(rec.ch_names, wanted, renamable)
        if missing:
            raise CalibrationError(
                f"channels missing in {rec.source}: {missing[:10]}{' ...' if len(missing) > 10 else ''} "
                f"({len(missing)} of the {len(wanted)} channels of --channels; pass --channels with a set every "
                f"file has){numbered_hint(rec)}" + renamed_hint(missing, rec.ch_names, "file", rec.ch_types))
        if ambiguous:
            name, hits = next(iter(ambiguous.items()))
            raise CalibrationError(f"channel {name!r} matches several channels of {rec.source}: {hits}")
        if len(set(idx)) != len(idx):
            raise CalibrationError(f"--channels names a channel twice (after normalising names): {wanted}")
        if (note := match_note(rec.ch_names, wanted, "file", "calibration", renamable)) is not None:  # T7 from T3
            notes.append(f"{rec.source}: {note}")
        if channels and (bad := [rec.ch_names[i] for i in idx if rec.ch_names[i] in rec.bad_channels]):
            notes.append(f"--channels uses {len(bad)} channel(s) marked bad in {Path(rec.source).name}: "
                         f"{shortlist(bad)}")
        runs.append((rec, idx, _finite_data(rec, idx, notes)))
    events = [ev for rec in recs for ev in rec.events]
    absent = absent_events(label_map, events)  # near_names: the event a typo likely meant (case, blanks, TYPE/)
    not_in_files = (f"--labels names event(s) {absent} not in the files (their events are: {_event_listing(events)})"
                    f"{near_names(absent, events)}{reader_hint(absent, paths, reader_options)}" if absent else "")
    out_runs, left_out, late_notes = [], [], []
    for rec, idx, (data, stretches) in runs:
        cue_map, span = {str(k): v for k, v in label_map.items()}, max(EVAL_TIMES)
        trials = trials_of(rec.events, cue_map, labels, rec.n_times, rec.sfreq, min_after_s=span)
        if late := len(trials_of(rec.events, cue_map, labels, rec.n_times, rec.sfreq)) - len(trials):
            late_notes.append(f"{Path(rec.source).name}: {late} cue(s) less than {span:g} s before the file's end "
                              f"left out (a trial is scored up to {span:g} s after its cue)")
        spans = bad_spans(rec.events, stretches, rec.sfreq, bad_events, cues={k for k, v in cue_map.items() if v})
        trials, left = leave_out(trials, spans, rec.sfreq, labels, rec.source)
        left_out.append(left)
        out_runs.append(Run(data=data, sfreq=rec.sfreq, ch_names=[rec.ch_names[i] for i in idx], trials=trials,
                            source=rec.source))
    bad_notes = check_bad_events(bad_events, label_map, [ev for rec in recs for ev in rec.events],
                                 marked={why for left in left_out for why in left.overlapped}, error=CalibrationError)
    notes += late_notes + [left.sentence() for left in left_out if left.n] + bad_notes
    why = "".join(f"; {left.sentence()}" for left in left_out if left.n)  # for the refusals below
    late_why = "".join(f"; {n}" for n in late_notes)  # (a refusal counted the cues kept only: audit s63readme F2)
    counts = {name: int(sum((r.trials.classes == k).sum() for r in out_runs)) for k, name in enumerate(labels)}
    have = [n for n, c in counts.items() if c > 0]
    if absent:  # the cause first: events --labels names that no file has
        raise CalibrationError(not_in_files + ("" if len(have) >= 2 else
                                               f"; cues per class {counts}: fewer than two classes occur{why}"))
    if len(have) < 2:
        raise CalibrationError(
            f"{'only one class' if have else 'no class'} present in the files: cues per class {counts} (cues "
            f"at least {max(EVAL_TIMES):g} s before a file's end{', not left out' if why else ''}); --labels must "
            f"map events of at least two classes that occur{why}{late_why}")
    if emptied := [left.source for left, r in zip(left_out, out_runs) if len(r.trials) == 0 and left.n]:
        raise CalibrationError(f"no usable trial left in {', '.join(emptied)}: every cue's span overlaps data marked "
                               f"bad{why}; leave the file out, or check its marks")
    if empty := [rec for (rec, *_), r in zip(runs, out_runs) if len(r.trials) == 0]:
        raise CalibrationError(_no_cue_message(empty, label_map))
    few = {n: c for n, c in counts.items() if c < min_trials}
    if few:
        raise CalibrationError(
            f"fewer than {min_trials} trials for class(es) {few} (cues per class {counts}"
            f"{', after leaving out the bad ones' if why else ''}"
            f"{', after leaving out those too near a file end' if late_why else ''}); record more runs{why}{late_why}")
    if not channels:
        notes.append(channel_pick_note(wanted, channel_names is not None))
    if (pair := repeated_run(recs)) is not None:  # after the label checks: a copy made to rename events is named so
        raise CalibrationError(repeated_run_message(pair))
    if (too_large := beyond_input_limit(out_runs)) is not None:
        raise CalibrationError(too_large)
    notes += (amplitude_notes(out_runs) + channel_sd_notes(out_runs) + duplicate_notes(out_runs)
              + cue_response_notes(recs, label_map, DECISION_TIME))
    parts = [_split_at_jumps(rec, run) for (rec, *_), run in zip(runs, out_runs)]
    notes += [note for _, note in parts if note]
    return Prepared([r for split, _ in parts for r in split], labels, notes=notes,
                    left_out=[left.as_dict() for left in left_out if left.n], prints=[content_print(r) for r in recs])


def _split_at_jumps(rec: Any, run: Run) -> tuple[list[Run], str | None]:
    """``run`` (of the file ``rec``) cut at each forward jump of an XDF file's timestamps (the reader's
    :data:`~bci_stream.io.xdf_clock.JUMP` events: a recording that went on across two runs), each part holding a
    trial as a run of its own, so that leave-one-run-out CV holds each out as it holds out a file (its running
    estimators start at its first sample; a trial across a jump or in its settling was already left out), and the
    note that says so; ``([run], None)`` for a file without a jump. A part without a trial is dropped."""
    cuts = sorted({int(e.onset) for e in rec.events if e.description == JUMP and 0 < e.onset < run.n_times})
    if not cuts:
        return [run], None
    edges = [0, *cuts, run.n_times]
    spans = []
    for a, b in zip(edges[:-1], edges[1:]):
        inside = (run.trials.onsets >= a) & (run.trials.onsets < b)
        if inside.any():
            spans.append((a, b, Trials(run.trials.onsets[inside] - a, run.trials.classes[inside])))
    n = len(spans)
    out = [Run(data=np.ascontiguousarray(run.data[a:b]), sfreq=run.sfreq, ch_names=run.ch_names, trials=trials,
               source=run.source if n == 1 else f"{run.source} (part {k + 1} of {n})")
           for k, (a, b, trials) in enumerate(spans)]
    each = shortlist([f"{b - a} samples from t={a / run.sfreq:.3f} s, {len(t)} trial(s)" for a, b, t in spans], 6)
    dropped = len(edges) - 1 - n
    return out, (f"{Path(run.source).name}: its timestamps jump forward {len(cuts)} time(s) (a break in the recording,"
                 f" e.g. two runs in one file: {JUMP!r} at t=" + shortlist([f"{c / run.sfreq:.3f}" for c in cuts], 6)
                 + f" s), so its {n} part(s) with trials are calibrated as {n} run(s): {each}"
                 + (f"; {dropped} part(s) without a trial left out" if dropped else ""))


def _finite_data(rec: Any, idx: Sequence[int], notes: list[str]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The channels ``idx`` of ``rec`` as ``[T, C]`` with its NaN/inf, and values beyond ±1 V, replaced as the service
    does (:func:`~.bad_spans.hold_nonfinite`, said in ``notes``), and the stretches where they were; a channel
    without any usable sample is refused (naming the file and the channels)."""
    data = np.ascontiguousarray(rec.data[idx].T)
    limit = limit_for(data)  # None for a file in another unit than it declares (warned of after loading)
    stretches = nonfinite_stretches(data, limit)
    if not stretches:
        return data, stretches
    ok = usable(data, limit)
    if dead := [rec.ch_names[idx[c]] for c in np.flatnonzero(~ok.any(axis=0))]:
        what = "all" if len(dead) == len(idx) else f"{len(dead)} of the {len(idx)}"
        raise CalibrationError(
            f"{rec.source}: {what} used channel(s) ({shortlist(dead, 8)}) hold no finite sample within ±1 V (only "
            f"NaN, inf or larger values, which no EEG reaches: a broken channel, or a file whose unit is not the one "
            "it declares): calibration needs data; leave those channels out with --channels, or leave the file out")
    chans = [rec.ch_names[idx[c]] for c in np.flatnonzero(~ok.all(axis=0))]
    n_beyond = beyond_limit(data, limit)
    n = hold_nonfinite(data, limit)
    notes.append(nonfinite_note(rec.source, n, f"on {len(chans)} channel(s) ({shortlist(chans, 8)})",
                                stretches=stretches, sfreq=rec.sfreq, then=LEFT_OUT_THEN, n_beyond=n_beyond))
    return data, stretches


def _event_listing(events: Sequence[Any]) -> str:
    """``'T0' ×60, 'T1' ×30`` (each event description and its count, sorted: :func:`events_summary`), or ``none``."""
    return ", ".join(f"{d!r} ×{n}" for d, n in events_summary(events).items()) or "none"


def _no_cue_message(empty: Sequence[Any], label_map: Mapping[str, str | None]) -> str:
    """The refusal of files with no cue of ``label_map`` (early enough to score): every such file with its own events,
    and first the likely fix, their events added to ``--labels`` (a file of another convention: 'left' for 'T1')."""
    one = len(empty) == 1
    each = "; ".join(f"{rec.source} (its events: {_event_listing(rec.events)})" for rec in empty)
    known = next((str(e.description) for rec in empty for e in sorted(rec.events, key=lambda e: e.description)), None)
    fix = (f"add {'its' if one else 'their'} events to --labels (e.g. {known}=CLASS), or " if known else "")
    return (f"{each} {'has' if one else 'have'} no cue of --labels {sorted(k for k, v in label_map.items() if v)} "
            f"at least {max(EVAL_TIMES):g} s before {'its' if one else 'their'} end: {fix}leave "
            f"{'the file' if one else 'those files'} out")


def _check_same_channels(recs: Sequence[Any], wanted: Sequence[str]) -> None:
    """Refuse files whose EEG channels differ (names matched after normalising), whatever their order.

    The EEG channels of every file (:func:`eeg_channels`) are pooled (as :func:`match_channels` matches names: a
    file's ``T7`` is another file's ``T3``), less those any file marks bad (as :func:`default_channels` leaves them
    out); each file must have all of them. The error names, for each file, what it lacks, so that swapping the files
    gives the same refusal.
    """
    marked = [n for rec in recs for n in rec.bad_channels]
    pooled = list(wanted)
    for rec in recs[1:]:
        own = [n for n in eeg_channels(rec, []) if not match_channels(marked, [n])[0]]
        pooled += match_channels(pooled, own)[1]  # this file's EEG channels the pool does not have yet
    lacks = [(rec, missing) for rec in recs if (missing := match_channels(rec.ch_names, pooled)[1])]
    if lacks:
        each = "; ".join(f"channels missing in {rec.source}: {m[:10]}{' ...' if len(m) > 10 else ''} "
                         f"({len(m)} of {len(pooled)}){numbered_hint(rec)}" for rec, m in lacks)
        raise CalibrationError(f"channels differ between the files ({len(pooled)} EEG channels over all files): "
                               f"{each}; pass --channels with a set every file has{shared_channels_hint(recs, pooled)}")


def reader_options(stream: str | None, marker_stream: str | None,
                   event_fields: list[str] | None) -> dict[str, Any]:
    """The reader options given on a command line (``--stream``, ``--marker-stream``, ``--event-fields``), those
    given only."""
    return {k: v for k, v in (("stream", stream), ("marker_stream", marker_stream), ("event_fields", event_fields))
            if v}


def _per_file_options(paths: Sequence[str | Path], options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each file's share of ``options``: those its format takes (:func:`~bci_stream.io.load.options_by_file`)."""
    try:
        return {str(p): o for p, o in zip(paths, options_by_file(paths, options))}
    except ValueError as exc:
        raise CalibrationError(str(exc)) from None


def eeg_channels(rec, notes: list[str]) -> list[str]:
    """The channels of ``rec`` that may be EEG (:func:`~bci_stream.core.channels.non_eeg_reason`: not declared of
    another type, not named like an EOG/ECG/EMG/trigger/auxiliary channel); the others are left out and said so in
    ``notes``. All channels when none looks like EEG."""
    return default_channels([rec], notes, bads=False)


def default_channels(recs: Sequence[Any], notes: list[str], *, bads: bool = True) -> list[str]:
    """The channels calibrate uses without ``--channels``: those of the first file that no file declares or names as
    not EEG (:func:`~bci_stream.core.channels.non_eeg_reason`) and, with ``bads``, that no file marks bad
    (``Recording.bad_channels``: a lab's own mark of a broken electrode). Each left-out channel is said in ``notes``
    with why, and the files that say so (always for a bad mark; for a type, when not every file says the same). All
    channels of the first file when none looks like EEG."""
    first = recs[0]
    renamable = renamable_flags(first.ch_types)
    why: dict[str, dict[str, list[str]]] = {}  # first file's channel -> reason -> names of the files that give it
    for rec in recs:
        types = rec.ch_types or [None] * rec.n_chans
        marks = [(n, non_eeg_reason(n, t)) for n, t in zip(rec.ch_names, types)]
        for name, reason in marks + [(n, _BAD) for n in (rec.bad_channels if bads else [])]:
            idx = match_channels(first.ch_names, [name], renamable)[0] if reason else []
            if idx:
                why.setdefault(first.ch_names[idx[0]], {}).setdefault(reason, []).append(Path(rec.source).name)
    kept = [n for n in first.ch_names if not set(why.get(n, ())) - {_BAD}]
    said = {n: [r if len(f) == len(recs) else f"{r} in {shortlist(f, 3)}" for r, f in why[n].items() if r != _BAD]
            for n in first.ch_names if n not in kept}  # a type only some files give: in which
    left = [f"{n} ({'; '.join(reasons)})" for n, reasons in said.items()]
    if not kept:
        notes.append(f"no channel of {first.source} looks like EEG ({', '.join(left[:6])}): all are used")
        kept = list(first.ch_names)
    elif left:
        notes.append(f"left out {len(left)} channel(s) that are not EEG: {shortlist(left)}; pass --channels to "
                     "choose the channels yourself")
    if bad := [n for n in kept if _BAD in why.get(n, ())]:
        each = [f"{n} ({'every file' if 1 < len(recs) == len(why[n][_BAD]) else shortlist(why[n][_BAD], 3)})"
                for n in bad]
        notes.append(f"left out {len(bad)} channel(s) marked bad in the files: {shortlist(each)}; pass --channels "
                     "to choose the channels yourself (a bad channel it names is used)")
    return [n for n in kept if n not in bad]


__all__ = ["CHANNEL_SD_FACTOR", "MIN_TRIALS", "PLAUSIBLE_SD_UV", "CalibrationError", "amplitude_notes",
           "channel_sd_notes", "default_channels", "eeg_channels", "load_calibration", "parse_channel_names",
           "parse_channels", "parse_labels"]
