"""Fault 3: bursts of NaN and inf values (and huge finite values) in the input."""

from __future__ import annotations

import threading

import numpy as np

from support.common import TINY_SFREQ, test_signal, unique
from faults.kit import WsReader, assert_service_up, start_running, ws_url
from support.pacing import push_paced
from support.http import wait_status

from support.lsl import new_outlet

POLICIES = ("hold", "zero", "reject")


def bursty_signal(n: int) -> np.ndarray:
    """Test EEG with an amplifier drop-out (every channel NaN for 0.4 s), single-channel inf and -inf
    runs, isolated NaNs in alternate rows, and huge but finite spikes (1e30 µV)."""
    x = test_signal(n, seed=103)
    x[1000:1200, :] = np.nan
    x[2000:2050, 3] = np.inf
    x[2500:2510, [1, 6]] = -np.inf
    x[3000:3100:2, 0] = np.nan
    x[3500:3505, 2] = 1e30  # beyond ±1 V (MAX_INPUT_V): a corrupt sample, handled as a non-finite one
    x[3600:3603, 5] = -2e5  # 0.2 V: large (a DC-coupled amplifier's offset), within range, decoded as sent
    return x


def bad_values(x: np.ndarray) -> np.ndarray:
    """What nan_policy handles: not finite, or beyond ±1 V (1e6 µV: the tiny models read µV)."""
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(x) | (np.abs(x) > 1e6)


def test_nonfinite_bursts_are_counted_and_outputs_stay_finite(client, server, worker_kind):
    """The same bursty signal goes to three decoders at once, one per ``nan_policy``. Expected: every
    non-finite value is counted (``nonfinite_values``, ``nonfinite_chunks``); with ``hold`` and ``zero``
    every sample still gets an output (in = out); with ``reject`` the rows holding a non-finite value
    get none and are counted (in = out + rejected); no sample is lost (``samples_lost`` = 0); outputs
    and the recurrent state stay finite, also through huge finite spikes; the decoders keep running."""
    x = bursty_signal(5000)
    names = {p: unique(f"nan-{p}") for p in POLICIES}
    outlets = {p: new_outlet(names[p], f"{names[p]}-src")[0] for p in POLICIES}
    ids = {p: start_running(client, names[p], nan_policy=p, worker=worker_kind) for p in POLICIES}
    readers = {p: WsReader(ws_url(server.url, ids[p])) for p in POLICIES}
    try:
        check(client, readers, outlets, ids, x)
    finally:
        for r in readers.values():
            r.close()
    assert_service_up(client)
    for decoder_id in ids.values():
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def check(client, readers, outlets, ids, x) -> None:
    n = len(x)
    bad_rows = bad_values(x).any(axis=1)
    n_bad_values = int(bad_values(x).sum())
    for r in readers.values():
        r.start()
    pushers = [threading.Thread(target=push_paced, args=(outlets[p], x, TINY_SFREQ * 4), kwargs={"chunk": 16})
               for p in POLICIES]
    for t in pushers:
        t.start()
    for t in pushers:
        t.join()

    for p in POLICIES:
        n_out = n - int(bad_rows.sum()) if p == "reject" else n
        st = wait_status(client, ids[p], lambda s: s["counters"].get("samples_in") == n, 30, f"{p}: all samples")
        readers[p].wait_rows(n_out, 30)
        c = st["counters"]
        assert c["samples_out"] == n_out and c["samples_in"] == c["samples_out"] + c["samples_rejected"], (p, c)
        assert c["samples_rejected"] == (int(bad_rows.sum()) if p == "reject" else 0), (p, c)
        assert c["nonfinite_values"] == n_bad_values and c["nonfinite_chunks"] >= 4, (p, c)
        assert c["samples_lost"] == 0 and c["gaps"] == 0, (p, c)
        assert st["restarts"] == 0 and st["state"] in ("running", "stalled"), (p, st)
        assert np.isfinite(st["last_output"]).all(), (p, st["last_output"])
        assert all(np.isfinite(v).all() for v in st["state_norms"].values()), (p, st["state_norms"])
        # over the HTTP plane: every published output, in order, finite; with reject, holes where the bad rows were
        ws = readers[p]
        assert ws.dropped == 0, (p, ws.dropped)
        expected_seq = np.flatnonzero(~bad_rows) if p == "reject" else np.arange(n)
        np.testing.assert_array_equal(ws.seq, expected_seq)
        assert np.isfinite(np.asarray(ws.y)).all(), p
