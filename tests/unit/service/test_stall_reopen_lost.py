"""While stalled without an inlet (a lost source without source_id), the decoder reopens the instance its monitor
found; an instance gone again by then (or a resolver's stale entry of the one just lost) raises LostError on a real
loopback inlet. That must leave the decoder stalled and looking, not crash its worker."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pylsl

from bci_stream.lsl.info import make_stream_info
from bci_stream.service.source_monitor import SourceMonitor
from bci_stream.service.stalls import StallHandling
from support.common import TINY_CH_NAMES, TINY_SFREQ, unique


class StaleMonitor(SourceMonitor):
    """A monitor whose check finds ``stale``, an instance of the source that is gone (as a resolver's entry may)."""

    def __init__(self, source: pylsl.StreamInfo, stale: pylsl.StreamInfo) -> None:
        super().__init__(source, f"name='{source.name()}'")
        self.stale = stale

    def check(self, now: float, fits=None):
        self.present, self.checked = {self.stale.uid()}, True
        return self.stale, None


class Slot(StallHandling):
    """The parts of StreamSlot that check_source uses (a dedicated worker's: the open waited for)."""

    def __init__(self, monitor: SourceMonitor, uid: str) -> None:
        self.decoder_id, self.monitor, self.inlet, self.puller = "t", monitor, None, None
        self.spec = SimpleNamespace(options=SimpleNamespace(max_buffer_s=30.0))
        self.sfreq = TINY_SFREQ
        self.status = SimpleNamespace(stream={"uid": uid}, source_present=False, state="stalled",
                                      stall=None)


def test_reopening_an_instance_gone_again_stays_stalled():
    name = unique("stale")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, ""))
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
    assert found
    full = pylsl.StreamInlet(found[0]).info(timeout=10.0)
    del outlet  # gone: its resolved info is stale
    time.sleep(0.2)
    slot = Slot(StaleMonitor(full, found[0]), found[0].uid())
    slot.check_source(pylsl.local_clock())  # LostError from the inlet, caught
    assert slot.inlet is None and slot.status.state == "stalled"
    slot.check_source(pylsl.local_clock())  # and looked for again at the next check
    assert slot.inlet is None
