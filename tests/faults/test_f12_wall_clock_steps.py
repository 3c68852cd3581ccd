"""Fault 12b: the wall clock steps (NTP, a resumed VM, a clock set by hand) while a command to a frozen worker waits
(found by an audit of frozen processes and clock steps). A real ``bci-stream serve`` whose processes (its workers
too) read a wall clock the test steps (``support/wall_shim``: ``time.time()`` offset, the monotonic clocks not), a
dedicated worker frozen with SIGSTOP, real LSL.

Before: the command's deadline was a ``time.time()`` value. A reset answered 504, the wall clock stepped back an hour,
the worker continued: it applied the reset (the README: "a 504 means nothing changed"). A wall clock stepped forward
an hour while the sender still waited: the worker refused it as "arrived after its sender stopped waiting"."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

from support.bound_port import listening_port
from support.common import REPO, unique
from support.http import wait_status
from support.lsl import new_outlet
from support.serve_process import serve_process

pytestmark = pytest.mark.timeout(240)

SHIM = REPO / "tests" / "support" / "wall_shim"


def test_a_wall_clock_step_neither_applies_a_command_answered_504_nor_refuses_one_still_waited_for(models_dir,
                                                                                                     tmp_path):
    offset = tmp_path / "wall_offset"
    offset.write_text("0\n")
    env = dict(os.environ, BCI_STREAM_MODELS_DIR=str(models_dir), BCI_STREAM_RECORDINGS_DIR=str(tmp_path),
               BCI_TEST_WALL_OFFSET_FILE=str(offset),
               PYTHONPATH=os.pathsep.join([str(SHIM), *filter(None, [os.environ.get("PYTHONPATH")])]))
    name = unique("wallstep")
    outlet, _ = new_outlet(name, f"{name}-src")  # noqa: F841 - keeps the stream alive
    with serve_process(env) as (proc, lines), \
            httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=60) as client:
        r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                           "options": {"worker": "dedicated"}})
        assert r.status_code == 201, r.text
        did = r.json()["id"]
        st = wait_status(client, did, lambda s: s["state"] in ("running", "stalled"), 90, "running")
        pid = st["pid"]

        def reset_while_frozen(step_s: float, at_s: float, cont_s: float) -> httpx.Response:
            """A reset sent to the frozen worker; the wall clock stepped by ``step_s`` ``at_s`` s after it was sent
            (negative: after its answer); the worker continued ``cont_s`` s after it was sent."""
            answer: list[httpx.Response] = []
            os.kill(pid, signal.SIGSTOP)
            try:
                sent = time.monotonic()
                thread = threading.Thread(target=lambda: answer.append(client.post(f"/decoders/{did}/reset")))
                thread.start()
                if at_s < 0:
                    thread.join()
                else:
                    time.sleep(at_s)
                offset.write_text(f"{step_s}\n")
                time.sleep(max(0.0, cont_s - (time.monotonic() - sent)))
            finally:
                os.kill(pid, signal.SIGCONT)
            thread.join()
            wait_status(client, did, lambda s: s["status_age_s"] < 1.0, 30, "a fresh status after SIGCONT")
            time.sleep(1.0)  # a command it read late would be applied by now
            return answer[0]

        # answered 504 after its 10 s, then the wall clock back an hour: the worker must not apply it
        late = reset_while_frozen(-3600.0, -1, 11.0)
        assert late.status_code == 504 and "did not answer 'reset' within 10 s" in late.text, late.text
        counters = client.get(f"/decoders/{did}").json()["counters"]
        assert (counters["resets"], counters["state_epoch"]) == (0, 0), counters  # before: 1, 1
        # the wall clock forward an hour (from an hour back) while its sender waits: applied, answered
        in_time = reset_while_frozen(3600.0, 1.0, 3.0)
        assert in_time.status_code == 200, in_time.text  # before: 409 "arrived after its sender stopped waiting"
        assert in_time.json()["counters"]["resets"] == 1
        assert client.get(f"/decoders/{did}").json()["restarts"] == 0  # frozen, never killed
        assert client.delete(f"/decoders/{did}").status_code == 200
