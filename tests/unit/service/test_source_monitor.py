"""SourceMonitor on real LSL outlets and inlets (loopback): liblsl's own re-subscription is flagged before the new
instance's first sample, and :meth:`SourceMonitor.begin_verify` / :meth:`SourceMonitor.poll_verify` check that instance
against the original stream."""

from __future__ import annotations

import time

import numpy as np
import pylsl
import pytest

from bci_stream.core.errors import StreamMismatchError
from bci_stream.lsl.info import make_stream_info
from bci_stream.service.source_monitor import SourceMonitor
from support.common import TINY_CH_NAMES, TINY_SFREQ, unique


def outlet(name: str, sid: str, sfreq: float = TINY_SFREQ) -> pylsl.StreamOutlet:
    return pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, sfreq, sid))


def first_data(inlet: pylsl.StreamInlet, out: pylsl.StreamOutlet, timeout: float = 60.0) -> int:
    """Push to ``out`` until ``inlet`` receives something; the number of samples received first."""
    x = np.zeros((10, len(TINY_CH_NAMES)), np.float32)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out.push_chunk(x)
        _, ts = inlet.pull_chunk(timeout=0.05)
        if ts:
            return len(ts)
    raise AssertionError(f"no data through the recovered inlet within {timeout} s")


def checked(monitor: SourceMonitor, timeout: float = 60.0) -> str | None:
    """begin_verify, then poll_verify until the returned instance is checked: its uid if new."""
    monitor.begin_verify()
    deadline = time.monotonic() + timeout
    while (got := monitor.poll_verify()) == (False, None):
        assert time.monotonic() < deadline, f"no instance of {monitor.verify_predicate()} found within {timeout} s"
        time.sleep(0.05)
    return got[1]


@pytest.mark.parametrize("sfreq", [TINY_SFREQ, 1000.0])
def test_resubscription_is_flagged_before_the_first_sample_and_verified(sfreq):
    name = unique("monitor")
    sid = f"{name}-src"
    a = outlet(name, sid)
    info = pylsl.resolve_bypred(f"source_id='{sid}'", 1, 10.0)[0]
    inlet = pylsl.StreamInlet(info, recover=True)
    full = inlet.info(timeout=10.0)
    inlet.open_stream(timeout=10.0)
    monitor = SourceMonitor(full, f"name='{name}'")
    monitor.follow(inlet)
    assert first_data(inlet, a) > 0 and not monitor.resubscribed()  # no switch yet
    del a  # the sender dies; another instance of the source comes back and sends
    b = outlet(name, sid, sfreq)
    first_data(inlet, b)
    assert monitor.resubscribed()  # raised by liblsl before the new instance's first sample
    assert not monitor.resubscribed()  # once per switch
    if sfreq == TINY_SFREQ:
        assert checked(monitor) == b.get_info().uid()  # counted once: a new instance
        assert checked(monitor) is None
    else:
        with pytest.raises(StreamMismatchError, match=r"came back with n_chans=8, sfreq=1000, format=float32; "
                                                      r"it was n_chans=8, sfreq=500, format=float32"):
            checked(monitor)
    inlet.close_stream()


def test_an_instance_not_found_yet_is_waited_for_and_only_another_shape_refused():
    """poll_verify: nothing found is no verdict (looked for again, no error); found with the same shape it is checked
    (its uid, once); found with another rate, StreamMismatchError, as before."""
    name = unique("monitor-later")
    sid = f"{name}-src"
    a = outlet(name, sid)
    monitor = SourceMonitor(a.get_info(), f"name='{name}'")
    monitor.seen_uids = {a.get_info().uid()}
    del a
    monitor.begin_verify()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert monitor.poll_verify() == (False, None)  # before: StreamMismatchError ("could not be checked")
        time.sleep(0.05)
    b = outlet(name, sid)
    deadline = time.monotonic() + 60.0
    while (got := monitor.poll_verify()) == (False, None) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got == (True, b.get_info().uid())
    del b
    c = outlet(name, sid, 1000.0)
    monitor.begin_verify()
    with pytest.raises(StreamMismatchError, match=r"came back with n_chans=8, sfreq=1000"):
        deadline = time.monotonic() + 60.0
        while monitor.poll_verify() == (False, None) and time.monotonic() < deadline:
            time.sleep(0.05)
    del c
