"""BrainVision Core Data Format 1.0 files (``.vhdr`` header, ``.vmrk`` markers, ``.eeg`` binary samples), written as
BrainVision Recorder writes them, from real EEG: the repository's S001 R05/R06 subset (21 channels, 160 Hz).

No pybv: the three files are short enough to write here, and a test should see what a lab's files hold. The header
declares ``DataFormat=BINARY``, ``DataOrientation=MULTIPLEXED`` (sample after sample, channel after channel),
``SamplingInterval`` in µs and ``BinaryFormat`` ``INT_16`` (what Recorder writes: counts of ``resolution`` units,
e.g. 0.1 µV per bit) or ``IEEE_FLOAT_32``; each channel ``ChN=<name>,<ref>,<resolution>,<unit>``. The marker file
starts with Recorder's ``New Segment`` (position 1, with the recording's start time) and holds
``Mk<n>=<type>,<description>,<position from 1>,<size in points>,<channel, 0 = all>``; Recorder writes another
``New Segment`` at every pause/resume (a discontinuity) and a ``,`` in a type or description as ``\\1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bci_stream.core.units import volts_per_unit
from bci_stream.io import load_recording
from support.common import SUBSET_S001_21CH, subset_file

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"
#: The EEGMMIDB cues as a BrainVision Recorder names its stimulus markers (mne reads ``Stimulus/S  1``).
STIMULI = {"T0": "S  3", "T1": "S  1", "T2": "S  2"}
#: Recorder's time stamp of a ``New Segment`` (yyyymmddhhmmssuuuuuu).
START = "20250101120000000000"
_INT16 = np.iinfo(np.int16)


def _escape(text: str) -> str:
    return text.replace(",", r"\1")


def write_brainvision(stem: Path, data: np.ndarray, sfreq: float, ch_names: Sequence[str], *,
                      units: Sequence[str] | None = None, resolutions: Sequence[float] | None = None,
                      fmt: str = "INT_16", markers: Sequence[tuple[str, str, int, int]] = (),
                      new_segments: Sequence[int] = ()) -> Path:
    """Write ``stem.vhdr``, ``stem.vmrk``, ``stem.eeg``; return the ``.vhdr``.

    ``data`` ``[n_chans, n_times]`` holds each channel's values in its own unit (``units``, default ``µV``);
    ``resolutions`` (default 0.1 for ``INT_16``, 1 for ``IEEE_FLOAT_32``) is the unit per stored number (INT_16:
    counts are ``round(value / resolution)``, refused past int16's range). ``markers``: ``(type, description,
    onset sample from 0, size in points)``; ``new_segments``: onsets (from 0) of the ``New Segment`` markers after
    the first (recording pauses)."""
    n_chans = len(ch_names)
    units = list(units) if units is not None else ["µV"] * n_chans
    default = 0.1 if fmt == "INT_16" else 1.0
    resolutions = list(resolutions) if resolutions is not None else [default] * n_chans
    stored = np.asarray(data, dtype=np.float64) / np.asarray(resolutions, dtype=np.float64)[:, None]
    if fmt == "INT_16":
        stored = np.rint(stored)
        if stored.min() < _INT16.min or stored.max() > _INT16.max:
            raise ValueError(f"data do not fit INT_16 at resolutions {resolutions}: counts span "
                             f"{stored.min():g}..{stored.max():g}")
        binary = stored.astype("<i2")
    elif fmt == "IEEE_FLOAT_32":
        binary = stored.astype("<f4")
    else:
        raise ValueError(f"fmt must be INT_16 or IEEE_FLOAT_32; got {fmt!r}")
    stem = Path(stem)
    name = stem.name
    stem.with_suffix(".eeg").write_bytes(binary.T.tobytes())  # multiplexed: all channels of sample 0, then 1, ...
    chans = "\n".join(f"Ch{i + 1}={_escape(n)},,{r:.12g},{u}" for i, (n, r, u) in enumerate(zip(ch_names, resolutions,
                                                                                              units)))
    stem.with_suffix(".vhdr").write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n; Data created by the bci-stream tests\n\n"
        f"[Common Infos]\nCodepage=UTF-8\nDataFile={name}.eeg\nMarkerFile={name}.vmrk\nDataFormat=BINARY\n"
        f"DataOrientation=MULTIPLEXED\nNumberOfChannels={n_chans}\nSamplingInterval={1e6 / sfreq:.12g}\n\n"
        f"[Binary Infos]\nBinaryFormat={fmt}\n\n[Channel Infos]\n"
        "; Each entry: Ch<Channel number>=<Name>,<Reference channel name>,<Resolution in \"Unit\">,<Unit>\n"
        f"{chans}\n", encoding="utf-8")
    marks = [("New Segment", "", 0, 1)] + sorted(list(markers) + [("New Segment", "", s, 1) for s in new_segments],
                                                  key=lambda m: m[2])
    lines = []
    for i, (kind, desc, onset, size) in enumerate(marks):
        stamp = f",{START}" if kind == "New Segment" else ""
        lines.append(f"Mk{i + 1}={_escape(kind)},{_escape(desc)},{onset + 1},{size},0{stamp}")
    stem.with_suffix(".vmrk").write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
        f"DataFile={name}.eeg\n\n[Marker Infos]\n"
        "; Each entry: Mk<Marker number>=<Type>,<Description>,<Position in data points>,\n"
        "; <Size in data points>, <Channel number (0 = marker is related to all channels)>\n"
        + "\n".join(lines) + "\n", encoding="utf-8")
    return stem.with_suffix(".vhdr")


def subset_brainvision(stem: Path, src: Path = R05, *, n_times: int | None = None, units: Sequence[str] | None = None,
                       fmt: str = "INT_16", new_segments: Sequence[int] = ()) -> Path:
    """``src`` (a repository subset EDF) as a BrainVision recording: its µV samples (the first ``n_times``), rounded
    to 0.1 µV, in each channel's ``units`` (default µV), stored exactly (INT_16: 0.1 µV per bit in each unit,
    ``0.1,µV``, ``100,nV``, ``0.0001,mV``; IEEE_FLOAT_32: as float32 holds them); its channel names without
    EEGMMIDB's dots; its T0/T1/T2 cues as Recorder's ``Stimulus`` markers (:data:`STIMULI`) of size 1; and
    ``new_segments``."""
    rec = load_recording(subset_file(src))
    data = rec.data if n_times is None else rec.data[:, :n_times]
    data = np.rint(data * 10) / 10  # what 0.1 µV per bit keeps: the reference a test compares with
    names = [n.strip(".") for n in rec.ch_names]
    units = list(units) if units is not None else ["µV"] * rec.n_chans
    sizes = [volts_per_unit(u) for u in units]
    values = np.array([row * 1e-6 / s for row, s in zip(data, sizes)])
    resolutions = [0.1e-6 / s for s in sizes] if fmt == "INT_16" else None
    markers = [("Stimulus", STIMULI[e.description], e.onset, 1) for e in rec.events
               if e.description in STIMULI and e.onset < data.shape[1]]
    return write_brainvision(stem, values, rec.sfreq, names, units=units, resolutions=resolutions, fmt=fmt,
                             markers=markers, new_segments=new_segments)
