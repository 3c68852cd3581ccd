"""NaN/inf stretches and data marked bad in a training run's recordings: held and unlabelled, as ``calibrate`` does.

A GDF file's samples at the digital extremes (its missing / saturated mark: every BCI Competition IV 2a file has
such gaps between its runs) read as NaN, and a lab's files carry ``BAD_*`` annotations, EEGLAB ``boundary`` events
and event codes that mark rejected data (``data.bad_events``, e.g. 2a's ``1023``). ``bci-stream train`` treats them
as ``calibrate`` and ``evaluate`` do (:mod:`bci_stream.train.classical.bad_spans`):

* each NaN/inf is replaced by its channel's last finite value, as the service's default ``nan_policy = "hold"``
  does (the same class, :func:`~bci_stream.train.classical.bad_spans.hold_nonfinite`), so the net is trained on the
  input it will see live;
* the samples of every bad span (a non-finite stretch plus the settling time after it, a ``bad*`` annotation, a
  ``boundary`` or an mne ``BAD_ACQ_SKIP`` plus settling, an event named in ``data.bad_events``) get label -1, and
  so does every labelled segment (trial) whose reach (its own samples, or up to the latest decision time after its
  onset when that is later) overlaps a span (calibrate's rule,
  :func:`~bci_stream.train.classical.bad_spans.span_hits`): the loss, the validation and test scores and the
  CSP+LDA reference skip label -1, so no trial is scored on held or marked data, and no trial is cut in two;
* the samples of the spans are left out of the standardisation statistics (:attr:`BadData.bad`);
* a note per file says what was held and unlabelled, and why (the run report's ``notes``, the card's
  ``training.notes``).

A file whose used channels hold no finite sample at all is refused, naming it and the channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.core.channels import shortlist
from bci_stream.io import Recording
from bci_stream.io.recording import UNLABELLED
from bci_stream.train.classical.bad_spans import (LeftOut, bad_spans, beyond_limit, hold_nonfinite, limit_for,
                                                  nonfinite_note, nonfinite_stretches, span_hits, usable)
from bci_stream.train.config import ConfigError
from bci_stream.train.evaluate.metrics import find_trials


@dataclass
class BadData:
    """What :func:`hold_and_unlabel` did to one recording.

    Attributes
    ----------
    bad
        ``[T]`` bool: the samples inside a bad span (not used for the standardisation statistics).
    segments
        The labelled segments unlabelled: ``segments.counts[reason][class] = n``, each under the first span (by
        start) its reach overlaps (``reason``: the span's description, with its settling time when it has one), and
        ``segments.overlapped``: the reason of every span a segment's reach overlaps.
    """

    source: str
    sfreq: float
    bad: np.ndarray
    n_held: int = 0
    n_beyond: int = 0  # of n_held, the finite values beyond ±1 V
    held_channels: list[str] = field(default_factory=list)
    stretches: list[tuple[int, int]] = field(default_factory=list)
    n_spans: int = 0
    segments: LeftOut = field(default_factory=lambda: LeftOut(""))

    @property
    def n_segments(self) -> int:
        return self.segments.n

    def note(self, offset_s: float = 0.0) -> str | None:
        """One sentence for the run's notes, or None when the file has no bad span (``offset_s``: where the
        recording starts in its file, e.g. after ``data.crop_s``)."""
        if not self.n_spans:
            return None
        parts = []
        if self.n_held:
            shift = int(round(offset_s * self.sfreq))  # times from the file's start
            parts.append(nonfinite_note(None, self.n_held, f"on {len(self.held_channels)} channel(s) "
                                        f"({shortlist(self.held_channels, 8)})", sfreq=self.sfreq,
                                        stretches=[(a + shift, b + shift) for a, b in self.stretches],
                                        n_beyond=self.n_beyond))
        each = self.segments.reasons()
        n_bad = int(self.bad.sum())
        parts.append(f"unlabelled (label -1: no loss, no score, no CSP+LDA trial, not in the standardisation) the "
                     f"{n_bad} sample(s) ({n_bad / self.sfreq:.1f} s) of its {self.n_spans} bad span(s)"
                     + (f" and {self.n_segments} labelled segment(s) reaching into them: {each}" if each else ""))
        return f"{Path(self.source).name}: " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """For the report's ``data.unlabelled``."""
        return {"file": Path(self.source).name, "held_values": self.n_held, "stretches": len(self.stretches),
                "bad_spans": self.n_spans, "bad_samples": int(self.bad.sum()), "segments_unlabelled": self.n_segments,
                "by_reason": self.segments.counts}


def hold_and_unlabel(rec: Recording, bad_events: Sequence[str], reach_s: float, cues: Sequence[str] = ()
                     ) -> tuple[Recording, BadData]:
    """``rec`` with its NaN/inf held and its bad spans unlabelled (see the module docstring), and what was done.

    Parameters
    ----------
    bad_events
        ``data.bad_events``: descriptions of events that mark bad data, matched exactly.
    reach_s
        Seconds after a labelled segment's onset up to which a decision is scored (the latest of
        ``evaluation.trial_times_s``, ``curve_max_s`` and the CSP+LDA window's end): a segment is unlabelled as a
        whole when a bad span starts before the later of its end and ``onset + reach_s`` (that sample included)
        and stops after its onset.
    cues
        The events that cue a class (``data.label_map``'s keys mapped to one): a zero-duration bad event in no
        segment's reach whose next event is a cue at most ``reach_s`` later (as BCI IV 2a's ``1023`` at the trial
        start, 2 s before the cue) marks that cue's trial; one farther from it, its one sample
        (:func:`~bci_stream.train.classical.bad_spans.bad_spans`).

    Raises
    ------
    ConfigError
        A used channel of ``rec`` holds no finite sample (only NaN or inf).
    """
    data = np.array(rec.data.T, dtype=np.float64, order="C")  # [T, C], a copy: the file's data stay as read
    limit = limit_for(data)  # None for a file in another unit than it declares
    stretches = nonfinite_stretches(data, limit)
    out = BadData(rec.source, rec.sfreq, np.zeros(rec.n_times, dtype=bool), stretches=stretches,
                  segments=LeftOut(rec.source))
    if stretches:
        ok = usable(data, limit)
        if dead := [rec.ch_names[c] for c in np.flatnonzero(~ok.any(axis=0))]:
            what = "all" if len(dead) == rec.n_chans else f"{len(dead)} of the {rec.n_chans}"
            raise ConfigError(f"data: {rec.source}: {what} used channel(s) ({shortlist(dead, 8)}) hold no finite "
                              "sample within ±1 V (only NaN, inf or larger values, which no EEG reaches: a broken "
                              "channel, or a file whose unit is not the one it declares) in the part read "
                              "(data.crop_s); training needs data: leave the file out"
                              + ("" if len(dead) == rec.n_chans else ", or leave those channels out (data.channels)"))
        out.held_channels = [rec.ch_names[c] for c in np.flatnonzero(~ok.all(axis=0))]
        out.n_beyond = beyond_limit(data, limit)
        out.n_held = hold_nonfinite(data, limit)
    spans = [replace(s, start=max(s.start, 0), stop=min(s.stop, rec.n_times)) for s in
             bad_spans(rec.events, stretches, rec.sfreq, bad_events, cues=cues, span_s=reach_s)]
    spans = [s for s in spans if s.start < s.stop]
    if not spans:
        return (replace(rec, data=data.T) if stretches else rec), out
    out.n_spans = len(spans)
    for s in spans:
        out.bad[s.start:s.stop] = True
    labels = rec.labels.copy()
    reach = int(round(reach_s * rec.sfreq)) + 1
    segs = find_trials(labels, range(len(rec.label_names)))  # every labelled segment
    onsets = [seg.onset for seg in segs]
    for seg, hit in zip(segs, span_hits(spans, onsets, [max(seg.onset + seg.length, seg.onset + reach)
                                                        for seg in segs])):
        if hit:
            out.segments.add(hit, rec.label_names[int(labels[seg.onset])])
            labels[seg.onset:seg.onset + seg.length] = UNLABELLED
    labels[out.bad] = UNLABELLED
    return replace(rec, data=data.T, labels=labels), out
