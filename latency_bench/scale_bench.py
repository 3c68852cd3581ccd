"""``bci-stream bench scale``: the scaling matrix of issue 16, its targets, its report and its plots.

:func:`run_scale_bench` starts the load generator and the service, exports the 64ch/H128/L2 GRU (1 kHz),
runs :func:`latency_bench.scale.run_scale_matrix` and writes ``bench.json`` (one row per chunk size × level ×
kind; ``levels_not_run`` with the reason where a level could not be set up; ``catchup``: one row per service kind
and stream count, a backlog per stream pushed at once), ``bench.md`` (the tables and the issue's targets, met or
missed: measured, never asserted) and ``scale.png`` (p99 and the service's CPU against streams, one line per kind
and chunk size).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from latency_bench import GRU_SFREQ, machine

SCHEMA = "bci-stream/bench-scale/1"
TARGET_STREAMS = 16
TARGET_P99_MS = 5.0
TARGET_CPU_PERCENT = 100.0
TARGET_RSS_MB = 400.0
TARGET_P99_OVER_RELAY = 1.5
TARGET_P50_OVER_RELAY = 1.3
DEFAULT_CATCHUP_S = 30.0
DEFAULT_CATCHUP_STREAMS = (1, 4)
KIND_COLORS = {"relay": "gray", "slots": "tab:blue", "process": "tab:red"}
CHUNK_STYLES = ("o-", "s--", "^:", "d-.")


def run_scale_bench(levels: Sequence[int], chunk_sizes: Sequence[int], seconds: float, warmup: float,
                    out_dir: Path, *, echo: Callable[[str], Any] = print, kinds: Sequence[str] | None = None,
                    argv: Sequence[str] | None = None, keep_work: bool = False,
                    streams_per_sender: int | None = None, catchup_s: float = DEFAULT_CATCHUP_S,
                    catchup_streams: Sequence[int] = DEFAULT_CATCHUP_STREAMS) -> dict[str, Any]:
    """Run the matrix, write ``bench.json``, ``bench.md`` and ``scale.png`` into ``out_dir``; return the result.

    ``catchup_s`` seconds of backlog per stream for ``catchup_streams`` streams at once (0 or no counts: no
    catch-up rows)."""
    from latency_bench.e2e import Harness
    from latency_bench.models import export_bench_gru
    from latency_bench.scale import KINDS, run_scale_matrix
    from latency_bench.scale_catchup import catchup_targets

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    result: dict[str, Any] = {
        "schema": SCHEMA, "what": "scale", "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(argv) if argv is not None else " ".join(sys.argv), "machine": machine.machine_info(),
        "versions": machine.versions(), "notes": [],
    }
    work = Path(tempfile.mkdtemp(prefix="bci-bench-scale-"))
    try:
        h = Harness(work, echo=echo)
        try:
            echo("exporting the 64ch/H128/L2 GRU (1 kHz)")
            gru = export_bench_gru(h.models_dir, 64, 128, 2, GRU_SFREQ)
            result.update(run_scale_matrix(h, gru, levels, chunk_sizes, seconds, warmup, tuple(kinds or KINDS),
                                           streams_per_sender, catchup_s, catchup_streams))
        finally:
            h.close()
    finally:
        if keep_work:
            result["notes"].append(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    result["machine"]["loadavg_end"] = machine.loadavg()
    result["wall_s"] = round(time.monotonic() - t0, 1)
    result["targets"] = targets(result["rows"]) + catchup_targets(result.get("catchup") or [], catchup_s)
    write_scale_report(result, out_dir)
    return result


# --------------------------------------------------------------------------------------------------
# Targets of issue 16 (measured, never asserted)


def _row(rows: list[dict[str, Any]], n: int, chunk: int, kind: str) -> dict[str, Any] | None:
    return next((r for r in rows if (r["n_streams"], r["chunk_size"], r["kind"]) == (n, chunk, kind)), None)


def _target(criterion: str, kind: str, measured: Any, met: bool | None, *rows: dict[str, Any] | None,
            **extra: Any) -> dict[str, Any]:
    """One target; ``load_kept_up`` is False when the load generator fell behind in a row it rests on."""
    kept = [r["load_generator"]["keeps_up"] for r in rows if r is not None]
    return {"criterion": criterion, "kind": kind, "measured": measured, "met": met,
            "load_kept_up": all(kept) if kept else None, **extra}


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets for ``slots`` (and, to compare, ``process``); ``met`` is None when not measured."""
    out = []
    for kind in ("slots", "process"):
        r = _row(rows, TARGET_STREAMS, 10, kind)
        crit = (f"{TARGET_STREAMS} streams x 10-sample chunks: 0 lost, p99 <= {TARGET_P99_MS:g} ms, service CPU <= "
                f"{TARGET_CPU_PERCENT:g} % of one core, service RSS <= {TARGET_RSS_MB:g} MB")
        if r is None:
            out.append(_target(crit, kind, None, None))
        else:
            p99, cpu, rss = r["latency_ms"]["p99"], r["cpu_percent"]["service_total"], r["rss_mb"]["service_total"]
            parts = {"lost": r["lost"] == 0, "p99": p99 is not None and p99 <= TARGET_P99_MS,
                     "cpu": cpu <= TARGET_CPU_PERCENT, "rss": rss is not None and rss <= TARGET_RSS_MB}
            out.append(_target(crit, kind, {"lost": r["lost"], "p99_ms": p99, "cpu_percent": cpu, "rss_mb": rss},
                               all(parts.values()), r, parts=parts))
        r, relay = _row(rows, TARGET_STREAMS, 1, kind), _row(rows, TARGET_STREAMS, 1, "relay")
        crit = (f"{TARGET_STREAMS} streams x 1-sample chunks: 0 lost, p99 <= {TARGET_P99_OVER_RELAY:g}x the relay's "
                "p99 at the same level")
        out.append(_ratio_target(crit, kind, r, relay, "p99", TARGET_P99_OVER_RELAY, check_loss=True))
        for chunk in sorted({r["chunk_size"] for r in rows}):
            crit = f"1 stream x {chunk}-sample chunks: p50 <= {TARGET_P50_OVER_RELAY:g}x the relay's p50"
            out.append(_ratio_target(crit, kind, _row(rows, 1, chunk, kind), _row(rows, 1, chunk, "relay"), "p50",
                                     TARGET_P50_OVER_RELAY))
    return out


def _ratio_target(crit: str, kind: str, r: dict[str, Any] | None, relay: dict[str, Any] | None, q: str,
                  limit: float, check_loss: bool = False) -> dict[str, Any]:
    a = None if r is None else r["latency_ms"][q]
    b = None if relay is None else relay["latency_ms"][q]
    if a is None or not b:
        return _target(crit, kind, None, None)
    ratio = a / b
    met = ratio <= limit and (not check_loss or r["lost"] == 0)  # type: ignore[index]
    measured = {"ratio": ratio, f"{q}_ms": a, f"relay_{q}_ms": b, "lost": r["lost"]}  # type: ignore[index]
    return _target(crit, kind, measured, met, r, relay, limit=limit)


# --------------------------------------------------------------------------------------------------
# Report


def _f(v: Any, nd: int = 2) -> str:
    if v is None:
        return "–"
    return f"{v:,.{nd}f}" if isinstance(v, float) else f"{v:,}"


def format_markdown(res: dict[str, Any]) -> str:
    """The table (one line per chunk size × level × kind), the targets (met / missed) and the load notes."""
    lines = [f"## Scaling: {res.get('model')}, {res.get('n_chans')} ch at {_f(res.get('sfreq'), 0)} Hz", "",
             f"{res['created']} · `{res['command']}` · {res['machine'].get('cpu_count')} CPUs · load "
             f"{res['machine'].get('loadavg_start')} → {res['machine'].get('loadavg_end')} · "
             f"{_f(res.get('seconds_per_level'), 1)} s per level after {_f(res.get('warmup_s'), 1)} s warm-up · "
             f"wall {res.get('wall_s')} s · streams per player / consumer process: {_per_sender(res)}", "",
             machine.machine_line(res["machine"], res.get("versions") or {}), "",
             "Latency from the sender's push to the consumer's arrival; CPU in % of one core; service = the API "
             "process and every worker serving a stream (relay: the relay processes); RSS summed over them. "
             "Sender lag = how late a chunk left against its 1 kHz schedule.", "",
             "| chunk | streams | kind | lost | p50 ms | p99 ms | max ms | service CPU % | RSS MB | procs | "
             "sender lag p99 ms | players CPU % | consumers CPU % | machine busy % | load keeps up |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    order = {"relay": 0, "slots": 1, "process": 2}
    for r in sorted(res["rows"], key=lambda r: (r["chunk_size"], r["n_streams"], order.get(r["kind"], 9))):
        lat, lg = r["latency_ms"], r["load_generator"]
        players = sum(v or 0.0 for k, v in lg["cpu_percent"].items() if k.startswith("player"))
        consumers = sum(v or 0.0 for k, v in lg["cpu_percent"].items() if k.startswith("consumer"))
        lines.append(f"| {r['chunk_size']} | {r['n_streams']} | {r['kind']} | {_f(r['lost'])} | {_f(lat['p50'], 3)} | "
                     f"{_f(lat['p99'], 3)} | {_f(lat['max'], 1)} | {_f(r['cpu_percent']['service_total'], 1)} | "
                     f"{_f(r['rss_mb']['service_total'], 0)} | {r['n_service_processes']} | "
                     f"{_f(lg['sender_lag_ms']['p99'], 2)} | {_f(players, 0)} | {_f(consumers, 0)} | "
                     f"{_f(r['machine_busy_percent'], 0)} | {'yes' if lg['keeps_up'] else '**no**'} |")
    lines += ["", "### Targets (issue 16; measured, not asserted)", "", "| kind | target | measured | verdict |",
              "|---|---|---|---|"]
    for t in res.get("targets") or []:
        verdict = "not measured" if t["met"] is None else ("met" if t["met"] else "**missed**")
        if t.get("load_kept_up") is False:
            verdict += " (load generator fell behind: not conclusive)"
        m = t["measured"]
        shown = "–" if m is None else ", ".join(f"{k} {_f(v, 2)}" for k, v in m.items())
        lines.append(f"| {t['kind']} | {t['criterion']} | {shown} | {verdict} |")
    notes = [f"- {r['kind']}, {r['n_streams']} streams, chunks of {r['chunk_size']}: " + "; ".join(
        r["load_generator"]["notes"]) for r in res["rows"] if r["load_generator"]["notes"]]
    notes += [f"- {r['kind']}, {r['n_streams']} streams, chunks of {r['chunk_size']}: outputs not drained within "
              "the timeout (late samples count as lost)" for r in res["rows"] if not r["drained"] and r["lost"]]
    if notes:
        lines += ["", "### Load generator and machine", "",
                  "Where the senders or readers fell behind, or the machine had no idle core, the row measures the "
                  "machine and the load generator as much as the path: read it as a bound, not as the service's "
                  "speed.", "", *notes]
    not_run = res.get("levels_not_run") or []
    if not_run:
        lines += ["", "### Levels not run", "",
                  "A level whose streams could not be set up is reported here; that kind's higher levels were not "
                  "tried, its lower levels' rows stand.", ""]
        lines += [f"- {r['kind']}, chunks of {r['chunk_size']}, {r['n_streams']} streams ({r['streams_started']} "
                  f"started): {r['reason']}" for r in not_run]
    from latency_bench.scale_catchup import format_catchup

    lines += format_catchup(res.get("catchup") or [])
    for kind, reason in (res.get("skipped") or {}).items():
        lines += ["", f"**{kind} not run**: {reason}"]
    for e in res.get("errors") or []:
        what = e.get("what") or f"chunks of {e['chunk_size']}"
        lines += ["", f"**{e['kind']} ({what}) failed**: {e['error']}"]
    for n in res.get("notes") or []:
        lines += ["", n]
    return "\n".join(lines) + "\n"


def _per_sender(res: dict[str, Any]) -> str:
    per = res.get("streams_per_sender")
    if isinstance(per, dict):
        return ", ".join(f"{n} (chunks of {c})" for c, n in per.items())
    return str(per)


def plot_scale(res: dict[str, Any], path: Path) -> None:
    """p99 and service CPU against streams, one line per kind and chunk size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    levels = sorted({r["n_streams"] for r in res["rows"]})
    for ci, chunk in enumerate(sorted({r["chunk_size"] for r in res["rows"]})):
        for kind in ("relay", "slots", "process"):
            rs = sorted((r for r in res["rows"] if r["kind"] == kind and r["chunk_size"] == chunk),
                        key=lambda r: r["n_streams"])
            if not rs:
                continue
            style, label = CHUNK_STYLES[ci % len(CHUNK_STYLES)], f"{kind}, chunk {chunk}"
            n = [r["n_streams"] for r in rs]
            a.plot(n, [r["latency_ms"]["p99"] or float("nan") for r in rs], style, color=KIND_COLORS[kind],
                   label=label)
            b.plot(n, [r["cpu_percent"]["service_total"] for r in rs], style, color=KIND_COLORS[kind], label=label)
            for r in rs:
                if r["lost"] and r["latency_ms"]["p99"]:
                    a.annotate(f"lost {r['lost']}", (r["n_streams"], r["latency_ms"]["p99"]), fontsize=7, color="red")
    a.axhline(TARGET_P99_MS, color="k", ls=":", lw=1, label=f"target p99 {TARGET_P99_MS:g} ms (16 x chunk 10)")
    b.axhline(TARGET_CPU_PERCENT, color="k", ls=":", lw=1, label="target: one core (16 streams)")
    for ax, ylabel in ((a, "end-to-end p99, ms (push → consumer)"), (b, "service CPU, % of one core")):
        if len(levels) > 1:
            ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [str(x) for x in levels])
        ax.set_xlabel("concurrent 1 kHz × 64-ch streams")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="best")
    a.set_yscale("log")
    fig.suptitle(f"bci-stream scaling: relay vs slots vs process — {res['created']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_scale_report(res: dict[str, Any], out_dir: Path) -> None:
    (out_dir / "bench.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    (out_dir / "bench.md").write_text(format_markdown(res), encoding="utf-8")
    if res["rows"]:
        plot_scale(res, out_dir / "scale.png")
