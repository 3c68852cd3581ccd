"""Fault 22: stamps liblsl deduced from 0. A connection that begins inside a chunk the sender pushed gets the rest of
that chunk stamped ``1/sfreq, 2/sfreq, ...`` (liblsl's data receiver deduces an unstamped sample from the stamp
before it, and starts each connection at 0.0). Found in a run of the whole suite: a restarted worker published such
stamps ~4e4 s behind the outputs before them (test_f07_kill_push_jitter, decoded stamps not increasing), and its
clock check warned of a sender "3.98e+04 s behind". Here the sender itself sends that pattern (a connection's start,
one run across a chunk boundary; a re-subscription mid-stream, a run inside a chunk): each run is stamped back from
the next stamped sample at the nominal rate, counted (``deduced_timestamps``), every sample decoded, nothing lost."""

from __future__ import annotations

import time

import numpy as np
import pylsl

from faults.kit import assert_service_up, start_running
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import liblsl_deduced, new_outlet, open_output, pull_all

CHUNK = 20
RUNS = ((0, 25), (1003, 5))  #: (first sample, samples): stamped as liblsl stamps a connection begun inside a chunk


def test_stamps_deduced_from_zero_are_placed_back_from_the_next_stamp_and_counted(client, worker_kind):
    n = 2000
    name = unique("zerostamps")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, worker=worker_kind)
    out = open_output(f"{name}-decoded")
    outlet.wait_for_consumers(60)
    x = test_signal(n, seed=22)
    stamps = pylsl.local_clock() + 0.05 + np.arange(n) / TINY_SFREQ
    sent = stamps.copy()
    for first, m in RUNS:
        sent[first:first + m] = liblsl_deduced(m, TINY_SFREQ)
    for i in range(0, n, CHUNK):  # in real time
        if (wait := stamps[i + CHUNK - 1] - pylsl.local_clock()) > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i:i + CHUNK], sent[i:i + CHUNK].tolist())
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == n, 60, "every sample out")
    c = st["counters"]
    assert c["samples_in"] == n and c["deduced_timestamps"] == sum(m for _, m in RUNS), c
    assert c["samples_lost"] == 0 and c["gaps"] == 0 and c["backward_steps"] == 0, c
    assert st["restarts"] == 0 and st["last_error"] is None and st["timestamps"]["clock_warning"] is None, st
    _, got = pull_all(out, n, 30)
    np.testing.assert_allclose(got, stamps, rtol=0, atol=1e-9)  # the schedule: runs stamped back at the rate
    assert f'bci_stream_deduced_timestamps_total{{decoder_id="{decoder_id}"' in client.get("/metrics").text
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
