"""The end-to-end benchmark runs its quick profile with a tiny duration and writes a well-formed result.

Real processes throughout: a player and a consumer process on loopback LSL, ``bci-stream serve`` with
real worker processes, the bare relay, and the peers that are installed here (mne-lsl from the ``bench``
extra; timeflux from ``.venv-timeflux``). A peer that is not installed must say why; a peer that is
installed must produce numbers. No timing assertions: the machine is slow and shared.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from latency_bench.__main__ import main as bench_main
from latency_bench.compare import compare, headline
from latency_bench.suite import QUICK, SCHEMA, run_bench

pytestmark = pytest.mark.timeout(240)

TINY = replace(
    QUICK, name="quick-tiny", seconds=0.5, warmup=0.5, paths_160=("service", "relay"), backlog_s=1.0,
    scale_levels=(1, 2), scale_seconds=0.5, grid_chans=(8, 16), grid_hiddens=(16,), grid_steps=50,
    inference_steps=50, inference_sizes=(("8ch/H16/L1", 8, 16, 1),),
    # one CSP+LDA row shows that the suite runs and reports the classical rows; every family's row
    # (CLASSICAL_SHAPES) is checked by tests/integration/test_bench_inference.py
    inference_classical_shapes=(("csp_lda", 21, 6),),
)
LATENCY_KEYS = ("p50", "p90", "p99", "p99_9", "max", "mean")


def _trainer_report(path: Path) -> Path:
    """A report.json shaped like ``bci-stream train``'s (causal + lookahead stages), for the lookahead table."""
    def stage(k: int | None, acc: float) -> dict[str, Any]:
        return {"kind": "CausalRNN" if k == 0 else "BiRNN", "causal": k == 0, "lookahead": k,
                "added_latency_ms": None if k is None else 1000.0 * k / 160.0,
                "test": {"sample_accuracy": acc, "n_trials": 15, "chance_trial_accuracy": 0.53,
                         "trial_accuracy": {"2s": {"instant": acc, "mean": acc + 0.05}}}}

    report = {"run": "test-run", "data": {"sfreq": 160.0},
              "models": {"causal": stage(0, 0.6), "lookahead_16": stage(16, 0.7), "bidirectional": stage(None, 0.8)}}
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def _finite_latency(lat: dict[str, Any], where: str) -> None:
    assert lat["n"] > 0, f"{where}: no samples measured"
    for k in LATENCY_KEYS:
        assert isinstance(lat[k], float) and math.isfinite(lat[k]) and lat[k] > 0, f"{where}: {k} = {lat[k]!r}"
    assert lat["p50"] <= lat["p99"] <= lat["max"], where
    assert len(lat["cdf_ms"]) > 50 and lat["cdf_ms"] == sorted(lat["cdf_ms"]), where


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    report = _trainer_report(out / "trainer-report.json")
    lines: list[str] = []
    # a missing timeflux peer is not set up here (a 40 s install; tests/integration/test_bench_scale.py checks the
    # on-demand setup's failure path): it is reported as not run, with why
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BCI_STREAM_BENCH_NO_SETUP", "1")
        res = run_bench("all", TINY, out, echo=lines.append, lookahead_report=report, argv=["test"])
    assert lines, "the benchmark reports progress through echo"
    return res, out


def test_result_schema_and_files(result: tuple[dict[str, Any], Path]) -> None:
    res, out = result
    on_disk = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert on_disk["schema"] == SCHEMA == res["schema"]
    assert set(on_disk["sections"]) == {"inference", "e2e", "catchup", "scale", "grid", "lookahead"}
    for key in ("cpu_count", "cpu_model", "loadavg_start", "loadavg_end", "platform", "source"):
        assert key in on_disk["machine"], key
    for pkg in ("python", "numpy", "onnxruntime", "pylsl", "liblsl"):
        assert on_disk["versions"][pkg], pkg
    assert on_disk["profile"]["name"] == "quick-tiny" and on_disk["wall_s"] > 0
    md = (out / "bench.md").read_text(encoding="utf-8")
    for heading in ("## End to end", "## Catch-up", "## Scaling", "## Step cost", "## Lookahead cost",
                    "## Per-step compute", "## Goals"):
        assert heading in md, heading
    for png in ("e2e_cdf.png", "scaling.png", "grid.png", "inference.png"):
        assert (out / png).stat().st_size > 5000, png


def test_e2e_paths_produce_numbers(result: tuple[dict[str, Any], Path]) -> None:
    res, _ = result
    e2e = res["sections"]["e2e"]
    assert set(e2e) == {"1kHz", "160Hz"}
    assert e2e["1kHz"]["sfreq"] == 1000.0 and e2e["1kHz"]["n_chans"] == 64
    assert e2e["1kHz"]["architecture"] == {"family": "recurrent", "cell": "gru", "n_layers": 2, "hidden_size": 128}
    assert e2e["160Hz"]["sfreq"] == 160.0 and e2e["160Hz"]["n_chans"] in (21, 64)  # the real-EEG model's channels
    for rate, sec in e2e.items():
        for path in ("service", "relay"):
            r = sec["paths"][path]
            assert r["available"], f"{rate} {path}: {r.get('reason')}"
            _finite_latency(r["latency_ms"], f"{rate} {path}")
            assert r["lost"] == 0 and r["n_pushed"] > 0, f"{rate} {path}: lost {r['lost']} of {r['n_pushed']}"
            assert r["phases"][0]["drained"]
        svc = sec["paths"]["service"]["phases"][0]["service"]
        assert svc["counters"]["samples_in"] == svc["counters"]["samples_out"] > 0
        assert {"decode", "publish", "service", "e2e"} <= set(svc["latency_ms"])
        assert sec["ratios"]["service_over_relay_p50"] > 0
    paths = e2e["1kHz"]["paths"]
    _finite_latency(paths["direct"]["latency_ms"], "1kHz direct")
    for peer in ("timeflux", "mnelsl"):
        r, status = paths[peer], res["peers"][peer]
        if status["available"]:
            assert r["available"], f"{peer} is installed ({status['python']}) but gave no numbers: {r.get('reason')}"
            _finite_latency(r["latency_ms"], f"1kHz {peer}")
            assert r["lost"] == 0
            assert e2e["1kHz"]["ratios"][f"{peer}_over_service_p50"] > 0
        else:
            assert not r["available"] and r["reason"], f"{peer} unavailable without a reason"


def test_catchup_scale_grid_lookahead_inference(result: tuple[dict[str, Any], Path]) -> None:
    res, out = result
    s = res["sections"]
    cu = s["catchup"]
    for path in ("service", "relay"):
        assert cu[path]["received"] == cu[path]["backlog_samples"] == 1000, path
        assert cu[path]["samples_per_s"] > 0 and cu[path]["lost"] == 0, path
    assert cu["compute"]["samples_per_s"] > 0
    levels = s["scale"]["levels"]
    assert [lv["n_streams"] for lv in levels] == [1, 2]
    for lv in levels:
        assert lv["flowing"], f"scale level {lv['n_streams']}: a path delivered nothing after its set-up"
        assert lv["lost"] == 0 and lv["n_pushed"] > 0, (lv["n_streams"], lv["service_counters"], s["scale"]["drained"])
        _finite_latency(lv["latency_ms"], f"scale {lv['n_streams']}")
        assert lv["cpu_percent"]["workers_total"] > 0 and len(lv["per_stream"]) == lv["n_streams"]
    assert s["scale"]["goal"]["max_measured"] == 2
    points = s["grid"]["points"]
    assert [(p["n_chans"], p["hidden_size"]) for p in points] == [(8, 16), (16, 16)]
    assert all(p[k]["p50_us"] > 0 and p[k]["p99_us"] >= p[k]["p50_us"] for p in points for k in ("pipeline", "step"))
    la = s["lookahead"]
    assert la["available"] and la["complete"]
    assert [r["added_latency_ms"] for r in la["rows"]] == [0.0, 100.0, None]
    assert la["rows"][1]["trial_accuracy"]["2s"]["instant"] == pytest.approx(0.7)
    (size,) = s["inference"]["results"]
    assert size["size"] == "8ch/H16/L1" and all(v["p50_us"] > 0 for v in size["variants"].values())
    rows = s["inference"]["models"]["rows"]  # the service's registry (the bundled models): one row per step graph
    assert rows and all(r["variants"]["ours"]["p50_us"] > 0 for r in rows if "variants" in r)
    fams = s["inference"]["families"]  # CSP+LDA and Riemannian from random parameters
    assert not fams["available"] or all(r["variants"]["ours"]["p50_us"] > 0 for r in fams["rows"])
    assert "| csp_lda |" in (out / "bench.md").read_text(encoding="utf-8") or not fams["available"]
    assert set(res["goals"]) >= {"e2e_p50_over_relay", "e2e_p99_over_relay", "catchup", "scale", "inference"}


def test_compare_gives_ratios(result: tuple[dict[str, Any], Path], capsys: pytest.CaptureFixture[str]) -> None:
    res, out = result
    rows = compare(res, res)
    assert len(rows) == len(headline(res)) > 20
    assert all(r["ratio"] == pytest.approx(1.0) for r in rows if r["old"] != 0)
    assert "e2e.1kHz.service.p50_ms" in {r["name"] for r in rows}
    assert bench_main(["compare", str(out / "bench.json"), str(out / "bench.json")]) == 0
    printed = capsys.readouterr().out
    assert "| e2e.1kHz.service.p50_ms |" in printed and "1.000" in printed


def test_soak_reports_rss_and_latency_over_time(tmp_path: Path) -> None:
    res = run_bench("soak", TINY, tmp_path, echo=lambda _: None, minutes=0.06, argv=["test"])
    sk = res["sections"]["soak"]
    assert set(res["sections"]) == {"soak"}
    assert len(sk["series"]) >= 3 and sk["interval_s"] == 1.0
    for reading in sk["series"]:
        for proc in ("1kHz", "160Hz", "api", "player", "consumer"):
            assert reading["rss_mb"][proc] > 10, proc
        for label in ("1kHz", "160Hz"):
            assert reading["latency_ms"][label]["n"] > 0, label
    for label in ("1kHz", "160Hz"):
        t = sk["totals"][label]
        assert t["pushed"] > 0 and t["received"] == t["pushed"] and sk["lost"][label] == 0, label
        assert sk["final_counters"][label]["samples_in"] == sk["final_counters"][label]["samples_out"]
    assert sk["goal"]["max_rss_growth"] is not None and sk["goal"]["max_p99_drift"] is not None
    assert (tmp_path / "soak.png").stat().st_size > 5000
    assert "## Soak" in (tmp_path / "bench.md").read_text(encoding="utf-8")


def test_match_counts_loss_and_latency_inside_the_window() -> None:
    """Pushes pair with arrivals by exact timestamp (or by seq); only pushes inside the window count."""
    import numpy as np

    from latency_bench.stats import match

    pushed = 100.0 + np.arange(10) * 0.001  # push times of seq 0..9
    arrive = pushed + 0.0005
    keep = np.array([0, 1, 2, 4, 5, 6, 7, 9])  # seq 3 and 8 never arrive; seq 5 arrives twice
    rows = np.column_stack([pushed[keep], arrive[keep], keep.astype(float)])
    rows = np.vstack([rows, rows[4], [123.0, 124.0, -1.0]])  # a duplicate and a row matching no push
    m = match(pushed, rows, (pushed[2], pushed[8]))
    assert (m["n_pushed"], m["n_received"], m["lost"], m["duplicates"], m["unmatched"]) == (7, 5, 2, 1, 1)
    assert np.allclose(m["latency_ms"], 0.5)
    shifted = rows.copy()
    shifted[:, 0] += 0.002  # a relay that rewrote the timestamps: pair by seq instead
    by_seq = match(pushed, shifted, (pushed[2], pushed[8]), by_seq=True)
    assert (by_seq["n_received"], by_seq["lost"]) == (5, 2)
    assert np.allclose(by_seq["latency_ms"], 0.5)
    assert by_seq["timestamp_error_ms"]["p50"] == pytest.approx(2.0)


def test_cpu_profile_reports_every_thread_of_the_path(tmp_path, capsys):
    """``python -m latency_bench cpu-profile`` on a real service path: CPU of each process's main thread
    and other threads, the wake-up floor, and a perf breakdown when perf can run here (else its reason)."""
    assert bench_main(["cpu-profile", "--seconds", "0.5", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "cpu_profile.json").read_text())
    assert set(res["usage"]) == {"worker", "api", "player", "consumer"}
    for role, row in res["usage"].items():
        assert row["total_cpu_percent"] >= 0, role
    assert res["usage"]["worker"]["main_thread"]["cpu_percent"] > 0, "the worker decoded 1000 samples/s"
    assert res["usage"]["worker"]["other_threads"]["threads"] >= 1, "liblsl's threads live in the worker"
    assert res["sleep_wakeup_cpu_us"] > 0
    assert set(res["pull_cpu_us_per_wakeup"]) == {"pylsl_pull_chunk", "chunk_puller"}
    assert all(v > 0 for v in res["pull_cpu_us_per_wakeup"].values())
    assert res["counters"]["samples_in"] == res["counters"]["samples_out"] > 0
    perf = res["worker_main_perf"]
    assert ("percent_of_samples" in perf and perf["percent_of_samples"]) or perf.get("error"), perf
    md = (tmp_path / "cpu_profile.md").read_text()
    assert "| worker |" in md and "µs CPU per sample" in md
    assert md in capsys.readouterr().out
    # the machine, versions and source it ran on (audit s68bench F4: the report said neither)
    from latency_bench.machine import machine_line

    assert res["created"] and res["machine"]["cpu_model"] and res["versions"]["onnxruntime"]
    assert f"{res['created']} · {machine_line(res['machine'], res['versions'])}" in md and " · source " in md
