"""The inference benchmark's report: ``inference.json``, ``inference.md`` (tables) and ``inference.png`` (bars).

:func:`format_markdown` (per cell: p50 / p99 per variant, p99.9, the batched calls, throughput, ratios; the classical
and registry rows; the target), :func:`plot_results` and :func:`write_report`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from latency_bench.inference_profiles import BATCH, CHUNK_SIZES, VARIANT_DESCRIPTIONS, VARIANTS


def _fmt(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def _rows_markdown(rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"Random raw samples (10 × N(0, 1) in the card's unit); `ours_batched` = {BATCH} streams per "
             "`StepModel.step` call, per stream-sample.", "",
             "| family | model | what | channels | sfreq | states | ours p50 / p99 | ours_batched p50 / p99 |",
             "|---|---|---|---:|---:|---|---:|---:|"]
    for r in rows:
        states = ", ".join(f"{s['name']} {'×'.join(str(d) for d in s['shape'])}" for s in r.get("states", []))
        v = r.get("variants")
        if v:
            cells = [f"{_fmt(v[k]['p50_us'])} / {_fmt(v[k]['p99_us'])}" for k in ("ours", "ours_batched")]
        else:
            cells = [f"not measured: {r.get('error') or r.get('skipped')}", "–"]
        lines.append(f"| {r['family']} | `{r['ref']}` | {r['describe']} | {r['n_chans']} | {r['sfreq']:g} | "
                     f"{states or '–'} | " + " | ".join(cells) + " |")
    return lines


def families_markdown(families: dict[str, Any] | None) -> list[str]:
    """The classical families' rows (random parameters through their exporter)."""
    if not families:
        return []
    lines = ["## Classical step graphs (CSP+LDA, Riemannian, the two combined), T = 1, µs per sample", ""]
    if not families.get("available"):
        return lines + [f"Not run: {families.get('reason')}."]
    lines += [f"{families['source']}; {families['sfreq']:g} Hz, 8-30 Hz band-pass, {len(families['labels'])} "
              "classes.", ""]
    return lines + _rows_markdown(families.get("rows") or [])


def registry_markdown(models: dict[str, Any] | None) -> list[str]:
    """The registry's rows (one per step graph): family, model, ours / ours_batched p50 / p99 µs."""
    if not models:
        return []
    lines = [f"## Step graphs of the registry `{models['models_dir']}`, T = 1, µs per sample", ""]
    rows = models.get("rows") or []
    lines += _rows_markdown(rows) if rows else ["No model in this registry."]
    for p in models.get("problems") or []:
        lines.append(f"- not read: {p}")
    return lines


def format_markdown(result: dict[str, Any]) -> str:
    """A markdown report: per cell, p50/p99 per variant, chunked throughput and ratios; the registry's
    step graphs; the target."""
    m = result["machine"]
    prof = result["profile"]
    lines = [
        "# Inference latency (per-sample compute)",
        "",
        f"{result['created']} · {m['platform']} · {m['cpu_count']} CPUs · python {m['python']} · "
        f"onnxruntime {m['onnxruntime']} · torch {m['torch']} · numpy {m['numpy']}",
        f"profile `{prof['name']}`: {prof['steps']} timed steps per variant ({prof['steps_large']} for 256-wide "
        f"sizes), warm-up {prof['warmup']}, interleaved in blocks of {prof['block']}; 1 thread everywhere; "
        f"{prof['wall_s']} s. Load average {m.get('loadavg_start')} → {m.get('loadavg_end')}. Shared machine: "
        "compare numbers within this run only.",
        "",
        "Variants: " + "; ".join(f"`{k}` = {v}" for k, v in VARIANT_DESCRIPTIONS.items()) + ". "
        "Raw samples in (8-30 Hz band-pass, CAR, standardisation, then the network) for `ours`, `ours_batched`, "
        "`ort_run`, `ort_iobinding` and `torch_preprocess`; `ort_net` and `torch_eager` take the same samples as "
        "network input (step alone).",
    ]
    for cell in dict.fromkeys(r["cell"] for r in result["results"]):
        rows = [r for r in result["results"] if r["cell"] == cell]
        lines += ["", f"## {cell.upper()}: per-step latency, T = 1, p50 / p99 µs per sample", ""]
        lines.append("| size | " + " | ".join(VARIANTS) + " |")
        lines.append("|---|" + "---:|" * len(VARIANTS))
        for r in rows:
            cells = [f"{_fmt(r['variants'][v]['p50_us'])} / {_fmt(r['variants'][v]['p99_us'])}" for v in VARIANTS]
            lines.append(f"| {r['size']} | " + " | ".join(cells) + " |")
        lines += ["", f"{cell.upper()} p99.9 µs: " + "; ".join(
            f"{r['size']}: " + ", ".join(f"{v} {_fmt(r['variants'][v]['p99_9_us'], 0)}" for v in VARIANTS)
            for r in rows)]
        lines += ["", f"{cell.upper()} `ours_batched` per call of {BATCH} streams, p50 / p99 µs: " + "; ".join(
            f"{r['size']}: {_fmt(r['variants']['ours_batched'].get('per_call_p50_us'))} / "
            f"{_fmt(r['variants']['ours_batched'].get('per_call_p99_us'))}" for r in rows) + "."]
        lines += ["", f"## {cell.upper()}: throughput, samples/s (T = 1: 1/mean; chunks: median)", "",
                  "Chunks: `StepModel.run` on T raw samples (blocks of at most `max_block`) and torch pre+step "
                  "(numpy preprocessing, then torch) on the same chunks.", ""]
        header = ["ours T=1", "ours_batched T=1 (per stream)", "torch_preprocess T=1"]
        for t in CHUNK_SIZES:
            header += [f"ours T={t}", f"torch pre+step T={t}"]
        lines.append("| size | " + " | ".join(header) + " |")
        lines.append("|---|" + "---:|" * len(header))
        for r in rows:
            vs = r["variants"]
            vals = [vs["ours"]["samples_per_s"], vs["ours_batched"]["samples_per_s"],
                    vs["torch_preprocess"]["samples_per_s"]]
            for t in CHUNK_SIZES:
                c = r["chunked"][str(t)]
                vals += [c["ours_samples_per_s"], c["torch_samples_per_s"]]
            lines.append(f"| {r['size']} | " + " | ".join(_fmt(v, 0) for v in vals) + " |")
        lines += ["", f"## {cell.upper()}: ratios (a p50 ratio > 1: the denominator is faster)", ""]
        ratio_cols = [("torch_over_ours_p50", "torch_eager / ours"),
                      ("torch_preprocess_over_ours_p50", "torch_preprocess / ours"),
                      ("ours_over_batched_p50", "ours / ours_batched"),
                      ("ours_over_iobinding_p50", "ours / ort_iobinding"),
                      ("run_over_iobinding_p50", "ort_run / ort_iobinding"),
                      ("preprocess_share_p50", "preprocessing share of ort_iobinding (vs ort_net)"),
                      ("torch_over_ort_net_p50", "torch_eager / ort_net"),
                      ("ours_chunk256_over_step_throughput", "ours T=256 / T=1 throughput")]
        lines.append("| size | " + " | ".join(label for _, label in ratio_cols) + " |")
        lines.append("|---|" + "---:|" * len(ratio_cols))
        for r in rows:
            lines.append(f"| {r['size']} | " + " | ".join(_fmt(r["ratios"][k], 2) for k, _ in ratio_cols) + " |")
    for extra in (families_markdown(result.get("families")), registry_markdown(result.get("models"))):
        if extra:
            lines += ["", *extra]
    tg = result["target"]
    lines += ["", "## Target", ""]
    if tg["measured"] is None:
        lines.append(f"{tg['cell'].upper()} {tg['size']}: {tg['criterion']}: not measured in this run.")
    else:
        meas = tg["measured"]
        verdict = "MET" if tg["met"] else "NOT MET"
        lines.append(
            f"{tg['cell'].upper()} {tg['size']}: {tg['criterion']}: preprocessing + step (ours) p50 "
            f"{_fmt(meas['ours_p50_us'])} µs ({'ok' if tg['p50_ok'] else 'over'} the "
            f"{tg['p50_limit_us']:g} µs limit), torch eager step p50 {_fmt(meas['torch_eager_p50_us'])} µs, speed-up "
            f"{meas['speedup_vs_torch']:.2f}× ({'ok' if tg['speedup_ok'] else 'under'} "
            f"{tg['min_speedup_vs_torch']:g}×)"
            f" → **{verdict}** (measured, not asserted). For reference: {BATCH} streams batched "
            f"{_fmt(meas['ours_batched_p50_us'])} µs per stream-sample, raw onnxruntime IOBinding on the step graph "
            f"{_fmt(meas['ort_iobinding_p50_us'])} µs, network step alone {_fmt(meas['ort_net_p50_us'])} µs, torch "
            f"eager pre+step {_fmt(meas['torch_preprocess_p50_us'])} µs ({meas['speedup_vs_torch_preprocess']:.2f}× "
            "ours)."
        )
    return "\n".join(lines) + "\n"


def plot_results(result: dict[str, Any], path: Path) -> None:
    """p50 bars per variant per size (one panel per cell, log y), p99 as ticks; saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = list(dict.fromkeys(r["cell"] for r in result["results"]))
    fig, axes = plt.subplots(1, len(cells), figsize=(6.5 * len(cells), 4.5), squeeze=False, sharey=True)
    width = 0.8 / len(VARIANTS)
    for ax, cell in zip(axes[0], cells):
        rows = [r for r in result["results"] if r["cell"] == cell]
        xs = np.arange(len(rows))
        for i, v in enumerate(VARIANTS):
            pos = xs + (i - (len(VARIANTS) - 1) / 2) * width
            p50 = [r["variants"][v]["p50_us"] for r in rows]
            p99 = [r["variants"][v]["p99_us"] for r in rows]
            ax.bar(pos, p50, width, label=v)
            ax.plot(pos, p99, "k_", markersize=8)
        ax.set_yscale("log")
        ax.set_xticks(xs, [r["size"] for r in rows])
        ax.set_title(f"{cell.upper()}: per-sample p50 (bars), p99 (ticks)")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylabel("µs per sample (T = 1)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"bci-stream inference latency — {result['created']} ({result['profile']['name']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(result: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``inference.json``, ``inference.md`` and ``inference.png`` into ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "inference.json", "md": out_dir / "inference.md", "png": out_dir / "inference.png"}
    paths["json"].write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    paths["md"].write_text(format_markdown(result), encoding="utf-8")
    plot_results(result, paths["png"])
    return paths
