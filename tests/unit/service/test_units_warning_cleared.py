"""An amplitude warning that ends (a later check clears it: a new outlet instance of a fixed sender; or a swap to a
model that reads the stream in another unit) is recorded as ended: ``units_warning`` with ``message`` null, so a
recording's reader does not take the warning for the whole file. Through the real :meth:`StreamSlot.inputs`."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from bci_stream.core.spec import DecoderSpec
from bci_stream.lsl.units import UnitScale
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.stream_slot import StreamSlot
from bci_stream.service.stream_units import StreamUnits

SFREQ, N = 100.0, 200  # the check looks at the first 2 s


def assumed(unit: str) -> UnitScale:
    return UnitScale(np.ones(2), [unit] * 2, True)


def volts(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((N, 2)) * 2e-5  # EEG in volts


def test_a_cleared_warning_is_recorded_as_ended(models_dir):
    a, b = mp.Pipe()
    status_r, status_w = mp.Pipe(duplex=False)
    sender = StatusSender(status_w)
    spec = DecoderSpec.model_validate({"stream": {"name": "fixG-units"}, "model": "tiny-gru"})
    slot = StreamSlot("d1", 1, spec, str(models_dir), b, sender)
    events = []
    slot.event = lambda kind, **fields: events.append((kind, fields))  # what the recorder would be given
    slot.status.stream, slot.units = {}, StreamUnits(assumed("uV"), None, SFREQ, "eeg")
    ts = np.arange(N) / SFREQ
    try:
        slot.inputs(volts(0), ts)  # volts read as µV: warned
        assert events[-1][0] == "units_warning" and events[-1][1]["message"]
        assert "warning" in slot.status.stream["units"]
        slot.units.change(assumed("uV"), None, new_instance=True)  # the sender came back as a new instance...
        slot.inputs(volts(1), ts)  # ...still in volts: the same verdict, recorded again
        assert len(events) == 2 and events[-1][1]["message"]
        slot.units.change(assumed("uV"), None, new_instance=True)
        slot.inputs(volts(2) * 1e6, ts)  # fixed: µV now
        assert events[-1] == ("units_warning", {"message": None}) and len(events) == 3
        assert "warning" not in slot.status.stream["units"]
        slot.units.change(assumed("uV"), None, new_instance=True)
        slot.inputs(volts(3) * 1e6, ts)  # plausible again: nothing more to record
        assert len(events) == 3
        slot.units.change(assumed("uV"), None, new_instance=True)
        slot.inputs(volts(4), ts)  # volts again: warned
        assert len(events) == 4 and events[-1][1]["message"]
        slot.units.change(UnitScale(np.ones(2), ["V", "V"], False), None, new_instance=False)  # a swap: declared unit
        slot.inputs(volts(5)[:10], ts[:10])  # volts declared as V: plausible; the warning ended with the swap
        assert events[-1] == ("units_warning", {"message": None}) and len(events) == 5
    finally:
        sender.close()
        a.close()
