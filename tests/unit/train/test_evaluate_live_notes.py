"""``evaluate --live``'s notes: the service's "cannot keep up" warning during a sped-up replay is followed by what
it means at the stream's real rate (audit s43, F7: a first-day user read the warning as the model's fault), and trials
a decision time past their file's end leaves undecided are said (audit s44b)."""

from __future__ import annotations

import pytest

from bci_stream.service.saturation import SaturationWatch
from bci_stream.train.evaluate.live_service import saturation_note


def _load(busy: float, rate: float, sfreq: float, worker_busy: float | None = None) -> dict:
    """A status ``load`` as the service builds it: the figures, and the warning its saturation watch gives them."""
    figures = {"window_s": 10.0, "input_rate_hz": rate, "busy": busy, "samples_lost": 0, "backlog_max": 0,
               "backlog_samples": 0, "worker_busy": worker_busy}
    watch = SaturationWatch(lambda now: dict(figures), sfreq, 10.0, lambda kind, **kw: None, "decoder x",
                            shared=worker_busy is not None)
    return figures | {"warning": watch.check(figures)}  # as describe() gives them, a shared worker's busy share too


def test_a_warning_at_8x_that_real_time_would_not_give_is_said_to_be_the_speed_ups() -> None:
    load = _load(0.96, 1280.0, 160.0)
    assert load["warning"] and "cannot keep up" in load["warning"]
    note = saturation_note(load, 8.0, 160.0, "S001R10.edf")
    assert note is not None and note.startswith("S001R10.edf: the service's 'cannot keep up' warning came from the "
                                                "replay at 8x: it pulled 1280 samples/s (the replay pushes 1280: "
                                                "160 Hz x 8)")
    assert "0.750 ms of work per sample; at 160 Hz that is busy about 12%, so at 1x it keeps up" in note


def test_a_shared_workers_busy_share_counts_and_a_model_too_slow_for_real_time_is_said_so() -> None:
    note = saturation_note(_load(0.3, 330.0, 160.0, worker_busy=0.99), 2.0, 160.0, "run.fif")
    assert note is not None and "busy 99%" in note and "busy about 48%" in note and "keeps up" in note
    note = saturation_note(_load(0.98, 170.0, 160.0), 1.5, 160.0, "run.fif")  # the sender could not reach 1.5x
    assert note is not None and "busy about 92%" in note and "keeps up" in note
    note = saturation_note(_load(0.99, 165.0, 160.0), 2.0, 160.0, "run.fif")
    assert note is not None and "busy about 96%, so it would not keep up at 1x either" in note


@pytest.mark.parametrize("load, speed", [(None, 8.0), ({"warning": None, "busy": 0.5, "input_rate_hz": 100.0}, 8.0),
                                         ("warned", 1.0)])
def test_no_note_without_a_warning_or_at_real_time(load, speed) -> None:
    load = _load(0.97, 160.0, 160.0) if load == "warned" else load
    assert saturation_note(load, speed, 160.0, "run.fif") is None


def test_trials_a_live_evaluation_cannot_decide_are_said() -> None:
    """Audit s44b: at --decision-times 4.5 the last cue of S002R13 (118.9 s of 123.0 s) is not decided; the live table
    showed 14/14 beside 15 trials with no word why (offline evaluate says it)."""
    from bci_stream.train.evaluate.live_trials import undecided_notes

    acc = {"1s": {"n_trials": 15}, "4.5s": {"n_trials": 14}}
    per_file = [{"file": "/data/S002R13.edf", "n_trials": 15, "accuracy": acc},
                {"file": "/data/S002R14.edf", "n_trials": 15, "accuracy": {k: {"n_trials": 15} for k in acc}}]
    assert undecided_notes(per_file, [1.0, 4.5]) == [
        "at 4.5 s, trials not decided (S002R13.edf: 1 of 15): cue + 4.5 s is past the end of their file; the figures "
        "at 4.5 s are of the decided trials"]
    assert undecided_notes(per_file[1:], [1.0, 4.5]) == []
