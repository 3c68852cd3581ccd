"""``evaluate --decision-times`` with a time past the end of every trial's file (audit s52cal, finding 2): before, a
time such as 200 s on runs of 123 s printed an empty row ("n=0; 15 of 15 not decided") and exited 0, offline and with
``--live`` (after the whole replay). Now it is refused before any decoding or replay, naming ``--decision-times``,
the rule, the time and the latest time a trial allows. A time past some trials' end is still scored on the decided
ones, and one past every trial's end beside times that decide some is scored n=0, each with the count of those not
decided (as an earlier audit made it: test_evaluate_inputs). Real EEG: the repository's S001 R10 subset (21
channels) and the bundled GRU."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from support.common import REPO, SUBSET_S001_21CH, subset_file

pytest.importorskip("mne")

GRU = REPO / "models" / "eegmmidb-s001-gru"
R10 = SUBSET_S001_21CH / "S001R10.edf"


def _evaluate(*args: str):
    return CliRunner().invoke(main, ["evaluate", str(GRU), "--data", str(subset_file(R10)), *args])


def test_a_time_past_every_trial_is_refused_offline_naming_the_flag_and_value() -> None:
    res = _evaluate("--decision-times", "200,300")
    assert res.exit_code == 2, res.output
    assert "decision_times (--decision-times) must leave some trial decided: a trial is decided at cue + t" in (
        res.output)
    assert "at 200, 300 s none of the" in res.output and "got 200,300" in res.output, res.output
    assert "trial accuracy @" not in res.output
    res = _evaluate("--decision-times", "2,200")  # 2 s decides them: scored, 200 s as n=0 with why
    assert res.exit_code == 0 and "@ 200s: instant –  mean –  (n=0; " in res.output, res.output


def test_a_time_past_some_trials_only_is_scored_on_the_decided_ones() -> None:
    from bci_stream.io import load_recording

    rec = load_recording(subset_file(R10))
    last_cue = max(e.onset for e in rec.events if e.description in ("T1", "T2"))
    late = (rec.n_times - 1 - last_cue) / rec.sfreq + 1.0  # past the last cue's file end, not the first's
    res = _evaluate("--decision-times", f"{late:.2f}")
    assert res.exit_code == 0, res.output
    assert "not decided: cue + " in res.output, res.output


def test_live_refuses_it_before_the_service_starts() -> None:
    from bci_stream.train.evaluate.live import LiveEvaluationError, evaluate_live

    with pytest.raises(LiveEvaluationError, match=r"decision_times \(--decision-times\) must leave some trial "
                                                  r"decided.*at 200 s none of the"):
        evaluate_live(GRU.name, [subset_file(R10)], None, models_dir=REPO / "models", speed=8.0,
                      decision_times=(200.0,))
