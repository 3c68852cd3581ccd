"""The supervisor's marker witness keeps the 0s of an irregular one-channel numeric marker stream: a restarted
worker whose scoring map names ``"0"`` (a class coded 0) recovers the 0-coded cues of its unfollowed window; one whose
map does not drops them (0: "no event" there, as its own follower reads the stream).

Real LSL on loopback (an ``int32`` marker outlet), the real witness and its follower thread; the restarted workers'
hubs are built as a worker builds them (their own followers looking for a stream that does not exist)."""

from __future__ import annotations

import types

import pylsl
import pytest

from bci_stream.core.messages import RecoverMarkers
from bci_stream.core.status import WorkerStatus
from bci_stream.service.marker_witness import MarkerWitness, stream_predicate
from bci_stream.service.markers import MarkerFollower, MarkerHub
from bci_stream.service.scoring import LiveScorer, ScoringConfig
from support.common import unique
from support.lsl import wait_for

pytestmark = [pytest.mark.timeout(120)]


def _handle(markers: dict, generation: int) -> types.SimpleNamespace:
    spec = types.SimpleNamespace(options=types.SimpleNamespace(time_correction="none"))
    return types.SimpleNamespace(id="d1", generation=generation, stopping=False, spec=spec,
                                 status=WorkerStatus(markers=markers), ended_status=None, exit_code=None,
                                 restart_at=None)


def _hub(marker_map: dict, stream: dict, since: float) -> MarkerHub:
    """A restarted worker's hub, connected at ``since + 5``: the window from ``since`` has no follower."""
    scorer = LiveScorer(ScoringConfig(marker_map, 0.5, "test"), ["a", "b"], 100.0)
    zero = "0" in marker_map
    hub = MarkerHub(MarkerFollower("name='bci-no-such-s22zero'", "none", zero=zero), scorer, None,
                    unfollowed_since=since)
    hub.follower.queue.append(("connect", stream, 0.0, since + 5.0))
    return hub


def test_the_witness_keeps_numeric_0s_and_each_restarted_hub_takes_them_as_its_map_says() -> None:
    name = unique("s22wz")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", 1, pylsl.IRREGULAR_RATE, "int32", f"{name}-src"))
    stream = {"name": name, "type": "Markers", "source_id": f"{name}-src", "hostname": outlet.get_info().hostname(),
              "uid": "u", "n_chans": 1, "channel_format": "numeric", "ch_names": None}
    sent: list = []
    witness = MarkerWitness(lambda decoder_id, command: sent.append(command) or True)
    try:
        witness.saw(_handle({"stream": stream}, 1))
        wait_for(lambda: witness.following("d1") == "connected" and outlet.have_consumers(), 30, "the witness")
        since = pylsl.local_clock()
        codes = [0, 1, 0, 1]
        for k, code in enumerate(codes):
            outlet.push_sample([code], since + 0.5 + k)
        kept = witness._followed[stream_predicate(stream)].markers

        def witnessed() -> bool:
            witness.tick([])  # drains its follower
            return len(kept) == len(codes)

        wait_for(witnessed, 30, "every code witnessed")
        window = {"from": since, "to": since + 5.0, "seconds": 5.0}
        witness.saw(_handle({"stream": stream, "unfollowed": window, "clock_offset": 0.0}, 2))
    finally:
        witness.forget("d1")
        del outlet
    (answer,) = sent
    assert isinstance(answer, RecoverMarkers) and [v for v, _ in answer.markers] == ["0", "1", "0", "1"]
    coded_0 = _hub({"0": "a", "1": "b"}, stream, since)  # a class coded 0
    assert coded_0.recover(answer.markers) == 4 and [m[1] for m in coded_0.recent] == ["0", "1", "0", "1"]
    assert coded_0.scorer.describe()["markers_mapped"] == 4
    trigger_off = _hub({"1": "b"}, stream, since)  # 0: "trigger off", no event
    assert trigger_off.recover(answer.markers) == 2 and [m[1] for m in trigger_off.recent] == ["1", "1"]
    assert trigger_off.scorer.describe()["markers_unmapped"] == 0
