"""A minimal BDF writer for tests (mne has none here: ``mne.export`` needs edfio, not installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_bdf(path: Path, data_uv: np.ndarray, sfreq: int, ch_names: list[str], status: np.ndarray, *,
              dims: list[str] | None = None) -> Path:
    """24-bit BDF, 1-s records: channels over ±262144 (step 1/32) in their physical dimension (``dims``, one per
    channel; default ``uV`` for all) and a ``Status`` trigger channel."""
    n_rec = data_uv.shape[1] // sfreq
    dims = dims or ["uV"] * len(ch_names)
    sigs = [(n, dims[i], -262144.0, 262143.96875, data_uv[i]) for i, n in enumerate(ch_names)]
    sigs.append(("Status", "Boolean", -8388608.0, 8388607.0, status))

    def field(value: object, width: int) -> bytes:
        return str(value)[:width].ljust(width).encode("ascii")

    ns = len(sigs)
    head = b"\xffBIOSEMI" + field("X", 80) + field("X", 80) + field("01.01.20", 8) + field("00.00.00", 8)
    head += field(256 * (ns + 1), 8) + field("24BIT", 44) + field(n_rec, 8) + field(1, 8) + field(ns, 4)
    columns = {
        16: [s[0] for s in sigs], 80: ["" for _ in sigs],
    }
    head += b"".join(field(v, 16) for v in columns[16]) + b"".join(field(v, 80) for v in columns[80])
    head += b"".join(field(s[1], 8) for s in sigs)
    head += b"".join(field(f"{s[2]:.0f}", 8) for s in sigs) + b"".join(field(f"{s[3]:.8g}"[:8], 8) for s in sigs)
    head += b"".join(field(-8388608, 8) for _ in sigs) + b"".join(field(8388607, 8) for _ in sigs)
    head += b"".join(field("", 80) for _ in sigs) + b"".join(field(sfreq, 8) for _ in sigs)
    head += b"".join(field("", 32) for _ in sigs)
    digital = []
    for _name, _dim, pmin, pmax, x in sigs:
        gain = (float(f"{pmax:.8g}"[:8]) - pmin) / (2**24 - 1)
        digital.append(np.clip(np.rint((x - pmin) / gain - 2**23), -(2**23), 2**23 - 1).astype(np.int64))
    body = bytearray()
    for r in range(n_rec):
        for d in digital:
            seg = (d[r * sfreq:(r + 1) * sfreq] & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
            body += seg.tobytes()
    path.write_bytes(head + bytes(body))
    return path
