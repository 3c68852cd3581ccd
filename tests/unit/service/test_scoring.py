"""Live trial scoring (cues against the decoded outputs at the decision time), marker values of every kind
of marker stream, the scoring configuration from options and cards, markers in the XDF recording, and the
WebSocket marker cursor."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.card import ModelCard, ScoringSpec
from bci_stream.core.spec import DecoderOptions, DecoderSpec, MarkerOptions
from bci_stream.io.session import read_session
from bci_stream.service.markers import marker_predicate, marker_values
from bci_stream.service.recorder import Recorder
from bci_stream.service.ring import MarkerFeed
from bci_stream.service.scoring import LiveScorer, ScoringConfig, ScoringError, scoring_config, wilson

LABELS = ["rest", "left", "right"]
SFREQ = 100.0


def outputs_for(classes: np.ndarray) -> np.ndarray:
    """One-hot-ish probabilities whose argmax is ``classes``."""
    y = np.full((len(classes), len(LABELS)), 0.1, dtype=np.float32)
    y[np.arange(len(classes)), classes] = 0.8
    return y


def offline_score(cues: list[tuple[float, str]], ts: np.ndarray, y: np.ndarray, marker_map: dict, t_dec: float):
    """The definition: round(t_dec * SFREQ) outputs after the first at or after the cue, argmax == the cue's class."""
    trials = correct = 0
    for t, value in cues:
        cls = marker_map.get(value)
        if cls is None:
            continue
        i = np.flatnonzero(ts >= t)[0] + int(round(t_dec * SFREQ))
        trials += 1
        correct += LABELS[int(np.argmax(y[i]))] == cls
    return trials, correct


def session_data(seed: int = 0, seconds: float = 60.0):
    """Outputs at SFREQ whose class follows cues every 4 s (right 2/3 of the time), and the cues."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SFREQ)
    ts = 1000.0 + np.arange(n) / SFREQ
    classes = np.zeros(n, dtype=int)
    cues = []
    for k, t0 in enumerate(np.arange(1.0, seconds - 4.0, 4.0)):
        value = ["L", "R"][k % 2]
        truth = 1 if value == "L" else 2
        shown = truth if rng.random() < 0.67 else 3 - truth
        lo = int(round(t0 * SFREQ))
        classes[lo:lo + int(3 * SFREQ)] = shown
        cues.append((1000.0 + t0, value))
        if k % 3 == 0:
            cues.append((1000.0 + t0 + 0.5, "start"))  # not a trial
    return ts, outputs_for(classes), cues


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
@pytest.mark.parametrize("marker_lag_s", [-3.0, 0.0, 2.5, 10.0])
def test_live_score_equals_the_offline_definition_for_any_chunking_and_marker_arrival(chunk, marker_lag_s):
    """Markers delivered ahead of their samples (-3 s), with them, or after their decision sample (2.5 s, 10 s
    late): the same trials, the same score as the offline computation."""
    ts, y, cues = session_data()
    marker_map = {"L": "left", "R": "right", "start": None}
    scorer = LiveScorer(ScoringConfig(marker_map, 1.5, "test"), LABELS, SFREQ, keep_trials=5)
    pending = sorted(cues)
    for i in range(0, len(ts), chunk):
        now = ts[min(i + chunk, len(ts)) - 1]
        while pending and pending[0][0] + marker_lag_s <= now:  # the marker's arrival time
            t, value = pending.pop(0)
            scorer.marker(value, t)
        scorer.outputs(ts[i:i + chunk], y[i:i + chunk])
    for t, value in pending:
        scorer.marker(value, t)
    trials, correct = offline_score(cues, ts, y, marker_map, 1.5)
    d = scorer.describe()
    assert (d["trials"], d["correct"], d["missed"], d["pending"]) == (trials, correct, 0, 0)
    assert trials == 14 and 0 < correct < trials
    assert d["accuracy"] == pytest.approx(correct / trials)
    assert d["ci95"] == pytest.approx(list(wilson(correct, trials)))
    assert d["markers_not_trials"] == 5 and d["markers_mapped"] == 14  # "start" is no trial (mapped to None)
    assert d["markers_unmapped"] == 0 and d["unmapped_values"] == {}
    assert sum(c["trials"] for c in d["per_class"].values()) == trials and set(d["per_class"]) == {"left", "right"}
    assert len(d["last"]) == 5 and d["last"][-1]["value"] in ("L", "R")


@pytest.mark.parametrize("speed", [1.0, 3.0])
def test_a_replay_faster_than_real_time_is_decided_in_recording_time(speed):
    """A recording replayed at 3x: samples and cues stamped 3x closer, the decision still 1.5 s of recording
    (150 samples) after the cue, so the score is the recording's."""
    ts, y, cues = session_data()
    fast = 1000.0 + (ts - 1000.0) / speed
    cues_fast = [(1000.0 + (t - 1000.0) / speed, v) for t, v in cues]
    marker_map = {"L": "left", "R": "right", "start": None}
    scorer = LiveScorer(ScoringConfig(marker_map, 1.5, "test"), LABELS, SFREQ)
    pending = sorted(cues_fast)
    for i in range(0, len(ts), 10):
        while pending and pending[0][0] <= fast[min(i + 10, len(ts)) - 1]:
            scorer.marker(pending[0][1], pending.pop(0)[0])
        scorer.outputs(fast[i:i + 10], y[i:i + 10])
    d = scorer.describe()
    assert (d["trials"], d["correct"], d["missed"]) == (*offline_score(cues, ts, y, marker_map, 1.5), 0)
    assert d["last"][-1]["decision_t"] - d["last"][-1]["cue_t"] == pytest.approx(1.5 / speed, abs=1e-6)


def test_a_cue_without_output_at_its_decision_time_is_missed_not_scored():
    """A gap in the data at the decision time (the first output after it is 3 s late), and a cue so late that its
    decision sample left the history: both counted as missed."""
    scorer = LiveScorer(ScoringConfig({"L": "left"}, 1.0, "test"), LABELS, SFREQ, history_s=5.0)
    ts = 10.0 + np.arange(500) / SFREQ  # 10 .. 15 s
    scorer.outputs(ts, outputs_for(np.ones(500, dtype=int)))
    scorer.marker("L", 14.5)  # decision at 15.5: not decoded yet
    assert scorer.describe()["pending"] == 1
    scorer.outputs(np.array([18.5]), outputs_for(np.array([1])))  # the stream was silent from 15 to 18.5 s
    assert scorer.describe()["missed"] == 1 and scorer.describe()["trials"] == 0
    scorer.outputs(18.5 + np.arange(1, 801) / SFREQ, outputs_for(np.ones(800, dtype=int)))
    scorer.marker("L", 10.0)  # its decision sample (11 s) is out of the 6 s history
    scorer.marker("L", 22.0)  # decided from the history: 23 s was decoded
    d = scorer.describe()
    assert (d["missed"], d["trials"], d["correct"]) == (2, 1, 1)


@pytest.mark.parametrize("lead_s", [0.005, 0.03, 0.2, 0.5])
@pytest.mark.parametrize("marker_first", [True, False])
def test_a_cue_before_the_first_output_is_decided_decision_time_after_the_cue(lead_s, marker_first):
    """A cue stamped ``lead_s`` before the decoder's first output (within ``max_lag_s``) is placed at its own time at
    the nominal rate: decided ``decision_time_s`` after the cue, not after that first output (audit s64interop F1: the
    README said so, the scorer decided 2.2 s after a cue 0.2 s early); a lead shorter than a sample period is an
    ordinary cue, decided from the output at or after it. The marker before the outputs, or after them."""
    scorer = LiveScorer(ScoringConfig({"L": "left"}, 2.0, "test"), LABELS, SFREQ, max_lag_s=0.5)
    cue, ts = 100.0, 100.0 + lead_s + np.arange(400) / SFREQ
    if marker_first:
        scorer.marker("L", cue)
    scorer.outputs(ts, outputs_for(np.ones(400, dtype=int)))
    if not marker_first:
        scorer.marker("L", cue)
    (trial,) = scorer.describe()["last"]
    back = int(lead_s * SFREQ)  # whole sample periods before the first output
    assert trial["decision_t"] == pytest.approx(ts[200 - back], abs=1e-9), trial
    assert trial["decision_t"] - cue == pytest.approx(2.0 if back else 2.0 + lead_s, abs=1 / SFREQ), trial


@pytest.mark.parametrize("speed", [1, 3, 16])
@pytest.mark.parametrize("noise", [0.0, 1e-11])
def test_a_cue_before_the_first_output_counts_samples_at_the_outputs_rate(speed, noise):
    """Review s64 F3: the lead of a cue before the first output was converted with the nominal rate (at replay speed S
    it shifted S times too little) and truncated float noise (a cue 1e-11 s after a sample's stamp, one sample late)."""
    scorer = LiveScorer(ScoringConfig({"L": "left"}, 2.0, "test"), LABELS, SFREQ)
    ts = 50.0 + np.arange(400) / (SFREQ * speed)
    scorer.marker("L", ts[0] - 30 / (SFREQ * speed) + noise)  # 30 samples before the first output
    scorer.outputs(ts, outputs_for(np.ones(400, dtype=int)))
    (trial,) = scorer.describe()["last"]
    assert trial["decision_t"] == ts[200 - 30], trial


def test_a_cue_whose_decision_sample_comes_before_the_first_output_is_missed():
    """Review s64 F3: decided at the first output, 0.4 s after a cue whose decision time is 0.25 s."""
    scorer = LiveScorer(ScoringConfig({"L": "left"}, 0.25, "test"), LABELS, SFREQ, max_lag_s=0.5)
    scorer.marker("L", 9.6)
    scorer.outputs(10.0 + np.arange(100) / SFREQ, outputs_for(np.ones(100, dtype=int)))
    d = scorer.describe()
    assert (d["trials"], d["missed"], d["pending"]) == (0, 1, 0), d


@pytest.mark.parametrize("noise", [0.0, 2e-11, 7e-11, -3e-11])
def test_a_cue_on_a_samples_stamp_but_for_float_noise_is_anchored_on_that_sample(noise):
    """mne-lsl's PlayerLSL stamps an annotation 2e-11 to 7e-11 s after the stamp of the sample it names (audit
    s64interop F5): anchored on that sample, as a cue stamped exactly on it, not on the next one."""
    scorer = LiveScorer(ScoringConfig({"L": "left"}, 1.0, "test"), LABELS, SFREQ)
    ts = 34990.0 + np.arange(300) / SFREQ
    scorer.outputs(ts, outputs_for(np.ones(300, dtype=int)))
    scorer.marker("L", ts[50] + noise)
    (trial,) = scorer.describe()["last"]
    assert trial["decision_t"] == ts[150], trial


def test_the_same_cue_sent_twice_on_one_stamp_is_one_trial():
    """A marker re-sent with its stamp (a stimulus program's retry, two annotations of one onset) is the same cue:
    one trial, counted in ``markers_repeated`` (audit s64interop F4: two trials, before and after its decision);
    two values on one stamp are two cues."""
    scorer = LiveScorer(ScoringConfig({"L": "left", "R": "right"}, 1.0, "test"), LABELS, SFREQ)
    scorer.marker("L", 10.0)
    scorer.marker("L", 10.0)  # pending still
    ts = 9.0 + np.arange(500) / SFREQ
    scorer.outputs(ts, outputs_for(np.ones(500, dtype=int)))
    scorer.marker("L", 10.0)  # decided already
    scorer.marker("L", 11.0)
    scorer.marker("R", 11.0)
    d = scorer.describe()
    assert (d["trials"], d["correct"], d["markers_received"], d["markers_mapped"], d["markers_repeated"]) == \
        (3, 2, 5, 5, 2), d
    scorer.marker("L", 5.0)  # before the history: missed; sent again, it is still one cue (review s64 F4)
    scorer.marker("L", 5.0)
    d = scorer.describe()
    assert (d["trials"], d["missed"], d["markers_repeated"]) == (3, 1, 3), d


@pytest.mark.parametrize("rest", [True, False])
def test_a_non_finite_output_at_the_decision_sample_decides_nothing(rest):
    """Audit s68api F3: a model putting out NaN had every trial decided as its first class ('rest'; argmax of NaN is
    0), so a 'rest' cue counted correct. A row with a non-finite value decides no class: the cue is missed (with
    'rest' a trial class, all outputs scored; without, left and right only)."""
    marker_map = {"L": "left", "R": "right", **({"S": "rest"} if rest else {"S": None})}
    scorer = LiveScorer(ScoringConfig(marker_map, 1.0, "test"), LABELS, SFREQ)
    ts = 10.0 + np.arange(500) / SFREQ
    y = outputs_for(np.ones(500, dtype=int))
    y[150:250] = np.nan  # around 11.5-12.5 s: the decisions of cues at 10.5 and 11.2 s
    y[350, 2] = np.inf
    scorer.outputs(ts, y)
    for value, t in (("S", 10.5), ("L", 11.2), ("R", 12.5), ("L", 12.8)):
        scorer.marker(value, t)
    d = scorer.describe()
    assert (d["trials"], d["missed"], d["correct"]) == (1, 3 if rest else 2, 1), d  # 12.8 + 1 s: 'left', correct


def test_wilson_interval():
    assert wilson(0, 0) is None
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson(10, 10)[1] == 1.0


def test_marker_values_of_string_numeric_and_mne_lsl_annotation_streams():
    assert marker_values(["T1"], True, None) == ["T1"]
    assert marker_values(["left_hand", "x"], True, ["a", "b"]) == ["left_hand"]
    assert marker_values([3.0], False, None) == ["3"] and marker_values([2.5], False, None) == ["2.5"]
    assert marker_values([float("nan")], False, None) == []
    assert marker_values([0.0], False, None) == [] and marker_values([0], False, None) == []  # 0: no event
    # mne-lsl PlayerLSL: one channel per description, the duration one-hot (-1 when it is 0 s)
    assert marker_values([0.0, 4.1, 0.0], False, ["T0", "T1", "T2"]) == ["T1"]
    assert marker_values([-1.0, 0.0, 0.0], False, ["T0", "T1", "T2"]) == ["T0"]
    assert marker_values([0.0, 0.0], False, None) == []
    # several channels without a label each: every non-zero channel's code (before: its index, the code lost)
    assert [marker_values(s, False, None) for s in ([0, 1], [float("nan"), 2], [3.5, 0], [-1, 4])] == [
        ["1"], ["2"], ["3.5"], ["-1", "4"]]
    assert marker_values([0, 7, 0], False, ["a", "b"]) == ["7"]  # labels that are not one per channel: none


def test_the_marker_stream_is_the_selector_or_the_streams_beside_the_input():
    assert marker_predicate(MarkerOptions(stream={"type": "Markers", "source_id": "cues-1"}), "eeg", "h") == (
        "type='Markers' and source_id='cues-1'")
    assert marker_predicate(MarkerOptions(), "eeg", "host1") == (
        "(name='eeg-markers' and hostname='host1') or (name='eeg-annotations' and hostname='host1')")


def card(**changes) -> ModelCard:
    from bci_stream.core.registry import ModelRegistry
    from support.common import REPO

    # fists / feet, training.label_map T1/T2; its own `scoring` (written by calibrate) is taken off unless given
    base = ModelRegistry(REPO / "models").get("eegmmidb-s001").card
    return base.model_copy(update={"scoring": None} | changes)


def test_the_bundled_calibrated_model_scores_its_own_cues():
    from bci_stream.core.registry import ModelRegistry
    from support.common import REPO

    bundled = ModelRegistry(REPO / "models").get("eegmmidb-s001").card
    cfg, why = scoring_config(bundled, MarkerOptions())
    assert why is None and (cfg.marker_map, cfg.decision_time_s, cfg.source) == (
        {"T1": "fists", "T2": "feet"}, 2.0, "card.scoring")


def test_scoring_config_comes_from_options_then_card_scoring_then_label_map_then_labels():
    c = card()
    assert c.scoring is None and c.training["label_map"] == {"T1": "fists", "T2": "feet"}
    cfg, why = scoring_config(c, MarkerOptions())
    assert why is None and (cfg.marker_map, cfg.decision_time_s, cfg.source) == (
        {"T1": "fists", "T2": "feet"}, 2.0, "card.training.label_map")
    scored = card(scoring=ScoringSpec(marker_map={"a": "feet", "b": None}, decision_time_s=1.5))
    cfg, _ = scoring_config(scored, MarkerOptions())
    assert (cfg.marker_map, cfg.decision_time_s, cfg.source) == ({"a": "feet", "b": None}, 1.5, "card.scoring")
    cfg, _ = scoring_config(scored, MarkerOptions(marker_map={"x": "fists"}, decision_time_s=0.5))
    assert (cfg.marker_map, cfg.decision_time_s, cfg.source) == ({"x": "fists"}, 0.5, "options")
    cfg, _ = scoring_config(card(training={}), MarkerOptions())
    assert (cfg.marker_map, cfg.source) == ({"fists": "fists", "feet": "feet"}, "output labels")
    with pytest.raises(ScoringError, match=r"options.markers.marker_map must map markers to output labels of model "
                                           r"eegmmidb-s001@.* \['fists', 'feet'\], got \['hands'\]"):
        scoring_config(c, MarkerOptions(marker_map={"T1": "hands"}))
    cfg, why = scoring_config(card(training={"label_map": {"T1": "hands"}}), MarkerOptions())
    assert cfg is None and "training.label_map names classes ['hands']" in why


def test_a_card_without_scoring_still_loads_and_a_bad_scoring_map_is_refused():
    c = card()
    data = c.model_dump(exclude={"scoring"})
    assert ModelCard.model_validate(data).scoring is None  # format 2 cards written before the field
    data["scoring"] = {"marker_map": {"T1": "hands"}}
    with pytest.raises(ValueError, match=r"scoring.marker_map must map markers to output labels \['fists', 'feet'\], "
                                         r"got \['hands'\]"):
        ModelCard.model_validate(data)


def test_marker_options_in_the_decoder_spec():
    spec = DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m",
                                       "options": {"markers": {"stream": {"name": "cues"}, "decision_time_s": 1}}})
    assert spec.options.markers.stream.name == "cues" and spec.options.markers.enabled
    assert DecoderOptions().markers == MarkerOptions()
    with pytest.raises(ValueError, match="marker_map must map at least one marker value"):
        MarkerOptions(marker_map={})
    with pytest.raises(ValueError, match="decision_time_s"):
        MarkerOptions(decision_time_s=0)


def test_markers_are_recorded_with_their_own_timestamps_and_clock_offsets(tmp_path):
    path = tmp_path / "s.xdf"
    rec = Recorder(path, {"name": "in", "type": "EEG", "ch_names": ["a"], "sfreq": 100.0,
                          "channel_format": "float32", "source_id": "src"},
                   {"name": "in-decoded", "labels": LABELS, "sfreq": 100.0, "source_id": "src/decoded",
                    "model": {"name": "m", "version": "1", "sha256": "0" * 64}}, flush_interval=0.05)
    rec.inputs(np.zeros((3, 1), np.float32), np.array([1.0, 1.01, 1.02]))
    rec.outputs(outputs_for(np.array([0, 1, 2])), np.array([1.0, 1.01, 1.02]), np.arange(3), 0)
    rec.marker_stream({"name": "in-markers", "type": "Markers", "source_id": "cues<1>", "hostname": "h"})
    rec.marker_clock_offset(2.0, 0.25)
    rec.marker(1.005, "T1")
    rec.marker(1.5, "T2")
    rec.close()
    s = read_session(path)
    # on the source's clock
    assert s.markers == [(1.005, "T1"), (1.5, "T2")] and s.marker_clock_offsets == [(1.75, 0.25)]
    assert s.marker_stream == {"name": "in-markers", "type": "Markers", "source_id": "cues<1>", "hostname": "h"}
    np.testing.assert_allclose(s.marker_times(), [1.255, 1.75])
    assert len(s.outputs) == 3


def test_a_session_without_markers_reads_as_before(tmp_path):
    path = tmp_path / "s.xdf"
    rec = Recorder(path, {"name": "in", "type": "EEG", "ch_names": ["a"], "sfreq": 100.0,
                          "channel_format": "float32", "source_id": "src"},
                   {"name": "in-decoded", "labels": LABELS, "sfreq": 100.0, "source_id": "src/decoded",
                    "model": {"name": "m", "version": "1", "sha256": "0" * 64}})
    rec.close()
    s = read_session(path)
    assert s.markers == [] and s.marker_stream == {} and len(s.marker_times()) == 0


def test_marker_feed_gives_each_marker_once_and_counts_those_it_missed():
    def status(first: int, last: int) -> dict:
        return {"recent": [[i, f"m{i}", float(i), None] for i in range(first, last + 1)]}

    feed = MarkerFeed(status(0, 2))  # starts after what was there
    assert feed.read(status(0, 2)) == []
    assert [m[0] for m in feed.read(status(0, 4))] == [3, 4]
    assert [m[0] for m in feed.read(status(10, 12))] == [10, 11, 12] and feed.dropped == 5
    assert [m[0] for m in feed.read(status(0, 1))] == [0, 1]  # a restarted worker
    assert MarkerFeed(None).read({"recent": [[0, "a", 1.0, "left"]]}) == [[0, "a", 1.0, "left"]]


def test_marker_feed_gives_a_restarted_workers_markers_whose_numbers_reach_past_its_cursor():
    def status(generation: int, first: int, last: int) -> dict:
        return {"generation": generation, "recent": [[i, f"m{i}", float(i), None] for i in range(first, last + 1)]}

    feed = MarkerFeed(status(1, 0, 0))
    assert [m[0] for m in feed.read(status(1, 0, 1))] == [1]
    # the restarted worker's first snapshot already holds three markers (recovered ones): all of them are new
    assert [m[0] for m in feed.read(status(2, 0, 2))] == [0, 1, 2] and feed.dropped == 0
    assert [m[0] for m in feed.read(status(2, 0, 3))] == [3]
    feed = MarkerFeed(status(1, 0, 0))  # one cue before the restart, one after: the new one is index 0 again
    assert [m[0] for m in feed.read(status(2, 0, 0))] == [0]


def test_the_argmax_is_taken_among_the_scored_classes():
    """A 3-output net whose "rest" output is the largest at the decision time: the L/R trial is decided between left
    and right (as the card's metrics and evaluate score it); with one scored class, over every output."""
    y = np.tile(np.array([[0.6, 0.3, 0.1]], dtype=np.float32), (300, 1))  # rest > left > right
    ts = 10.0 + np.arange(300) / SFREQ
    for marker_map, expected in (({"L": "left", "R": "right"}, (1, 1)), ({"L": "left"}, (1, 0))):
        scorer = LiveScorer(ScoringConfig(marker_map, 1.0, "test"), LABELS, SFREQ)
        scorer.marker("L", 10.0)
        scorer.outputs(ts, y)
        d = scorer.describe()
        assert (d["trials"], d["correct"]) == expected


def test_a_marker_map_for_a_model_without_class_outputs_is_refused_naming_the_field_and_the_kind():
    """``options.markers.marker_map`` given for a regression model (audit s53cov: never run): ScoringError (the API's
    422 on ``options.markers.marker_map``) naming the option, the model and its output kind; without a map, scoring is
    off with why."""
    gaussian = card(output=card().output.model_copy(update={"kind": "gaussian"}))
    with pytest.raises(ScoringError, match=r"^options.markers.marker_map needs a model with class outputs; model "
                                           r"eegmmidb-s001@\S+ outputs 'gaussian' values$"):
        scoring_config(gaussian, MarkerOptions(marker_map={"T1": "fists"}))
    cfg, why = scoring_config(gaussian, MarkerOptions())
    assert cfg is None and why.endswith("outputs 'gaussian' values, not class probabilities"), why


def test_a_value_the_map_sets_to_null_is_no_trial_and_no_unmapped_marker():
    """Audit s70score F5: a card's map {T0: null, T1: left, T2: right} counted a rest block's T0s as unmapped, and five
    of them raised the map warning asking to map them. They are counted apart; the warning is for values the map
    does not name."""
    scorer = LiveScorer(ScoringConfig({"T0": None, "T1": "left", "T2": "right"}, 1.0, "test"), LABELS, SFREQ)
    for k in range(6):
        assert scorer.marker("T0", 10.0 + k) is None
    d = scorer.describe()
    assert (d["markers_received"], d["markers_not_trials"], d["markers_unmapped"], d["unmapped_values"]) == (6, 6, 0, {})
    assert d["map_warning"] is None and d["pending"] == 0
    for k in range(5):
        scorer.marker("X", 20.0 + k)
    assert scorer.describe()["map_warning"].startswith("5 markers received and none is a cue of the map ")
