"""Fault 8: consumers that stop reading: an LSL inlet that stops pulling, a WebSocket client that
stops reading."""

from __future__ import annotations

import json
import threading

import httpx
import numpy as np
import pylsl

from support.common import TINY_SFREQ, test_signal, unique
from faults.kit import AUTH, WsReader, assert_service_up, stalled_ws, start_running, ws_url
from support.pacing import push_paced
from support.http import wait_status
from support.lsl import pull_all
from support.lsl import new_outlet, open_output

N = 20_000
SPEED = 10.0  # 5000 samples/s of 64 outputs each: big rows, so a stalled socket fills up quickly


def test_stalled_lsl_inlet_and_stalled_websocket_client(client, server, wide_model):
    """A decoder with 64 outputs per sample (rows of ~1.3 kB as JSON) and four consumers: an LSL inlet
    that pulls, an LSL inlet (1 s buffer) that never pulls, a WebSocket client that reads, and one that
    stops reading after connecting (tiny socket buffer, no compression). Expected: the stalled
    consumers cost the decoder nothing: it decodes every sample (in = out = N, no loss) and the
    pulling inlet gets all N outputs with their timestamps. The stalled inlet keeps only its newest
    second (liblsl drops the oldest on the consumer's side). The stalled WebSocket client's session
    falls behind the output ring (2 s here) and loses its oldest rows, counted in ``dropped``: once it
    reads again it gets rows + dropped = N, in order. The reading WebSocket client also accounts for
    every row. The API stays responsive throughout (/health, /decoders/{id}, /metrics answer 200)."""
    name = unique("slow")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, model=wide_model, outputs_buffer_s=2)
    url = ws_url(server.url, decoder_id)
    stalled = stalled_ws(url)
    reader = WsReader(url)
    lazy = pylsl.StreamInlet(pylsl.resolve_bypred(f"name='{name}-decoded'", 1, 10.0)[0], max_buflen=1,
                             processing_flags=0)
    lazy.open_stream(timeout=10.0)
    busy = open_output(f"{name}-decoded")
    x = test_signal(N, seed=108)
    pulled: dict[str, np.ndarray] = {}
    sent: dict[str, np.ndarray] = {}
    try:
        reader.start()
        puller = threading.Thread(target=lambda: pulled.update(zip("yt", pull_all(busy, N, timeout=120), strict=True)))
        pusher = threading.Thread(target=lambda: sent.update(t=push_paced(outlet, x, TINY_SFREQ * SPEED, chunk=20)))
        puller.start()
        pusher.start()
        answers = []
        with httpx.Client(base_url=server.url, timeout=30.0, headers=AUTH) as probe:
            while pusher.is_alive():
                for path in ("/health", f"/decoders/{decoder_id}", "/metrics"):
                    answers.append(probe.get(path).status_code)
        pusher.join()
        puller.join()
        assert answers and set(answers) == {200}, answers

        st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == N, 60, "all samples")
        c = st["counters"]
        assert c["samples_in"] == c["samples_out"] == N and c["samples_lost"] == 0 and c["gaps"] == 0
        assert st["restarts"] == 0
        assert len(pulled["t"]) == N
        np.testing.assert_array_equal(pulled["t"], sent["t"])

        got, ts_lazy = pull_all(lazy, N, timeout=5)
        assert 0 < len(ts_lazy) <= TINY_SFREQ * 1  # its newest second at most
        np.testing.assert_array_equal(ts_lazy, sent["t"][-len(ts_lazy):])

        reader.wait_rows(N, 60)
        seq_r = np.asarray(reader.seq)
        assert len(seq_r) + reader.dropped == N and np.all(np.diff(seq_r) > 0)

        seq_s, dropped = [], 0
        while True:  # the stalled client reads again: what it gets + what it was told it lost = N
            try:
                msg = json.loads(stalled.recv(timeout=5))
            except TimeoutError:
                break
            seq_s.extend(msg["seq"])
            dropped = msg["dropped"]
        assert dropped > 0, "the stalled client lost nothing: its socket never filled up"
        assert len(seq_s) + dropped == N and np.all(np.diff(seq_s) > 0), (len(seq_s), dropped)
        assert seq_s[-1] == N - 1
    finally:
        reader.close()
        stalled.close()
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
