"""Markers pushed while a decoder's worker restarts are recovered from the supervisor's witness: the supervisor
follows the decoder's marker stream itself, and sends the restarted worker the markers of its unfollowed window
(``markers.unfollowed``), which takes them as received: ``markers.unfollowed.recovered``, in its status's recent
markers, recorded with their own timestamps (and a ``markers_recovered`` event), scored when outputs at their time are
decoded (a gap threshold longer than the restart) and else counted ``missed`` as any late cue.

Real LSL on loopback (a data outlet, a string marker outlet), real worker processes (dedicated, and a shared worker
killed with its decoder), kill -9, a real recording. The markers are pushed while the restart waits its backoff
(``restart_at`` set, no new worker yet), so no follower of a worker can have received them."""

from __future__ import annotations

import signal

import pylsl
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.io.session import read_session
from bci_stream.service.supervisor import Supervisor
from support.common import unique
from support.lsl import cue_outlet, decoding_with_markers, paced_source, wait_for


@pytest.mark.parametrize("worker, gap_threshold_s", [("dedicated", 30.0), ("shared", 0.5)])
def test_markers_pushed_during_a_restart_reach_the_new_worker(models_dir, tmp_path, worker, gap_threshold_s):
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=2, restart_backoff=1.0,
                     recordings_dir=str(tmp_path), shared_workers=1)
    name = unique("recMk")
    cues = cue_outlet(name)
    _, pusher = paced_source(name, 120, 17)
    card = ModelRegistry(models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru", "options": {
        "worker": worker, "record_path": "s.xdf", "gap_threshold_s": gap_threshold_s,
        "markers": {"stream": {"name": f"{name}-cues", "type": "Markers"}, "decision_time_s": 10.0,
                    "marker_map": {"cue": card.output.labels[0]}}}})
    try:
        handle = sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)

        def connected() -> bool:
            return decoding_with_markers(handle)

        wait_for(lambda: connected() and sup.witness.following(handle.id) == "connected", 60,
                 "decoding with the marker stream followed by the worker and the witness")
        first = handle.generation
        handle.process.kill()  # SIGKILL: the dedicated worker, or the shared worker hosting the decoder
        assert handle.process.join(10) is None and handle.process.exitcode == -signal.SIGKILL
        wait_for(lambda: handle.restart_at is not None, 30, "the restart waiting its backoff")
        pushed = []
        for value in ("cue", "other"):
            t = pylsl.local_clock()
            cues.push_sample([value], t)
            pushed.append((t, value))
        assert handle.restart_at is not None and handle.generation == first  # no new worker (nor follower) yet

        def recovered() -> bool:
            u = (handle.status.markers or {}).get("unfollowed") or {}
            return handle.generation == first + 1 and connected() and "recovered" in u

        wait_for(recovered, 60, "the restarted worker's window answered by the witness")
        m = handle.status.markers
        assert m["unfollowed"]["recovered"] == 2
        assert m["unfollowed"]["from"] < pushed[0][0] and pushed[-1][0] < m["unfollowed"]["to"]
        assert [(value, cls) for _, value, _, cls in m["recent"]] == [("cue", card.output.labels[0]), ("other", None)]
        if gap_threshold_s > 5:  # its decision sample (10 s on) after the restart: decided there, by the new worker
            wait_for(lambda: (handle.status.scoring or {}).get("trials") == 1, 60, "the recovered cue scored")
            assert handle.status.scoring["missed"] == 0
        else:  # the restart's gap at the cue: missed, as any cue without outputs at its time
            wait_for(lambda: (handle.status.scoring or {}).get("missed") == 1, 30, "the recovered cue missed")
            assert handle.status.scoring["trials"] == 0
        sup.stop(handle.id)
        session = read_session(tmp_path / "s.2.xdf")
        assert session.markers == pushed  # their own timestamps (the marker stream's clock: this host's)
        assert [e["recovered"] for _, e in session.events if e["event"] == "markers_recovered"] == [2]
        assert not read_session(tmp_path / "s.xdf").markers  # none pushed while the first generation ran
    finally:
        pusher.halt.set()
        sup.shutdown()
    del cues
