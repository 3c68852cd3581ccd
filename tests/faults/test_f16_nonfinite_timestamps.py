"""Fault 16: samples the sender stamps ``inf``, ``-inf`` or ``NaN`` (found by an exploratory run: one ``inf`` stamp
crashed the worker in the gap tracker, its chunk neither decoded nor rejected, ~1.5 s counted lost after the restart;
a ``NaN`` stamp went out on the decoded stream as it came, uncounted). Each is placed one period after the stamp
before it, decoded as usual and counted (``nonfinite_timestamps``); in == out, nothing lost, no restart."""

from __future__ import annotations

import time

import numpy as np
import pylsl

from faults.kit import assert_service_up, start_running
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, open_output, pull_all

BAD = {300: np.inf, 301: np.inf, 700: -np.inf, 1100: np.nan, 1499: np.nan}  # 1499: the last sample of a chunk


def test_nonfinite_timestamps_are_placed_counted_and_decoded(client, worker_kind):
    n = 2000
    name = unique("stamps")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, worker=worker_kind)
    out = open_output(f"{name}-decoded")
    x = test_signal(n, seed=16)
    period = 1.0 / TINY_SFREQ
    ts = push_stamped(outlet, x, BAD)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == n, 60, "every sample out")
    c = st["counters"]
    assert c["samples_in"] == n and c["samples_rejected"] == 0, c
    assert c["nonfinite_timestamps"] == len(BAD), c
    assert c["samples_lost"] == 0 and c["gaps"] == 0 and c["backward_steps"] == 0, c
    assert st["restarts"] == 0 and st["state"] in ("running", "stalled") and st["last_error"] is None, st
    _, got = pull_all(out, n, 30)
    assert len(got) == n and np.isfinite(got).all()
    expected = ts.copy()
    for i in sorted(BAD):  # one period after the stamp before it (itself filled, for 301)
        expected[i] = expected[i - 1] + period
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    metrics = client.get("/metrics").text
    assert f'bci_stream_nonfinite_timestamps_total{{decoder_id="{decoder_id}"' in metrics
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def push_stamped(outlet, x: np.ndarray, bad: dict[int, float]) -> np.ndarray:
    """Push ``x`` in real time in 20-sample chunks, stamped on the nominal schedule but for ``bad``'s samples; the
    schedule's stamps."""
    stamps = pylsl.local_clock() + np.arange(len(x)) / TINY_SFREQ
    sent = stamps.copy()
    for i, v in bad.items():
        sent[i] = v
    for i in range(0, len(x), 20):
        if (wait := stamps[min(i + 20, len(x)) - 1] - pylsl.local_clock()) > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i:i + 20], sent[i:i + 20].tolist())
    return stamps
