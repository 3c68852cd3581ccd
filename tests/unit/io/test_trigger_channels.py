"""Events from trigger channels of files without annotations (``mne_formats.trigger_codes``), on real EEG
(S001R06, tests/data) whose cue annotations are turned into trigger codes (T0=3, T1=1, T2=2).

Before these rules: a BioSemi ``Status`` whose bit 16 (new epoch) was set read a trigger 3 as ``65539`` and made
an event of the flag itself; mne's EDF reader truncated a code stored as 0.9995 to 0 and read a channel labelled
``TRIG`` as EEG (no events); a Neuromag FIF was read from
``STI 001`` (a single line, value 5) instead of the composite ``STI 014``; an analog trigger line gave thousands
of events without a word.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import Event, Recording, eegmmidb_label_map, load_recording
from bci_stream.io.errors import LabelMapError, RecordingWarning
from bci_stream.io.labels import labels_from_events
from support.bdf import write_bdf
from support.common import SUBSET_R06, subset_file

mne = pytest.importorskip("mne")

CODES = {"T0": 3, "T1": 1, "T2": 2}
SFREQ = 160


@pytest.fixture(scope="module")
def r06() -> Recording:
    return load_recording(subset_file(SUBSET_R06), label_map=eegmmidb_label_map(6))


def _cue_codes(rec: Recording, *, width: int | None = None) -> np.ndarray:
    """The file's cues as a trigger code per sample, each held for the cue's duration (or ``width`` samples)."""
    codes = np.zeros(rec.n_times, np.int64)
    for e in rec.events:
        codes[e.onset:e.onset + (width or e.duration)] = CODES[e.description]
    return codes


def _expected(codes: np.ndarray) -> list[Event]:
    starts = np.flatnonzero(np.diff(np.r_[0, codes]) != 0)
    ends = np.r_[starts[1:], codes.size]
    return [Event(int(s), int(e - s), str(codes[s])) for s, e in zip(starts, ends) if codes[s]]


def test_biosemi_status_flags_make_no_events_and_codes_are_the_low_16_bits(r06: Recording, tmp_path: Path) -> None:
    codes = _cue_codes(r06)
    flags = np.full(r06.n_times, (1 << 23) | (1 << 18) | (1 << 20), np.int64)  # MK2, speed mode, CMS in range
    flags[:SFREQ] |= 1 << 16  # new epoch
    for at in range(1000, r06.n_times, 2500):  # CMS out of range, epoch bit: toggles inside and between cues
        flags[at:at + 40] &= ~(1 << 20)
        flags[at + 700] |= 1 << 16
    status = codes | flags
    signed = np.where(status >= 1 << 23, status - (1 << 24), status)  # 24-bit two's complement, as BioSemi writes
    path = write_bdf(tmp_path / "biosemi.bdf", r06.data[:8], SFREQ, r06.ch_names[:8], signed)

    rec = load_recording(path, label_map={"3": "rest", "1": "fists", "2": "feet"})

    assert rec.events == _expected(codes)
    assert [(e.onset, e.duration) for e in rec.events] == [(e.onset, e.duration) for e in r06.events]
    assert rec.label_names == r06.label_names  # the same cues as the annotated EDF: the same labels
    np.testing.assert_array_equal(rec.labels, r06.labels)


def _edf_with_trigger(edf: Path, out: Path, codes: np.ndarray, *, label: str, pmax: float) -> Path:
    """The EDF+ ``edf`` with its last EEG signal replaced by a trigger channel ``label`` holding ``codes`` over the
    physical range 0..``pmax`` (digital -32768..32767, so most codes fall between two integers) and its
    annotations emptied (the time-keeping TAL of each record only)."""
    blob = bytearray(edf.read_bytes())
    n_bytes, n_records, ns = int(blob[184:192]), int(blob[236:244]), int(blob[252:256])

    def put(offset: int, width: int, k: int, value: str) -> None:
        at = 256 + ns * offset + width * k
        blob[at:at + width] = value.ljust(width).encode("ascii")

    n_samps = [int(blob[256 + ns * 216 + 8 * k:256 + ns * 216 + 8 * (k + 1)]) for k in range(ns)]
    trig, tal = ns - 2, ns - 1  # the signal before "EDF Annotations"
    put(0, 16, trig, label)
    put(96, 8, trig, "")
    for offset, value in ((104, "0"), (112, f"{pmax:g}"), (120, "-32768"), (128, "32767")):
        put(offset, 8, trig, value)
    digital = (np.rint(codes * 65535 / pmax) - 32768).astype("<i2").reshape(n_records, -1)
    record = 2 * sum(n_samps)
    for r in range(n_records):
        at = n_bytes + r * record + 2 * sum(n_samps[:trig])
        blob[at:at + 2 * n_samps[trig]] = digital[r].tobytes()
        at = n_bytes + r * record + 2 * sum(n_samps[:tal])
        blob[at:at + 2 * n_samps[tal]] = f"+{r}\x14\x14\x00".encode("ascii").ljust(2 * n_samps[tal], b"\x00")
    out.write_bytes(bytes(blob))
    return out


def test_edf_trigger_codes_are_rounded_from_the_file_not_truncated_by_mne(r06: Recording, tmp_path: Path) -> None:
    codes = _cue_codes(r06, width=16)
    path = _edf_with_trigger(subset_file(SUBSET_R06), tmp_path / "trig.edf", codes, label="TRIGGER", pmax=100.0)
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    assert raw.get_channel_types(picks=["TRIGGER"]) == ["stim"] and not len(raw.annotations)
    assert sorted(np.unique(raw.get_data(picks=["TRIGGER"]))) == [0, 2]  # mne: 0.9995 -> 0, 2.0005 -> 2, 2.9999 -> 2

    rec = load_recording(path)

    assert rec.events == _expected(codes)
    assert "TRIGGER" not in rec.ch_names and rec.n_chans == 63


@pytest.mark.parametrize("label", ["TRIG", "STI 014"])
def test_an_edf_channel_labelled_trig_or_sti_014_is_a_trigger_channel(r06: Recording, tmp_path: Path,
                                                                       label: str) -> None:
    codes = _cue_codes(r06, width=16)
    path = _edf_with_trigger(subset_file(SUBSET_R06), tmp_path / "trig.edf", codes, label=label, pmax=65535.0)
    assert mne.io.read_raw_edf(path, verbose="error").get_channel_types(picks=[label]) == ["eeg"]  # mne alone

    rec = load_recording(path)

    assert rec.events == _expected(codes)
    assert label not in rec.ch_names and rec.n_chans == 63


def _fif(path: Path, rec: Recording, stim: dict[str, np.ndarray]) -> Path:
    names = [n.strip(".") for n in rec.ch_names[:8]] + list(stim)
    info = mne.create_info(names, SFREQ, ["eeg"] * 8 + ["stim"] * len(stim))
    data = np.vstack([rec.data[:8] * 1e-6] + [v[None] for v in stim.values()])
    mne.io.RawArray(data, info, verbose="error").save(path, overwrite=True, verbose="error")
    return path


def test_neuromag_composite_sti_014_is_read_before_the_single_lines(r06: Recording, tmp_path: Path) -> None:
    codes = _cue_codes(r06, width=16)
    lines = {f"STI 00{bit + 1}": np.where(codes >> bit & 1, 5.0, 0.0) for bit in range(2)}  # 5 V on each line
    path = _fif(tmp_path / "neuromag_raw.fif", r06, {**lines, "STI 014": codes.astype(float)})

    assert load_recording(path).events == _expected(codes)


def test_an_analog_trigger_line_warns_and_small_noise_rounds_away(r06: Recording, tmp_path: Path) -> None:
    codes = _cue_codes(r06, width=16)
    rng = np.random.default_rng(3)
    quiet = _fif(tmp_path / "quiet_raw.fif", r06, {"STI 014": codes + rng.normal(0, 0.03, codes.size)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordingWarning)
        assert load_recording(quiet).events == _expected(codes)

    analog = _fif(tmp_path / "analog_raw.fif", r06, {"STI 014": codes + rng.normal(0, 0.3, codes.size)})
    with pytest.warns(RecordingWarning, match=r"analog_raw\.fif: trigger channel 'STI 014' holds values that are "
                                              r"not integer codes \(\d+ samples more than 0\.25 from an integer"):
        load_recording(analog)


@pytest.mark.parametrize("width", [1, 8])
def test_a_trigger_pulse_is_one_event_at_a_point_in_time(r06: Recording, tmp_path: Path, width: int) -> None:
    """A pulse (a code held under 0.1 s: one sample, or 50 ms at 160 Hz) is a cue's onset, duration 0, as a
    BrainVision marker of size 1: labels run to the next event (evaluate), or ``train`` asks for a label_window.
    Before: its length in samples, so each cue labelled one sample (train: 60 labelled samples in two runs)."""
    codes = _cue_codes(r06, width=width)
    path = _fif(tmp_path / "one_raw.fif", r06, {"STI 014": codes.astype(float)})

    events = load_recording(path).events

    assert events == [Event(e.onset, 0, e.description) for e in _expected(codes)] and len(events) == len(r06.events)
    with pytest.raises(LabelMapError, match="all have zero duration; give label_window"):
        labels_from_events(events, r06.n_times, r06.sfreq, {"1": "left", "2": "right", "3": "rest"},
                           source=str(path))
