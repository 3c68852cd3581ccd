"""The inference benchmark runs end to end on a tiny profile and writes a well-formed report.

No timing assertions: the machine is slow and shared; the benchmark measures, it never asserts speed.
"""

from __future__ import annotations

import json
import math

from latency_bench.inference import CHUNK_SIZES, SCHEMA, VARIANTS, format_markdown, run_inference_bench

TINY = [("8ch/H16/L1", 8, 16, 1)]


def test_tiny_profile_writes_a_complete_report(tmp_path):
    lines: list[str] = []
    result = run_inference_bench(quick=True, out_dir=tmp_path, sizes=TINY, steps=50, echo=lines.append)

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
        # All variants stepped the same inputs from the same state: a correctness check of the harness.
        for name, diff in r["check"]["state_max_abs_diff_vs_ort_run"].items():
            assert diff < 1e-4, name
    # The target size was not measured in the tiny profile: reported as such, never asserted.
    assert result["target"]["met"] is None

    for name in ("inference.json", "inference.md", "inference.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "inference.json").read_text()) == json.loads(json.dumps(result))
    markdown = (tmp_path / "inference.md").read_text()
    assert markdown == format_markdown(result)
    for name in VARIANTS:
        assert name in markdown
    assert "8ch/H16/L1" in markdown and "Target" in markdown
