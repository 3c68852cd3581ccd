"""The benchmark's outputs: ``bench.json`` (everything), ``bench.md`` (tables) and PNG plots.

Plots: ``e2e_cdf.png`` (latency CDF per path, one panel per rate), ``scaling.png`` (latency and CPU
against the number of streams), ``grid.png`` (step cost over channels × hidden size), ``soak.png`` (RSS
and latency percentiles over time).

The parts: :mod:`~latency_bench.report_sections` (the markdown of each section), :mod:`~latency_bench.report_plots`
(the plots) and :mod:`~latency_bench.report_readme` (the README table). This module writes the files; every name of
the parts stays importable from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from latency_bench.report_plots import plot_e2e, plot_grid, plot_scaling, plot_soak
from latency_bench.report_readme import README_BEGIN, update_readme
from latency_bench.report_sections import (_catchup_md, _e2e_md, _goals_md, _grid_md, _inference_md, _lookahead_md,
                                           _scale_md, _soak_md, header)

__all__ = [
    "format_markdown", "write_report", "README_BEGIN", "header", "update_readme", "plot_e2e", "plot_scaling",
    "plot_grid", "plot_soak", "_e2e_md", "_catchup_md", "_scale_md", "_grid_md", "_lookahead_md",
    "_inference_md", "_soak_md", "_goals_md"
]


def format_markdown(result: dict[str, Any]) -> str:
    """``bench.md``: the header, the goals, a failed section's error, then each section present."""
    s = {k: v for k, v in result["sections"].items() if "error" not in v}
    lines = ["# bci-stream benchmark", "", *header(result), "", *_goals_md(result.get("goals") or {})]
    for name, sec in result["sections"].items():
        if "error" in sec:
            lines += [f"**Section `{name}` failed:** {sec['error']}", ""]
    if s.get("e2e"):
        lines += ["## End to end", ""]
        for sec in s["e2e"].values():
            lines += _e2e_md(sec)
    if s.get("catchup"):
        lines += _catchup_md(s["catchup"])
    if s.get("scale"):
        lines += _scale_md(s["scale"])
    if s.get("scale_relay"):
        lines += _scale_md(s["scale_relay"])
    if s.get("grid"):
        lines += _grid_md(s["grid"])
    if s.get("lookahead"):
        lines += _lookahead_md(s["lookahead"])
    if s.get("inference"):
        lines += _inference_md(s["inference"])
    if s.get("soak"):
        lines += _soak_md(s["soak"])
    for note in result.get("notes") or []:
        lines.append(f"- {note}")
    return "\n".join(lines).rstrip() + "\n"


def write_report(result: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``bench.json``, ``bench.md`` and the plots of the sections present; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "bench.json", "md": out_dir / "bench.md"}
    paths["json"].write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    paths["md"].write_text(format_markdown(result), encoding="utf-8")
    s = {k: v for k, v in result["sections"].items() if "error" not in v}
    for key, fn, name in (("e2e", plot_e2e, "e2e_cdf.png"), ("scale", plot_scaling, "scaling.png"),
                          ("grid", plot_grid, "grid.png"), ("soak", plot_soak, "soak.png")):
        if s.get(key):
            paths[key] = out_dir / name
            fn(result, paths[key])
    return paths
