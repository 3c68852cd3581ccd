"""Fault 1: the source vanishes for 5 s and comes back with the same source_id."""

from __future__ import annotations

import time

import numpy as np
import pylsl

from support.common import TINY_SFREQ, test_signal, unique
from faults.kit import assert_service_up, start_running, status
from support.pacing import push_paced
from support.http import wait_status
from support.lsl import pull_all
from support.lsl import new_outlet, open_output

VANISH_S = 5.0


def test_source_vanishes_for_5_s_and_comes_back_with_the_same_source_id(client, worker_kind):
    """Expected: while the sender is gone the decoder reports ``stalled`` (with the silence in ``stall``, not an
    error: ``last_error`` stays null) and keeps its process, state and output stream; when an outlet with the same
    source_id appears, liblsl re-subscribes, the decoder is ``running`` again (``stall`` cleared) and counts one
    stall, one resume, one reconnection, one gap, the gap policy (here ``reset``) once, and as ``samples_lost``
    exactly the samples the sender's timestamps say it skipped, at its rate (it sent none while it was gone:
    no sample it did send is lost, in = out). The service stays up throughout."""
    name = unique("vanish")
    sid = f"{name}-src"
    outlet, _ = new_outlet(name, sid)
    # stall_timeout_s 2.5 (below VANISH_S): after the resume, 'running' lasts that long past the pushed part (1 s, the
    # default, is a window that polling on a loaded machine may miss)
    decoder_id = start_running(client, name, gap_policy="reset", worker=worker_kind, stall_timeout_s=2.5)
    pid = status(client, decoder_id)["pid"]
    out = open_output(f"{name}-decoded")
    prov = open_output(f"{name}-decoded-provenance")
    x = test_signal(2000, seed=101)
    ts_a = push_paced(outlet, x[:1000], TINY_SFREQ * 4, chunk=10)  # 4x real time, on the 500 Hz grid
    first = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == 1000, 30, "the first half")
    stalls = first["counters"]["stalls"]  # 1 if a loaded machine stalled it before its first data (not the outage's)

    del outlet  # the sender vanishes
    t_gone = time.monotonic()
    st = wait_status(client, decoder_id, lambda s: s["state"] == "stalled", 30, "the stall to be reported")
    assert st["pid"] == pid and st["last_error"] is None
    assert st["stall"]["kind"] == "silent" and "no data for longer than stall_timeout_s=" in st["stall"]["reason"]
    assert st["counters"]["stalls"] == stalls + 1 and st["counters"]["resumes"] == stalls
    assert_service_up(client)
    time.sleep(max(0.0, VANISH_S - (time.monotonic() - t_gone)))
    assert status(client, decoder_id)["state"] == "stalled"

    outlet, _ = new_outlet(name, sid)  # back, same source_id (a new outlet instance)
    assert outlet.wait_for_consumers(30), "the decoder did not re-subscribe to the returning source"
    ts_b = push_paced(outlet, x[1000:1500], TINY_SFREQ * 4, chunk=10, t_start=pylsl.local_clock())
    st = wait_status(client, decoder_id, lambda s: s["state"] == "running" and s["counters"]["resumes"] == stalls + 1,
                     30, "decoding to resume")
    assert st["pid"] == pid and st["stall"] is None and st["last_error"] is None  # the stall is over, never an error
    ts_b = np.r_[ts_b, push_paced(outlet, x[1500:], TINY_SFREQ * 4, chunk=10, t_start=ts_b[-1] + 1 / (4 * TINY_SFREQ))]
    y, ts = pull_all(out, 2000, timeout=60)
    p, _ = pull_all(prov, 2000, timeout=30)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == 2000
                     and s["counters"].get("reconnects") == 1, 30, "the counters to catch up")

    c = st["counters"]
    # what the timestamps say was skipped, at the sender's own rate (4x the nominal one, as its stamps' slope shows)
    expected_lost = int(np.rint((ts_b[0] - ts_a[-1]) * TINY_SFREQ * 4) - 1)
    assert expected_lost >= VANISH_S * TINY_SFREQ * 4
    assert st["pid"] == pid and st["restarts"] == 0
    assert c["samples_in"] == c["samples_out"] == 2000 and c["samples_rejected"] == 0
    # the sender stopping at the end of the test may already count as a second stall
    assert c["resumes"] == stalls + 1 and c["reconnects"] == 1
    assert c["stalls"] == stalls + 1 + (st["state"] == "stalled")
    assert c["gaps"] == 1 and c["samples_lost"] == expected_lost
    assert c["gap_policy_applied"] == 1 and c["state_epoch"] == 1
    # every sample sent was decoded once, in order, with its own timestamp; the reset shows in provenance
    assert len(ts) == 2000
    np.testing.assert_array_equal(ts, np.r_[ts_a, ts_b])
    np.testing.assert_array_equal(p[:, 0], np.arange(2000))
    np.testing.assert_array_equal(p[:, 1], np.r_[np.zeros(1000), np.ones(1000)])
    assert np.isfinite(y).all()
    assert st["stream"]["source_id"] == sid
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
