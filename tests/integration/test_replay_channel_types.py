"""``replay`` of a recording with EOG/EMG/misc/temperature channels, over real LSL on loopback: its stream's ``desc``
carries each channel's type and the unit of the values streamed (µV for voltages, the file's unit for the others,
``none`` where it has none), read right by a pylsl inlet, by mne-lsl's ``StreamLSL`` and by the service, whose
decoder picks the EEG channels by label and decodes them exactly like the same EEG offline.

Before the fix the replay labelled every channel ``EEG`` in ``microvolts``: the EOG, the misc channel and the
temperature (36.5 °C streamed as "36.5 µV" of EEG) all looked like EEG to every consumer.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pylsl
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.engine.offline import decode_offline
from bci_stream.io import load_recording
from bci_stream.lsl.info import desc_channel_values, read_labels
from bci_stream.lsl.source import channel_indices
from bci_stream.lsl.units import read_units, unit_scale
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.lsl import open_output, open_replayed, pull_all, replay_in_thread, wait_for

mne = pytest.importorskip("mne")
pytest.importorskip("mne_lsl")

N = 1500  # 3 s at 500 Hz
EXTRA = ["EOG1", "EMG1", "Aux", "Temp"]
TYPES = ["eeg"] * len(TINY_CH_NAMES) + ["eog", "emg", "misc", "temperature"]


@pytest.fixture(scope="module")
def mixed_fif(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's 8 EEG channels (µV signal) plus an EOG, an EMG, a misc channel without a unit and a
    temperature in °C, as a FIF file (types and units as mne writes them)."""
    x = test_signal(N, seed=7).astype(np.float64).T  # [8, N] µV
    rng = np.random.default_rng(8)
    extra = np.vstack([x[:1] * 3, x[1:2] * 0.5, rng.uniform(0, 1, (1, N)), 36.5 + 0.1 * rng.standard_normal((1, N))])
    info = mne.create_info(TINY_CH_NAMES + EXTRA, TINY_SFREQ, ch_types=TYPES, verbose="error")
    data = np.vstack([x * 1e-6, extra[:2] * 1e-6, extra[2:]])
    path = tmp_path_factory.mktemp("mixed") / "mixed_raw.fif"
    mne.io.RawArray(data, info, verbose="error").save(path, fmt="double", verbose="error")
    return path


def test_the_replayed_desc_says_each_channels_type_and_unit_to_pylsl_mne_lsl_and_the_service(mixed_fif, models_dir):
    from mne._fiff.constants import FIFF
    from mne_lsl.stream import StreamLSL

    rec = load_recording(mixed_fif)
    name, release, result = unique("mixed"), threading.Event(), {}
    thread = replay_in_thread(mixed_fif, name, release, result)
    sl = None
    try:
        inlet, info = open_replayed(name)
        sl = StreamLSL(bufsize=N / TINY_SFREQ + 10, name=name).connect(timeout=10)
        release.set()
        x, _ = pull_all(inlet, N, timeout=60)
        thread.join(30)
        sl_data, sl_ts = sl.get_data()
        sl_types, sl_units = sl.get_channel_types(), sl.get_channel_units()
    finally:
        release.set()
        if sl is not None:
            sl.disconnect()
    assert "error" not in result and result["pushed"] == N, result
    # pylsl: the desc, and the values in the units it states (the temperature in °C, not µV)
    assert desc_channel_values(info, "type") == ["EEG"] * 8 + ["EOG", "EMG", "MISC", "TEMPERATURE"]
    assert desc_channel_values(info, "unit") == ["microvolts"] * 10 + ["none", "°C"]
    assert x.shape == (N, 12)
    np.testing.assert_array_equal(x, rec.data.T.astype(np.float32))
    assert 36.0 < float(x[:, -1].mean()) < 37.0
    # mne-lsl: the types, EEG/EOG/EMG in µV (unit_mul -6: one blank unit would reset every channel's to volts)
    assert sl_types == TYPES
    volts_micro = (FIFF.FIFF_UNIT_V, FIFF.FIFF_UNITM_MU)
    assert sl_units == [volts_micro] * 10 + [(FIFF.FIFF_UNIT_NONE, FIFF.FIFF_UNITM_NONE),
                                              (FIFF.FIFF_UNIT_CEL, FIFF.FIFF_UNITM_NONE)]
    filled = sl_ts > 0
    np.testing.assert_array_equal(sl_data[:, filled], x.T[:, -int(filled.sum()):])
    # the service: the model's channels found by label among the 12, in µV (scale 1, not assumed)
    card = ModelRegistry(models_dir).get("tiny-gru").card
    idx = channel_indices(read_labels(info), info.channel_count(), card, name)
    assert idx is not None and idx.tolist() == list(range(8))
    assert read_units(info)[-2:] == [None, "°C"]  # "none": no unit
    scale = unit_scale(info, idx, list(card.ch_names), card.unit, None)
    assert scale.describe() == {"input": "microvolts", "assumed": False, "scale": 1.0}


def test_a_decoder_on_the_replayed_mixed_stream_decodes_its_eeg_channels(mixed_fif, models_dir):
    """A real worker: it picks the 8 EEG channels of the 12 by label and decodes exactly what the same EEG decodes
    offline (every sample once)."""
    rec = load_recording(mixed_fif)
    entry = ModelRegistry(models_dir).get("tiny-gru")
    sup = Supervisor(str(models_dir), status_interval=0.1)
    name, release, result = unique("mixeddec"), threading.Event(), {}
    thread = replay_in_thread(mixed_fif, name, release, result, speed=2.0)
    try:
        spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru",
                                           "options": {"resolve_timeout": 60}})
        handle = sup.start(spec, n_outputs=entry.card.n_outputs, sfreq=entry.card.sfreq)
        wait_for(lambda: handle.status.state in ("running", "error"), 60, "the decoder")
        assert handle.status.state == "running", handle.status.error
        out = open_output(f"{name}-decoded")
        release.set()
        y, _ = pull_all(out, N, timeout=60)
        thread.join(30)
        status = handle.status
    finally:
        release.set()
        sup.shutdown()
    assert "error" not in result and result["pushed"] == N, result
    assert status.stream["units"] == {"input": "microvolts", "assumed": False, "scale": pytest.approx(1.0)}
    assert y.shape == (N, entry.card.n_outputs)
    eeg = np.ascontiguousarray(rec.data[:8].T, dtype=np.float32)
    np.testing.assert_allclose(y, decode_offline(entry, eeg), rtol=0, atol=1e-4)


def test_replay_channel_names_streams_numbered_channels_under_the_names_calibrate_gave(tmp_path: Path) -> None:
    """``replay --channel-names``: a file whose channels are numbers ("1".."8") streams under the names a model
    calibrated with ``calibrate --channel-names`` expects; a wrong count is refused before anything is streamed."""
    from click.testing import CliRunner

    from bci_stream.cli import main

    x = test_signal(400, seed=3).astype(np.float64).T * 1e-6
    info = mne.create_info([str(i + 1) for i in range(len(TINY_CH_NAMES))], TINY_SFREQ, ch_types="eeg", verbose="error")
    path = tmp_path / "numbered_raw.fif"
    mne.io.RawArray(x, info, verbose="error").save(path, verbose="error")
    bad = CliRunner().invoke(main, ["replay", str(path), "--name", unique("bad"), "--channel-names", "C3,Cz"])
    assert bad.exit_code == 2 and "--channel-names must give one name per channel" in bad.output, bad.output
    assert "(8 channels" in bad.output and "got 2 name(s)" in bad.output and "rename_channels" not in bad.output
    name = unique("named")
    got: dict = {}

    def consume() -> None:  # the CLI runs in this (main) thread: it installs a SIGTERM handler
        found = pylsl.resolve_bypred(f"name='{name}'", 1, 20.0)
        if found:
            inlet = pylsl.StreamInlet(found[0])
            got["labels"] = read_labels(inlet.info(5.0))
            got["ts"] = pull_all(inlet, 400, timeout=30)[1]
            inlet.close_stream()

    consumer = threading.Thread(target=consume)
    consumer.start()
    res = CliRunner().invoke(main, ["replay", str(path), "--name", name, "--speed", "8", "--wait-for-consumer", "30",
                                    "--channel-names", ",".join(TINY_CH_NAMES)])
    consumer.join(60)
    assert res.exit_code == 0, res.output
    assert got.get("labels") == TINY_CH_NAMES and len(got["ts"]) == 400


def test_the_replay_declares_its_speed_for_the_services_rate_check(mixed_fif):
    """``replay --speed S`` sends S times its nominal rate per second of its stamps, on purpose: it says so in its
    ``desc/acquisition/replay_speed``, so the service's rate check (``timestamps.rate_warning``) expects that."""
    from bci_stream.lsl.info import read_replay_speed

    name, release, result = unique("speed"), threading.Event(), {}
    thread = replay_in_thread(mixed_fif, name, release, result, speed=2.5)
    try:
        inlet, info = open_replayed(name)
        release.set()
        pull_all(inlet, N, timeout=60)
        thread.join(30)
    finally:
        release.set()
    assert "error" not in result and result["pushed"] == N, result
    assert read_replay_speed(info) == 2.5
