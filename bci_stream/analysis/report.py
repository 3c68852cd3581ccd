"""Rendering an introspection report: the plain-text table and the time-constant figure.

Both read the JSON-serialisable report of :func:`bci_stream.analysis.introspect.inspect_model`
(``"inf"`` for infinite time constants, None for a period that does not exist).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.analysis.lstm_gates import PERCENTILES
from bci_stream.analysis.timeconst import INF, from_json_float

__all__ = ["format_table", "plot_time_constants"]


def _fmt(value: float | str | None, spec: str = "10.2f") -> str:
    """A report value in a table cell: ``-`` for None, ``inf`` for ``"inf"``, else formatted with ``spec``."""
    width = int(spec.split(".")[0]) if spec[0].isdigit() else 10
    if value is None:
        return f"{'-':>{width}}"
    if value == INF:
        return f"{'inf':>{width}}"
    return f"{value:{spec}}"


def format_table(report: dict[str, Any], top: int = 10) -> str:
    """Plain-text summary of an :func:`inspect_model` report: top eigenmodes and forget-gate τ.

    Each complex-conjugate pair is shown once (as ``|Im|``), so ``top`` rows are ``top`` distinct modes.
    """
    m = report["model"]
    jac = report["jacobian"]
    fp = jac["fixed_point"]
    lines = [
        f"model {m['ref']}  {m['cell'].upper()} L{m['n_layers']} H{m['hidden_size']}  "
        f"{m['sfreq']:g} Hz (dt {jac['dt_ms']:.3g} ms)  sha256 {m['sha256'][:12]}",
        f"zero-raw-input fixed point: {'converged' if fp['converged'] else 'NOT converged'} after "
        f"{fp['iterations']} samples (residual {fp['residual']:.2g}, |s*| {fp['norm']:.3g}); "
        f"spectral radius {jac['spectral_radius']:.4f}, {jac['n_unstable']} mode(s) with |lambda| >= 1",
        "",
        f"Jacobian eigenmodes (top {top} by tau; conjugate pairs once)",
        f"{'#':>3} {'|lambda|':>10} {'tau ms':>10} {'period ms':>10} {'freq Hz':>10} {'Re':>9} {'|Im|':>9}",
    ]
    shown = [mode for mode in jac["modes"] if mode["im"] >= 0][:top]
    for i, mode in enumerate(shown, 1):
        lines.append(
            f"{i:>3} {mode['abs']:10.5f} {_fmt(mode['tau_ms'])} {_fmt(mode['period_ms'])} "
            f"{mode['frequency_hz']:10.2f} {mode['re']:9.4f} {abs(mode['im']):9.4f}"
        )
    fg = report.get("forget_gates")
    if report.get("forget_gates_skipped"):
        lines += ["", f"LSTM forget-gate tau: not computed: {report['forget_gates_skipped']}"]
    if fg:
        lines += [
            "",
            f"LSTM forget-gate tau per unit (median over {fg['n_samples']} samples; numpy vs onnxruntime "
            f"max state diff {fg['check_max_diff']:.2g}), percentiles over units, ms",
            f"{'layer':>5} " + " ".join(f"{'p' + str(p):>10}" for p in PERCENTILES),
        ]
        for layer in fg["layers"]:
            pct = layer["tau_percentiles_ms"]
            lines.append(f"{layer['layer']:>5} " + " ".join(_fmt(pct[f'p{p}']) for p in PERCENTILES))
    return "\n".join(lines) + "\n"


def plot_time_constants(report: dict[str, Any], path: Path) -> None:
    """Write the report's figure to ``path`` (PNG): Jacobian eigenvalues and time-constant histograms.

    Panels: the eigenvalues in the complex plane with the unit circle, coloured by ``log10 τ``; the
    histogram of the finite mode time constants (log scale); for an LSTM, the histogram of the per-unit
    forget-gate time constants of each layer. Uses matplotlib's Agg backend (no display needed).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    jac = report["jacobian"]
    fg = report.get("forget_gates")
    n_panels = 3 if fg else 2
    fig = Figure(figsize=(5.0 * n_panels, 4.6), layout="constrained")
    axes = fig.subplots(1, n_panels)
    modes = jac["modes"]
    re = np.array([m["re"] for m in modes])
    im = np.array([m["im"] for m in modes])
    tau = np.array([from_json_float(m["tau_ms"]) for m in modes])

    ax = axes[0]
    theta = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(theta), np.sin(theta), color="0.6", lw=1, label="unit circle")
    finite = np.isfinite(tau) & (tau > 0)
    if finite.any():
        sc = ax.scatter(re[finite], im[finite], c=np.log10(tau[finite]), cmap="viridis", s=22, zorder=3)
        fig.colorbar(sc, ax=ax, label="log10 tau (ms)")
    if (~finite).any():
        ax.scatter(re[~finite], im[~finite], marker="x", color="crimson", s=30, zorder=3, label="tau inf or 0")
    ax.axhline(0, color="0.85", lw=0.8)
    ax.axvline(0, color="0.85", lw=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("Re lambda")
    ax.set_ylabel("Im lambda")
    ax.set_title(f"Jacobian eigenvalues at the zero-raw-input fixed point\n{report['model']['ref']}")
    ax.legend(loc="lower left", fontsize=8)

    def log_hist(ax: Any, values: np.ndarray, title: str, label: str | None = None) -> None:
        values = values[np.isfinite(values) & (values > 0)]
        if values.size:
            lo, hi = np.log10(values.min()), np.log10(values.max())
            bins = np.logspace(lo - 0.05, hi + 0.05, max(10, min(40, values.size)))
            ax.hist(values, bins=bins, alpha=0.7, label=label)
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("tau (ms)")
        ax.set_ylabel("count")
        ax.set_title(title)

    n_inf = int(np.sum(~np.isfinite(tau)))
    log_hist(axes[1], tau, f"Jacobian mode time constants ({n_inf} infinite not shown)" if n_inf
             else "Jacobian mode time constants")
    axes[1].axvline(jac["dt_ms"], color="0.5", ls="--", lw=1, label="dt")
    axes[1].legend(fontsize=8)
    if fg:
        for layer in fg["layers"]:
            vals = np.array([from_json_float(v) for v in layer["tau_ms"]])
            log_hist(axes[2], vals, "LSTM forget-gate tau per unit (median over data)", f"layer {layer['layer']}")
        axes[2].legend(fontsize=8)
    fig.savefig(path, dpi=110)
