"""Fault 20: a decoder selected by name whose own source goes away for a few seconds while another stream of that
name is up (two amplifiers of one make under one name; a ``{"type": "EEG"}`` selector with other EEG streams).

Before: the first look at the sources after the stall (~1 s into the outage) found only the other stream and ended
the decoder for good ("Refusing to switch sources silently"), although its own source_id came back moments later,
and even when the other stream could never fit the model (audit s40_multi, finding 1).
"""

from __future__ import annotations

import time

import httpx
import numpy as np
import pylsl
import pytest

from bci_stream.lsl.info import make_stream_info
from faults.kit import assert_service_up, start_running, status
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, open_output, pull_all
from support.pacing import push_paced

AWAY_S = 2.5  # the own source's outage (an amplifier's driver restarting): longer than stall_timeout_s (1 s)


def noted_or_ended(s: dict) -> bool:
    """Stalled with the other stream noted, or ended (the behaviour before the fix)."""
    return s["state"] == "error" or (s["state"] == "stalled" and (s["stall"] or {}).get("other_stream") is not None)


def outage_then_back(client: httpx.Client, name: str, other: pylsl.StreamInfo, other_first: bool,
                     **options: object) -> tuple[str, dict]:
    """Start a decoder by ``name`` on its source (``other``'s outlet up before it, or once it runs), push 1000
    samples, take the source away for :data:`AWAY_S`, check the status meanwhile, bring the same source_id back and
    push 1000 more: decoding resumes with one reconnection and the gap counted. The decoder's id and its status
    during the outage."""
    sid, other_sid = f"{name}-A", other.source_id()
    others = [pylsl.StreamOutlet(other)] if other_first else []
    outlet, _ = new_outlet(name, sid)
    decoder_id = start_running(client, name, stall_timeout_s=1.0, **options)
    if not others:  # up once the decoder chose its source (the first found is decoded)
        others.append(pylsl.StreamOutlet(other))
    out = open_output(f"{name}-decoded")
    x = test_signal(2000, seed=120)
    ts_a = push_paced(outlet, x[:1000], TINY_SFREQ * 4, chunk=10)
    first = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == 1000, 30, "the first half")
    assert first["stream"]["source_id"] == sid
    # a loaded machine may already have stalled it once (no data within stall_timeout_s=1 of its start, while this
    # test resolved its output): the outage's stall and resume are counted from here
    resumes = first["counters"]["resumes"]

    del outlet  # the amplifier goes away; the other stream of its name stays up
    t_gone = time.monotonic()
    st = wait_status(client, decoder_id, noted_or_ended, 30, "the stall, noting the other stream")
    assert st["state"] == "stalled" and st["last_error"] is None, st["last_error"]
    assert other_sid in st["stall"]["other_stream"] and st["stall"]["note"]
    time.sleep(max(0.0, AWAY_S - (time.monotonic() - t_gone)))
    before = status(client, decoder_id)
    assert before["state"] == "stalled", before["last_error"]

    outlet, _ = new_outlet(name, sid)  # back: the same source_id, a new outlet instance
    assert outlet.wait_for_consumers(30), "the decoder did not re-subscribe to its returning source"
    ts_b = push_paced(outlet, x[1000:], TINY_SFREQ * 4, chunk=10, t_start=pylsl.local_clock())
    y, ts = pull_all(out, 2000, timeout=60)
    st = wait_status(client, decoder_id, lambda s: s["state"] == "error" or (s["counters"].get("samples_out") == 2000
                     and s["counters"].get("reconnects") == 1), 30, "decoding to resume")
    assert st["last_error"] is None, st["last_error"]
    c = st["counters"]
    expected_lost = int(np.rint((ts_b[0] - ts_a[-1]) * TINY_SFREQ * 4) - 1)
    assert c["samples_in"] == c["samples_out"] == 2000 and c["resumes"] == resumes + 1 and c["reconnects"] == 1
    assert c["gaps"] == 1 and c["samples_lost"] == expected_lost
    assert st["stream"]["source_id"] == sid  # never switched to the other stream
    np.testing.assert_array_equal(ts, np.r_[ts_a, ts_b])  # every sample decoded once, only its own
    del outlet, others
    return decoder_id, before


def test_a_same_named_stream_that_cannot_fit_never_ends_the_decoder(client: httpx.Client, worker_kind: str) -> None:
    """Expected: another stream of the name, 8 channels at 250 Hz (the model reads 500 Hz: it cannot fit), never ends
    the decoder: while its own source is away it is ``stalled`` (no error), the ``stall`` naming the other stream as
    one that cannot fit (no deadline); when the same source_id comes back, decoding resumes, the gap counted."""
    name = unique("clash-nofit")
    other = make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ / 2, f"{name}-B")
    decoder_id, before = outage_then_back(client, name, other, True, worker=worker_kind)  # the other passed over
    assert before["stall"]["other_fits"] is False and before["stall"]["ends_at"] is None
    assert "cannot fit" in before["stall"]["note"]
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_a_fitting_same_named_stream_waits_the_grace_for_the_source(client: httpx.Client) -> None:
    """Expected: another stream of the name that could fit the model (8 channels at 500 Hz) does not end the decoder
    at once: its own source_id has ``source_grace_s`` (default 10 s) to come back; meanwhile the ``stall`` names the
    other stream as fitting and says until when (``ends_at``, on the worker's LSL clock); the source back within it,
    decoding resumes with the same state, the gap counted."""
    name = unique("clash-fit")
    other = make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-B")
    decoder_id, before = outage_then_back(client, name, other, False)  # the first found is decoded: its own
    stall = before["stall"]
    assert stall["other_fits"] is True and stall["ends_at"] > stall["since"]
    assert "source_grace_s=10" in stall["note"]
    # the outage's stall is over; a new one (the sender done and gone, over 1 s ago on a loaded machine) comes after it
    after = status(client, decoder_id)["stall"]
    assert after is None or after["since"] > stall["since"] + AWAY_S / 2, after
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_a_fitting_same_named_stream_ends_the_decoder_after_the_grace(client: httpx.Client) -> None:
    """Expected: the own source never comes back and another fitting stream matches: once ``source_grace_s`` is over
    the decoder goes to ``error`` naming both source_ids and how long it waited (never switching to the other)."""
    name = unique("clash-gone")
    sid, other_sid = f"{name}-A", f"{name}-B"
    outlet, _ = new_outlet(name, sid)
    decoder_id = start_running(client, name, stall_timeout_s=1.0, source_grace_s=2.0)
    other, _ = new_outlet(name, other_sid)
    push_paced(outlet, test_signal(500, seed=121), TINY_SFREQ * 4, chunk=10)
    wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == 500, 30, "the samples")
    del outlet
    st = wait_status(client, decoder_id, lambda s: s["state"] == "error", 60, "the error after the grace")
    err = st["last_error"]
    assert f"stream '{name}' (source_id '{sid}') is gone and another stream matches the selector" in err
    assert f"(source_id '{other_sid}'" in err and "(source_grace_s=2)" in err
    assert "Refusing to switch sources silently; start a new decoder for it" in err
    assert st["counters"]["samples_out"] == 500 and st["stall"] is None
    assert_service_up(client)
    del other


@pytest.mark.parametrize("value", [-1, 3601, "10"])
def test_source_grace_s_is_validated(client: httpx.Client, value: object) -> None:
    r = client.post("/decoders", json={"stream": {"name": "x"}, "model": "tiny-gru",
                                       "options": {"source_grace_s": value}})
    assert r.status_code == 422 and "source_grace_s" in r.text, r.text
