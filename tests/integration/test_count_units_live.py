"""An amplifier app that sends raw ADC counts (int32, no unit in its desc), decoded with ``options.input_unit``
``"0.02235 uV"`` (an ADS1299 at gain 24), equals the same data sent as float µV; the status shows the input unit and
the factor, the amplitude check judges µV (no warning on EEG-sized counts), and the recording reads back in µV.
Real pylsl outlets on loopback, real workers, real onnxruntime, a real XDF file."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.core.spec import DecoderSpec
from bci_stream.io import load_recording
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.lsl import open_output, pull_all, wait_for
from support.pacing import push_paced

UV_PER_COUNT = 0.02235
N = 1000


def _labelled(name: str, fmt: str) -> pylsl.StreamInfo:
    """An outlet's info with channel labels and no unit (as many amplifier apps send)."""
    info = pylsl.StreamInfo(name, "EEG", len(TINY_CH_NAMES), TINY_SFREQ, fmt, f"{name}-src")
    chans = info.desc().append_child("channels")
    for label in TINY_CH_NAMES:
        chans.append_child("channel").append_child_value("label", label)
    return info


def test_int32_counts_decode_like_the_same_data_in_microvolts(models_dir, tmp_path):
    counts = np.rint(test_signal(N, seed=9).astype(np.float64) / UV_PER_COUNT).astype(np.int32)
    uv = (counts * UV_PER_COUNT).astype(np.float32)  # the same data as float µV
    names = {"counts": unique("counts"), "uv": unique("uv")}
    outlets = {"counts": pylsl.StreamOutlet(_labelled(names["counts"], "int32")),
               "uv": pylsl.StreamOutlet(_labelled(names["uv"], "float32"))}
    options = {"counts": {"input_unit": f"{UV_PER_COUNT} uV", "record_path": "counts.xdf"}, "uv": {}}
    sup = Supervisor(str(models_dir), status_interval=0.1, recordings_dir=str(tmp_path))
    handles = {k: sup.start(DecoderSpec.model_validate({"stream": {"name": names[k]}, "model": "tiny-gru",
                                                        "options": options[k]}), n_outputs=3, sfreq=TINY_SFREQ)
               for k in names}
    try:
        for h in handles.values():
            wait_for(lambda: h.status.state in ("running", "error"), 60, "the worker to be running")
            assert h.status.state == "running", h.status.error
        assert handles["counts"].status.stream["units"] == {"input": "0.02235 uV", "assumed": True, "scale": 0.02235}
        ys = {}
        for k in names:
            out = open_output(f"{names[k]}-decoded")
            push_paced(outlets[k], counts if k == "counts" else uv, TINY_SFREQ * 4, chunk=10)
            ys[k], _ = pull_all(out, N, timeout=30)
        assert ys["counts"].shape == ys["uv"].shape == (N, 3)
        diff = float(np.abs(ys["counts"] - ys["uv"]).max())
        print(f"\nmax |decoded(int32 counts, input_unit '0.02235 uV') - decoded(float32 µV)| = {diff:.3g}")
        assert diff <= 1e-5
        assert "warning" not in handles["counts"].status.stream["units"]  # ~900 counts SD = 20 µV: EEG
    finally:
        sup.shutdown()
        del outlets
    rec = load_recording(tmp_path / "counts.xdf")  # the input as pulled (counts), its header's unit "0.02235 uV"
    assert rec.ch_names == TINY_CH_NAMES and rec.data.shape == (len(TINY_CH_NAMES), N)
    np.testing.assert_allclose(rec.data.T, counts * UV_PER_COUNT, rtol=1e-12, atol=0)
