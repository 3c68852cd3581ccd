"""A decoder recording to a disk that fills up, through a real ``bci-stream serve`` (its recordings_dir a small tmpfs
of its own, ``support.small_disk``) and real LSL: a worker restarted while the disk is full decodes on, its new file
created once the disk has room again; the status says what is not written and why; every sample decoded or counted.
And ``bci-stream record`` on a disk that fills up: its lines and summary say what was not written, never a traceback.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bci_stream.io.session import read_session
from support.bound_port import listening_port
from support.common import REPO, TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, open_output, wait_for
from support.pacing import PacedPusher
from support.serve_process import serve_process
from support.small_disk import fill, small_disk
from faults.kit import WsReader

pytestmark = pytest.mark.timeout(300)


def test_a_worker_restarted_on_a_full_recordings_disk_decodes_on_and_records_once_it_can(models_dir, tmp_path):
    """Before: the restarted worker could not create ``a.2.xdf``, took it for a refusal and ended the decoder in a
    final ``error`` (decoding stopped for good, the disk freed or not), leaving an empty ``a.2.xdf``.

    Every sample is an output of the decoder's output ring (its WebSocket, which the supervisor keeps across the
    worker's death) or counted lost. The decoded LSL stream lives in the worker: the rows its outlet had not yet sent
    when it was killed die with it (seen once in a CI rehearsal: 30 rows), so the LSL consumer is checked for order
    and for missing no more than the rows of 0.2 s."""
    name = unique("fullrec")
    outlet, _ = new_outlet(name, f"{name}-src")
    pusher = PacedPusher(outlet, test_signal(int(22 * TINY_SFREQ), seed=4), TINY_SFREQ)
    got: list[float] = []
    with small_disk(tmp_path / "rec", "8m") as disk:
        env = dict(os.environ, BCI_STREAM_MODELS_DIR=str(tmp_path / "models"), BCI_STREAM_RECORDINGS_DIR=str(disk))
        os.symlink(models_dir, tmp_path / "models")
        with serve_process(env) as (proc, lines), \
                httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                               "options": {"record_path": "a.xdf", "worker": "dedicated",
                                                           "wait_for_consumer_s": 20, "outputs_buffer_s": 60}})
            assert r.status_code == 201, r.text
            did = r.json()["id"]
            ws = WsReader(f"ws://127.0.0.1:{listening_port(proc.pid)}/decoders/{did}/outputs")
            ws.start()
            inlet = open_output(f"{name}-decoded")
            stop = threading.Event()

            def pull() -> None:
                while not stop.is_set():
                    got.extend(inlet.pull_chunk(timeout=0.05, max_samples=4096)[1])

            puller = threading.Thread(target=pull, daemon=True)
            puller.start()
            # a sample pushed before the decoder's inlet subscribed is owed by no decoder (LSL sends a new inlet
            # only what comes after): that race left a CI rehearsal 30 samples short and a loaded run 140 (the
            # first decoded row at the 140th sample sent)
            assert outlet.wait_for_consumers(60), "the decoder's inlet did not subscribe to its source"
            pusher.start()
            st = wait_status(client, did, lambda s: s["state"] == "running" and s["counters"]["samples_out"] > 500,
                             60, "decoding")
            filler = fill(disk)
            os.kill(st["pid"], signal.SIGKILL)
            cannot = f"recorder cannot create {disk / 'a.2.xdf'}: [Errno 28] No space left on device"
            st = wait_status(client, did, lambda s: s["restarts"] == 1 and s["state"] == "running"
                             and (s["record"] or {}).get("error") == cannot and s["counters"]["samples_out"] > 0,
                             60, "decoding on after the restart, the recording's error in the status")
            assert st["record"]["path"] == str(disk / "a.2.xdf")
            # not created yet, but claimed: before, another decoder or recording was given it (201)
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                               "options": {"record_path": "a.2.xdf"}})
            assert r.status_code == 422 and r.json()["detail"][0]["msg"] == (
                f"record_path must not be a file a decoder records to, got 'a.2.xdf': decoder {did!r} (state "
                "'running') records to it; choose a new file name"), r.text
            r = client.post("/recordings", json={"stream": {"name": name}, "out": "a.2.xdf"})
            assert r.status_code == 422 and "decoder" in r.json()["detail"][0]["msg"], r.text
            filler.unlink()
            st = wait_status(client, did, lambda s: s["record"]["error"] is None and s["record"]["bytes"] > 0, 30,
                             "the new file created once the disk has room")
            assert st["record"]["last_error"] == cannot and st["record"]["unrecorded_samples"] > 0
            # the sender goes on for 1 s more (decoded and recorded into the new file), then stops: the rest of its
            # 22 s only made the test wait (once the new file is written, nothing that follows depends on its length)
            after = pusher.sent
            wait_for(lambda: pusher.sent >= after + int(TINY_SFREQ) or not pusher.is_alive(), 60,
                     "1 s more sent after the new file was created")
            pusher.halt.set()
            pusher.join(timeout=60)
            assert not pusher.is_alive()
            try:
                wait_status(client, did, lambda s: len(ws.seq) + s["totals"]["samples_lost"] >= pusher.sent, 30,
                            "every sample decoded or counted lost")  # (a killed worker's last counts are not in totals)
            except AssertionError as exc:  # where the outputs went, should any be missing
                raise AssertionError(f"{exc}\n{accounting(ws, got, pusher)}") from None
            time.sleep(0.5)
            stop.set()
            puller.join()
            totals = client.get(f"/decoders/{did}").json()["totals"]
            end = client.delete(f"/decoders/{did}").json()
            ws.close()
            assert end["state"] == "stopped" and end["exit_code"] == 0, end
            assert ws.dropped == 0 and all(a < b for a, b in zip(ws.seq, ws.seq[1:]))  # once each, in order
            assert len(ws.seq) + totals["samples_lost"] == pusher.sent and totals["samples_lost"] > 0
            assert all(a < b for a, b in zip(got, got[1:]))  # in order
            assert 0 <= len(ws.seq) - len(got) < 0.2 * TINY_SFREQ, (len(ws.seq), len(got))  # at most the rows in flight
            for f in ("a.xdf", "a.2.xdf"):  # out of /proc/<pid>/root: pyxdf resolves the path it is given
                shutil.copy(disk / f, tmp_path / f)
            second = read_session(tmp_path / "a.2.xdf")
            holes = [e for _, e in second.events if e["event"] == "unrecorded"]
            assert len(holes) == 1 and holes[0]["samples"] == st["record"]["unrecorded_samples"]
            assert holes[0]["error"] == cannot and len(read_session(tmp_path / "a.xdf").input_timestamps) > 0


def _recording_series(client: httpx.Client, decoder_id: str) -> dict[str, float]:
    """/metrics' series of a decoder's own recording, by name."""
    return {s.name: s.value for f in text_string_to_metric_families(client.get("/metrics").text) for s in f.samples
            if s.labels.get("decoder_id") == decoder_id and ("unrecorded" in s.name or "recording_ok" in s.name)}


def test_a_decoders_recording_failing_on_a_full_disk_is_on_metrics(models_dir, tmp_path):
    """Before (an operator audit): a decoder's recording that could not be written (a full disk) showed only in
    ``GET /decoders/{id}`` (``record.error``, ``unrecorded_samples``) and one WARNING line; /metrics had no series of
    it,
    so no alert rule could catch a disk filling up during a months-long deployment."""
    name = unique("s41o-fullmetrics")
    outlet, _ = new_outlet(name, f"{name}-src")
    pusher = PacedPusher(outlet, test_signal(int(30 * TINY_SFREQ), seed=6), TINY_SFREQ)
    with small_disk(tmp_path / "rec", "4m") as disk:
        env = dict(os.environ, BCI_STREAM_MODELS_DIR=str(models_dir), BCI_STREAM_RECORDINGS_DIR=str(disk))
        with serve_process(env) as (proc, _), \
                httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                               "options": {"record_path": "m.xdf"}})
            assert r.status_code == 201, r.text
            did = r.json()["id"]
            pusher.start()
            wait_status(client, did, lambda s: s["state"] == "running" and (s["record"] or {}).get("bytes", 0) > 0,
                        60, "recording")
            assert _recording_series(client, did) == {"bci_stream_decoder_recording_ok": 1.0,
                                                      "bci_stream_decoder_unrecorded_samples_total": 0.0,
                                                      "bci_stream_decoder_unrecorded_markers_total": 0.0}
            filler = fill(disk)
            st = wait_status(client, did, lambda s: s["record"]["error"] is not None
                             and s["record"]["unrecorded_samples"] > 0, 60, "the recording's error in the status")
            got = _recording_series(client, did)
            assert got["bci_stream_decoder_recording_ok"] == 0.0, got
            assert got["bci_stream_decoder_unrecorded_samples_total"] >= st["record"]["unrecorded_samples"] > 0, got
            text = client.get("/metrics").text
            assert "# HELP bci_stream_decoder_unrecorded_samples_total Input samples the decoder received" in text
            assert "# TYPE bci_stream_decoder_recording_ok gauge" in text
            pusher.halt.set()
            pusher.join(timeout=60)
            filler.unlink()
            assert client.delete(f"/decoders/{did}").status_code == 200


def test_bci_stream_record_on_a_disk_that_fills_up_says_what_it_did_not_write(tmp_path):
    """``bci-stream record`` whose disk fills up and stays full: progress lines and the summary say how many samples
    were not written and why (the file named), exit code 1. Before: "0 lost" all along, then a traceback of
    the close (ENOSPC) and no summary."""
    name = unique("fullcli")
    outlet = new_outlet(name, f"{name}-src")[0]
    pusher = PacedPusher(outlet, test_signal(int(12 * TINY_SFREQ), seed=5), TINY_SFREQ)
    with small_disk(tmp_path / "rec", "1m") as disk:
        out = disk / "r.xdf"
        proc = subprocess.Popen([sys.executable, "-m", "bci_stream.cli", "record", "--stream", name, "--out", str(out),
                                 "--duration", "8"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        pusher.start()
        deadline = time.monotonic() + 30
        while (not out.exists() or out.stat().st_size < 20_000) and time.monotonic() < deadline:
            time.sleep(0.05)
        fill(disk)
        stdout, stderr = proc.communicate(timeout=60)
        pusher.halt.set()
        assert proc.returncode == 1, stdout + stderr
        assert "Traceback" not in stderr
        cannot = f"recorder cannot write {out}: [Errno 28] No space left on device"
        shutil.copy(out, tmp_path / "r.xdf")  # out of /proc/<pid>/root: pyxdf resolves the path it is given
        n = len(read_session(tmp_path / "r.xdf").input_timestamps)
        first = next(line for line in stdout.splitlines() if line.startswith("recorded "))
        assert first.startswith(f"recorded {out}: {n} samples of '{name}'")
        unwritten = next(line for line in stderr.splitlines() if line.startswith("warning: ") and "not written" in line)
        assert unwritten.endswith(f"were not written to the file ({cannot}); its events stream says where "
                                  "('unrecorded' events)")
        # the close may still find room for its last chunks (a failed write is cut back): then no error remains
        assert f"error: {cannot}" in stderr or "error: " not in stderr
        assert f"not written ({cannot})" in stdout  # the progress line, while it lasts (before: "0 lost")


def accounting(ws: WsReader, got: list[float], pusher: PacedPusher) -> str:
    """Where the outputs around the kill went: the WebSocket's rows (their seq jumps, with the stamps on each side)
    and the decoded LSL stream's (its largest stamp step), against the samples sent."""
    n = min(len(ws.seq), len(ws.t))  # copies of what the reader and puller threads had appended so far
    seq, t, got = ws.seq[:n], ws.t[:n], list(got)
    jumps = [(a, b, t[i], t[i + 1]) for i, (a, b) in enumerate(zip(seq, seq[1:])) if b - a != 1]
    step = max(((b - a, a, b) for a, b in zip(got, got[1:])), default=None)
    return (f"sent {pusher.sent} (stamps from {pusher.t0}); WebSocket: {n} rows (first stamp {t[:1]}), dropped "
            f"{ws.dropped}, seq jumps (seq, next seq, their stamps) {jumps[:5]}; decoded LSL: {len(got)} rows, "
            f"largest step (s, from, to) {step}")

