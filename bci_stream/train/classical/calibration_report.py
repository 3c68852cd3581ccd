"""The report of ``bci-stream calibrate``: the printed summary and ``report/report.{json,md}``."""

from __future__ import annotations

import json
from pathlib import Path


def summary_lines(report: dict) -> list[str]:
    """The printed summary of a calibration report."""
    times = [f"{t:g}" for t in report["eval_times_s"]]
    ch = report["chance"]
    lines = [f"CV: {report['cv_scheme']}; chance {ch['uniform']:.2f} (majority class {ch['majority_class']:.2f}, "
             f"binomial 95% threshold {ch['binomial_95_threshold']:.2f})",
             "family    " + "".join(f"{'acc@' + t + 's':>10}" for t in times) + "  mean1.5-2.5s"
             + "   95% CI @2s      config"]
    for fam, r in report["families"].items():
        lo, hi = r["cv_acc_2s_ci95"]
        lines.append(f"{fam:<10}" + "".join(f"{r['cv_acc'][t]:>10.3f}" for t in times)
                     + f"{r.get('cv_acc_window_mean', float('nan')):>14.3f}   [{lo:.2f}, {hi:.2f}]   {r['config']}")
    lines.append(f"chosen: {report['chosen_family']} ({report['why']})")
    rec = report.get("recurrent")
    if rec is not None:
        accs = ("".join(f"{rec['cv_acc'][t]:>10.3f}" for t in times) + "   ") if rec.get("tried") else ""
        lines.append(f"{'csp_gru':<10}{accs}recurrent residual on CSP+LDA: {rec['why']}")
    cost = report.get("step_cost")
    if cost:
        lines.append(f"step cost, one sample per call: p50 {cost['p50_us']:.0f} µs, p99 {cost['p99_us']:.0f} µs "
                     f"(sample period {cost['sample_period_us']:.0f} µs)")
        if cost.get("warning"):
            lines.append(f"warning: {cost['warning']}")
    lines.append(f"exported to {report['model_dir']} (report in {report['model_dir']}/report/)")
    return lines


def _recurrent_md(rec: dict | None, times: list[str]) -> list[str]:
    """The report.md section of the residual GRU stage (:mod:`.residual_calibrate`)."""
    if rec is None:
        return []
    md = ["## Recurrent: residual GRU on CSP+LDA", "", f"* rule: {rec['rule']}", f"* **{rec['why']}**"]
    if rec.get("tried"):
        md += [f"* config: `{rec['config']['label']}`", "",
               "| model | " + " | ".join(f"acc @ {t} s" for t in times) + " |", "|---|" + "---|" * len(times),
               "| CSP+LDA | " + " | ".join(f"{rec['classical_cv_acc'][t]:.3f}" for t in times) + " |",
               "| residual GRU | " + " | ".join(f"{rec['cv_acc'][t]:.3f}" for t in times) + " |"]
    return md + [""]


def write_report(report: dict, out: Path) -> None:
    """Write ``report.json`` (the report as is) and ``report.md`` (tables of the CV results) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    times = [f"{t:g}" for t in report["eval_times_s"]]
    md = [f"# Calibration report: {report['name']}", "",
          f"* files: {', '.join(Path(f).name for f in report['files'])}",
          f"* labels: {report['label_map']} → classes {report['labels']}; cues per class {report['trials_per_class']}",
          f"* sfreq {report['sfreq']:g} Hz, {report['n_chans_available']} channels available; "
          f"model uses {len(report['ch_names'])}: {', '.join(report['ch_names'])}",
          f"* CV scheme: {report['cv_scheme']}",
          f"* chance: uniform {report['chance']['uniform']:.3f}, majority class "
          f"{report['chance']['majority_class']:.3f}, binomial 95% threshold "
          f"{report['chance']['binomial_95_threshold']:.3f}", "",
          "## CV accuracy (trial decision = argmax of the streaming output at t s after cue)", "",
          "| family | " + " | ".join(f"acc @ {t} s" for t in times)
          + " | mean 1.5-2.5 s | 95% CI @ 2 s (Wilson) | config |",
          "|---|" + "---|" * len(times) + "---|---|---|"]
    for fam, r in report["families"].items():
        lo, hi = r["cv_acc_2s_ci95"]
        md.append(f"| {fam} | " + " | ".join(f"{r['cv_acc'][t]:.3f}" for t in times)
                  + f" | {r.get('cv_acc_window_mean', float('nan')):.3f} | [{lo:.2f}, {hi:.2f}] | `{r['config']}` |")
    rules = report.get("rules", {})
    md += ["", f"**Chosen: {report['chosen_family']}** — {report['why']}."]
    md += [""] + [f"* {what} rule: {rule}" for what, rule in rules.items()] + ["", "## Candidates", ""]
    for fam, r in report["families"].items():
        if not r["candidates"]:  # the combined decoder: the two picks above, no candidates of its own
            continue
        md += [f"### {fam}", "", "| config | " + " | ".join(f"@{t} s" for t in times) + " | rule score | picked |",
               "|---|" + "---|" * (len(times) + 2)]
        for c in r["candidates"]:
            score = ", ".join(f"{x:.4f}" for x in c.get("score", []))
            md.append(f"| `{c['config']}` | " + " | ".join(f"{c['acc'][t]:.3f}" for t in times)
                      + f" | {score} | {'yes' if c['config'] == r['config'] else ''} |")
        md.append("")
    md += _recurrent_md(report.get("recurrent"), times)
    cost = report.get("step_cost")
    if cost:
        md += ["## Step cost", "", f"One sample per call ({cost['n_steps']} calls, {cost['machine']}): p50 "
               f"{cost['p50_us']:.0f} µs, p99 {cost['p99_us']:.0f} µs; sample period "
               f"{cost['sample_period_us']:.0f} µs."]
        md += ([f"* **warning**: {cost['warning']}"] if cost.get("warning") else []) + [""]
    md += ["## Notes", ""] + [f"* {n}" for n in report["notes"]]
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")


__all__ = ["summary_lines", "write_report"]
