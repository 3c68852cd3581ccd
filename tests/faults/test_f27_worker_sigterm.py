"""Fault 27: SIGTERM to a decoder's worker alone (``kill PID``). Its default action ended the worker at once, its
recording left unfinished (audit s66cli F3, seen with a SIGTERM to the whole process group). Now the worker stops as
on a Stop, then ends by the signal: the supervisor restarts it as after a crash (``last_error`` names the signal or
the shared worker), and the decoder decodes on, its recording's file of the ended worker finished (every stream's
footer). A SIGTERM to the service's whole process group is a clean shutdown: tests/integration/test_clean_exit.py."""

from __future__ import annotations

import os
import signal

import pyxdf

from faults.kit import LivePusher, assert_service_up, start_running
from support.common import unique
from support.http import wait_status
from support.lsl import new_outlet


def test_sigterm_to_a_worker_stops_it_in_order_and_it_is_restarted(client, server, worker_kind):
    name = unique("term")
    outlet, _ = new_outlet(name, f"{name}-src")
    record = f"{name}.xdf"
    decoder_id = start_running(client, name, worker=worker_kind, record_path=record)
    pusher = LivePusher(outlet, seed=127)
    pusher.start()
    try:
        pid = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 500, 60,
                          "decoding under way")["pid"]
        os.kill(pid, signal.SIGTERM)
        st = wait_status(client, decoder_id, lambda s: s["restarts"] == 1 and s["pid"] != pid and s["state"] ==
                         "running", 90, "the new worker to decode")
        assert ("exited with code -15 (signal 15)" if worker_kind == "dedicated" else
                f"ended with code 1 in shared worker pid {pid}") in st["last_error"], st
    finally:
        pusher.halt.set()
        pusher.join()
    end = client.delete(f"/decoders/{decoder_id}")
    assert end.status_code == 200
    files = sorted(server.settings.recordings_dir.glob(f"{name}*.xdf"))  # the ended worker's file, then the new one's
    assert len(files) == 2, files
    decoded = 0
    for path in files:
        streams, _ = pyxdf.load_xdf(str(path))
        assert streams and all(s.get("footer") for s in streams), (path, [s.get("footer") for s in streams])
        decoded += sum(len(s["time_stamps"]) for s in streams if s["info"]["type"][0] == "Decoded")
    # every output either generation published is in the totals: a shared worker ended by SIGTERM sent no last
    # counters, its final outputs counted nowhere (audit s70worker F2)
    assert end.json()["totals"]["samples_out"] == decoded, (end.json()["totals"], decoded)
    assert_service_up(client)
