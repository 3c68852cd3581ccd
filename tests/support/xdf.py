"""XDF files as LabRecorder lays them out, for tests: numeric streams on one sample clock, string marker streams,
clock offsets of 0 at both ends (written with the project's own chunk writer)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def write_xdf(path: Path, stamps: np.ndarray, signals: Sequence[tuple], markers: Sequence[tuple], *,
              clock_offsets: bool = True) -> Path:
    """Write ``path``: each of ``signals`` is ``(name, type, ch_names, sfreq, data [T, C], unit)`` sampled at
    ``stamps``, each of ``markers`` ``(name, marker stamps, values)``; stream ids in that order from 1.
    ``clock_offsets=False``: no clock-offset chunk at all (a recorder that writes none)."""
    from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml

    with Path(path).open("wb") as f:
        w = XdfWriter(f)
        sid = 0
        for sid, (name, stype, ch_names, sfreq, data, unit) in enumerate(signals, 1):
            w.add_stream(sid, stream_header_xml(name, stype, ch_names, sfreq, "double64", unit=unit), "double64",
                         len(ch_names))
            w.write_numeric(sid, stamps, np.asarray(data, dtype=np.float64))
        for sid, (name, m_stamps, values) in enumerate(markers, sid + 1):
            w.add_stream(sid, stream_header_xml(name, "Markers", ["m"], 0.0, "string"), "string", 1)
            w.write_strings(sid, [float(t) for t in m_stamps], list(values))
        for k in range(1, sid + 1):
            if clock_offsets:
                w.write_clock_offset(k, float(stamps[0]), 0.0)
                w.write_clock_offset(k, float(stamps[-1]), 0.0)
            w.close_stream(k)
    return Path(path)
