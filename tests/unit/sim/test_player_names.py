"""The streams ``simulate`` and ``replay`` publish can all be selected: a name of the longest length the players take
(248 characters) gives a marker stream ``NAME-markers`` of 256, and a default source_id (``bci-stream-sim-NAME``,
``replay:FILE:NAME``) is cut to 248 so that the marker stream's (``-markers`` added) is at most 256 too (review s66
F4: a name of 250 characters published a marker stream of 258 and source_ids of 265 and 273, which no stream selector
took). Real outlets on loopback LSL."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pylsl

from bci_stream.core.lsl_text import NAME_MAX, PLAYED_MAX, lsl_text_problem
from support.common import SUBSET_R06, subset_file, unique


#: A player started on a name, with its stop event and its on-ready callback.
Player = Callable[[str, threading.Event, Callable[..., object]], object]


def _published(play: Player, name: str) -> list[pylsl.StreamInfo]:
    """The streams ``play`` publishes under ``name`` and ``name-markers``, found while it runs."""
    ready, stop, found = threading.Event(), threading.Event(), []
    runner = threading.Thread(target=play, args=(name, stop, lambda *_: ready.set()), daemon=True)
    runner.start()
    try:
        assert ready.wait(60.0), "the player published nothing within 60 s"
        for wanted in (name, f"{name}-markers"):
            infos = pylsl.resolve_byprop("name", wanted, 1, 10.0)
            assert infos, f"no stream named {wanted[:20]}... ({len(wanted)} characters)"
            found.append(infos[0])
    finally:
        stop.set()
        runner.join(30.0)
    return found


def test_every_stream_of_a_simulator_of_the_longest_name_is_selectable() -> None:
    from bci_stream.sim.player import run_simulator

    name = unique("sim-long").ljust(PLAYED_MAX, "n")
    eeg, markers = _published(lambda n, stop, ready: run_simulator(n, n_chans=4, stop_event=stop, on_ready=ready),
                              name)
    assert len(markers.name()) == NAME_MAX and len(markers.source_id()) == NAME_MAX, markers.source_id()
    assert eeg.source_id() == f"bci-stream-sim-{name}"[:PLAYED_MAX]
    for text in (eeg.name(), eeg.source_id(), markers.name(), markers.source_id()):
        assert lsl_text_problem(text) is None, text


def test_every_stream_of_a_replay_of_the_longest_name_is_selectable() -> None:
    from bci_stream.sim.replay import run_replay

    name, edf = unique("replay-long").ljust(PLAYED_MAX, "n"), subset_file(SUBSET_R06)
    eeg, markers = _published(lambda n, stop, ready: run_replay(edf, n, stop_event=stop, on_ready=ready, linger=0.0),
                              name)
    assert eeg.source_id() == f"replay:{edf.name}:{name}"[:PLAYED_MAX] and len(markers.source_id()) == NAME_MAX
    for text in (eeg.name(), eeg.source_id(), markers.name(), markers.source_id()):
        assert lsl_text_problem(text) is None, text
