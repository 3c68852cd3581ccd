"""The report of :mod:`.pretrain_study`: ``report.json`` (every figure) and ``report.md`` (the tables).

``python -m bci_stream.train.classical.pretrain_report DIR`` re-renders ``DIR/report.md`` from ``DIR/report.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, EVAL_TIMES

#: Methods in table order: key -> (name, what it is).
METHODS: dict[str, tuple[str, str]] = {
    "csp_lda": ("CSP+LDA", "calibrate default config (DEFAULT_CSP), fitted on the calibration run alone"),
    "ts_lr": ("TS+LR", "calibrate default config (DEFAULT_RIEMANN), fitted on the calibration run alone"),
    "pretrained_ft": ("pretrained GRU + fine-tuned", "the selected config; scored with the exported model's numpy "
                      "reference"),
    "csp_lda_sensorimotor": ("CSP+LDA sensorimotor", "information: DEFAULT_CSP on the 21 FC/C/CP channels"),
    "scratch_ft": ("GRU from scratch", "information: same net and fine-tuning (every weight) from a fresh init"),
    "pretrained_only": ("pretrained GRU, no fine-tuning", "information: aligned + standardised with the "
                        "calibration run only (when the task was pretrained)"),
}


def pooled(rows: list[dict], key: str) -> dict | None:
    """Trials of every target pooled: counts, accuracy and Wilson intervals per time (None if a row lacks it)."""
    from bci_stream.core.stats import wilson

    if not all(key in r["methods"] for r in rows):
        return None
    n = sum(r["methods"][key]["n_trials"] for r in rows)
    out: dict[str, Any] = {"n_trials": n, "acc": {}, "n_correct": {}, "ci95": {}}
    for t in (f"{x:g}" for x in EVAL_TIMES):
        c = sum(r["methods"][key]["n_correct"][t] for r in rows)
        out["acc"][t], out["n_correct"][t], out["ci95"][t] = c / max(n, 1), c, wilson(c, n)
    return out


def _cell(m: dict, t: str, ci: bool = False) -> str:
    s = f"{m['acc'][t]:.3f}"
    if ci and m["ci95"][t] is not None:
        lo, hi = m["ci95"][t]
        s += f" [{lo:.2f}, {hi:.2f}]"
    return s


def _table(entries: list[tuple[str, dict]]) -> list[str]:
    times = [f"{t:g}" for t in EVAL_TIMES]
    md = ["| method | trials | " + " | ".join(f"@{t} s" for t in times) + " |", "|---|---|" + "---|" * len(times)]
    for name, m in entries:
        md.append(f"| {name} | {m['n_trials']} | "
                  + " | ".join(_cell(m, t, ci=t == f"{DECISION_TIME:g}") for t in times) + " |")
    return md


def verdict(rows: list[dict], pool: dict[str, dict | None]) -> list[str]:
    """Plain-language findings from the figures (no claim beyond them)."""
    t = f"{DECISION_TIME:g}"
    wins = [r["subject"] for r in rows if r["methods"]["pretrained_ft"]["acc"][t] > r["methods"]["csp_lda"]["acc"][t]]
    ties = [r["subject"] for r in rows if r["methods"]["pretrained_ft"]["acc"][t] == r["methods"]["csp_lda"]["acc"][t]]
    ft, csp, ts = pool["pretrained_ft"], pool["csp_lda"], pool["ts_lr"]
    overlap = ft["ci95"][t][0] <= csp["ci95"][t][1] and csp["ci95"][t][0] <= ft["ci95"][t][1]
    ci_words = "overlap: the difference is not established with this many trials" if overlap else "do not overlap"
    lines = [f"* At {t} s the pretrained + fine-tuned GRU beats CSP+LDA (same calibration run, same test runs) on "
             f"{len(wins)} of {len(rows)} targets ({', '.join(wins) or 'none'}; ties: {', '.join(ties) or 'none'}).",
             f"* Pooled over the {ft['n_trials']} test trials at {t} s: pretrained + fine-tuned {ft['acc'][t]:.3f}, "
             f"CSP+LDA {csp['acc'][t]:.3f}, TS+LR {ts['acc'][t]:.3f}; the Wilson 95 % intervals of the GRU and "
             f"CSP+LDA {ci_words}."]
    for task in sorted({r["task"] for r in rows}):
        sub = [r for r in rows if r["task"] == task]
        by = {k: pooled(sub, k) for k in ("pretrained_ft", "csp_lda", "ts_lr")}
        who = ", ".join(r["subject"] for r in sub)
        lines.append(f"* {task} ({who}; {by['csp_lda']['n_trials']} trials) at {t} s: "
                     f"pretrained + fine-tuned {by['pretrained_ft']['acc'][t]:.3f}, "
                     f"CSP+LDA {by['csp_lda']['acc'][t]:.3f}, TS+LR {by['ts_lr']['acc'][t]:.3f}.")
    most = max(c["epochs"] for c in (sc["config"] for sc in rows[0]["selection"]["scores"]))
    edge = [r["subject"] for r in rows if r["config"]["epochs"] == most]
    if edge:
        lines.append(f"* The inner selection chose the grid's largest fine-tuning length ({most} epochs) for "
                     f"{', '.join(edge)}: longer fine-tuning was not tried, so the grid may stop short.")
    if pool.get("scratch_ft") is not None:
        lines.append(f"* Pretraining vs the same net trained on the calibration run alone: {ft['acc'][t]:.3f} vs "
                     f"{pool['scratch_ft']['acc'][t]:.3f} pooled at {t} s.")
    return lines


def markdown(rows: list[dict], pool: dict[str, dict | None], command: str, meta: dict) -> str:
    md = ["# Less calibration: pretrained + fine-tuned recurrent decoder vs CSP+LDA on one calibration run", "",
          f"Command: `{command}` ({meta['seconds']:.0f} s).", "",
          "Per target subject (leave-one-subject-out): calibration = its first imagery run of its task (15 cues: "
          "R06 fists/feet, R04 left/right); test = every later run of that task (never used for a choice). Every "
          "method is fitted on the same calibration run and scored on the same test runs: trial accuracy = argmax "
          "of the streaming output at t s after cue (each run streamed from its first sample); [Wilson 95 %] at "
          f"{DECISION_TIME:g} s.", "",
          "Pretrained model: Euclidean alignment per subject (R^(-1/2) of the mean cue-window covariance of its "
          "calibration run, 8-30 Hz causal, 21 sensorimotor channels), running log power per aligned channel "
          f"(tau {meta['front_end']['tau_s']:g} s) standardised on the calibration run, a GRU "
          f"(H={meta['pretrain']['hidden_size']}) shared by the tasks and a head per task (linear on the log power + "
          "linear on the GRU state, exported as CSP+LDA read-out + residual GRU, family `csp_gru`). The fine-tuning "
          "config is chosen by leave-one-subject-out inside the pretraining subjects only.", "",
          "Per task or across tasks: the subjects do two tasks (S001/S002 fists vs feet, S004/S005 left vs right "
          "fist), so pretraining per task leaves one other subject. Both are in the grid: `scope=all` pretrains "
          "across tasks (alignment, standardisation and GRU shared, a head per task; a target whose task no "
          "pretraining subject did starts that head at zero) and `scope=task` on the same-task subject only; the "
          "inner leave-one-subject-out chooses per target. Selected scopes: "
          + ", ".join(f"{r['subject']} `{r['config']['scope']}`" for r in rows) + ".", "",
          "## Findings", "", *verdict(rows, pool), "", "## Pooled over targets", ""]
    md += _table([(METHODS[k][0], m) for k, m in pool.items() if m is not None])
    md += ["", "## Per target", ""]
    for r in rows:
        md += [f"### {r['subject']} ({r['task']}: {' vs '.join(r['labels'])}), calibration R{r['calib_run']:02d} "
               f"({r['n_calib_trials']} trials), test R{', R'.join(f'{x:02d}' for x in r['test_runs'])}", "",
               f"Selected: `{r['selection']['label']}`; pretrained on {', '.join(r['pretrained_on']) or 'nobody'} "
               f"(best epoch {r['pretrain_info'].get('best_epoch')} of {r['pretrain_info'].get('epochs_run')}).", ""]
        md += _table([(METHODS[k][0], r["methods"][k]) for k in METHODS if k in r["methods"]])
        ex = r.get("export")
        if ex:
            md += ["", f"Export `{ex['model']}` ({ex['family']}): parity StepModel vs numpy reference over "
                       f"{ex['parity_samples']} real calibration samples, max |diff| {ex['parity_max_abs_diff']:.2e}; "
                       f"over the test runs {ex['onnx_vs_numpy_max_abs_diff_test_runs']:.2e}; ONNX test accuracy @2 s "
                       f"{ex['onnx_test']['acc']['2']:.3f} (numpy reference "
                       f"{r['methods']['pretrained_ft']['acc']['2']:.3f}); "
                       f"torch vs numpy max |diff| {r['methods']['pretrained_ft']['max_abs_diff_torch_vs_numpy']:.1e}."]
        md.append("")
    md += ["## Inner leave-one-subject-out selection (mean acc @2 s over the pretraining subjects)", "",
           "| config | " + " | ".join(r["subject"] for r in rows) + " |", "|---|" + "---|" * len(rows)]
    for i, sc in enumerate(rows[0]["selection"]["scores"]):
        cells = []
        for r in rows:
            x = r["selection"]["scores"][i]
            cells.append(f"{'**' if r['selection']['selected'] == i else ''}{x['mean_2s']:.3f}"
                         f"{'**' if r['selection']['selected'] == i else ''}")
        md.append(f"| `{sc['label']}` | " + " | ".join(cells) + " |")
    md += ["", "Methods:", ""] + [f"* {name}: {what}." for name, what in METHODS.values()]
    return "\n".join(md) + "\n"


def write_report(out: Path, rows: list[dict], study, command: str, seconds: float) -> str:
    """Write ``out/report.json`` and ``out/report.md``; return the markdown."""
    from dataclasses import asdict

    pool = {k: pooled(rows, k) for k in METHODS}
    meta = {"seconds": seconds, "front_end": asdict(study.fe_cfg), "pretrain": study.pcfg.as_dict(),
            "grid": [c.as_dict() for c in study.grid]}
    res = {"command": command, "meta": meta, "pooled": pool, "targets": rows,
           "methods": {k: {"name": n, "what": w} for k, (n, w) in METHODS.items()}}
    (out / "report.json").write_text(json.dumps(res, indent=1, default=_json) + "\n", encoding="utf-8")
    md = markdown(rows, pool, command, meta)
    (out / "report.md").write_text(md, encoding="utf-8")
    return md


def render(out: Path) -> str:
    """Rewrite ``out/report.md`` from ``out/report.json`` (no recomputation); return the markdown."""
    res = json.loads((out / "report.json").read_text(encoding="utf-8"))
    md = markdown(res["targets"], res["pooled"], res["command"], res["meta"])
    (out / "report.md").write_text(md, encoding="utf-8")
    return md


def _json(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


__all__ = ["METHODS", "markdown", "pooled", "render", "verdict", "write_report"]


if __name__ == "__main__":  # python -m bci_stream.train.classical.pretrain_report DIR: re-render report.md
    import sys

    print(render(Path(sys.argv[1])))
