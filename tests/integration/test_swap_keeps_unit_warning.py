"""A hot swap keeps stream.units.warning when the new model reads the stream in the same assumed unit: the samples
are still read in a unit their amplitude says is wrong (the swap replaced the whole units dict, dropping it)."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.core.messages import SwapModel
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_CH_NAMES, TINY_SFREQ, export_tiny, test_signal, unique
from support.lsl import wait_for
from support.pacing import push_paced


def test_a_hot_swap_keeps_the_amplitude_warning_of_the_same_assumed_unit(tmp_path):
    export_tiny(tmp_path, "tiny-a", "gru")
    export_tiny(tmp_path, "tiny-b", "gru", seed=3)
    name = unique("swapamp")
    info = pylsl.StreamInfo(name, "EEG", len(TINY_CH_NAMES), TINY_SFREQ, "double64", f"{name}-src")
    ch = info.desc().append_child("channels")
    for label in TINY_CH_NAMES:
        ch.append_child("channel").append_child_value("label", label)
    outlet = pylsl.StreamOutlet(info)
    sup = Supervisor(str(tmp_path), status_interval=0.1)
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-a"})
    handle = sup.start(spec, n_outputs=3, sfreq=TINY_SFREQ)
    try:
        wait_for(lambda: handle.status.state == "running", 30, "running")
        x = test_signal(int(3 * TINY_SFREQ), seed=22).astype(np.float64) * 20.0 * 1e-6  # volts read as uV
        push_paced(outlet, x, TINY_SFREQ * 4, chunk=10)
        wait_for(lambda: "warning" in (handle.status.stream or {}).get("units", {}), 30, "the warning")
        sup.request(handle.id, SwapModel(model="tiny-b"), timeout=60)
        wait_for(lambda: handle.status.model["name"] == "tiny-b", 30, "the swap")
        assert "warning" in handle.status.stream["units"], handle.status.stream["units"]
    finally:
        sup.shutdown()
        del outlet
