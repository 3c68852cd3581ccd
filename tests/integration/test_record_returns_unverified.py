"""`bci-stream record`: the source comes back as a new outlet instance that no resolve finds when the recorder reads
its first samples (an amplifier program restarted on a loaded machine; here: the recording process is paused while
the returning instance sends and goes away again), then as a third instance that can be found.

Before, the recording ended there ("no resolve ... found within 3 s, so its channel count, rate and format could not
be checked": a ``reconnect`` event with an ``error``), after a blocking 3 s wait, although nothing said the instance
was another stream. Now the returned instance's samples are held, not written unchecked nor dropped, and once an
instance of the source is found with the same shape, every sample of the three instances is written once, in order.
Real LSL on loopback, a real ``bci-stream record`` process, the file read back. No assertion depends on how long
anything takes (every wait is a generous poll on a condition).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pylsl
import pytest

from bci_stream.io import load_recording
from support.common import REPO, TINY_SFREQ, test_signal, unique
from support.lsl import gone, new_outlet, wait_for
from support.pacing import push_paced

N = 500  # samples sent by each of the first two instances (1 s at TINY_SFREQ); the third sends 2 N


def in_file(path, event: str) -> bool:
    """The recorder's events stream in ``path`` holds an event ``event`` (written raw: JSON text in the file)."""
    return f'"event": "{event}"'.encode() in path.read_bytes()


def streams_of(path) -> dict[str, dict]:
    import pyxdf

    streams = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)[0]
    return {s["info"]["type"][0]: s for s in streams}


@pytest.mark.filterwarnings("ignore:.*jump forward")  # the instances' breaks, said by load_recording
def unchanged_for(path, seconds: float, seen: dict = {}) -> bool:  # noqa: B006 - remembers the last size seen
    """Whether ``path``'s size has not changed for ``seconds`` (polled: the first call starts the count)."""
    size, now = path.stat().st_size, time.monotonic()
    if seen.get(path, (None,))[0] != size:
        seen[path] = (size, now)
    return now - seen[path][1] >= seconds


def test_a_returned_instance_not_found_yet_is_held_and_recorded_once_checked(tmp_path):
    name, out = unique("recunverified"), tmp_path / "r.xdf"
    sid = f"{name}-src"
    x = test_signal(4 * N, seed=41)
    first, _ = new_outlet(name, sid)
    proc = subprocess.Popen([sys.executable, "-m", "bci_stream.cli", "record", "--stream", name, "--out", str(out)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    stopped = False
    try:
        assert first.wait_for_consumers(60), "the recorder did not connect"
        ts_a = push_paced(first, x[:N], TINY_SFREQ)
        wait_for(lambda: in_file(out, "stall"), 60.0, "the silence after the first instance")  # all of it read
        del first  # the amplifier program ends

        second, _ = new_outlet(name, sid)  # it restarts: same name and source_id, a new outlet instance
        assert second.wait_for_consumers(60), "liblsl did not re-subscribe the recorder's inlet to the returning source"
        os.kill(proc.pid, signal.SIGSTOP)  # the recorder reads nothing until the instance cannot be found any more
        stopped = True
        ts_b = push_paced(second, x[N:2 * N], TINY_SFREQ, t_start=pylsl.local_clock())
        time.sleep(1.0)  # its samples are on their way (in the paused recorder's socket)
        del second
        assert gone(sid), "the returned instance is still resolvable"
        size = out.stat().st_size  # nothing of the second instance can be in the file yet
        os.kill(proc.pid, signal.SIGCONT)
        stopped = False
        # the recorder read the unchecked instance's samples, while nothing can be found (before: 3 s, then the end)
        wait_for(lambda: in_file(out, "verify_wait") or b"could not be checked" in out.read_bytes(), 60.0,
                 "the recorder to look for the returned instance")
        assert b"could not be checked" not in out.read_bytes(), "the recording ended on an instance not found yet"

        third, _ = new_outlet(name, sid)  # up again, same shape: it can be checked now
        assert third.wait_for_consumers(60)
        ts_c = push_paced(third, x[2 * N:], TINY_SFREQ, t_start=max(pylsl.local_clock(), ts_b[-1] + 1.0))
        # the second instance's samples, then some of the third's, written: the check is done
        wait_for(lambda: out.stat().st_size > size + int(1.5 * N) * 8 * 4, 60.0, "the held samples in the file")
        # then every sample written (CI once: the last 9 not yet pulled when the stop came): the file unchanged for
        # 2 s, the recorder writing every 0.5 s
        wait_for(lambda: unchanged_for(out, 2.0), 60.0, "the file settled")
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60.0)
        del third
    finally:
        if stopped:
            os.kill(proc.pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "ends here" not in stdout + stderr and "could not be checked" not in stdout + stderr, stdout + stderr

    streams = streams_of(out)
    # every sample of the three instances, once, in order, with its own stamp (before: the first instance's only)
    np.testing.assert_array_equal(streams["EEG"]["time_stamps"], np.r_[ts_a, ts_b, ts_c])
    rec = load_recording(out)
    assert rec.n_times == 4 * N
    np.testing.assert_array_equal(rec.data, x.T.astype(np.float64))
    events = [json.loads(v[0]) for v in streams["bci-stream-events"]["time_series"]]
    kinds = [e["event"] for e in events]
    reconnects = [e for e in events if e["event"] == "reconnect"]
    assert reconnects and all(e.get("error") is None and e["uid"] for e in reconnects), events
    assert reconnects[0]["seq"] <= N, reconnects  # before the held samples (the first instance's tail may be held)
    assert "verify_wait" in kinds and "unverified" not in kinds, kinds
    # stalls and resumes alternate (a stall while the check waited is resumed when the held samples are written)
    flow = [k for k in kinds if k in ("stall", "resume")]
    assert flow and all(a != b for a, b in zip(flow, flow[1:])) and flow[0] == "stall", flow
    assert events[-1]["event"] == "stopped" and events[-1]["samples_in"] == 4 * N, events[-1]
