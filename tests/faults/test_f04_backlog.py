"""Fault 4: a 10 s backlog at 1 kHz x 64 channels delivered at once."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.info import make_stream_info
from bci_stream.engine.offline import decode_offline
from support.common import unique
from faults.kit import HD_CH_NAMES, HD_SFREQ, WsReader, assert_service_up, push_indexed, start_running, ws_url
from support.http import wait_status


PREFIX, BACKLOG, LIVE = 500, 10_000, 1000  # samples: 0.5 s, 10 s, 1 s at 1 kHz


def hd_signal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / HD_SFREQ
    x = 20 * rng.standard_normal((n, len(HD_CH_NAMES))) + 40 * np.sin(2 * np.pi * 10 * t)[:, None]
    return (x + rng.uniform(-300, 300, len(HD_CH_NAMES))).astype(np.float32)


def test_ten_second_backlog_at_1_khz_64_channels(client, server, fault_models, hd_model):
    """A 64-channel 1 kHz sender first sends 0.5 s, then 10 s of samples in one chunk (with their
    original timestamps, as a driver does after a hiccup), then 1 s live. Two decoders read it:

    * default inlet buffer (``max_buffer_s`` = 30 s): catches up in a few large chunks; every sample
      is decoded once, in order, with its own timestamp and exactly the offline pipeline's output; no
      gap, no loss; the backlog shows as end-to-end latency above 10 s.
    * ``max_buffer_s`` = 2: its LSL inlet cannot hold the backlog and drops the oldest samples. That loss
      happens before the decoder, which sees it as a timestamp hole: counted in ``gaps`` and exactly in
      ``samples_lost`` (in + lost = sent), and the rest is decoded in order (in = out).

    The service stays up; nothing is restarted."""
    name = unique("backlog")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", HD_CH_NAMES, HD_SFREQ, f"{name}-src"))
    big = start_running(client, name, model=hd_model, outputs_buffer_s=30)
    small = start_running(client, name, model=hd_model, outputs_buffer_s=30, max_buffer_s=2)
    readers = {d: WsReader(ws_url(server.url, d)) for d in (big, small)}
    n = PREFIX + BACKLOG + LIVE
    x = hd_signal(n, seed=104)
    ts = pylsl.local_clock() - (PREFIX + BACKLOG) / HD_SFREQ - 0.5 + np.arange(n) / HD_SFREQ
    try:
        for r in readers.values():
            r.start()
        outlet.push_chunk(x[:PREFIX], ts[:PREFIX].tolist())
        for d in (big, small):
            wait_status(client, d, lambda s: s["counters"].get("samples_out") == PREFIX, 30, "the first 0.5 s")
        b = PREFIX + BACKLOG
        outlet.push_chunk(x[PREFIX:b], ts[PREFIX:b].tolist())  # 10 s at once
        push_indexed(outlet, x[b:], ts[b:], HD_SFREQ, chunk=10)  # then 1 s live

        st = wait_status(client, big, lambda s: s["counters"].get("samples_out") == n, 60, "the whole backlog")
        c = st["counters"]
        assert c["samples_in"] == c["samples_out"] == n and c["gaps"] == 0 and c["samples_lost"] == 0
        assert st["latency_ms"]["e2e"]["max"] >= 1e3 * BACKLOG / HD_SFREQ  # the oldest backlog sample waited > 10 s
        assert st["restarts"] == 0 and st["state"] in ("running", "stalled")
        readers[big].wait_rows(n, 60)
        ws = readers[big]
        assert ws.dropped == 0
        np.testing.assert_array_equal(ws.seq, np.arange(n))
        np.testing.assert_array_equal(ws.t, ts)
        expected = decode_offline(ModelRegistry(fault_models).get(hd_model), x)
        assert np.abs(np.asarray(ws.y) - expected).max() <= 1e-4

        st = wait_status(client, small, lambda s: s["counters"].get("samples_in", 0) + s["counters"].get(
            "samples_lost", 0) >= n, 60, "the small-buffer decoder to account for every sample")
        c = st["counters"]
        assert c["samples_in"] == c["samples_out"] and c["samples_in"] + c["samples_lost"] == n, c
        assert c["gaps"] >= 1 and c["samples_lost"] > 0, c
        readers[small].wait_rows(c["samples_out"], 30)
        t_small = np.asarray(readers[small].t)
        assert len(t_small) == c["samples_out"] and np.all(np.diff(t_small) > 0)
        assert np.isin(t_small, ts).all() and t_small[-1] == ts[-1]  # only the oldest were dropped
    finally:
        for r in readers.values():
            r.close()
    assert_service_up(client)
    for d in (big, small):
        assert client.delete(f"/decoders/{d}").status_code == 200
