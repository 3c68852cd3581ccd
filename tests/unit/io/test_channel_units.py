"""Each channel's type and unit as the file gives them (``Recording.ch_types``/``ch_units``), kept by every loader
and writer, and what ``replay`` writes in its stream's ``desc`` from them; ``rename_channels``.

Voltage channels load in µV (``microvolts``); a channel in another unit keeps the file's values and unit. Before,
mne's EDF/BDF reader took a ``degC`` channel as volts and the loader multiplied it by 1e6 (36.5 °C became
36,500,000 "µV"), typed ``eeg``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import ChannelError, Recording, load_recording, save_fif, save_npz, save_xdf
from bci_stream.io.errors import RecordingWarning
from bci_stream.sim.replay import stream_channels
from bci_stream.train.classical.calibration_inputs import eeg_channels
from support.bdf import write_bdf

mne = pytest.importorskip("mne")

SFREQ = 160


def _signals(n: int = 1600) -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.vstack([rng.normal(0, 20, (2, n)), 36.5 + 0.1 * rng.standard_normal((1, n)),
                      500 + rng.normal(0, 5, (1, n))])


def test_a_bdf_channel_whose_dimension_is_not_a_voltage_keeps_its_values_and_unit(tmp_path: Path) -> None:
    x = _signals()
    path = write_bdf(tmp_path / "aux.bdf", x, SFREQ, ["C3", "C4", "Thermo", "Imp"], np.zeros(x.shape[1]),
                     dims=["uV", "uV", "degC", "Ohm"])
    rec = load_recording(path)
    assert rec.ch_units == ["microvolts", "microvolts", "degC", "Ohm"]
    assert rec.ch_types == ["eeg", "eeg", "misc", "misc"]  # mne's default type (eeg) would call them EEG
    np.testing.assert_allclose(rec.data, x, atol=0.016)  # 24-bit step 1/32 of each unit; °C stays °C
    assert eeg_channels(rec, notes := []) == ["C3", "C4"] and "Thermo (type misc), Imp (type misc)" in notes[0]


def test_a_channel_whose_label_mne_renames_keeps_its_unit(tmp_path: Path) -> None:
    """Two channels labelled alike (mne renames them ``Thermo-0``, ``Thermo-1``) keep their ``degC`` as the same
    channels labelled apart do (the header's dimensions were looked up by label: they came out unit ``n/a``)."""
    x = _signals()
    dims = ["uV", "uV", "degC", "degC"]
    apart = load_recording(write_bdf(tmp_path / "apart.bdf", x, SFREQ, ["C3", "C4", "Thermo", "Skin"],
                                     np.zeros(x.shape[1]), dims=dims))
    alike = load_recording(write_bdf(tmp_path / "alike.bdf", x, SFREQ, ["C3", "C4", "Thermo", "Thermo"],
                                     np.zeros(x.shape[1]), dims=dims))
    assert alike.ch_names == ["C3", "C4", "Thermo-0", "Thermo-1"]
    assert alike.ch_units == apart.ch_units == ["microvolts", "microvolts", "degC", "degC"]
    assert alike.ch_types == apart.ch_types == ["eeg", "eeg", "misc", "misc"]
    np.testing.assert_array_equal(alike.data, apart.data)


def _fif(path: Path) -> tuple[Path, np.ndarray]:
    """A FIF file with EEG, EOG, EMG, a misc channel without a unit and a temperature (°C)."""
    x = _signals()
    data = np.vstack([x[:2] * 1e-6, x[:1] * 1e-6, x[1:2] * 1e-6, x[3:4], x[2:3]])
    info = mne.create_info(["C3", "C4", "EOG1", "EMG1", "Aux", "Temp"], SFREQ,
                           ch_types=["eeg", "eeg", "eog", "emg", "misc", "temperature"], verbose="error")
    mne.io.RawArray(data, info, verbose="error").save(path, fmt="double", overwrite=True, verbose="error")
    return path, np.vstack([x[:2], x[:1], x[1:2], x[3:4], x[2:3]])


def test_fif_types_and_units_and_the_replay_desc_made_of_them(tmp_path: Path) -> None:
    path, want = _fif(tmp_path / "mixed_raw.fif")
    rec = load_recording(path)
    assert rec.ch_types == ["eeg", "eeg", "eog", "emg", "misc", "temperature"]
    assert rec.ch_units == ["microvolts"] * 4 + ["none", "°C"]
    np.testing.assert_allclose(rec.data, want, rtol=1e-12)
    units, types = stream_channels(rec)
    assert units == ["microvolts"] * 4 + ["none", "°C"]  # never blank (mne-lsl would drop every unit)
    assert types == ["EEG", "EEG", "EOG", "EMG", "MISC", "TEMPERATURE"]
    plain = Recording(rec.data[:2], rec.sfreq, rec.ch_names[:2])  # a format without types or units (BCI2000)
    assert stream_channels(plain) == (["microvolts"] * 2, ["EEG"] * 2)


def test_npz_xdf_and_fif_keep_types_and_units(tmp_path: Path) -> None:
    rec = load_recording(_fif(tmp_path / "mixed_raw.fif")[0])
    for saved in (save_npz(rec, tmp_path / "mixed.npz"), save_xdf(rec, tmp_path / "mixed.xdf"),
                  save_fif(rec, tmp_path / "again_raw.fif")):
        back = load_recording(saved)
        assert (back.ch_types, back.ch_units) == (rec.ch_types, rec.ch_units)
        np.testing.assert_allclose(back.data, rec.data, rtol=1e-12)
    old = save_npz(Recording(rec.data[:2], rec.sfreq, rec.ch_names[:2]), tmp_path / "old.npz")  # no types/units
    assert (load_recording(old).ch_types, load_recording(old).ch_units) == (None, None)


def test_save_fif_writes_each_channels_unit_not_every_channel_as_eeg_in_volts(tmp_path: Path) -> None:
    """save_fif wrote every channel as EEG in volts: a °C channel came back as 36,500,000 µV of EEG."""
    x = _signals()
    bdf = load_recording(write_bdf(tmp_path / "aux.bdf", x, SFREQ, ["C3", "C4", "Thermo", "Imp"],
                                   np.zeros(x.shape[1]), dims=["uV", "uV", "degC", "Ohm"]))
    back = load_recording(save_fif(bdf, tmp_path / "aux_raw.fif"))
    assert back.ch_types == ["eeg", "eeg", "misc", "misc"]
    assert back.ch_units == ["microvolts", "microvolts", "°C", "Ohm"]  # FIFF's name of degC
    np.testing.assert_allclose(back.data, bdf.data, rtol=1e-12)
    aux = Recording(x, SFREQ, ["C3", "AUX1", "MISC1", "EOG1"], ch_types=["eeg", "aux", "misc", "eog"],
                    ch_units=["microvolts"] * 4)  # µV channels of types mne gives no unit (an XDF's AUX)
    back = load_recording(save_fif(aux, tmp_path / "aux_uv_raw.fif"))
    assert back.ch_types == ["eeg", "misc", "misc", "eog"] and back.ch_units == ["microvolts"] * 4
    np.testing.assert_allclose(back.data, x, rtol=1e-12)  # not read back 1e6 times too small, unitless
    odd = Recording(x, SFREQ, ["C3", "C4", "Acc", "Imp"], ch_types=["eeg", "EEG", "eeg", "bogus"],
                    ch_units=["microvolts", "microvolts", "g", "Ohm"])
    with pytest.warns(RecordingWarning, match="channel 'Acc': unit 'g' has no FIFF code; written unitless"):
        path = save_fif(odd, tmp_path / "odd_raw.fif")
    back = load_recording(path)
    assert back.ch_types == ["eeg", "eeg", "misc", "misc"]  # a non-voltage eeg channel, an unknown type: misc
    assert back.ch_units == ["microvolts", "microvolts", "none", "Ohm"]
    np.testing.assert_allclose(back.data, x, rtol=1e-12)


def test_rename_channels_before_picking_and_its_errors(tmp_path: Path) -> None:
    rec = Recording(np.arange(12.0).reshape(3, 4), 100.0, ["1", "2", "3"])
    path = save_npz(rec, tmp_path / "numbered.npz")
    got = load_recording(path, rename_channels=["C3", "Cz", "C4"], ch_names=["C4", "C3"])
    assert got.ch_names == ["C4", "C3"] and got.data.tolist() == [rec.data[2].tolist(), rec.data[0].tolist()]
    with pytest.raises(ChannelError, match=re.escape(
            f"rename_channels must give one name per channel of {path} (3 channels, in the file's order); got 2 "
            "name(s): C3, Cz")):
        load_recording(path, rename_channels=["C3", "Cz"])
    with pytest.raises(ChannelError, match=re.escape(
            "rename_channels must name every channel differently (compared after normalising); got 'C3' and 'c3'")):
        load_recording(path, rename_channels=["C3", "Cz", "c3"])
