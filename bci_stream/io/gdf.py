"""What bci-stream reads of a GDF file's header and event table itself, beside ``mne.io.read_raw_gdf``.

GDF (Schlögl, "GDF - A general dataformat for biosignals", arXiv cs/0608052) is the format of the Graz / BCI
Competition IV 2a and 2b recordings. mne (1.13) reads its samples, but:

* **units**: mne scales a channel by its physical dimension only for µV and mV (GDF 2.x dimension codes 4275, 4274)
  or a GDF 1.x dimension text starting with ``uV``; every other dimension is read as volts, x1 (a GDF 2.x one with a
  warning per channel). So a GDF 1.x channel in ``mV`` or any channel in ``nV`` reads 1000x too large and a
  temperature or dimensionless channel reads as EEG volts. :func:`gdf_channels` gives each channel's own dimension
  and the factor that puts mne's values right;
* **types**: mne types every GDF channel EEG (the format has no channel type): :func:`gdf_types` types the channels
  whose label says EOG, ECG/EKG or EMG (``EOG-left``, ``EOG-central``, ``EOG-right`` of a 2a file);
* **events**: mne gives every event a duration of at least one sample (a mode-1 table has none, a mode-3 entry may
  say 0) and ignores the table's own event rate; :func:`gdf_events` reads the table as the file holds it: one
  :class:`~bci_stream.io.recording.Event` per entry, described by its type code in decimal (``"769"``), durations of
  0 where the file gives none, positions at the signal's rate;
* **overflow**: a sample at its channel's digital minimum or maximum marks a saturated or missing sample (GDF spec;
  biosig reads it as NaN); mne reads the physical extreme (-100 µV in a 2a file): :func:`mark_overflow` makes it
  NaN, which calibrate and evaluate treat as any non-finite sample.
"""

from __future__ import annotations

import re
import struct
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from bci_stream.core.units import volts_per_unit
from bci_stream.io.errors import RecordingWarning
from bci_stream.io.recording import NO_UNIT, Event

#: Bytes per sample of each GDF data type code (int8 ... uint64, float32, float64).
_TYPE_BYTES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 8, 8: 8, 16: 4, 17: 8}
#: GDF 2.x dimension code of the volt; the low 5 bits of a code are a decimal prefix (biosig units.csv).
_VOLT = 4256
#: Decimal prefix code → power of ten (biosig DecimalFactors.txt): deca ... yotta, deci ... yocto.
_PREFIX = {0: 0, 1: 1, 2: 2, 3: 3, 4: 6, 5: 9, 6: 12, 7: 15, 8: 18, 9: 21, 10: 24, 16: -1, 17: -2, 18: -3, 19: -6,
           20: -9, 21: -12, 22: -15, 23: -18, 24: -21, 25: -24}
#: Names of a few non-voltage GDF 2.x dimension codes, for a channel whose dimension text is blank.
_CODE_NAMES = {512: NO_UNIT, 544: "%", 6048: "degC"}
#: mne's factor for a GDF 2.x dimension code (any other code: 1).
_MNE_GAIN = {4275: 1e-6, 4274: 1e-3}
#: Channel labels that say which non-EEG sensor a channel is, and its mne type.
_TYPED_LABEL = re.compile(r"^(eog|ecg|ekg|emg)(?![a-z])", re.IGNORECASE)
_LABEL_TYPES = {"eog": "eog", "ecg": "ecg", "ekg": "ecg", "emg": "emg"}


class GdfHeader(NamedTuple):
    """The parts of a GDF header bci-stream reads: one entry per channel in each list."""

    version: float
    labels: list[str]
    dims: list[str]  # physical dimension as the file writes it (GDF 2.x, blank text: the name of its code)
    volts: list[float | None]  # the size of one unit of the channel in volts; None: not a voltage or not known
    mne_gain: list[float]  # the factor mne applied to the file's physical values
    events_at: int  # byte offset of the event table
    physical: list[tuple[float, float]]  # physical (min, max): the values of the digital extremes
    step: list[float]  # physical size of one digital step


def read_gdf_header(path: Path) -> GdfHeader | None:
    """The header of the GDF file ``path``; None when it is not one this reader follows (then mne's reading
    stands)."""
    with path.open("rb") as f:
        fixed = f.read(256)
        if len(fixed) < 256 or not fixed.startswith(b"GDF "):
            return None
        try:
            version = float(fixed[4:8].decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return None
        if version >= 1.9:
            n_bytes = struct.unpack_from("<H", fixed, 184)[0] * 256
            ns = struct.unpack_from("<H", fixed, 252)[0]
        else:
            n_bytes = struct.unpack_from("<q", fixed, 184)[0]
            ns = struct.unpack_from("<I", fixed, 252)[0]
        n_records = struct.unpack_from("<q", fixed, 236)[0]
        var = f.read(256 * ns)
    if ns == 0 or len(var) < 256 * ns or n_records < 0:
        return None
    labels = [var[16 * k:16 * (k + 1)].split(b"\x00")[0].decode("latin-1").strip() for k in range(ns)]
    n_samps = struct.unpack_from(f"<{ns}i", var, 216 * ns)
    types = struct.unpack_from(f"<{ns}i", var, 220 * ns)
    if any(t not in _TYPE_BYTES for t in types):
        return None
    events_at = n_bytes + n_records * sum(_TYPE_BYTES[t] * n for t, n in zip(types, n_samps))
    width = 6 if version >= 1.9 else 8
    pmin, pmax = struct.unpack_from(f"<{ns}d", var, 104 * ns), struct.unpack_from(f"<{ns}d", var, 112 * ns)
    dmin, dmax = struct.unpack_from(f"<{ns}d" if version >= 1.9 else f"<{ns}q", var, 120 * ns), \
        struct.unpack_from(f"<{ns}d" if version >= 1.9 else f"<{ns}q", var, 128 * ns)
    physical = list(zip(pmin, pmax))
    step = [(b - a) / (d - c) if d != c else 0.0 for a, b, c, d in zip(pmin, pmax, dmin, dmax)]
    texts = [var[96 * ns + width * k:96 * ns + width * (k + 1)].split(b"\x00")[0].decode("latin-1").strip()
             for k in range(ns)]
    if version < 1.9:
        gains = [1e-6 if t[:2] == "uV" else 1.0 for t in texts]
        volts = [volts_per_unit(t) if t else None for t in texts]
        return GdfHeader(version, labels, texts, volts, gains, events_at, physical, step)
    codes = struct.unpack_from(f"<{ns}H", var, 102 * ns)
    dims, volts = [], []
    for code, text in zip(codes, texts):
        size = _code_volts(code)
        if size is None and code == 0:  # no code: the text says it, if anything
            size = volts_per_unit(text) if text else None
        volts.append(size)
        dims.append(text or (_CODE_NAMES.get(code, f"GDF unit code {code}") if code else ""))
    return GdfHeader(version, labels, dims, volts, [_MNE_GAIN.get(c, 1.0) for c in codes], events_at, physical, step)


def _code_volts(code: int) -> float | None:
    """The size in volts of GDF 2.x dimension ``code`` (4275 → 1e-6), or None when it is not a voltage."""
    if code & 0xFFE0 != _VOLT or code & 0x1F not in _PREFIX:
        return None
    return 10.0 ** _PREFIX[code & 0x1F]


def gdf_channels(header: GdfHeader) -> list[tuple[str, float, bool]]:
    """Per channel: its dimension text, the factor that corrects mne's value, and whether it is a voltage. A voltage
    channel's factor turns mne's value into volts (a GDF 1.x ``mV`` channel: 1e-3); another channel's gives the
    file's own value (its dimension is its unit). A channel whose dimension is blank or unknown keeps mne's reading
    (volts, factor 1)."""
    out: list[tuple[str, float, bool]] = []
    for dim, size, gain in zip(header.dims, header.volts, header.mne_gain):
        if size is not None:
            out.append((dim, size / gain, True))
        else:
            out.append((dim, 1.0 / gain, not dim))
    return out


def overflow_mask(header: GdfHeader, index: int, values: np.ndarray) -> np.ndarray:
    """Where ``values`` (channel ``index``'s samples, the file's physical values) sit at the channel's digital
    minimum or maximum (within a quarter of a digital step): GDF's mark of a saturated or missing sample. biosig
    reads them as NaN (its default overflow detection, which the BCI Competition IV 2a/2b descriptions rely on: the
    runs of those files are separated by missing samples stored as the digital minimum); mne reads them as the
    physical minimum/maximum (e.g. -100 µV)."""
    (pmin, pmax), step = header.physical[index], header.step[index]
    if not step or not (np.isfinite(pmin) and np.isfinite(pmax)):
        return np.zeros(values.shape, dtype=bool)
    tol = abs(step) / 4
    return (np.abs(values - pmin) <= tol) | (np.abs(values - pmax) <= tol)


def mark_overflow(header: GdfHeader, rows: list[int], values: np.ndarray, data: np.ndarray, name: str) -> None:
    """Set to NaN, in ``data`` (the channels ``rows`` of the file, in bci-stream's units), the samples that
    :func:`overflow_mask` finds in ``values`` (mne's values of the same channels), with a
    :class:`~bci_stream.io.errors.RecordingWarning` naming the file ``name`` and how many."""
    n, chans = 0, []
    for row, index in enumerate(rows):
        mask = overflow_mask(header, index, values[row] / header.mne_gain[index])
        if mask.any():
            data[row, mask] = np.nan
            n, chans = n + int(mask.sum()), chans + [header.labels[index]]
    if n:
        warnings.warn(f"{name}: {n} sample(s) on {len(chans)} channel(s) ({', '.join(chans[:6])}"
                      f"{' ...' if len(chans) > 6 else ''}) sit at their channel's digital minimum or maximum, GDF's "
                      "mark of a saturated or missing sample (the gaps between the runs of a BCI Competition IV "
                      "file): read as NaN, as biosig reads them (mne reads the physical minimum/maximum)",
                      RecordingWarning, stacklevel=3)


def gdf_types(labels: list[str], types: list[str]) -> list[str]:
    """mne's channel ``types`` of a GDF file's channels, with ``eog``/``ecg``/``emg`` where mne says ``eeg`` and
    the label names that sensor (``EOG-left``, ``ECG``, ``EMG1``; any case)."""
    out = []
    for label, kind in zip(labels, types):
        m = _TYPED_LABEL.match(label.strip())
        out.append(_LABEL_TYPES[m.group(1).lower()] if m and kind == "eeg" else kind)
    return out


def gdf_events(path: Path, header: GdfHeader, sfreq: float, n_times: int) -> list[Event] | None:
    """The event table of ``path`` as the file holds it (mode 1: positions and types; mode 3: also channels and
    durations), positions 1-based in the file, here 0-based samples at ``sfreq`` (rescaled from the table's own
    rate when it gives another), events outside ``[0, n_times)`` left out. Each entry's description is its type
    code in decimal; duration 0 where the file gives none. The entry's channel (0 = all) is not kept. None when
    the file has no table this reader follows (then mne's annotations are used); ``[]`` when it has none."""
    with path.open("rb") as f:
        f.seek(header.events_at)
        head = f.read(8)
        if len(head) == 0:
            return []
        if len(head) < 8 or head[0] not in (1, 3):
            return None
        mode = head[0]
        if header.version >= 1.94:
            n, rate = int.from_bytes(head[1:4], "little"), struct.unpack_from("<f", head, 4)[0]
        else:
            rate, n = int.from_bytes(head[1:4], "little"), struct.unpack_from("<I", head, 4)[0]
        body = f.read(n * (12 if mode == 3 else 6))
    if len(body) < n * (12 if mode == 3 else 6):
        return None
    pos = struct.unpack_from(f"<{n}I", body, 0)
    typ = struct.unpack_from(f"<{n}H", body, 4 * n)
    dur = struct.unpack_from(f"<{n}I", body, 8 * n) if mode == 3 else (0,) * n
    ratio = sfreq / rate if rate > 0 else 1.0
    events = [Event(int(round((p - 1) * ratio)), int(round(d * ratio)), str(t)) for p, t, d in zip(pos, typ, dur)]
    return [e for e in events if 0 <= e.onset < n_times]
