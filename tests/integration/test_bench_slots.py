"""The slots micro-benchmark runs on tiny models and writes a well-formed report (no timing assertions)."""

from __future__ import annotations

import json
import math

from bci_stream.core.registry import ModelRegistry
from bci_stream.engine.step_model import StepModel
from latency_bench.models import export_bench_gru
from latency_bench.slots import SCHEMA, _csp, format_markdown, run_slots_bench


def test_tiny_run_writes_every_cell_side_by_side(tmp_path):
    bench = export_bench_gru(tmp_path / "models", 4, 8, 1, 250.0, parity_samples=20)
    entry = ModelRegistry(tmp_path / "models").get(bench.ref)
    models = {"tiny gru": StepModel(entry.onnx_path, entry.card), "tiny csp": _csp(tmp_path / "csp", 4, 2)}
    lines: list[str] = []
    result = run_slots_bench(out_dir=tmp_path / "out", echo=lines.append, levels=(1, 3), chunks=(1, 4), wakes=6,
                             models=models)

    assert result["schema"] == SCHEMA and len(lines) == 8
    cells = [(r["model"], r["chunk"], r["n_streams"]) for r in result["rows"]]
    assert cells == [(m, c, n) for m in models for c in (1, 4) for n in (1, 3)]
    for r in result["rows"]:
        assert r["wakes"] == 6
        for name in ("separate", "slots"):
            stats = r[name]
            for key in ("p50_us", "p99_us", "wake_p50_us", "stream_samples_per_s"):
                assert math.isfinite(stats[key]) and stats[key] > 0, (name, key)
            assert stats["p50_us"] <= stats["p99_us"]
        assert math.isfinite(r["speedup_p50"]) and r["speedup_p50"] > 0
        assert r["max_abs_diff"] <= 1e-5  # both variants decoded the same samples: a check of the harness
    assert json.loads((tmp_path / "out" / "slots.json").read_text()) == result
    table = (tmp_path / "out" / "slots.md").read_text()
    assert table == format_markdown(result) and table.count("\n| tiny ") == 8
