"""The slots micro-benchmark runs on tiny models and writes a well-formed report (no timing assertions)."""

from __future__ import annotations

import json
import math
from pathlib import Path

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


def test_an_export_kept_in_the_model_cache_is_the_model_exported_again(tmp_path, monkeypatch):
    """``$LATENCY_BENCH_MODEL_CACHE`` (the test suite's benchmarks share one export of each shape): the second call
    copies the first call's export, which is the model an export without the cache gives (same ONNX bytes, same
    torch weights), into its own models folder, its weights path there."""
    from latency_bench.models import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    kept = export_bench_gru(tmp_path / "a", 4, 8, 1, 250.0, parity_samples=20)
    copied = export_bench_gru(tmp_path / "b", 4, 8, 1, 250.0, parity_samples=20)
    monkeypatch.delenv(CACHE_ENV)
    fresh = export_bench_gru(tmp_path / "c", 4, 8, 1, 250.0, parity_samples=20)
    assert len([p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]) == 1  # one export kept
    assert kept.ref == copied.ref == fresh.ref and copied.torch_config == fresh.torch_config
    cards = {k: ModelRegistry(tmp_path / k).get(fresh.ref).card for k in "abc"}
    assert cards["a"].sha256 == cards["b"].sha256 == cards["c"].sha256  # the ONNX file's bytes
    assert Path(copied.state_dict) == tmp_path / "b" / Path(fresh.state_dict).name
    assert Path(copied.state_dict).read_bytes() == Path(fresh.state_dict).read_bytes()
