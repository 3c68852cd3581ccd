"""Fault 2's forward jump under ``gap_policy`` ``decay``: the recurrent state is scaled towards zero by
exp(-gap/decay_tau_s) at the gap, the filter state kept (audit s53cov: the policy was never run by the suite, in
neither worker kind; only its refusal for a model without a recurrent state was).

Real LSL on loopback, real worker processes, a real uvicorn server; the expected outputs from the engine run offline
on the same samples (one call before the gap, the state decayed, one call after)."""

from __future__ import annotations

import math

import numpy as np
import pylsl

from bci_stream.core.registry import ModelRegistry
from bci_stream.engine.offline import decode_offline
from bci_stream.engine.step_model import StepModel
from faults.kit import assert_service_up, push_indexed, start_running
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, open_output, pull_all

GAP_S, TAU_S, AT, N = 1.0, 0.5, 600, 1200  # the jump, decay_tau_s, the first sample after it, samples sent


def test_a_gap_decays_the_recurrent_state_by_its_length(client, fault_models, worker_kind):
    name = unique(f"decay-{worker_kind}")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, gap_policy="decay", decay_tau_s=TAU_S, gap_threshold_s=0.5,
                               worker=worker_kind)
    out = open_output(f"{name}-decoded")
    prov = open_output(f"{name}-decoded-provenance")
    x = test_signal(N, seed=53)
    ts = pylsl.local_clock() + np.arange(N) / TINY_SFREQ
    ts[AT:] += GAP_S
    push_indexed(outlet, x, ts, TINY_SFREQ * 4, chunk=10)
    y, ts_out = pull_all(out, N, timeout=60)
    p, _ = pull_all(prov, N, timeout=30)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == N, 30, "all samples")

    c = st["counters"]
    assert c["samples_in"] == c["samples_out"] == N and c["gaps"] == 1, c
    assert c["gap_policy_applied"] == 1 and c["state_epoch"] == 1, c
    assert st["state"] in ("running", "stalled") and st["restarts"] == 0, st
    np.testing.assert_array_equal(ts_out, ts)
    np.testing.assert_array_equal(p[:, 1], np.r_[np.zeros(AT), np.ones(N - AT)])
    entry = ModelRegistry(fault_models).get("tiny-gru")
    model = StepModel(entry.onnx_path, entry.card)
    state = model.new_state()
    before = model.run(x[:AT].astype(np.float32), state)
    state.decay(math.exp(-float(ts[AT] - ts[AT - 1]) / TAU_S))
    after = model.run(x[AT:].astype(np.float32), state)
    np.testing.assert_allclose(y[:AT], before, atol=1e-5)
    np.testing.assert_allclose(y[AT:], after, atol=1e-5)
    # neither kept (one call over all) nor reset (a fresh state after the gap): decayed
    kept, reset = decode_offline(entry, x)[AT:], decode_offline(entry, x[AT:])
    assert not np.allclose(after[:20], kept[:20], atol=1e-4) and not np.allclose(after[:20], reset[:20], atol=1e-4)
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
