"""A sender process on a clock of its own (libfaketime: Debian's ``faketime``, installed by ``make test``), or on a host
of its own (another host name, in a UTS namespace of its own: ``unshare``), for tests of clock offsets. Both ends of a
loopback stream otherwise read the same clock on the same host."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from support.common import REPO, TINY_CH_NAMES, TINY_SFREQ

FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
SECONDS = 4.0

SENDER = textwrap.dedent("""
    import sys, time
    import numpy as np, pylsl
    from bci_stream.lsl.info import make_stream_info
    name, names, sfreq, seconds = sys.argv[1], sys.argv[2].split(","), float(sys.argv[3]), float(sys.argv[4])
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
    time.sleep(1.0)
""")


def sender(name: str, fake: str | None, seconds: float = SECONDS, hostname: str | None = None,
           ch_names: list[str] | None = None, lead_s: float = 0.5) -> subprocess.Popen:
    """A sender process of ``TINY_SFREQ`` chunks of 10 for ``seconds`` once it has a consumer: its clocks (the
    monotonic one LSL stamps with too) run ``fake`` from this host's (None: this host's), and with ``hostname`` its
    streams say they come from that host (``unshare``: a user and UTS namespace of its own, the network shared);
    ``ch_names``: its channel labels (``TINY_CH_NAMES``); ``lead_s``: how long it waits after its first consumer."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if fake is not None:
        env.update(LD_PRELOAD=str(FAKETIME), FAKETIME=fake, FAKETIME_DONT_FAKE_MONOTONIC="0")
    argv = [sys.executable, "-c", SENDER, name, ",".join(ch_names or TINY_CH_NAMES), str(TINY_SFREQ), str(seconds),
            str(lead_s)]
    if hostname is not None:
        argv = ["unshare", "--user", "--map-root-user", "--uts", "sh", "-c", f'hostname {hostname} && exec "$@"', "sh",
                *argv]
    return subprocess.Popen(argv, env=env)


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
