"""`python -m latency_bench readme RESULT.json` writes latency_bench/README.md's table, documented as coming from a
full run: a result of another profile is refused (exit 2, naming the profile and --force) and, with --force, written
with a warning (the table's header names the profile)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import latency_bench.__main__ as bench_main_mod
from latency_bench.report import README_BEGIN


def _result(tmp_path: Path, profile: str) -> Path:
    """A bench.json with no measured section: what `readme` needs to write its header."""
    path = tmp_path / f"{profile}.json"
    path.write_text(json.dumps({
        "schema": "bci-stream/bench/1", "what": "all", "created": "2026-12-01T09:00:00Z",
        "command": f"python -m latency_bench all --profile {profile}", "profile": {"name": profile},
        "machine": {"cpu_count": 2, "loadavg_start": [0.1, 0.1, 0.1], "loadavg_end": [0.1, 0.1, 0.1]},
        "versions": {}, "sections": {}, "wall_s": 1.0, "goals": {}}), encoding="utf-8")
    return path


@pytest.fixture()
def readme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for latency_bench/README.md (the real one is never written by the tests)."""
    path = tmp_path / "README.md"
    path.write_text("# bench\n", encoding="utf-8")
    monkeypatch.setattr(bench_main_mod, "README", path)
    return path


def test_a_quick_result_is_refused_naming_the_profile_and_force(tmp_path: Path, readme: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main_mod.main(["readme", str(_result(tmp_path, "quick"))]) == 2
    err = capsys.readouterr().err
    assert "the result's profile is 'quick', not 'full'" in err and "pass --force" in err
    assert readme.read_text(encoding="utf-8") == "# bench\n"


def test_force_writes_it_with_a_warning(tmp_path: Path, readme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main_mod.main(["readme", "--force", str(_result(tmp_path, "quick"))]) == 0
    assert "warning: the result's profile is 'quick'" in capsys.readouterr().err
    text = readme.read_text(encoding="utf-8")
    assert README_BEGIN in text and "profile `quick`" in text


def test_a_full_result_is_written_without_a_word(tmp_path: Path, readme: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main_mod.main(["readme", str(_result(tmp_path, "full"))]) == 0
    assert "warning" not in capsys.readouterr().err and "profile `full`" in readme.read_text(encoding="utf-8")
