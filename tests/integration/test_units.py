"""Channel units from the stream's desc: a stream in volts (as mne-lsl sends it) decodes like the same stream
in microvolts; a stream without units uses ``input_unit``; a unit that is not a voltage is a clear error."""

from __future__ import annotations

import numpy as np
import pylsl
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.engine.offline import decode_offline
from bci_stream.lsl.info import make_stream_info
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.lsl import open_output, pull_all, wait_for
from support.pacing import push_paced


@pytest.fixture()
def supervisor(models_dir):
    return Supervisor(str(models_dir), status_interval=0.1)


def _start(sup: Supervisor, info: pylsl.StreamInfo, **options):
    card = ModelRegistry(sup.models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": info.name()}, "model": "tiny-gru", "options": options})
    return sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)


def _stream_info(name: str, unit: str | None) -> pylsl.StreamInfo:
    """The test stream's info with ``unit`` on every channel, or labels only (no unit) when None."""
    if unit is not None:
        return make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src", unit=unit,
                                channel_format="double64")
    info = pylsl.StreamInfo(name, "EEG", len(TINY_CH_NAMES), TINY_SFREQ, "double64", f"{name}-src")
    labels = info.desc().append_child("channels")
    for label in TINY_CH_NAMES:
        labels.append_child("channel").append_child_value("label", label)
    return info


@pytest.mark.parametrize(("unit", "factor", "option"), [("V", 1e-6, None), ("millivolts", 1e-3, None),
                                                       (None, 1e-3, "mV")])
def test_a_stream_in_other_units_decodes_like_microvolts(supervisor, models_dir, unit, factor, option):
    name = unique("units")
    info = _stream_info(name, unit)  # no unit: the input_unit option says what the samples are
    outlet = pylsl.StreamOutlet(info)
    handle = _start(supervisor, info, **({"input_unit": option} if option else {}))
    try:
        wait_for(lambda: handle.status.state == "running", 30, "the worker to be running")
        assert handle.status.stream["units"] == {"input": option or unit, "assumed": unit is None,
                                                 "scale": pytest.approx(1.0 / factor)}
        out = open_output(f"{name}-decoded")
        x_uv = test_signal(1500, seed=21).astype(np.float64)
        push_paced(outlet, x_uv * factor, TINY_SFREQ * 4, chunk=10)
        y, _ = pull_all(out, len(x_uv), timeout=30)
        entry = ModelRegistry(models_dir).get("tiny-gru")
        assert y.shape == (1500, 3)
        np.testing.assert_allclose(y, decode_offline(entry, x_uv.astype(np.float32)), rtol=0, atol=1e-4)
    finally:
        supervisor.stop(handle.id)


def test_a_unit_that_is_not_a_voltage_is_an_error_naming_the_channel(supervisor):
    name = unique("kelvin")
    info = make_stream_info(name, "EEG", TINY_CH_NAMES, TINY_SFREQ, f"{name}-src", unit="K")
    outlet = pylsl.StreamOutlet(info)
    handle = _start(supervisor, info)
    try:
        wait_for(lambda: handle.status.state == "error", 30, "the error state")
        assert handle.status.error == (
            f"channel 'FC3' of stream '{name}' has unit 'K', which cannot be converted to the model's "
            "'microvolts' (known: V, mV, uV/µV, nV and their names)")
    finally:
        supervisor.stop(handle.id)
        del outlet


@pytest.mark.parametrize(("unit", "factor", "option"), [("V", 1e-6, None), (None, 1e-3, "mV")])
def test_the_recording_keeps_the_input_unit_so_it_loads_back_in_microvolts(models_dir, tmp_path, unit, factor,
                                                                           option):
    """A stream in volts (mne-lsl's PlayerLSL) recorded with ``record_path`` loads back (as ``calibrate`` reads
    it) in µV: the XDF header carries the unit the service decoded with, not a blank that readers take as µV."""
    from bci_stream.io import load_recording

    sup = Supervisor(str(models_dir), status_interval=0.1, recordings_dir=str(tmp_path))
    name = unique("recunits")
    info = _stream_info(name, unit)  # no unit: input_unit says what they are, and the recording says so too
    outlet = pylsl.StreamOutlet(info)
    handle = _start(sup, info, record_path="s.xdf", **({"input_unit": option} if option else {}))
    x_uv = test_signal(600, seed=5).astype(np.float64)
    try:
        wait_for(lambda: handle.status.state == "running", 30, "the worker to be running")
        out = open_output(f"{name}-decoded")
        push_paced(outlet, x_uv * factor, TINY_SFREQ * 4, chunk=10)
        pull_all(out, len(x_uv), timeout=30)
    finally:
        sup.stop(handle.id)
        del outlet
    rec = load_recording(tmp_path / "s.xdf", stream=name)
    assert rec.ch_names == list(TINY_CH_NAMES)
    np.testing.assert_allclose(rec.data, x_uv.T, rtol=1e-9, atol=1e-9)
    assert rec.ch_types == ["eeg"] * len(TINY_CH_NAMES)  # the desc's types ("EEG") are recorded too


def test_a_swap_to_a_model_in_another_unit_is_refused_while_the_streams_unit_is_assumed(tmp_path):
    """A stream whose channels carry no unit is read in the running card's unit; a swap to a card in another unit
    would read the same samples 10^6 times larger or smaller, silently: refused, naming both units. With
    ``input_unit`` set, the unit is the stream's, and the swap goes through."""
    from bci_stream.core.errors import CommandRefusedError
    from bci_stream.core.messages import SwapModel
    from support.common import export_tiny

    export_tiny(tmp_path, "tiny-uv", "gru")
    export_tiny(tmp_path, "tiny-v", "gru", unit="V")
    assert ModelRegistry(str(tmp_path)).get("tiny-v").card.unit == "V"
    sup = Supervisor(str(tmp_path), status_interval=0.1)
    for option, refused in ((None, True), ("uV", False)):
        name = unique("swapunit")
        outlet = pylsl.StreamOutlet(_stream_info(name, None))
        spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-uv",
                                           "options": {"input_unit": option} if option else {}})
        handle = sup.start(spec, n_outputs=2, sfreq=TINY_SFREQ)
        try:
            wait_for(lambda: handle.status.state == "running", 30, "the worker to be running")
            if refused:
                with pytest.raises(CommandRefusedError, match=r"model 'tiny-v@.*' is in 'V'; the running decoder "
                                                              r"reads its stream, whose channels carry no unit, in "
                                                              r"its card's 'microvolts'"):
                    sup.request(handle.id, SwapModel(model="tiny-v"), timeout=60)
            else:
                sup.request(handle.id, SwapModel(model="tiny-v"), timeout=60)
                wait_for(lambda: handle.status.model["name"] == "tiny-v", 30, "the swap")
        finally:
            sup.stop(handle.id)
            del outlet


@pytest.mark.parametrize("worker", ["shared", "dedicated"])
def test_an_assumed_unit_with_an_implausible_amplitude_is_warned_in_the_status(supervisor, worker):
    """A stream without units is read as the model's microvolts; volts (SD ~1e-5) read so decode as noise: the
    status says so once its first 2 s are in (``stream.units.warning``, naming the unit that would fit), and decoding
    goes on. The same samples in microvolts give no warning."""
    x_uv = test_signal(int(3 * TINY_SFREQ), seed=22).astype(np.float64) * 20.0
    for factor, warned in ((1e-6, True), (1.0, False)):
        name = unique("amp")
        outlet = pylsl.StreamOutlet(_stream_info(name, None))
        handle = _start(supervisor, outlet.get_info(), worker=worker)
        try:
            wait_for(lambda: handle.status.state == "running", 30, "the worker to be running")
            push_paced(outlet, x_uv * factor, TINY_SFREQ * 4, chunk=10)
            wait_for(lambda: handle.status.counters.samples_out == len(x_uv), 30, "every sample decoded")
            units = handle.status.stream["units"]
            assert units["assumed"] is True and units["input"] == "microvolts", units
            if warned:
                assert "declares no unit" in units["warning"] and "plausible if the values are in V" in units["warning"]
            else:
                assert "warning" not in units, units
        finally:
            supervisor.stop(handle.id)
            del outlet


def test_microvolt_values_declared_as_volts_are_held_and_said_to_be_a_likely_unit_mislabel(supervisor):
    """A stream declaring volts that sends microvolts (a replay scaled to µV, its desc left in V): nearly every
    value is beyond ±1 V, held by ``nan_policy: hold``, and ``stream.nonfinite.warning`` says so with the cue of an
    undeclared unit (NaN-only channels get no such cue: tests/faults/test_f03_dead_channel.py)."""
    x_uv = test_signal(int(3 * TINY_SFREQ), seed=23).astype(np.float64) * 20.0
    name = unique("mislabel")
    outlet = pylsl.StreamOutlet(_stream_info(name, "V"))
    handle = _start(supervisor, outlet.get_info(), nan_policy="hold")
    try:
        wait_for(lambda: handle.status.state == "running", 30, "the worker to be running")
        push_paced(outlet, x_uv, TINY_SFREQ * 4, chunk=10)
        wait_for(lambda: handle.status.counters.samples_out == len(x_uv), 30, "every sample decoded")
        warning = handle.status.stream["nonfinite"]["warning"]
        assert warning.startswith("100% of the last second's samples had a value beyond ±1 V of the stream's unit, "
                                  "on channel(s) "), warning
        assert warning.endswith("values beyond ±1 V on most samples are most often a unit the stream does not "
                                "declare (µV sent as V: see stream.units)"), warning
    finally:
        supervisor.stop(handle.id)
        del outlet
