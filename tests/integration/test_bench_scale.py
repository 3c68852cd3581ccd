"""``bci-stream bench scale`` runs its matrix with tiny levels and writes a well-formed report.

Real processes throughout: player and consumer processes on loopback LSL pushing chunks of 1 and 10 samples
at 1 kHz × 64 ch, bare relay processes, ``bci-stream serve`` with dedicated worker processes and (when this
tree has them) shared workers; then the catch-up of a short backlog per stream pushed at once. Structure and zero
loss are asserted, never speed: the machine is slow and shared.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from latency_bench import scale
from latency_bench.procs import BenchError
from latency_bench.scale import KINDS, slots_unavailable
from latency_bench.scale_catchup import TARGET_SAMPLES_PER_S, stream_catchup
from latency_bench.scale_rows import match_pushes
from latency_bench.scale_bench import SCHEMA, run_scale_bench

pytestmark = pytest.mark.timeout(420)

LEVELS = (1, 2)
CHUNKS = (1, 10)
SECONDS = 0.5
"""Measured seconds per level (after a 0.5 s warm-up): 500 samples per stream, every field of a row has its data."""
CATCHUP_S = 2.0
CATCHUP_STREAMS = (1, 2)
SLOTS_MISSING = slots_unavailable()
REFUSED = ("process", 10, 2)
"""(kind, chunk size, level) that the fixture makes impossible to set up, as if memory ran out: reported, not run."""


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("scale")
    kinds = [k for k in KINDS if k != "slots" or SLOTS_MISSING is None]
    lines: list[str] = []
    real_check, calls = scale.check_memory, {"process": 0}

    def check_memory(kind: str) -> None:  # the process kind's 4th stream (chunks of 10, level 2): no memory left
        real_check(kind)
        if kind == "process" and not any("catch-up" in line for line in lines):
            calls["process"] += 1
            if calls["process"] == 4:
                raise BenchError("too little memory for another process stream (test)")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scale, "check_memory", check_memory)
        res = run_scale_bench(LEVELS, CHUNKS, SECONDS, 0.5, out, echo=lines.append, kinds=kinds, argv=["test"],
                              catchup_s=CATCHUP_S, catchup_streams=CATCHUP_STREAMS)
    assert any("chunks of 10" in line for line in lines), "the benchmark reports progress through echo"
    return res, out


def _rows(res: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in res["rows"] if r["kind"] == kind]


def _check_row(r: dict[str, Any]) -> None:
    where = f"{r['kind']} n={r['n_streams']} chunk={r['chunk_size']}"
    assert r["n_pushed"] >= r["n_streams"] * 1000 * SECONDS, where  # >= SECONDS of 1 kHz per stream in the window
    assert r["lost"] == 0 and r["drained"], f"{where}: lost {r['lost']} of {r['n_pushed']}"
    lat = r["latency_ms"]
    assert lat["n"] == r["n_pushed"], where
    for q in ("p50", "p99", "max"):
        assert isinstance(lat[q], float) and math.isfinite(lat[q]) and lat[q] > 0, f"{where}: {q} = {lat[q]!r}"
    assert lat["p50"] <= lat["p99"] <= lat["max"], where
    cpu, rss = r["cpu_percent"], r["rss_mb"]
    # a bare relay may run less than one 10 ms clock tick in SECONDS (reads exactly 0); a decoding service never does
    assert isinstance(cpu["service_total"], float) and math.isfinite(cpu["service_total"]), where
    assert (cpu["service_total"] >= 0 if r["kind"] == "relay" else cpu["service_total"] > 0), where
    assert rss["service_total"] > 10, where
    own = {k: v for k, v in cpu["per_process"].items() if not k.startswith(("player", "consumer"))}
    assert len(own) == r["n_service_processes"] and set(own) == set(rss["per_process"]), where
    assert cpu["service_total"] == pytest.approx(sum(v for v in own.values() if v is not None)), where
    assert {"player0", "consumer0"} <= set(cpu["per_process"]), where
    lg = r["load_generator"]
    assert lg["sender_lag_ms"]["p50"] is not None and isinstance(lg["keeps_up"], bool), where
    assert set(lg["cpu_percent"]) >= {"player0", "consumer0"}, where


def test_rows_cover_every_chunk_level_and_kind(result: tuple[dict[str, Any], Path]) -> None:
    res, out = result
    on_disk = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert on_disk["schema"] == SCHEMA == res["schema"]
    assert on_disk["n_chans"] == 64 and on_disk["sfreq"] == 1000.0
    assert on_disk["architecture"] == {"family": "recurrent", "cell": "gru", "n_layers": 2, "hidden_size": 128}
    kinds = ["relay", "process"] + ([] if SLOTS_MISSING else ["slots"])
    assert not res["errors"], res["errors"]
    got = sorted((r["chunk_size"], r["n_streams"], r["kind"]) for r in on_disk["rows"])
    assert got == sorted((c, n, k) for c in CHUNKS for n in LEVELS for k in kinds if (k, c, n) != REFUSED)
    (not_run,) = on_disk["levels_not_run"]  # reported, not crashed: the kind's lower level's row stands
    assert (not_run["kind"], not_run["chunk_size"], not_run["n_streams"]) == REFUSED and not_run["streams_started"] == 1
    assert "too little memory for another process stream" in not_run["reason"]
    for r in on_disk["rows"]:
        _check_row(r)
        assert r["flowing"] is True, r["kind"]
    for r in _rows(res, "relay"):
        assert r["n_service_processes"] == r["n_streams"] and r["rss_mb"]["service_tree_total"] is None
    for r in _rows(res, "process"):  # the API process and one worker per stream
        assert r["n_service_processes"] == r["n_streams"] + 1 and "api" in r["cpu_percent"]["per_process"]
        assert r["service_counters"]["samples_in"] == r["service_counters"]["samples_out"] > 0


def test_report_table_targets_and_plot(result: tuple[dict[str, Any], Path]) -> None:
    res, out = result
    md = (out / "bench.md").read_text(encoding="utf-8")
    assert "| chunk | streams | kind | lost |" in md and "### Targets" in md
    from latency_bench.machine import machine_line

    assert machine_line(res["machine"], res["versions"]) in md and "onnxruntime " in md  # audit s68bench F4
    assert md.count("\n| 10 | 2 | relay |") == 1 and md.count("\n| 1 | 1 | process |") == 1
    assert "### Levels not run" in md and "- process, chunks of 10, 2 streams (1 started): " in md
    assert (out / "scale.png").stat().st_size > 5000
    by = {(t["kind"], t["criterion"][:12]): t for t in res["targets"]}
    for kind in ("slots", "process"):
        sixteen = by[(kind, "16 streams x")]
        assert sixteen["met"] is None and sixteen["measured"] is None  # level 16 was not run
    one = [t for t in res["targets"] if t["kind"] == "process" and t["criterion"].startswith("1 stream")]
    assert len(one) == len(CHUNKS) and all(isinstance(t["met"], bool) and t["measured"]["ratio"] > 0 for t in one)
    assert "not measured" in md and ("| met |" in md or "**missed**" in md)


def test_slots_rows(result: tuple[dict[str, Any], Path]) -> None:
    if SLOTS_MISSING:
        pytest.skip(f"no shared workers in this tree: {SLOTS_MISSING}")
    res, _ = result
    rows = _rows(res, "slots")
    assert len(rows) == len(CHUNKS) * len(LEVELS)
    for r in rows:  # the API process and the shared workers hosting the streams (at most one per stream)
        assert 2 <= r["n_service_processes"] <= r["n_streams"] + 1
        assert r["service_counters"]["samples_in"] == r["service_counters"]["samples_out"] > 0
    assert all(isinstance(t["met"], bool) for t in res["targets"]
               if t["kind"] == "slots" and t["criterion"].startswith("1 stream"))


def test_catchup_rows(result: tuple[dict[str, Any], Path]) -> None:
    """Every service kind × stream count: each stream's whole backlog came out (in == out), a finite rate."""
    res, out = result
    kinds = ["process"] + ([] if SLOTS_MISSING else ["slots"])
    rows = res["catchup"]
    assert res["catchup_s"] == CATCHUP_S and res["catchup_streams"] == list(CATCHUP_STREAMS)
    assert sorted((r["kind"], r["n_streams"]) for r in rows) == sorted((k, n) for k in kinds for n in CATCHUP_STREAMS)
    for r in rows:
        where = f"catch-up {r['kind']} x {r['n_streams']}"
        assert r["backlog_samples_per_stream"] == int(CATCHUP_S * 1000), where
        assert r["n_pushed"] == r["received"] == r["n_streams"] * r["backlog_samples_per_stream"], where
        assert r["lost"] == 0 and r["complete"] is True, where
        assert len(r["per_stream"]) == r["n_streams"] and all(p["lost"] == 0 for p in r["per_stream"]), where
        assert math.isfinite(r["samples_per_s"]) and r["samples_per_s"] > 0 and r["catchup_s"] > 0, where
        assert 0 < r["per_stream_samples_per_s_min"], where
        c = r["service_counters"]  # the backlog and the live samples after it: each decoded once
        assert c["samples_in"] == c["samples_out"] >= r["n_pushed"] and c["samples_lost"] == 0, (where, c)
        assert r["cpu_percent"]["service_total"] > 0 and r["rss_mb"]["service_total"] > 10, where
        assert r["target"]["samples_per_s"] == TARGET_SAMPLES_PER_S and isinstance(r["target"]["met"], bool), where
    targets = [t for t in res["targets"] if t["criterion"].startswith("catch-up")]
    assert sorted(t["kind"] for t in targets) == ["process", "slots"]
    assert all(isinstance(t["met"], bool) for t in targets if t["kind"] in kinds)
    md = (out / "bench.md").read_text(encoding="utf-8")
    assert f"### Catch-up: {CATCHUP_S:g} s backlog per stream pushed at once" in md
    assert md.count("\n| process | 2 | 4,000 | 4,000 | 0 |") == 1


def test_stream_catchup_counts_the_backlog_only() -> None:
    """Backlog rows pushed at t=10 s; outputs arrive until 10.5 s; a live sample after it does not count."""
    stamps = 10.0 - (999 - np.arange(1000)) / 1000.0
    pushed = np.column_stack([stamps, np.full(1000, 10.0)])
    keep = np.setdiff1d(np.arange(1000), [3])
    rec = np.column_stack([stamps[keep], np.linspace(10.1, 10.5, len(keep))])
    rec = np.vstack([rec, [[10.001, 10.6]]])  # live, after the backlog
    r = stream_catchup("s", pushed, rec)
    assert (r["received"], r["lost"]) == (999, 1)
    assert r["catchup_s"] == pytest.approx(0.5) and r["samples_per_s"] == pytest.approx(999 / 0.5)


def test_match_pushes_counts_loss_latency_from_push_and_sender_lag() -> None:
    """Chunks of 10 at 1 kHz: samples are stamped on the schedule, pushed when the chunk's last sample is due."""
    sfreq, chunk = 1000.0, 10
    stamps = 100.0 + np.arange(40) / sfreq
    push = np.repeat(stamps[chunk - 1 :: chunk], chunk)  # on time: when the last sample of each chunk is due
    push[20:30] += 0.003  # the third chunk left 3 ms late
    arrival = push + 0.0005
    keep = np.setdiff1d(np.arange(40), [5, 33])
    rec = np.column_stack([stamps[keep], arrival[keep], np.full(len(keep), -1.0)])
    m = match_pushes(np.column_stack([stamps, push]), rec, (stamps[0], stamps[-1]), chunk, sfreq)
    assert (m["n_pushed"], m["lost"]) == (40, 2)
    assert np.allclose(m["latency_ms"], 0.5)  # from the push, not from the (earlier) stamp
    assert np.allclose(m["lag_ms"][:20], 0.0, atol=1e-9) and np.allclose(m["lag_ms"][20:30], 3.0)
    inner = match_pushes(np.column_stack([stamps, push]), rec, (stamps[10], stamps[19]), chunk, sfreq)
    assert (inner["n_pushed"], inner["lost"]) == (10, 0)


def test_cli_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from click.testing import CliRunner

    from bci_stream.cli import main as cli_main
    from latency_bench.__main__ import _parser

    args = _parser().parse_args(["scale", "--scale-levels", "1,4,16", "--chunk-sizes", "1,10", "--kinds", "relay"])
    assert (args.scale_levels, args.chunk_sizes, args.kinds) == ([1, 4, 16], [1, 10], "relay")
    assert _parser().parse_args(["scale", "--catchup-streams", "1,4", "--backlog-s", "30"]).catchup_streams == [1, 4]
    assert _parser().parse_args(["scale", "--catchup-streams", "0"]).catchup_streams == []  # no catch-up rows
    for bad in (["--chunk-sizes", "0,10"], ["--chunk-sizes", "ten"], ["--scale-levels", "0"],
                ["--catchup-streams", "0,2"]):
        with pytest.raises(SystemExit):
            _parser().parse_args(["scale", *bad])
    err = capsys.readouterr().err
    assert "--chunk-sizes must be samples per push >= 1, got '0,10'" in err
    assert "--chunk-sizes must be comma-separated samples per push, got 'ten'" in err
    res = CliRunner().invoke(cli_main, ["bench", "scale", "--chunk-sizes", "0"])
    assert res.exit_code == 2, res.output


def test_missing_timeflux_setup_failure_is_reported_not_raised(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No interpreter for timeflux and a setup that cannot run: an unavailable peer saying why, no exception."""
    from latency_bench import peers

    monkeypatch.setattr(peers, "TIMEFLUX_VENV", tmp_path / "venv-timeflux")
    monkeypatch.delenv(peers.TIMEFLUX_ENV_VAR, raising=False)
    monkeypatch.delenv(peers.NO_SETUP_ENV_VAR, raising=False)
    said: list[str] = []
    st = peers.ensure_timeflux(None, said.append, tmp_path / "setup.log", base_python=str(tmp_path / "no-python"))
    assert not st.available and "failed (exit code 127" in st.reason and str(tmp_path / "setup.log") in st.reason
    assert said[0].startswith("timeflux peer missing: setting it up in") and "not available" in said[-1]
    monkeypatch.setenv(peers.NO_SETUP_ENV_VAR, "1")
    st = peers.ensure_timeflux(None, said.append)
    assert not st.available and f"not set up because {peers.NO_SETUP_ENV_VAR} is set" in st.reason


def test_every_help_page_renders(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m latency_bench --help` and each sub-command's --help print (a bare '%' in a help text made
    argparse raise instead)."""
    from latency_bench.__main__ import _parser

    parser = _parser()
    for argv in (["--help"], *([cmd, "--help"] for cmd in ("e2e", "scale", "soak", "grid", "all", "inference"))):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args(argv)
        assert exc.value.code == 0, argv
    assert "usage" in capsys.readouterr().out
