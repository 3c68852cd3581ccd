"""Cues closer together than what labels or scores them: ``train`` warns (log, report notes, the card's
``metrics.warnings``), as ``calibrate`` warns of cue gaps shorter than its decision time
(:func:`~bci_stream.train.classical.calibration_report.cue_gaps`).

* Overlapping labelled spans (``data.label_window`` after each cue, else each event's duration): where spans overlap
  a later cue's span overwrites an earlier one (:func:`~bci_stream.io.labels.labels_from_events`), and consecutive
  spans of one class merge into one labelled segment. The trials ``train`` scores (``n_trials``) are those segments,
  not cues: P300 flashes every 0.19 s with ``label_window = [0, 0.6]`` made 213 "trials" of 720 cues, silently.
* The CSP+LDA reference's epoch (``evaluation.csp_window_s``, cut after each trial's cue) reaching past the label
  window, or longer than the gaps between cues: its epochs then hold the next cues' responses.

``evaluate`` (offline and ``--live``) warns, per file, of cues followed by the next event that ends them before a
decision time (:func:`decision_spacing_warning`): such a trial is decided on what followed it, the next cue's response
in the window (e.g. a P300 oddball's flashes every 1.5 s, decided at 2 s).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np

from bci_stream.io.labels import window_lead
from bci_stream.io.recording import UNLABELLED, Recording
from bci_stream.train.config import RunConfig

SPLITS = ("train", "validation", "test")


def cue_spans(rec: Recording, config: RunConfig) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The onsets, the ends of the labelled spans (samples) and the class names of ``rec``'s cues, the events
    ``data.label_map`` maps to a class, in onset order; spans as :func:`~bci_stream.io.labels.labels_from_events`
    labels them (a window starting before the data labels nothing and is left out)."""
    return mapped_cues(rec, config.data.label_map, config.data.label_window)


def mapped_cues(rec: Recording, label_map: Mapping[str, str | None], label_window: Sequence[float] | None
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """:func:`cue_spans` by a label map and a label window (``train``'s ``data``, or a model's for ``evaluate``)."""
    lookup = {str(k): v for k, v in label_map.items()}
    onsets, ends, names = [], [], []
    for ev in sorted(rec.events, key=lambda e: e.onset):
        name = lookup.get(str(ev.description))
        if name is None:
            continue
        if label_window is None:
            end = ev.onset + ev.duration
        else:
            if ev.onset + window_lead(label_window, rec.sfreq) < 0:
                continue
            end = ev.onset + int(round(label_window[1] * rec.sfreq))
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


#: The advice ending :func:`decision_spacing_warning`'s warning for ``evaluate`` and for ``calibrate``.
EVALUATE_CURE = ("decide before the next event: --decision-times below the cue spacing, or map only cues spaced at "
                 "least that far apart")
CALIBRATE_CURE = ("its CV accuracy may be the decoding of that event, e.g. a button press: map only cues whose next "
                  "event comes after the decision time, or see whether the decoder serves without it")


def decision_spacing_warning(rec: Recording, label_map: Mapping[str, str | None], label_window: Sequence[float] | None,
                             trial_classes: Collection[str], times_s: Sequence[float], *,
                             epoch_s: Sequence[float] | None = None, role: str = "", cure: str = EVALUATE_CURE,
                             by_cues: bool = True) -> str | None:
    """``evaluate``'s warning on one file ``rec`` (as read, events as in the file): how many of its cues of
    ``trial_classes`` are followed by the next event that ends them at or before each decision time of ``times_s``
    (and within ``epoch_s``, the epoch references' window ``[a, b]`` s after each cue, with ``--live
    --reference-train``); None when none is.

    Cues are the events ``label_map`` maps to a class (:func:`mapped_cues`: as the labels are made). What ends a cue
    is what ends a zero-duration cue's span where ``evaluate`` labels it
    (:func:`~bci_stream.train.evaluate.inputs.ends_cue`): the next cue of the map (any class), an event the map
    leaves out or ignores (a rest or trial-end marker: EEGMMIDB's ``T0`` 4.1 s after each ``T1``/``T2``, mapped to
    rest or not), a discontinuity; a response, comment or sync marker or a bad-data mark does not. A cue's decision
    at ``t`` reads the outputs up to sample ``cue + round(t * sfreq)`` (both rules; each output of data up to its
    sample): it is counted when that sample is at or after the ending event's onset, and that sample is in the file
    (a later one is not decided). An epoch ``[cue + a, cue + b)`` is counted when that onset comes before its end
    (within it, or before its start: the epoch then holds what followed the cue only). EEGMMIDB runs (task cues
    4.1 s before their ``T0``, 8.2-8.3 s apart) are so counted at no time before 4.1 s: not at 2 s, not at 3 s (nor
    by the ``0.5-2.5`` s epoch); at 4.5 s, every cue with its decision in the file. A labelled span that ends
    without a next event (a label window shorter than the decision time) is
    :func:`~bci_stream.train.evaluate.offline.past_span_notes`'s.

    ``role``: how the file is named (e.g. ``"--reference-train file "``); ``cure``: the advice that ends the warning;
    ``by_cues`` False: the cues of the map end no cue here (calibrate says those gaps on its own: ``cue_gaps``).
    """
    from bci_stream.train.evaluate.inputs import ends_cue

    lookup = {str(k): v for k, v in label_map.items()}
    onsets, _, names = mapped_cues(rec, label_map, label_window)
    cues = onsets[[n in trial_classes for n in names]] if len(onsets) else onsets
    enders = np.sort(np.asarray([e.onset for e in rec.events if ends_cue(e.description, lookup)
                                 and (by_cues or lookup.get(str(e.description)) is None)], dtype=np.int64))
    if len(enders) == 0 or len(cues) == 0:  # nothing ends a cue (or no cue): nothing to say
        return None
    at = np.searchsorted(enders, cues, side="right")  # the first ending event after each cue (a later onset)
    gap = np.where(at < len(enders), enders[np.minimum(at, len(enders) - 1)] - cues, np.iinfo(np.int64).max)
    said = []
    for t in times_s:
        n = int(round(t * rec.sfreq))
        if k := int(((gap <= n) & (cues + n < rec.n_times)).sum()):
            said.append(f"{k} of them at {t:g} s")
    if epoch_s is not None:
        a, b = (int(round(v * rec.sfreq)) for v in epoch_s)
        if k := int(((gap < b) & (cues + a >= 0) & (cues + b <= rec.n_times)).sum()):
            said.append(f"{k} before the end of the epoch references' epoch [{epoch_s[0]:g}, {epoch_s[1]:g}] s "
                        "after the cue")
    if not said:
        return None
    med = float(np.median(gap[gap < np.iinfo(np.int64).max])) / rec.sfreq
    ending = ("the next cue, an event the label map leaves out such as a rest cue, or a discontinuity" if by_cues else
              "other than a cue of the map: an event the map leaves out, such as a rest cue or a response, or a "
              "discontinuity")
    what = "the next cue's response included" if by_cues else "that event (and a movement it marks) included"
    return (f"{role}{Path(str(rec.source)).name}: {len(cues)} cue(s) of the trial classes; the next event that ends "
            f"a cue ({ending}; median gap {med:.2f} s) comes at or before the decision time for {', '.join(said)}: "
            f"those trials are decided on what followed them, {what}, so their accuracy does not measure single-trial "
            f"decoding ({cure})")


def cue_response_notes(recs: Sequence[Recording], label_map: Mapping[str, str | None], decision_time: float
                       ) -> list[str]:
    """``calibrate``'s :func:`decision_spacing_warning` of each file at its decision time, as ``warning:`` notes (the
    summary and the card say them). Before, calibrate counted only the gaps between consecutive cues, so EEGLAB's
    tutorial set, a button press (``rt``) 0.41 s after 75 of its 80 cues, got no word from it while ``evaluate``
    warned of those 75 trials (audit s43, F5)."""
    classes = {c for c in label_map.values() if c}
    return [f"warning: {w}" for rec in recs
            if (w := decision_spacing_warning(rec, label_map, None, classes, [decision_time], cure=CALIBRATE_CURE,
                                              by_cues=False))]


__all__ = ["CALIBRATE_CURE", "EVALUATE_CURE", "cue_response_notes", "cue_spans", "decision_spacing_warning",
           "mapped_cues", "spacing_warnings"]
