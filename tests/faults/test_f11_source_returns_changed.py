"""Fault 11: the sender dies and an outlet with the same source_id comes back *sending*, at another rate.

liblsl re-subscribes a recovering inlet on its own to an instance with the same name, type, source_id, channel
count and format, whatever its rate, and its samples then flow. The decoder must check every such
re-subscription against the stream it started on, stalled or not, before it decodes a sample of the new
instance; no test here depends on how long anything takes (every wait is a generous poll).
"""

from __future__ import annotations

import pylsl

from bci_stream.lsl.info import make_stream_info
from bci_stream.service.worker import EXIT_REFUSED
from faults.kit import assert_service_up, start_running, status
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet
from support.pacing import PacedPusher, push_paced

N_FIRST = 1000


def first_sender(client, worker_kind: str, **options) -> tuple[str, str, str]:
    """A decoder on a 500 Hz sender that decoded ``N_FIRST`` samples, after which the sender dies."""
    name = unique("returns")
    sid = f"{name}-src"
    outlet, _ = new_outlet(name, sid)
    decoder_id = start_running(client, name, worker=worker_kind, **options)
    push_paced(outlet, test_signal(N_FIRST, seed=111), TINY_SFREQ * 4, chunk=10)
    wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == N_FIRST, 30, "the first sender")
    del outlet  # the sender dies
    return name, sid, decoder_id


def assert_refused_rate(client, decoder_id: str, pusher: PacedPusher, stalls: int | None = None) -> None:
    """The decoder went to ``error`` naming the change, decoded nothing of the new instance, is not restarted."""
    try:
        st = wait_status(client, decoder_id, lambda s: s["exit_code"] is not None, 90,
                         "the decoder to refuse the returning source's new rate")
    finally:
        pusher.halt.set()
        pusher.join(10)
    assert pusher.sent > 0  # the new instance did send while the decoder watched
    assert st["state"] == "error" and st["exit_code"] == EXIT_REFUSED and st["restarts"] == 0, st
    assert "came back with n_chans=8, sfreq=1000" in st["last_error"], st["last_error"]
    assert "it was n_chans=8, sfreq=500" in st["last_error"], st["last_error"]
    c = st["counters"]
    assert c["samples_in"] == c["samples_out"] == N_FIRST, c  # not one sample of the 1000 Hz sender decoded
    assert stalls is None or c["stalls"] == stalls, c
    assert status(client, decoder_id)["restarts"] == 0
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_source_returns_at_another_rate_before_any_stall(client, worker_kind):
    """The sender dies and comes back at once (same source_id, 1000 Hz instead of 500) and sends; the stall timeout
    (60 s) is never reached, so only liblsl's own re-subscription tells the decoder. Expected: ``error`` saying what
    changed, exit 'refused', no sample of the new sender decoded; the service stays up."""
    name, sid, decoder_id = first_sender(client, worker_kind, stall_timeout_s=60.0)
    fast = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, 1000.0, sid))
    pusher = PacedPusher(fast, test_signal(60_000, seed=112), 1000.0, chunk=10)
    pusher.start()
    assert_refused_rate(client, decoder_id, pusher, stalls=0)


def test_source_returns_at_another_rate_after_a_stall(client, worker_kind):
    """As above, but the decoder reports ``stalled`` first; the new instance then sends at once (liblsl
    re-subscribes, whichever of that and the decoder's own look at the source comes first). Expected: the same."""
    name, sid, decoder_id = first_sender(client, worker_kind)
    wait_status(client, decoder_id, lambda s: s["state"] == "stalled", 30, "the stall")
    fast = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, 1000.0, sid))
    pusher = PacedPusher(fast, test_signal(60_000, seed=113), 1000.0, chunk=10)
    pusher.start()
    assert_refused_rate(client, decoder_id, pusher)


def test_source_returns_unchanged_before_any_stall(client, worker_kind):
    """The control: the sender comes back at once with the same rate, channels and format. Expected: the
    re-subscription is checked and counted (``reconnects`` 1, no stall) and every sample of the new instance
    is decoded."""
    name, sid, decoder_id = first_sender(client, worker_kind, stall_timeout_s=60.0)
    outlet, _ = new_outlet(name, sid)
    assert outlet.wait_for_consumers(60), "the decoder did not re-subscribe to the returning source"
    push_paced(outlet, test_signal(1000, seed=114), TINY_SFREQ * 4, chunk=10)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == N_FIRST + 1000, 60,
                     "the second sender's samples")
    c = st["counters"]
    assert st["state"] == "running" and c["reconnects"] == 1 and c["stalls"] == 0, st
    assert c["samples_in"] == c["samples_out"] and st["stream"]["uid"] == outlet.get_info().uid()
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
