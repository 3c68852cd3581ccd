"""The benchmark's plots: ``e2e_cdf.png``, ``scaling.png``, ``grid.png`` and ``soak.png``.

``e2e_cdf.png``: latency CDF per path, one panel per rate; ``scaling.png``: latency and CPU against the number of
streams; ``grid.png``: step cost over channels × hidden size; ``soak.png``: RSS and latency percentiles over time.
matplotlib is imported when a plot is drawn (Agg backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from latency_bench.report_sections import PATH_ORDER
from latency_bench.stats import cdf_quantiles


PATH_COLORS = {"direct": "tab:gray", "relay": "tab:blue", "service": "tab:green", "service_noprov": "tab:olive",
               "timeflux": "tab:red", "mnelsl": "tab:purple"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_e2e(result: dict[str, Any], path: Path) -> None:
    plt = _plt()
    rates = list(result["sections"]["e2e"].items())
    fig, axes = plt.subplots(1, len(rates), figsize=(6.5 * len(rates), 4.5), squeeze=False)
    q = cdf_quantiles()
    for ax, (_, sec) in zip(axes[0], rates, strict=True):
        for name in [p for p in PATH_ORDER if p in sec["paths"]]:
            r = sec["paths"][name]
            if r.get("available") and r["latency_ms"].get("cdf_ms"):
                ax.plot(r["latency_ms"]["cdf_ms"], q, color=PATH_COLORS.get(name),
                        label=f"{name} (p50 {r['latency_ms']['p50']:.2f} ms)")
        ax.set_xscale("log")
        ax.set_xlabel("end-to-end latency, ms (push → consumer)")
        ax.set_ylabel("fraction of samples")
        ax.set_title(sec["label"], fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"bci-stream end-to-end latency CDF — {result['created']} ({result['profile']['name']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scaling(result: dict[str, Any], path: Path) -> None:
    plt = _plt()
    lv = result["sections"]["scale"]["levels"]
    n = [r["n_streams"] for r in lv]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for q, style in (("p50", "o-"), ("p99", "s-"), ("p99_9", "^-")):
        a.plot(n, [r["latency_ms"][q] for r in lv], style, label=f"service {q.replace('_', '.')}")
    relay = (result["sections"].get("scale_relay") or {}).get("levels") or []  # absent when it failed
    for q, style in (("p50", "o:"), ("p99", "s:")):
        if relay:
            a.plot([r["n_streams"] for r in relay], [r["latency_ms"][q] for r in relay], style, color="gray",
                   label=f"relay floor {q}")
    a.axhline(5.0, color="k", ls=":", lw=1, label="goal p99 5 ms")
    a.set_xscale("log", base=2)
    a.set_yscale("log")
    a.set_xticks(n, [str(x) for x in n])
    a.set_xlabel("concurrent 1 kHz × 64-ch streams")
    a.set_ylabel("end-to-end latency, ms")
    a.grid(alpha=0.3, which="both")
    a.legend(fontsize=7, loc="best")
    if relay:
        b.plot([r["n_streams"] for r in relay], [r["cpu_percent"]["workers_total"] for r in relay], "o:",
               color="gray", label="all relays (floor)")
    for key, label in (("workers_total", "all workers"), ("api", "API process"), ("player", "player"),
                       ("consumer", "consumer")):
        b.plot(n, [r["cpu_percent"][key] or 0.0 for r in lv], "o-", label=label)
    b.plot(n, [r["machine_busy_percent"] or 0.0 for r in lv], "k--", label="machine busy % (of all CPUs)")
    b.set_xscale("log", base=2)
    b.set_xticks(n, [str(x) for x in n])
    b.set_xlabel("concurrent streams")
    b.set_ylabel("CPU % (100 = one core)")
    b.grid(alpha=0.3)
    b.legend(fontsize=8)
    for r in lv:
        if r["lost"]:
            a.annotate(f"lost {r['lost']}", (r["n_streams"], r["latency_ms"]["p99"]), fontsize=7, color="red")
    fig.suptitle(f"bci-stream scaling — {result['created']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_grid(result: dict[str, Any], path: Path) -> None:
    plt = _plt()
    g = result["sections"]["grid"]
    pts = {(p["n_chans"], p["hidden_size"]): p["pipeline"]["p50_us"] for p in g["points"]}
    z = np.array([[pts.get((c, h), np.nan) for h in g["hiddens"]] for c in g["chans"]])
    fig, ax = plt.subplots(figsize=(1.3 * len(g["hiddens"]) + 3, 0.6 * len(g["chans"]) + 2.5))
    im = ax.imshow(z, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(g["hiddens"])), [str(h) for h in g["hiddens"]])
    ax.set_yticks(range(len(g["chans"])), [str(c) for c in g["chans"]])
    ax.set_xlabel("hidden size")
    ax.set_ylabel("channels")
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            if np.isfinite(z[i, j]):
                ax.text(j, i, f"{z[i, j]:.0f}", ha="center", va="center", color="w", fontsize=8)
    fig.colorbar(im, label="µs per sample (p50, preprocessing + step)")
    ax.set_title(f"GRU L{g['n_layers']} step cost — {result['created']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_soak(result: dict[str, Any], path: Path) -> None:
    plt = _plt()
    sk = result["sections"]["soak"]
    t = np.array([s["t_s"] for s in sk["series"]]) / 60.0
    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for key in sk["rss"]:
        a.plot(t, [s["rss_mb"].get(key) or np.nan for s in sk["series"]], label=key)
    a.set_ylabel("RSS, MB")
    a.grid(alpha=0.3)
    a.legend(fontsize=8)
    for d in sk["decoders"]:
        k = d["label"]
        for q, style in (("p50", "-"), ("p99", "--"), ("max", ":")):
            b.plot(t, [s["latency_ms"][k][q] or np.nan for s in sk["series"]], style, label=f"{k} {q}")
    b.set_yscale("log")
    b.set_xlabel("minutes")
    b.set_ylabel("end-to-end latency per interval, ms")
    b.grid(alpha=0.3, which="both")
    b.legend(fontsize=8, ncol=2)
    fig.suptitle(f"bci-stream soak — {result['created']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
