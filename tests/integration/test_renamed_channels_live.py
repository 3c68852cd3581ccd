"""A lab's amplifier labels its channels the 10-20 way (T3, T4, T5, T6) and also sends a typed label beside a raw one
(``EEG C3`` beside ``C3``); the model was trained with 10-10 names (T7, T8, P7, P8). The stream decodes, each model
channel read from its renamed twin, and the stream's channel report says which were matched so and which stream
channel was passed over. Real pylsl outlet on loopback, a real worker, real onnxruntime."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.core.messages import SwapModel
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.engine.offline import decode_offline
from bci_stream.lsl.info import make_stream_info, read_labels
from bci_stream.lsl.source import check_stream, label_report
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import open_output, pull_all, wait_for
from support.pacing import push_paced
from support.tiny_variants import export_variant

MODEL = ["C3", "Cz", "C4", "T7", "T8", "P7", "P8", "Pz"]  # 10-10 names
STREAM = ["T5", "EEG C3", "C3", "Cz", "C4", "T3", "T4", "T6", "Pz"]  # 10-20 names, a typed label beside C3
MAP = [2, 3, 4, 5, 6, 0, 7, 8]  # the stream column of each model channel


def test_a_10_20_stream_decodes_with_a_10_10_model(tmp_path):
    export_variant(tmp_path, "tiny-1010", MODEL)
    export_variant(tmp_path, "tiny-1020", ["C3", "Cz", "C4", "T3", "T4", "T5", "T6", "Pz"])
    entry = ModelRegistry(str(tmp_path)).get("tiny-1010")
    name = unique("tentwenty")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", STREAM, TINY_SFREQ, f"{name}-src"))
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
    full = pylsl.StreamInlet(found[0]).info(timeout=10.0)  # the desc, as the service reads it
    assert check_stream(full, entry.card).tolist() == MAP
    assert label_report(read_labels(full), entry.card.ch_names)["note"] == (
        "model channels read under their other name (T3, T4, T5, T6 of 10-20 are T7, T8, P7, P8 of 10-10): "
        "T7 = 'T3', T8 = 'T4', P7 = 'T5', P8 = 'T6'; stream channels not used though named like a used one: "
        "'EEG C3' (model channel 'C3' reads 'C3')")
    sup = Supervisor(str(tmp_path), status_interval=0.1)
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-1010"})
    handle = sup.start(spec, n_outputs=3, sfreq=TINY_SFREQ)
    try:
        wait_for(lambda: handle.status.state in ("running", "error"), 30, "the worker to be running")
        assert handle.status.state == "running", handle.status.error
        assert handle.status.stream["channel_map"] == MAP
        assert handle.status.stream["labels"]["note"] == label_report(read_labels(full), entry.card.ch_names)["note"]
        out = open_output(f"{name}-decoded")
        x = test_signal(1000, seed=5, n_chans=len(STREAM)).astype(np.float64)
        push_paced(outlet, x, TINY_SFREQ * 4, chunk=10)
        y, _ = pull_all(out, len(x), timeout=30)
        assert y.shape == (len(x), 3)
        np.testing.assert_allclose(y, decode_offline(entry, x[:, MAP].astype(np.float32)), rtol=0, atol=1e-4)
        # a hot swap to a model with the stream's own 10-20 names: the note describes the new model's channels
        answer = sup.request(handle.id, SwapModel(model="tiny-1020"), timeout=60)
        assert answer.stream["labels"]["note"] == (
            "stream channels not used though named like a used one: 'EEG C3' (model channel 'C3' reads 'C3')")
    finally:
        sup.shutdown()
        del outlet
