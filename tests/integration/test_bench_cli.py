"""The command lines of latency_bench: what latency_bench/README.md shows parses with the real parsers, each
sub-command refuses the flags it does not use, bad counts and non-bench files are refused with exit 2, and a
failed section makes the run exit 1. No benchmark is measured except one tiny `grid` run."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import replace
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bci_stream.cli import bench as bench_cmd, bench_argv, main as cli_main
from latency_bench import grid as grid_mod, suite
from latency_bench.__main__ import main as bench_main
from latency_bench.cli_args import RUN_OPTIONS, RUNS, options_of, build_parser, parse_args

README = Path(__file__).resolve().parents[2] / "latency_bench" / "README.md"


def _readme_commands() -> list[list[str]]:
    """Every `python -m latency_bench ...` and `bci-stream bench ...` line of the README's fenced blocks."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    lines = [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()]
    return [t for t in lines if t[:3] == ["python", "-m", "latency_bench"] or t[:2] == ["bci-stream", "bench"]]


def _parse_readme_line(tokens: list[str]) -> None:
    if tokens[0] == "python":
        parse_args(tokens[3:])
        return
    with bench_cmd.make_context("bench", tokens[2:]) as ctx:  # click's own parsing and checks of `bench`
        parse_args(bench_argv(**ctx.params))


def test_every_documented_command_line_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = _readme_commands()
    assert len(commands) >= 15, commands
    documented = {t[3] if t[0] == "python" else t[2] for t in commands}
    assert set(RUNS) | {"inference", "compare", "readme", "cpu-profile", "slots"} <= documented
    monkeypatch.chdir(tmp_path)  # `--compare OLD/bench.json` must exist for click
    for tokens in commands:
        for t in tokens:
            if t.endswith(".json"):
                (tmp_path / t).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / t).write_text("{}")
    for tokens in commands:
        try:
            _parse_readme_line(tokens)
        except SystemExit as exc:
            pytest.fail(f"README command line refused ({exc.code}): {' '.join(tokens)}")


def test_shrink_flags_are_taken_where_documented() -> None:
    """The README's shrink paragraph: each flag is accepted by the sub-commands that use it."""
    assert parse_args(["inference", "--inference-steps", "7"]).inference_steps == 7
    assert parse_args(["grid", "--grid-steps", "7"]).grid_steps == 7
    a = parse_args(["e2e", "--seconds", "1", "--rounds", "2", "--backlog-s", "1"])
    assert (a.seconds, a.rounds, a.backlog_s) == (1.0, 2, 1.0)
    parser = build_parser()
    for name in RUNS:
        assert set(options_of(parser, name)) == {"--profile", "--out", *RUN_OPTIONS[name]}


@pytest.mark.parametrize("argv, flag", [
    (["scale", "--compare", "x.json"], "--compare"),
    (["scale", "--rounds", "2"], "--rounds"),
    (["e2e", "--chunk-sizes", "1"], "--chunk-sizes"),
    (["all", "--minutes", "1"], "--minutes"),
    (["grid", "--seconds", "1"], "--seconds"),
    (["soak", "--grid-steps", "3"], "--grid-steps"),
    (["inference", "--seconds", "1"], "--seconds"),
    (["slots", "--seconds", "1"], "--seconds"),
])
def test_an_unused_flag_is_refused_naming_it(argv: list[str], flag: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"`{argv[0]}` does not take {flag}" in err and f"latency_bench {argv[0]}" in err


def test_bci_stream_bench_forwards_only_what_the_subcommand_takes() -> None:
    assert bench_argv("soak", "quick", False, None, 2.0, None, []) == ["soak", "--profile", "quick",
                                                                       "--minutes", "2.0"]
    for what, minutes, compare in (("inference", 1.0, None), ("all", 1.0, None), ("slots", None, Path("o.json")),
                                   ("scale", None, Path("o.json"))):
        with pytest.raises(click.UsageError) as exc:
            bench_argv(what, "quick", False, None, minutes, compare, [])
        assert f"`bench {what}`" in str(exc.value) and ("--minutes" if minutes else "--compare") in str(exc.value)
    res = CliRunner().invoke(cli_main, ["bench", "inference", "--minutes", "1"])
    assert res.exit_code == 2 and "--minutes is not an option of `bench inference`" in res.output
    res = CliRunner().invoke(cli_main, ["bench", "inference", "--seconds", "1"])
    assert res.exit_code == 2 and "`inference` does not take --seconds" in res.output


def test_quick_with_profile_full_is_refused() -> None:
    """Audit s68bench F6: `--quick --profile full` ran the quick profile, with no word."""
    res = CliRunner().invoke(cli_main, ["bench", "grid", "--quick", "--profile", "full"])
    assert res.exit_code == 2 and "--quick is --profile quick, which --profile full contradicts" in res.output
    assert bench_argv("grid", "quick", True, None, None, None, [])[:3] == ["grid", "--profile", "quick"]


@pytest.mark.parametrize("what", ["inference", "cpu-profile", "slots", "grid", "scale"])
@pytest.mark.parametrize("where", ["a file", "/proc"])
def test_an_out_folder_that_cannot_be_written_is_refused_before_measuring(tmp_path: Path, what: str, where: str,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Audit s68bench F3: `inference --out FILE` measured every section (minutes in full), then ended in a
    FileExistsError traceback, nothing written; `grid --out /proc/x` a traceback."""
    from latency_bench.__main__ import main as bench_main

    out = tmp_path / "taken" if where == "a file" else Path("/proc/bci-stream-bench")
    if where == "a file":
        out.write_text("")
    assert bench_main([what, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}: ") and ("is a file, not a folder" in err or "cannot write in" in err)


@pytest.mark.parametrize("flag", ["--grid-steps", "--rounds", "--inference-steps", "--streams-per-sender"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_counts_below_one_are_refused_at_parse_time(flag: str, value: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    what = next(w for w in ("inference", *RUNS) if flag in options_of(build_parser(), w))
    with pytest.raises(SystemExit) as exc:
        parse_args([what, flag, value])
    assert exc.value.code == 2
    assert f"argument {flag}: must be an integer >= 1, got {value}" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["e2e", "--seconds", "inf"], "argument --seconds: must be a finite number > 0, got inf"),
    (["scale", "--seconds", "inf"], "argument --seconds: must be a finite number > 0, got inf"),
    (["soak", "--minutes", "inf"], "argument --minutes: must be a finite number > 0, got inf"),
    (["e2e", "--backlog-s", "inf"], "argument --backlog-s: must be a finite number > 0, got inf"),
    (["scale", "--backlog-s", "0.0001"], "argument --backlog-s: must hold at least one sample of the benchmark's "
                                         "1000 Hz streams (>= 0.001 s), got 0.0001"),
    (["e2e", "--paths", "service,bogus"], "argument --paths: must name paths among service, "),
    (["e2e", "--timeflux-python", "/nonexistent/bin/python"], "argument --timeflux-python: no interpreter at "
                                                              "'/nonexistent/bin/python'"),
])
def test_values_no_section_can_run_with_are_refused_at_parse_time(argv: list[str], message: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Before: ``--seconds inf`` ran every phase into an OverflowError and exited 0; ``--paths bogus`` was refused
    only after the catch-up phase had run; a missing ``--timeflux-python`` fell through to the default interpreter."""
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_compare_of_a_non_bench_file_is_an_error_not_a_traceback(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"schema": "bci-stream/bench/1", "created": "t", "sections": {}}))
    inference = tmp_path / "inference.json"
    inference.write_text(json.dumps({"schema": "bci-stream/bench-inference/2"}))
    garbage = tmp_path / "notes.json"
    garbage.write_text("not json")
    assert bench_main(["compare", str(bench), str(bench)]) == 0
    capsys.readouterr()
    for other in (inference, garbage, tmp_path / "missing.json"):
        assert bench_main(["compare", str(bench), str(other)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and str(other) in err and "Traceback" not in err
        if other != tmp_path / "missing.json":
            assert "expected a bench.json written by `e2e`, `soak`, `grid` or `all`" in err
    # a run refuses a bad --compare file before measuring anything
    assert bench_main(["grid", "--compare", str(inference), "--out", str(tmp_path / "never")]) == 2
    assert not (tmp_path / "never").exists()


def test_a_failed_section_makes_the_run_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    # the run that works measures one grid point, not the quick profile's six (six GRU exports; no option chooses the
    # points): the grid's figures are checked by tests/integration/test_bench_e2e.py, here only the exit code
    monkeypatch.setitem(suite.PROFILES, "quick", replace(suite.QUICK, grid_chans=(8,), grid_hiddens=(16,)))
    assert bench_main(["grid", "--grid-steps", "2", "--out", str(tmp_path / "ok")]) == 0
    assert "error" not in json.loads((tmp_path / "ok" / "bench.json").read_text())["sections"]["grid"]

    def broken(*_args: object, **_kwargs: object) -> None:
        raise IndexError("index 0 is out of bounds for axis 0 with size 0")

    monkeypatch.setattr(grid_mod, "run_grid", broken)
    capsys.readouterr()
    assert bench_main(["grid", "--out", str(tmp_path / "bad")]) == 1
    assert "error: 1 section(s) failed: grid" in capsys.readouterr().err
    assert "IndexError" in json.loads((tmp_path / "bad" / "bench.json").read_text())["sections"]["grid"]["error"]


def test_a_run_outside_a_git_checkout_still_writes_its_report_header() -> None:
    """``machine.source`` is ``{"commit": None}`` when the code is not in a git checkout (an installed
    package); the report's header said ``None[:12]`` and the run lost its report."""
    from latency_bench.report import header

    result = {"created": "t", "machine": {"source": {"commit": None, "dirty": None}}, "versions": {},
              "profile": {"name": "quick"}, "command": "python -m latency_bench grid"}
    assert "source unknown" in "\n".join(header(result))
    # a peer not installed: said so, not "None" (audit s68bench F5)
    assert "mne-lsl not installed · timeflux not installed · source" in "\n".join(header(result))


def test_what_bounds_the_missed_goals_quotes_the_goals_table() -> None:
    """The hand-written section under the generated table repeats its headline figures; when `readme` rewrites
    the table, this fails until the section is brought up to date (it quoted an older run's figures)."""
    text = README.read_text(encoding="utf-8")
    table = text.split("## Goals (measured, not asserted)", 1)[1].split("<!-- END bench table -->", 1)[0]
    measured = {row[0]: row[1] for row in (
        [c.strip() for c in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("| "))}
    section = text.split("### What bounds the goals this run missed", 1)[1].split("\n### ", 1)[0]
    heads = re.findall(r"^- \*\*(.+?)\*\*", section, flags=re.M)
    assert len(heads) == 4, heads
    p50 = measured["service e2e p50 <= 1.3x the relay floor (1 kHz)"]
    p99 = measured["service e2e p99 <= 1.5x the relay floor (1 kHz)"]
    catchup = measured["catch-up >= 100,000 samples/s (64ch/H128/L2 GRU, end to end)"]
    streams = measured[">= 16 concurrent streams with 0 loss and p99 <= 5 ms"]
    assert heads[0].startswith(f"e2e p50 {p50}× the relay"), heads[0]
    assert heads[1].startswith(f"e2e p99 {p99}× the relay"), heads[1]
    assert heads[2].startswith(f"Catch-up {catchup} samples/s"), heads[2]
    assert f"measured {streams})" in heads[3], heads[3]


def test_a_run_stopped_with_sigterm_removes_its_work_folder(tmp_path: Path) -> None:
    """``timeout`` or a cancelled CI job sends SIGTERM: the run ends as after Ctrl-C, its processes stopped and its
    ``bci-bench-*`` work folder removed (it was left behind)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "TMPDIR": str(tmp_path), "BCI_STREAM_BENCH_NO_SETUP": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "latency_bench", "e2e", "--seconds", "30", "--rounds", "1",
                             "--paths", "relay", "--out", str(tmp_path / "out")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("bci-bench-*")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert list(tmp_path.glob("bci-bench-*")), "the run made no work folder"
        time.sleep(1.0)  # into the run
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list(tmp_path.glob("bci-bench-*")) == []


def test_an_e2e_path_that_was_tried_and_measured_nothing_makes_the_run_exit_1() -> None:
    """A service path whose decoder was refused (``POST /decoders`` 422) was reported as a missing peer is ("not
    run") and the run exited 0; a peer that is not installed stays "not run" with exit 0."""
    from latency_bench.__main__ import _exit_code

    said: list[str] = []
    missing = {"sections": {"e2e": {"1kHz": {"paths": {"timeflux": {"available": False, "reason": "not installed"}}}}}}
    assert _exit_code(missing, said.append) == 0 and said == []
    failed = {"sections": {"e2e": {"1kHz": {"paths": {
        "service": {"available": False, "failed": True, "reason": "POST /decoders answered 422"},
        "timeflux": {"available": False, "reason": "not installed"}}}}}}
    assert _exit_code(failed, said.append) == 1 and said == ["error: 1 section(s) failed: e2e 1kHz service (see the "
                                                             "report)"]


def test_a_scale_kind_of_which_no_level_was_set_up_makes_the_run_exit_1() -> None:
    """Every decoder of a kind refused (its first level not run), or a catch-up row that received nothing: in the
    report, and the run exited 0. A higher level not set up (too little memory) after a measured one is a result."""
    from latency_bench.__main__ import _exit_code

    said: list[str] = []
    rows = [{"kind": "process", "chunk_size": 1, "n_streams": 1}]
    higher = {"kind": "process", "chunk_size": 1, "n_streams": 4, "reason": "too little memory"}
    first = {"kind": "slots", "chunk_size": 1, "n_streams": 1, "reason": "POST /decoders answered 422"}
    catchup = {"kind": "slots", "n_streams": 4, "received": 0}
    assert _exit_code({"rows": rows, "levels_not_run": [higher], "catchup": [catchup | {"received": 9}]},
                      said.append) == 0 and said == []
    assert _exit_code({"rows": rows, "levels_not_run": [higher, first], "catchup": [catchup]}, said.append) == 1
    assert said == ["error: 2 section(s) failed: scale slots (chunks of 1): no level set up, scale catch-up slots "
                    "(4 stream(s)): nothing received (see the report)"]


def test_a_failed_role_process_is_quoted_without_liblsls_info_lines() -> None:
    """A level "not run" quoted the last five lines of the failed process's log: liblsl's banner, not the error."""
    from latency_bench.procs import log_tail

    info = [f"2026-12-03 07:45:40.{i:03d} (  63.080s) [        B0C82B80]         api_config.cpp:126   INFO| line {i}"
            for i in range(5)]
    warn = "2026-12-03 07:45:41.000 (  64.000s) [        B0C82B80]      netinterfaces.cpp:91   WARN| no IPv6"
    error = ["Traceback (most recent call last):", "RuntimeError: cannot open the stream 'x'"]
    assert log_tail("\n".join([*error, *info, warn, ""])) == ("log: Traceback (most recent call last): | "
                                                              f"RuntimeError: cannot open the stream 'x' | {warn}")
    assert log_tail("\n".join(info)) == "empty log (only liblsl's INFO lines)" and log_tail(" \n") == "empty log"


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_a_lookahead_report_that_is_no_file_is_refused_before_measuring(tmp_path: Path, capsys, kind: str) -> None:
    """Before: a missing report was found only after the whole run (and it exited 0), a folder raised
    IsADirectoryError in the report's section (audit s60bench F6)."""
    report = tmp_path / "nosuch.json" if kind == "missing" else tmp_path
    assert bench_main(["all", "--lookahead-report", str(report), "--out", str(tmp_path / "out")]) == 2
    said = capsys.readouterr().err
    assert "--lookahead-report" in said and str(report) in said, said
    assert ("no such file" if kind == "missing" else "a folder") in said, said
    assert not (tmp_path / "out").exists()
