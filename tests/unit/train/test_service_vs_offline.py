"""``evaluate --live``'s comparison of the service's live trial score with the offline rule, on constructed rows:
a service status ``scoring`` (as :class:`bci_stream.service.scoring.LiveScorer` describes it, on the replay's clock
``t0 + k * period``) and evaluate's trials of the same stream. Trials agree when the service decided the cue at the
offline rule's sample (onset + decision_time_s * sfreq) with the same class; a cue past the end of the data is
``pending`` in the service and left out offline (no difference); a missed cue, another decision or another decision
sample is a difference, named in ``differ`` and in the printed line."""

from __future__ import annotations

from bci_stream.train.evaluate.live_scoring import keep_trials, service_vs_offline, service_vs_offline_line

SFREQ, SPEED, T0 = 160.0, 16.0, 1000.0
PERIOD = 1.0 / (SFREQ * SPEED)
N_AFTER = 320  # 2 s at 160 Hz
CUES = [(672, "fists", "fists"), (2000, "feet", "fists"), (3328, "feet", "feet")]  # onset, class, decision


def _trials(pending_onset: int | None = None) -> list[dict]:
    rows = [{"onset": o, "label": c, "decisions": {"0.5s": c, "2s": d}} for o, c, d in CUES]
    if pending_onset is not None:  # its decision sample lies past the end of the data: no decision
        rows.append({"onset": pending_onset, "label": "fists", "decisions": {"0.5s": "fists", "2s": None}})
    return rows


def _scoring(pending: int = 0) -> dict:
    last = [{"value": "T1", "class": c, "cue_t": T0 + o * PERIOD, "decision_t": T0 + (o + N_AFTER) * PERIOD,
             "predicted": d, "correct": c == d} for o, c, d in CUES]
    return {"decision_time_s": 2.0, "trials": len(last), "correct": sum(r["correct"] for r in last), "missed": 0,
            "pending": pending, "last": last}


def test_the_same_trials_decided_at_the_same_samples_are_identical_and_a_pending_cue_is_no_difference():
    cmp = service_vs_offline(_scoring(pending=1), _trials(pending_onset=4600), T0, PERIOD, SFREQ)
    assert cmp["identical"] and cmp["differ"] == [] and cmp["compared"] == 3
    assert cmp["service"] == {"trials": 3, "correct": 2, "missed": 0, "pending": 1}
    assert cmp["offline"] == {"trials": 3, "correct": 2}
    line = service_vs_offline_line("S001R10.edf", cmp)
    assert line == ("S001R10.edf: service live score 2/3 (missed 0, pending 1) vs offline 2/3 at 2 s: same, trial "
                    "by trial (3 compared)")


def test_another_decision_is_a_difference():
    scoring = _scoring()
    scoring["last"][1]["predicted"], scoring["last"][1]["correct"] = "feet", True  # offline: fists (wrong)
    scoring["correct"] = 3
    cmp = service_vs_offline(scoring, _trials(), T0, PERIOD, SFREQ)
    assert not cmp["identical"]
    assert cmp["differ"] == [{"onset": 2000, "label": "feet", "offline": "fists", "service": "feet",
                              "offline_decision_sample": 2320, "decision_sample": 2320}]
    assert "service live score 3/3" in (line := service_vs_offline_line("f.edf", cmp)) and "offline 2/3" in line
    assert line.endswith("DIFFERENT on 1 trial(s), first the feet cue at sample 2000: offline fists at sample 2320, "
                         "service feet at sample 2320")


def test_the_same_decision_at_another_sample_is_a_difference():
    scoring = _scoring()
    scoring["last"][0]["decision_t"] = T0 + (672 + 1468) * PERIOD  # anchored late (the bug fixed in c6b3303)
    cmp = service_vs_offline(scoring, _trials(), T0, PERIOD, SFREQ)
    assert not cmp["identical"]  # the counts agree; the trial does not
    assert (cmp["service"]["correct"], cmp["offline"]["correct"]) == (2, 2)
    assert cmp["differ"] == [{"onset": 672, "label": "fists", "offline": "fists", "service": "fists",
                              "offline_decision_sample": 992, "decision_sample": 2140}]


def test_a_missed_cue_is_a_difference_and_a_cue_the_offline_rule_lacks_too():
    scoring = _scoring()
    del scoring["last"][0]
    scoring.update(trials=2, correct=1, missed=1)
    cmp = service_vs_offline(scoring, _trials(), T0, PERIOD, SFREQ)
    assert not cmp["identical"] and cmp["compared"] == 2
    assert cmp["differ"] == [{"onset": 672, "label": "fists", "offline": "fists", "service": None,
                              "offline_decision_sample": 992, "decision_sample": None}]
    assert "not scored by the service" in service_vs_offline_line("f.edf", cmp)
    extra = _scoring()
    cmp = service_vs_offline(extra, _trials()[1:], T0, PERIOD, SFREQ)  # a cue offline has no trial at
    assert not cmp["identical"] and cmp["differ"][0]["offline"] is None and cmp["differ"][0]["service"] == "fists"


def test_beyond_keep_trials_the_last_trials_are_compared_one_by_one_and_the_counts_in_full():
    scoring = _scoring()
    scoring["last"] = scoring["last"][1:]  # keep_trials 2: the service lists its last 2 of 3
    cmp = service_vs_offline(scoring, _trials(), T0, PERIOD, SFREQ)
    assert cmp["identical"] and cmp["compared"] == 2, cmp
    scoring["correct"] = 1  # a count that differs fails even when the listed trials agree
    assert not service_vs_offline(scoring, _trials(), T0, PERIOD, SFREQ)["identical"]


def test_no_scoring_gives_none_and_keep_trials_lists_every_cue_within_the_spec():
    assert service_vs_offline({"off": "no marker map"}, _trials(), T0, PERIOD, SFREQ) is None
    assert service_vs_offline(None, _trials(), T0, PERIOD, SFREQ) is None
    assert "did not score" in service_vs_offline_line("f.edf", None)
    m = {"T0": None, "T1": "fists", "T2": "feet"}
    assert keep_trials(m, ["T0", "T1"] * 5) == 20  # the service's default at least
    assert keep_trials(m, ["T0", "T1", "T2"] * 30) == 60
    assert keep_trials(m, ["T1"] * 5000) == 1000  # the spec's bound (MarkerOptions.keep_trials <= 1000)
    from bci_stream.core.spec import MarkerOptions

    assert MarkerOptions.model_fields["keep_trials"].metadata[-1].le == 1000


def test_the_comparison_counts_one_trial_per_cue_as_the_service_does():
    """Back-to-back cues of one class with durations make one labelled segment (the published table's trial) but
    two cues for the service: the comparison's offline side is one trial per cue, so a correct service is identical;
    two cues of two classes at one sample are two trials."""
    import numpy as np

    from bci_stream.io import Event, Recording
    from bci_stream.train.evaluate.live_trials import cue_trials, decisions
    from bci_stream.train.evaluate.metrics import find_trials

    names, class_ids = ["rest", "fists", "feet"], [1, 2]
    events = [Event(672, 1328, "T1"), Event(2000, 1328, "T1"), Event(3328, 656, "T2"), Event(3328, 0, "T1"),
              Event(3984, 500, "T0")]
    labels = np.zeros(8000, dtype=np.int64)
    for e in events[:3]:
        labels[e.onset:e.onset + e.duration] = names.index({"T1": "fists", "T2": "feet"}[e.description])
    rec = Recording(np.zeros((2, 8000)), SFREQ, ["C3", "C4"], labels, names, events)
    marker_map = {"T0": None, "T1": "fists", "T2": "feet"}
    assert len(find_trials(labels, class_ids)) == 2  # the two T1 cues are one segment, the T2 hides the last T1
    cues = cue_trials(rec, marker_map, names)
    assert [(t.onset, names[t.label]) for t in cues] == [(672, "fists"), (2000, "fists"), (3328, "feet"),
                                                          (3328, "fists")]
    probs = np.tile([0.0, 0.9, 0.1], (8000, 1))  # always fists
    trials = decisions(probs, cues, class_ids, names, SFREQ, [2.0])
    last = [{"value": "T", "class": t["label"], "cue_t": T0 + t["onset"] * PERIOD,
             "decision_t": T0 + (t["onset"] + N_AFTER) * PERIOD, "predicted": "fists",
             "correct": t["label"] == "fists"} for t in trials]
    scoring = {"decision_time_s": 2.0, "trials": 4, "correct": 3, "missed": 0, "pending": 0, "last": last}
    cmp = service_vs_offline(scoring, trials, T0, PERIOD, SFREQ)
    assert cmp["identical"] and cmp["compared"] == 4 and cmp["offline"] == {"trials": 4, "correct": 3}
