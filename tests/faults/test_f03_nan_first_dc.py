"""Fault 3, a DC-coupled amplifier (electrode offsets of tens of mV) whose first sample has a NaN on one channel, that
sample pulled alone: every worker kind decodes the stream as if that channel were held at its first finite value
(the offline reference), its filters started afresh from it when it came. Before, the channel was held at 0: a step of
its offset into the filters (a classical decoder's p(fists) off by up to 0.6 for 5.6 s, audit s58live F1), and a
shared or Ray worker's batched path missed the fresh start even once it was made (review s58 F1)."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.core.registry import ModelRegistry
from bci_stream.engine.offline import decode_offline
from faults.kit import assert_service_up, start_running
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, open_output, pull_all

C3 = TINY_CH_NAMES.index("C3")


def test_a_nan_first_sample_on_a_dc_coupled_channel_is_held_at_its_level(client, fault_models, worker_kind):
    name, n = unique("nan-dc"), 1500
    x = (test_signal(n, seed=31) + np.random.default_rng(31).uniform(-30e3, 30e3, len(TINY_CH_NAMES))).astype(
        np.float32)
    sent, want = x.copy(), x.copy()
    sent[0, C3], want[0, C3] = np.nan, x[1, C3]
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, worker=worker_kind)
    out = open_output(f"{name}-decoded")
    ts = pylsl.local_clock() + np.arange(n) / TINY_SFREQ
    outlet.push_chunk(sent[:1], ts[:1].tolist())  # the NaN sample decoded alone: C3 has no finite value yet
    wait_status(client, decoder_id, lambda s: s["counters"]["samples_out"] == 1, 30, "the first output")
    for i in range(1, n, 16):
        outlet.push_chunk(sent[i:i + 16], ts[i:i + 16].tolist())
    y, stamps = pull_all(out, n, 60.0)
    assert len(y) == n, len(y)
    np.testing.assert_allclose(stamps, ts, rtol=0, atol=1e-6)
    ref = decode_offline(ModelRegistry(fault_models).get("tiny-gru"), want)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-4)
    st = wait_status(client, decoder_id, lambda s: s["counters"]["samples_out"] == n, 30, "every output")
    assert st["counters"]["nonfinite_values"] == 1 and st["counters"]["samples_lost"] == 0
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
