"""EDF/BDF, GDF, FIF, EEGLAB ``.set``, BrainVision ``.vhdr`` through mne, in µV, with events from annotations.

mne returns volts for voltage channels; we multiply those by 1e6 and leave channels of other units
(e.g. ``misc`` without a unit, a BrainVision ``%`` channel) as they are, with their unit in ``ch_units``.
mne reads every EDF/BDF channel as volts, whatever its physical dimension: a channel whose dimension is not a
voltage (``degC``, ``%``, ``Ohm``) keeps the file's values and that unit, typed ``misc`` (mne's default type,
``eeg``, would make it look like EEG). Stim/trigger channels (BDF ``Status``, EDF ``TRIGGER``) are
not data: they are dropped, and when a file has no annotations its trigger codes become events: see
:func:`trigger_codes` for which channel and which bits. GDF files: each channel's dimension (mne scales only µV and
mV), the non-EEG channels' types (by label) and the event table (durations as the file gives them; none: the trigger
channel's codes) are read from the file itself, and a missing or saturated sample (at its channel's digital minimum
or maximum on every channel at once, or for 50 ms) reads NaN: see :mod:`bci_stream.io.gdf`. BrainVision files: each
channel's unit (from the header) and type (by label), and markers of size 1 as points: see
:mod:`bci_stream.io.brainvision`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from bci_stream.core.units import MNE_VOLTAGE_TYPES, volts_per_unit
from bci_stream.io.brainvision import brainvision_channels, brainvision_types, point_markers
from bci_stream.io.errors import DataError, RecordingWarning
from bci_stream.io.extras import require
from bci_stream.io.fif_kind import not_raw_hint
from bci_stream.io.events import events_from_codes
from bci_stream.io.gdf import gdf_channels, gdf_events, gdf_types, mark_overflow, read_gdf_header
from bci_stream.io.recording import NO_UNIT, UNIT, Event, Recording

MNE_SUFFIXES = (".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".set", ".vhdr")


#: What mne writes in ``raw._orig_units`` for a unit it does not know (BIDS' "not available").
_MNE_UNKNOWN_UNIT = "n/a"
#: The labels of the EDF+/BDF+ annotation signals (mne reads them as annotations, not as channels).
_EDF_ANNOTATIONS = ("EDF Annotations", "BDF Annotations")
#: mne's own EDF/BDF trigger labels (its ``stim_channel="auto"``), any case: a stim channel whatever it holds.
_MNE_TRIGGER_LABELS = ("status", "trigger")
#: Other usual labels of an EDF/BDF trigger channel, any case (mne alone reads them as EEG): a stim channel only when
#: the signal looks like one (see :func:`_edf_stim_channels`), else data.
_OTHER_TRIGGER_LABELS = ("trig", "stim", "sti 014", "sti014", "sti101", "sti 101")
#: The channel-type prefix ``mne.export.export_raw(..., add_ch_type=True)`` writes before a stim channel's name
#: (``"STIM STI 014"``; ``"EEG Fz"`` for EEG): such a label is a trigger label as those above.
_MNE_STIM_PREFIX = re.compile(r"^stim\s+(?=\S)", re.IGNORECASE)


def _other_trigger(label: str) -> bool:
    """Whether ``label`` (lower case) is one of :data:`_OTHER_TRIGGER_LABELS` or carries mne.export's ``STIM``
    prefix."""
    return label in _OTHER_TRIGGER_LABELS or _MNE_STIM_PREFIX.match(label) is not None


def _edf_stim_channels(path: Path) -> list[str] | str:
    """The labels of ``path``'s trigger channels, for mne's ``stim_channel``: mne's own (``Status``, ``Trigger``) and
    each signal labelled as in :data:`_OTHER_TRIGGER_LABELS` whose physical dimension is not a voltage (blank,
    ``Boolean``, ``-``: a voltage one is an EEG or analog channel) and that has no more samples per record than the
    fastest data signal (mne takes its sfreq from the data signals but its length from the fastest). ``"auto"``
    (mne's rule) when there is no such signal or the header's numbers do not parse."""
    try:
        header = _edf_header(path)
    except OSError:
        return "auto"
    if header is None or header.layout is None:
        return "auto"
    lowered = [label.lower() for label in header.labels]
    known = _MNE_TRIGGER_LABELS + _OTHER_TRIGGER_LABELS
    fastest = max((n for n, label, low in zip(header.layout.n_samps, header.labels, lowered)
                   if low not in known and not _other_trigger(low) and label not in _EDF_ANNOTATIONS), default=0)
    other = [label for label, low, dim, n in zip(header.labels, lowered, header.dims, header.layout.n_samps)
             if _other_trigger(low) and volts_per_unit(dim) is None and n <= fastest]
    if not other:
        return "auto"
    return [label for label, low in zip(header.labels, lowered) if low in _MNE_TRIGGER_LABELS] + other


def _read_raw(path: Path):
    mne = require("mne", f"reading {path.suffix} files")

    suffix = "".join(path.suffixes[-2:]).lower() if path.name.lower().endswith(".fif.gz") else path.suffix.lower()
    readers = {
        ".edf": mne.io.read_raw_edf,
        ".bdf": mne.io.read_raw_bdf,
        ".gdf": mne.io.read_raw_gdf,
        ".fif": mne.io.read_raw_fif,
        ".fif.gz": mne.io.read_raw_fif,
        ".set": mne.io.read_raw_eeglab,
        ".vhdr": mne.io.read_raw_brainvision,
    }
    options = {"stim_channel": _edf_stim_channels(path)} if suffix in (".edf", ".bdf") else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            raw = readers[suffix](path, preload=True, verbose="warning", **options)
        except Exception as exc:  # noqa: BLE001 - a corrupt file can make mne fail in any way
            why = f"{type(exc).__name__}: {exc}{not_raw_hint(path, exc) if suffix.startswith('.fif') else ''}"
            raise DataError(f"cannot read {path} as a {suffix} file: {why}") from exc
    for w in caught:  # what mne says of the file (e.g. a truncated EDF) reaches the user, naming the file
        if suffix == ".gdf" and str(w.message).startswith("Unsupported physical dimension"):
            continue  # read_mne reads the dimension itself (bci_stream.io.gdf)
        if issubclass(w.category, (RuntimeWarning, UserWarning)):
            warnings.warn(f"{path.name}: {w.message}", RecordingWarning, stacklevel=3)
    return raw


def read_mne(path: Path) -> tuple[np.ndarray, float, list[str], list[Event], dict]:
    """Data ``[n_chans, n_times]`` in µV (voltage channels; others in their own unit), sfreq, channel names as the
    file gives them, events, and ``{"ch_types": [...], "ch_units": [...], "bad_channels": [...]}`` (mne's type of
    each channel, the unit of each row of the data, the channels the file marks bad: ``info['bads']``)."""
    FIFF = require("mne.io.constants", f"reading {path.suffix} files").FIFF

    raw = _read_raw(path)
    sfreq = float(raw.info["sfreq"])
    types = raw.get_channel_types()
    gdf = read_gdf_header(path) if path.suffix.lower() == ".gdf" else None
    if gdf is not None and len(gdf.labels) != len(raw.ch_names):
        gdf = None  # not the channels mne read: mne's reading stands
    dims = gdf_channels(gdf) if gdf is not None else None  # GDF, BrainVision: each channel's unit from the file
    vhdr = path.suffix.lower() == ".vhdr"
    if gdf is not None:
        types = gdf_types(gdf.labels, types)
    elif vhdr:
        dims = brainvision_channels(path, raw)
        types = brainvision_types(raw.ch_names, types, dims)
    stim = [i for i, t in enumerate(types) if t == "stim"]
    keep = [i for i, t in enumerate(types) if t != "stim"]
    if not keep:
        raise DataError(f"{path} has no data channels (only stim channels {raw.ch_names})")
    orig = dict(getattr(raw, "_orig_units", None) or {})  # the file's own unit names (EDF/BDF, BrainVision)
    if _MNE_UNKNOWN_UNIT in orig.values() and path.suffix.lower() in (".edf", ".bdf"):
        header = _edf_dimensions(path, raw.ch_names)  # mne keeps only the units BIDS knows: "degC" becomes "n/a"
        orig = {k: header.get(k, v) if v == _MNE_UNKNOWN_UNIT else v for k, v in orig.items()}
    scale, units, ch_types = [], [], []
    for i in keep:
        name, unit = raw.ch_names[i], raw.info["chs"][i]["unit"]
        own = str(orig.get(name) or "").strip()
        fix, voltage = 1.0, not (own and volts_per_unit(own) is None)
        if dims is not None:  # mne scales only some units (GDF: uV, mV): the file's own unit decides
            own, fix, voltage = dims[i]
        if voltage and (unit == FIFF.FIFF_UNIT_V or dims is not None):
            scale.append(1e6 * fix)
            units.append(UNIT)
            ch_types.append(types[i])
        else:  # not a voltage: as the file gives it (mne takes an EDF/BDF dimension it does not know as volts, x1)
            scale.append(fix)
            units.append(own or _fiff_unit_name(FIFF, unit))
            ch_types.append("misc" if types[i] in MNE_VOLTAGE_TYPES else types[i])
    values = raw.get_data(picks=keep)
    data = values * np.array(scale)[:, None]
    if gdf is not None:
        mark_overflow(path, gdf, keep, data, sfreq)
    ch_names = [raw.ch_names[i] for i in keep]

    ann = raw.annotations
    events: list[Event] = []
    table = gdf_events(path, gdf, sfreq, raw.n_times) if gdf is not None else None
    if table:  # mne gives every GDF event >= 1 sample and drops the table's own rate; none: the trigger channel
        events = table
    elif len(ann):
        onsets = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time)
        for onset, dur, desc in zip(onsets, ann.duration, ann.description):
            if 0 <= onset < raw.n_times:
                events.append(Event(int(onset), int(round(float(dur) * sfreq)), str(desc)))
    elif stim:
        events = events_from_codes(trigger_codes(raw, path))
    if vhdr:  # a marker of size 1 is a point in time
        events = point_markers(events)
    bads = [n for n in ch_names if n in set(raw.info["bads"])]  # a bad stim channel is dropped with it
    return data, sfreq, ch_names, events, {"ch_types": ch_types, "ch_units": units, "bad_channels": bads}


#: The composite trigger channels of Neuromag FIF files, in the order ``mne.find_events`` looks for them (``STI101``
#: on newer systems, ``STI 014`` on older ones); ``STI 001`` ... are single trigger lines.
_COMPOSITE_STIM = ("STI101", "STI 014")
#: The trigger bits of a BioSemi ``Status`` channel (bits 16-23 are system flags).
_BIOSEMI_TRIGGER_MASK = 0xFFFF
#: How far from an integer a trigger channel's value may be before it is taken for an analog line.
_CODE_TOLERANCE = 0.25


def trigger_codes(raw, path: Path) -> np.ndarray:
    """The integer code per sample of the trigger channel of an mne ``raw`` read from ``path`` (the events of a
    file without annotations: one per run of a non-zero code, see :func:`~bci_stream.io.events.events_from_codes`).

    Rules (``mne.find_events``'s choice of channel and BioSemi mask; unlike its defaults, every change to another
    non-zero code is an event, as with ``consecutive=True``, and a one-sample trigger counts, ``shortest_event=1``):

    * **Which channel.** Neuromag's composite ``STI101`` or ``STI 014`` when present, else the first stim channel
      (FIF: as the file types it; EDF/BDF: a channel labelled ``Status`` or ``Trigger``, mne's own, or ``TRIG``,
      ``STIM``, ``STI 014``, ``STI014``, ``STI101``, ``STI 101``, or any label with mne.export's type prefix
      ``STIM `` (``STIM STI 014``), when its physical dimension is not a voltage (blank, ``Boolean``, ``-``) and it
      has no more samples per record than the fastest data channel; any case; such a label on a voltage channel is
      data). Other stim channels (e.g. the single lines ``STI 001`` ... beside ``STI 014``) are not read.
    * **BDF.** Every BDF trigger channel keeps bits 0-15. A BioSemi ``Status`` holds 24 bits: the trigger code in
      bits 0-15, system flags in bits 16-23 (16 new epoch, 20 CMS in range, 22 battery low, 17-19/21 speed mode),
      set and toggling in real recordings. mne keeps bits 0-16; we keep bits 0-15 (``mne.find_events(...,
      mask=2**16 - 1, mask_type="and")``, as mne's ``read_raw_bdf`` documents), so a flag never makes an event and a
      trigger 1 reads 1. A BDF trigger channel with codes from 65536 up loses those bits; a device that writes its
      codes in bits 8-15 gives codes x256 (``--labels 256=left``).
    * **Values.** EDF/BDF: the channel's physical values, computed from the file's digital samples and its
      physical/digital range (mne truncates them to integers, so a code 2 stored as 1.99998, as mne's own EDF export
      writes it, would read 1; a BioSemi ``Status`` has equal ranges: the value is the 24-bit word). When the
      file's header or layout is not one this reader follows, mne's values are used, with a
      :class:`RecordingWarning` naming the file and channel (codes may be truncated). Each sample rounds to the
      nearest integer; a run of the same code is one event, however short (one sample included). A channel with
      values further than 0.25 from an integer (an analog line, noise) is read the same way, with a
      :class:`RecordingWarning`: its noise makes spurious events. A negative code (a Neuromag ``STI101`` past
      32767, read as int16) stays negative.
    """
    names = raw.ch_names
    types = raw.get_channel_types()
    stims = {_MNE_STIM_PREFIX.sub("", n): n for n, t in zip(names, types) if t == "stim"}  # "STIM STI 014" too
    composite = [stims[n] for n in _COMPOSITE_STIM if n in stims]
    name = composite[0] if composite else names[types.index("stim")]
    values = raw.get_data(picks=[name])[0]
    if path.suffix.lower() in (".edf", ".bdf"):  # mne truncates an EDF code 1.99998 to 1: read the file's samples
        own = _edf_signal(path, names.index(name), raw.n_times)
        if own is None:
            warnings.warn(f"{path.name}: trigger channel {name!r} is read as mne reads it (this reader does not follow "
                          f"the file's header or layout), so its codes may be truncated: a code stored as 1.9999 "
                          f"reads 1", RecordingWarning, stacklevel=3)
        values = values if own is None else own
    codes = np.rint(values)
    off = np.abs(values - codes) > _CODE_TOLERANCE
    if off.any():
        example = values[np.flatnonzero(off)[0]]
        warnings.warn(f"{path.name}: trigger channel {name!r} holds values that are not integer codes ({off.sum()} "
                      f"samples more than {_CODE_TOLERANCE} from an integer, e.g. {example:.3g}): each is rounded, "
                      f"so noise on an analog line makes spurious events", RecordingWarning, stacklevel=3)
    codes = codes.astype(np.int64)
    if path.suffix.lower() == ".bdf":
        codes &= _BIOSEMI_TRIGGER_MASK
    return codes


class _EdfLayout(NamedTuple):
    """The numbers of an EDF/BDF header: one entry per signal in each list (annotation signals too)."""

    n_bytes: int  # header size: where the first data record starts
    physical: list[tuple[float, float]]  # (min, max)
    digital: list[tuple[float, float]]
    n_samps: list[int]  # samples per data record


class _EdfHeader(NamedTuple):
    """What bci-stream reads of an EDF/BDF header: one entry per signal in each list (annotation signals too)."""

    labels: list[str]
    dims: list[str]  # physical dimension (``uV``, ``degC``, blank)
    layout: _EdfLayout | None  # None when a number does not parse as mne parses it


def _edf_field(text: str) -> str:
    """A numeric header field as mne reads it: up to the first NUL, a comma read as the decimal point."""
    return text.split("\x00")[0].replace(",", ".").strip()


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
                            [int(_edf_field(v)) for v in column(at + ns * (5 * 8 + 80))])
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
    k, per_record, width = signals[index], layout.n_samps, 3 if path.suffix.lower() == ".bdf" else 2
    (pmin, pmax), (dmin, dmax) = layout.physical[k], layout.digital[k]
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


def _fiff_units(FIFF) -> dict[int, str]:
    """FIFF unit codes and the unit names bci-stream gives them."""
    return {FIFF.FIFF_UNIT_NONE: NO_UNIT, FIFF.FIFF_UNIT_UNITLESS: NO_UNIT, FIFF.FIFF_UNIT_CEL: "°C",
            FIFF.FIFF_UNIT_T: "T", FIFF.FIFF_UNIT_T_M: "T/m", FIFF.FIFF_UNIT_MOL: "mol", FIFF.FIFF_UNIT_S: "S",
            FIFF.FIFF_UNIT_PX: "px", FIFF.FIFF_UNIT_RAD: "rad", FIFF.FIFF_UNIT_SEC: "s", FIFF.FIFF_UNIT_A: "A",
            FIFF.FIFF_UNIT_OHM: "Ohm", FIFF.FIFF_UNIT_HZ: "Hz"}


def _fiff_unit_name(FIFF, code: int) -> str:
    """A FIFF unit code as a unit name (``FIFF_UNIT_CEL`` → ``"°C"``); :data:`NO_UNIT` for none or unitless."""
    names = _fiff_units(FIFF)
    if code in names:
        return names[code]
    text = str(getattr(code, "_name", "") or "")  # mne's named int: "FIFF_UNIT_V_M2"
    return text.removeprefix("FIFF_UNIT_").lower() or NO_UNIT


def _fiff_unit_code(FIFF, unit: str) -> int | None:
    """The FIFF code of a non-voltage unit name (``"degC"``, ``"°C"``, ``"Ohm"``), or None when FIFF has none."""
    key = unit.strip().lower()
    aliases = {"degc": "°c", "celsius": "°c", "ohms": "ohm", "sec": "s", "seconds": "s", "": NO_UNIT}
    key = aliases.get(key, key)
    codes = {name.lower(): code for code, name in reversed(_fiff_units(FIFF).items())}
    return codes.get(key)


def to_mne_raw(recording: Recording, *, ch_type: str = "eeg"):
    """An ``mne.io.RawArray`` of ``recording`` with its channel types, units and bad channels, and its events as
    annotations.

    Voltage channels (unit :data:`UNIT`) go to volts, as mne wants; a channel in another unit keeps its values,
    typed ``misc`` where its type is a voltage type, with the FIFF code of its unit (a unit FIFF has no code for,
    e.g. ``"g"``, is written unitless, with a warning naming the channel). ``ch_type`` is the type of every channel
    when the recording declares none; a declared type mne does not know becomes ``misc``.
    """
    mne = require("mne", "writing FIF files")
    FIFF = require("mne.io.constants", "writing FIF files").FIFF

    n_chans = len(recording.ch_names)
    known = mne.io.get_channel_type_constants()
    types = [t.strip().lower() for t in recording.ch_types] if recording.ch_types else [ch_type] * n_chans
    types = [t if t in known and t != "stim" else "misc" for t in types]
    units = list(recording.ch_units) if recording.ch_units else [UNIT] * n_chans
    voltage = np.array([u == UNIT for u in units])
    types = [t if v or t not in MNE_VOLTAGE_TYPES else "misc" for t, v in zip(types, voltage)]
    info = mne.create_info(list(recording.ch_names), recording.sfreq, ch_types=types, verbose="error")
    for i in np.flatnonzero(voltage):  # in volts whatever the type (mne gives a misc channel no unit)
        info["chs"][i]["unit"], info["chs"][i]["unit_mul"] = FIFF.FIFF_UNIT_V, FIFF.FIFF_UNITM_NONE
    for i in np.flatnonzero(~voltage):
        code = _fiff_unit_code(FIFF, units[i])
        if code is None:
            warnings.warn(f"channel {recording.ch_names[i]!r}: unit {units[i]!r} has no FIFF code; written unitless",
                          RecordingWarning, stacklevel=2)
            code = FIFF.FIFF_UNIT_NONE
        info["chs"][i]["unit"] = code
    info["bads"] = [n for n in recording.bad_channels if n in recording.ch_names]
    raw = mne.io.RawArray(recording.data * np.where(voltage, 1e-6, 1.0)[:, None], info, verbose="error")
    if recording.events:
        ev = recording.events
        raw.set_annotations(mne.Annotations(
            onset=[e.onset / recording.sfreq for e in ev], duration=[e.duration / recording.sfreq for e in ev],
            description=[e.description for e in ev]))
    return raw


def save_fif(recording: Recording, path: str | Path) -> Path:
    """Write ``recording`` as a FIF raw file (double precision, so it round-trips exactly, channel types and units
    included: see :func:`to_mne_raw`)."""
    path = Path(path)
    to_mne_raw(recording).save(path, fmt="double", overwrite=True, verbose="error")
    return path
