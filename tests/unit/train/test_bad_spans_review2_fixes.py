"""Bad spans after review 2 of session 19 (R3, R4 and its code-quality points), for calibrate, evaluate and train:

* a zero-duration ``--bad-events`` / ``data.bad_events`` mark in no trial's span marks the next cue's trial only when
  that cue comes at most a span's length (``span_s``) after it: not a trial a minute later, not the next trial after
  an artefact of the previous one; BCI IV 2a's ``1023`` (at the trial start, 2 s before the cue) still marks its trial;
* the "left no trial out" note is not given for a bad event whose mark overlaps a trial that an earlier span took;
* mne's ``BAD_ACQ_SKIP`` (a FIF acquisition skip) is a discontinuity: settling after its end;
* train refuses a bad event that is also a cue once, in its config, before any file is read.

Synthetic recordings (2 channels, 250 Hz, noise) where only the events matter; the calibrate case uses the
repository's real EEG (S001 R06 rewritten by mne as FIF with the marks added)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io.recording import Event, Recording
from bci_stream.train.bad_data import hold_and_unlabel
from bci_stream.train.classical.bad_spans import bad_spans, check_bad_events, leave_out, settle_s, span_hits
from bci_stream.train.classical.data import Trials
from bci_stream.train.config import ConfigError, load_config
from bci_stream.train.evaluate.inputs import Loaded, leave_out_bad_trials

SF = 250.0
CUES = {"769": "l", "770": "r"}
SPAN_S = 3.0
IDLE = "no such event overlaps a trial's span"


def _kept(events: list[Event], onsets: list[int]) -> list[int]:
    spans = bad_spans(events, [], SF, ["1023"], cues=set(CUES), span_s=SPAN_S)
    classes = np.arange(len(onsets)) % 2
    kept, _ = leave_out(Trials(np.array(onsets), classes), spans, SF, ["l", "r"], "f.gdf", SPAN_S)
    return kept.onsets.tolist()


def _rec(events: list[Event], n_times: int = 20_000, seg_s: float = 1.0) -> Recording:
    """Labels: a segment of ``seg_s`` from each cue (class by the cue's event)."""
    labels = np.full(n_times, -1, dtype=np.int64)
    for e in events:
        if e.description in CUES:
            labels[e.onset:e.onset + int(seg_s * SF)] = list(CUES).index(e.description)
    data = np.random.default_rng(0).standard_normal((2, n_times))
    return Recording(data=data, sfreq=SF, ch_names=["C3", "C4"], labels=labels, label_names=["l", "r"],
                     events=events, source="f.gdf")


def test_a_zero_duration_mark_marks_the_next_cue_only_within_a_span_of_it() -> None:
    E = Event
    # 60 s before the first cue (a file's start): no trial is left out
    assert _kept([E(100, 0, "1023"), E(15100, 0, "769"), E(17100, 0, "770")], [15100, 17100]) == [15100, 17100]
    # 3.2 s after cue 2000 (past its 3 s span: that trial's artefact), cues only: the next trial (4000) stays
    assert _kept([E(2000, 0, "769"), E(2800, 0, "1023"), E(4000, 0, "770"), E(6000, 0, "769")],
                 [2000, 4000, 6000]) == [2000, 4000, 6000]
    # BCI IV 2a: 1023 at the trial start, 2 s before its cue: that trial is left out, as before
    assert _kept([E(2000, 0, "769"), E(3500, 0, "1023"), E(4000, 0, "770"), E(6000, 0, "769")],
                 [2000, 4000, 6000]) == [2000, 6000]
    # exactly span_s before the cue still marks it; one sample more does not
    assert _kept([E(1000, 0, "1023"), E(1750, 0, "769")], [1750]) == []
    assert _kept([E(999, 0, "1023"), E(1750, 0, "769")], [1750]) == [1750]


def test_train_does_not_unlabel_a_minute_for_a_mark_far_before_the_first_cue() -> None:
    rec = _rec([Event(100, 0, "1023"), Event(15100, 0, "769"), Event(17100, 0, "770")])
    _, done = hold_and_unlabel(rec, ["1023"], SPAN_S, list(CUES))
    assert int(done.bad.sum()) == 1 and done.n_segments == 0  # before: 15001 samples (60 s) and the first trial


def test_a_bad_event_overlapping_a_trial_an_earlier_span_took_is_not_called_idle() -> None:
    ev = [Event(900, 200, "BAD_muscle"), Event(1000, 0, "1023"), Event(1000, 0, "769"), Event(3000, 0, "770")]
    # calibrate's path
    spans = bad_spans(ev, [], SF, ["1023"], cues=set(CUES))
    _, left = leave_out(Trials(np.array([1000, 3000]), np.array([0, 1])), spans, SF, ["l", "r"], "f.gdf")
    assert left.counts == {"BAD_muscle": {"l": 1}} and left.overlapped == {"BAD_muscle", "1023"}
    assert check_bad_events(["1023"], CUES, ev, marked=left.overlapped) == []
    # evaluate's path: the reasons reach offline.evaluate's check (which takes them out of the report)
    rec = _rec(ev)
    d = Loaded(rec=rec, raw=rec.data, x=np.ascontiguousarray(rec.data.T, dtype=np.float32), labels=rec.labels)
    got = leave_out_bad_trials(d, ["1023"], SPAN_S, cues=set(CUES))
    assert got is not None and got["by_reason"] == {"BAD_muscle": {"l": 1}} and "1023" in got["overlapped"]
    # train's path: one overlap rule (span_hits), the same reasons
    _, done = hold_and_unlabel(_rec(ev), ["1023"], SPAN_S, list(CUES))
    assert done.segments.counts == {"BAD_muscle": {"l": 1}} and "1023" in done.segments.overlapped


def test_span_hits_gives_every_overlapping_span_by_start() -> None:
    from bci_stream.train.classical.bad_spans import Span

    spans = [Span(4990, 5010, "BAD_inside"), Span(900, 1000, "BAD_before"), Span(4000, 6000, "BAD_long")]
    hits = span_hits(spans, [1000, 5000, 7000], [1751, 5751, 7751])
    assert [[s.reason for s in h] for h in hits] == [[], ["BAD_long", "BAD_inside"], []]


def test_a_fif_acquisition_skip_is_a_discontinuity_with_settling_after_it() -> None:
    settle = settle_s(SF)
    n_settle = int(np.ceil(settle * SF))
    ev = [Event(1000, 500, "BAD_ACQ_SKIP"), Event(1500 + n_settle // 2, 0, "769"),
          Event(1500 + n_settle + 10, 0, "770")]
    (span,) = bad_spans(ev, [], SF)
    assert (span.start, span.stop, span.reason, span.settle) == (1000, 1500 + n_settle, "BAD_ACQ_SKIP", settle)
    onsets = [e.onset for e in ev[1:]]
    kept, left = leave_out(Trials(np.array(onsets), np.array([0, 1])), [span], SF, ["l", "r"], "f.fif")
    assert kept.onsets.tolist() == onsets[1:]  # the cue inside the settling is left out, the one after it stays
    assert left.counts == {f"BAD_ACQ_SKIP + {settle:.1f} s settling": {"l": 1}}


def test_train_refuses_a_bad_event_that_is_a_cue_once_in_its_config(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from bci_stream.train.dataset import _hold_and_unlabel
    from support.train_data import tiny_config_text

    text = tiny_config_text(tmp_path / "out")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('tail_files = ["S001R06.edf"]', 'tail_files = ["S001R06.edf"]\nbad_events = ["T1"]'),
                   encoding="utf-8")
    with pytest.raises((ConfigError, ValueError), match=r"data.bad_events \['T1'\] are also mapped to a class"):
        load_config(bad)
    good = tmp_path / "good.toml"
    good.write_text(text, encoding="utf-8")
    cfg = load_config(good)
    cfg.data.label_map, cfg.data.bad_events = dict(CUES), ["769"]  # past the validator: dataset.py only notes
    ev = [Event(1000, 0, "769"), Event(3000, 0, "770")]
    notes: list[str] = []
    _hold_and_unlabel(cfg, [_rec(ev)], notes)
    assert not any("maps to a class" in n for n in notes)


def test_calibrate_does_not_call_a_bad_event_idle_when_an_earlier_mark_took_its_trial(tmp_path: Path) -> None:
    pytest.importorskip("mne")
    from bci_stream.train.classical.calibration_inputs import load_calibration
    from support.common import subset_file
    from support.marked import LABELS, R06, SFREQ, cues, marked_fif

    t = [o / SFREQ for o, _ in cues()]
    a = marked_fif(tmp_path / "a_raw.fif", extra=[(t[2] - 0.5, 1.0, "BAD_muscle"), (t[2] + 1.0, 0.0, "1023")])
    prep = load_calibration([a, subset_file(R06)], LABELS, bad_events=["1023"])
    assert [list(d["by_reason"]) for d in prep.left_out] == [["BAD_muscle"]]
    assert not any(IDLE in n for n in prep.notes), prep.notes


def test_evaluate_does_not_call_a_bad_event_idle_when_an_earlier_mark_took_its_trial(tmp_path: Path,
                                                                                     tmp_path_factory) -> None:
    pytest.importorskip("mne")
    from bci_stream.train.evaluate.offline import evaluate_target
    from support.marked import LABELS, R05, SFREQ, calibrated_once, cues, marked_fif

    models = calibrated_once(tmp_path_factory)  # made once per run: test_evaluate_bad_spans's model too
    t = [o / SFREQ for o, _ in cues(R05)]
    path = marked_fif(tmp_path / "a_raw.fif", extra=[(t[2] - 0.5, 1.0, "BAD_muscle"), (t[2] + 1.0, 0.0, "1023")])
    res = evaluate_target("clean", [path], label_map=LABELS, models_dir=models, bad_events=["1023"])
    assert [list(d) for d in res["trials_left_out"]] == [["file", "n", "by_reason"]]  # the reasons' set: not reported
    assert list(res["trials_left_out"][0]["by_reason"]) == ["BAD_muscle"]
    assert not any(IDLE in n for n in res["notes"]), res["notes"]
