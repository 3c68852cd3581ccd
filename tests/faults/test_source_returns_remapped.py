"""The sender dies and an outlet of the same source comes back with the same channel count, rate and format, but its
channels in another order or another unit (an amplifier app restarted with another montage or unit setting).

liblsl re-subscribes the decoder's inlet to it (same source_id), or the decoder re-resolves it (no source_id). The
decoder must read the new instance's full info and check it against the model as at a first connection: any change
of channel order, label or unit is an ``error`` naming it, and no sample of the new instance is decoded. A new
instance with exactly the same channels and units keeps decoding. Every wait is a generous poll.
"""

from __future__ import annotations

import pylsl
import pytest

from bci_stream.lsl.info import make_stream_info
from bci_stream.service.worker import EXIT_REFUSED
from faults.kit import assert_service_up, start_running
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.pacing import PacedPusher, push_paced

N_FIRST = 600


def first_sender(client, worker_kind: str, source_id: bool = True, **options) -> tuple[str, str, str]:
    """A decoder that decoded ``N_FIRST`` samples of a sender in µV, labelled in the model's order; then the sender
    dies. Its name, source_id ('' when ``source_id`` is False) and the decoder's id."""
    name = unique("remap")
    sid = f"{name}-src" if source_id else ""
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, sid, unit="uV"))
    decoder_id = start_running(client, name, worker=worker_kind, **options)
    push_paced(outlet, test_signal(N_FIRST, seed=121), TINY_SFREQ * 4, chunk=10)
    wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == N_FIRST, 30, "the first sender")
    del outlet
    return name, sid, decoder_id


def comes_back(name: str, sid: str, ch_names: list[str], unit: str) -> PacedPusher:
    """The same source back (same name, type, source_id, count, rate, format), sending at once."""
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", ch_names, TINY_SFREQ, sid, unit=unit))
    pusher = PacedPusher(outlet, test_signal(60_000, seed=122), TINY_SFREQ, chunk=10)
    pusher.start()
    return pusher


def refused(client, decoder_id: str, pusher: PacedPusher) -> str:
    """The decoder went to ``error`` (exit 'refused', not restarted) without decoding a sample of the new
    instance; its ``last_error``."""
    try:
        st = wait_status(client, decoder_id, lambda s: s["exit_code"] is not None, 90,
                         "the decoder to refuse the changed source")
    finally:
        pusher.halt.set()
        pusher.join(10)
    assert pusher.sent > 0
    assert st["state"] == "error" and st["exit_code"] == EXIT_REFUSED and st["restarts"] == 0, st
    c = st["counters"]
    assert c["samples_in"] == c["samples_out"] == N_FIRST, c  # not one sample of the new instance decoded
    assert "came back as a new outlet instance" in st["last_error"], st["last_error"]
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    return st["last_error"]


def test_source_returns_with_channels_reversed_before_any_stall(client, worker_kind):
    """liblsl's own re-subscription (no stall): the new instance lists the same channels in reverse order."""
    name, sid, decoder_id = first_sender(client, worker_kind, stall_timeout_s=60.0)
    err = refused(client, decoder_id, comes_back(name, sid, TINY_CH_NAMES[::-1], "uV"))
    assert "the label of 8 of its 8 channels changed: channel 0 'Pz' (was 'FC3')" in err, err
    assert "would read 8 of its 8 channels from another stream channel: 'FC3' from 7 (was 0)" in err, err
    assert "the unit of" not in err and "unit factor" not in err, err  # the units did not change


def test_source_returns_in_volts_after_a_stall(client, worker_kind):
    """Stalled first; the new instance has the same labels in the same order, in volts instead of µV."""
    name, sid, decoder_id = first_sender(client, worker_kind)
    wait_status(client, decoder_id, lambda s: s["state"] == "stalled", 30, "the stall")
    err = refused(client, decoder_id, comes_back(name, sid, TINY_CH_NAMES, "V"))
    assert "the unit of 8 of its 8 channels changed: 'V' (was 'uV') on channel 0, 1, 2, 3, 4 ...;" in err, err
    assert "8 of its channels with another unit factor: 'FC3' x1e+06 (was x1)" in err, err
    assert "label" not in err, err


def test_source_without_source_id_returns_relabelled(client, worker_kind):
    """No source_id: liblsl cannot recover the inlet; the decoder re-resolves the stream by its selector and finds
    a new instance whose channels 'C3' and 'C4' swapped places."""
    name, sid, decoder_id = first_sender(client, worker_kind, source_id=False)
    wait_status(client, decoder_id, lambda s: s["state"] == "stalled", 60, "the stall")
    swapped = list(TINY_CH_NAMES)
    swapped[2], swapped[4] = swapped[4], swapped[2]
    err = refused(client, decoder_id, comes_back(name, sid, swapped, "uV"))
    assert "the label of 2 of its 8 channels changed: channel 2 'C4' (was 'C3'), channel 4 'C3' (was 'C4')" in err
    assert "'C3' from 4 (was 2), 'C4' from 2 (was 4)" in err, err


@pytest.mark.parametrize("stall", [False, True], ids=["no-stall", "after-stall"])
def test_source_returns_with_the_same_channels_in_other_spellings(client, worker_kind, stall):
    """The control: the new instance writes the same labels and units otherwise ('EEG FC3', 'microvolts'): the
    service matches names and units so, the model reads the same channels with the same factor, so the decoder
    keeps decoding every sample of the new instance (one reconnection) and its status shows the new labels."""
    name, sid, decoder_id = first_sender(client, worker_kind, **({} if stall else {"stall_timeout_s": 60.0}))
    if stall:
        wait_status(client, decoder_id, lambda s: s["state"] == "stalled", 30, "the stall")
    labels = [f"EEG {n}" for n in TINY_CH_NAMES]
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", labels, TINY_SFREQ, sid, unit="microvolts"))
    assert outlet.wait_for_consumers(60), "the decoder did not subscribe to the returning source"
    push_paced(outlet, test_signal(1000, seed=123), TINY_SFREQ * 4, chunk=10)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == N_FIRST + 1000, 60,
                     "the second sender's samples")
    c = st["counters"]
    # running, or stalled again (silent since the push ended, stall_timeout_s 1 s: a loaded machine), never an error
    assert st["state"] in ("running", "stalled") and c["reconnects"] == 1 and st["last_error"] is None, st
    assert c["samples_in"] == c["samples_out"], c
    assert st["stream"]["uid"] == outlet.get_info().uid() and st["stream"]["ch_names"] == labels, st["stream"]
    assert st["stream"]["units"] == {"input": "microvolts", "assumed": False, "scale": 1.0}, st["stream"]
    assert st["stream"]["channel_map"] is None
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_source_without_source_id_returns_unchanged(client, worker_kind):
    """No source_id, the same channels: the decoder re-resolves the stream (a resolver may still list the instance
    just lost, whose inlet then cannot open: looked for again, not a crash) and decodes the new instance."""
    name, sid, decoder_id = first_sender(client, worker_kind, source_id=False)
    wait_status(client, decoder_id, lambda s: s["state"] == "stalled", 60, "the stall")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, sid, unit="uV"))
    assert outlet.wait_for_consumers(60), "the decoder did not subscribe to the returning source"
    push_paced(outlet, test_signal(1000, seed=124), TINY_SFREQ * 4, chunk=10)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == N_FIRST + 1000, 60,
                     "the second sender's samples")
    c = st["counters"]
    assert st["state"] in ("running", "stalled") and st["restarts"] == 0 and st["last_error"] is None, st  # as above
    assert c["reconnects"] == 1 and c["samples_in"] == c["samples_out"], c
    assert st["stream"]["uid"] == outlet.get_info().uid()
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
