"""A sender process on a clock of its own (libfaketime: Debian's ``faketime``, installed by ``make test``), or on a host
of its own (another host name, in a UTS namespace of its own: ``unshare``), for tests of clock offsets. Both ends of a
loopback stream otherwise read the same clock on the same host."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pylsl

from support.common import REPO, TINY_CH_NAMES, TINY_SFREQ

FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
SECONDS = 4.0

SENDER = textwrap.dedent("""
    import sys, time
    import numpy as np, pylsl
    from bci_stream.lsl.info import make_stream_info
    name, names, sfreq, seconds = sys.argv[1], sys.argv[2].split(","), float(sys.argv[3]), float(sys.argv[4])
    print(pylsl.local_clock(), flush=True)  # the clock it stamps with, for the caller to check it is faked
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", names, sfreq, name + "-src"), 0, 60)
    while not outlet.have_consumers():
        time.sleep(0.01)
    time.sleep(float(sys.argv[5]))
    base, start, k = pylsl.local_clock(), time.perf_counter(), 0  # stamped with this process's own clock
    while k < seconds * sfreq:
        while time.perf_counter() < start + (k + 10) / sfreq:
            time.sleep(0.001)
        outlet.push_chunk(np.random.default_rng(k).normal(0, 10, (10, len(names))).astype(np.float32),
                          [base + (k + i) / sfreq for i in range(10)])
        k += 10
    time.sleep(float(sys.argv[6]))  # its last chunks still on their way to a loaded consumer
""")


def sender(name: str, fake: str | None, seconds: float = SECONDS, hostname: str | None = None,
           ch_names: list[str] | None = None, lead_s: float = 0.5, linger_s: float = 1.0) -> subprocess.Popen:
    """A sender process of ``TINY_SFREQ`` chunks of 10 for ``seconds`` once it has a consumer: its clocks (the
    monotonic one LSL stamps with too) run ``fake`` from this host's (None: this host's), and with ``hostname`` its
    streams say they come from that host (``unshare``: a user and UTS namespace of its own, the network shared);
    ``ch_names``: its channel labels (``TINY_CH_NAMES``); ``lead_s``: how long it waits after its first consumer;
    ``linger_s``: how long it stays after its last push (liblsl drops what it has not sent yet when the process
    ends: on a loaded machine, 318 of a 2 s sender's 1,000 samples once, with 1 s).

    A faked sender's clock is checked before it is returned (:func:`faked_clock`): a sender on this host's own clock
    is decoded as one, with no clock wait, and a test of clocks that passed or failed on that said nothing (the
    suspected cause of one CI failure of ``test_reconnect_clock``: no clock wait, its stamps right)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if fake is not None:
        env.update(LD_PRELOAD=str(FAKETIME), FAKETIME=fake, FAKETIME_DONT_FAKE_MONOTONIC="0")
    argv = [sys.executable, "-c", SENDER, name, ",".join(ch_names or TINY_CH_NAMES), str(TINY_SFREQ), str(seconds),
            str(lead_s), str(linger_s)]
    if hostname is not None:
        argv = ["unshare", "--user", "--map-root-user", "--uts", "sh", "-c", f'hostname {hostname} && exec "$@"', "sh",
                *argv]
    seen = []
    for _ in range(3):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
        clock = faked_clock(proc)
        if fake is None or (clock is not None and abs(clock - pylsl.local_clock()) > 50):
            return proc
        seen.append(clock)
        proc.kill()
        proc.wait()
    raise AssertionError(f"libfaketime ({FAKETIME}) did not fake the sender's clock by {fake!r} in 3 tries: it read "
                         f"{seen}, this host's clock {pylsl.local_clock():.3f}")


def faked_clock(proc: subprocess.Popen, timeout: float = 60.0) -> float | None:
    """The ``local_clock()`` a :func:`sender` process read as it started (None: it said nothing in ``timeout`` s)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    return float(line) if line.strip() else None


MARKERS = textwrap.dedent("""
    import sys, time
    import pylsl
    name, seconds = sys.argv[1], float(sys.argv[2])
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", 1, 0, "string", name + "-src"))
    time.sleep(seconds)
""")


def marker_sender(name: str, seconds: float, hostname: str) -> subprocess.Popen:
    """A string marker stream ``name`` (type Markers) up for ``seconds``, from host ``hostname`` (as :func:`sender`)."""
    return subprocess.Popen(["unshare", "--user", "--map-root-user", "--uts", "sh", "-c",
                             f'hostname {hostname} && exec "$@"', "sh", sys.executable, "-c", MARKERS, name,
                             str(seconds)], env=dict(os.environ, PYTHONPATH=str(REPO)))
