"""A source that comes back as a new outlet instance, with the same channels and no unit in its desc, keeps
``stream.units.warning``: its samples are still read in a unit their amplitude says is wrong (the reconnection
rewrote ``stream.units`` from the new instance, dropping the warning, where a hot swap kept it). The new instance is
checked again: a sender that comes back with plausible values clears the warning."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_CH_NAMES, TINY_SFREQ, export_tiny, test_signal, unique
from support.lsl import wait_for
from support.pacing import push_paced


def _outlet(name: str) -> pylsl.StreamOutlet:
    """An outlet with channel labels and no unit (same source_id each time: liblsl follows a new instance)."""
    info = pylsl.StreamInfo(name, "EEG", len(TINY_CH_NAMES), TINY_SFREQ, "double64", f"{name}-src")
    ch = info.desc().append_child("channels")
    for label in TINY_CH_NAMES:
        ch.append_child("channel").append_child_value("label", label)
    return pylsl.StreamOutlet(info)


def _units(handle) -> dict:
    return dict((handle.status.stream or {}).get("units") or {})


def test_a_new_instance_in_the_same_assumed_unit_keeps_then_rechecks_the_amplitude_warning(tmp_path):
    export_tiny(tmp_path, "tiny-a", "gru")
    name = unique("reconamp")
    outlet = _outlet(name)
    sup = Supervisor(str(tmp_path), status_interval=0.1)
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-a"})
    handle = sup.start(spec, n_outputs=3, sfreq=TINY_SFREQ)
    volts = test_signal(int(3 * TINY_SFREQ), seed=22).astype(np.float64) * 20.0 * 1e-6  # volts read as uV
    try:
        wait_for(lambda: handle.status.state == "running", 30, "running")
        push_paced(outlet, volts, TINY_SFREQ * 4, chunk=10)
        wait_for(lambda: "warning" in _units(handle), 30, "the warning")
        # every sample read before the outlet goes: liblsl may crash destroying an outlet whose samples are still
        # being sent (sccn/liblsl#218; tests/support/xdist_crash.py)
        wait_for(lambda: handle.status.counters.samples_in >= len(volts), 30, "every sample read")
        uid = handle.status.stream["uid"]
        del outlet
        outlet = _outlet(name)  # the same source, same channels, same (no) unit, same volts
        assert outlet.wait_for_consumers(30), "the decoder did not follow the new instance"
        push_paced(outlet, volts[:50], TINY_SFREQ * 4, chunk=10)
        wait_for(lambda: handle.status.counters.reconnects >= 1 and handle.status.stream["uid"] != uid, 30,
                 "the reconnection")
        assert "warning" in _units(handle), _units(handle)  # kept at once: the same unit
        before = handle.status.counters.samples_in
        push_paced(outlet, volts, TINY_SFREQ * 4, chunk=10)  # the new instance's first 2 s: checked again
        wait_for(lambda: handle.status.counters.samples_in >= before + len(volts), 30, "the new samples")
        assert "warning" in _units(handle), _units(handle)  # the same verdict on the same values
        uid = handle.status.stream["uid"]
        del outlet
        outlet = _outlet(name)  # the sender fixed: microvolts, as the assumed unit says
        assert outlet.wait_for_consumers(30), "the decoder did not follow the second new instance"
        push_paced(outlet, volts * 1e6, TINY_SFREQ * 4, chunk=10)
        wait_for(lambda: handle.status.stream["uid"] != uid and "warning" not in _units(handle), 30,
                 "the warning to clear on plausible values")
        assert _units(handle)["assumed"] is True
    finally:
        sup.shutdown()
        del outlet
