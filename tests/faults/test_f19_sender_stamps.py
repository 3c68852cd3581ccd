"""Fault 19: a sender whose timestamps contradict its declaration: a wrong nominal rate, stamps on another clock.

An audit against lab senders: a stream declaring 160 Hz that really sent 128 Hz was decoded without a word (the
model's filters and decision times at the wrong frequencies: every output computed, none right), and one stamping
its samples with Unix time (``time.time()``) gave e2e latencies "ahead by 57 years" in a note and every cue of its
marker stream ``missed``, with no warning. Now the status's ``timestamps`` gives ``sender_rate_hz`` (samples per
second of stamps, over at least 10 s of them) and ``rate_warning`` when it is more than 3 % off the nominal rate,
and ``clock_warning`` when the stamps are more than an hour from this host's LSL clock; decoding goes on, every
sample in and one output each."""

from __future__ import annotations

import time

import numpy as np
import pylsl

from bci_stream.lsl.info import REPLAY_SPEED, make_stream_info
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from faults.kit import assert_service_up, start_running
from support.http import wait_status
from support.lsl import new_outlet

N = int(TINY_SFREQ * 12)  # 12 s of stamps at the nominal rate: one full window of the rate check


def push_stamped(outlet: pylsl.StreamOutlet, x: np.ndarray, ts: np.ndarray, chunk: int = 25) -> None:
    """Push ``x`` with stamps ``ts`` as fast as liblsl takes them (the rate check reads the stamps, not the pace)."""
    for i in range(0, len(x), chunk):
        outlet.push_chunk(x[i:i + chunk], ts[i:i + chunk].tolist())
        time.sleep(0.002)


def test_a_stream_sent_slower_than_its_nominal_rate_is_said(client, worker_kind):
    name = unique("rate")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, worker=worker_kind)
    real = 0.8 * TINY_SFREQ  # declares 500 Hz, sends 400
    push_stamped(outlet, test_signal(N, seed=19), pylsl.local_clock() + np.arange(N) / real)
    st = wait_status(client, decoder_id, lambda s: (s.get("timestamps") or {}).get("rate_warning") is not None, 60,
                     "a rate warning")
    stamps = st["timestamps"]
    assert abs(stamps["sender_rate_hz"] - real) < 1.0, stamps
    assert f"{stamps['sender_rate_hz']:.4g} samples per second" in stamps["rate_warning"], stamps
    assert f"not its nominal {TINY_SFREQ:g} Hz" in stamps["rate_warning"] and stamps["clock_warning"] is None, stamps
    wait_status(client, decoder_id, lambda s: s["counters"]["samples_out"] == N, 30, "every output")
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_a_stream_at_its_nominal_rate_gets_no_warning(client, worker_kind):
    name = unique("rate-ok")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, worker=worker_kind)
    push_stamped(outlet, test_signal(N, seed=20), pylsl.local_clock() + np.arange(N) / (TINY_SFREQ * 1.004))
    st = wait_status(client, decoder_id, lambda s: (s.get("timestamps") or {}).get("sender_rate_hz") is not None
                     and s["counters"]["samples_out"] == N, 60, "a measured rate and every output")
    assert st["timestamps"]["rate_warning"] is None and st["timestamps"]["clock_warning"] is None, st["timestamps"]
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_a_sender_stamping_unix_time_is_said(client, worker_kind):
    name = unique("unix")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, worker=worker_kind)
    n = int(TINY_SFREQ * 2)
    push_stamped(outlet, test_signal(n, seed=21), time.time() + np.arange(n) / TINY_SFREQ)
    st = wait_status(client, decoder_id, lambda s: (s.get("timestamps") or {}).get("clock_warning") is not None
                     and s["counters"]["samples_out"] == n, 60, "a clock warning and every output")
    stamps = st["timestamps"]
    assert stamps["clock_ahead_s"] > 1e9 and "does not stamp with LSL's local_clock()" in stamps["clock_warning"]
    assert "Unix time" in stamps["clock_warning"], stamps
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_a_replay_declaring_its_speed_is_measured_against_it(client, worker_kind):
    """A replay 4x faster than real time (``bci-stream replay --speed 4`` declares it in ``desc/acquisition``) sends
    4x its nominal rate per second of its stamps: on purpose, so no warning; the measured rate is still given."""
    name = unique("replay4")
    info = make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src")
    info.desc().append_child("acquisition").append_child_value(REPLAY_SPEED, "4")
    outlet = pylsl.StreamOutlet(info)
    decoder_id = start_running(client, name, worker=worker_kind)
    n = 4 * N
    push_stamped(outlet, test_signal(n, seed=22), pylsl.local_clock() + np.arange(n) / (4 * TINY_SFREQ), chunk=100)
    st = wait_status(client, decoder_id, lambda s: (s.get("timestamps") or {}).get("sender_rate_hz") is not None
                     and s["counters"]["samples_out"] == n, 60, "a measured rate and every output")
    stamps = st["timestamps"]
    assert abs(stamps["sender_rate_hz"] - 4 * TINY_SFREQ) < 4.0 and stamps["rate_warning"] is None, stamps
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_a_replay_faster_than_20x_is_no_run_of_one_stamp(client, worker_kind):
    """Audit s58readme F1: a replay declaring speed 32 (its steps 1/32 of a nominal period) was taken for chunks
    sharing one stamp: ``longest_stamp_run`` of the whole stream and a warning logged again at every new length."""
    name = unique("replay32")
    info = make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src")
    info.desc().append_child("acquisition").append_child_value(REPLAY_SPEED, "32")
    outlet = pylsl.StreamOutlet(info)
    decoder_id = start_running(client, name, worker=worker_kind)
    n = 3000  # 6 s of the recording: a run of them all would be over the 2 s that warns
    push_stamped(outlet, test_signal(n, seed=23), pylsl.local_clock() + np.arange(n) / (32 * TINY_SFREQ), chunk=100)
    st = wait_status(client, decoder_id, lambda s: s["counters"]["samples_out"] == n, 60, "every output")
    stamps = st["timestamps"]
    assert stamps["longest_stamp_run"] <= 1 and stamps["warning"] is None, stamps
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
