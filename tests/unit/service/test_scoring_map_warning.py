"""Annotations named other than the model's classes (PlayerLSL's ``T1``/``T2`` for a model of ``left``/``right``)
score no trial; before, the status said only ``markers_mapped`` 0 among its counts (an audit's run: no hint). Now
``scoring.map_warning`` says so once a few markers came and none is a cue, naming the values and the cure."""

from __future__ import annotations

from bci_stream.service.scoring import LiveScorer, ScoringConfig
from bci_stream.service.scoring_notes import MAP_WARN_AFTER

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
