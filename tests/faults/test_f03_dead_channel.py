"""Fault 3b: one electrode that stays NaN (off, or marked saturated by its amplifier) while the others are fine.

Before, the counters said how many values were not finite and nothing more: with ``nan_policy: reject`` every
sample was dropped from then on while the decoder said ``running`` with no error and named no channel (an audit's
64-channel run: 4800 of 8000 samples out); with ``hold`` the channel went flat with no word of which one. Now the
status's ``stream.nonfinite`` names the channels and their counts, the channels of the latest chunk holding any,
and, under ``reject``, the samples rejected in a row, with a warning once that run reaches 1 s of the stream
(also in the log and the recording), ended when a sample is kept again; under ``hold``, a warning for a second of
the stream with half its samples or more held (a PlayerLSL replay scaled to µV but declaring volts: 98 % of its
values held as beyond ±1 V, meaningless outputs and no word), ended by a second with under 10 %."""

from __future__ import annotations

import numpy as np
import pytest

from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from faults.kit import assert_service_up, start_running
from support.http import wait_status
from support.lsl import new_outlet
from support.pacing import push_paced

DEAD = 2  # C3 of the tiny models' channels
OFF, ON, N = 1500, 4000, 5000  # the electrode is NaN over [OFF, ON)


@pytest.mark.parametrize("policy", ["reject", "hold"])
def test_a_dead_channel_is_named_and_a_run_of_rejections_said(client, worker_kind, policy):
    x = test_signal(N, seed=31)
    x[OFF:ON, DEAD] = np.nan
    name = unique(f"dead-{policy}")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, nan_policy=policy, worker=worker_kind)
    push_paced(outlet, x[:ON], TINY_SFREQ * 4, chunk=16)
    st = wait_status(client, decoder_id, lambda s: s["counters"]["samples_in"] == ON
                     and (s["stream"].get("nonfinite") or {}).get("channels", {}).get("C3") == ON - OFF, 30,
                     "the dead channel's values to be counted")
    seen = st["stream"]["nonfinite"]
    assert seen["channels"] == {TINY_CH_NAMES[DEAD]: ON - OFF} and seen["latest"] == [TINY_CH_NAMES[DEAD]], seen
    c = st["counters"]
    if policy == "reject":  # every sample since OFF rejected, said with the channel
        assert (seen["rejecting"], seen["rejecting_s"]) == (ON - OFF, (ON - OFF) / TINY_SFREQ), seen
        assert seen["warning"].startswith(f"every sample rejected since seq {OFF} (nan_policy 'reject'): channel(s) "
                                          "C3 not finite"), seen["warning"]
        assert c["samples_out"] == OFF and c["samples_rejected"] == ON - OFF, c
    else:  # held: decoded on, the channel named, nothing rejected; held in every sample for seconds: said too
        assert seen["rejecting"] == 0, seen
        assert seen["warning"].startswith("100% of the last second's samples had a value not finite, on channel(s) "
                                          "C3 (nan_policy 'hold'"), seen
        assert "unit" not in seen["warning"], seen  # NaN is no unit mislabel's cue
        assert c["samples_out"] == ON and c["samples_rejected"] == 0, c
    push_paced(outlet, x[ON:], TINY_SFREQ * 4, chunk=16)  # the electrode is back
    st = wait_status(client, decoder_id, lambda s: s["counters"]["samples_in"] == N, 30, "the rest")
    seen = st["stream"]["nonfinite"]
    assert seen["rejecting"] == 0 and seen["warning"] is None, seen  # ended (reject: the first sample kept; hold: a
    # second with under 10 % of its samples held)
    assert seen["channels"] == {TINY_CH_NAMES[DEAD]: ON - OFF}, seen
    wait_status(client, decoder_id, lambda s: s["counters"]["samples_out"] == N - (ON - OFF if policy == "reject"
                                                                                    else 0), 30, "every output")
    clean = unique("clean")
    outlet2, _ = new_outlet(clean, f"{clean}-src")
    other = start_running(client, clean, worker=worker_kind)  # a clean stream: no non-finite value, nothing said
    push_paced(outlet2, test_signal(500, seed=32), TINY_SFREQ * 4, chunk=16)
    st = wait_status(client, other, lambda s: s["counters"]["samples_in"] == 500, 30, "the clean stream")
    assert st["stream"]["nonfinite"] is None, st["stream"]
    assert_service_up(client)
    for d in (decoder_id, other):
        assert client.delete(f"/decoders/{d}").status_code == 200
