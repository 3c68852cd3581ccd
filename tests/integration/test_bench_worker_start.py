"""``python -m latency_bench.worker_start``: a worker's start-up CPU with the service's context beside spawn, in one
run (a benchmark: the test checks what it reports, never how fast)."""

from __future__ import annotations

import pytest

from latency_bench.worker_start import main, measure


def test_both_contexts_are_measured_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    result = measure(1)
    assert set(result) == {"spawn", "service"}
    for fig in result.values():
        assert len(fig["cpu_s"]) == len(fig["wall_s"]) == 1 and fig["cpu_s"][0] > 0
    assert main(["--starts", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("spawn (fresh interpreter)") and lines[1].startswith("service (worker_context)")
    assert lines[2].startswith("service / spawn median cpu: ")


def test_starts_below_one_is_refused_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--starts", "0"])
    assert exc.value.code == 2 and "--starts must be >= 1, got 0" in capsys.readouterr().err
