"""Which samples and trials a live evaluation (:mod:`~bci_stream.train.evaluate.live`) scores: each recording loaded
as it is streamed, the trials offline ``evaluate`` leaves out (data a file marks bad), the service's cues, and the
per-trial decisions of the offline scoring code."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.train.evaluate.inputs import load_for_model, trainer_reading


def load_streamed(path: str | Path, label_map: Mapping[str, str | None], card: Any, options: Mapping[str, Any],
                  channel_names: Sequence[str] | None, role: str) -> dict[str, Any]:
    """The recording as streamed (every channel), its model-channel matrix, labels in the model's class order (cues
    labelled as offline ``evaluate`` labels them: a train-made model's ``data.label_window``,
    :func:`~bci_stream.train.evaluate.inputs.trainer_reading`; ``lead``: samples from a cue to its label)."""
    d = load_for_model(path, label_map, list(card.ch_names), options=options, channel_names=channel_names,
                       label_window=trainer_reading(card)["label_window"], sfreq=float(card.sfreq), role=role)
    lut = np.array([list(card.output.labels).index(n) for n in d.rec.label_names] + [-1], dtype=np.int64)
    return {"rec": d.rec, "raw": d.raw, "x": d.x, "labels": lut[d.labels], "notes": d.notes, "lead": d.lead}


def leave_out_marked(d: dict[str, Any], bad_events: Sequence[str], span_s: float, cues: Collection[str],
                     scored: Collection[str] | None = None) -> tuple[dict[str, Any] | None, np.ndarray]:
    """Leave out, in place, the trials of one loaded recording (:func:`load_streamed`) that offline ``evaluate``
    leaves out: those whose span (cue to cue + ``span_s``) overlaps data the file marks bad
    (:func:`~bci_stream.train.evaluate.inputs.leave_out_bad_trials`, the same rule and call; ``scored``: the trial
    classes, the only ones counted), and the marked samples. Only the labels change: every sample is still
    streamed, decoded and checked.

    Returns what was left out (as offline ``evaluate``'s ``trials_left_out`` entries, with ``sentence`` and
    ``overlapped``; None when nothing was) and the ``[T]`` mask of the samples unlabelled here (at a cue's onset
    sample: that cue's trial was left out)."""
    from bci_stream.train.evaluate.inputs import Loaded, leave_out_bad_trials

    rec = d["rec"]
    was = rec.labels >= 0
    left = leave_out_bad_trials(Loaded(rec=rec, raw=d["raw"], x=d["x"], labels=rec.labels, lead=d["lead"]),
                                bad_events, span_s, cues=cues, scored=scored)  # unlabels rec.labels in place
    d["labels"][rec.labels < 0] = -1
    return left, was & (rec.labels < 0)


def left_out_cues(onsets: Sequence[int], unscored: np.ndarray, lead: int = 0) -> list[int]:
    """The cue onsets of ``onsets`` whose trial :func:`leave_out_marked` left out (``unscored``, its mask): a cue's
    trial is labelled from cue + ``lead`` samples (a train-made model's ``data.label_window`` start), so it is read
    there."""
    last = len(unscored) - 1
    return [int(o) for o in onsets if unscored[min(max(int(o) + lead, 0), last)]]


def undecided_notes(per_file: Sequence[Mapping[str, Any]], times: Sequence[float]) -> list[str]:
    """A note per decision time at which some trials of a file are not decided (cue + t past the file's end), naming
    the files and counts: the table's count at that time is of the decided ones (offline ``evaluate`` says the same
    beside its figures)."""
    out = []
    for t in times:
        short = [(Path(r["file"]).name, r["n_trials"] - r["accuracy"][f"{t:g}s"]["n_trials"], r["n_trials"])
                 for r in per_file]
        if said := [f"{name}: {k} of {n}" for name, k, n in short if k > 0]:
            out.append(f"at {t:g} s, trials not decided ({'; '.join(said)}): cue + {t:g} s is past the end of their "
                       f"file; the figures at {t:g} s are of the decided trials")
    return out


def cue_trials(rec: Any, marker_map: Mapping[str, str | None], names: list[str]) -> list[Any]:
    """One trial per cue the service scores (an event before the end whose description ``marker_map`` gives a
    class), as the service counts them; the published table counts labelled segments
    (:func:`~bci_stream.train.evaluate.metrics.find_trials`), which merge back-to-back cues of one class."""
    from bci_stream.train.evaluate.metrics import Trial

    return [Trial(e.onset, 0, names.index(marker_map[e.description])) for e in sorted(rec.events, key=lambda e: e.onset)
            if e.onset < rec.n_times and marker_map.get(e.description) is not None]


def decisions(probs: np.ndarray, trials: Sequence[Any], class_ids: list[int], names: list[str], sfreq: float,
              times: Sequence[float]) -> list[dict[str, Any]]:
    """Per-trial decisions (a class name, None past the end of the data) by the offline scoring code; ``onset``: the
    trial's cue, from which its decision times count."""
    from bci_stream.train.evaluate.metrics import trial_decisions

    rows = []
    for tr in trials:
        dec = {f"{t:g}s": trial_decisions(probs, [tr], class_ids, int(round(t * sfreq)), "instant")[0] for t in times}
        rows.append({"onset": tr.cue, "onset_s": round(tr.cue / sfreq, 4), "label": names[tr.label],
                     "decisions": {k: names[int(p[0])] if len(p) else None for k, p in dec.items()}})
    return rows


__all__ = ["cue_trials", "decisions", "leave_out_marked", "left_out_cues", "load_streamed", "undecided_notes"]
