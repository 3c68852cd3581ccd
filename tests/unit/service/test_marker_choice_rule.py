"""The default marker selector's rule among several matches (:mod:`bci_stream.service.marker_choice`), on pylsl
stream infos as a resolver gives them (no network needed)."""

from __future__ import annotations

import pylsl

from bci_stream.core.spec import MarkerOptions, StreamSelector
from bci_stream.lsl.source import described
from bci_stream.service.marker_choice import MarkerChoice, derived_from


def info(name: str, source_id: str, stype: str = "Markers") -> pylsl.StreamInfo:
    return pylsl.StreamInfo(name, stype, 1, 0.0, "string", source_id)


def eeg(source_id: str) -> pylsl.StreamInfo:
    return pylsl.StreamInfo("amp", "EEG", 8, 250.0, "float32", source_id)


def choice(source_id: str) -> MarkerChoice:
    return MarkerChoice("amp", "host", source_id)


def test_a_marker_source_id_derived_from_the_inputs_is_its_own():
    assert derived_from("A", "A") and derived_from("A-markers", "A") and derived_from("A-annotations", "A")
    assert not derived_from("AB-markers", "A") and not derived_from("A-markers2", "A") and not derived_from("", "")


def test_the_inputs_own_marker_stream_is_followed_whichever_is_found_first():
    theirs, ours = info("amp-markers", "B-markers"), info("amp-markers", "A-markers")
    got = choice("A").choose([eeg("B"), theirs, eeg("A"), ours])
    assert got.info is ours and got.chosen_by == "source_id" and got.also_matching == []
    assert got.passed_over == [described(theirs)]
    annotations = info("amp-annotations", "A", "annotations")  # mne-lsl's PlayerLSL: the player's own source_id
    assert choice("A").choose([theirs, annotations]).info is annotations


def test_another_inputs_marker_stream_is_never_followed_an_unrelated_one_is():
    theirs = info("amp-markers", "B-markers")
    got = choice("A").choose([eeg("A"), eeg("B"), theirs])
    assert got.info is None and got.candidates == 1 and got.passed_over == [described(theirs)]
    assert choice("A").choose([eeg("A"), theirs]).info is theirs  # no stream B: nothing tells it is another's
    stim = info("amp-markers", "psychopy-1")  # a stimulus program's outlet: followed, the only one left
    got = choice("A").choose([eeg("A"), eeg("B"), theirs, stim])
    assert (got.info, got.chosen_by, got.also_matching) == (stim, "only match", [])


def test_several_left_by_the_rule_the_first_found_is_followed_and_the_others_named():
    first, second = info("amp-markers", "stim-1"), info("amp-annotations", "stim-2")
    got = choice("A").choose([first, eeg("A"), second])
    assert (got.info, got.chosen_by, got.also_matching) == (first, "first found", [described(second)])
    assert "choose with options.markers.stream with a source_id" in choice("A").ambiguity(got, "pred")
    got = choice("").choose([first, second])  # an input without source_id: none is its own
    assert got.info is first and got.chosen_by == "first found" and len(got.also_matching) == 1
    twins = info("amp-markers", "MNE-LSL"), info("amp-annotations", "MNE-LSL")  # two players' default source_id
    got = choice("MNE-LSL").choose(list(twins))
    assert got.info is twins[0] and got.chosen_by == "source_id" and got.also_matching == [described(twins[1])]


def test_an_explicit_selector_is_not_judged():
    assert MarkerChoice.for_input(MarkerOptions(stream=StreamSelector(name="cues")), "amp", "host", None) is None
    assert MarkerChoice.for_input(MarkerOptions(), "amp", "host", eeg("A")) == MarkerChoice("amp", "host", "A")


def test_the_inputs_own_stream_is_followed_at_once_any_other_choice_after_the_settling_wait():
    from bci_stream.service.marker_choice import SETTLE_S

    own = choice("A").choose([eeg("A"), info("amp-markers", "A-markers")])
    free = choice("A").choose([eeg("A"), info("amp-markers", "stim-program")])
    assert own.chosen_by == "source_id" and MarkerChoice.ready(own, 0.0)  # no delay for the common case
    assert free.chosen_by == "only match" and not MarkerChoice.ready(free, 0.0)
    assert MarkerChoice.ready(free, SETTLE_S)
    assert not MarkerChoice.ready(choice("A").choose([info("amp-markers", "B-markers"), eeg("B")]), 10.0)
