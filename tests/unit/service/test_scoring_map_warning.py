"""Annotations named other than the model's classes (PlayerLSL's ``T1``/``T2`` for a model of ``left``/``right``)
score no trial; before, the status said only ``markers_mapped`` 0 among its counts (an audit's run: no hint). Now
``scoring.map_warning`` says so once a few markers came and none is a cue, naming the values and the cure."""

from __future__ import annotations

import logging

from bci_stream.service.scoring import LiveScorer, ScoringConfig
from bci_stream.service.scoring_notes import MAP_WARN_AFTER, MapWarningNotice

LABELS = ["left", "right"]


def scorer() -> LiveScorer:
    return LiveScorer(ScoringConfig({"left": "left", "right": "right"}, 2.0, "card"), LABELS, 160.0)


def test_markers_none_of_which_is_a_cue_are_said_with_their_values_and_the_cure():
    s = scorer()
    for k in range(MAP_WARN_AFTER - 1):
        s.marker("T1" if k % 2 else "T0", 10.0 + k)
    assert s.describe()["map_warning"] is None  # a few unmapped ones first (a rest marker) are no sign yet
    s.marker("T2", 20.0)
    said = s.describe()["map_warning"]
    assert said.startswith(f"{MAP_WARN_AFTER} markers received and none is a cue of the map "
                           "{'left': 'left', 'right': 'right'} (values: 'T0', 'T1', 'T2')"), said
    assert said.endswith("no trial is scored; map them with options.markers.marker_map"), said


def test_one_cue_among_them_says_nothing():
    s = scorer()
    s.marker("left", 5.0)
    for k in range(3 * MAP_WARN_AFTER):
        s.marker("T0", 10.0 + k)
    assert s.describe()["map_warning"] is None


def test_the_warning_is_logged_and_recorded_once_and_its_end_too(caplog):
    """In the log and the recording's events once an episode, not at every status report (MapWarningNotice)."""
    s, notice, events = scorer(), MapWarningNotice("d1"), []
    record = lambda kind, **fields: events.append((kind, fields))  # noqa: E731 - what the recorder is given
    with caplog.at_level(logging.INFO, logger="bci_stream.worker"):
        for k in range(3 * MAP_WARN_AFTER):
            s.marker("T0", 10.0 + k)
            notice.update(s.describe(), record)  # a status report after each marker
        assert [k for k, _ in events] == ["map_warning"] and "no trial is scored" in events[0][1]["message"]
        s.marker("left", 30.0)
        notice.update(s.describe(), record)
        notice.update(s.describe(), record)
        notice.update({"off": "no marker map"}, record)  # scoring off: nothing to say either
    assert events[1:] == [("map_warning", {"message": None})]
    said = [r for r in caplog.records if r.name == "bci_stream.worker"]
    assert [r.levelno for r in said] == [logging.WARNING, logging.INFO], said
    assert said[0].getMessage().startswith(f"decoder d1: {MAP_WARN_AFTER} markers received and none is a cue")
