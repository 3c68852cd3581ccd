"""A marker reaches the WebSocket clients (``?markers=true``) when it arrives, not at the worker's next periodic status
snapshot (audit s52loop: cues reached a feedback client a median 0.33 s late, 0.19-0.54 s: the marker follower's pull
waited up to 0.2 s for a full buffer, then the marker waited for the next snapshot, every ``status_interval``
0.25 s; a client resetting the decoder on each cue from them landed beyond ``reset_grace_s`` 0.2 s in most trials).

With ``status_interval`` at 5 s, four markers, each pushed just after a status snapshot reached the supervisor (so
the next periodic one is about 5 s away): before, each waited for that snapshot (4.5 s or more); now each comes with
a snapshot of its own. The bound (3 s) is far from both, so a loaded machine fails neither way (review s52rev F9:
the test had asserted 1.5 s with markers pushed at any point of the interval).

Real uvicorn server, a real dedicated worker process, real LSL on loopback (names with "wsmkprompt"), a real
exported CSP+LDA oracle.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.lsl.info import make_stream_info
from support.common import unique
from support.http import wait_status
from support.oracle import CH, SFREQ, export_oracles

pytestmark = [pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("wsmkprompt")
    export_oracles(root)
    settings = Settings(host="127.0.0.1", port=0, models_dir=root, status_interval=5.0)
    with BackgroundServer(settings) as srv:
        yield srv


class Amplifier(threading.Thread):
    """Noise at 100 Hz in chunks of 10, stamped with the time of their last sample, until stopped."""

    def __init__(self, outlet: pylsl.StreamOutlet) -> None:
        super().__init__(daemon=True)
        self.outlet, self.stop_flag = outlet, threading.Event()

    def run(self) -> None:
        rng = np.random.default_rng(0)
        t0 = pylsl.local_clock()
        k = 0
        while not self.stop_flag.is_set():
            ts = t0 + (k + np.arange(10)) / SFREQ
            if (wait := ts[-1] - pylsl.local_clock()) > 0:
                time.sleep(wait)
            self.outlet.push_chunk(rng.standard_normal((10, 2)).astype(np.float32), ts.tolist())
            k += 10


def after_snapshot(client: httpx.Client, decoder_id: str) -> None:
    """Return once a status snapshot of the decoder's worker reached the supervisor (its ``status_age_s`` fell)."""
    deadline, age = time.monotonic() + 30.0, None
    while time.monotonic() < deadline:
        now = client.get(f"/decoders/{decoder_id}").json()["status_age_s"]
        if age is not None and now is not None and now < age:
            return
        age = now
        time.sleep(0.02)
    raise AssertionError("no status snapshot reached the supervisor within 30 s")


def test_each_marker_reaches_the_websocket_with_its_own_status_snapshot(server):
    from websockets.sync.client import connect

    name = unique("wsmkprompt")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    marker_outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                                        "string", f"{name}-markers-src"))
    amp = Amplifier(outlet)
    amp.start()
    client = httpx.Client(base_url=server.url, timeout=60.0)
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "oracle",
                                       "options": {"worker": "dedicated"}})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    ws_url = server.url.replace("http://", "ws://") + f"/decoders/{decoder_id}/outputs?markers=true&decimate=100"
    try:
        wait_status(client, decoder_id, lambda s: s["state"] == "running"
                    and (s.get("markers") or {}).get("state") == "connected", 90, "running, markers connected")
        late = []
        with connect(ws_url, max_size=None) as ws:
            for k, value in enumerate(["L", "R", "L", "R"]):
                after_snapshot(client, decoder_id)
                pushed = time.monotonic()
                marker_outlet.push_sample([value], pylsl.local_clock())
                arrived = None
                while arrived is None and time.monotonic() - pushed < 6.0:
                    try:
                        msg = ws.recv(timeout=0.2)
                    except TimeoutError:
                        continue
                    if '"type": "marker"' in msg or '"type":"marker"' in msg:
                        arrived = time.monotonic() - pushed
                late.append(arrived)
        assert all(t is not None for t in late), late
        assert max(late) < 3.0, f"marker to WebSocket: {late} s, each pushed just after a snapshot (every 5 s)"
    finally:
        client.delete(f"/decoders/{decoder_id}")
        amp.stop_flag.set()
        amp.join(5)
        client.close()
    del outlet, marker_outlet
