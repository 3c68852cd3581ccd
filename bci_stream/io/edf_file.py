"""What bci-stream reads of an EDF/BDF file itself, beside ``mne.io.read_raw_edf`` / ``read_raw_bdf``.

mne keeps only the units BIDS knows (``degC`` becomes ``n/a``) and truncates a trigger channel's physical values to
integers (a code 2 stored as 1.99998 reads 1). So the EDF/BDF reader (:mod:`bci_stream.io.mne_formats`) reads from
the file's own header each signal's label, physical dimension and layout (:func:`_edf_header`), each channel's
dimension by mne's channel name (:func:`_edf_dimensions`) and the factor that corrects mne's scaling of it
(:func:`edf_channels`: mne scales only ``uV``/``µV`` and ``mV`` spelt exactly so, and takes every other dimension as
volts, ``nV``, ``UV`` and ``mv`` included), and a trigger channel's physical values from its digital
samples (:func:`_edf_signal`, used by :mod:`bci_stream.io.trigger_channels`). Numbers are parsed as mne parses them
(up to the first NUL, a comma as the decimal point); where a header number or the file's layout does not parse or
does not match what mne read, these give None and mne's reading stands.
"""

from __future__ import annotations

import math

from pathlib import Path
from typing import NamedTuple

import numpy as np

from bci_stream.core.units import volts_per_unit

#: The labels of the EDF+/BDF+ annotation signals (mne reads them as annotations, not as channels).
_EDF_ANNOTATIONS = ("EDF Annotations", "BDF Annotations")


class _EdfLayout(NamedTuple):
    """The numbers of an EDF/BDF header: one entry per signal in each list (annotation signals too)."""

    n_bytes: int  # header size: where the first data record starts
    physical: list[tuple[float, float]]  # (min, max)
    digital: list[tuple[float, float]]
    n_samps: list[int]  # samples per data record
    record_s: float  # a data record's duration, seconds (NaN when it does not parse)


class _EdfHeader(NamedTuple):
    """What bci-stream reads of an EDF/BDF header: one entry per signal in each list (annotation signals too)."""

    labels: list[str]
    dims: list[str]  # physical dimension (``uV``, ``degC``, blank)
    layout: _EdfLayout | None  # None when a number does not parse as mne parses it


def _edf_field(text: str) -> str:
    """A numeric header field as mne reads it: up to the first NUL, a comma read as the decimal point."""
    return text.split("\x00")[0].replace(",", ".").strip()


def _seconds(text: str) -> float:
    """A header's duration field in seconds, NaN when it does not parse (it is no reason to drop the other numbers)."""
    try:
        return float(_edf_field(text))
    except ValueError:
        return math.nan


def _edf_header(path: Path) -> _EdfHeader | None:
    """The EDF/BDF header of ``path``, or None when its signal count does not parse or is not positive (then mne
    refuses the file). Labels and dimensions are read even when another number does not parse."""
    with path.open("rb") as f:
        head = f.read(256).decode("latin-1")
        try:
            ns = int(_edf_field(head[252:256]))
        except ValueError:
            return None
        if ns <= 0:
            return None
        fields = f.read(ns * 256).decode("latin-1")

    def column(at: int, width: int = 8) -> list[str]:  # one field per signal, from character ``at`` on
        return [fields[at + width * k:at + width * (k + 1)].strip() for k in range(ns)]

    at = ns * (16 + 80)  # label, transducer; then dimension, 4 ranges, prefiltering (80), samples
    try:
        pmin, pmax, dmin, dmax = ([float(_edf_field(v)) for v in column(at + ns * 8 * j)] for j in range(1, 5))
        layout = _EdfLayout(int(_edf_field(head[184:192])), list(zip(pmin, pmax)), list(zip(dmin, dmax)),
                            [int(_edf_field(v)) for v in column(at + ns * (5 * 8 + 80))], _seconds(head[244:252]))
    except ValueError:
        layout = None
    return _EdfHeader(column(0, 16), column(at), layout)


def _edf_signal(path: Path, index: int, n_times: int) -> np.ndarray | None:
    """The physical values of the ``index``-th signal of an EDF/BDF file (``EDF/BDF Annotations`` signals not
    counted, as mne counts channels), each sample held until the next at the file's fastest rate, as mne reads a
    slower stim channel; None when the file's layout does not give ``n_times`` samples (mne's values are used)."""
    header = _edf_header(path)
    layout = header.layout if header else None
    if layout is None:
        return None
    signals = [k for k, label in enumerate(header.labels) if label not in _EDF_ANNOTATIONS]
    if index >= len(signals) or not layout.n_samps[signals[index]]:
        return None
    k = signals[index]
    per_record = layout.n_samps
    width = 3 if path.suffix.lower() == ".bdf" else 2  # bytes per sample
    pmin, pmax = layout.physical[k]
    dmin, dmax = layout.digital[k]
    record = sum(per_record) * width
    n_records = (path.stat().st_size - layout.n_bytes) // record  # mne's count: the header's may be wrong or -1
    if n_records <= 0 or dmax == dmin:
        return None
    body = np.memmap(path, dtype=np.uint8, mode="r", offset=layout.n_bytes, shape=(n_records, record))
    start = sum(per_record[:k]) * width  # only these bytes of each record are read
    raw = body[:, start:start + per_record[k] * width].reshape(n_records, per_record[k], width).astype(np.int64)
    digital = raw[..., 0] | raw[..., 1] << 8 | (raw[..., 2] << 16 if width == 3 else 0)
    digital -= np.where(digital >= 1 << (8 * width - 1), 1 << (8 * width), 0)  # little-endian two's complement
    fastest = max(per_record[j] for j in signals)  # as mne's length: the annotation signals not counted
    digital = digital[:, (np.arange(fastest) * per_record[k]) // fastest].ravel()  # sample-and-hold
    if digital.size != n_times:
        return None
    return (digital - dmin) * ((pmax - pmin) / (dmax - dmin)) + pmin


def _edf_dimensions(path: Path, ch_names: list[str]) -> dict[str, str]:
    """Each signal's physical dimension from an EDF/BDF header, by mne's channel name: by position when the header
    lists mne's channels (its ``EDF/BDF Annotations`` signals aside: mne renames duplicate or blank labels, e.g.
    ``C3`` twice → ``C3-0``, ``C3-1``), else by label (stripped, as mne names channels)."""
    header = _edf_header(path)
    if header is None:
        return {}
    signals = [(label, dim) for label, dim in zip(header.labels, header.dims) if label not in _EDF_ANNOTATIONS]
    if len(signals) == len(ch_names):
        return {name: dim for name, (_, dim) in zip(ch_names, signals)}
    return dict(zip(header.labels, header.dims))


#: mne's scaling of an EDF/BDF dimension (``mne.io.edf.edf._read_edf_header``): these texts exactly (the micro sign,
#: the Greek mu, Shift-JIS's mu read as Latin-1, ``u``); any other dimension is read as volts (x1).
_MNE_EDF_GAIN = {"\u00b5V": 1e-6, "\u03bcV": 1e-6, "\x83\xcaV": 1e-6, "uV": 1e-6, "mV": 1e-3}


def edf_channels(path: Path, ch_names: list[str]) -> list[tuple[str, float, bool]] | None:
    """Per channel of mne's ``ch_names`` (as :func:`~bci_stream.io.gdf.gdf_channels`): its dimension, the factor
    that corrects mne's value, and whether it is a voltage. A voltage's factor turns mne's value into volts (``nV``:
    1e-9, as mne read it x1; ``UV``: 1e-6); another channel's gives the file's own value; a blank dimension keeps
    mne's reading (volts, factor 1). None when the header does not name every channel (mne's reading stands)."""
    dims = _edf_dimensions(path, ch_names)
    if any(name not in dims for name in ch_names):
        return None
    out: list[tuple[str, float, bool]] = []
    for name in ch_names:
        dim = dims[name].strip()
        gain = _MNE_EDF_GAIN.get(dim, 1.0)
        size = 1e-6 if dim == "\x83\xcaV" else volts_per_unit(_utf8(dim)) if dim else None
        out.append((dim, size / gain, True) if size is not None else (dim, 1.0 / gain, not dim))
    return out


def _utf8(dim: str) -> str:
    """A dimension read as Latin-1 (as mne reads the header) that a writer put in UTF-8 (``μV`` read ``Î¼V``),
    decoded."""
    try:
        return dim.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return dim


def edf_rates_note(path: Path, stim: set[str]) -> str | None:
    """A warning when the file's signals (annotation signals and trigger channels ``stim`` aside) are sampled at
    different rates: mne reads every one at the fastest, the others interpolated (a 256-Hz EEG beside a 512-Hz
    accelerometer read at 512 Hz, so a model calibrated on it expects 512 Hz of its 256-Hz amplifier; audit s69io
    F5). None when they share one rate or the header does not parse."""
    header = _edf_header(path)
    if header is None or header.layout is None:
        return None
    record_s = header.layout.record_s
    rates: dict[float, list[str]] = {}
    for label, n in zip(header.labels, header.layout.n_samps):
        if label not in _EDF_ANNOTATIONS and label not in stim and n > 0 and record_s > 0:
            rates.setdefault(n / record_s, []).append(label)
    if len(rates) < 2:
        return None
    listed = "; ".join(f"{', '.join(names[:4])}{' ...' if len(names) > 4 else ''} at {rate:g} Hz"
                       for rate, names in sorted(rates.items()))
    return (f"{path.name}: its signals are sampled at different rates ({listed}): mne reads every one at the fastest, "
            f"{max(rates):g} Hz, the slower ones interpolated, so a model made from it expects {max(rates):g} Hz: if "
            "the EEG is the slower, save a copy without the faster channels (mne: read_raw_edf(..., exclude=[...]), "
            "then export) and use that")
