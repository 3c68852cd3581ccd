"""``--compare OLD.json``: the headline figures of two benchmark results side by side, as ratios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from latency_bench import stats


def headline(result: dict[str, Any]) -> dict[str, tuple[float, bool]]:
    """Figures to compare between runs: ``name -> (value, higher_is_better)``."""
    s = {k: v for k, v in result.get("sections", {}).items() if "error" not in v}
    out: dict[str, tuple[float, bool]] = {}

    def put(name: str, v: Any, higher: bool = False) -> None:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[name] = (float(v), higher)

    for rate, sec in (s.get("e2e") or {}).items():
        for path, r in sec["paths"].items():
            if r.get("available"):
                for q in ("p50", "p90", "p99", "p99_9", "max"):
                    put(f"e2e.{rate}.{path}.{q}_ms", r["latency_ms"][q])
                put(f"e2e.{rate}.{path}.cpu_percent", r.get("cpu_percent"))
        for k, v in sec.get("ratios", {}).items():
            put(f"e2e.{rate}.ratio.{k}", v, higher="over_service" in k)
    for k in ("service", "relay", "compute"):
        put(f"catchup.{k}.samples_per_s", ((s.get("catchup") or {}).get(k) or {}).get("samples_per_s"), True)
    for lv in (s.get("scale") or {}).get("levels", []):
        n = lv["n_streams"]
        put(f"scale.{n}.p99_ms", lv["latency_ms"]["p99"])
        put(f"scale.{n}.lost", lv["lost"])
        put(f"scale.{n}.workers_cpu_percent", lv["cpu_percent"]["workers_total"])
    for pt in (s.get("grid") or {}).get("points", []):
        put(f"grid.{pt['n_chans']}ch.h{pt['hidden_size']}.pipeline_p50_us", pt["pipeline"]["p50_us"])
    for r in (s.get("inference") or {}).get("results", []):
        for v, st in r.get("variants", {}).items():
            put(f"inference.{r['cell']}.{r['size']}.{v}.p50_us", st.get("p50_us"))
    inf = s.get("inference") or {}
    for r in [*(inf.get("families") or {}).get("rows", []), *(inf.get("models") or {}).get("rows", [])]:
        for v, st in (r.get("variants") or {}).items():
            put(f"inference.{r['family']}.{r['ref']}.{v}.p50_us", st.get("p50_us"))
    soak = s.get("soak")
    if soak:
        put("soak.max_rss_growth", soak["goal"]["max_rss_growth"])
        put("soak.max_p99_drift", soak["goal"]["max_p99_drift"])
    return out


def compare(new: dict[str, Any], old: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``name, old, new, ratio (new/old), better`` for every headline figure both runs have."""
    a, b = headline(old), headline(new)
    rows = []
    for name in (k for k in b if k in a):
        (vo, higher), (vn, _) = a[name], b[name]
        r = stats.ratio(vn, vo)
        better = None if r is None or r == 1.0 else (r > 1.0) == higher
        rows.append({"name": name, "old": vo, "new": vn, "ratio": r, "better": better})
    return rows


def load(path: Path) -> dict[str, Any]:
    """A benchmark result (``bench.json`` of ``e2e``, ``soak``, ``grid`` or ``all``).

    Raises
    ------
    ValueError
        The file is not JSON, or not such a result; the message names the file and what was expected.
    OSError
        The file cannot be read.
    """
    expected = "a bench.json written by `e2e`, `soak`, `grid` or `all` (schema 'bci-stream/bench/...')"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc}); expected {expected}") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if not str(schema or "").startswith("bci-stream/bench/"):
        raise ValueError(f"{path} is not a bci-stream benchmark result (schema {schema!r}); expected {expected}")
    return data


def format_compare(rows: list[dict[str, Any]], old_label: str, new_label: str) -> str:
    """A markdown table of :func:`compare` rows."""
    if not rows:
        return "No figure in common between the two results.\n"
    lines = [f"| figure | old ({old_label}) | new ({new_label}) | new / old | |", "|---|---:|---:|---:|---|"]
    for r in rows:
        mark = "" if r["better"] is None else ("better" if r["better"] else "worse")
        ratio = "–" if r["ratio"] is None else f"{r['ratio']:.3f}"
        lines.append(f"| {r['name']} | {r['old']:.4g} | {r['new']:.4g} | {ratio} | {mark} |")
    return "\n".join(lines) + "\n"
