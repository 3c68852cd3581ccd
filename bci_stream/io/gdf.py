"""What bci-stream reads of a GDF file's header and event table itself, beside ``mne.io.read_raw_gdf``.

GDF (Schlögl, "GDF - A general dataformat for biosignals", arXiv cs/0608052) is the format of the Graz / BCI
Competition IV 2a and 2b recordings. mne (1.13) reads its samples, but:

* **units**: mne scales a channel by its physical dimension only for µV and mV (GDF 2.x dimension codes 4275, 4274)
  or a GDF 1.x dimension text starting with ``uV``; every other dimension is read as volts, x1 (a GDF 2.x one with a
  warning per channel). So a GDF 1.x channel in ``mV`` or any channel in ``nV`` reads 1000x too large and a
  temperature or dimensionless channel reads as EEG volts. :func:`gdf_channels` gives each channel's own dimension
  and the factor that puts mne's values right;
* **types**: mne types every GDF channel EEG (the format has no channel type): :func:`gdf_types` gives a channel the
  type its label implies by the rule that also calls a channel non-EEG by name
  (:func:`~bci_stream.core.channels.non_eeg_type`: ``EOG-left``, ``EOG-central``, ``EOG-right`` of a 2a file, ``VEOG``
  → ``eog``; ``ECG``, ``EMG1``, ``RESP``, ``GSR``, ``Temp``; ``AUX1`` → ``misc``);
* **events**: mne gives every event a duration of at least one sample (a mode-1 table has none, a mode-3 entry may
  say 0) and ignores the table's own event rate; :func:`gdf_events` reads the table as the file holds it: one
  :class:`~bci_stream.io.recording.Event` per entry, described by its type code in decimal (``"769"``), durations of
  0 where the file gives none, positions at the signal's rate;
* **overflow**: GDF reserves a channel's digital minimum and maximum for a saturated or missing sample. biosig reads
  every sample at or beyond them as NaN (its default overflow detection, which the BCI Competition IV 2a/2b
  descriptions rely on: the runs of those files are separated by missing samples, every channel at the digital
  minimum); mne reads the physical extreme (-100 µV in a 2a file). But many exporters fit each channel's physical
  range to its own data, so its peak samples sit at the extremes too, and a NaN makes calibrate leave out the
  trials around it. :func:`overflow_mask` tells the cases apart on the file's own digital samples: NaN where every
  channel sits at an extreme at once (missing) and in runs of :data:`SATURATION_S` or longer at one channel's
  extreme (saturated); other samples at an extreme stay data, with a warning that the range looks fitted to the
  data. :func:`mark_overflow` applies it; calibrate and evaluate treat the NaN as any non-finite sample.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from bci_stream.core.channels import non_eeg_type, shortlist
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


class GdfHeader(NamedTuple):
    """The parts of a GDF header bci-stream reads: one entry per channel in each list."""

    version: float
    labels: list[str]
    dims: list[str]  # physical dimension as the file writes it (GDF 2.x, blank text: the name of its code)
    volts: list[float | None]  # the size of one unit of the channel in volts; None: not a voltage or not known
    mne_gain: list[float]  # the factor mne applied to the file's physical values
    events_at: int  # byte offset of the event table
    digital: list[tuple[float, float]]  # digital (min, max): the values GDF reserves for overflow
    data_at: int  # byte offset of the first data record
    n_records: int
    n_samps: list[int]  # samples per record of each channel
    types: list[int]  # GDF data type code of each channel
    count_unknown: bool = False  # the header's record count is -1 (a recorder that did not close the file): counted


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
    if ns == 0 or len(var) < 256 * ns or n_records < -1:
        return None
    labels = [var[16 * k:16 * (k + 1)].split(b"\x00")[0].decode("latin-1").strip() for k in range(ns)]
    n_samps = list(struct.unpack_from(f"<{ns}i", var, 216 * ns))
    types = list(struct.unpack_from(f"<{ns}i", var, 220 * ns))
    if any(t not in _TYPE_BYTES for t in types):
        return None
    unknown = n_records == -1  # GDF's "unknown": the whole records the file holds (audit s69io F10: mne's EINVAL)
    if unknown and (record := sum(_TYPE_BYTES[t] * n for t, n in zip(types, n_samps))) > 0:
        n_records = max(0, (path.stat().st_size - n_bytes) // record)
    elif unknown:
        return None
    events_at = n_bytes + n_records * sum(_TYPE_BYTES[t] * n for t, n in zip(types, n_samps))
    width = 6 if version >= 1.9 else 8
    dmin, dmax = struct.unpack_from(f"<{ns}d" if version >= 1.9 else f"<{ns}q", var, 120 * ns), \
        struct.unpack_from(f"<{ns}d" if version >= 1.9 else f"<{ns}q", var, 128 * ns)
    layout = (events_at, [(float(a), float(b)) for a, b in zip(dmin, dmax)], n_bytes, n_records, n_samps, types)
    texts = [var[96 * ns + width * k:96 * ns + width * (k + 1)].split(b"\x00")[0].decode("latin-1").strip()
             for k in range(ns)]
    if version < 1.9:
        gains = [1e-6 if t[:2] == "uV" else 1.0 for t in texts]
        volts = [volts_per_unit(t) if t else None for t in texts]
        return GdfHeader(version, labels, texts, volts, gains, *layout, unknown)
    codes = struct.unpack_from(f"<{ns}H", var, 102 * ns)
    dims, volts = [], []
    for code, text in zip(codes, texts):
        size = _code_volts(code)
        if size is None and code == 0:  # no code: the text says it, if anything
            size = volts_per_unit(text) if text else None
        volts.append(size)
        dims.append(text or (_CODE_NAMES.get(code, f"GDF unit code {code}") if code else ""))
    return GdfHeader(version, labels, dims, volts, [_MNE_GAIN.get(c, 1.0) for c in codes], *layout, unknown)


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


#: numpy type of each GDF data type code (little-endian).
_NP_TYPES = {1: "<i1", 2: "<u1", 3: "<i2", 4: "<u2", 5: "<i4", 6: "<u4", 7: "<i8", 8: "<u8", 16: "<f4", 17: "<f8"}
#: How long a run of samples at one channel's digital extreme must last to be read as saturation (NaN): at least
#: :data:`SATURATION_MIN_SAMPLES` samples and this many seconds at the channel's own rate. A range fitted to the data
#: puts a channel's peak at its extreme for a sample or a few: on 2736 channels of real EEG (EEGMMIDB, EEGLAB,
#: BCI2000 files; 128-256 Hz) scaled to int16 over each channel's own min/max, the longest such run was 7 samples
#: (44 ms at 160 Hz, a flat peak of data stored at 1 µV resolution); an amplifier that saturates stays there longer.
SATURATION_S = 0.05
SATURATION_MIN_SAMPLES = 3


class Overflow(NamedTuple):
    """What :func:`overflow_mask` finds, on mne's time base (``[n_rows, n_times]``)."""

    nan: np.ndarray  # bool: samples read as NaN
    missing: int  # time points where every channel sits at a digital extreme at once (GDF's missing sample)
    saturated: int  # samples in runs at one channel's extreme (saturation), outside the missing time points
    kept: np.ndarray  # bool: isolated samples at an extreme, kept as data


def _records(path: Path, header: GdfHeader) -> np.ndarray | None:
    """The data records of ``path`` as the file stores them (memory-mapped): field ``c{k}`` holds channel ``k``'s
    digital samples of each record; None when the file is shorter than its header says."""
    record = np.dtype([(f"c{k}", _NP_TYPES[t], (n,)) for k, (t, n) in enumerate(zip(header.types, header.n_samps))
                       if n])
    if not header.n_records or path.stat().st_size < header.data_at + header.n_records * record.itemsize:
        return None
    return np.memmap(path, dtype=record, mode="r", offset=header.data_at, shape=(header.n_records,))


def _long_runs(mask: np.ndarray, n: int) -> np.ndarray:
    """The samples of ``mask`` (1-D bool) that are in runs of at least ``n`` consecutive True."""
    edges = np.flatnonzero(np.diff(mask, prepend=False, append=False))
    out = np.zeros(mask.shape, dtype=bool)
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start >= n:
            out[start:stop] = True
    return out


def overflow_mask(path: Path, header: GdfHeader, rows: list[int], n_times: int, sfreq: float) -> Overflow | None:
    """Which samples of the file's channels ``rows`` (mne's data channels, ``n_times`` samples at ``sfreq``) read
    as NaN, by the file's own digital samples (biosig's test: ``<=`` digital minimum or ``>=`` maximum):

    * **missing**: every channel of ``rows`` (those with a digital range) at an extreme at once, GDF's mark of a
      missing sample (the gaps between the runs of a BCI Competition IV 2a file); needs two channels or more;
    * **saturated**: a run at one channel's minimum or its maximum lasting :data:`SATURATION_S` (at least
      :data:`SATURATION_MIN_SAMPLES` samples), counted at the channel's own rate.

    Any other sample at an extreme is ``kept`` as data: it is the channel's peak in a file whose physical range was
    fitted to its data. A channel stored at a lower rate than ``sfreq`` is tested on its own samples, each covering
    the samples mne interpolates after it. None when the file's layout does not give ``n_times`` samples.

    The channels are read from the memory-mapped file one at a time and the outputs filled in place: beside the two
    bool outputs (together a quarter of the float64 data mne holds) the test needs one channel's temporaries."""
    per = n_times // header.n_records if header.n_records else 0
    records = _records(path, header) if per * header.n_records == n_times else None
    if records is None or any(header.n_samps[i] > per for i in rows):
        return None
    nan = np.zeros((len(rows), n_times), dtype=bool)
    kept = np.zeros_like(nan)
    every = np.ones(n_times, dtype=bool)  # every channel tested at an extreme at once
    tested = []
    for row, index in enumerate(rows):
        (lo, hi), n = sorted(header.digital[index]), header.n_samps[index]
        if not lo < hi or not n:
            continue
        samples = np.asarray(records[f"c{index}"])  # [n_records, n] digital samples, read from the file here
        at_lo, at_hi = (samples <= lo).reshape(-1), (samples >= hi).reshape(-1)
        need = max(SATURATION_MIN_SAMPLES, int(np.ceil(SATURATION_S * sfreq * n / per)))
        sat = _long_runs(at_lo, need)
        sat |= _long_runs(at_hi, need)
        at = np.logical_or(at_lo, at_hi, out=at_lo)
        del at_lo, at_hi
        if n < per:  # mne's sample j of a record is the file's sample j * n // per (it covers those mne interpolates)
            repeats = np.bincount(np.arange(per) * n // per, minlength=n)
            at, sat = (np.repeat(m.reshape(-1, n), repeats, axis=1).reshape(-1) for m in (at, sat))
        nan[row] = sat
        np.logical_and(at, ~sat, out=kept[row])
        every &= at
        tested.append(row)
    if len(tested) < 2:  # one channel alone is never "missing"
        every[:] = False
    n_missing = int(np.count_nonzero(every))
    if n_missing:
        data_too = ~every
        for row in tested:
            nan[row] |= every
            kept[row] &= data_too
    return Overflow(nan, n_missing, int(np.count_nonzero(nan)) - n_missing * len(tested), kept)


def mark_overflow(path: Path, header: GdfHeader, rows: list[int], data: np.ndarray, sfreq: float) -> None:
    """Set to NaN, in ``data`` (the channels ``rows`` of the file at ``sfreq``), the samples :func:`overflow_mask`
    reads as NaN, with a :class:`~bci_stream.io.errors.RecordingWarning` naming the file, how many samples (time
    points) and values (a sample on a channel), on which channels, and when the first is; another warning names the
    isolated samples at an extreme that are kept."""
    found = overflow_mask(path, header, rows, data.shape[1], sfreq)
    if found is None:
        return
    data[found.nan] = np.nan
    if found.nan.any():
        chans = [header.labels[rows[r]] for r in np.flatnonzero(found.nan.any(axis=1))]
        times = found.nan.any(axis=0)
        warnings.warn(f"{path.name}: {int(times.sum())} sample(s) ({int(found.nan.sum())} value(s) on {len(chans)} "
                      f"channel(s): {shortlist(chans, 6)}) read as NaN, the first at t={times.argmax() / sfreq:.3f} s, "
                      "as biosig reads them (mne reads the physical minimum/maximum): "
                      f"{found.missing} sample(s) with every channel at its digital minimum or maximum at once, "
                      "GDF's mark of a missing sample (the gaps between the runs of a BCI Competition IV file), and "
                      f"{found.saturated} value(s) in runs of at least {SATURATION_S * 1000:g} ms at one channel's "
                      "extreme (saturated)", RecordingWarning, stacklevel=3)
    if found.kept.any():
        chans = [header.labels[rows[r]] for r in np.flatnonzero(found.kept.any(axis=1))]
        first = found.kept.any(axis=0).argmax() / sfreq
        warnings.warn(f"{path.name}: {int(found.kept.sum())} isolated sample(s) on {len(chans)} channel(s) "
                      f"({shortlist(chans, 6)}), the first at t={first:.3f} s, reach their channel's digital minimum "
                      f"or maximum, neither on every channel at once nor for {SATURATION_S * 1000:g} ms: the physical "
                      "range looks fitted to the data; kept as data (biosig would read them as NaN)", RecordingWarning,
                      stacklevel=3)


def gdf_types(labels: list[str], types: list[str]) -> list[str]:
    """mne's channel ``types`` of a GDF file's channels, with the type a label implies where mne says ``eeg``
    (:func:`~bci_stream.core.channels.non_eeg_type`: ``EOG-left``, ``VEOG`` → ``eog``, ``ECG`` → ``ecg``, ``EMG1``
    → ``emg``, ``RESP`` → ``resp``, ``GSR`` → ``gsr``, ``AUX1`` → ``misc``). A label that names a trigger
    (``TRIG``, ``Marker``) on a channel mne reads as a signal is typed ``misc``: mne decides which GDF channels
    hold trigger codes (``STATUS``, ``TRIGGER``) and reads only those as codes."""
    out = []
    for label, kind in zip(labels, types):
        implied = non_eeg_type(label)
        out.append(kind if kind != "eeg" or implied is None else "misc" if implied == "stim" else implied)
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
