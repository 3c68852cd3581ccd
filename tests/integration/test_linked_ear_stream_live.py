"""A clinical amplifier labels its channels with the linked-ears / mastoid or numbered reference written after the
position (``C3-A1A2``, ``C3-A1+A2``, ``C3-M1M2``, ``C3-REF1``, ``C3 REF``) beside a bipolar ``C3-C4``; the model
was trained with plain 10-10 names. Each model channel is read from its referenced twin (the bipolar pair is not
used) and the stream decodes as the offline decoder does. Real pylsl outlet on loopback, a real worker, real
onnxruntime (audit F, D4)."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.engine.offline import decode_offline
from bci_stream.lsl.info import make_stream_info
from bci_stream.lsl.source import check_stream
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.lsl import open_output, pull_all, wait_for
from support.pacing import push_paced
from support.tiny_variants import export_variant

# the tiny model's FC3, FC4, C3, Cz, C4, CP3, CP4, Pz as a clinical export names them, shuffled, a bipolar pair first
STREAM = ["C3-C4", "Cz-M1+M2", "FC3-A1A2", "FC4-A1+A2", "C3-M1M2", "Pz-A1A2", "C4-REF1", "CP3 REF", "EEG CP4-Ref"]
MAP = [2, 3, 4, 1, 6, 7, 8, 5]  # the stream column of each model channel


def test_a_stream_labelled_with_linked_ear_references_decodes_with_a_10_10_model(tmp_path):
    assert [STREAM[i] for i in MAP] == ["FC3-A1A2", "FC4-A1+A2", "C3-M1M2", "Cz-M1+M2", "C4-REF1", "CP3 REF",
                                        "EEG CP4-Ref", "Pz-A1A2"] and TINY_CH_NAMES[2] == "C3"
    export_variant(tmp_path, "tiny-plain")
    entry = ModelRegistry(str(tmp_path)).get("tiny-plain")
    name = unique("linkedears")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", STREAM, TINY_SFREQ, f"{name}-src"))
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
    assert check_stream(pylsl.StreamInlet(found[0]).info(timeout=10.0), entry.card).tolist() == MAP
    sup = Supervisor(str(tmp_path), status_interval=0.1)
    handle = sup.start(DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-plain"}), n_outputs=3,
                       sfreq=TINY_SFREQ)
    try:
        wait_for(lambda: handle.status.state in ("running", "error"), 30, "the worker to be running")
        assert handle.status.state == "running", handle.status.error
        assert handle.status.stream["channel_map"] == MAP
        out = open_output(f"{name}-decoded")
        x = test_signal(1000, seed=7, n_chans=len(STREAM)).astype(np.float64)
        push_paced(outlet, x, TINY_SFREQ * 4, chunk=10)
        y, _ = pull_all(out, len(x), timeout=30)
        assert y.shape == (len(x), 3)
        np.testing.assert_allclose(y, decode_offline(entry, x[:, MAP].astype(np.float32)), rtol=0, atol=1e-4)
    finally:
        sup.shutdown()
        del outlet
