"""Accuracy of a per-sample decoder on cued trials.

A per-sample decoder emits class probabilities ``p[t, K]`` at every sample, so "the decision for a
trial" needs a definition. For a cue at sample ``cue`` and a time ``t`` after it, with
``n = round(t * sfreq)``:

* **instant**: ``argmax p[cue + n]``: what the decoder says at that moment;
* **mean**: ``argmax mean(p[cue .. cue + n])`` (inclusive): the evidence accumulated since the cue,
  the decision a trial-based BCI would take at ``t``.

Both are restricted to the *trial classes* (e.g. fists vs feet): the argmax is over those classes only,
so a 3-class decoder (rest / fists / feet) is judged on telling the cued classes apart, not on
whether it has noticed the cue yet. A trial is a contiguous run of one trial-class label; trials
whose ``cue + n`` falls past the end of the data are left out (their count is reported).

A trial's cue is its labels' first sample, except with a label window (``train``'s
``data.label_window = [start_s, stop_s]``: each cue labels ``[cue + start_s, cue + stop_s)``): there the labels
start ``lead = round(start_s * sfreq)`` samples after the cue (before it when ``start_s < 0``), and the functions
below take that ``lead``, so that times still count from the cue, as the service's live scorer and ``calibrate``
count them.

Two "chance" levels are reported: ``chance_trial_accuracy``, the share of the most frequent trial class
among the trials (what always answering that class scores), and ``uniform_chance`` = 1/k for k trial
classes. ``<mode>_p_vs_chance`` is the one-sided binomial test of the number of correct trials against
``chance_trial_accuracy`` (the probability of at least that many correct for a decoder no better than always
answering the most frequent class; against 1/k, as before, a decoder always answering "rest" in a 4-class run with
half its trials rest scored p = 1e-6). ``instant_per_class`` gives, per trial class, ``[correct, trials]``: an
accuracy above chance may come from some classes only; ``instant_decided`` the trials decided as each class
(:mod:`~bci_stream.train.evaluate.one_class` warns of a decoder that gave every trial one class).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MODES = ("instant", "mean")


@dataclass(frozen=True)
class Trial:
    onset: int  #: first labelled sample
    length: int  #: labelled samples
    label: int
    lead: int = 0  #: samples from the cue to ``onset`` (a label window's start; negative: labels before the cue)

    @property
    def cue(self) -> int:
        """The cue's sample, from which decision times count."""
        return self.onset - self.lead


def find_trials(labels: np.ndarray, class_ids: Sequence[int], lead: int = 0) -> list[Trial]:
    """Contiguous runs of a label in ``class_ids``; each run's cue is ``lead`` samples before its onset."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], labels.size]
    return [Trial(int(s), int(e - s), int(labels[s]), int(lead)) for s, e in zip(starts, ends)
            if labels[s] in set(class_ids)]


def undecidable_times(labels_list: Sequence[np.ndarray], class_ids: Sequence[int], lead: int, sfreq: float,
                      times_s: Sequence[float]) -> str | None:
    """The refusal of decision times none of which decides a trial of any file (its decision sample, cue + t, past
    its file's end for every trial, e.g. ``--decision-times 200`` on 2-minute runs: before, the figures were empty
    and the exit code 0), or None: some time decides a trial (one that decides none among them is scored as n=0,
    said beside its figures), or there is no trial to decide."""
    room = [len(y) - 1 - tr.cue for y in labels_list for tr in find_trials(y, class_ids, lead) if tr.cue >= 0]
    late = [t for t in times_s if room and int(round(t * sfreq)) > max(room)]
    if not room or len(late) < len(times_s):
        return None
    return (f"decision_times (--decision-times) must leave some trial decided: a trial is decided at cue + t, which "
            f"must lie in its file; at {', '.join(f'{t:g}' for t in late)} s none of the {len(room)} trials is (the "
            f"latest time any trial allows is {max(room) / sfreq:.2f} s after its cue); got "
            f"{','.join(f'{t:g}' for t in times_s)}")


def trial_decisions(probs: np.ndarray, trials: Sequence[Trial], class_ids: Sequence[int], after: int,
                    mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true class ids of the trials whose cue and ``cue + after`` lie within ``probs`` (a cue before
    the data, e.g. of a piece cut between a cue and its label, is not decided)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    ids = np.asarray(class_ids)
    pred, true = [], []
    for tr in trials:
        end = tr.cue + after
        if end >= len(probs) or tr.cue < 0 or end < 0:
            continue
        p = probs[end, ids] if mode == "instant" else probs[tr.cue : end + 1, ids].mean(0)
        pred.append(int(ids[int(np.argmax(p))]))
        true.append(tr.label)
    return np.asarray(pred, dtype=np.int64), np.asarray(true, dtype=np.int64)


def evaluate_probs(probs_list: Sequence[np.ndarray], labels_list: Sequence[np.ndarray], label_names: list[str],
                   trial_classes: list[str], sfreq: float, times_s: Sequence[float] = (0.5, 1.0, 2.0, 3.0),
                   curve_step_s: float = 0.0625, curve_max_s: float = 4.0, lead: int = 0) -> dict[str, Any]:
    """Sample accuracies, trial accuracy at ``times_s`` (both modes) and the accuracy-versus-time curve.

    ``probs_list[i]`` is ``[T_i, K]`` for the recording whose labels are ``labels_list[i]``; trials of
    all recordings are pooled. ``lead``: samples from each cue to its label's start (a label window's
    ``round(start_s * sfreq)``); times count from the cue.
    """
    from scipy.stats import binomtest

    class_ids = [label_names.index(c) for c in trial_classes]
    probs_all = np.concatenate([np.asarray(p) for p in probs_list])
    labels_all = np.concatenate([np.asarray(y) for y in labels_list])
    labelled = labels_all >= 0
    in_trial = np.isin(labels_all, class_ids)
    restricted = np.asarray(class_ids)[np.argmax(probs_all[:, class_ids], axis=1)]
    out: dict[str, Any] = {
        "sample_accuracy": _mean(np.argmax(probs_all, 1)[labelled] == labels_all[labelled]),
        "trial_class_sample_accuracy": _mean(restricted[in_trial] == labels_all[in_trial]),
        "n_samples_labelled": int(labelled.sum()),
    }
    trials = [(p, find_trials(y, class_ids, lead)) for p, y in zip(probs_list, labels_list)]
    all_labels = [t.label for _, ts in trials for t in ts]
    out["n_trials"] = len(all_labels)
    out["trials_per_class"] = {label_names[c]: all_labels.count(c) for c in class_ids}
    out["chance_trial_accuracy"] = max(out["trials_per_class"].values()) / len(all_labels) if all_labels else None
    out["uniform_chance"] = 1.0 / len(class_ids)

    def decided(after: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
        preds = [trial_decisions(p, ts, class_ids, after, mode) for p, ts in trials]
        pred = np.concatenate([a for a, _ in preds]) if preds else np.zeros(0)
        return pred, (np.concatenate([b for _, b in preds]) if preds else np.zeros(0))

    def acc_at(after: int, mode: str) -> float | None:
        pred, true = decided(after, mode)
        return _mean(pred == true)

    out["trial_accuracy"] = {}
    for t in times_s:
        row: dict[str, Any] = {}
        for mode in MODES:
            pred, true = decided(int(round(t * sfreq)), mode)
            k, n = int((pred == true).sum()), len(true)
            row[mode] = _mean(pred == true)
            row[f"{mode}_correct"] = k
            row["n_trials"] = n
            if n:  # against the majority share (module docstring)
                p0 = out["chance_trial_accuracy"]
                row[f"{mode}_p_vs_chance"] = float(binomtest(k, n, p0, alternative="greater").pvalue)
            if mode == "instant":
                row["instant_per_class"] = {label_names[c]: [int(np.sum((pred == c) & (true == c))),
                                                             int(np.sum(true == c))] for c in class_ids}
                row["instant_decided"] = {label_names[c]: int(np.sum(pred == c)) for c in class_ids}
        out["trial_accuracy"][time_key(t)] = row
    grid = np.arange(0.0, curve_max_s + 1e-9, curve_step_s)
    out["curve"] = {"t_s": grid.round(6).tolist(),
                    **{mode: [acc_at(int(round(t * sfreq)), mode) for t in grid] for mode in MODES}}
    return out


def wilson_ci(k: int, n: int, confidence: float = 0.95) -> list[float] | None:
    """Wilson score interval of ``k`` successes in ``n`` trials (scipy's), or None when ``n == 0``."""
    from scipy.stats import binomtest

    if n == 0:
        return None
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return [float(ci.low), float(ci.high)]


def nearest_time(times_s: Sequence[float], target_s: float = 2.0) -> float | None:
    """The time of ``times_s`` nearest ``target_s`` (the earlier one on a tie); None when there is none."""
    return min(times_s, key=lambda t: (abs(t - target_s), t)) if len(times_s) else None


def time_key(t: float) -> str:
    """The key of time ``t`` in ``trial_accuracy`` (``2.0`` -> ``"2s"``)."""
    return f"{t:g}s"


def _mean(a: np.ndarray) -> float | None:
    return float(np.mean(a)) if np.size(a) else None
