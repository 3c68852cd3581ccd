"""A stream that stops being decoded or recorded lets go of its LSL inlets at once (found by an exploratory run).

The stream's objects sit in reference cycles (a recording's marker counter and hub refer to each other; a decoder's
slot to its reporter and load window), so its liblsl inlets (each with its own threads and 5-7 descriptors) were
freed only by Python's full collection, which a quiet process runs rarely: a shared worker gained 2-3 threads and
10-16 descriptors per decoder started and stopped on it (15 -> 48 threads over 27 decoders, back only at a full
collection), and the API process 1 thread and 7 descriptors per recording. Now closing a stream drops its inlets,
their puller and its source monitor's watch, so liblsl frees them then. Real LSL, a real shared worker process, the
API's real recordings table; Python's collector off where the test runs the recordings.
"""

from __future__ import annotations

import gc
import os
import threading
import time

import numpy as np
import pylsl

from bci_stream.core.messages import Stop
from bci_stream.core.spec import StreamSelector
from bci_stream.service.pool_messages import StreamEnded
from bci_stream.service.recordings import Recordings
from bci_stream.service.ring import OutputRing
from support.common import TINY_SFREQ, unique
from support.lsl import new_outlet, wait_for
from test_shared_worker import SharedHost, running


def marker_outlet(name: str) -> pylsl.StreamOutlet:
    """The marker stream a decoder or recording of ``name`` follows by default (``<name>-markers``)."""
    return pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE, "string",
                                               f"{name}-markers-src"))


def pushing(outlet: pylsl.StreamOutlet, stop: threading.Event) -> threading.Thread:
    """Push 10-sample chunks of noise at about the stream's rate until ``stop``."""
    def run() -> None:
        rng = np.random.default_rng(0)
        while not stop.is_set():
            outlet.push_chunk(rng.standard_normal((10, outlet.channel_count)).astype(np.float32))
            stop.wait(10 / TINY_SFREQ)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def live_inlets() -> int:
    return sum(isinstance(o, pylsl.StreamInlet) for o in gc.get_objects())


def test_a_stopped_recording_lets_go_of_its_inlets_at_once(tmp_path):
    name = unique("relrec")
    outlet, _ = new_outlet(name, f"{name}-src")
    markers = marker_outlet(name)
    stop = threading.Event()
    pusher = pushing(outlet, stop)
    gc.collect()
    gc.disable()  # as in a process where no full collection comes: only reference counting frees
    try:
        recordings = Recordings(str(tmp_path))
        before = live_inlets()
        for i in range(2):
            rec = recordings.start(f"r{i}.xdf", StreamSelector(name=name), None, "uV", None, 10.0)
            wait_for(lambda: rec.state == "recording" and rec.rec.counters.samples_in > 0
                     and rec.rec.hub is not None and rec.rec.hub.follower.state == "connected", 30,
                     "the recording to record and follow its markers")
            assert live_inlets() == before + 2  # its data and marker inlets
            recordings.stop(rec.id)
            assert rec.state == "stopped"
            assert live_inlets() == before, f"recording {i}: inlets left after its stop"  # before: 2 more each
    finally:
        gc.enable()
        stop.set()
        pusher.join(5)
    del markers


def test_a_stream_that_leaves_a_shared_worker_lets_go_of_its_inlets_at_once(models_dir):
    """An anchor stream keeps the worker busy; three others (each with a marker stream and an output ring in named
    shared memory, as the supervisor gives them) are added and stopped in turn. The worker's thread count comes back
    to what it was after the first (warm-up) cycle (before, it grew by 2-3 threads a cycle: the data and marker
    inlets' liblsl threads), and it maps none of the rings of the streams that left (before: each until a full
    collection, a descriptor and a mapping)."""
    host = SharedHost(models_dir)
    stop = threading.Event()
    pushers = []
    try:
        anchor_name = unique("anchor")
        anchor_outlet, _ = new_outlet(anchor_name, f"{anchor_name}-src")
        pushers.append(pushing(anchor_outlet, stop))
        running([host.add(anchor_name, markers={"enabled": False})])
        pid = host.proc.pid

        def threads() -> int:
            return len(os.listdir(f"/proc/{pid}/task"))

        def rings_mapped() -> int:
            return sum(ring_name in line for line in open(f"/proc/{pid}/maps") for ring_name in names)

        names: list[str] = []
        rings: list[OutputRing] = []

        baseline = None
        for i in range(4):
            name = unique(f"leaver{i}")
            outlet, _ = new_outlet(name, f"{name}-src")
            markers = marker_outlet(name)
            pushers.append(pushing(outlet, stop))
            ring = OutputRing.create_named(64, 3)  # tiny-gru: 3 outputs
            rings.append(ring)
            names.append(ring.handles.name)
            hosted = host.add(name, ring=ring.handles)
            wait_for(lambda: hosted.state() == "running"
                     and (hosted.status.markers or {}).get("state") == "connected", 60,
                     f"stream {i} to run and follow its markers")
            assert rings_mapped() == 1
            hosted.cmd.send(Stop())
            wait_for(lambda: any(isinstance(m, StreamEnded) and m.decoder_id == hosted.id for m in host.received()),
                     30, f"stream {i} to leave the worker")
            assert rings_mapped() == 0, f"stream {i}'s ring is still mapped after it left"
            if baseline is None:  # after the warm-up cycle (the worker's first connect and marker threads)
                time.sleep(1.0)
                baseline = threads()
                continue
            # liblsl ends an inlet's threads as it is destroyed; a few hundred ms at most on a loaded machine
            wait_for(lambda: threads() <= baseline, 20, f"the worker's threads back to {baseline} after stream {i} "
                     f"left (now {threads()})")
            del markers
    finally:
        stop.set()
        for p in pushers:
            p.join(5)
        host.close()
        for ring in rings:
            ring.unlink()
