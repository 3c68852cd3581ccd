"""EDF/BDF, GDF, FIF, EEGLAB ``.set``, BrainVision ``.vhdr`` through mne, in µV, with events from annotations.

mne returns volts for voltage channels; we multiply those by 1e6 and leave channels of other units
(e.g. ``misc`` without a unit, a BrainVision ``%`` channel) as they are, with their unit in ``ch_units``.
mne reads every EDF/BDF channel as volts, whatever its physical dimension: a channel whose dimension is not a
voltage (``degC``, ``%``, ``Ohm``) keeps the file's values and that unit, typed ``misc`` (mne's default type,
``eeg``, would make it look like EEG). Stim/trigger channels (BDF ``Status``, EDF ``TRIGGER``) are
not data: they are dropped, and when a file has no annotations its trigger codes become events
(one per run of a non-zero code, description = the code as text).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from bci_stream.core.units import MNE_VOLTAGE_TYPES, volts_per_unit
from bci_stream.io.errors import DataError, RecordingWarning
from bci_stream.io.extras import require
from bci_stream.io.events import events_from_codes
from bci_stream.io.recording import NO_UNIT, UNIT, Event, Recording

MNE_SUFFIXES = (".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".set", ".vhdr")


#: What mne writes in ``raw._orig_units`` for a unit it does not know (BIDS' "not available").
_MNE_UNKNOWN_UNIT = "n/a"
#: The labels of the EDF+/BDF+ annotation signals (mne reads them as annotations, not as channels).
_EDF_ANNOTATIONS = ("EDF Annotations", "BDF Annotations")


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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            raw = readers[suffix](path, preload=True, verbose="warning")
        except Exception as exc:  # noqa: BLE001 - a corrupt file can make mne fail in any way
            raise DataError(f"cannot read {path} as a {suffix} file: {type(exc).__name__}: {exc}") from exc
    for w in caught:  # what mne says of the file (e.g. a truncated EDF) reaches the user, naming the file
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
        if unit == FIFF.FIFF_UNIT_V and not (own and volts_per_unit(own) is None):
            scale.append(1e6)
            units.append(UNIT)
            ch_types.append(types[i])
        else:  # not a voltage: as the file gives it (mne takes an EDF/BDF dimension it does not know as volts, x1)
            scale.append(1.0)
            units.append(own or _fiff_unit_name(FIFF, unit))
            ch_types.append("misc" if types[i] in MNE_VOLTAGE_TYPES else types[i])
    data = raw.get_data(picks=keep) * np.array(scale)[:, None]
    ch_names = [raw.ch_names[i] for i in keep]

    ann = raw.annotations
    events: list[Event] = []
    if len(ann):
        onsets = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time)
        for onset, dur, desc in zip(onsets, ann.duration, ann.description):
            if 0 <= onset < raw.n_times:
                events.append(Event(int(onset), int(round(float(dur) * sfreq)), str(desc)))
    elif stim:
        codes = raw.get_data(picks=[stim[0]])[0]
        events = events_from_codes(np.rint(codes).astype(np.int64))
    bads = [n for n in ch_names if n in set(raw.info["bads"])]  # a bad stim channel is dropped with it
    return data, sfreq, ch_names, events, {"ch_types": ch_types, "ch_units": units, "bad_channels": bads}


def _edf_dimensions(path: Path, ch_names: list[str]) -> dict[str, str]:
    """Each signal's physical dimension from an EDF/BDF header, by mne's channel name: by position when the header
    lists mne's channels (its ``EDF/BDF Annotations`` signals aside: mne renames duplicate or blank labels, e.g.
    ``C3`` twice → ``C3-0``, ``C3-1``), else by label (stripped, as mne names channels)."""
    with path.open("rb") as f:
        head = f.read(256)
        try:
            ns = int(head[252:256].decode("latin-1").strip())
        except ValueError:
            return {}
        block = f.read(ns * (16 + 80 + 8))
    labels = [block[16 * k:16 * (k + 1)].decode("latin-1").strip() for k in range(ns)]
    at = ns * (16 + 80)
    dims = [block[at + 8 * k:at + 8 * (k + 1)].decode("latin-1").strip() for k in range(ns)]
    signals = [(label, dim) for label, dim in zip(labels, dims) if label not in _EDF_ANNOTATIONS]
    if len(signals) == len(ch_names):
        return {name: dim for name, (_, dim) in zip(ch_names, signals)}
    return dict(zip(labels, dims))


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
