"""Cues closer together than what labels or scores them: ``train`` warns (log, report notes, the card's
``metrics.warnings``), as ``calibrate`` warns of cue gaps shorter than its decision time
(:func:`~bci_stream.train.classical.calibration_report.cue_gaps`).

* Overlapping labelled spans (``data.label_window`` after each cue, else each event's duration): where spans overlap
  a later cue's span overwrites an earlier one (:func:`~bci_stream.io.labels.labels_from_events`), and consecutive
  spans of one class merge into one labelled segment. The trials ``train`` scores (``n_trials``) are those segments,
  not cues: P300 flashes every 0.19 s with ``label_window = [0, 0.6]`` made 213 "trials" of 720 cues, silently.
* The CSP+LDA reference's epoch (``evaluation.csp_window_s``, cut after each trial's cue) reaching past the label
  window, or longer than the gaps between cues: its epochs then hold the next cues' responses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bci_stream.io.labels import window_lead
from bci_stream.io.recording import UNLABELLED, Recording
from bci_stream.train.config import RunConfig

SPLITS = ("train", "validation", "test")


def cue_spans(rec: Recording, config: RunConfig) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The onsets, the ends of the labelled spans (samples) and the class names of ``rec``'s cues, the events
    ``data.label_map`` maps to a class, in onset order; spans as :func:`~bci_stream.io.labels.labels_from_events`
    labels them (a window starting before the data labels nothing and is left out)."""
    d = config.data
    lookup = {str(k): v for k, v in d.label_map.items()}
    onsets, ends, names = [], [], []
    for ev in sorted(rec.events, key=lambda e: e.onset):
        name = lookup.get(str(ev.description))
        if name is None:
            continue
        if d.label_window is None:
            end = ev.onset + ev.duration
        else:
            if ev.onset + window_lead(d.label_window, rec.sfreq) < 0:
                continue
            end = ev.onset + int(round(d.label_window[1] * rec.sfreq))
        onsets.append(ev.onset)
        ends.append(end)
        names.append(name)
    return np.asarray(onsets, dtype=np.int64), np.asarray(ends, dtype=np.int64), names


def _start(onsets: np.ndarray, config: RunConfig, sfreq: float) -> np.ndarray:
    lead = 0 if config.data.label_window is None else window_lead(config.data.label_window, sfreq)
    return onsets + lead


def spacing_warnings(config: RunConfig, splits: Sequence[str], recs: Sequence[Recording]) -> list[str]:
    """The warnings on ``recs`` (each file as read and cropped, ``splits``: each one's split): overlapping labelled
    spans, and a CSP+LDA epoch longer than the label window or the cue spacing (when the reference is fitted: with
    test files). [] when there is nothing to say."""
    d = config.data
    trial_classes = set(d.trial_classes or [v for v in d.label_map.values() if v])
    per_split = {s: {"cues": 0, "overlapping": 0, "trials": 0} for s in SPLITS}
    onsets_s: list[np.ndarray] = []
    for split, rec in zip(splits, recs):
        onsets, ends, names = cue_spans(rec, config)
        starts = _start(onsets, config, rec.sfreq)
        count = per_split[split]
        count["cues"] += sum(n in trial_classes for n in names)
        count["overlapping"] += int((starts[1:] < ends[:-1]).sum())
        ids = {i for i, n in enumerate(rec.label_names) if n in trial_classes}
        seg = np.flatnonzero(np.r_[True, rec.labels[1:] != rec.labels[:-1]]) if rec.n_times else np.zeros(0, int)
        count["trials"] += int(sum(1 for s in seg if rec.labels[s] != UNLABELLED and int(rec.labels[s]) in ids))
        onsets_s.append(onsets / rec.sfreq)
    out = []
    if any(c["overlapping"] for c in per_split.values()):
        span = (f"data.label_window {list(d.label_window)} s after each cue" if d.label_window is not None
                else "the events' durations")
        n = sum(c["overlapping"] for c in per_split.values())
        made = "; ".join(f"{s}: {c['cues']} cues -> {c['trials']} trials" for s, c in per_split.items() if c["cues"])
        out.append(f"the labelled spans ({span}) of {n} pair(s) of consecutive cues overlap: a later cue's window "
                   "overwrites an earlier one (bci_stream/io/labels.py), and consecutive spans of one class merge "
                   f"into one trial, so the trials train and scores are not the cues ({made} of data.trial_classes); "
                   "use a label window no longer than the gap between cues, or map only cues spaced that far apart")
    if config.evaluation.csp_lda and any(r for s, r in zip(splits, recs) if s == "test"):
        out += _csp_warning(config, onsets_s)
    return out


def _csp_warning(config: RunConfig, onsets_s: list[np.ndarray]) -> list[str]:
    """The CSP+LDA reference's epoch reaching past the label window's end, or past the next cue."""
    from bci_stream.train.classical.calibration_report import cue_gaps

    a, b = config.evaluation.csp_window_s
    why = []
    lw = config.data.label_window
    if lw is not None and b > lw[1]:
        why.append(f"reaches past the end of data.label_window {list(lw)} s")
    g = cue_gaps(onsets_s, b)  # calibrate's count of the gaps shorter than its decision time
    if g["n_short"]:
        why.append(f"is longer than {g['n_short']} of the {g['n_gaps']} gaps between consecutive cues (median "
                   f"{g['median_s']:.2f} s), so its epochs hold the next cues' responses")
    if not why:
        return []
    return [f"the CSP+LDA reference's epoch evaluation.csp_window_s [{a:g}, {b:g}] s after each cue (decision at "
            f"{b:g} s) {' and '.join(why)}: its test accuracy is no reference for these trials (set "
            "evaluation.csp_window_s within the label window and the cue spacing, or evaluation.csp_lda = false)"]


__all__ = ["cue_spans", "spacing_warnings"]
