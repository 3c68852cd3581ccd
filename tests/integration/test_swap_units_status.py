"""After a hot swap to a model that reads other channels of the stream, ``status.stream["units"]`` describes the
channels the new model reads (it kept the first model's units: stale, while the decoding itself was right).
Real LSL outlet on loopback, a real worker, real onnxruntime."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.core.messages import SwapModel
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.lsl.info import make_stream_info
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_CH_NAMES, TINY_SFREQ, export_tiny, unique
from support.lsl import wait_for
from support.tiny_variants import export_variant

OTHER = [f"X{i}" for i in range(len(TINY_CH_NAMES))]  # the second model's channels, sent in volts


def test_status_units_follow_a_swap_to_a_model_reading_other_channels(tmp_path):
    export_tiny(tmp_path, "tiny-uv", "gru")
    export_variant(tmp_path, "tiny-x", OTHER)
    assert ModelRegistry(str(tmp_path)).get("tiny-x").card.ch_names == OTHER
    name = unique("swapunits")
    info = make_stream_info(name, "EEG", TINY_CH_NAMES + OTHER, TINY_SFREQ, f"{name}-src",
                            unit=["uV"] * len(TINY_CH_NAMES) + ["V"] * len(OTHER))
    outlet = pylsl.StreamOutlet(info)
    sup = Supervisor(str(tmp_path), status_interval=0.1)
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-uv"})
    handle = sup.start(spec, n_outputs=3, sfreq=TINY_SFREQ)
    try:
        wait_for(lambda: handle.status.state == "running", 30, "the worker to be running")
        assert handle.status.stream["units"] == {"input": "uV", "assumed": False, "scale": 1.0}
        outlet.push_chunk(np.zeros((50, 2 * len(TINY_CH_NAMES)), dtype=np.float32).tolist())
        answer = sup.request(handle.id, SwapModel(model="tiny-x"), timeout=60)
        # the swap's own answer (PUT /model's) describes the stream as the new model reads it, before any snapshot
        assert answer.stream["units"] == {"input": "V", "assumed": False, "scale": 1e6}
        wait_for(lambda: handle.status.model["name"] == "tiny-x", 30, "the swap in the status")
        assert handle.status.stream["channel_map"] == list(range(len(TINY_CH_NAMES), 2 * len(TINY_CH_NAMES)))
        assert handle.status.stream["units"] == {"input": "V", "assumed": False, "scale": 1e6}
    finally:
        sup.shutdown()
        del outlet
