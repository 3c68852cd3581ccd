"""The plain-text tables of ``bci-stream evaluate --live`` and the files ``--out`` writes of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def live_cell(row: dict[str, Any] | None) -> str:
    if not row or row.get("accuracy") is None:
        return "–"
    return f"{row['accuracy']:.2f} [{row['ci95'][0]:.2f},{row['ci95'][1]:.2f}] {row['correct']}/{row['n_trials']}"


def live_table(result: dict[str, Any]) -> str:
    """Plain-text tables of an ``evaluate_live`` result: integrity per file, then accuracy with CIs."""
    s, w = result["settings"], 24
    refs = [r for r in (result.get("reference"), result.get("reference_ts_lr")) if r and "error" not in r]
    times = [f"{t:g}s" for t in s["decision_times_s"]]
    rows = [(Path(r["file"]).name, r) for r in result["files"]] + [("overall", result["overall"])]
    nw = max(18, *(len(name) for name, _ in rows))
    head = f"{'file':<{nw}} {'sent':>7} {'decoded':>7} {'missing':>7} {'max|live-off|':>13} {'same decisions':>14}"
    lines = [f"live evaluation of {result['model']} through the service, replay at {s['speed']:g}x; trial classes "
             f"{', '.join(s['trial_classes'])}; decision: {s['decision_rule']}", "", head, "-" * len(head)]
    lines += [f"{name:<{nw}} {r['sent']:>7} {r['decoded']:>7} {r['missing']:>7} {r['max_abs_diff']:>13.2g} "
              f"{'yes' if r['decisions_identical'] else 'NO':>14}" for name, r in rows]
    from bci_stream.train.evaluate.live_scoring import service_vs_offline_line

    lines += [""] + [service_vs_offline_line(Path(r["file"]).name, r.get("service_vs_offline"))
                     for r in result["files"]]
    head = f"{'file':<{nw}} {'trials':>6} {'chance':>6}  " + "  ".join(f"{'@' + t:<{w}}" for t in times)
    head += "".join(f"  {ref.get('method', 'CSP+LDA') + ' @' + format(ref['decision_time_s'], 'g') + 's':<{w}}"
                    for ref in refs)
    lines += ["", "trial accuracy [Wilson 95% CI] correct/n", head, "-" * len(head)]
    for i, (name, r) in enumerate(rows):
        chance = "–" if r["chance"] is None else f"{r['chance']:.2f}"
        line = f"{name:<{nw}} {r['n_trials']:>6} {chance:>6}  " + "  ".join(f"{live_cell(r['accuracy'][t]):<{w}}"
                                                                          for t in times)
        for ref in refs:
            line += f"  {live_cell(ref['per_file'][i] if i < len(result['files']) else ref['overall']):<{w}}"
        lines.append(line)
    overall = result["overall"]["accuracy"]
    lines += [""] + [f"per class, overall @{t}: " + ", ".join(f"{c} {k}/{n}" for c, (k, n) in per.items())
                     for t in times if (per := (overall.get(t) or {}).get("per_class"))]
    lines += ["", f"chance = share of the most frequent trial class; uniform chance {s['uniform_chance']:.2f}."]
    lines += [note if note.startswith("warning:") else f"note: {note}" for note in result.get("notes", [])]
    lines += [f"note: {Path(r['file']).name}: the service replaced {r['nonfinite_values']} non-finite value(s) "
              "(NaN/inf, or beyond ±1 V) in the model's channels by the channel's last finite value (nan_policy hold)"
              for r in result["files"] if r.get("nonfinite_values")]
    for ref in refs:
        cv = (f" ({ref.get('train_cv_folds', 5)}-fold CV there {ref['train_cv_accuracy']:.2f})"
              if ref.get("train_cv_accuracy") is not None else "")
        what = (f"{ref['n_components']} components" if "n_components" in ref
                else "OAS covariances, tangent space at their Riemannian mean, logistic regression")
        lines.append(f"{ref.get('method', 'CSP+LDA')}: {ref['band_hz'][0]:g}-{ref['band_hz'][1]:g} Hz, epoch "
                     f"{ref['window_s'][0]:g}-{ref['window_s'][1]:g} s after cue, {what}, fitted on "
                     f"{ref['n_train_trials']} trials of {', '.join(Path(f).name for f in ref['train_files'])}{cv}.")
    c = result["checks"]
    lines.append(f"checks: no loss {'yes' if c['no_loss'] else 'NO'}; max |live - offline| {c['max_abs_diff']:.2g} "
                 f"(tolerance {c['tolerance']:g}); per-trial decisions identical to offline "
                 f"{'yes' if c['decisions_identical'] else 'NO'}; the service's live score identical to the offline "
                 f"rule {'yes' if c.get('service_scoring_identical', True) else 'NO'} -> "
                 f"{'PASSED' if c['passed'] else 'FAILED'}")
    return "\n".join(lines)


def write_live(result: dict[str, Any], out_dir: Path | str) -> list[Path]:
    """``evaluation_live.json`` (everything) and ``evaluation_live.txt`` (the tables) in ``out_dir``."""
    import json

    from bci_stream.train.evaluate.report import _json_default

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js, txt = out_dir / "evaluation_live.json", out_dir / "evaluation_live.txt"
    js.write_text(json.dumps(result, indent=2, default=_json_default) + "\n", encoding="utf-8")
    txt.write_text(live_table(result) + "\n", encoding="utf-8")
    return [js, txt]
