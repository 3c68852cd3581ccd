"""An EDF written as ``mne.export.export_raw(..., add_ch_type=True)`` writes it (checked against a real export, mne
1.13 + edfio 0.4.18): every label prefixed by its channel type (``EEG C3``, ``STIM STI 014``), the EEG in ``uV``, the
stim channel with a blank dimension and a physical range 0 .. its largest code. Real EEG: S001R06 (tests/data).

Before this rule the ``STIM STI 014`` channel was read as an EEG channel (its codes x1e6 as µV) and the file had no
events; without the prefix (``STI 014``) it was already a trigger channel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import Event, load_recording
from support.common import SUBSET_R06, subset_file
from support.edf import Signal, annotations, write_edf

pytest.importorskip("mne")

SFREQ = 160


@pytest.mark.parametrize("label", ["STIM STI 014", "STIM TRIGGER", "stim Marker"])
def test_a_stim_prefixed_edf_channel_is_a_trigger_channel(tmp_path: Path, label: str) -> None:
    rec = load_recording(subset_file(SUBSET_R06), ch_names=["C3", "Cz", "C4"])
    n_records = rec.n_times // SFREQ
    codes = np.zeros(n_records * SFREQ, np.int64)
    cues = [e for e in rec.events if e.description in ("T1", "T2") and e.onset + 16 < codes.size]
    for e in cues:
        codes[e.onset:e.onset + 16] = 1 if e.description == "T1" else 2
    top = 2.0
    eeg = [Signal(f"EEG {n.strip('.')}", "uV", "-3276.7", "3276.7", SFREQ,
                  np.rint(rec.data[i, :codes.size] * 10).astype(np.int64), "-32767", "32767")
           for i, n in enumerate(rec.ch_names)]
    stim = Signal(label, "", "0", f"{top:g}", SFREQ, np.rint(-32767 + codes * 65534 / top).astype(np.int64),
                  "-32767", "32767")
    path = write_edf(tmp_path / "export.edf", eeg + [stim, annotations(8, lambda r: f"+{r}\x14\x14\x00")], n_records)

    got = load_recording(path)

    assert got.ch_names == ["EEG C3", "EEG Cz", "EEG C4"] and got.ch_types == ["eeg"] * 3
    expected = [Event(e.onset, 16, "1" if e.description == "T1" else "2") for e in cues]
    assert got.events == expected
    np.testing.assert_allclose(got.data, rec.data[:, :codes.size], atol=0.05)
    assert load_recording(path, ch_names=["C3"]).ch_names == ["EEG C3"]


def test_a_stim_prefixed_voltage_channel_stays_data(tmp_path: Path) -> None:
    """The rule is narrow: a ``STIM ...`` label on a channel in a voltage unit is data, as ``TRIG`` is."""
    rec = load_recording(subset_file(SUBSET_R06), ch_names=["C3", "Cz"])
    n_records = rec.n_times // SFREQ
    signals = [Signal(name, "uV", "-3276.7", "3276.7", SFREQ, np.rint(rec.data[i, :n_records * SFREQ] * 10))
               for i, name in enumerate(["EEG C3", "STIM Cz"])]
    got = load_recording(write_edf(tmp_path / "v.edf", signals, n_records))

    assert got.ch_names == ["EEG C3", "STIM Cz"] and got.events == []


def test_the_composite_stim_sti_014_is_read_before_a_prefixed_single_line(tmp_path: Path) -> None:
    rec = load_recording(subset_file(SUBSET_R06), ch_names=["C3"])
    n_records = rec.n_times // SFREQ
    codes = np.zeros(n_records * SFREQ, np.int64)
    codes[800:816], codes[1600:1616] = 1, 3
    line = np.where(codes & 1, 5, 0)  # STI 001: bit 0 at 5 V, as a Neuromag single line
    signals = [Signal("EEG C3", "uV", "-3276.7", "3276.7", SFREQ, np.rint(rec.data[0, :codes.size] * 10))]
    signals += [Signal(name, "", "0", "5", SFREQ, np.rint(-32767 + v * 65534 / 5).astype(np.int64), "-32767", "32767")
                for name, v in (("STIM STI 001", line), ("STIM STI 014", codes))]
    got = load_recording(write_edf(tmp_path / "neuromag.edf", signals, n_records))

    assert got.ch_names == ["EEG C3"] and got.events == [Event(800, 16, "1"), Event(1600, 16, "3")]
