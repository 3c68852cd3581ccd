"""Fault 2: the sender's clock jumps forward by 10 s, then back by 10 s."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.core.registry import ModelRegistry
from bci_stream.engine.offline import decode_offline
from support.common import TINY_SFREQ, test_signal, unique
from faults.kit import assert_service_up, push_indexed, start_running
from support.http import wait_status
from support.lsl import pull_all
from support.lsl import new_outlet, open_output

JUMP_S = 10.0


def test_clock_jumps_forward_then_back(client, fault_models):
    """The sender's clock jumps +10 s after sample 1000 and -10 s after sample 2000 (its samples keep
    coming at the nominal rate, nothing is missing). Expected behaviour:

    * Forward jump: the decoder cannot tell it from a 10 s pause, so it is a gap: counted in ``gaps``,
      ``samples_lost`` grows by what the timestamps claim (10 s x 500 Hz = 5000; an over-estimate here,
      which the backward jump that follows exposes), and the gap policy applies (``reset`` here:
      recurrent and filter state start afresh, ``state_epoch`` + 1).
    * Backward jump: timestamps go back. Every sample is still decoded, in arrival order, with its own
      (earlier) timestamp on the decoded stream; the step is counted in ``backward_steps``; no gap, no
      loss, no policy: the data itself is continuous, so the state is kept.

    So: in = out = 3000, the outputs equal the offline pipeline run on samples 0-999 and, from a fresh
    state, on 1000-2999 (continuous across the backward jump), and the service stays up."""
    name = unique("clock")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, gap_policy="reset", gap_threshold_s=0.5)
    out = open_output(f"{name}-decoded")
    prov = open_output(f"{name}-decoded-provenance")
    n = 3000
    x = test_signal(n, seed=102)
    ts = pylsl.local_clock() + np.arange(n) / TINY_SFREQ
    ts[1000:2000] += JUMP_S  # +10 s at sample 1000, back at sample 2000
    push_indexed(outlet, x, ts, TINY_SFREQ * 4, chunk=10)
    y, ts_out = pull_all(out, n, timeout=60)
    p, _ = pull_all(prov, n, timeout=30)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == n, 30, "all samples")

    c = st["counters"]
    assert c["samples_in"] == c["samples_out"] == n and c["samples_rejected"] == 0
    assert c["gaps"] == 1 and c["samples_lost"] == int(np.rint((JUMP_S + 1 / TINY_SFREQ) * TINY_SFREQ)) - 1
    assert c["gap_policy_applied"] == 1 and c["state_epoch"] == 1
    assert c["backward_steps"] == 1
    assert st["state"] in ("running", "stalled") and st["restarts"] == 0
    # every sample decoded once, in arrival order, carrying its own timestamp (jumps included)
    assert len(ts_out) == n
    np.testing.assert_array_equal(ts_out, ts)
    np.testing.assert_array_equal(p[:, 0], np.arange(n))
    np.testing.assert_array_equal(p[:, 1], np.r_[np.zeros(1000), np.ones(2000)])
    entry = ModelRegistry(fault_models).get("tiny-gru")
    np.testing.assert_allclose(y[:1000], decode_offline(entry, x[:1000]), atol=1e-5)
    np.testing.assert_allclose(y[1000:], decode_offline(entry, x[1000:]), atol=1e-5)
    # the +10 s jump put timestamps in the future: e2e latency saw negative values (below every bucket)
    assert st["latency_ms"]["e2e"]["count"] == n
    assert_service_up(client)
    text = client.get("/metrics").text
    assert f'bci_stream_backward_steps_total{{decoder_id="{decoder_id}",model="tiny-gru"}} 1.0' in text
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
