"""Write a :class:`Recording` as an XDF file (pyxdf only reads), with the recorder's XDF writer.

The chunk-level writer is :class:`bci_stream.io.xdf_chunks.XdfWriter` (one XDF implementation in
the project); this module only lays a recording out as LabRecorder would: a signal stream and a
marker stream, with clock offsets of 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bci_stream.io.recording import Recording


def save_xdf(recording: Recording, path: str | Path, *, name: str = "eeg", t0: float = 1000.0,
             channel_format: str = "double64") -> Path:
    """Write ``recording`` to ``path``: an ``EEG`` stream named ``name`` (each channel's label, unit and, when the
    recording has them, type; one timestamp per sample from ``t0``) and, when it has events, a ``Markers`` string
    stream named ``<name>-markers`` with one marker per event onset (durations are not stored: XDF markers are
    instants; read back with ``until_next=True`` or a ``label_window``). The recording's ``bad_channels`` are not
    written: an XDF stream's channel metadata (LSL's ``desc/channels/channel``: label, unit, type) has no field for
    a bad mark that pyxdf-based readers (ours included) take as one; FIF and NPZ files keep it."""
    from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml

    path = Path(path)
    stamps = t0 + np.arange(recording.n_times) / recording.sfreq
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml(name, "EEG", recording.ch_names, recording.sfreq, channel_format,
                                          f"{name}-source", unit=recording.units(), ch_types=recording.ch_types),
                     channel_format, recording.n_chans)
        w.write_numeric(1, stamps, recording.data.T)
        streams = [1]
        if recording.events:
            w.add_stream(2, stream_header_xml(f"{name}-markers", "Markers", ["marker"], 0.0, "string"), "string", 1)
            last = recording.n_times - 1
            w.write_strings(2, [float(stamps[min(e.onset, last)]) for e in recording.events],
                            [e.description for e in recording.events])
            streams.append(2)
        for sid in streams:
            for t in (float(stamps[0]), float(stamps[-1])):  # LabRecorder writes offsets; pyxdf expects some
                w.write_clock_offset(sid, t, 0.0)
            w.close_stream(sid)
    return path
