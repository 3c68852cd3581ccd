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
:mod:`bci_stream.io.brainvision`. A file cut short (GDF, FIF, BrainVision): see :mod:`bci_stream.io.truncated`.

Reading is here (:func:`read_mne`); beside it: :mod:`bci_stream.io.trigger_channels` (which channel holds the
triggers, its codes), :mod:`bci_stream.io.edf_file` (what is read of an EDF/BDF file itself),
:mod:`bci_stream.io.fiff_units` (FIFF unit codes) and :mod:`bci_stream.io.fif_writer` (:func:`save_fif`,
:func:`to_mne_raw`, importable from here too).
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from pathlib import Path

import numpy as np

from bci_stream.core.channels import non_eeg_type
from bci_stream.core.units import MNE_VOLTAGE_TYPES, volts_per_unit
from bci_stream.io.brainvision import brainvision_channels, brainvision_types, point_markers
from bci_stream.io.edf_discontinuous import place_discontinuous, records_jump
from bci_stream.io.edf_file import _edf_dimensions, _edf_header, edf_channels, edf_rates_note
from bci_stream.io.errors import DataError, RecordingWarning
from bci_stream.io.events import trigger_events
from bci_stream.io.extras import require
from bci_stream.io.fif_kind import not_raw_hint
from bci_stream.io.fif_writer import save_fif, to_mne_raw
from bci_stream.io.fiff_units import _fiff_unit_name
from bci_stream.io.gdf import gdf_channels, gdf_events, gdf_types, mark_overflow, read_gdf_header
from bci_stream.io.recording import UNIT, Event
from bci_stream.io.trigger_channels import _edf_stim_channels, trigger_codes
from bci_stream.io.truncated import (MNE_EDF_TRUNCATED, GdfLayout, brainvision_marker_hint, brainvision_no_sample,
                                     brainvision_partial_sample, edf_header_hint, edf_truncation_note, eeglab_hint,
                                     fif_hint, gdf_header_hint, gdf_layout, gdf_truncation_error, gdf_truncation_note,
                                     gdf_whole_copy)

#: Names importable from here: the reader's, and those of the modules split from it that callers import from here.
__all__ = ["MNE_SUFFIXES", "RecordingWarning", "read_mne", "save_fif", "to_mne_raw", "trigger_codes",
           "_edf_dimensions", "_edf_header"]

MNE_SUFFIXES = (".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".set", ".vhdr")


#: What mne writes in ``raw._orig_units`` for a unit it does not know (BIDS' "not available").
_MNE_UNKNOWN_UNIT = "n/a"


def _gdf_layout(path: Path) -> GdfLayout | None:
    """The layout of the GDF file ``path`` when it holds fewer records than its header says or ends within its event
    table (:mod:`bci_stream.io.truncated`); else None."""
    header = read_gdf_header(path)
    layout = gdf_layout(path, header) if header is not None else None
    return layout if layout is not None and layout.truncated else None


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
    layout = _gdf_layout(path) if suffix == ".gdf" else None
    if layout is not None and layout.whole == 0:
        raise DataError(gdf_truncation_error(path, layout))
    if suffix == ".vhdr" and (empty := brainvision_no_sample(path)) is not None:
        raise DataError(f"cannot read {path} as a .vhdr file: {empty}")
    scratch = tempfile.TemporaryDirectory(prefix="bci-gdf-") if layout is not None else contextlib.nullcontext("")
    with warnings.catch_warnings(record=True) as caught, scratch as tmp:
        warnings.simplefilter("always")
        # a truncated GDF file: mne reads a copy of its header and whole records (mne fails on the file itself)
        source = gdf_whole_copy(path, layout, Path(tmp)) if layout is not None else path
        try:
            raw = readers[suffix](source, preload=True, verbose="warning", **options)
        except Exception as exc:  # noqa: BLE001 - a corrupt file can make mne fail in any way
            why = f"{type(exc).__name__}: {exc}"
            if suffix.startswith(".fif"):  # mne's error of a cut file names no cause (a split part missing does)
                why += not_raw_hint(path, exc) or ("" if isinstance(exc, FileNotFoundError) else fif_hint(path))
            elif suffix in (".edf", ".bdf", ".gdf"):  # mne's error of a header cut short names no cause either
                hint = edf_header_hint(path) if suffix != ".gdf" else gdf_header_hint(path)
                why = why.rstrip(". ") + hint if hint else why  # not ". ;"
            elif suffix == ".vhdr" and (hint := brainvision_marker_hint(path)):  # nor of a marker line cut short
                why = why.rstrip(". ") + hint
            elif suffix == ".set" and (hint := eeglab_hint(exc)):  # nor of a .set or .fdt cut short
                why = why.rstrip(". ") + hint
            raise DataError(f"cannot read {path} as a {suffix} file: {why}") from exc
    if layout is not None:
        warnings.warn(gdf_truncation_note(path, layout, raw.n_times / float(raw.info["sfreq"])), RecordingWarning,
                      stacklevel=3)
    for w in caught:  # what mne says of the file (e.g. a truncated EDF) reaches the user, naming the file
        if suffix == ".gdf" and str(w.message).startswith("Unsupported physical dimension"):
            continue  # read_mne reads the dimension itself (bci_stream.io.gdf)
        if suffix in (".edf", ".bdf") and "outside data range" in str(w.message) and records_jump(path):
            continue  # read_mne places them itself (bci_stream.io.edf_discontinuous), and says what it left out
        if suffix in (".edf", ".bdf") and str(w.message).startswith(MNE_EDF_TRUNCATED):
            if (note := edf_truncation_note(path)) is not None:  # the header's values and what was read
                warnings.warn(note, RecordingWarning, stacklevel=3)
                continue
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
    if gdf is not None and (layout := gdf_layout(path, gdf)) is not None and layout.truncated:
        gdf = gdf._replace(n_records=layout.whole)  # the records read (the event table, after them all, is lost)
    dims = gdf_channels(gdf) if gdf is not None else None  # GDF, BrainVision: each channel's unit from the file
    vhdr = path.suffix.lower() == ".vhdr"
    if gdf is not None:
        types = gdf_types(gdf.labels, types)
    elif vhdr:
        if (cut := brainvision_partial_sample(path)) is not None:
            warnings.warn(cut, RecordingWarning, stacklevel=2)
        dims = brainvision_channels(path, raw)
        types = brainvision_types(raw.ch_names, types, dims)
    elif path.suffix.lower() in (".edf", ".bdf"):
        dims = edf_channels(path, raw.ch_names)  # mne scales only uV, µV, mV spelt so (nV, UV, mv read as volts)
        types = [t if t != "eeg" or (kind := non_eeg_type(name)) in (None, "stim") else kind  # 'EOG Fp1': eog
                 for name, t in zip(raw.ch_names, types)]  # (EDF declares no type; mne says eeg of every one)
        if (note := edf_rates_note(path, {n for n, t in zip(raw.ch_names, types) if t == "stim"})) is not None:
            warnings.warn(note, RecordingWarning, stacklevel=2)
    stim = [i for i, t in enumerate(types) if t == "stim"]
    keep = [i for i, t in enumerate(types) if t != "stim"]
    header_dims = dims is not None and (gdf is not None or path.suffix.lower() in (".edf", ".bdf"))
    if header_dims and (blank := [raw.ch_names[i] for i in keep if not dims[i][0].strip()]):  # (s70sim F1)
        warnings.warn(f"{path.name}: {len(blank)} channel(s) have a blank physical dimension ({', '.join(blank[:6])}"
                      f"{' ...' if len(blank) > 6 else ''}): read as volts, as mne reads them, so a value of 50 is "
                      "50 V (5e7 µV); if they hold microvolts, give them the dimension uV (the header's 8 characters "
                      "per signal, e.g. with EDFbrowser's header editor)", RecordingWarning, stacklevel=2)
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
        if dims is not None:  # mne scales only some units (GDF, EDF: uV, mV): the file's own unit decides
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
        if ann.orig_time is None:  # onsets counted from the original sample 0: a cropped FIF without meas_date
            onsets = onsets - raw.first_samp  # (was 1 s late at first_samp 500 Hz x 1 s; audit s69io F2)
        for onset, dur, desc in zip(onsets, ann.duration, ann.description):
            if 0 <= onset < raw.n_times:
                events.append(Event(int(onset), int(round(float(dur) * sfreq)), str(desc)))
        if stim and (codes := trigger_events(trigger_codes(raw, path), sfreq)):
            warnings.warn(_trigger_passed_over(path, [raw.ch_names[i] for i in stim], codes, events), RecordingWarning,
                          stacklevel=2)
    elif stim:
        events = trigger_events(trigger_codes(raw, path), sfreq)
    if path.suffix.lower() in (".edf", ".bdf") and (cut := place_discontinuous(path, sfreq, raw.n_times, events)):
        events, note = cut  # EDF+D: records not back to back (mne reads them as continuous)
        warnings.warn(note, RecordingWarning, stacklevel=2)
    if vhdr:  # a marker of size 1 is a point in time
        events = point_markers(events)
    bads = [n for n in ch_names if n in set(raw.info["bads"])]  # a bad stim channel is dropped with it
    return data, sfreq, ch_names, events, {"ch_types": ch_types, "ch_units": units, "bad_channels": bads}


def _trigger_passed_over(path: Path, names: list[str], codes: list[Event], events: list[Event]) -> str:
    """The warning for a trigger channel with events in a file whose annotations are its events (audit s69io F6: an
    EDF+ export with one 'Recording starts' annotation lost every cue of its trigger channel without a word)."""
    kinds = sorted({e.description for e in codes})
    said = sorted({e.description for e in events})
    return (f"{path.name}: its trigger channel {', '.join(names)} holds {len(codes)} event(s) (codes "
            f"{', '.join(kinds[:10])}{' ...' if len(kinds) > 10 else ''}) that are not read: a file's annotations "
            f"are its events when it has any, and this one has {len(events)} ({', '.join(said[:5])}"
            f"{' ...' if len(said) > 5 else ''}); if the cues are on the trigger channel, remove the annotations "
            "(mne: raw.set_annotations(None), then save) to read them")
