"""Fault 13: a WebSocket client that reads, but slower than its decoder publishes (default socket buffers).

Without a bound on what waits for a client, the kernel's socket buffers (autotuned to megabytes) took minutes
of rows before a send blocked: the slow client was served ever staler rows and ``dropped`` stayed 0.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
from websockets.sync.client import connect as ws_connect

from faults.kit import WsReader, assert_service_up, start_running, ws_url
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet
from support.pacing import push_paced

N = 16_000
SPEED = 4.0  # 2000 samples/s: ~0.2 MB/s of JSON rows
# the output ring (s of samples at 500 Hz): 2 s of wall time at 4x, slack for the fast client on a loaded machine
# (a 2 s ring, 0.5 s of wall time, lost it 40-220 rows in two CI rehearsals), while the slow client still loses about
# a quarter of the rows (about 4,000 of 16,000 measured; with a 16 s ring it lost none)
RING_S = 8
PAUSE_S = 0.2  # the slow client's pause after each message: it takes ~5 messages/s


class SlowReader(threading.Thread):
    """Reads one message, then pauses :data:`PAUSE_S`; stops once it has the last row or the server goes quiet."""

    def __init__(self, url: str, last_seq: int) -> None:
        super().__init__(daemon=True)
        self.ws = ws_connect(url, max_size=None).__enter__()
        self.last_seq = last_seq
        self.seq: list[int] = []
        self.dropped = 0
        self.messages = 0

    def run(self) -> None:
        while not self.seq or self.seq[-1] < self.last_seq:
            try:
                msg = json.loads(self.ws.recv(timeout=20))
            except (TimeoutError, Exception):  # noqa: BLE001 - quiet or closed: the test judges what arrived
                return
            self.seq.extend(msg["seq"])
            self.dropped = msg["dropped"]
            self.messages += 1
            time.sleep(PAUSE_S)

    def close(self) -> None:
        self.ws.close()


def test_slow_websocket_reader_loses_its_oldest_rows_counted(client, server):
    """A fast and a slow WebSocket client of one decoder (8 s output ring, 16,000 samples at 2 kHz, 3 outputs).
    Expected: the fast client gets every row (dropped 0). The slow client cannot take ~0.2 MB/s: it loses rows,
    and says so: ``dropped`` > 0 and rows received + dropped = rows published, seq increasing, the last row
    included (what waits for it on the server's side is bounded, so the ring laps its cursor and counts)."""
    name = unique("slowrd")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, outputs_buffer_s=RING_S)
    url = ws_url(server.url, decoder_id)
    fast = WsReader(url)
    slow = SlowReader(url, N - 1)
    try:
        fast.start()
        slow.start()
        push_paced(outlet, test_signal(N, seed=113), TINY_SFREQ * SPEED, chunk=20)
        st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == N, 60, "all samples")
        assert st["counters"]["samples_in"] == N and st["restarts"] == 0
        fast.wait_rows(N, 60)
        slow.join(120)
        assert not slow.is_alive(), "the slow client was still reading 2 minutes after the last row"
        assert fast.dropped == 0 and fast.seq == list(range(N))
        seq = np.asarray(slow.seq)
        assert slow.dropped > 0, f"the slow client lost nothing ({len(seq)} rows in {slow.messages} messages)"
        assert len(seq) + slow.dropped == N and np.all(np.diff(seq) > 0), (len(seq), slow.dropped)
        assert seq[-1] == N - 1
    finally:
        fast.close()
        slow.close()
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
