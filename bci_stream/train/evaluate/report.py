"""The run report: ``report.json`` (everything), ``report.md`` (the tables) and PNG plots.

Plots: ``accuracy_vs_time.png`` (trial accuracy against time after cue, every model, both decision
rules, with CSP+LDA at its decision time), ``lookahead.png`` (trial accuracy at 2 s, or at the evaluated
time nearest 2 s, against the added latency K/sfreq) and ``training.png`` (training and validation loss per
epoch).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bci_stream.train.evaluate.metrics import nearest_time


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _latency(m: dict[str, Any]) -> str:
    if m.get("causal"):
        return "0 (causal)"
    if m["lookahead"] is None:
        return "∞ (whole recording)"
    return f"{m['added_latency_ms']:g} ms (K={m['lookahead']})"


def _seconds(key: str) -> float:
    return float(key.removesuffix("s"))


def decision_key(times: list[str], target_s: float = 2.0) -> str | None:
    """The ``trial_accuracy`` key (``"2s"``) nearest ``target_s`` seconds; None when there is none."""
    t = nearest_time([_seconds(k) for k in times], target_s)
    return None if t is None else times[[_seconds(k) for k in times].index(t)]


def _csp_cells(csp: dict[str, Any], times: list[str]) -> list[str]:
    """CSP+LDA's one decision in the table: in its time's column, else in the nearest column, marked with its time."""
    at = f"{csp['decision_time_s']:g}s"
    if at in times:
        cells = [_fmt(csp["test_accuracy"], 2) if k == at else "–" for k in times]
    else:
        near = decision_key(times, csp["decision_time_s"])
        cell = f"{_fmt(csp['test_accuracy'], 2)} (at {csp['decision_time_s']:g} s)"
        cells = [cell if k == near else "–" for k in times]
    return cells * 2


def _test_header(first: dict[str, Any], json_name: str = "report.json") -> list[str]:
    """The test section's title and the sentence that says what the figures mean."""
    classes = list(first.get("trials_per_class") or {})
    k = len(classes) or 1
    uniform = first.get("uniform_chance", 1.0 / k)
    return [f"## Held-out test ({first['n_trials']} trials, chance {_fmt(first['chance_trial_accuracy'], 2)})", "",
            f"Trial accuracy at t after cue onset, {' vs '.join(classes)} only. *instant*: argmax of the output at "
            "cue + t; *mean*: argmax of the output averaged over [cue, cue + t]. *chance*: the share of the "
            f"most frequent of these classes among the trials (uniform chance 1/{k} = {_fmt(uniform, 2)}); the "
            f"p-values in {json_name} (`*_p_vs_chance`) are one-sided binomial tests of the correct trials against "
            "that chance, and `instant_per_class` gives each class's correct/trials.", ""]


def markdown(report: dict[str, Any], stem: str = "report") -> str:
    """The tables of ``report`` as markdown; ``stem`` names the JSON file beside it (``<stem>.json``).

    A report with an ``evaluation`` (``bci-stream evaluate``) is titled an evaluation report; the Definitions
    section is left out when there is none."""
    models = report.get("models", {})
    ev = report.get("evaluation")
    lines = [f"# Evaluation report: {ev['model']}" if ev else f"# Training report: {report['run']}", ""]
    data = report.get("data")
    if data:
        lines += [f"{data['n_chans']} channels at {data['sfreq']:g} Hz; classes {data['label_names']}; "
                  f"trial classes {data['trial_classes']}. Processes: {report.get('world_size')} × "
                  f"{report.get('threads_per_process')} thread(s).", ""]
        lines += ["| split | sequence | seconds | segments per class |", "|---|---|---|---|"]
        for split, seqs in data["splits"].items():
            for q in seqs:
                lines.append(f"| {split} | {q['name']} | {q['seconds']:g} | {q['segments_per_class']} |")
        lines.append("")
    lines += [f"Note: {n}." for n in report.get("notes", [])] + ([""] if report.get("notes") else [])
    if ev:
        lines += [f"Model `{ev['model']}` ({ev['kind']}) on {', '.join(Path(f).name for f in ev['files'])}; "
                  f"label map {ev['label_map']}, trial classes {ev['trial_classes']}.", ""]
    test_models = {n: m for n, m in models.items() if m.get("test")}
    if test_models:
        first = next(iter(test_models.values()))["test"]
        times = list(first["trial_accuracy"])
        lines += _test_header(first, f"{stem}.json")
        head = ["model", "added latency", "sample acc", "trial-class sample acc"]
        head += [f"@{t} instant" for t in times] + [f"@{t} mean" for t in times]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, m in test_models.items():
            t = m["test"]
            row = [name, _latency(m), _fmt(t["sample_accuracy"]), _fmt(t["trial_class_sample_accuracy"])]
            row += [_fmt(t["trial_accuracy"][k]["instant"], 2) for k in times]
            row += [_fmt(t["trial_accuracy"][k]["mean"], 2) for k in times]
            lines.append("| " + " | ".join(row) + " |")
        csp = report.get("csp_lda")
        if csp:
            row = ["CSP+LDA", f"decision at {csp['decision_time_s']:g} s", "–", "–"] + _csp_cells(csp, times)
            lines.append("| " + " | ".join(row) + " |")
            lines += ["", f"CSP+LDA ({csp['band_hz'][0]:g}–{csp['band_hz'][1]:g} Hz, epoch {csp['window_s'][0]:g}–"
                          f"{csp['window_s'][1]:g} s, {csp['n_components']} components): test accuracy "
                          f"**{_fmt(csp['test_accuracy'])}** on {csp['n_test_trials']} trials, trained on "
                          f"{csp['n_train_trials']} trials"
                          + (f" ({csp['train_cv_folds']}-fold CV on those: {_fmt(csp['train_cv_accuracy'])})."
                             if csp.get("train_cv_accuracy") is not None else
                             " (no CV on those: fewer than 3 trials of a class).")]
        decided = {k: first["trial_accuracy"][k].get("n_trials", first["n_trials"]) for k in times}
        short = [f"{k} {n}" for k, n in decided.items() if n < first["n_trials"]]
        if short:
            lines += ["", f"Trials decided where fewer than {first['n_trials']} (cue + t is not in the file of every "
                          f"trial): {', '.join(short)}."]
        key = decision_key(times)
        if key not in (None, "2s") and any(m.get("kind") == "BiRNN" for m in test_models.values()):
            lines += ["", f"lookahead.png shows trial accuracy at {_seconds(key):g} s after cue, the evaluated time "
                          f"nearest 2 s (evaluation.trial_times_s has no 2 s)."]
        lines.append("")
    dist = report.get("distillation")
    if dist:
        lines += ["## Distillation", "", dist["summary"] + ".",
                  f"Helps on validation loss: **{'yes' if dist['helps_on_validation_loss'] else 'no'}**.", ""]
    fitted = {n: m for n, m in models.items() if "fit" in m}
    if fitted:
        lines += ["## Training", "", "| model | epochs run | best epoch | best val loss | best val acc | seconds |",
                  "|---|---|---|---|---|---|"]
    for name, m in fitted.items():
        f = m["fit"]
        lines.append(f"| {name} | {f['epochs_run']} | {f['best_epoch']} | {_fmt(f['best_validation'].get('loss'))} | "
                     f"{_fmt(f['best_validation'].get('accuracy'))} | {f['seconds']:.1f} |")
    secs = report.get("seconds")
    if secs:
        lines += ["", f"Wall time: {_fmt(secs.get('total'), 1)} s (data {_fmt(secs.get('data'), 1)} s).", ""]
    if "export" in report:
        e = report["export"]
        lines += [f"Exported `{e['ref']}` (sha256 {e['sha256'][:12]}) to `{e['dir']}`; ONNX parity "
                  f"{e['parity_max_abs_diff']:.2g}.", ""]
    if report.get("definitions"):
        lines += ["## Definitions", ""] + [f"* `{k}`: {v}" for k, v in report["definitions"].items()] + [""]
    return "\n".join(lines)


def plot(report: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    models = {n: m for n, m in report.get("models", {}).items() if m.get("test")}
    if models:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
        for ax, mode in zip(axes, ("instant", "mean")):
            for name, m in models.items():
                c = m["test"]["curve"]
                style = "-" if m.get("causal") else "--"
                ax.plot(c["t_s"], [v if v is not None else float("nan") for v in c[mode]], style, label=name, lw=1.4)
            csp = report.get("csp_lda")
            if csp and csp.get("test_accuracy") is not None:
                ax.plot([csp["decision_time_s"]], [csp["test_accuracy"]], "k*", ms=12, label="CSP+LDA")
            chance = next(iter(models.values()))["test"]["chance_trial_accuracy"]
            if chance:
                ax.axhline(chance, color="grey", lw=0.8, ls=":")
            ax.set_title(f"trial accuracy vs time after cue ({mode})")
            ax.set_xlabel("time after cue onset (s)")
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("accuracy (trial classes)")
        axes[1].legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(out_dir / "accuracy_vs_time.png", dpi=110)
        plt.close(fig)
        files.append("accuracy_vs_time.png")

        la = [(m["added_latency_ms"], n, m) for n, m in models.items() if m["added_latency_ms"] is not None]
        key = decision_key(list(next(iter(models.values()))["test"]["trial_accuracy"]))
        if key is not None and any(m.get("kind") == "BiRNN" for _, _, m in la):
            fig, ax = plt.subplots(figsize=(6.5, 4.5))
            for mode, marker in (("instant", "o"), ("mean", "s")):
                pts = sorted((lat, m["test"]["trial_accuracy"].get(key, {}).get(mode)) for lat, n, m in la
                             if m.get("kind") == "BiRNN")
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker + "-", label=f"BiRNN lookahead K ({mode})")
                c = models.get("causal")
                if c:
                    ax.plot([0], [c["test"]["trial_accuracy"].get(key, {}).get(mode)], marker, color="k",
                            mfc="none", ms=10, label=f"causal ({mode})")
                b = models.get("bidirectional")
                if b:
                    ax.axhline(b["test"]["trial_accuracy"].get(key, {}).get(mode) or float("nan"),
                               ls=":" if mode == "instant" else "--", color="grey", label=f"bidirectional ({mode})")
            ax.set_xlabel("added latency K / sfreq (ms)")
            at = f"{_seconds(key):g} s"
            ax.set_ylabel(f"trial accuracy at {at} after cue")
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            note = "" if key == "2s" else f" (at {at}: the evaluated time nearest 2 s)"
            ax.set_title("what causality costs" + note, fontsize=10)
            fig.tight_layout()
            fig.savefig(out_dir / "lookahead.png", dpi=110)
            plt.close(fig)
            files.append("lookahead.png")
    allm = {n: m for n, m in report.get("models", {}).items() if "fit" in m}
    if allm:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, m in allm.items():
            h = m["fit"]["history"]
            line = ax.plot([r["epoch"] for r in h], [r["val_loss"] for r in h], label=f"{name} val")[0]
            ax.plot([r["epoch"] for r in h], [r["train_loss"] for r in h], ls=":", color=line.get_color())
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (dotted: train)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / "training.png", dpi=110)
        plt.close(fig)
        files.append("training.png")
    return files


def write_report(report: dict[str, Any], out_dir: Path | str, stem: str = "report") -> None:
    """Write ``<stem>.json``, the plots and ``<stem>.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report["plots"] = plot(report, out_dir)
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2, default=_json_default) + "\n", encoding="utf-8")
    md = markdown(report, stem) + "\n" + "\n".join(f"![{p}]({p})" for p in report["plots"]) + "\n"
    (out_dir / f"{stem}.md").write_text(md, encoding="utf-8")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
