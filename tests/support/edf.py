"""A minimal EDF(+) writer for tests of header layouts mne accepts: signals at their own rates, an ``EDF
Annotations`` signal, header fields written as given (``"-3276,8"``, NUL padding). ``support.bdf`` writes BioSemi
BDFs with one rate and a ``Status`` channel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Signal:
    """One EDF signal: ``digital`` holds ``n`` samples per record; ranges are written as given (text)."""

    label: str
    dim: str
    pmin: str
    pmax: str
    n: int
    digital: np.ndarray
    dmin: str = "-32768"
    dmax: str = "32767"


def annotations(n: int, tal: Callable[[int], str]) -> Signal:
    """An ``EDF Annotations`` signal of ``n`` samples per record; ``tal(r)`` is record ``r``'s text."""
    return Signal("EDF Annotations", "", "-1", "1", n, np.array([tal]))


def write_edf(path: Path, signals: list[Signal], n_records: int, *, record_s: float = 1.0,
              plus: str | None = None) -> Path:
    """Write an EDF (EDF+C when a signal is ``EDF Annotations``, or the header's ``plus``, e.g. ``EDF+D``) of
    ``n_records`` records of ``record_s`` s."""
    def field(value: object, width: int) -> bytes:
        return str(value)[:width].ljust(width).encode("latin-1")

    ns = len(signals)
    plus = plus or ("EDF+C" if any(s.label == "EDF Annotations" for s in signals) else "")
    head = field("0", 8) + field("X", 80) + field("X", 80) + field("01.01.20", 8) + field("00.00.00", 8)
    head += field(256 * (ns + 1), 8) + field(plus, 44) + field(n_records, 8) + field(f"{record_s:g}", 8)
    head += field(ns, 4) + b"".join(field(s.label, 16) for s in signals) + field("", 80) * ns
    for width, key in ((8, "dim"), (8, "pmin"), (8, "pmax"), (8, "dmin"), (8, "dmax")):
        head += b"".join(field(getattr(s, key), width) for s in signals)
    head += field("", 80) * ns + b"".join(field(s.n, 8) for s in signals) + field("", 32) * ns
    body = bytearray()
    for r in range(n_records):
        for s in signals:
            if s.label == "EDF Annotations":
                body += s.digital[0](r).encode("latin-1").ljust(2 * s.n, b"\x00")
            else:
                body += np.asarray(s.digital[r * s.n:(r + 1) * s.n]).astype("<i2").tobytes()
    path.write_bytes(head + bytes(body))
    return path
