"""What a training run's report says of its nets beyond their fit: each net's metrics, the CSP+LDA baseline,
the distilled student against the causal net, the one-line headline per net, and the definitions of the metrics
(``report.json``'s ``definitions``, also the exported card's).
"""

from __future__ import annotations

from typing import Any

from bci_stream.train.config import RunConfig
from bci_stream.train.dataset import Dataset
from bci_stream.train.evaluate.metrics import evaluate_probs
from bci_stream.train.infer import Net, predict_probs

#: What each figure of the report means (``report.json``'s ``definitions``; the exported card's too).
_DEFINITIONS = {
    "trial_accuracy.instant": "argmax over the trial classes of the output at cue + t (with data.label_window too)",
    "trial_accuracy.mean": "argmax over the trial classes of the mean output over [cue, cue + t]",
    "sample_accuracy": "argmax over all classes == label, over every labelled sample",
    "trial_class_sample_accuracy": "argmax over the trial classes == label, over samples inside trials",
    "added_latency_ms": "lookahead K / sfreq: how long a deployed decoder would wait for x[t+K] before answering "
                        "for t (None = whole recording, offline only)",
    "csp_lda": "trial-based: band-pass (zero-phase FIR), epoch [t0, t1) after cue, CSP log-variance + LDA; trained "
               "on every trial of the training and validation data, decision at t1",
    "chance_trial_accuracy": "share of the most frequent trial class among the trials (always answering it "
                             "scores this)",
    "p_vs_chance": "<mode>_p_vs_chance: one-sided binomial test of the correct trials against "
                   "chance_trial_accuracy, the most frequent trial class's share (the probability of at least as many "
                   "correct for a decoder no better than always answering that class)",
    "lookahead_trial_accuracy": "trial accuracy of each net at lookahead_decision_time_s: 2 s after cue, or the "
                                "time of evaluation.trial_times_s nearest 2 s when 2 s is not one of them",
}


def evaluate_net(net: Net, seqs: list, ds: Dataset, config: RunConfig) -> dict[str, Any]:
    """The metrics of ``net`` on the sequences ``seqs`` of ``ds`` (trial accuracy at ``evaluation.trial_times_s``,
    sample accuracies, the accuracy-vs-time curve)."""
    ev = config.evaluation
    probs = [predict_probs(net, s.x) for s in seqs]
    return evaluate_probs(probs, [s.labels for s in seqs], ds.label_names, ds.trial_classes, ds.sfreq,
                          ev.trial_times_s, ev.curve_step_s, ev.curve_max_s, lead=ds.lead)


def _strip_curve(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "curve"}


def _headline(test: dict[str, Any] | None) -> str:
    if not test:
        return "no test data"
    ta = test["trial_accuracy"]
    parts = [f"{t} {r['instant']:.2f}/{r['mean']:.2f}" for t, r in ta.items() if r.get("instant") is not None]
    return f"test sample acc {test['sample_accuracy']:.3f}; trial acc instant/mean " + ", ".join(parts)


def _csp(config: RunConfig, ds: Dataset) -> dict[str, Any]:
    from bci_stream.train.evaluate.baseline import csp_lda

    ev = config.evaluation
    return csp_lda([(s.raw, s.labels) for s in ds.train + ds.validation], [(s.raw, s.labels) for s in ds.test],
                   ds.sfreq, ds.trial_class_ids, band=ev.csp_band, window_s=ev.csp_window_s,
                   n_components=ev.csp_components, seed=config.seed, lead=ds.lead)


def _distillation_verdict(models: dict[str, Any]) -> dict[str, Any] | None:
    """Student vs the plain causal net, on validation (the honest choice) and on test (for the record)."""
    if "distilled" not in models or "causal" not in models:
        return None
    c, d = models["causal"], models["distilled"]

    def key(m: dict[str, Any], split: str, t: str, mode: str) -> float | None:
        block = m[split]
        return block["trial_accuracy"].get(t, {}).get(mode) if block else None

    out: dict[str, Any] = {"validation_loss": {"causal": c["fit"]["best_validation"].get("loss"),
                                               "distilled": d["fit"]["best_validation"].get("loss")}}
    for split in ("validation", "test"):
        if not c[split] or not d[split]:
            continue
        rows = {}
        for t in c[split]["trial_accuracy"]:
            for mode in ("instant", "mean"):
                a, b = key(c, split, t, mode), key(d, split, t, mode)
                if a is not None and b is not None:
                    rows[f"{t}.{mode}"] = round(b - a, 4)
        rows["sample_accuracy"] = round(d[split]["sample_accuracy"] - c[split]["sample_accuracy"], 4)
        out[f"{split}_delta"] = rows
    vd = out.get("validation_delta", {})
    td = out.get("test_delta", {})
    helps_val = (out["validation_loss"]["distilled"] or 0) < (out["validation_loss"]["causal"] or 0)
    out["helps_on_validation_loss"] = bool(helps_val)
    out["test_delta_trial_2s_mean"] = td.get("2s.mean")
    out["summary"] = (
        f"distilled vs causal: validation loss {out['validation_loss']['distilled']:.4f} vs "
        f"{out['validation_loss']['causal']:.4f}; test Δ trial acc @2 s (mean) {td.get('2s.mean')}, "
        f"(instant) {td.get('2s.instant')}; Δ sample acc {td.get('sample_accuracy')}; "
        f"validation Δ @2 s (mean) {vd.get('2s.mean')}"
    )
    return out
