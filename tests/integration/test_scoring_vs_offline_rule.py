"""The service's live trial score decides the same trials at the same samples as the offline rule that
``evaluate --live`` publishes (cue onset sample + ``decision_time_s * sfreq``, argmax over the scored classes),
trial by trial, on a real recording replayed over real LSL on loopback through a real worker with a bundled model.

The piece of S001R10 (21-channel subset) starts at a cue: ``replay --wait-for-consumer`` starts the data when the
decoder's data inlet connects and holds the markers until its marker follower connects a moment later, then pushes
them with their own timestamps. Before the fix the worker gave the scorer only the outputs decoded after the marker
stream was connected (about 0.7 s of real time after the data started), so that first cue was anchored at a later
output: decided late, at another sample than evaluate's (``evaluate --live`` of the whole file at 16x: 13/15 live
against 14/15 offline), or missed (this piece: 3 trials, the first cue missed)."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.io import Event, load_recording
from bci_stream.io.session import read_session
from bci_stream.service.supervisor import Supervisor
from bci_stream.sim.replay import run_replay
from support.common import REPO, SUBSET_S001_21CH, subset_file, unique
from support.lsl import wait_for

pytestmark = [pytest.mark.timeout(120)]

MODELS = REPO / "models"
MODEL = "eegmmidb-s001-gru"  # 21 channels, rest / fists / feet; its card scores T1 / T2 at 2 s
SPEED = 16.0
PIECE_S = (4.2, 32.0)  # 4 cues (T1 at the piece's first sample, T2, T2, T1 every 8.3 s; T0 between) in 27.8 s


def _piece():
    rec = load_recording(subset_file(SUBSET_S001_21CH / "S001R10.edf"))
    a, b = (int(round(s * rec.sfreq)) for s in PIECE_S)
    events = [Event(e.onset - a, e.duration, e.description) for e in rec.events if a <= e.onset < b]
    return replace(rec, data=rec.data[:, a:b], labels=rec.labels[a:b], events=events)


def test_live_scoring_decides_each_trial_at_the_offline_rules_sample(tmp_path):
    rec = _piece()
    card = ModelRegistry(MODELS).get(MODEL).card
    marker_map = dict(card.scoring.marker_map)
    assert rec.events[0].onset == 0 and marker_map[rec.events[0].description] is not None
    n_after = int(round(card.scoring.decision_time_s * rec.sfreq))
    cued = [e for e in rec.events if marker_map.get(e.description) is not None]
    assert len(cued) == 4 and all(e.onset + n_after < rec.n_times for e in cued)

    name = unique("s18score")
    stop = threading.Event()
    pushed: list[int] = []
    replay = threading.Thread(target=lambda: pushed.append(run_replay(
        "S001R10-piece", name, recording=rec, speed=SPEED, source_id=f"{name}-src", stop_event=stop,
        wait_for_consumer=60.0, linger=5.0)), daemon=True)
    replay.start()
    sup = Supervisor(str(MODELS), status_interval=0.1, max_restarts=0, recordings_dir=str(tmp_path))
    spec = DecoderSpec.model_validate({"stream": {"name": name, "source_id": f"{name}-src"}, "model": MODEL,
                                       "options": {"record_path": "s.xdf", "max_buffer_s": 60.0}})
    try:
        handle = sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)
        # one status snapshot holds the counters and the scoring after the same chunk: once every sample is out and
        # every cue is in, the scoring is final (a cue anchored late waits past the end: pending)
        wait_for(lambda: handle.status.counters.samples_out == rec.n_times and handle.status.scoring is not None
                 and handle.status.scoring["markers_mapped"] == len(cued), 60, "every sample decoded, every cue in")
        scoring = handle.status.scoring
        sup.stop(handle.id)
    finally:
        stop.set()
        sup.shutdown()
        replay.join(10)
    assert pushed == [rec.n_times]

    session = read_session(tmp_path / "s.xdf")
    period = 1.0 / (rec.sfreq * SPEED)  # the replay stamps sample k t0 + k * period
    t0 = session.input_timestamps[0]
    assert len(session.input_timestamps) == rec.n_times
    idx = np.rint((session.output_timestamps - t0) / period).astype(int)
    assert np.array_equal(idx, np.arange(rec.n_times))  # every output, once, on the grid: the stream evaluate scores
    labels = session.output_labels
    scored = [labels.index(c) for c in dict.fromkeys(c for c in marker_map.values() if c is not None)]
    offline = []
    for e in cued:
        k = e.onset + n_after
        predicted = labels[scored[int(np.argmax(session.outputs[k, scored]))]]
        offline.append((e.onset, k, marker_map[e.description], predicted))
    live = [(int(round((t["cue_t"] - t0) / period)), int(round((t["decision_t"] - t0) / period)), t["class"],
             t["predicted"]) for t in scoring["last"]]
    assert (scoring["trials"], scoring["missed"], scoring["pending"]) == (len(cued), 0, 0), scoring
    assert live == offline
    assert scoring["correct"] == sum(c == p for *_, c, p in offline)
