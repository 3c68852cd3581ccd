"""The trials ``bci-stream calibrate`` leaves out: those whose span overlaps data a file marks bad.

A trial's span is its cue to cue + ``max(EVAL_TIMES)`` (the latest decision sample, included): every feature a fit
or a CV score takes from the trial lies in it. It is left out of fitting and scoring when it overlaps

* an annotation whose description starts with ``bad`` (any case: ``BAD_blink``, ``bad muscle``; MNE's convention,
  ``Epochs(reject_by_annotation=True)``): ``[onset, onset + duration)``, the mark as the lab drew it (no settling
  after it: a lab that wants a margin for the artefact's trace in the running power/covariance widens its marks);
* a discontinuity (:data:`BOUNDARIES`): an EEGLAB ``boundary`` (mne's ``read_raw_eeglab`` reads the events EEGLAB
  writes where it cut data out as annotations described ``boundary``, whose duration is that of the data
  *removed*, not of data in the file), or mne's ``concatenate_raws`` junction (``BAD boundary`` and ``EDGE
  boundary``, duration 0), or a BrainVision ``New Segment/`` (a recording paused and resumed) or ``DC Correction/``
  (Recorder reset a DC-coupled amplifier's offsets: a step on every channel; EEGLAB's BrainVision importer makes
  both a ``boundary``), which the causal filters and running estimators run straight across, so
  ``[onset, onset + settle)`` (:func:`settle_s`);
* mne's ``BAD_ACQ_SKIP`` (:data:`ACQ_SKIP`: a FIF acquisition skip, where the recorder stored no data and mne reads
  zeros; data are missing at both of its ends, so it is a discontinuity too): ``[onset, onset + duration + settle)``;
* a stretch of non-finite samples (NaN/inf, or values beyond ±1 V: :data:`LIMIT_UV`) on a used channel, which
  calibrate replaces as the service does (:func:`hold_nonfinite`) and then the settling time after it:
  ``[first, last + 1 + settle)``;
* an event named by ``--bad-events`` (e.g. BCI Competition IV 2a's ``1023``, "rejected trial"):
  ``[onset, onset + duration)``. A zero-duration one marks the trial whose span holds it or, when it lies in no
  cue's span and the next event after it (events at its own onset and bad marks aside) is a cue at most a span's
  length (cue to decision, ``span_s``: 3 s for calibrate) later, that cue's trial: ``[onset, cue + 1)`` (2a
  writes ``1023`` at the trial start ``768``, 2 s before the cue). Otherwise it spans its one sample, which marks
  no trial (said by :func:`check_bad_events`): a mark after a trial's span is that trial's artefact, not the next
  one's, and a mark far before the first cue marks no trial a minute later.

Calibrate, evaluate and train apply one overlap rule (:func:`span_hits`). What was left out is counted per file,
reason and class under the first span (by start) a trial overlaps (:class:`LeftOut`), for the notes and the report;
every reason whose span overlaps a trial left out is kept too, for :func:`check_bad_events`.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.core.units import MAX_INPUT_V
from bci_stream.train.classical.configs import (DEFAULT_CSP, DEFAULT_RIEMANN, EVAL_TIMES, Config, band_tau_grid,
                                                with_)
from bci_stream.train.classical.data import Trials

BAD_PREFIX = "bad"  # MNE: an annotation whose description starts with it (any case) marks data to reject
BOUNDARY = "boundary"  # EEGLAB (through mne): a discontinuity where data were cut out
#: descriptions (any case) of a discontinuity: EEGLAB's cut, mne.concatenate_raws' junction (both written there), and
#: a BrainVision recording's pause: BrainVision Recorder writes a ``New Segment`` marker at every pause/resume (mne
#: reads it ``New Segment/``, dropping the first, at the start), and its ``DC Correction`` (the amplifier's offsets
#: reset: a step in the data; mne reads ``DC Correction/``), and an XDF file's signal timestamps jumping forward
#: (a recording that went on across two runs, a pause: the reader's :data:`bci_stream.io.xdf_clock.JUMP` event), and
#: an EDF+D/BDF+D file's records not back to back (a pause: :data:`bci_stream.io.edf_discontinuous.RECORD_GAP`)
BOUNDARIES = (BOUNDARY, "bad boundary", "edge boundary", "new segment/", "dc correction/", "timestamp jump",
              "record gap")
#: mne's description (any case) of a FIF acquisition skip: no data stored there (read as zeros), a discontinuity
ACQ_SKIP = "bad_acq_skip"
NON_FINITE = "non-finite samples"
#: A value beyond it (µV, the unit of every loader's voltage channels) is corrupt, as the service counts one beyond
#: :data:`~bci_stream.core.units.MAX_INPUT_V` in a stream (no EEG input reaches it): held like NaN.
LIMIT_UV = MAX_INPUT_V * 1e6
# the running power/covariance of a candidate weighs a transient by exp(-t / tau_s): after SETTLE_TAUS time
# constants (plus the band-pass's own ringing) it weighs e^-3 = 5%; measured on S001R05 (21 channels, NaN stretches
# of 0.05-5 s held, as the service does): the running log power of every channel is back within 0.1 of the
# uninterrupted signal's 2.9 s after the stretch for tau_s 1 s, 1.6 s for 0.5 s
SETTLE_TAUS = 3.0
# the band-pass has settled when this share of its impulse response's energy has passed
FILTER_ENERGY = 0.99


@dataclass(frozen=True)
class Span:
    """Samples ``[start, stop)`` of one file that no trial may overlap, and why (``reason``: an annotation's or
    event's description, a discontinuity's among :data:`BOUNDARIES`, or :data:`NON_FINITE`; ``settle``: the seconds
    of settling included)."""

    start: int
    stop: int
    reason: str
    settle: float = 0.0

    @property
    def why(self) -> str:
        """The reason as the notes say it, with the settling time when there is one."""
        return self.reason + (f" + {self.settle:.1f} s settling" if self.settle else "")


@dataclass
class LeftOut:
    """The trials of one file left out: ``counts[reason][class] = n`` (each trial counted once, for the first span
    by start that it overlaps), and ``overlapped``: the reason of every span that overlaps one of them (a trial's
    later spans too), what :func:`check_bad_events` needs to say which ``--bad-events`` left none out."""

    source: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    overlapped: set[str] = field(default_factory=set)

    @property
    def n(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def add(self, hit: Sequence[Span], name: str) -> None:
        """Count one trial of class ``name`` that overlaps the spans ``hit`` (by start, :func:`span_hits`)."""
        by_class = self.counts.setdefault(hit[0].why, {})
        by_class[name] = by_class.get(name, 0) + 1
        self.overlapped.update(s.reason for s in hit)

    def reasons(self) -> str:
        """E.g. ``3 overlap BAD_blink (fists 2, feet 1); 1 overlap boundary + 3.2 s settling (feet 1)``."""
        return "; ".join(f"{sum(c.values())} overlap {why} ({', '.join(f'{k} {v}' for k, v in c.items())})"
                         for why, c in self.counts.items())

    def sentence(self) -> str:
        """E.g. ``left out 4 trial(s) of a.fif: 3 overlap BAD_blink (fists 2, feet 1); 1 overlap boundary + 3.2 s
        settling (feet 1)``."""
        return f"left out {self.n} trial(s) of {Path(self.source).name}: {self.reasons()}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": Path(self.source).name, "n": self.n, "by_reason": self.counts}


def candidate_configs(sfreq: float | None = None) -> list[Config]:
    """The band-pass and time constants ``calibrate``'s candidates use (:func:`~.calibration.candidates`: the
    defaults and :data:`~.configs.CALIBRATE_ALTERNATIVES` of both families; at ``sfreq``, those below Nyquist)."""
    return [with_(base, band=band, tau_s=tau) for base in (DEFAULT_CSP, DEFAULT_RIEMANN)
            for band, tau in band_tau_grid(base.family, sfreq)]


def settle_s(sfreq: float, configs: Sequence[Config] | None = None) -> float:
    """Seconds after a discontinuity or a replaced non-finite stretch before the candidates' features are trusted
    again: the longest over ``configs`` (default :func:`candidate_configs`) of the causal band-pass's ringing (the
    time by which :data:`FILTER_ENERGY` of its impulse response's energy has passed) plus :data:`SETTLE_TAUS` time
    constants of the running power/covariance (``tau_s``). About 3.2 s at 160 Hz (tau_s 1 s, 5-35 Hz)."""
    from scipy import signal as sps

    out = 0.0
    for cfg in configs if configs is not None else candidate_configs(sfreq):
        sos = sps.butter(cfg.filter_order, cfg.band, btype="bandpass", fs=sfreq, output="sos")
        impulse = np.zeros(int(round(10 * sfreq)))
        impulse[0] = 1.0
        energy = np.cumsum(sps.sosfilt(sos, impulse) ** 2)
        ring = int(np.searchsorted(energy, FILTER_ENERGY * energy[-1])) / sfreq
        out = max(out, ring + SETTLE_TAUS * cfg.tau_s)
    return out


def is_bad_description(description: str) -> bool:
    """MNE's rule: a description starting with ``bad`` (any case) marks data to reject."""
    return str(description).strip().lower().startswith(BAD_PREFIX)


def is_boundary(description: str) -> bool:
    """A discontinuity's description (:data:`BOUNDARIES`, any case)."""
    return str(description).strip().lower() in BOUNDARIES


def is_acq_skip(description: str) -> bool:
    """mne's FIF acquisition skip (:data:`ACQ_SKIP`, any case)."""
    return str(description).strip().lower() == ACQ_SKIP


def limit_for(data: np.ndarray) -> float | None:
    """The bound a file's values ``data`` ``[T, C]`` (µV) are held beyond: :data:`LIMIT_UV`, or None (NaN/inf only)
    when their median channel standard deviation is not scalp EEG's. Such a file is in another unit than it declares
    (µV written as V: every value a million times too large); the bound would hold nearly all its samples, and
    calibrate's unit warning already says what is wrong (:func:`~.amplitude_notes.amplitude_notes`)."""
    from bci_stream.train.classical.amplitude_notes import plausible_scale

    return LIMIT_UV if plausible_scale(data) else None


def usable(data: np.ndarray, limit: float | None = LIMIT_UV) -> np.ndarray:
    """``[T, C]``: True where ``data`` is finite and within ±``limit`` (NaN compares False; None: finite only)."""
    return np.isfinite(data) if limit is None else np.abs(data) <= limit


def nonfinite_stretches(data: np.ndarray, limit: float | None = LIMIT_UV) -> list[tuple[int, int]]:
    """``[(first, stop), ...]``: the runs of samples of ``data`` ``[T, C]`` with a NaN/inf, or a value beyond
    ±``limit``, on any channel."""
    bad = ~usable(data, limit).all(axis=1)
    edges = np.flatnonzero(np.diff(np.r_[0, bad.astype(np.int8), 0]))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def bad_spans(events: Sequence[Any], stretches: Sequence[tuple[int, int]], sfreq: float,
              bad_events: Sequence[str] = (), *, cues: Collection[str] = (),
              span_s: float = max(EVAL_TIMES)) -> list[Span]:
    """The spans of one file no trial may overlap (see the module docstring), sorted by start.

    Parameters
    ----------
    events
        The file's events (``onset``, ``duration`` in samples, ``description``).
    stretches
        Its non-finite stretches on the used channels (:func:`nonfinite_stretches`).
    bad_events
        Descriptions of events that mark bad data (``--bad-events``), matched exactly.
    cues
        The descriptions of the cue events (the label map's events that map to a class): a zero-duration
        ``bad_events`` mark outside every cue's span (cue to cue + ``span_s``) whose next event is a cue at most
        ``span_s`` later marks that cue's trial. Without them such a mark spans one sample.
    """
    settles = any(is_boundary(e.description) or is_acq_skip(e.description) for e in events)
    seconds = settle_s(sfreq) if stretches or settles else 0.0
    settle = int(np.ceil(seconds * sfreq))
    named = {str(n) for n in bad_events}
    out = [Span(a, b + settle, NON_FINITE, seconds) for a, b in stretches]
    for ev in events:
        desc = str(ev.description)
        if is_boundary(desc):
            if int(ev.onset) > 0:  # at sample 0 it follows no data (a segmented export's first New Segment)
                out.append(Span(int(ev.onset), int(ev.onset) + settle, desc.strip(), seconds))
        elif is_acq_skip(desc):
            out.append(Span(int(ev.onset), int(ev.onset) + int(ev.duration) + settle, desc.strip(), seconds))
        elif is_bad_description(desc) or desc in named:
            stop = int(ev.onset) + max(int(ev.duration), 1)
            if desc in named and int(ev.duration) == 0 and cues:
                stop = _zero_mark_stop(int(ev.onset), events, cues, named, int(round(span_s * sfreq)))
            out.append(Span(int(ev.onset), stop, desc))
    return sorted(out, key=lambda s: (s.start, s.stop))


def _zero_mark_stop(onset: int, events: Sequence[Any], cues: Collection[str], named: Collection[str],
                    reach: int) -> int:
    """The stop of a zero-duration ``--bad-events`` mark at ``onset``: ``onset + 1`` when a cue at or before it
    holds it in its span (``reach`` samples after the cue, that sample included), or when the next event after it
    (events at ``onset`` and bad marks aside) is no cue or a cue more than ``reach`` samples later; else that next
    cue's onset + 1."""
    cue_at = sorted(int(e.onset) for e in events if str(e.description) in cues)
    i = bisect.bisect_right(cue_at, onset) - 1
    if i >= 0 and onset <= cue_at[i] + reach:
        return onset + 1
    after = [int(e.onset) for e in events if int(e.onset) > onset and str(e.description) not in named
             and not is_bad_description(e.description) and not is_boundary(e.description)]
    nxt = min(after, default=None)
    if nxt is None or nxt not in cue_at or nxt - onset > reach:
        return onset + 1
    return nxt + 1


def check_bad_events(bad_events: Sequence[str], label_map: Mapping[str, Any], events: Sequence[Any], *,
                     marked: Collection[str] | None = None, span_s: float = max(EVAL_TIMES),
                     error: type[Exception] = ValueError, option: str = "--bad-events",
                     map_option: str = "--labels") -> list[str]:
    """Check ``--bad-events`` names against the label map and the files' ``events`` (all files); return the notes.

    A name that the label map maps to a class (a cue) is refused (``error``); then :func:`bad_event_notes`, whose
    note on a name no file has is a ``warning:`` (a typo leaves the bad data in). ``option`` and ``map_option`` name
    the options in the messages.
    """
    names = [str(n) for n in bad_events]
    if both := sorted(set(names) & {str(k) for k, v in label_map.items() if v is not None}):
        raise error(f"{option} names event(s) {both} that the label map ({map_option}) maps to a class: an event is "
                    "either a cue or a mark of bad data")
    return bad_event_notes(names, events, marked=marked, span_s=span_s, option=option, warn_absent=True)


def absent_names_hint(absent: Sequence[str], events: Sequence[Any]) -> str:
    """What the files have instead of ``absent`` event names: those named alike but for case, blanks or a ``TYPE/``
    prefix (:func:`~bci_stream.io.labels.near_names`), else the closest spellings (``1O23`` → ``1023``), and the
    files' event names (the first 12)."""
    import difflib

    from bci_stream.io.labels import near_names

    present = sorted({str(e.description) for e in events})
    if not (hint := near_names(absent, events)):
        close = list(dict.fromkeys(m for n in absent for m in difflib.get_close_matches(n, present, n=3, cutoff=0.5)))
        hint = f"; the nearest event names in the files: {', '.join(map(repr, close))}" if close else ""
    listed = ", ".join(map(repr, present[:12])) + (f" ... ({len(present)} names)" if len(present) > 12 else "")
    return f"{hint} (the files' events: {listed or 'none'})"


def bad_event_notes(bad_events: Sequence[str], events: Sequence[Any], *, marked: Collection[str] | None = None,
                    span_s: float = max(EVAL_TIMES), option: str = "--bad-events", warn_absent: bool = False
                    ) -> list[str]:
    """The notes on ``bad_events`` names (``option``: ``--bad-events``, ``train``'s ``data.bad_events``) given the
    files' ``events`` (all files): a name no event has, with the names the files have (:func:`absent_names_hint`;
    ``warn_absent``: as a ``warning:``); given ``marked`` (every reason whose span overlaps a trial
    left out, :attr:`LeftOut.overlapped`), a name that left no trial out: no such event overlaps a trial's span or,
    without a duration, lies at most ``span_s`` before the cue after it (see the module docstring). ``train``
    calls this alone: its config refuses a bad event that is also a cue before any file is read."""
    names = [str(n) for n in bad_events]
    have = {str(e.description) for e in events}
    notes = []
    if absent := [n for n in names if n not in have]:
        notes.append(f"{'warning: ' if warn_absent else ''}{option} names event(s) {absent} that no file has: no "
                     f"trial is left out for them{absent_names_hint(absent, events)}")
    if marked is not None and (idle := [n for n in names if n in have and n not in marked]):
        notes.append(f"{option} {idle}: no such event overlaps a trial's span (cue to cue + {span_s:g} s) or, "
                     f"without a duration, lies at most {span_s:g} s before a cue that is the next event after it, "
                     "so none is left out for them (a mark farther from its next cue spans its one sample)")
    return notes


def nonfinite_note(source: str | Path | None, n: int, where: str, *, stretches: Sequence[tuple[int, int]] = (),
                   sfreq: float = 0.0, then: str = "", n_beyond: int = 0) -> str:
    """The note that ``n`` NaN/inf values of ``source`` ``where`` (e.g. ``on 2 channel(s) (C3, Cz)``), ``n_beyond`` of
    them finite but beyond ±1 V, were replaced as the service's ``nan_policy="hold"`` replaces them
    (:func:`hold_nonfinite`); with ``stretches`` (and ``sfreq``) how many runs and when the first starts; ``then``:
    what follows for the trials (``; ...``). ``source`` None: without the file's name in front (a caller that names
    it once for several sentences)."""
    runs = (f" in {len(stretches)} stretch(es), the first at t={stretches[0][0] / sfreq:.3f} s,"
            if stretches and sfreq > 0 else "")
    name = "" if source is None else f"{Path(source).name}: "
    what = "(NaN/inf)" if not n_beyond else f"(NaN/inf, or beyond ±1 V, which no EEG reaches: {n_beyond})"
    return (f"{name}{n} non-finite value(s) {what} {where}{runs} were replaced by the channel's "
            f"last finite value (nan_policy hold, as the service does){then}")


def beyond_limit(data: np.ndarray, limit: float | None = LIMIT_UV) -> int:
    """How many values of ``data`` are finite but beyond ±``limit`` (None: no bound, 0)."""
    return 0 if limit is None else int(np.count_nonzero(np.isfinite(data) & (np.abs(data) > limit)))


def span_hits(spans: Sequence[Span], onsets: Sequence[int], ends: Sequence[int]) -> list[list[Span]]:
    """For each trial ``[onsets[i], ends[i])`` (its samples up to its latest decision, or a training segment's
    reach), the spans that overlap it (start before its end, stop after its onset), sorted by start: the first is
    the one the trial is counted under, all of them are said (:meth:`LeftOut.add`). The overlap rule of calibrate,
    evaluate and train."""
    spans = sorted(spans, key=lambda s: (s.start, s.stop))
    starts = np.array([s.start for s in spans], dtype=np.int64)
    stops = np.array([s.stop for s in spans], dtype=np.int64)
    out = []
    for onset, end in zip(onsets, ends):
        before = int(np.searchsorted(starts, end, side="left"))  # the spans that start before the trial's end
        out.append([spans[j] for j in np.flatnonzero(stops[:before] > onset)])
    return out


def leave_out(trials: Trials, spans: Sequence[Span], sfreq: float, labels: Sequence[str], source: str,
              span_s: float = max(EVAL_TIMES)) -> tuple[Trials, LeftOut]:
    """``trials`` less those whose span (cue to cue + ``span_s``, the latest decision time, that sample included)
    overlaps one of ``spans`` (:func:`span_hits`), and what was left out why (:class:`LeftOut`)."""
    left = LeftOut(source)
    if not spans or len(trials) == 0:
        return trials, left
    extra = int(round(span_s * sfreq)) + 1
    hits = span_hits(spans, trials.onsets, trials.onsets + extra)
    for i, hit in enumerate(hits):
        if hit:
            left.add(hit, labels[int(trials.classes[i])])
    keep = np.array([not hit for hit in hits], dtype=bool)
    return Trials(trials.onsets[keep], trials.classes[keep]), left


def hold_nonfinite(data: np.ndarray, limit: float | None = LIMIT_UV) -> int:
    """Replace, in place, each NaN/inf, and each value beyond ±``limit``, of ``data`` ``[T, C]`` by its channel's
    last usable value (its first usable value before it), as the service's default ``nan_policy="hold"`` does
    (:class:`~bci_stream.dsp.preprocess.NonFiniteGuard`, the same class, with the service's bound), so that the
    features calibrate fits and scores are those the service computes; returns how many."""
    from bci_stream.dsp.preprocess import NonFiniteGuard

    guard = NonFiniteGuard(data.shape[1], "hold")
    guard.limit = None if limit is None else np.full(data.shape[1], limit, dtype=np.float32)
    guard.apply(data)
    return guard.n_replaced


__all__ = ["ACQ_SKIP", "BAD_PREFIX", "BOUNDARIES", "BOUNDARY", "FILTER_ENERGY", "LIMIT_UV", "NON_FINITE", "SETTLE_TAUS",
           "LeftOut", "Span", "absent_names_hint", "bad_event_notes", "bad_spans", "beyond_limit", "candidate_configs",
           "check_bad_events", "hold_nonfinite", "is_acq_skip", "is_bad_description", "is_boundary", "leave_out",
           "limit_for", "nonfinite_note", "nonfinite_stretches", "settle_s", "span_hits", "usable"]
