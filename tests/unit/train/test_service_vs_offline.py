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
