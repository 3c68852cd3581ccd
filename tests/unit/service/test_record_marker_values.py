"""A recording's status and summary list the 50 most frequent marker values, and how many others there are: a
stimulus program stamping a trial number into each marker made a 20,000-marker session's status 600 kB, sent whole at
every poll (audit s63fault F5). Every marker is still counted."""

from __future__ import annotations

from bci_stream.service.record_markers import MAX_LISTED, listed


def test_the_most_frequent_values_are_listed_and_the_others_counted() -> None:
    counts = {"left": 40, "right": 39} | {f"trial-{i}": 1 for i in range(20_000)}
    shown, others = listed(counts)
    assert len(shown) == MAX_LISTED == 50 and others == 20_002 - 50
    assert list(shown)[:2] == ["left", "right"] and shown["left"] == 40
    assert list(shown)[2:] == [f"trial-{i}" for i in range(48)]  # ties: the first seen first
    assert listed({"a": 2, "b": 1}) == ({"a": 2, "b": 1}, 0)
