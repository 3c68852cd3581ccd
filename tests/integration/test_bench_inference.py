"""The inference benchmark runs end to end on a tiny profile and writes a well-formed report.

No timing assertions: the machine is slow and shared; the benchmark measures, it never asserts speed.
"""

from __future__ import annotations

import json
import math

from latency_bench.inference import BATCH, CHUNK_SIZES, SCHEMA, VARIANTS, format_markdown, run_inference_bench
from latency_bench.models import export_bench_gru

TINY = [("8ch/H16/L1", 8, 16, 1)]


def test_tiny_profile_writes_a_complete_report(tmp_path):
    registry = tmp_path / "models"
    bench = export_bench_gru(registry, 4, 8, 1, 250.0, parity_samples=20)
    (registry / "broken").mkdir()
    (registry / "broken" / "model.json").write_text("{}")
    out = tmp_path / "out"
    lines: list[str] = []
    result = run_inference_bench(quick=True, out_dir=out, sizes=TINY, steps=50, echo=lines.append,
                                 models_dir=registry)

    assert set(result) >= {"schema", "created", "machine", "profile", "results", "target"}
    assert result["schema"] == SCHEMA
    assert set(result["machine"]) >= {"platform", "processor", "cpu_count", "python", "numpy", "onnxruntime",
                                      "torch"}
    assert lines, "the benchmark reports progress through echo"
    assert [(r["cell"], r["size"]) for r in result["results"]] == [("gru", "8ch/H16/L1"), ("lstm", "8ch/H16/L1")]
    for r in result["results"]:
        assert (r["n_chans"], r["hidden"], r["layers"]) == (8, 16, 1)
        assert set(r["variants"]) == set(VARIANTS)
        for name, stats in r["variants"].items():
            assert stats["n"] == 50, name
            for key in ("p50_us", "p99_us", "p99_9_us", "samples_per_s"):
                assert math.isfinite(stats[key]) and stats[key] > 0, (name, key, stats[key])
            assert stats["p50_us"] <= stats["p99_us"] <= stats["p99_9_us"], name
        assert set(r["chunked"]) == {str(t) for t in CHUNK_SIZES}
        for c in r["chunked"].values():
            for key in ("ours_samples_per_s", "torch_samples_per_s"):
                assert math.isfinite(c[key]) and c[key] > 0
        for key, value in r["ratios"].items():
            assert math.isfinite(value), key
        assert r["variants"]["ours_batched"]["streams_per_call"] == BATCH
        # All variants stepped the same inputs from the same state: a correctness check of the harness.
        checks = r["check"]
        assert set(checks["state_max_abs_diff_vs_ort_run"]) == {"ours", "ours_batched", "ort_iobinding"}
        for key in ("state_max_abs_diff_vs_ort_run", "torch_state_max_abs_diff_vs_ort_run",
                    "net_state_max_abs_diff_vs_ort_net"):
            for name, diff in checks[key].items():
                assert diff < 1e-4, (key, name)
    # The target size was not measured in the tiny profile: reported as such, never asserted.
    assert result["target"]["met"] is None

    # The classical families, random parameters through their real exporter: a row per shape.
    families = result["families"]
    assert families["available"], families.get("reason")
    assert {r["family"] for r in families["rows"]} == {"csp_lda", "riemann", "csp_riemann", "ensemble"}
    for r in families["rows"]:
        assert "error" not in r, r.get("error")
        assert set(r["variants"]) == {"ours", "ours_batched"} and r["export_parity_max_abs_diff"] < 1e-4
        for name, stats in r["variants"].items():
            assert stats["n"] == 50 and 0 < stats["p50_us"] <= stats["p99_us"], (r["ref"], name)

    # Every step graph of the registry gets a row; an unreadable card is reported, not fatal.
    (row,) = result["models"]["rows"]
    assert (row["ref"], row["family"], row["n_chans"]) == (bench.ref, "recurrent", 4)
    assert set(row["variants"]) == {"ours", "ours_batched"}
    for name, stats in row["variants"].items():
        assert stats["n"] == 50 and 0 < stats["p50_us"] <= stats["p99_us"], name
    assert len(result["models"]["problems"]) == 1

    for name in ("inference.json", "inference.md", "inference.png"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "inference.json").read_text()) == json.loads(json.dumps(result))
    markdown = (out / "inference.md").read_text()
    assert markdown == format_markdown(result)
    for name in VARIANTS:
        assert name in markdown
    assert "8ch/H16/L1" in markdown and "Target" in markdown and bench.ref in markdown
    assert all(r["ref"] in markdown for r in families["rows"])
