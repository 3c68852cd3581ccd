"""`bci-stream evaluate --live` stopped by SIGTERM (`kill PID`, a batch scheduler's time limit) or Ctrl-C while its
in-process service decodes: the service and its decoder worker shut down as after Ctrl-C; no process, decoder model
copy or shared memory is left behind (session 66: a SIGTERM killed it at once, leaving its decoder's model copy in
the pins folder, a shared-memory block for the resource tracker to reclaim, and liblsl errors from the orphaned
worker).

Data: ``tests/data/eegmmidb/S001/S001R06.edf`` (PhysioNet EEGMMIDB, 64 channels at 160 Hz) decoded by the bundled
``eegmmidb-s001`` model, replayed at 1x so that the signal comes while it decodes (once the service says its decoder
has decoded a sample: a signal during its worker's start-up is another case, a DELETE while connecting, f26).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from integration.test_clean_exit import _Proc
from support.common import REPO, SUBSET_R06, subset_file

pytestmark = pytest.mark.timeout(300)


def _pinned(pins: Path) -> list[str]:
    """The decoder folders in the pins folder (a decoder's model copy and its owner records)."""
    return sorted(p.name for p in pins.iterdir() if p.is_dir()) if pins.is_dir() else []


def _decoding(url: str) -> bool:
    """Whether the in-process service at ``url`` has a decoder running that has decoded a sample."""
    try:
        listed = httpx.get(f"{url}/decoders", timeout=5.0).json()
    except (httpx.HTTPError, ValueError):
        return False
    return any(d["state"] == "running" and d["counters"].get("samples_out", 0) > 0 for d in listed)


@pytest.mark.parametrize("how", ["SIGTERM", "ctrl-c"])
def test_evaluate_live_stopped_while_decoding_leaves_nothing_behind(tmp_path: Path, how: str) -> None:
    pins = tmp_path / "pins"
    cli = str(Path(sys.executable).with_name("bci-stream"))
    ev = _Proc([cli, "evaluate", "eegmmidb-s001", "--models-dir", str(REPO / "models"), "--live",
                "--data", str(subset_file(SUBSET_R06)), "--labels", "T1=fists,T2=feet", "--speed", "1"],
               env=dict(os.environ, BCI_STREAM_PINS_DIR=str(pins), OMP_NUM_THREADS="1"))
    try:
        ev.wait_for_line(r"^service on http://127\.0\.0\.1:\d+", 180)
        url = re.search(r"^service on (http://127\.0\.0\.1:\d+)", ev.text, re.M).group(1)
        deadline = time.monotonic() + 120
        while not (_pinned(pins) and _decoding(url)):  # its decoder runs (from its model copy) and decodes
            assert ev.p.poll() is None, f"exited ({ev.p.returncode}) before its decoder decoded:\n{ev.text}"
            assert time.monotonic() < deadline, f"no decoder decoding within 120 s:\n{ev.text}"
            time.sleep(0.1)
        if how == "SIGTERM":
            ev.p.send_signal(signal.SIGTERM)
        else:  # a terminal's Ctrl-C: SIGINT to the whole process group
            os.killpg(ev.p.pid, signal.SIGINT)
        rc, out = ev.finish(timeout=90)
        left = ev.session_left(30)
    finally:
        ev.kill_session()
    assert left == set(), (left, out)
    assert rc == 1 and out.rstrip().endswith("Aborted!"), (rc, out)  # click's Ctrl-C ending, no traceback
    assert _pinned(pins) == [], (list(pins.rglob("*")), out)
    assert not re.search(r"leaked shared_memory|Traceback|\bERR\b", out), out
