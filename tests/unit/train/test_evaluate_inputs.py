"""`bci-stream evaluate` reads every recording `calibrate` accepts (audits s14: calibrate #4/#8, interop #4).

Real EEG: S001R06 of the repository's subset (64 channels, 160 Hz, imagined fists/feet) and the bundled
calibrate-made model `eegmmidb-s001` (64 channels, T1=fists, T2=feet). The files below hold the same samples as the
EDF in other layouts: a session written by the service's own Recorder (cue markers of zero duration, the service's
decoded/provenance/events streams beside them), a LabRecorder-like XDF with two signal and two marker streams, and
an NPZ whose channels are only numbered. Each must score exactly as the EDF does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("pyxdf")

from bci_stream.cli import main  # noqa: E402
from support.common import REPO, SUBSET_R06, subset_file  # noqa: E402
from support.session_xdf import crop as _crop, service_session  # noqa: E402

MODELS = REPO / "models"
MODEL = "eegmmidb-s001"  # made by calibrate: its card has no label window and no reader options
CROP_S = 34.0  # its first 4 cues (2 fists, 2 feet), the last one scored to cue + 3 s
SHORT_S = 20.0  # its first 2 cues (a fists, a feet): for the checks that count no trial (a shorter decode)


@pytest.fixture(scope="module")
def edf_rec():
    from bci_stream.io import load_recording

    return load_recording(subset_file(SUBSET_R06))


@pytest.fixture(scope="module")
def session(tmp_path_factory, edf_rec) -> Path:
    return service_session(tmp_path_factory.mktemp("session") / "session.xdf", _crop(edf_rec, CROP_S))


def _run(*args: str):
    return CliRunner().invoke(main, ["evaluate", *args], catch_exceptions=False)


def _table(output: str) -> list[str]:
    """The scores evaluate prints (its summary line and one line per decision time), without ``wrote ...``."""
    lines = output.splitlines()
    start = next(i for i, ln in enumerate(lines) if " file(s): " in ln)
    return [ln for ln in lines[start:] if not ln.startswith("wrote ")]


@pytest.fixture(scope="module")
def from_edf(tmp_path_factory, edf_rec) -> tuple[dict, list[str]]:
    """`evaluate` (with --out) of the EDF's first CROP_S s as NPZ, the reference every other layout must score as:
    its result as written to evaluation.json, and the scores it printed. Decoded once for the tests below."""
    folder = tmp_path_factory.mktemp("from_edf")
    crop = _npz(folder / "crop.npz", _crop(edf_rec, CROP_S))
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(crop), "--out", str(folder / "ev"))
    assert res.exit_code == 0, res.output
    return json.loads((folder / "ev" / "evaluation.json").read_text())["evaluation"], _table(res.output)


def test_a_service_recording_scores_as_the_edf_it_was_streamed_from(session, from_edf, tmp_path):
    """Its cues have zero duration: evaluate labels each until the next event and scores trials at the cues,
    as calibrate does (before: 'all have zero duration; give label_window=...' with a run-config hint). Both
    results as evaluate writes them (evaluation.json)."""
    edf = from_edf[0]["metrics"]
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(session), "--out", str(tmp_path / "ev"))
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "ev" / "evaluation.json").read_text())["evaluation"]
    assert got["metrics"]["trials_per_class"] == edf["trials_per_class"] == {"fists": 2, "feet": 2}
    assert got["metrics"]["trial_accuracy"] == edf["trial_accuracy"]
    assert got["notes"] == ["session.xdf: its 4 cue(s) have no duration (markers); each labels the span until the "
                            "next event, trials start at the cues"]
    assert "4 trials {'fists': 2, 'feet': 2}" in res.output and "note: session.xdf: its 4 cue(s)" in res.output


def test_consecutive_cues_of_one_class_stay_separate_trials():
    from bci_stream.io.recording import Event
    from bci_stream.train.evaluate.inputs import cue_spans
    from bci_stream.train.evaluate.metrics import find_trials

    events = [Event(10, 0, "T1"), Event(30, 0, "T1"), Event(50, 0, "T0"), Event(60, 0, "T2"), Event(80, 0, "T2")]
    lookup = {"T1": "a", "T2": "b"}
    spans = cue_spans(events, 100, lookup)
    assert [(e.onset, e.duration) for e in spans] == [(10, 19), (30, 20), (50, 0), (60, 19), (80, 20)]
    labels = np.full(100, -1)
    for e in spans:
        if e.description in lookup:
            labels[e.onset:e.onset + e.duration] = 0 if lookup[e.description] == "a" else 1
    assert [(t.onset, t.label) for t in find_trials(labels, [0, 1])] == [(10, 0), (30, 0), (60, 1), (80, 1)]


def test_stream_and_marker_stream_choose_in_a_labrecorder_file(tmp_path, edf_rec, from_edf):
    from support.xdf import write_xdf

    rec = _crop(edf_rec, CROP_S)
    stamps = 100.0 + np.arange(rec.n_times) / rec.sfreq
    cues = [e for e in rec.events]
    path = write_xdf(tmp_path / "lab.xdf", stamps, [
        ("actiCHamp", "EEG", rec.ch_names, rec.sfreq, rec.data.T, "microvolts"),
        ("gaze", "Gaze", ["x", "y"], rec.sfreq, np.zeros((rec.n_times, 2)), "px")],
        [("PsychoPy", [stamps[e.onset] for e in cues], [e.description for e in cues]),
         ("notes", [stamps[5]], ["started"])])
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(path))
    assert res.exit_code == 2 and "lab.xdf has 2 candidate streams" in res.output, res.output
    assert "pass --stream NAME to choose one" in res.output and "run config" not in res.output
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(path), "--stream", "actiCHamp")
    assert res.exit_code == 2 and "pass --marker-stream NAME to choose one" in res.output, res.output
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(path), "--stream", "actiCHamp",
               "--marker-stream", "PsychoPy")
    assert res.exit_code == 0, res.output
    same = from_edf[1]  # the same samples and cues as NPZ
    assert [ln for ln in res.output.splitlines() if "trial accuracy" in ln] == \
        [ln for ln in same if "trial accuracy" in ln]
    npz = _npz(tmp_path / "crop.npz", rec)
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(npz), "--stream", "actiCHamp")
    assert res.exit_code == 2 and "--stream applies to no file given" in res.output, res.output


def _npz(path: Path, rec, ch_names: list[str] | None = None) -> Path:
    from bci_stream.io import Recording, save_npz

    return save_npz(Recording(data=rec.data, sfreq=rec.sfreq, ch_names=ch_names or list(rec.ch_names),
                              events=list(rec.events), source=str(path)), path)


def test_channel_names_renames_numbered_channels(tmp_path, edf_rec, from_edf):
    rec = _crop(edf_rec, CROP_S)
    numbered = _npz(tmp_path / "numbered.npz", rec, [str(i + 1) for i in range(rec.n_chans)])
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(numbered))
    assert res.exit_code == 2 and "--channel-names renames a file's channels" in res.output, res.output
    names = tmp_path / "names.txt"
    names.write_text("\n".join(rec.ch_names) + "\n")
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(numbered), "--channel-names", str(names))
    want = from_edf[1]  # the same samples with their names (exit code 0 there)
    assert res.exit_code == 0, res.output
    assert _table(res.output) == want and len(want) == 11  # the summary, and per time its line and per-class line
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(numbered), "--channel-names", "C3,C4")
    assert res.exit_code == 2 and "--channel-names must give one name per channel" in res.output, res.output


def test_errors_on_a_reference_file_say_so_and_speed_names_its_flag(tmp_path, edf_rec):
    rec = _crop(edf_rec, SHORT_S)
    good = _npz(tmp_path / "good.npz", rec)
    bad = _npz(tmp_path / "bad.npz", rec, [str(i + 1) for i in range(rec.n_chans)])
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(good), "--live", "--reference-train", str(bad))
    assert res.exit_code == 2, res.output
    assert f"--reference-train file {bad}: ch_names has 64 channel(s) not in {bad}" in res.output
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(good), "--live", "--speed", "0.5")
    assert res.exit_code == 2 and "Invalid value for '--speed': must be >= 1 and <= 32" in res.output, res.output


def test_the_offline_report_is_an_evaluation_report_and_says_what_was_replaced(tmp_path, edf_rec):
    rec = _crop(edf_rec, SHORT_S)
    rec.data[3, 1600:1760] = np.nan  # 1 s of one channel
    path = _npz(tmp_path / "nan.npz", rec)
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(path), "--out", str(tmp_path / "ev"))
    assert res.exit_code == 0, res.output
    note = ("nan.npz: 160 non-finite value(s) (NaN/inf) in the model's channels were replaced by the channel's last "
            "finite value (nan_policy hold, as the service does)")
    assert f"note: {note}" in res.output
    md = (tmp_path / "ev" / "evaluation.md").read_text()
    version = json.loads((MODELS / MODEL / "model.json").read_text())["version"]
    assert md.startswith(f"# Evaluation report: {MODEL}@{version}\n") and "Training report" not in md
    assert "## Definitions" not in md and "report.json" not in md and "p-values in evaluation.json" in md
    assert f"Note: {note}." in md
    js = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert js["evaluation"]["nonfinite_values"] == {str(path): 160}


def test_a_decision_time_past_the_files_end_says_why_no_trial_was_decided(tmp_path, edf_rec):
    """Before: ``trial accuracy @ 100s: instant –  mean –  (n=0)`` with no word of why the 4 trials were not scored.
    The times are scored from early to late, each once, in whatever order they are given."""
    path = _npz(tmp_path / "crop.npz", _crop(edf_rec, CROP_S))
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(path), "--decision-times", "100,2,2", "--out",
               str(tmp_path / "ev"))
    assert res.exit_code == 0, res.output
    lines = _table(res.output)
    assert len(lines) == 4 and lines[1].startswith("  trial accuracy @   2s:") and lines[1].endswith("(n=4)"), lines
    assert lines[2].startswith("    instant, per class: ")  # none for a time no trial was decided at
    assert lines[3] == ("  trial accuracy @ 100s: instant –  mean –  (n=0; 4 of 4 not decided: cue + 100s is not in "
                        "their file)"), lines
    md = (tmp_path / "ev" / "evaluation.md").read_text()
    assert "Trials decided where fewer than 4 (cue + t is not in the file of every trial): 100s 0." in md


def test_a_decision_time_past_the_trials_labelled_span_says_so(tmp_path, edf_rec):
    """EEGMMIDB's task cues last 4.1 s (then a rest cue): at 4.5 s every trial is decided on what followed it, and
    evaluate says so (before: a plain accuracy, as if the trial were still running; found by an exploratory run)."""
    path = _npz(tmp_path / "crop.npz", _crop(edf_rec, CROP_S))
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(path), "--decision-times", "3,4.5")
    assert res.exit_code == 0, res.output
    assert ("note: trials decided after their labelled span ended (the next event came first), at 4.5 s: 4 of 4: "
            "those decisions read what followed the trial") in res.output, res.output
    assert "at 3 s" not in res.output


def test_an_earlier_evaluation_in_out_is_refused_before_any_work_unless_overwrite(edf_rec, tmp_path):
    """evaluate --out replaced an earlier evaluation's files silently (train and calibrate refuse theirs)."""
    crop = _npz(tmp_path / "crop.npz", _crop(edf_rec, SHORT_S))
    args = (MODEL, "--models-dir", str(MODELS), "--data", str(crop), "--out", str(tmp_path / "ev"))
    assert _run(*args).exit_code == 0
    first = (tmp_path / "ev" / "evaluation.json").stat().st_mtime_ns
    res = _run(*args)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert (f"Error: --out {tmp_path / 'ev'} already holds evaluation.json and evaluation.md of an earlier "
            "evaluation: give another --out, or --overwrite to replace it") in res.output
    assert " file(s): " not in res.output  # refused before decoding
    assert (tmp_path / "ev" / "evaluation.json").stat().st_mtime_ns == first
    res = _run(*args, "--overwrite")
    assert res.exit_code == 0 and (tmp_path / "ev" / "evaluation.json").stat().st_mtime_ns != first
    # with --live its own files are checked, before the service starts
    (tmp_path / "ev" / "evaluation_live.json").write_text("{}")
    res = _run(*args, "--live", "--speed", "8")
    assert res.exit_code == 2 and "already holds evaluation_live.json of an earlier evaluation" in res.output


def test_values_beyond_1v_are_counted_and_held_as_the_service_holds_them(tmp_path, edf_rec):
    """Before, a file's 2e6 µV values were neither counted nor said, though the decoder (as live) held them."""
    rec = _crop(edf_rec, SHORT_S)
    rec.data[3, 1600:1760] = 2e6  # 1 s of one channel at 2 V
    path = _npz(tmp_path / "big.npz", rec)
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(path), "--out", str(tmp_path / "ev"))
    assert res.exit_code == 0, res.output
    assert ("note: big.npz: 160 non-finite value(s) (NaN/inf, or beyond ±1 V, which no EEG reaches: 160) in the "
            "model's channels were replaced by the channel's last finite value") in res.output
    js = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert js["evaluation"]["nonfinite_values"] == {str(path): 160}


def test_a_file_with_every_trial_left_out_is_a_clear_error(tmp_path, edf_rec):
    """Before: a ``TypeError`` traceback (the sample accuracy of no sample, None, formatted as a number)."""
    from bci_stream.io.recording import Event

    rec = _crop(edf_rec, CROP_S)
    rec.events = [*rec.events, Event(onset=0, duration=rec.n_times, description="BAD_all")]
    path = _npz(tmp_path / "allbad.npz", rec)
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(path))
    assert res.exit_code == 2, res.output
    assert "note: left out 4 trial(s) of allbad.npz: 4 overlap BAD_all" in res.output
    assert ("Error: nothing to score in allbad.npz: no labelled sample is left (every trial was left out; the notes "
            "above say why)") in res.output


def test_a_rate_within_a_millionth_of_the_models_is_the_models_and_another_is_refused_in_full(tmp_path, edf_rec,
                                                                                              from_edf):
    """A FIF file keeps its rate as float32 (160.00001 reads 160.0000153): evaluate refused it, saying "has sfreq
    160 Hz; the model needs 160 Hz", where the service takes such a stream (to 1e-6: lsl.source.same_rate; audit
    s70model F3). It scores as the EDF now; a rate 1e-5 off is refused, both rates written in full."""
    from dataclasses import replace

    crop = _crop(edf_rec, CROP_S)
    near = _npz(tmp_path / "near.npz", replace(crop, sfreq=float(np.float32(160.00001))))
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(near))
    assert res.exit_code == 0, res.output
    assert _table(res.output)[1:] == from_edf[1][1:]  # the same scores (its summary line names the file)
    off = _npz(tmp_path / "off.npz", replace(crop, sfreq=160.0016))
    res = _run(MODEL, "--models-dir", str(MODELS), "--data", str(off))
    assert res.exit_code != 0
    assert f"{off} has sfreq 160.0016 Hz; the model needs 160 Hz (recordings are never resampled)" in res.output
