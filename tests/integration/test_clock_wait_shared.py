"""A stream from another host that comes back as a new outlet instance waits for that instance's clock offset (its
first data held, up to 3 s) while the other streams of its shared worker decode on. A real ``bci-stream serve``
(its liblsl configured to get no offset estimate at all, as when a firewall drops LSL's UDP time probes: the wait
runs to its deadline), a sender on a host of its own (``unshare``: another host name, the same network), real LSL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.service.worker_entry import RESTARTED
from support.bound_port import listening_port
from support.clock_sender import marker_sender, sender
from support.common import REPO, TINY_CH_NAMES, TINY_SFREQ, unique
from support.http import wait_status
from support.lsl import Arrivals, new_outlet, open_output
from support.pacing import PacedPusher
from support.serve_process import serve_process

pytestmark = pytest.mark.timeout(300)

# liblsl estimates an offset from a round of TimeProbeCount probes once TimeUpdateMinProbes of them were answered
NO_ESTIMATE = "[tuning]\nTimeProbeCount = 4\nTimeUpdateMinProbes = 5\n"


def no_estimate_env(models_dir: Path, tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a serve whose liblsl gets no clock offset estimate (``settings``: more of its settings);
    first, that a sender can have a host name of its own here."""
    assert subprocess.run(["unshare", "--user", "--map-root-user", "--uts", "true"]).returncode == 0, \
        "unshare (util-linux) cannot make a user namespace here: the test needs a sender on a host name of its own"
    cfg = tmp_path / "lsl_api.cfg"
    cfg.write_text(NO_ESTIMATE)
    return dict(os.environ, LSLAPICFG=str(cfg), BCI_STREAM_MODELS_DIR=str(models_dir),
                BCI_STREAM_RECORDINGS_DIR=str(tmp_path), **settings)


def test_a_new_instance_awaiting_its_clock_offset_holds_no_other_stream_of_its_shared_worker(models_dir, tmp_path):
    """Before: the shared worker's loop itself waited in liblsl for the new instance's first estimate (3 s when none
    came; ~0.1-0.7 s when one did), every other stream of the worker with it. Now the new instance's stream alone waits
    (its first chunk held, the rest buffered in its inlet): the others' samples sent during the wait are published
    during it, and none of the waiting stream's samples is lost."""
    env = no_estimate_env(models_dir, tmp_path, BCI_STREAM_SHARED_WORKERS="1")
    name, other = unique("elsewhere"), unique("steady")
    outlet, _ = new_outlet(other, f"{other}-src")
    x = np.random.default_rng(0).normal(0, 10, (int(120 * TINY_SFREQ), len(TINY_CH_NAMES))).astype(np.float32)
    steady = PacedPusher(outlet, x, TINY_SFREQ)
    # every sample of the first sender reaches the decoder before it ends (lingering 4 s: still a quick restart)
    first, second = sender(name, None, 2.0, hostname="elsewhere-host", linger_s=4.0), None
    cues = marker_sender(f"{other}-cues", 60.0, "cue-host")
    try:
        with serve_process(env) as (proc, lines), \
                httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                               "options": {"worker": "shared"}})
            assert r.status_code == 201, r.text
            waiting = r.json()["id"]
            r = client.post("/decoders", json={"stream": {"name": other}, "model": "tiny-gru",  # another host's cues
                                               "options": {"worker": "shared", "wait_for_consumer_s": 20,
                                                           "markers": {"stream": {"name": f"{other}-cues"}}}})
            assert r.status_code == 201, r.text
            steady.start()
            # its decoded stream exists once its worker started (a loaded machine: longer than open_output's 10 s)
            wait_status(client, r.json()["id"], lambda s: s["output_stream"] is not None, 90, "its decoded stream")
            out = Arrivals(open_output(f"{other}-decoded"), timeout=0.01)
            while first.poll() is None:
                out.pull()
            assert first.returncode == 0
            second = sender(name, None, 2.0, hostname="elsewhere-host")  # the same source again: a new instance
            deadline = time.monotonic() + 60
            while True:
                st = client.get(f"/decoders/{waiting}").json()
                if (wait := st["clock_wait"]) is not None and wait["seconds"] is not None:
                    break
                if RESTARTED in (st["last_error"] or ""):  # a loaded machine (flake hunt s47): the new instance's full
                    # info did not come within the check's 3 s, so its worker was restarted to connect afresh (not
                    # refused: before, this test ended in that refusal); no clock wait of a new instance to look at
                    assert "whose channel labels and units could not be read within 3 s" in st["last_error"], st
                    # the stream's own status says "error" until the supervisor restarts it (its policy waits 0.2 s
                    # first: a rehearsal s49 read it then); a final error never ends, and fails this wait
                    wait_status(client, waiting, lambda s: s["state"] != "error" and s["restarts"] >= 1, 60,
                                "the restart after the check that could not be done")
                    return
                assert time.monotonic() < deadline, f"no end of a clock wait within 60 s: {st}"
                out.pull()
            assert wait["estimate"] is False and wait["seconds"] > 2.5, wait  # no estimate: the wait ran to its end
            steady_st = client.get(f"/decoders/{r.json()['id']}").json()
            assert st["worker"]["pid"] == steady_st["worker"]["pid"], (st["worker"], steady_st["worker"])
            stamps_a, arrived_a = np.array(out.stamps), np.array(out.arrived)
            end = wait["since"] + wait["seconds"]
            during = int(((stamps_a > wait["since"]) & (arrived_a < end)).sum())  # arrival here: after publishing
            assert during > 0, (f"the other stream published none of its samples sent during the {wait['seconds']:.2f}"
                                f" s wait; {int((stamps_a > wait['since']).sum())} of them after it")
            assert second.wait(30) == 0
            sent = 2 * int(2.0 * TINY_SFREQ)  # both instances': every one decoded, the held chunk too
            st = wait_status(client, waiting, lambda s: s["counters"]["samples_out"] >= sent, 30, "all decoded")
            assert (st["counters"]["samples_in"], st["counters"]["samples_out"]) == (sent, sent)
            assert st["counters"]["reconnects"] == 1 and st["state"] in ("running", "stalled"), st
            assert st["clock_estimate"] is None and st["clock_uncertainty"] is None, st  # none came: none shown
        log = "\n".join(lines)
        assert "no clock offset estimate of the new instance within 3 s: its first samples are used as sent" in log, \
            log[-3000:]
        # said at its first connection too (before: nothing; its stamps went out unmapped, silently), and only for it
        assert f"no clock offset estimate for stream '{name}' from host 'elsewhere-host' within 2 s" in log, log[-3000:]
        assert f"stream '{other}'" not in log, log[-3000:]  # the same-host stream: its offset is 0, no estimate needed
        # and the marker follower of the other decoder says it of its markers' stream, from a third host
        assert f"marker no clock offset estimate for stream '{other}-cues' from host 'cue-host'" in log, log[-3000:]
    finally:
        steady.halt.set()
        for p in (first, second, cues):
            if p is not None and p.poll() is None:
                p.kill()


def test_a_quick_restart_of_a_sender_with_no_clock_estimate_is_checked(models_dir, tmp_path):
    """liblsl flags a re-subscription only once a clock offset was measured. With none (this service's liblsl gets
    no estimate), a sender from another host that came back faster than ``stall_timeout_s`` with its channels in
    reverse order was decoded on, unchecked: ``running``, no reconnect, no error. Now a silence of such a stream is
    followed by a look for a new instance of its source, checked as any new instance: the decoder refuses it."""
    env = no_estimate_env(models_dir, tmp_path)
    name = unique("quick")
    first, second = sender(name, None, 2.0, hostname="elsewhere-host"), None
    try:
        with serve_process(env) as (proc, lines), \
                httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                               "options": {"stall_timeout_s": 30}})
            assert r.status_code == 201, r.text
            assert first.wait(60) == 0
            second = sender(name, None, 2.0, hostname="elsewhere-host", ch_names=TINY_CH_NAMES[::-1])
            st = wait_status(client, r.json()["id"], lambda s: s["state"] == "error"
                             or RESTARTED in (s["last_error"] or ""), 60, "the new instance refused")
            if RESTARTED in (st["last_error"] or ""):  # CI once, a loaded machine: its full info did not come within
                # the check's 3 s; not a refusal since the flake hunt s47: the worker is restarted and connects to
                # it afresh, its channels mapped by their labels; the old worker decoded none of its samples unchecked
                assert "whose channel labels and units could not be read within 3 s" in st["last_error"], st
                return
            assert "label of 8 of its 8 channels changed" in st["last_error"], st  # checked, so refused
            assert st["counters"]["samples_in"] == int(2.0 * TINY_SFREQ) and st["counters"]["stalls"] == 0, st
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()


def test_a_recording_of_a_stream_with_no_clock_offset_estimate_says_so(models_dir, tmp_path):
    """``bci-stream record`` of another host's stream whose clock gets no estimate: recorded (its samples on that
    host's clock, offset 0 in the file), and a warning says why and what it means for markers from other hosts.
    Before, nothing was said."""
    env = no_estimate_env(models_dir, tmp_path)
    name, out = unique("far-rec"), tmp_path / "far.xdf"
    far = sender(name, None, 3.0, hostname="far-host")
    try:
        res = subprocess.run([sys.executable, "-m", "bci_stream.cli", "record", "--stream", name, "--out", str(out),
                              "--duration", "2"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    finally:
        far.kill()
    assert res.returncode == 0, res.stdout + res.stderr
    said = (f"no clock offset estimate for stream '{name}' from host 'far-host' within 2 s (LSL's time probes to that "
            "host get no answer: a firewall dropping UDP?): it is recorded on that host's clock (offset 0 in the file "
            "until an estimate comes): markers sent from another host will be off by the difference of the two clocks")
    assert f"warning: {said}" in res.stderr and f"note: {said}" in res.stdout  # at once, and in the summary
    assert "after each silence" not in res.stdout + res.stderr  # what it means for a decoder is not said of this
    assert load_recording(out).n_times > 0
