"""Bad marks as a lab's files carry them (review s19, F4-F7, F10): a zero-duration ``--bad-events`` mark at its trial's
start (BCI IV 2a's ``1023`` at the ``768``, 2 s before the cue) leaves that trial out; mne's ``concatenate_raws``
junction (``BAD boundary`` / ``EDGE boundary``) is a discontinuity with settling, as EEGLAB's ``boundary``;
offline ``evaluate`` checks ``--bad-events`` as ``calibrate`` does and does not score the samples of marked data;
one sentence says NaN/inf were held. Real EEG: the repository's EDF subset (S001 R05/R06, 21 channels, 160 Hz),
rewritten by mne as FIF with the marks added; the model is calibrated on the clean R06."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.io import load_recording
from bci_stream.io.recording import Event
from bci_stream.train.classical.bad_spans import bad_spans, leave_out, settle_s
from bci_stream.train.classical.calibration_inputs import LEFT_OUT_THEN, load_calibration
from bci_stream.train.classical.data import Trials
from support.common import subset_file
from support.marked import LABELS, R05, R06, SFREQ, calibrated_once, cues, marked_fif

mne = pytest.importorskip("mne")

CUES_2A = {"769", "770"}


def _left(events: list[Event], onsets: list[int], **kw) -> list[int]:
    """The onsets of ``onsets`` (trials at 160 Hz) that the spans of ``events`` leave out."""
    spans = bad_spans(events, [], SFREQ, **kw)
    kept, _ = leave_out(Trials(np.array(onsets), np.zeros(len(onsets), dtype=np.int64)), spans, SFREQ, ["a"], "x")
    return sorted(set(onsets) - set(kept.onsets.tolist()))


def test_a_zero_duration_mark_at_the_trial_start_marks_the_next_cue_only() -> None:
    start = [Event(680, 0, "768"), Event(680, 0, "1023"), Event(1000, 0, "769"),
             Event(1900, 0, "768"), Event(2220, 0, "770")]
    assert _left(start, [1000, 2220], bad_events=["1023"], cues=CUES_2A) == [1000]
    assert _left(start, [1000, 2220], bad_events=["1023"]) == []  # without the cues: one sample, as before
    # inside a trial's span (cue to cue + 3 s): that trial only, even when the next event is the next cue
    inside = [Event(1000, 0, "769"), Event(1200, 0, "1023"), Event(1600, 0, "770")]
    assert _left(inside, [1000, 1600], bad_events=["1023"], cues=CUES_2A) == [1000]
    # another event (the next trial's 768, an unlabelled class's cue) comes first: nothing is marked
    other = [Event(680, 0, "1023"), Event(900, 0, "768"), Event(1000, 0, "769")]
    assert _left(other, [1000], bad_events=["1023"], cues=CUES_2A) == []
    unlabelled = [Event(680, 0, "1023"), Event(1000, 0, "771"), Event(2220, 0, "769")]
    assert _left(unlabelled, [2220], bad_events=["1023"], cues=CUES_2A) == []
    # a bad annotation between the mark and the cue does not stop it
    blink = [Event(680, 0, "1023"), Event(800, 16, "BAD_blink"), Event(1000, 0, "769")]
    assert _left(blink, [1000], bad_events=["1023"], cues=CUES_2A) == [1000]


def test_calibrate_leaves_out_the_trial_of_a_mark_at_its_start_and_says_an_idle_one(tmp_path: Path) -> None:
    c = cues()
    t = [o / SFREQ for o, _ in c]
    a = marked_fif(tmp_path / "start_raw.fif", extra=[(t[2] - 2.0, 0.0, "1023"), (t[5] + 3.5, 0.0, "1023")])
    prep = load_calibration([a, subset_file(R06)], LABELS, bad_events=["1023"])
    assert [int(o) for o in prep.runs[0].trials.onsets] == [o for i, (o, _) in enumerate(c) if i != 2]
    assert f"left out 1 trial(s) of start_raw.fif: 1 overlap 1023 ({c[2][1]} 1)" in prep.notes, prep.notes
    idle = marked_fif(tmp_path / "idle_raw.fif", extra=[(t[5] + 3.5, 0.0, "1023")])  # after the span, before T0
    prep = load_calibration([idle, subset_file(R06)], LABELS, bad_events=["1023"])
    assert len(prep.runs[0].trials) == len(c) and prep.left_out == []
    assert ("--bad-events ['1023']: no such event overlaps a trial's span (cue to cue + 3 s) or, without a duration, "
            "lies at most 3 s before a cue that is the next event after it, so none is left out for them (a mark "
            "farther from its next cue spans its one sample)") in prep.notes, prep.notes


def test_mne_concatenation_junctions_get_the_settling_time() -> None:
    settle = int(np.ceil(settle_s(SFREQ) * SFREQ))
    for marks in ([Event(1000, 0, "BAD boundary"), Event(1000, 0, "EDGE boundary")], [Event(1000, 0, "Boundary")]):
        assert _left(marks, [1001, 1000 + settle - 1, 1000 + settle]) == [1001, 1000 + settle - 1]
    spans = bad_spans([Event(1000, 0, "EDGE boundary")], [], SFREQ)
    assert [(s.start, s.stop, s.reason) for s in spans] == [(1000, 1000 + settle, "EDGE boundary")]
    # a bad annotation is the mark as drawn: no settling after it
    assert _left([Event(900, 80, "BAD_blink")], [980, 1000]) == []


def test_calibrate_on_runs_joined_by_mne_leaves_out_the_cue_settling_after_the_junction(tmp_path: Path) -> None:
    first = mne.io.read_raw_fif(marked_fif(tmp_path / "r05_raw.fif"), preload=True, verbose="error")
    c6 = cues(R06)
    second = mne.io.read_raw_fif(marked_fif(tmp_path / "r06_raw.fif", src=R06), preload=True, verbose="error")
    second.crop(tmin=c6[0][0] / SFREQ - 1.0)  # the junction 1 s before R06's first cue
    junction = first.n_times
    joined = mne.concatenate_raws([first, second], verbose="error")  # joins into ``first``
    path = tmp_path / "joined_raw.fif"
    joined.save(path, verbose="error")
    rec = load_recording(path)
    assert {(e.onset, e.description) for e in rec.events if "boundary" in e.description.lower()} == {
        (junction, "BAD boundary"), (junction, "EDGE boundary")}
    prep = load_calibration([path], LABELS)
    assert junction + 160 not in prep.runs[0].trials.onsets.tolist()
    assert len(prep.runs[0].trials) == len(cues()) + len(c6) - 1
    assert any(n.startswith("left out 1 trial(s) of joined_raw.fif: 1 overlap ") and
               f"boundary + {settle_s(SFREQ):.1f} s settling ({c6[0][1]} 1)" in n for n in prep.notes), prep.notes


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return calibrated_once(tmp_path_factory)  # the same model as test_bad_spans_review2_fixes's: made once


def test_evaluate_checks_bad_events_as_calibrate_does(models: Path, tmp_path: Path) -> None:
    from bci_stream.core.errors import ModelError
    from bci_stream.train.evaluate.offline import evaluate_target

    with pytest.raises(ModelError, match=r"--bad-events names event\(s\) \['T1'\] that the label map \(--labels\) "
                                         "maps to a class"):
        evaluate_target("clean", [subset_file(R05)], label_map=LABELS, models_dir=models, bad_events=["T1"])
    res = evaluate_target("clean", [subset_file(R05)], label_map=LABELS, models_dir=models, bad_events=["1O23"])
    assert ("warning: --bad-events names event(s) ['1O23'] that no file has: no trial is left out for them (the files' "
            "events: 'T0', 'T1', 'T2')") in res["notes"], res["notes"]  # a warning (audit s52cal F4)
    t = [o / SFREQ for o, _ in cues()]
    path = marked_fif(tmp_path / "start_raw.fif", extra=[(t[2] - 2.0, 0.0, "1023")])
    run = CliRunner().invoke(main, ["evaluate", "clean", "--models-dir", str(models), "--data", str(path),
                                    "--labels", "T1=fists,T2=feet", "--bad-events", " 1023 ,"])
    assert run.exit_code == 0, run.output
    assert "note: left out 1 trial(s) of start_raw.fif: 1 overlap 1023" in run.output, run.output
    run = CliRunner().invoke(main, ["evaluate", "clean", "--models-dir", str(models), "--data", str(path),
                                    "--labels", "T1=fists,T2=feet", "--bad-events", "T2"])
    assert run.exit_code != 0 and "that the label map (--labels) maps to a class" in run.output, run.output


def test_evaluate_does_not_score_the_samples_of_marked_data(models: Path, tmp_path: Path) -> None:
    from bci_stream.train.evaluate.offline import evaluate_target

    c = cues()
    t = [o / SFREQ for o, _ in c]
    names = load_recording(subset_file(R05)).ch_names
    path = marked_fif(tmp_path / "late_raw.fif", extra=[(t[1] + 3.3, 0.5, "BAD_muscle")],  # past the 3 s span
                      nan=[([names.index("C3.."), names.index("Cz..")], t[4] + 3.3, t[4] + 3.8, np.nan)])
    clean = evaluate_target("clean", [subset_file(R05)], label_map=LABELS, models_dir=models)["metrics"]
    res = evaluate_target("clean", [path], label_map=LABELS, models_dir=models)
    m = res["metrics"]
    assert res["trials_left_out"] == [] and m["n_trials"] == clean["n_trials"] == len(c)  # no trial split in two
    label = 656  # each cue's label (4.1 s): from cue + 3.3 s on, the rest of both labels is not scored
    assert m["n_samples_labelled"] == clean["n_samples_labelled"] - 2 * (label - int(round(3.3 * SFREQ)))


def test_one_sentence_says_that_nan_were_held(models: Path, tmp_path: Path) -> None:
    from bci_stream.train.classical.bad_spans import nonfinite_note
    from bci_stream.train.evaluate.offline import evaluate_target

    t = [o / SFREQ for o, _ in cues()]
    names = load_recording(subset_file(R05)).ch_names
    path = marked_fif(tmp_path / "late_raw.fif", nan=[([names.index("C3.."), names.index("Cz..")], t[4] + 3.3,
                                                        t[4] + 3.8, np.nan)])
    res = evaluate_target("clean", [path], label_map=LABELS, models_dir=models)
    note = nonfinite_note(path, 160, "in the model's channels")
    assert note in res["notes"], res["notes"]
    assert note.startswith("late_raw.fif: 160 non-finite value(s) (NaN/inf) in the model's channels were replaced by "
                           "the channel's last finite value (nan_policy hold, as the service does)")
    start = cues()[4][0] + int(round(3.3 * SFREQ))
    said = nonfinite_note(path, 160, "on 2 channel(s) (C3.., Cz..)", stretches=[(start, start + 80)], sfreq=SFREQ,
                          then=LEFT_OUT_THEN)
    assert said in load_calibration([path, subset_file(R06)], LABELS).notes
