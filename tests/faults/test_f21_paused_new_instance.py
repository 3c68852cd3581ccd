"""A sender that comes back as a new outlet instance and is stopped (SIGSTOP) after a resolve found that instance:
the instance's full info (channel labels and units, read to check it) does not come until the sender runs again,
up to 3 s. Before, the shared worker's loop read it itself, and every other stream of the worker waited with it
(~1 s and up to 3 s in audit s49: no output at all on the other streams). Now it is read in a helper thread: the
returned stream alone waits (``stall.kind`` ``checking``, its samples held), the others decode on. No assertion
depends on how long anything takes (every wait is a generous poll on a condition)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.service.source_monitor import RECONNECT_BACKOFF
from faults.kit import make_settings, start_running, status
from support.common import REPO, TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet
from support.pacing import PacedPusher, push_paced

pytestmark = pytest.mark.timeout(500)

ROUNDS_S = 360  #: how long the rounds may take to catch a check (one round, mostly; see the test)
STALL_S = 1.0  #: the waiting decoder's stall_timeout_s
#: how long an instance runs at least, for the stalled stream's continuous resolver to hear it (liblsl's asks about
#: once a second; a run of 1.3 s went unheard once in session 56's logs of the looks)
HEARD_S = 2.0

#: a sender that creates the outlet instance and then only answers (while it is not stopped)
IDLE_SENDER = textwrap.dedent("""
    import sys, time
    import pylsl
    from bci_stream.lsl.info import make_stream_info
    name, names = sys.argv[1], sys.argv[2].split(",")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", names, float(sys.argv[3]), name + "-src"))
    print("ready", flush=True)
    time.sleep(600)
""")


@pytest.fixture(scope="module")
def server(fault_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    """One shared worker: every shared decoder of the module in the same process."""
    with BackgroundServer(make_settings(fault_models, tmp_path_factory.mktemp("recordings"), shared_workers=1)) as srv:
        yield srv


def look_times(stalled_at: float) -> Iterator[float]:
    """When a stream stalled at ``stalled_at`` (``local_clock()``) looks for its source: after the first backoff, then
    at intervals doubling up to the largest (:meth:`~bci_stream.service.source_monitor.SourceMonitor.check`)."""
    at, step = stalled_at + RECONNECT_BACKOFF[0], RECONNECT_BACKOFF[0]
    while True:
        yield at
        step = min(step * 2, RECONNECT_BACKOFF[1])
        at += step


def checking(st: dict) -> bool:
    return (st["stall"] or {}).get("kind") == "checking"


def decoded_during_check(client: httpx.Client, waiting: str, other: str) -> int | None:
    """How many samples decoder ``other`` decoded over 1 s while one check of ``waiting``'s returned instance went on
    the whole time (the same ``check_since`` before and after), or None when none did (review s49 F8: a check that
    ended before the other stream's next status was read failed the test on a slow machine)."""
    before = status(client, waiting)
    if not checking(before):
        return None
    n0 = status(client, other)["counters"]["samples_out"]
    time.sleep(1.0)
    n1 = status(client, other)["counters"]["samples_out"]
    after = status(client, waiting)
    if not checking(after) or after["stall"]["check_since"] != before["stall"]["check_since"]:
        return None
    return n1 - n0


def test_a_stopped_sender_s_new_instance_holds_no_other_stream_of_its_shared_worker(client: httpx.Client) -> None:
    steady, paused = unique("steady"), unique("paused")
    out, _ = new_outlet(steady, f"{steady}-src")
    # the steady stream must outlast the rounds' deadline (360 s) and what follows: with 300 s of signal, a check
    # caught late in the rounds saw the other stream decode nothing because its sender had ended (CI rehearsal s55)
    pusher = PacedPusher(out, test_signal(int((ROUNDS_S + 120) * TINY_SFREQ), seed=3), TINY_SFREQ)
    pusher.start()
    first, _ = new_outlet(paused, f"{paused}-src")
    proc: subprocess.Popen | None = None
    try:
        other = start_running(client, steady, worker="shared")
        waiting = start_running(client, paused, worker="shared", stall_timeout_s=STALL_S)
        pid = status(client, other)["worker"]["pid"]
        assert status(client, waiting)["worker"]["pid"] == pid  # one worker hosts both
        push_paced(first, test_signal(500, seed=4), TINY_SFREQ)
        wait_status(client, waiting, lambda s: s["counters"]["samples_out"] == 500, 60, "the first instance decoded")
        del first  # the amplifier program ends
        wait_status(client, waiting, lambda s: s["state"] == "stalled", 60, "the stall")
        # A new instance that runs, then stops (a starved program) just before the stalled stream looks for its
        # source: that look finds it (its resolver heard it while it ran and forgets it only 2 s after) and begins
        # its check, which holds while the instance stays stopped (up to 3 s). A look while it ran would find it
        # answering (checked at once: no check to see), and one over 2 s after the stop would not find it: before,
        # rounds at a fixed pace kept missing the looks' phase, up to 357 s (CI rehearsals); now each round starts just
        # after a look and stops the instance 0.5 s before the next, at the times the stall's backoff gives.
        deadline, grew, since, looks = time.monotonic() + ROUNDS_S, None, None, iter(())
        while grew is None:
            assert time.monotonic() < deadline, f"no new instance was ever being checked: {status(client, waiting)}"
            if proc is not None:
                proc.kill()
                proc.wait()
            stall = wait_status(client, waiting, lambda s: s["state"] == "stalled", 60, "the stall")["stall"]
            if stall["since"] != since:  # the first round, or a stall begun anew (a check that ended in a restart)
                since = stall["since"]
                looks = look_times(since + STALL_S)
            after, look = next(looks), next(looks)  # a look to start after, and the next: HEARD_S + 1.5 s apart
            while after < pylsl.local_clock() or look - after < HEARD_S + 1.5:
                after, look = look, next(looks)
            time.sleep(max(0.0, after + 0.05 - pylsl.local_clock()))
            proc = subprocess.Popen([sys.executable, "-c", IDLE_SENDER, paused, ",".join(TINY_CH_NAMES),
                                     str(TINY_SFREQ)], env=dict(os.environ, PYTHONPATH=str(REPO)),
                                    stdout=subprocess.PIPE, text=True)
            assert proc.stdout.readline().strip() == "ready"
            if pylsl.local_clock() > look - 0.5 - HEARD_S:  # too little time left to be heard: the next round
                continue
            time.sleep(max(0.0, look - 0.5 - pylsl.local_clock()))
            os.kill(proc.pid, signal.SIGSTOP)
            end = time.monotonic() + (look - pylsl.local_clock()) + 4.0  # the check begins at the look
            while grew is None and time.monotonic() < end:
                grew = decoded_during_check(client, waiting, other)  # the other stream of the worker decodes on
                time.sleep(0.05)
        assert pusher.is_alive(), "the steady stream's sender ended before a check was caught"
        assert grew > 0, "the other stream published nothing during the check"
        later = status(client, other)
        assert later["worker"]["pid"] == pid and later["restarts"] == 0 and later["state"] == "running", later
        # the instance never answers: its check ends (the decoder is restarted, as before); the other stream stays up
        os.kill(proc.pid, signal.SIGKILL)
        wait_status(client, waiting, lambda s: not checking(s), 60, "the check's end")
        st = status(client, other)
        assert st["worker"]["pid"] == pid and st["restarts"] == 0 and st["last_error"] is None, st
        c = st["counters"]
        assert c["samples_lost"] == 0 and c["samples_in"] == c["samples_out"] > 0, c
    finally:
        pusher.halt.set()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
