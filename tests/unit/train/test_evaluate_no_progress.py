"""``evaluate --no-progress`` (audit s52cal, finding 6): ``calibrate`` and ``train`` take it, ``evaluate`` refused it
("No such option"). With ``--live`` it drops the progress lines (the service's address, each file's replay), keeps the
warnings said before the replay; offline ``evaluate`` draws no progress and takes the flag alike (scripts give both
commands one set of flags). Real EEG: the repository's S001 R10 subset and the bundled GRU."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from support.common import REPO, SUBSET_S001_21CH, subset_file

pytest.importorskip("mne")

GRU = REPO / "models" / "eegmmidb-s001-gru"
R10 = SUBSET_S001_21CH / "S001R10.edf"


def test_offline_evaluate_takes_no_progress() -> None:
    res = CliRunner().invoke(main, ["evaluate", str(GRU), "--data", str(subset_file(R10)), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "trial accuracy @" in res.output


@pytest.mark.parametrize("flag", [[], ["--no-progress"]])
def test_live_no_progress_drops_the_progress_lines_and_keeps_the_warnings(monkeypatch: pytest.MonkeyPatch,
                                                                        flag: list[str]) -> None:
    from bci_stream.train.evaluate import live

    def fake(*_args, echo, **_kwargs):  # what evaluate_live says on its way, then a refusal: no replay here
        echo("warning: a warning said before the replay")
        echo("service on http://127.0.0.1:1; model m, replay at 4x")
        raise live.LiveEvaluationError("stopped here")

    monkeypatch.setattr(live, "evaluate_live", fake)
    res = CliRunner().invoke(main, ["evaluate", str(GRU), "--data", str(subset_file(R10)), "--live", *flag])
    assert res.exit_code == 2 and "stopped here" in res.output, res.output
    assert "warning: a warning said before the replay" in res.output
    assert ("service on" in res.output) is not bool(flag), res.output
