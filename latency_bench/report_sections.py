"""The sections of ``bench.md``: the header, then one markdown table (and notes) per section of a benchmark result.

:func:`header` (machine, versions, profile, load), the goals, end to end per rate, catch-up, scaling, the step-cost
grid, lookahead, per-step compute and soak (``_*_md``); :func:`_f` and :func:`_x` format the figures.
:func:`latency_bench.report.format_markdown` puts them together; the README table reuses some.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from latency_bench.machine import source_text


PATH_ORDER = ("direct", "relay", "service", "service_noprov", "timeflux", "mnelsl")


def _f(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def _x(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}×"


def header(result: dict[str, Any]) -> list[str]:
    """The header lines of ``bench.md`` and of the README table: machine, versions, source, profile, load."""
    m = result["machine"]
    v = result["versions"]
    load0 = m.get("loadavg_start")
    load1 = m.get("loadavg_end")
    timeflux = ((result.get("peers") or {}).get("timeflux") or {}).get("version")
    lines = [
        f"{result['created']} · {m.get('cpu_model')} · {m.get('cpus_usable') or m.get('cpu_count')} CPUs · "
        f"{m.get('memory_gib')} GiB · {m.get('platform')}",
        f"python {v.get('python')} · numpy {v.get('numpy')} · onnxruntime {v.get('onnxruntime')} · "
        f"torch {v.get('torch')}"
        f" · pylsl {v.get('pylsl')} (liblsl {v.get('liblsl')}) · mne-lsl {v.get('mne-lsl') or 'not installed'}"
        f" · timeflux {timeflux or 'not installed'} · source {source_text(m)}",
        f"profile `{result['profile']['name']}` · `{result['command']}` · {result.get('wall_s')} s · load average "
        f"{load0} → {load1}",
    ]
    cpus = m.get("cpus_usable") or m.get("cpu_count") or 1
    if load0 and load0[0] > 0.5 * cpus:
        lines.append(f"**Measured on a loaded machine** (1-min load {load0[0]} on {cpus} CPUs at the start): compare "
                     "figures within this run only.")
    return lines


def _goals_md(goals: dict[str, Any]) -> list[str]:
    if not goals:
        return []
    lines = ["## Goals (measured, not asserted)", "", "| goal | measured | met |", "|---|---|---|"]
    for g in goals.values():
        meas = g.get("measured")
        if isinstance(meas, dict):
            meas = ", ".join(f"{k} {_f(x, 3)}" for k, x in meas.items() if not isinstance(x, dict))
        elif isinstance(meas, float):
            meas = _f(meas, 2 if meas < 1000 else 0)
        lines.append(f"| {g.get('criterion')} | {meas if meas is not None else '–'} | "
                     f"{'–' if g.get('met') is None else ('**yes**' if g['met'] else '**no**')} |")
    return lines + [""]


def _e2e_md(sec: dict[str, Any]) -> list[str]:
    lines = [f"### {sec['label']}", "",
             f"Model `{sec['model']}`; data: {sec['data']}; {sec['rounds']} round(s) × {sec['seconds_per_phase']:g} s "
             f"per path after {sec['warmup_s']:g} s warm-up. Latency = consumer arrival − player push (ms).", ""]
    lines += ["| path | p50 | p90 | p99 | p99.9 | max | samples | lost | path CPU % | p50 / relay | p99 / relay |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    paths = sec["paths"]
    relay = (paths.get("relay") or {}).get("latency_ms") if (paths.get("relay") or {}).get("available") else None
    for name in [p for p in PATH_ORDER if p in paths] + [p for p in paths if p not in PATH_ORDER]:
        r = paths[name]
        if not r.get("available"):
            lines.append(f"| {name} | not run: {r.get('reason')} |" + " |" * 10)
            continue
        lat = r["latency_ms"]
        rat50 = lat["p50"] / relay["p50"] if relay and relay["p50"] else None
        rat99 = lat["p99"] / relay["p99"] if relay and relay["p99"] else None
        lines.append(f"| {name} | {_f(lat['p50'], 3)} | {_f(lat['p90'], 3)} | {_f(lat['p99'], 3)} | "
                     f"{_f(lat['p99_9'], 3)} | {_f(lat['max'], 3)} | {_f(lat['n'])} | {_f(r['lost'])} | "
                     f"{_f(r['cpu_percent'], 1)} | {_x(rat50)} | {_x(rat99)} |")
    rt = sec.get("ratios", {})
    lines += ["", "Ratios: service/relay p50 " + _x(rt.get("service_over_relay_p50")) + ", p99 "
              + _x(rt.get("service_over_relay_p99")) + "; timeflux/service p50 "
              + _x(rt.get("timeflux_over_service_p50"))
              + ", p99 " + _x(rt.get("timeflux_over_service_p99")) + "; mne-lsl/service p50 "
              + _x(rt.get("mnelsl_over_service_p50")) + ", p99 " + _x(rt.get("mnelsl_over_service_p99"))
              + ("" if rt.get("service_ray_over_service_p50") is None else "; service --backend ray/local p50 "
                 + _x(rt.get("service_ray_over_service_p50")) + ", p99 " + _x(rt.get("service_ray_over_service_p99")))
              + "."]
    svc = paths.get("service") or {}
    if svc.get("available") and svc["phases"] and svc["phases"][-1].get("service"):
        st = svc["phases"][-1]["service"]
        stages = st.get("latency_ms") or {}
        lines += ["", "The service's own histograms (last round; ms; `pull` = time inside `pull_chunk`, waiting "
                  "included; "
                  "`e2e` = push → publish, without the consumer's hop):", "",
                  "| stage | p50 | p90 | p99 | p99.9 | max |", "|---|---:|---:|---:|---:|---:|"]
        for k, v in stages.items():
            lines.append(f"| {k} | {_f(v.get('p50'), 3)} | {_f(v.get('p90'), 3)} | {_f(v.get('p99'), 3)} | "
                         f"{_f(v.get('p99_9'), 3)} | {_f(v.get('max'), 3)} |")
        c = st.get("counters") or {}
        lines += ["", "Counters: " + ", ".join(f"{k} {_f(v)}" for k, v in c.items()) + ". (`samples_lost`/`gaps` are "
                  "the worker's estimate from the timestamps, net of the player's scheduling jitter (each sample is "
                  "stamped at its push; bci_stream/lsl/gaps.py); the consumer-side `lost` is exact.)"]
    for note in sec.get("model_notes") or []:
        lines.append(f"- {note}")
    return lines + [""]


def _catchup_md(cu: dict[str, Any]) -> list[str]:
    lines = ["## Catch-up", "", f"A backlog of {cu['backlog_s']:g} s at 1 kHz × 64 ch pushed at once into a connected "
             f"path (`{cu['model']}`); time until the last backlog output arrived at the consumer.", "",
             "| path | backlog samples | received | catch-up s | samples/s | live p50 after (ms) |",
             "|---|---:|---:|---:|---:|---:|"]
    for k in ("service", "relay"):
        r = cu.get(k)
        if r:
            lines.append(f"| {k} | {_f(r['backlog_samples'])} | {_f(r['received'])} | {_f(r['catchup_s'], 3)} | "
                         f"{_f(r['samples_per_s'], 0)} | {_f(r['live_after_latency_ms'].get('p50'), 3)} |")
    c = cu.get("compute")
    if c:
        lines.append(f"| compute only (in process, one call) | {_f(c['backlog_samples'])} | – | "
                     f"{_f(c['seconds'], 3)} | "
                     f"{_f(c['samples_per_s'], 0)} | – |")
        by = c.get("samples_per_s_by_chunk") or {}
        if len(by) > 1:
            lines += ["", "Compute only, the backlog in sub-chunks of T samples (state carried), best of "
                      f"{c['repeats']}: " + ", ".join(f"T={t}: {_f(v, 0)}/s" for t, v in by.items()) + "."]
        cold = c.get("cold_samples_per_s_by_chunk") or {}
        if cold:
            lines += ["First backlog of a freshly loaded and warmed-up model (as in a worker): "
                      + ", ".join(f"T={t}: {_f(v, 0)}/s" for t, v in cold.items()) + "."]
    return lines + [""]


def _processes(levels: list[dict[str, Any]]) -> str:
    """``worker processes at 1, 2, 4 streams: 1, 2, 2`` (rows of runs before the count was kept: unknown)."""
    counts = [r.get("worker_processes") for r in levels]
    if any(c is None for c in counts):
        return "worker processes not recorded by this run"
    return (f"worker processes at {', '.join(str(r['n_streams']) for r in levels)} streams: "
            f"{', '.join(str(c) for c in counts)}")


def _scale_md(sc: dict[str, Any]) -> list[str]:
    relay = sc.get("kind") == "relay"
    what = ("bare relay processes (no compute): the transport floor of the same load" if relay else
            f"`{sc['model']}` on the service's default workers ({_processes(sc['levels'])}; each process's CPU "
            "counted once, per process = workers CPU / processes)")
    lines = ["## Scaling" + (": relay floor" if relay else ""), "",
             f"N concurrent streams, 1 kHz × 64 ch each, every sample pushed on its own; {what}; "
             f"{sc['seconds_per_level']:g} s per level. CPU % of one core.", "",
             f"| streams | lost | p50 ms | p99 ms | p99.9 ms | worst stream p99 | {'relays' if relay else 'workers'} "
             "CPU % | per process | API | "
             "player | consumer | machine busy % |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sc["levels"]:
        c = r["cpu_percent"]
        lat = r["latency_ms"]
        lines.append(f"| {r['n_streams']} | {_f(r['lost'])} | {_f(lat['p50'], 3)} | {_f(lat['p99'], 3)} | "
                     f"{_f(lat['p99_9'], 3)} | {_f(r['worst_stream_p99_ms'], 3)} | {_f(c['workers_total'], 1)} | "
                     f"{_f(c['per_worker_mean'], 1)} | {_f(c['api'], 1)} | {_f(c['player'], 1)} | "
                     f"{_f(c['consumer'], 1)} | {_f(r['machine_busy_percent'], 0)} |")
    return lines + [""]


def _grid_md(g: dict[str, Any]) -> list[str]:
    pts = {(p["n_chans"], p["hidden_size"]): p for p in g["points"]}
    lines = ["## Step cost over channels × hidden size", "",
             f"GRU, {g['n_layers']} layers, {g['sfreq']:g} Hz preprocessing; {g['what']}. p50 µs of `pipeline` "
             "(`step` in brackets).", "", "| channels \\ hidden | " + " | ".join(str(h) for h in g["hiddens"]) + " |",
             "|---|" + "---:|" * len(g["hiddens"])]
    for c in g["chans"]:
        cells = []
        for hdim in g["hiddens"]:
            p = pts.get((c, hdim))
            cells.append("–" if p is None else f"{p['pipeline']['p50_us']:.1f} ({p['step']['p50_us']:.1f})")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines + [""]


def _lookahead_md(la: dict[str, Any]) -> list[str]:
    lines = ["## Lookahead cost (from the trainer's report or the model card)", ""]
    if not la.get("available"):
        return lines + [f"Not available: {la.get('reason')}", ""]
    times = list(dict.fromkeys(t for r in la["rows"] for t in r["trial_accuracy"]))
    lines.append(f"Source: `{la['source']}` (run {la.get('run')}, {la.get('sfreq')} Hz); trial accuracy on the "
                 f"{la['rows'][0]['split']} split, instant / mean decision rule; chance "
                 f"{_f(la.get('chance_trial_accuracy'))}.")
    if not la.get("complete"):
        lines.append("The report holds no lookahead-K model: only the causal row is shown.")
    lines += ["", "| model | lookahead K | added latency ms | sample acc | " + " | ".join(f"@{t}" for t in times)
              + " |",
              "|---|---:|---:|---:|" + "---:|" * len(times)]
    for r in la["rows"]:
        k = "∞" if r["lookahead"] is None and not r.get("causal") else r["lookahead"]
        added = "∞ (offline)" if r["added_latency_ms"] is None else _f(r["added_latency_ms"], 1)
        cells = []
        for t in times:
            v = r["trial_accuracy"].get(t) or {}
            cells.append(f"{_f(v.get('instant'))} / {_f(v.get('mean'))}")
        lines.append(f"| {r['stage']} | {k if k is not None else '–'} | {added} | {_f(r.get('sample_accuracy'), 3)} | "
                     + " | ".join(cells) + " |")
    return lines + [""]


def _inference_md(inf: dict[str, Any]) -> list[str]:
    lines = ["## Per-step compute (`inference.md` has the full report)", "",
             "| cell / family | size / model | variant | p50 µs | p99 µs | samples/s |",
             "|---|---|---|---:|---:|---:|"]
    for r in inf.get("results", []):
        for v, st in r.get("variants", {}).items():
            lines.append(f"| {r['cell']} | {r['size']} | {v} | {_f(st.get('p50_us'), 1)} | {_f(st.get('p99_us'), 1)} | "
                         f"{_f(st.get('samples_per_s'), 0)} |")
    # the classical families (random parameters) and the registry's step graphs, any family
    for r in [*(inf.get("families") or {}).get("rows", []), *(inf.get("models") or {}).get("rows", [])]:
        for v, st in (r.get("variants") or {}).items():
            lines.append(f"| {r['family']} | {r['ref']} ({r['describe']}) | {v} | {_f(st.get('p50_us'), 1)} | "
                         f"{_f(st.get('p99_us'), 1)} | {_f(st.get('samples_per_s'), 0)} |")
        if not r.get("variants"):
            why = r.get("error") or r.get("skipped")
            lines.append(f"| {r['family']} | {r['ref']} | not measured: {why} | – | – | – |")
    return lines + [""]


def _soak_md(sk: dict[str, Any]) -> list[str]:
    lines = ["## Soak", "", f"{sk['minutes']:g} min, a reading every {sk['interval_s']:g} s; decoders: "
             + ", ".join(f"{d['label']} ({d['model']})" for d in sk["decoders"]) + ".", "",
             "| process | RSS first MB | RSS last MB | growth | max MB |", "|---|---:|---:|---:|---:|"]
    for k, r in sk["rss"].items():
        g = r.get("growth")
        lines.append(f"| {k} | {_f(r['first_mb'], 1)} | {_f(r['last_mb'], 1)} | "
                     f"{'–' if g is None else f'{100 * g:+.2f} %'} | {_f(r['max_mb'], 1)} |")
    lines += ["", "| stream | p99 first ms | p99 last ms | drift | pushed | received | lost |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for k, d in sk["p99_drift"].items():
        t = sk["totals"].get(k, {})
        dr = d.get("drift")
        lines.append(f"| {k} | {_f(d['first_p99_ms'], 3)} | {_f(d['last_p99_ms'], 3)} | "
                     f"{'–' if dr is None else f'{100 * dr:+.1f} %'} | {_f(t.get('pushed'))} | "
                     f"{_f(t.get('received'))} | "
                     f"{_f(sk['lost'].get(k))} |")
    return lines + [""]
