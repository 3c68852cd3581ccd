"""A stream whose ``desc`` labels only some channels, through real LSL outlets and inlets on loopback.

The two cases of the audit: channels in another order with one blank label (decoded by label when the blank one
is not a model channel, else a clear error), and a desc listing one channel fewer than the stream has, in volts
(scaled per channel when the unlabelled channel is not used, else a clear error). Never decoded silently in the
model's order with an assumed unit.
"""

from __future__ import annotations

import numpy as np
import pylsl
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.engine.offline import decode_offline
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.lsl import open_output, pull_all, wait_for
from support.pacing import push_paced

PERM = [5, 2, 7, 0, 3, 6, 1, 4]  # stream channel i carries model channel PERM[i]


@pytest.fixture()
def supervisor(models_dir):
    return Supervisor(str(models_dir), status_interval=0.1)


def _outlet(name: str, n_chans: int, labels: list[str], unit: str | list[str]) -> pylsl.StreamOutlet:
    """An outlet of ``n_chans`` channels whose desc lists one entry per label (a blank one as ``""``), with
    ``unit`` (or the unit of each entry; a blank one is left out)."""
    info = pylsl.StreamInfo(name, "EEG", n_chans, TINY_SFREQ, "double64", f"{name}-src")
    channels = info.desc().append_child("channels")
    units = [unit] * len(labels) if isinstance(unit, str) else unit
    for label, ch_unit in zip(labels, units):
        ch = channels.append_child("channel")
        ch.append_child_value("label", label)
        if ch_unit:
            ch.append_child_value("unit", ch_unit)
        ch.append_child_value("type", "EEG")
    return pylsl.StreamOutlet(info)


def _start(sup: Supervisor, name: str):
    card = ModelRegistry(sup.models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru"})
    return sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)


def _decode_and_compare(sup: Supervisor, models_dir, name: str, outlet: pylsl.StreamOutlet, n_chans: int,
                        factor: float, expected_map: list[int]) -> dict:
    """Start tiny-gru on ``name``, push 1500 samples (µV × ``factor``), check the outputs against the offline
    decode of the model's channels in µV; the stream part of the status."""
    handle = _start(sup, name)
    try:
        wait_for(lambda: handle.status.state in ("running", "error"), 30, "the worker to start")
        assert handle.status.state == "running", handle.status.error
        stream = dict(handle.status.stream)
        assert stream["channel_map"] == expected_map
        out = open_output(f"{name}-decoded")
        x_uv = test_signal(1500, seed=31, n_chans=n_chans).astype(np.float64)
        push_paced(outlet, x_uv * factor, TINY_SFREQ * 4, chunk=10)
        y, _ = pull_all(out, len(x_uv), timeout=30)
        assert y.shape == (1500, 3)
        expected = decode_offline(ModelRegistry(models_dir).get("tiny-gru"), x_uv[:, expected_map].astype(np.float32))
        np.testing.assert_allclose(y, expected, rtol=0, atol=1e-4)
        return stream
    finally:
        sup.stop(handle.id)


def _error_of(sup: Supervisor, name: str) -> str:
    handle = _start(sup, name)
    try:
        wait_for(lambda: handle.status.state == "error", 30, "the error state")
        return handle.status.error
    finally:
        sup.stop(handle.id)


def test_shuffled_channels_with_a_blank_label_on_an_extra_channel_decode_by_label(supervisor, models_dir):
    name = unique("partial-perm")
    labels = [TINY_CH_NAMES[p] for p in PERM] + ["", "EOG"]  # channel 8 unlabelled, channel 9 an extra one
    outlet = _outlet(name, 10, labels, "microvolts")
    stream = _decode_and_compare(supervisor, models_dir, name, outlet, 10, 1.0, [PERM.index(k) for k in range(8)])
    assert stream["ch_names"] == [*labels[:8], None, "EOG"]
    assert stream["labels"] == {"labelled": 9, "unlabelled": [8], "order_assumed": False}
    assert stream["units"] == {"input": "microvolts", "assumed": False, "scale": pytest.approx(1.0)}


def test_shuffled_channels_with_a_blank_label_on_a_model_channel_are_refused(supervisor):
    name = unique("partial-blank")
    labels = [TINY_CH_NAMES[p] for p in PERM]
    labels[5] = ""  # the channel carrying CP4
    outlet = _outlet(name, 8, labels, "microvolts")  # noqa: F841 - kept alive while the worker looks at it
    assert _error_of(supervisor, name) == (
        f"stream '{name}' desc labels only 7 of its 8 channels (unlabelled: channel 5, counting from 0); 1 of the 8 "
        "channels model 'tiny-gru@1.0.0' needs are not among the labelled ones: CP4. Label every channel in "
        "desc/channels/channel/label (the service does not guess which unlabelled channel is which)")


def test_a_short_desc_in_volts_scales_the_labelled_channels(supervisor, models_dir):
    """9 channels in volts, the desc lists the 8 model channels (shuffled), not the 9th (an aux channel)."""
    name = unique("partial-volts")
    labels = [TINY_CH_NAMES[p] for p in PERM]
    outlet = _outlet(name, 9, labels, "V")
    stream = _decode_and_compare(supervisor, models_dir, name, outlet, 9, 1e-6, [PERM.index(k) for k in range(8)])
    assert stream["units"] == {"input": "V", "assumed": False, "scale": pytest.approx(1e6)}
    assert stream["labels"] == {"labelled": 8, "unlabelled": [8], "order_assumed": False}


def test_a_short_desc_in_volts_missing_a_model_channel_is_refused(supervisor):
    """8 channels in volts, the desc lists 7 (the audit's 63 of 64): not decoded as µV in the model's order."""
    name = unique("partial-v7")
    outlet = _outlet(name, 8, TINY_CH_NAMES[:7], "V")  # noqa: F841 - kept alive while the worker looks at it
    assert _error_of(supervisor, name) == (
        f"stream '{name}' desc labels only 7 of its 8 channels (unlabelled: channel 7, counting from 0); 1 of the 8 "
        "channels model 'tiny-gru@1.0.0' needs are not among the labelled ones: Pz. Label every channel in "
        "desc/channels/channel/label (the service does not guess which unlabelled channel is which)")


def test_a_model_channel_without_a_unit_among_channels_in_volts_is_refused(supervisor):
    """Every channel labelled, all in volts but Cz with no unit: Cz is not assumed to be in µV (nor in V)."""
    name = unique("partial-units")
    units = ["V"] * 8
    units[3] = ""
    outlet = _outlet(name, 8, TINY_CH_NAMES, units)  # noqa: F841 - kept alive while the worker looks at it
    assert _error_of(supervisor, name) == (
        f"stream '{name}' desc gives a unit for only 7 of its 8 channels ('V'), and none for 1 channel(s) the model "
        "uses: 'Cz' (stream channel 3). Partial units are not guessed (nor is input_unit applied to them): give "
        "every channel its unit in desc/channels/channel/unit, or none at all")
