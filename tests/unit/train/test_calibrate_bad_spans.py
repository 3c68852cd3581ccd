"""Calibrate leaves out the trials whose span (cue to cue + max(EVAL_TIMES)) overlaps data a file marks bad: a
``BAD*`` annotation (any case), an event named by ``--bad-events`` (BCI IV 2a's ``1023``), an EEGLAB ``boundary`` or
a non-finite stretch (these two with the settling time after them); NaN/inf samples are replaced as the service does
(nan_policy hold), so a file holding them calibrates. Each left-out trial is said per file, reason and class, and a
refusal for too few trials says what was left out why. Real EEG: the repository's EDF subset (S001 R05/R06, 21
channels, 160 Hz, a cue every 8.3 s) rewritten by mne as FIF, or as an EEGLAB .set, with the marks added."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.dsp.preprocess import NonFiniteGuard
from bci_stream.io import load_recording
from bci_stream.train.classical.bad_spans import settle_s
from bci_stream.train.classical.calibration_inputs import CalibrationError, load_calibration
from support.common import subset_file
from support.marked import LABELS, R06, SFREQ, eeglab_with_boundaries, marked_fif
from support.marked import cues as cue_onsets

mne = pytest.importorskip("mne")

SPAN = 3.0  # max(EVAL_TIMES): a trial's span is its cue to cue + 3 s


def _kept(prep, run: int = 0) -> list[int]:
    return [int(o) for o in prep.runs[run].trials.onsets]


def test_bad_annotations_and_bad_events_leave_out_the_trials_they_overlap(tmp_path: Path) -> None:
    cues = cue_onsets()
    t = [o / SFREQ for o, _ in cues]
    a = marked_fif(tmp_path / "a_raw.fif", extra=[
        (t[1] + 1.0, 0.2, "BAD_blink"),          # inside the span
        (t[3] + SPAN - 0.1, 0.5, "bad muscle"),  # MNE's rule is case-blind; overlaps the span's last 0.1 s
        (t[5] + SPAN + 0.1, 0.5, "BAD_late"),    # after the span: the trial stays
        (t[7] + 1.5, 0.0, "1023"),               # zero duration: marks the trial whose span holds it
        (t[9] - 2.0, 7.5, "1023"),               # BCI IV 2a: the rejected trial, from 2 s before its cue
    ])
    prep = load_calibration([a, subset_file(R06)], LABELS, bad_events=["1023"])
    out = [1, 3, 7, 9]
    assert _kept(prep) == [o for i, (o, _) in enumerate(cues) if i not in out]
    assert len(prep.runs[1].trials) == len(cue_onsets(R06))  # the other file is untouched
    c = {i: cues[i][1] for i in out}
    by_reason = {"BAD_blink": {c[1]: 1}, "bad muscle": {c[3]: 1}, "1023": {}}
    for i in (7, 9):
        by_reason["1023"][c[i]] = by_reason["1023"].get(c[i], 0) + 1
    assert prep.left_out == [{"file": "a_raw.fif", "n": 4, "by_reason": by_reason}]
    said = ("left out 4 trial(s) of a_raw.fif: 1 overlap BAD_blink ({}); 1 overlap bad muscle ({}); 2 overlap 1023 ({})"
            .format(*(", ".join(f"{k} {v}" for k, v in by_reason[r].items()) for r in by_reason)))
    assert said in prep.notes, prep.notes
    # without --bad-events the 1023 marks are plain events; a name no file has is said, not ignored
    plain = load_calibration([a, subset_file(R06)], LABELS, bad_events=["1032"])
    assert _kept(plain) == [o for i, (o, _) in enumerate(cues) if i not in (1, 3)]
    said = [n for n in plain.notes if "['1032']" in n]  # a warning naming the flag, the name and the nearest names
    assert len(said) == 1 and said[0].startswith("warning: --bad-events names event(s) ['1032'] that no file has: no "
                                                 "trial is left out for them; the nearest event names in the files: "
                                                 "'1023'"), plain.notes
    with pytest.raises(CalibrationError, match=r"--bad-events names event\(s\) \['T1'\] that the label map "
                                               r"\(--labels\) maps to a class"):
        load_calibration([a], LABELS, bad_events=["T1"])


def test_non_finite_samples_are_held_as_the_service_does_and_their_trials_left_out(tmp_path: Path) -> None:
    cues = cue_onsets()
    t = [o / SFREQ for o, _ in cues]
    settle = settle_s(SFREQ)
    assert 3.0 < settle < 3.5  # 3 time constants of the slowest candidate (tau_s 1 s) plus the band-pass's ringing
    a = marked_fif(tmp_path / "nan_raw.fif", nan=[
        ([2, 5], t[2] - 2.0, t[2] - 1.0, np.nan),         # ends 1 s before the cue: its settling reaches the span
        ([7], t[6] + 1.0, t[6] + 1.1, np.inf),             # inside the span
        ([0, 1], t[10] + SPAN + 0.2, t[10] + SPAN + 0.5, np.nan),  # after the span; settled before the next cue
    ])
    raw = load_recording(a)
    assert np.isnan(raw.data).any() and np.isinf(raw.data).any()
    prep = load_calibration([a, subset_file(R06)], LABELS)
    assert _kept(prep) == [o for i, (o, _) in enumerate(cues) if i not in (2, 6)]
    # the data the fit and CV stream are finite, and those the service's guard (nan_policy hold) makes of the file
    x = prep.runs[0].data
    assert np.isfinite(x).all()
    held = NonFiniteGuard(raw.n_chans, "hold").apply(np.ascontiguousarray(raw.data.T))
    np.testing.assert_array_equal(x, held)
    s = int(round((t[2] - 2.0) * SFREQ))
    assert (x[s:s + 160, 2] == raw.data[2, s - 1]).all()  # the last finite value, held
    n_bad = 2 * 160 + 16 + 2 * 48
    assert any(n.startswith(f"nan_raw.fif: {n_bad} non-finite value(s) (NaN/inf) on 5 channel(s)") and
               "in 3 stretch(es)" in n and "nan_policy hold, as the service does" in n for n in prep.notes), prep.notes
    assert (f"left out 2 trial(s) of nan_raw.fif: 2 overlap non-finite samples + {settle:.1f} s settling "
            f"({cues[2][1]} 1, {cues[6][1]} 1)" if cues[2][1] != cues[6][1] else
            f"left out 2 trial(s) of nan_raw.fif: 2 overlap non-finite samples + {settle:.1f} s settling "
            f"({cues[2][1]} 2)") in prep.notes, prep.notes


def test_an_eeglab_boundary_leaves_out_the_trial_it_cuts_or_that_settles_after_it(tmp_path: Path) -> None:
    cues = cue_onsets()
    t = [o / SFREQ for o, _ in cues]
    path = eeglab_with_boundaries(tmp_path / "cut.set", [t[4] - 1.0, t[8] + SPAN + 0.5])
    rec = load_recording(path)
    assert [(e.onset, e.description) for e in rec.events if e.description == "boundary"] == [
        (int(round((t[4] - 1.0) * SFREQ)), "boundary"), (int(round((t[8] + SPAN + 0.5) * SFREQ)), "boundary")]
    prep = load_calibration([path, subset_file(R06)], LABELS)
    assert _kept(prep) == [o for i, (o, _) in enumerate(cues) if i != 4]  # cue 8's span ends before its boundary
    assert (f"left out 1 trial(s) of cut.set: 1 overlap boundary + {settle_s(SFREQ):.1f} s settling "
            f"({cues[4][1]} 1)") in prep.notes, prep.notes


def test_too_few_trials_after_leaving_out_says_what_was_left_out_why(tmp_path: Path) -> None:
    cues = cue_onsets()
    fists = [o / SFREQ for o, c in cues if c == "fists"]
    a = marked_fif(tmp_path / "blinky_raw.fif", extra=[(s + 0.5, 0.3, "BAD_blink") for s in fists[:-3]])
    with pytest.raises(CalibrationError) as err:
        load_calibration([a], LABELS)
    msg = str(err.value)
    n_feet = sum(c == "feet" for _, c in cues)
    assert (f"fewer than 4 trials for class(es) {{'fists': 3}} (cues per class {{'fists': 3, 'feet': {n_feet}}}, "
            f"after leaving out the bad ones); record more runs; left out {len(fists) - 3} trial(s) of "
            f"blinky_raw.fif: {len(fists) - 3} overlap BAD_blink (fists {len(fists) - 3})") in msg, msg
    # every cue of a file bad: said as such, not as a file without cues
    whole = marked_fif(tmp_path / "whole_raw.fif", extra=[(0.0, 124.0, "BAD_electrode_off")])
    with pytest.raises(CalibrationError, match=r"no usable trial left in .*whole_raw.fif: every cue's span overlaps "
                                               r"data marked bad; left out 15 trial\(s\) of whole_raw.fif: 15 "
                                               r"overlap BAD_electrode_off"):
        load_calibration([whole, subset_file(R06)], LABELS)
    # one class left: the refusal says so, and why
    feet = [o / SFREQ for o, c in cues if c == "feet"]
    onefam = marked_fif(tmp_path / "onefam_raw.fif", extra=[(s + 0.5, 0.3, "bad") for s in feet])
    with pytest.raises(CalibrationError, match=r"only one class present in the files: cues per class \{'fists': "
                                               r"\d+, 'feet': 0\} .*, not left out\).*; left out \d+ trial\(s\) of "
                                               r"onefam_raw.fif: \d+ overlap bad \(feet \d+\)"):
        load_calibration([onefam], LABELS)


def test_a_channel_without_any_finite_sample_is_refused(tmp_path: Path) -> None:
    a = marked_fif(tmp_path / "dead_raw.fif", nan=[([4], 0.0, 125.0, np.nan)])
    name = load_recording(a).ch_names[4]
    with pytest.raises(CalibrationError, match=rf"dead_raw.fif: 1 of the 21 used channel\(s\) \({name}\) hold no "
                                               r"finite sample within ±1 V \(only NaN, inf or larger values"):
        load_calibration([a, subset_file(R06)], LABELS)
    both = load_calibration([a, subset_file(R06)], LABELS, channels=["C3", "Cz", "C4"])  # left out: calibrates
    assert both.ch_names == ["C3..", "Cz..", "C4.."]
    dead = marked_fif(tmp_path / "all_raw.fif", nan=[(range(21), 0.0, 125.0, np.nan)])
    with pytest.raises(CalibrationError, match=r"all_raw.fif: all used channel\(s\) .* hold no finite sample"):
        load_calibration([dead, subset_file(R06)], LABELS)


def test_a_span_overlaps_a_trial_from_its_cue_to_its_last_decision_sample() -> None:
    from bci_stream.train.classical.bad_spans import Span, leave_out
    from bci_stream.train.classical.data import Trials

    last = int(SPAN * SFREQ)  # the latest decision sample after the cue, part of the span
    onsets = np.array([1000, 3000, 5000, 7000, 9000])
    spans = [Span(900, 1000, "BAD_before"),              # ends at the cue: no overlap
             Span(3000 + last, 3001 + last, "BAD_end"),  # the last decision sample
             Span(4000, 6000, "BAD_long"), Span(4990, 5010, "BAD_inside"),  # both: counted once, the first by start
             Span(9000 + last + 1, 9100 + last, "BAD_after")]
    kept, left = leave_out(Trials(onsets, np.array([0, 1, 0, 1, 0])), spans, SFREQ, ["fists", "feet"], "x.fif")
    assert kept.onsets.tolist() == [1000, 7000, 9000] and kept.classes.tolist() == [0, 1, 0]
    assert left.counts == {"BAD_end": {"feet": 1}, "BAD_long": {"fists": 1}} and left.n == 2


def test_a_bad_event_that_marks_no_trial_is_said(tmp_path: Path) -> None:
    t = [o / SFREQ for o, _ in cue_onsets()]
    # without duration, after its trial's span and before the rest period's T0 (not a cue): it marks nothing
    a = marked_fif(tmp_path / "late_raw.fif", extra=[(t[2] + 3.5, 0.0, "1023")])
    prep = load_calibration([a, subset_file(R06)], LABELS, bad_events=["1023"])
    assert len(prep.runs[0].trials) == len(t) and prep.left_out == []
    assert ("--bad-events ['1023']: no such event overlaps a trial's span (cue to cue + 3 s) or, without a duration, "
            "lies at most 3 s before a cue that is the next event after it, so none is left out for them (a mark "
            "farther from its next cue spans its one sample)") in prep.notes, prep.notes
