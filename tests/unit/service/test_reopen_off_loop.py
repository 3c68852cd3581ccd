"""A shared worker's slot opens its source, found again after a loss, in a helper thread: the loop that calls
``check_source`` never waits for the sender (carried from the shared-worker audit of session 49). Before, the open
(the full info, then the data stream, up to 10 s each) ran on the loop, and a sender stopped just after a resolve
found it (a starved or stopped program, a host off the network) held every other stream of the worker until it
answered or the 20 s ran out.

Real parts: a sender in its own process, stopped with SIGSTOP after a resolve found it (its kernel still accepts the
connection, nobody answers), real loopback inlets. No assertion depends on how long anything takes: a stopped sender
cannot answer, so an open the call returns from without an inlet went on elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pylsl
import pytest
from pylsl.util import LostError, TimeoutError as LslTimeoutError

from bci_stream.service.reopen import OPEN_REASON, InletOpen
from bci_stream.service.source_monitor import SourceMonitor
from bci_stream.service.stalls import LOST_REASON, StallHandling
from support.common import REPO, TINY_CH_NAMES, TINY_SFREQ, unique

pytestmark = pytest.mark.timeout(180)

#: a sender of 8 channels at 500 Hz, no source_id (a lost inlet of it is not recovered by liblsl), pushing 10-sample
#: chunks every 20 ms while it runs
SENDER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import pylsl
    from bci_stream.lsl.info import make_stream_info
    name, names, sfreq = sys.argv[1], sys.argv[2].split(","), float(sys.argv[3])
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", names, sfreq, ""))
    print("ready", flush=True)
    x = np.zeros((10, len(names)), dtype=np.float32)
    while True:
        outlet.push_chunk(x)
        time.sleep(0.02)
""")


@pytest.fixture
def stopped_sender() -> Iterator[tuple[subprocess.Popen, pylsl.StreamInfo]]:
    """A running sender's resolved info, the sender then stopped (SIGSTOP); killed at the end."""
    name = unique("reopen")
    proc = subprocess.Popen([sys.executable, "-c", SENDER, name, ",".join(TINY_CH_NAMES), str(TINY_SFREQ)],
                            env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        found = pylsl.resolve_bypred(f"name='{name}'", 1, 30.0)
        assert found, f"the sender's stream {name!r} was never resolved"
        os.kill(proc.pid, signal.SIGSTOP)
        yield proc, found[0]
    finally:
        proc.kill()
        proc.wait()


class FoundMonitor(SourceMonitor):
    """A monitor whose looks find ``info``, the instance that was lost (a resolver's entry of it)."""

    def __init__(self, info: pylsl.StreamInfo) -> None:
        super().__init__(info, f"name='{info.name()}'")
        self.info = info

    def check(self, now: float, fits=None):
        self.present, self.checked = {self.info.uid()}, True
        return self.info, None


class Slot(StallHandling):
    """The parts of StreamSlot that check_source and the reopen use, on a shared worker (``poll_checks``)."""

    poll_checks = True

    def __init__(self, info: pylsl.StreamInfo) -> None:
        self.decoder_id, self.monitor, self.inlet, self.puller = "t", FoundMonitor(info), None, None
        self.spec = SimpleNamespace(options=SimpleNamespace(max_buffer_s=2.0))
        self.sfreq = TINY_SFREQ
        self.status = SimpleNamespace(stream={"uid": info.uid()}, source_present=False, state="stalled", stall=None)
        self.reports = 0
        self.reporter = SimpleNamespace(report=self.count_report)

    def count_report(self) -> None:
        self.reports += 1

    def stall_lost(self) -> dict:
        """The slot's stall as after a loss (``on_stall(0, lost=True)``)."""
        self.status.stall = {"kind": "lost", "reason": LOST_REASON, "since": 0.0, "seconds": 0.0}
        return self.status.stall


def until(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (got := predicate()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.02)
    return got


def test_the_open_of_a_found_source_goes_on_off_the_loop_and_the_slot_pulls_once_it_is_open(stopped_sender):
    proc, info = stopped_sender
    slot = Slot(info)
    slot.check_source(pylsl.local_clock())  # returns: the stopped sender cannot have answered the open
    pending = slot.reopen_pending
    assert slot.inlet is None and pending is not None and slot.poll_reopen()
    slot.check_source(pylsl.local_clock())  # the next look starts no second open of it
    assert slot.reopen_pending is pending and slot.inlet is None
    os.kill(proc.pid, signal.SIGCONT)
    until(lambda: not slot.poll_reopen(), "the open once the sender runs again")
    assert slot.reopen_pending is None and slot.inlet is not None and slot.puller is not None
    got = until(lambda: len(slot.puller.pull(0.1)[1]), "data from the reopened inlet")
    assert got > 0
    slot.inlet.close_stream()


def test_an_open_abandoned_while_it_goes_on_leaves_no_inlet(stopped_sender):
    proc, info = stopped_sender
    slot = Slot(info)
    slot.reopen(info)
    pending = slot.reopen_pending
    assert pending is not None and slot.inlet is None
    slot.cancel_reopen()  # the decoder is stopped meanwhile (StreamSlot.close)
    assert slot.reopen_pending is None and not slot.poll_reopen()
    os.kill(proc.pid, signal.SIGCONT)
    pending._thread.join(60)  # the open ends once the sender answers: the inlet it opened is closed, not kept
    assert not pending._thread.is_alive() and pending.result() is None and slot.inlet is None


def test_a_source_gone_while_its_open_goes_on_leaves_the_slot_stalled_and_looking(stopped_sender):
    proc, info = stopped_sender
    slot = Slot(info)
    slot.reopen(info)
    assert slot.reopen_pending is not None
    proc.kill()  # the stopped sender dies: its connections are reset
    proc.wait()
    until(lambda: not slot.poll_reopen(), "the failed open's end")
    assert slot.reopen_pending is None and slot.inlet is None and slot.status.state == "stalled"


def test_the_error_of_an_open_is_raised_in_the_thread_that_asks(stopped_sender):
    proc, info = stopped_sender
    opening = InletOpen(info, 1)
    proc.kill()
    proc.wait()
    until(lambda: not opening._thread.is_alive(), "the open's end")
    with pytest.raises((LostError, LslTimeoutError)):
        opening.result()


def test_an_open_of_another_instance_replaces_the_one_going_on(stopped_sender):
    """The instance being opened is superseded (a new one passed its check): its open is abandoned, the new one's
    starts; the same instance asked again starts no second open."""
    proc, info = stopped_sender
    slot = Slot(info)
    slot.reopen(info)
    first = slot.reopen_pending
    slot.reopen(info)
    assert slot.reopen_pending is first
    other_name = unique("reopen-other")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(other_name, "EEG", len(TINY_CH_NAMES), TINY_SFREQ, "float32", ""))
    found = pylsl.resolve_bypred(f"name='{other_name}'", 1, 30.0)
    assert found
    slot.reopen(found[0])
    assert slot.reopen_pending is not first and first._cancelled
    until(lambda: not slot.poll_reopen(), "the open of the other instance")
    assert slot.inlet is not None and slot.inlet.info(timeout=10.0).uid() == outlet.get_info().uid()
    slot.cancel_reopen()
    slot.inlet.close_stream()


def test_a_checked_instance_gone_before_its_open_is_looked_for_at_once_and_said(stopped_sender, caplog):
    """A new instance that passed its check and went away before its inlet opened: the next look comes at once (as
    when the open waited on the loop: review s51 F1), and the log says so as a warning, not as a resolver's stale
    entry of the lost instance (its uid is the status's since its check: review s51 F2)."""
    proc, info = stopped_sender
    slot = Slot(info)
    slot.monitor._next_check = float("inf")  # a look not due for a while (the backoff)
    slot.reopen(info, checked=True)
    proc.kill()
    proc.wait()
    with caplog.at_level("DEBUG", logger="bci_stream.worker"):
        until(lambda: not slot.poll_reopen(), "the failed open's end")
    assert slot.inlet is None and slot.monitor._next_check == 0.0
    said = [r for r in caplog.records if "went away before its inlet opened" in r.getMessage()]
    assert said and said[0].levelname == "WARNING" and "stale" not in said[0].getMessage(), said


class NewInstanceMonitor(FoundMonitor):
    """A monitor whose looks find a new instance of the source (uid ``uid``)."""

    def __init__(self, info: pylsl.StreamInfo, uid: str) -> None:
        super().__init__(info)
        self.uid = uid

    def check(self, now: float, fits=None):
        self.present, self.checked = {self.uid}, True
        return self.info, self.uid


def test_a_newer_instance_found_while_an_open_goes_on_abandons_it(stopped_sender):
    """Review s51 F7: the open of an instance seen before is cancelled once a newer one is found (that one is checked
    first, then opened: ``reopen_after_check``)."""
    _, info = stopped_sender
    slot = Slot(info)
    slot.full = None
    slot.reopen(info)
    first = slot.reopen_pending
    slot.monitor = NewInstanceMonitor(info, "a-newer-uid")
    slot.check_source(pylsl.local_clock())
    assert slot.reopen_pending is None and first._cancelled
    assert slot.check_pending is not None and slot.check_pending[1] == "a-newer-uid"
    assert slot.reopen_after_check is info and slot.inlet is None


def test_a_slot_closed_while_its_open_goes_on_cancels_it(stopped_sender, tmp_path):
    """Review s51 F7: a real StreamSlot's close (a DELETE, a restart) cancels the open going on."""
    import multiprocessing as mp

    from bci_stream.core.spec import DecoderSpec
    from bci_stream.service.status_channel import StatusSender
    from bci_stream.service.stream_slot import StreamSlot

    _, info = stopped_sender
    a, b = mp.Pipe()
    _, status_w = mp.Pipe(duplex=False)
    slot = StreamSlot("d1", 1, DecoderSpec.model_validate({"stream": {"name": info.name()}, "model": "tiny-gru"}),
                      str(tmp_path), b, StatusSender(status_w))  # no model loaded: none needed
    slot.poll_checks, slot.sfreq = True, TINY_SFREQ
    slot.reopen(info)
    pending = slot.reopen_pending
    assert pending is not None and slot.inlet is None
    slot.close()
    assert slot.reopen_pending is None and pending._cancelled and slot.inlet is None
    a.close()


def test_the_status_says_opening_while_the_open_goes_on_then_what_it_said_before(stopped_sender):
    """While the open goes on in its helper thread the stall's ``kind`` is ``opening`` (``open_since``), reported;
    once the inlet is open, the stall says what it said before until data resume the stream. Before, it said ``lost``
    throughout, nothing telling that the source was found and its sender waited for."""
    proc, info = stopped_sender
    slot = Slot(info)
    stall = slot.stall_lost()
    slot.reopen(info)
    assert stall["kind"] == "opening" and stall["reason"] == OPEN_REASON and stall["open_since"] > 0
    assert slot.reports == 1
    os.kill(proc.pid, signal.SIGCONT)
    until(lambda: not slot.poll_reopen(), "the open once the sender runs again")
    assert slot.inlet is not None
    assert (stall["kind"], stall["reason"], stall["open_since"]) == ("lost", LOST_REASON, None)
    assert slot.reports == 2
    slot.inlet.close_stream()


@pytest.mark.parametrize("end", ["cancelled", "failed"])
def test_an_open_cancelled_or_failed_gives_the_stall_its_kind_back(stopped_sender, end):
    proc, info = stopped_sender
    slot = Slot(info)
    stall = slot.stall_lost()
    slot.reopen(info)
    assert stall["kind"] == "opening"
    if end == "cancelled":
        slot.cancel_reopen()
    else:
        proc.kill()
        proc.wait()
        until(lambda: not slot.poll_reopen(), "the failed open's end")
    assert (stall["kind"], stall["reason"], stall["open_since"]) == ("lost", LOST_REASON, None)


def test_a_newer_instance_found_while_opening_is_checked_and_the_check_keeps_the_kind_before_the_open(
        stopped_sender):
    """The open is abandoned before the newer instance's check begins: the check says ``checking``, and says the
    kind before the open (``lost``), not ``opening``, once it passed."""
    _, info = stopped_sender
    slot = Slot(info)
    slot.full = None
    stall = slot.stall_lost()
    slot.reopen(info)
    slot.monitor = NewInstanceMonitor(info, "a-newer-uid")
    slot.check_source(pylsl.local_clock())
    assert slot.reopen_pending is None and stall["kind"] == "checking" and stall["open_since"] is None
    assert slot.stall_before_check["kind"] == "lost"


def test_an_instance_opened_once_its_check_passed_says_the_kind_before_the_check_not_checking(stopped_sender):
    """A lost source back as a new instance (a restarted sender) on a shared worker: checked, then opened, both in
    helper threads. Once the open ended the stall says what it said before the check (``lost``): before, the open
    began while the stall still said ``checking`` (its kind put back only after the open began), so the open saved
    ``checking`` as the kind before it and put it back at its end, ``checking`` and ``check_since`` staying though no
    check went on any more (review s52rev)."""
    proc, info = stopped_sender
    slot = Slot(info)
    slot.full, slot.event = None, lambda kind, **fields: None
    slot.status.counters = SimpleNamespace(reconnects=0)
    stall = slot.stall_lost()
    slot.monitor = NewInstanceMonitor(info, "a-newer-uid")
    slot.check_source(pylsl.local_clock())  # the new instance: its check begins, its open waits for it
    assert stall["kind"] == "checking" and slot.reopen_after_check is info
    assert not slot.poll_check()  # passed (nothing to read): the open begins
    assert slot.reopen_pending is not None and stall["kind"] == "opening"
    os.kill(proc.pid, signal.SIGCONT)
    until(lambda: not slot.poll_reopen(), "the open once the sender runs again")
    assert slot.inlet is not None
    assert (stall["kind"], stall["reason"], stall["open_since"], stall["check_since"]) == (
        "lost", LOST_REASON, None, None), stall
    slot.inlet.close_stream()
