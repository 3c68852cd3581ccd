"""A restarted worker says when no follower covered the marker stream: markers pushed between the last output of
the crashed generation and the new generation's marker inlet may be missing, so its recording gets a
``markers_unfollowed {from, to, seconds}`` event and its status ``markers.unfollowed`` the same window; a first
generation has none. Real LSL on loopback, a real worker process, kill -9, a real recording."""

from __future__ import annotations

import os
import signal

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.io.session import read_session
from bci_stream.service.supervisor import Supervisor
from support.common import unique
from support.lsl import cue_outlet, decoding_with_markers, paced_source, wait_for


def test_a_restart_records_and_reports_the_window_without_a_marker_follower(models_dir, tmp_path):
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=2, restart_backoff=0.1,
                     recordings_dir=str(tmp_path))
    name = unique("fixHmu")
    cues = cue_outlet(name)
    _, pusher = paced_source(name, 120, 11)
    card = ModelRegistry(models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru", "options": {
        "record_path": "s.xdf", "markers": {"stream": {"name": f"{name}-cues", "type": "Markers"}}}})
    try:
        handle = sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)

        def connected() -> bool:
            return decoding_with_markers(handle)

        wait_for(connected, 60, "decoding with the marker stream followed")
        assert handle.status.markers["unfollowed"] is None
        first = handle.generation
        last_out = handle.status.last_timestamp
        os.kill(handle.status.pid, signal.SIGKILL)
        wait_for(lambda: handle.generation == first + 1 and connected(), 60, "the restarted worker following markers")
        wait_for(lambda: handle.status.markers.get("unfollowed") is not None, 30, "the window in the status")
        window = handle.status.markers["unfollowed"]
        assert last_out <= window["from"] < window["to"] and window["seconds"] > 0
        sup.stop(handle.id)
        events = [e for _, e in read_session(tmp_path / "s.2.xdf").events if e["event"] == "markers_unfollowed"]
        assert events == [{"event": "markers_unfollowed", **{k: window[k] for k in ("from", "to", "seconds")}}]
        assert not [e for _, e in read_session(tmp_path / "s.xdf").events if e["event"] == "markers_unfollowed"]
    finally:
        pusher.halt.set()
        sup.shutdown()
    del cues
