"""A minimal GDF writer for tests (Schlögl, "GDF - A general dataformat for biosignals", arXiv cs/0608052): GDF 2.x
(fixed header, one 256-byte variable-header block per signal, no tag-length-value section) or GDF 1.x, data
records of one data type, and an event table of mode 1 (positions, types) or 3 (also channels and durations).

Layout written (little-endian; what ``mne.io.read_raw_gdf`` reads, ``mne/io/edf/edf.py``):

* GDF 2.x fixed header, 256 bytes: ``"GDF 2.20"``, patient (66), reserved (10), 4 patient bytes, recording id (64),
  location (16), start and birth date (2 x uint64), header length in 256-byte blocks (uint16), reserved (6),
  equipment (8), IP (6), head size (3 x uint16), reference and ground positions (2 x 3 float32), number of records
  (int64), record duration as a fraction numerator/denominator s (2 x uint32), number of signals (uint16), reserved
  (2). Per signal: label (16), transducer (80), physical dimension text (6), dimension code (uint16: µV 4275, mV
  4274, V 4256, none 512), physical and digital min/max (4 x float64), prefiltering (68), low/high pass and notch
  (3 x float32), samples per record (int32), data type (int32), position (3 x float32), impedance + reserved (20).
* GDF 1.x: ``"GDF 1.25"``, patient (80), recording (80), start date (16), header bytes (int64), 3 ids (3 x 8),
  reserved (20), records (int64), duration (2 x uint32), signals (uint32); per signal label (16), transducer (80),
  dimension text (8), physical min/max (float64), digital min/max (int64), prefiltering (80), samples per record
  (int32), data type (int32), reserved (32).
* Event table after the data: mode (uint8), then GDF 2.x: number of events (uint24), event rate (float32); GDF 1.x:
  event rate (uint24), number of events (uint32); then positions (uint32, **1-based**), types (uint16) and, mode 3,
  channels (uint16, 0 = all) and durations (uint32, samples).

Samples are given in physical units and stored as ``digital = dmin + (x - pmin) * (dmax - dmin) / (pmax - pmin)``
(integer types rounded and clipped: a value beyond the physical range is stored as the digital extreme, as an
amplifier's saturated sample is). Float types store the physical values with the identity scaling (NaN kept).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

#: GDF data type codes (spec table: 3 int16, 5 int32, 16 float32, 17 float64) and their numpy types.
GDF_TYPES = {"int16": (3, "<i2"), "int32": (5, "<i4"), "float32": (16, "<f4"), "float64": (17, "<f8")}
#: GDF 2.x physical dimension codes (biosig units.csv: V = 4256, plus a decimal prefix code: milli 18, micro 19,
#: nano 20; 512 dimensionless).
DIM_CODES = {"uV": 4275, "µV": 4275, "mV": 4274, "V": 4256, "nV": 4276, "": 512}
#: The event codes of BCI Competition IV 2a / Graz files.
TRIAL_START, CUE_LEFT, CUE_RIGHT, CUE_FOOT, CUE_TONGUE, CUE_UNKNOWN = 768, 769, 770, 771, 772, 783
REJECTED_TRIAL, EYE_MOVEMENTS, EYES_OPEN, EYES_CLOSED, NEW_RUN = 1023, 1072, 276, 277, 32766
#: The 25 channel labels of a BCI Competition IV 2a file, in file order: 22 EEG (10-10 positions Fz, FC3, FC1, FCz,
#: FC2, FC4, C5, C3, C1, Cz, C2, C4, C6, CP3, CP1, CPz, CP2, CP4, P1, Pz, P2, POz: only 5 keep their name) and 3 EOG.
BCI2A_LABELS = ["EEG-Fz", *[f"EEG-{i}" for i in range(6)], "EEG-C3", "EEG-6", "EEG-Cz", "EEG-7", "EEG-C4",
                *[f"EEG-{i}" for i in range(8, 15)], "EEG-Pz", "EEG-15", "EEG-16", "EOG-left", "EOG-central",
                "EOG-right"]
#: The 10-10 positions of :data:`BCI2A_LABELS`' EEG channels (the competition's description, figure 3).
BCI2A_POSITIONS = ["Fz", "FC3", "FC1", "FCz", "FC2", "FC4", "C5", "C3", "C1", "Cz", "C2", "C4", "C6", "CP3", "CP1",
                   "CPz", "CP2", "CP4", "P1", "Pz", "P2", "POz"]


class GdfEvent(NamedTuple):
    """One event-table entry: onset sample (0-based here; written 1-based), type code, channel (0 = all) and
    duration in samples."""

    onset: int
    typ: int
    duration: int = 0
    channel: int = 0


def _text(value: str, width: int) -> bytes:
    return value.encode("latin-1")[:width].ljust(width, b" ")


def write_gdf(path: Path, data: np.ndarray, sfreq: float, labels: Sequence[str], *, dims: str | Sequence[str] = "uV",
              events: Sequence[GdfEvent] = (), event_mode: int = 3, dtype: str = "int16", version: str = "2.20",
              physical: tuple[float, float] | str | None = None, record_samples: int | None = None,
              event_rate: float | None = None, n_samps: Sequence[int] | None = None) -> Path:
    """Write ``data`` ``[n_chans, n_times]`` (in ``dims``, one unit for all or one per channel) as a GDF file.

    ``physical``: the physical range of every channel (default: each channel's own min/max, rounded outward;
    ``"fitted"``: each channel's own min/max exactly, as many exporters write it);
    ``record_samples``: samples per data record (default ``sfreq``: 1-s records; ``n_times`` must be a multiple);
    ``version``: ``"2.20"`` (any 2.x) or ``"1.25"`` (any 1.x); ``event_mode`` 1 (no channels, no durations) or 3;
    ``event_rate``: the event table's own rate (default ``sfreq``), event onsets and durations given at that rate;
    ``n_samps``: samples per record of each channel (default ``record_samples`` for all): a channel with fewer
    (a divisor) is stored at a lower rate, every ``record_samples // n``-th sample of its row of ``data``.
    """
    data = np.asarray(data, dtype=np.float64)
    n_chans, n_times = data.shape
    per = int(record_samples or round(sfreq))
    if n_times % per:
        raise ValueError(f"n_times={n_times} must be a multiple of record_samples={per}")
    dims = [dims] * n_chans if isinstance(dims, str) else list(dims)
    code, np_type = GDF_TYPES[dtype]
    if dtype.startswith("float"):
        dmin, dmax = np.full(n_chans, -1e6), np.full(n_chans, 1e6)
        pmin, pmax = dmin.copy(), dmax.copy()
        digital = data
    else:
        info = np.iinfo(np_type)
        dmin, dmax = np.full(n_chans, float(info.min)), np.full(n_chans, float(info.max))
        if physical is None:
            pmin, pmax = np.floor(np.nanmin(data, axis=1)) - 1, np.ceil(np.nanmax(data, axis=1)) + 1
        elif physical == "fitted":
            pmin, pmax = np.nanmin(data, axis=1), np.nanmax(data, axis=1)
        else:
            pmin, pmax = np.full(n_chans, physical[0]), np.full(n_chans, physical[1])
        scaled = dmin[:, None] + (data - pmin[:, None]) * ((dmax - dmin) / (pmax - pmin))[:, None]
        digital = np.clip(np.rint(np.nan_to_num(scaled)), dmin[:, None], dmax[:, None])
    n_records = n_times // per
    n_samps = [per] * n_chans if n_samps is None else [int(n) for n in n_samps]
    if any(n <= 0 or per % n for n in n_samps):
        raise ValueError(f"n_samps={n_samps} must divide record_samples={per}")
    # record duration as the fraction per/sfreq s (exact for integer sfreq)
    num, den = (per, int(sfreq)) if float(sfreq).is_integer() else (per * 1000, int(round(sfreq * 1000)))
    major = int(version.split(".")[0])
    if major >= 2:
        head = _header_v2(version, labels, dims, pmin, pmax, dmin, dmax, n_samps, code, n_records, num, den)
    else:
        head = _header_v1(version, labels, dims, pmin, pmax, dmin, dmax, n_samps, code, n_records, num, den)
    records = np.zeros(n_records, dtype=[(f"c{k}", np_type, (n,)) for k, n in enumerate(n_samps)])
    for k, n in enumerate(n_samps):
        records[f"c{k}"] = digital[k].reshape(n_records, per)[:, ::per // n]
    table = _event_table(events, event_mode, event_rate or sfreq, major)
    path.write_bytes(head + records.tobytes() + table)
    return path


def _header_v2(version: str, labels: Sequence[str], dims: Sequence[str], pmin, pmax, dmin, dmax, per: list[int],
               code: int, n_records: int, num: int, den: int) -> bytes:
    ns = len(labels)
    fixed = _text(f"GDF {version}", 8) + _text("X X", 66) + bytes(10) + bytes(4) + _text("bci-stream test", 64)
    fixed += bytes(16) + bytes(16)  # location; start date and birthday unknown (0)
    fixed += struct.pack("<H", ns + 1) + bytes(6) + bytes(8) + bytes(6) + bytes(6) + bytes(24)
    fixed += struct.pack("<qIIH", n_records, num, den, ns) + bytes(2)
    assert len(fixed) == 256
    var = b"".join(_text(label, 16) for label in labels) + _text("", 80) * ns
    var += b"".join(_text(d, 6) for d in dims) + struct.pack(f"<{ns}H", *(DIM_CODES[d] for d in dims))
    var += struct.pack(f"<{4 * ns}d", *pmin, *pmax, *dmin, *dmax) + _text("", 68) * ns
    var += struct.pack(f"<{3 * ns}f", *([0.0] * 3 * ns)) + struct.pack(f"<{2 * ns}i", *per, *([code] * ns))
    var += bytes(12 * ns) + bytes(20 * ns)
    assert len(var) == 256 * ns
    return fixed + var


def _header_v1(version: str, labels: Sequence[str], dims: Sequence[str], pmin, pmax, dmin, dmax, per: list[int],
               code: int, n_records: int, num: int, den: int) -> bytes:
    ns = len(labels)
    fixed = _text(f"GDF {version}", 8) + _text("X X", 80) + _text("bci-stream test", 80)
    fixed += _text("2020010100000000", 16) + struct.pack("<q", 256 * (ns + 1)) + bytes(24) + bytes(20)
    fixed += struct.pack("<qIII", n_records, num, den, ns)
    assert len(fixed) == 256
    var = b"".join(_text(label, 16) for label in labels) + _text("", 80) * ns + b"".join(_text(d, 8) for d in dims)
    var += struct.pack(f"<{2 * ns}d", *pmin, *pmax) + struct.pack(f"<{2 * ns}q", *dmin.astype(int), *dmax.astype(int))
    var += _text("", 80) * ns + struct.pack(f"<{2 * ns}i", *per, *([code] * ns)) + bytes(32 * ns)
    assert len(var) == 256 * ns
    return fixed + var


def _event_table(events: Sequence[GdfEvent], mode: int, sfreq: float, major: int) -> bytes:
    if mode not in (1, 3):
        raise ValueError(f"event_mode must be 1 or 3; got {mode}")
    n = len(events)
    rate = int(round(sfreq))
    if major >= 2:
        out = struct.pack("<B", mode) + n.to_bytes(3, "little") + struct.pack("<f", sfreq)
    else:
        out = struct.pack("<B", mode) + rate.to_bytes(3, "little") + struct.pack("<I", n)
    out += struct.pack(f"<{n}I", *(e.onset + 1 for e in events)) + struct.pack(f"<{n}H", *(e.typ for e in events))
    if mode == 3:
        out += struct.pack(f"<{n}H", *(e.channel for e in events))
        out += struct.pack(f"<{n}I", *(e.duration for e in events))
    return out


def bci2a_like(path: Path, recording, *, cue_codes: dict[str, int], dims: str = "uV", scale: float = 1.0,
               cue_s: float = 1.25, trial_s: float = 6.0, extra_events: Sequence[GdfEvent] = (), **options) -> Path:
    """A GDF file in the BCI Competition IV 2a layout from a real ``recording`` (a
    :class:`~bci_stream.io.recording.Recording` in µV holding the 22 positions of :data:`BCI2A_POSITIONS` and
    ``Fp1``, ``Fpz``, ``Fp2`` standing in for the 3 EOG channels): channels renamed as in :data:`BCI2A_LABELS`,
    data multiplied by ``scale`` (1e-6 with ``dims="V"``), and, per event whose description is a key of
    ``cue_codes``, a 768 trial start 2 s before the cue (``trial_s`` long) and the cue (``cue_s``: the arrow shows for
    1.25 s in the competition); ``n_times`` is cut to whole 1-s records. ``options`` go to :func:`write_gdf`."""
    from bci_stream.core.channels import pick_channels

    sfreq = recording.sfreq
    rows, _ = pick_channels(recording.data, recording.ch_names, BCI2A_POSITIONS + ["Fp1", "Fpz", "Fp2"])
    per = int(round(sfreq))
    n_times = rows.shape[1] // per * per
    events: list[GdfEvent] = [GdfEvent(0, NEW_RUN)]
    for ev in recording.events:
        cue = cue_codes.get(ev.description)
        if cue is None or ev.onset < 2 * sfreq or ev.onset + 4 * sfreq > n_times:
            continue
        events += [GdfEvent(ev.onset - int(2 * sfreq), TRIAL_START, int(round(trial_s * sfreq))),
                   GdfEvent(ev.onset, cue, int(round(cue_s * sfreq)))]
    events = sorted(events + list(extra_events), key=lambda e: e.onset)
    return write_gdf(path, rows[:, :n_times] * scale, sfreq, BCI2A_LABELS, dims=dims, events=events, **options)
