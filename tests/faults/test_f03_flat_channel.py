"""Fault 3c: an electrode that goes flat: zeros sent before it is connected, an input railed at its amplifier's limit.

Before, the service looked at the stream's timing and not at its values: a channel flat from the start, or railed
mid-run, left the status as for a healthy stream (an audit: C3 zeroed, a tangent-space decoder's accuracy from 1.00 to
0.77). Now ``stream.flat_channels`` names the model channels that held one value for 1 s, and is emptied when they
change again; the decoder goes on reading them as they are (every sample in, one output each)."""

from __future__ import annotations

from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from faults.kit import assert_service_up, start_running
from support.http import wait_status
from support.lsl import new_outlet
from support.pacing import push_paced

OFF, RAIL = TINY_CH_NAMES.index("C4"), TINY_CH_NAMES.index("Pz")


def test_a_flat_or_railed_channel_is_named_while_it_lasts(client, worker_kind):
    x = test_signal(4500, seed=33)
    x[:1000, OFF] = 0.0  # 2 s of zeros: the electrode not yet connected
    x[3000:, RAIL] = 3.2e5  # railed at +320 mV for 3 s (within range: decoded as sent)
    name = unique("flat")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, worker=worker_kind)
    flat = lambda s: s["stream"]["flat_channels"]  # noqa: E731

    def push_and_wait(lo: int, hi: int, expected: list[str]) -> dict:
        push_paced(outlet, x[lo:hi], TINY_SFREQ * 4, chunk=16)
        return wait_status(client, decoder_id, lambda s: s["counters"]["samples_in"] == hi and flat(s) == expected,
                           30, f"flat_channels {expected} after {hi} samples")

    push_and_wait(0, 1000, ["C4"])
    push_and_wait(1000, 3000, [])  # connected: no longer flat
    st = push_and_wait(3000, 4500, ["Pz"])
    assert st["counters"]["nonfinite_values"] == 0 and st["stream"]["nonfinite"] is None, st["counters"]
    wait_status(client, decoder_id, lambda s: s["counters"]["samples_out"] == 4500, 30, "every output")
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
