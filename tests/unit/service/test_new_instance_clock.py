"""A new outlet instance whose own clock offset estimate does not come within the wait (its time probes unanswered:
a loaded machine) is stamped with the last instance's offset only where that offset puts its first chunk where it
arrived; a rebooted host's instance (another clock) is stamped by its arrival here until an estimate comes. Before:
its samples went out 1.5e9 s off (CI, ``test_reconnect_clock`` under a full suite's load). Through a real
:class:`StreamSlot`'s wait (:meth:`begin_clock_wait`, :meth:`clock_pending`); no inlet, so no estimate comes."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from bci_stream.core.spec import DecoderSpec
from bci_stream.lsl.source import ClockOffset
from bci_stream.service.stalls import LATE_MAX_S, NEW_INSTANCE_CLOCK_S
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.stream_slot import StreamSlot

OLD_OFFSET = 100.0  # the last instance's: its sender's clock 100 s behind this host's


def waited(models_dir, last_ts: float, arrival: float, last_late_s: float = 0.0) -> StreamSlot:
    """A slot whose last instance had an estimate (OLD_OFFSET), its last sample decoded with a stamp 10 ms before
    its arrival plus ``last_late_s``; a new instance's first chunk, its last stamp ``last_ts``, arrived at
    ``arrival``; the wait ended with no estimate of its own."""
    a, b = mp.Pipe()
    status_r, status_w = mp.Pipe(duplex=False)
    slot = StreamSlot("d1", 1, DecoderSpec.model_validate({"stream": {"name": "fixG-clock"}, "model": "tiny-gru"}),
                      str(models_dir), b, StatusSender(status_w))
    slot.clock = clock = ClockOffset(mode="auto", same_host=False)
    for k in range(3):  # its estimates, as ClockOffset.update takes them
        clock.line.take(arrival - 30.0 + k - OLD_OFFSET, OLD_OFFSET)
    clock.estimate, clock.uncertainty, clock.zero, clock.offset = OLD_OFFSET, 2e-4, False, OLD_OFFSET
    slot.status.last_timestamp = arrival - 1.01 + last_late_s  # the last instance's last sample, decoded
    slot.begin_clock_wait(arrival, arrival - 1.0, last_ts)
    assert slot.clock_pending(arrival + 0.5)  # still waiting
    assert not slot.clock_pending(arrival + NEW_INSTANCE_CLOCK_S + 0.1)  # the deadline: no estimate came
    return slot


@pytest.mark.parametrize("new_clock", [-3000 * 86400.0, 5e8, -(LATE_MAX_S + 5.0)])  # behind, ahead, >10 s late
def test_an_instance_on_another_clock_is_stamped_by_its_arrival(models_dir, new_clock):
    arrival = 20_000.0
    last_ts = arrival - OLD_OFFSET + new_clock  # what the last instance's offset maps to arrival + new_clock
    slot = waited(models_dir, last_ts, arrival)
    assert slot.status.clock_wait["estimate"] is False and slot.status.clock_wait["offset_from"] == "arrival"
    assert slot.clock.mapped(np.array([last_ts]))[0] == pytest.approx(arrival, abs=1e-6)
    assert slot.status.clock_offset == pytest.approx(arrival - last_ts) and not slot.clock.estimated
    assert slot.clock.unmapped  # still no estimate: the next one is waited for as before


@pytest.mark.parametrize("late_s", [0.02, 5.0, -0.5])  # the same clock: 20 ms or 5 s late, 0.5 s ahead (jitter)
def test_an_instance_on_the_same_clock_keeps_the_last_offset(models_dir, late_s):
    arrival = 20_000.0
    last_ts = arrival - OLD_OFFSET - late_s
    slot = waited(models_dir, last_ts, arrival)
    assert slot.status.clock_wait["estimate"] is False and "offset_from" not in slot.status.clock_wait
    assert slot.clock.mapped(np.array([last_ts]))[0] == pytest.approx(arrival - late_s, abs=1e-6)


def test_an_estimate_that_puts_the_new_instance_off_is_not_used_where_the_last_instances_fitted(models_dir):
    """The new instance's estimate came, and says it reads this host's clock (~0: a probe another process answered?)
    while its stamps are 1.5e9 s ahead of their arrival, where the last instance's samples fitted theirs: stamped by
    arrival until a later estimate (CI: all of the instance's 2,000 samples went out 1.54e9 s off)."""
    a, b = mp.Pipe()
    status_r, status_w = mp.Pipe(duplex=False)
    slot = StreamSlot("d1", 1, DecoderSpec.model_validate({"stream": {"name": "fixG-clock"}, "model": "tiny-gru"}),
                      str(models_dir), b, StatusSender(status_w))
    slot.clock = clock = ClockOffset(mode="auto", same_host=True)
    arrival, last_ts = 20_000.0, 1.537e9
    clock.line.take(arrival - 30.0 - OLD_OFFSET, OLD_OFFSET)
    clock.estimate, clock.uncertainty, clock.zero, clock.offset = OLD_OFFSET, 2e-4, False, OLD_OFFSET
    slot.status.last_timestamp = arrival - 1.0  # the last instance's last sample, decoded on time
    slot.begin_clock_wait(arrival, arrival - 0.99, last_ts)
    clock.estimate, clock.uncertainty, clock.zero, clock.offset = 3e-5, 2e-4, True, 0.0  # as update takes it
    assert not slot.clock_pending(arrival + 0.1)
    assert slot.status.clock_wait["estimate"] is True and slot.status.clock_wait["offset_from"] == "arrival"
    assert clock.mapped(np.array([last_ts]))[0] == pytest.approx(arrival, abs=1e-6)


def test_a_provisional_offset_stays_through_the_same_estimate_again(models_dir):
    """ClockOffset.update with liblsl's same estimate again (a real inlet on loopback: this host's clock, zero)
    leaves a provisional offset be; only a fresh estimate replaces it."""
    import pylsl

    from support.common import unique
    from support.lsl import new_outlet

    name = unique("fixGprov")
    outlet, _ = new_outlet(name, f"{name}-src")
    inlet = pylsl.StreamInlet(pylsl.resolve_byprop("name", name, 1, 10)[0])
    clock = ClockOffset(mode="auto", same_host=True)
    clock.update(inlet, 10.0)
    assert clock.zero and clock.mapped(np.array([5.0]))[0] == 5.0
    clock.provisional(5.0, 7.0)
    clock.update(inlet, 0.0)  # the same estimate (liblsl refreshes it every few seconds)
    assert clock.mapped(np.array([5.0]))[0] == pytest.approx(12.0)
    inlet.close_stream()


def test_an_instance_after_one_that_did_not_fit_its_arrival_goes_on_as_it(models_dir):
    """A replay keeping a file's hour-old stamps, restarted: its last instance's samples were an hour late too, so
    the new one is stamped as it was (its offset kept), not by its arrival."""
    arrival = 20_000.0
    slot = waited(models_dir, arrival - OLD_OFFSET - 3600.0, arrival, last_late_s=-3600.0)
    assert slot.status.clock_wait["estimate"] is False and "offset_from" not in slot.status.clock_wait


class Recording:
    """The clock offsets a recording is given (Recorder.clock_offset's part here)."""

    def __init__(self) -> None:
        self.offsets: list[float] = []

    def clock_offset(self, t: float, offset: float) -> None:
        self.offsets.append(offset)

    def event(self, *args, **fields) -> None:
        pass


def test_a_second_instance_after_one_stamped_by_arrival_is_judged_too(models_dir):
    """Review s39 D1: the instance stamped by arrival had no estimate, and the next new instance was then taken for
    one whose stamps go out as sent: no check, the arrival offset of the one before (5e8 s off), and a log saying
    'used as sent'."""
    arrival = 20_000.0
    slot = waited(models_dir, arrival - OLD_OFFSET + 5e8, arrival)  # instance 2: stamped by arrival
    assert slot.status.clock_wait["offset_from"] == "arrival"
    slot.status.last_timestamp = arrival + 10.0  # its last sample, decoded on time at arrival + 10 s
    last_ts = 42.0  # instance 3: another clock again
    slot.begin_clock_wait(arrival + 12.0, arrival + 10.01, last_ts)
    assert not slot.clock_pending(arrival + 12.0 + NEW_INSTANCE_CLOCK_S + 0.1)
    assert slot.status.clock_wait["offset_from"] == "arrival"
    assert slot.clock.mapped(np.array([last_ts]))[0] == pytest.approx(arrival + 12.0, abs=1e-6)


def test_a_refused_estimate_is_not_recorded_and_a_later_one_of_its_kind_is_refused_too(models_dir):
    """Review s39 D2: the estimate refused at the wait's end went into the recording as an offset applied online
    (pyxdf syncs by them), and liblsl's next refresh of it was taken (the stamps 1.5e9 s off again 5 s later)."""
    a, b = mp.Pipe()
    status_r, status_w = mp.Pipe(duplex=False)
    slot = StreamSlot("d1", 1, DecoderSpec.model_validate({"stream": {"name": "fixG-clock"}, "model": "tiny-gru"}),
                      str(models_dir), b, StatusSender(status_w))
    slot.recorder = rec = Recording()
    slot.clock = clock = ClockOffset(mode="auto", same_host=True)
    arrival, last_ts = 20_000.0, 1.537e9
    clock.line.take(arrival - 30.0 - OLD_OFFSET, OLD_OFFSET)
    clock.estimate, clock.uncertainty, clock.zero, clock.offset = OLD_OFFSET, 2e-4, False, OLD_OFFSET
    slot.status.last_timestamp = arrival - 1.0
    slot.begin_clock_wait(arrival, arrival - 0.99, last_ts)
    clock.estimate, clock.uncertainty, clock.zero, clock.offset = 3e-5, 2e-4, True, 0.0  # as update takes it
    clock.changed = True
    assert not slot.clock_pending(arrival + 0.1)
    assert rec.offsets == [pytest.approx(arrival - last_ts)]  # the offset used, not the refused 0
    held = clock.offset
    # liblsl's next estimate, of the same kind, as ClockOffset.update takes it (a fresh one after a provisional)
    clock.line.take(last_ts + 5.0, 4e-5)
    clock.estimate, clock.provisional_on, clock.offset = 4e-5, False, 4e-5
    slot.last_chunk = (last_ts + 5.0, arrival + 5.0)
    assert slot.refused_estimate(held)
    assert clock.mapped(np.array([last_ts + 5.0]))[0] == pytest.approx(arrival + 5.0, abs=1e-6)
    assert slot.status.clock_offset == held and clock.provisional_on


def test_the_first_estimate_after_an_arrival_offset_blends_in_on_this_hosts_clock(models_dir):
    """Review s39 D3: a same-host stream (auto) whose first estimate after an arrival offset reads this clock went
    to offset 0 at once: the stamps stepped back by the first chunk's latency (28 ms). Now it blends in (a real
    loopback inlet's estimate)."""
    import pylsl

    from support.common import unique
    from support.lsl import new_outlet

    name = unique("fixGblend")
    outlet, _ = new_outlet(name, f"{name}-src")
    inlet = pylsl.StreamInlet(pylsl.resolve_byprop("name", name, 1, 10)[0])
    clock = ClockOffset(mode="auto", same_host=True)
    clock.update(inlet, 10.0)
    now = pylsl.local_clock()
    clock.provisional(now - 0.03, 0.03)  # the first chunk arrived 30 ms after its stamp
    before = clock.mapped(np.array([now]))[0]
    clock.estimate = 999.0  # (so liblsl's estimate, the same as before, is taken as a fresh one)
    clock.update(inlet, 0.0)
    after = clock.mapped(np.array([now + 0.002]))[0]
    assert not clock.zero and after - before == pytest.approx(0.002, abs=1e-4)  # no step back: blended over 2 s
    inlet.close_stream()


def test_the_wait_counts_from_when_the_instance_passed_its_check(models_dir):
    """Review s49 F6: the wait for a new instance's offset ran from its first chunk's arrival, so the time its check
    took (a full-info read in a helper thread, or a verify wait for a resolve to find it: any length) was taken from
    the 3 s, and a check of 3 s or more left none: the instance was stamped with the last offset, or by its arrival,
    without an estimate being waited for. Now the wait counts from the check's end."""
    import pylsl

    a, b = mp.Pipe()
    status_r, status_w = mp.Pipe(duplex=False)
    slot = StreamSlot("d1", 1, DecoderSpec.model_validate({"stream": {"name": "fixG-clock"}, "model": "tiny-gru"}),
                      str(models_dir), b, StatusSender(status_w))
    slot.clock = clock = ClockOffset(mode="auto", same_host=False)
    slot.status.stream = {"uid": "old"}
    before = pylsl.local_clock()
    slot.reconnected("new")  # the new instance passed its check: now
    after = pylsl.local_clock()
    assert slot.clock_stale
    arrival = before - 2.5  # its first chunk came 2.5 s before (the check took that long)
    clock.estimate, clock.uncertainty, clock.zero, clock.offset = OLD_OFFSET, 2e-4, False, OLD_OFFSET
    slot.status.last_timestamp = arrival - 1.01
    slot.begin_clock_wait(arrival, arrival - 1.0, arrival - OLD_OFFSET)
    assert before <= slot.status.clock_wait["since"] <= after, (slot.status.clock_wait, arrival, before)
    assert slot.clock_pending(arrival + NEW_INSTANCE_CLOCK_S + 0.1)  # 3.1 s after arrival: ~0.6 s into its wait
    assert not slot.clock_pending(after + NEW_INSTANCE_CLOCK_S + 0.1)  # its own 3 s are over
    assert slot.status.clock_wait["estimate"] is False
