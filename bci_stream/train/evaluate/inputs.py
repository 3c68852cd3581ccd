"""How ``bci-stream evaluate`` reads its recordings: every file ``calibrate`` accepts, with the same options.

* ``--stream`` / ``--marker-stream`` (format options, :func:`file_options`): given to every file whose format takes
  them (XDF), as ``calibrate`` does; an option no file takes is refused. A model trained by ``train`` on XDF files
  also brings its run config's ``[data.reader]`` options (those a file's format takes; the command line wins).
* ``--channel-names``: the channels of every file renamed, in the file's order, before the model's are picked.
* Cue events of zero duration (marker streams: the service's own XDF recordings, LabRecorder files, stim codes,
  BrainVision markers of size 1): ``calibrate`` uses only their onsets. Here each such cue labels the span until the
  next event that ends a cue (:func:`ends_cue`; the last one: until the end of the file): a cue, any event the label
  map does not map (a rest or trial-end marker), a discontinuity (EEGLAB ``boundary``, BrainVision ``New Segment/``,
  mne's ``BAD boundary``/``EDGE boundary``, ``BAD_ACQ_SKIP``). A response, comment or sync marker (BrainVision
  ``Response/``, ``Comment/``, ``SyncStatus/``: :func:`~bci_stream.io.brainvision.non_stimulus`) and a mark of bad
  data (``bad*``: its samples are left out by the bad-span rule, :func:`leave_out_bad_trials`) happen within a trial
  and do not end it; the note says how many such events the spans run past. A cue followed at once by a cue of the
  same class ends one sample early, so that every cue stays its own trial. Trial scoring uses the onsets only.

Errors name the file and, for a ``--reference-train`` file, say that it is one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.core.errors import BciStreamError
from bci_stream.io.reader_flags import in_flags
from bci_stream.io.recording import Event, Recording

#: the format options of ``evaluate`` (as ``calibrate``'s): option -> its flag
REFERENCE = "--reference-train"


class EvaluationInputError(BciStreamError):
    """A recording ``evaluate`` cannot read as asked (the message names the file, the rule and the value)."""


@dataclass
class Loaded:
    """One recording as ``evaluate`` scores it."""

    rec: Recording  #: every channel (renamed by ``--channel-names``), its events; ``labels`` as below
    raw: np.ndarray  #: ``[n_chans, T]``, the model's channels in the model's order, as read (float64)
    x: np.ndarray  #: ``raw.T`` as contiguous float32 (what a decoder gets)
    labels: np.ndarray  #: ``[T]`` index into the label map's classes (``label_names_of``), -1 unlabelled
    notes: list[str] = field(default_factory=list)  #: how the file was read, one sentence each
    nonfinite: int = 0  #: NaN/inf values in ``x``, or beyond ±1 V (the decoder replaces them: nan_policy ``hold``)
    beyond: int = 0  #: of ``nonfinite``, the finite values beyond ±1 V
    #: samples from each cue to its label's start (a label window's start, :func:`~bci_stream.io.labels.window_lead`):
    #: trial times count from ``onset - lead`` (:mod:`~bci_stream.train.evaluate.metrics`)
    lead: int = 0


def trainer_reading(card: Any) -> dict[str, Any]:
    """How ``bci-stream train`` read a model's files (its card's ``training.config.data``): ``label_window`` (EEGLAB/XDF
    events without durations) and ``reader`` options (``calibrate``'s too:
    :func:`~bci_stream.io.reader_flags.trained_reader`), so that evaluation reads and labels other files the same
    way. None/empty for a card without them (``label_window``: a card without a train config, ``calibrate``'s)."""
    from bci_stream.io.reader_flags import trained_reader

    data = (card.training.get("config") or {}).get("data") or {}
    return {"label_window": data.get("label_window"), "reader": trained_reader(card.training)}


def replay_note(card: Any) -> list[str]:
    """``evaluate --live``'s note for a model whose cues ``train`` or ``calibrate`` read with reader options
    (``[data.reader] type_state``, ``calibrate --marker-stream``): it replays each file read that way, and
    ``bci-stream replay`` sends the same cues only with the flags named
    (:func:`~bci_stream.io.reader_flags.cue_reading_note`); ``[]`` for another model."""
    from bci_stream.io.reader_flags import event_reading, replay_args, trained_reader

    given = event_reading(trained_reader(card.training))
    if not given:
        return []
    said, args = ", ".join(f"{k}={v!r}" for k, v in given.items()), " ".join(replay_args(given))
    how = f"bci-stream replay FILE --name NAME {args}" if args else "a source that sends these cues"
    return [f"the model's cues were read with {said}, and so was each file replayed here; to serve {card.ref} on a "
            f"replay of such a file, send the same cues: {how} (a plain replay sends the file's other events, which "
            "the service scores by the same marker map as they come)"]


def file_options(paths: Sequence[str | Path], options: Mapping[str, Any], card_reader: Mapping[str, Any] | None = None
                 ) -> list[dict[str, Any]]:
    """Each file's format options: the model's own reader options, then ``options`` (``--stream``,
    ``--marker-stream``), each where the file's format takes it.

    Raises
    ------
    EvaluationInputError
        An option of ``options`` that no file's format takes.
    """
    from bci_stream.io.load import format_options, options_by_file

    try:
        given = options_by_file(paths, options)
    except ValueError as exc:
        raise EvaluationInputError(str(exc)) from None
    card = dict(card_reader or {})
    return [{**{k: v for k, v in card.items() if k in format_options(p)}, **o} for p, o in zip(paths, given)]


def _what(path: str | Path, role: str) -> str:
    return f"{REFERENCE} file {path}" if role == REFERENCE else str(path)


def ends_cue(description: str, lookup: Mapping[str, str | None]) -> bool:
    """Whether an event named ``description`` ends the span of a zero-duration cue before it (the module's rule): a cue
    of ``lookup`` and a discontinuity do; a response, comment or sync marker and a bad-data mark do not; any other
    event (a rest marker the map leaves out) does."""
    from bci_stream.io.brainvision import non_stimulus
    from bci_stream.train.classical.bad_spans import is_acq_skip, is_bad_description, is_boundary

    desc = str(description)
    if lookup.get(desc) is not None or is_boundary(desc) or is_acq_skip(desc):
        return True
    return not (non_stimulus(desc) or is_bad_description(desc))


def cue_spans(events: Sequence[Event], n_times: int, lookup: Mapping[str, str | None]) -> list[Event]:
    """``events`` with each zero-duration cue of ``lookup`` lasting until the onset of the next event that ends it
    (:func:`ends_cue`; the last one: until ``n_times``), one sample less when that event is a cue of the same class
    (a trial per cue)."""
    ordered = sorted(events, key=lambda e: e.onset)
    onsets = [e.onset for e in ordered]
    ends = [ends_cue(e.description, lookup) for e in ordered]
    out = []
    for k, ev in enumerate(ordered):
        cls = lookup.get(str(ev.description))
        if cls is None or ev.duration != 0:
            out.append(ev)
            continue
        nxt = next((j for j in range(k + 1, len(ordered)) if onsets[j] > ev.onset and ends[j]), None)
        end = n_times if nxt is None else onsets[nxt]
        same = nxt is not None and any(lookup.get(str(e.description)) == cls for e in ordered[nxt:]
                                       if e.onset == onsets[nxt])
        out.append(Event(ev.onset, max(end - ev.onset - int(same), 0), ev.description))
    return out


def _labels(rec: Recording, label_map: Mapping[str, str | None], label_window: Sequence[float] | None
            ) -> tuple[np.ndarray, list[str], list[str]]:
    from bci_stream.io.labels import labels_from_events

    lookup = {str(k): v for k, v in label_map.items()}
    cues = [e for e in rec.events if lookup.get(str(e.description)) is not None]
    events, notes = rec.events, []
    if label_window is None and cues and all(e.duration == 0 for e in cues):
        events = cue_spans(rec.events, rec.n_times, lookup)
        notes.append(f"{Path(rec.source).name}: its {len(cues)} cue(s) have no duration (markers); each labels the "
                     "span until the next event, trials start at the cues" + _run_past(rec.events, events, lookup))
    window = None if label_window is None else (float(label_window[0]), float(label_window[1]))
    labels, names = labels_from_events(events, rec.n_times, rec.sfreq, label_map, label_window=window,
                                       source=str(rec.source))
    return labels, names, notes


def _run_past(events: Sequence[Event], spans: Sequence[Event], lookup: Mapping[str, str | None]) -> str:
    """The note's clause on the events inside the cue ``spans`` (:func:`cue_spans`) that do not end a cue
    (:func:`ends_cue`), e.g. ``; the spans run on past 12 response, comment or bad-data mark(s) (Response/R  1 12),
    which end no cue: a span ends at the next cue, unmapped marker or discontinuity``; ``""`` when there are none."""
    from bci_stream.core.channels import shortlist

    cues = [e for e in spans if e.duration > 0 and lookup.get(str(e.description)) is not None]
    starts = np.array([e.onset for e in cues], dtype=np.int64)
    stops = starts + np.array([e.duration for e in cues], dtype=np.int64)
    inside: dict[str, int] = {}
    for e in events:
        if not ends_cue(e.description, lookup) and ((starts < e.onset) & (e.onset < stops)).any():
            inside[str(e.description)] = inside.get(str(e.description), 0) + 1
    if not inside:
        return ""
    kinds = shortlist([f"{d} {n}" for d, n in sorted(inside.items(), key=lambda kv: -kv[1])], 4)
    return (f"; the spans run on past {sum(inside.values())} response, comment or bad-data mark(s) ({kinds}), which "
            "end no cue: a span ends at the next cue, unmapped marker or discontinuity")


def load_for_model(path: str | Path, label_map: Mapping[str, str | None], ch_names: Sequence[str], *,
                   options: Mapping[str, Any] | None = None, channel_names: Sequence[str] | None = None,
                   label_window: Sequence[float] | None = None, sfreq: float | None = None,
                   role: str = "--data") -> Loaded:
    """Read ``path`` for a model of channels ``ch_names``: all its channels (renamed by ``channel_names``), the
    model's picked, per-sample labels by ``label_map`` (zero-duration cues: :func:`cue_spans`).

    Parameters
    ----------
    options
        Format options this file takes (:func:`file_options`).
    channel_names
        ``--channel-names``: new names for the file's channels, in the file's order.
    label_window
        ``(start_s, stop_s)`` after each cue to label (a train-made model's ``data.label_window``), else durations.
    sfreq
        The model's rate: a file at another rate is refused (recordings are never resampled).
    role
        ``"--data"`` or ``"--reference-train"`` (then errors say the file is a reference file).

    Raises
    ------
    EvaluationInputError
        The file cannot be read, has another sfreq, lacks a channel of the model, or its events match no key of
        ``label_map``.
    """
    from bci_stream.core.channels import match_note, pick_channels, renamable_flags, shortlist
    from bci_stream.core.errors import ChannelError, DataError
    from bci_stream.io import load_recording
    from bci_stream.io.labels import window_lead
    from bci_stream.io.load import check_names, named_options, renamed_bads
    from bci_stream.lsl.source import same_rate
    from bci_stream.train.classical.bad_spans import beyond_limit, usable

    ref = f"{REFERENCE} file {path}: " if role == REFERENCE else ""
    try:
        rec = load_recording(path, cues=label_map,  # cues: a code 0 is an event; named: no .loc looked up
                             **named_options(path, options or {}, channel_names is not None))
    except DataError as exc:
        raise EvaluationInputError(f"cannot load {_what(path, role)}: {in_flags(str(exc), 'evaluate')}") from None
    if sfreq is not None and not same_rate(rec.sfreq, sfreq):  # to 1e-6, as the service takes a stream (a FIF file
        # keeps its rate as float32: 160.00001 reads 160.0000153, audit s70model F3)
        raise EvaluationInputError(f"{_what(path, role)} has sfreq {rec.sfreq:.10g} Hz; the model needs {sfreq:.10g} "
                                   "Hz (recordings are never resampled)")
    try:
        if channel_names is not None:
            new = check_names(channel_names, rec.n_chans, str(rec.source), "--channel-names")
            rec.bad_channels, rec.ch_names = renamed_bads(rec.bad_channels, rec.ch_names, new), new
        try:
            data, kept = pick_channels(rec.data, rec.ch_names, list(ch_names), source=str(rec.source),
                                       ch_types=rec.ch_types)
        except ChannelError as exc:
            raise ChannelError(f"{exc} (ch_names: the model's channels; --channel-names renames a file's "
                               "channels)") from None
        labels, names, notes = _labels(rec, label_map, label_window)
    except DataError as exc:
        raise EvaluationInputError(f"{ref}{exc}") from None
    rec.labels, rec.label_names = labels, names
    if (note := match_note(rec.ch_names, list(ch_names), "file", "model", renamable_flags(rec.ch_types))) is not None:
        notes.append(f"{Path(rec.source).name}: {note}")  # e.g. the model's T7 read from the file's 10-20 T3
    if bad := [n for n in kept if n in rec.bad_channels]:  # the model needs them: read, and said
        notes.append(f"{Path(rec.source).name}: the model uses {len(bad)} channel(s) this file marks bad: "
                     f"{shortlist(bad)} (read as any other channel)")
    notes += amplitude_note(rec.source, data) + channel_notes(rec.source, data, kept, rec.sfreq)
    x = np.ascontiguousarray(data.T, dtype=np.float32)
    return Loaded(rec=rec, raw=data, x=x, labels=labels, notes=notes, nonfinite=int((~usable(x)).sum()),
                  beyond=beyond_limit(x), lead=window_lead(label_window, rec.sfreq))


def leave_out_bad_trials(d: Loaded, bad_events: Sequence[str], span_s: float, *, cues: Collection[str] = (),
                         scored: Collection[str] | None = None) -> dict[str, Any] | None:
    """Unlabel (``-1``), in ``d.labels`` and ``d.rec.labels``, the trials whose span (cue to cue + ``span_s``, the
    latest decision time; the cue ``d.lead`` samples before its label; from the label's start when a label window
    starts before the cue) overlaps data the file marks bad, by
    ``calibrate``'s rule (:mod:`bci_stream.train.classical.bad_spans`: ``bad*`` annotations, discontinuities and
    NaN/inf stretches on the model's channels plus the settling time after them, events named by ``bad_events``;
    ``cues``: the label map's cue events, for a zero-duration mark before its cue), so they are not scored; and the
    samples of those spans in the trials kept (past their decision span, within the label), so per-sample accuracy
    does not score marked data either (the rest of such a trial's label after a span is unlabelled with it, so it
    is not counted as a trial of its own). Returns what was left out (file, count, by reason and class;
    ``sentence``, and ``overlapped``: every reason whose span overlaps a trial left out, for
    :func:`~bci_stream.train.classical.bad_spans.check_bad_events`; the caller takes both out of the report), or
    None when no trial was. ``scored``: the trial classes (None: every class of the map); a segment of another class
    (e.g. rest) is unlabelled by the same rule, but no trial: not counted (before: audit s61train F8)."""
    from bci_stream.train.classical.bad_spans import bad_spans, leave_out, nonfinite_stretches
    from bci_stream.train.classical.data import Trials
    from bci_stream.train.evaluate.metrics import find_trials

    rec = d.rec
    spans = bad_spans(rec.events, nonfinite_stretches(d.x), rec.sfreq, bad_events, cues=cues, span_s=span_s)
    if not spans:
        return None
    classes = range(len(rec.label_names))
    trials = find_trials(d.labels, classes, d.lead)
    before = max(-d.lead, 0)  # a window starting before the cue: its labels there are checked too, so that the
    first = np.array([t.cue - before for t in trials], dtype=np.int64)  # label of a trial kept keeps its start
    classes_of = np.array([t.label for t in trials], dtype=np.int64)
    reach = span_s + before / rec.sfreq
    kept, left = leave_out(Trials(first, classes_of), spans, rec.sfreq, rec.label_names, str(rec.source), reach)
    if scored is not None:  # what is said: the trials of the scored classes only
        pick = np.isin(classes_of, [i for i, name in enumerate(rec.label_names) if name in scored])
        left = leave_out(Trials(first[pick], classes_of[pick]), spans, rec.sfreq, rec.label_names, str(rec.source),
                         reach)[1]
    kept_first = set(kept.onsets.tolist())
    for t in trials:
        if t.cue - before not in kept_first:
            d.labels[t.onset:t.onset + t.length] = -1  # rec.labels is the same array
    for span in spans:
        d.labels[span.start:span.stop] = -1
    for t in find_trials(d.labels, classes, d.lead):  # a kept trial's label resumed after a span: not its own trial
        if t.cue - before not in kept_first:
            d.labels[t.onset:t.onset + t.length] = -1
    return {**left.as_dict(), "sentence": left.sentence(), "overlapped": left.overlapped} if left.n else None


def held_label_map(label_map: Mapping[str, str | None], events: Sequence[Event], *, given: bool, what: str,
                   error: type[BciStreamError] = EvaluationInputError, classes: Sequence[str] = ()
                   ) -> tuple[dict[str, str | None], list[str]]:
    """The label map to score files of ``events`` (all the files ``what``, e.g. "test files") with, and a note.

    A map the user gave (``--labels``, ``given``) that maps an event to a class none of the files hold is refused:
    a typo would otherwise score one class only. The model's own map (its card's ``training.label_map``) may name
    events of several conventions (``calibrate`` accepts files of two systems, e.g. ``Stimulus/S  1=fists`` and
    ``T1=fists``), and a test session is recorded on one: its events the files do not hold are dropped, with a
    note. A trial class (of ``classes``, or of the caller's own class check on the map returned) that no held event
    cues is still refused.

    Raises
    ------
    error
        ``given`` and an event of ``label_map`` that none of ``events`` is (naming it and the files' events); a class
        of ``classes`` that no event of the map the files hold cues.
    """
    from bci_stream.io.labels import absent_events, label_names_of, near_names

    absent = absent_events(label_map, events)
    if not absent:
        return dict(label_map), []
    refs = ("; the epoch references are fitted on cues of every trial class: give --reference-train runs of every "
            "class, or leave --reference-train out") if what.startswith(REFERENCE) else ""  # refused before the replay
    if given:
        raise error(f"label_map (--labels) names event(s) {absent} that occur in none of the {what} "
                    f"(their events: {sorted({str(e.description) for e in events})}){near_names(absent, events)}{refs}")
    kept = {k: v for k, v in label_map.items() if str(k) not in absent}
    note = (f"the model's label map also names {', '.join(map(repr, absent))}, which the {what} do not hold: "
            f"scored with {kept}")
    if uncued := [c for c in classes if c not in label_names_of(kept)]:
        raise error(f"trial class(es) {uncued} are cued by no event the {what} hold ({note}); give --labels with "
                    f"their events, or --trial-classes with classes they cue{refs}")
    return kept, [note]


def remapped_events(label_map: Mapping[str, str | None], own: Mapping[str, str | None] | None) -> list[str]:
    """A warning (in a list) when ``--labels`` (``label_map``) maps an event to another class than the model's own
    label map (``own``: its card's ``training.label_map``, the cues it was calibrated or trained on) does, e.g.
    ``T1=feet,T2=fists`` for a model of ``T1=fists,T2=feet``: swapped classes score the decoder's right answers as
    wrong (before: 2 of 15 at 2 s, with no word of why; audit s51). Events either map leaves out or maps to nothing
    are not compared."""
    own = {str(k): v for k, v in (own or {}).items()}
    moved = [f"{k}={v} (the model's: {k}={own[str(k)]})" for k, v in label_map.items()
             if v is not None and own.get(str(k)) not in (None, v)]
    if not moved:
        return []
    return [f"--labels maps {len(moved)} event(s) to another class than the model's own label map (its card's "
            f"training.label_map) does: {', '.join(moved)}; unless the test files code their classes otherwise than "
            "the calibration files, the classes are swapped and the figures score right answers as wrong: leave "
            "--labels out to score with the model's own map"]


def amplitude_note(source: str | Path, data: np.ndarray) -> list[str]:
    """A warning sentence (in a list) when the model's channels ``data`` ``[n_chans, T]`` (µV, as every reader gives
    voltages) do not have scalp EEG's amplitude (:func:`bci_stream.core.units.implausible_amplitude`): a file read
    in the wrong unit (e.g. an XDF stream in volts without a unit in its desc, read as µV) scores as noise."""
    from bci_stream.core.units import implausible_amplitude
    from bci_stream.core.amplitude import median_channel_sd

    why = implausible_amplitude(median_channel_sd(data.T), "µV")
    return [] if why is None else [f"warning: {Path(source).name}: over the model's channels, the {why}; check the "
                                   "file's units (a file that gives none, e.g. an XDF stream without "
                                   "desc/channels/channel/unit, is read as µV, but an EDF/BDF channel of blank "
                                   "physical dimension as V)"]


def channel_notes(source: str | Path, data: np.ndarray, ch_names: Sequence[str], sfreq: float) -> list[str]:
    """Calibrate's warnings about the model's channels ``data`` ``[n_chans, T]`` (µV) in a file scored: flat or far
    from the others' SD, or two carrying one signal (before: a file with the model's C3 flat scored 0.77 against 1.00
    with no word of why)."""
    from types import SimpleNamespace

    from bci_stream.train.classical.amplitude_notes import duplicate_notes, channel_sd_notes

    if not np.isfinite(data).all():  # (non-finite values are counted and said apart)
        return []
    run = SimpleNamespace(data=data.T, sfreq=sfreq, ch_names=list(ch_names), source=Path(source).name)
    remedy = "the model reads them as they are: this file's scores may say more about the electrodes than the decoder"
    return channel_sd_notes([run], remedy=remedy) + duplicate_notes([run], remedy=remedy)


__all__ = ["REFERENCE", "EvaluationInputError", "Loaded", "amplitude_note", "channel_notes", "cue_spans", "ends_cue",
           "file_options", "held_label_map", "leave_out_bad_trials", "load_for_model", "remapped_events",
           "trainer_reading"]
