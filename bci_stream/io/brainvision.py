"""BrainVision (``.vhdr`` header, ``.vmrk`` markers, ``.eeg`` samples: Brain Products' BrainVision Recorder) read
through mne, with what mne's reader leaves to us:

* **units**: each channel's unit is read from the header's ``[Channel Infos]`` (``Ch1=C3,,0.1,µV``: name, reference,
  resolution, unit; µV when it gives none, as the format says). mne scales only ``V``, ``mV``, ``µV``, ``uV``,
  ``nV`` to volts; a voltage written otherwise (``μV`` with the Greek mu, ``UV``, ``microvolts``) it reads x1 and
  types ``misc``: here it is a voltage, in µV, typed by its label (EEG unless the label names another sensor). A
  channel of another unit keeps the file's values in that unit (``%``, ``C``; ``µS``, which mne reads in siemens,
  reads in µS again).
* **types**: mne types a channel EOG only when it is labelled ``HEOGL``, ``HEOGR`` or ``VEOGb``; the others take the
  type their label implies (:func:`~bci_stream.io.gdf.gdf_types`: ``VEOG``, ``EOG`` → eog, ``ECG``/``EKG`` → ecg,
  ``EMG1`` → emg, ``Resp`` → resp), as in GDF files.
* **markers**: mne names a marker ``<type>/<description>`` (``Stimulus/S  1``, two spaces as Recorder writes it;
  ``New Segment/``, a recording pause, for every ``New Segment`` after the first). A marker of size 1 (what Recorder
  writes for a stimulus or response) is a point in time: its event has duration 0, like an EEGLAB or XDF marker, so
  a label map needs a label window (``train``'s ``data.label_window``) or takes the span to the next event
  (``evaluate``), rather than labelling one sample. A ``Response`` (a button of a response pad), a ``Comment`` (typed
  by the experimenter during the recording) or a ``SyncStatus`` marker (:data:`NON_STIMULUS_TYPES`) falls inside a
  trial: it neither starts nor ends one (:func:`non_stimulus`; ``evaluate``'s span runs on to the next stimulus,
  unmapped marker or pause).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bci_stream.core.units import volts_per_unit
from bci_stream.io.gdf import gdf_types
from bci_stream.io.recording import Event

#: The unit the BrainVision format implies when a channel gives none.
DEFAULT_UNIT = "µV"
#: The marker types (mne's ``<type>/`` prefix, any case) of BrainVision Recorder that mark no stimulus: a subject's
#: response, an experimenter's comment, the amplifier's sync status (``Sync On``/``Sync Off``).
NON_STIMULUS_TYPES = ("Response", "Comment", "SyncStatus")
_CHANNEL = re.compile(r"^\s*Ch(\d+)\s*=(.*)$", re.IGNORECASE | re.MULTILINE)


def _header_text(path: Path) -> str:
    """The ``.vhdr`` as text, decoded as mne decodes it: its ``Codepage`` (``ANSI`` is cp1252; default UTF-8), Latin-1
    when that fails."""
    raw = path.read_bytes()
    m = re.search(r"Codepage=(.+)", raw.decode("ascii", "ignore"), re.IGNORECASE)
    codepage = m.group(1).strip() if m else "utf-8"
    try:
        return raw.decode("cp1252" if codepage.upper() == "ANSI" else codepage)
    except (UnicodeDecodeError, LookupError):
        return raw.decode("latin-1")


def vhdr_units(path: Path) -> dict[int, str]:
    """Each channel's unit as ``path``'s ``[Channel Infos]`` writes it, by channel number from 1 (:data:`DEFAULT_UNIT`
    where the entry gives none); empty when the header has no such section."""
    text = _header_text(path)
    start = re.search(r"^\s*\[Channel Infos\]\s*$", text, re.IGNORECASE | re.MULTILINE)
    if start is None:
        return {}
    section = text[start.end():]
    end = re.search(r"^\s*\[", section, re.MULTILINE)
    section = section[:end.start()] if end else section
    out = {}
    for number, props in _CHANNEL.findall(section):
        fields = props.split(",")
        unit = fields[3].replace("\xc2", "").strip() if len(fields) > 3 else ""
        out[int(number)] = unit or DEFAULT_UNIT
    return out


def brainvision_channels(path: Path, raw) -> list[tuple[str, float, bool]] | None:
    """Per channel of mne's ``raw`` read from ``path``: the header's unit, the factor that turns mne's value into volts
    (a voltage unit) or into the file's own value (another unit), and whether it is a voltage; the same triple as
    :func:`~bci_stream.io.gdf.gdf_channels`. mne's value is the file's value times the channel's ``range`` (its unit's
    size, 1 for a unit it does not know). None when the header's channels are not mne's (mne's reading stands)."""
    units = vhdr_units(path)
    if sorted(units) != list(range(1, len(raw.ch_names) + 1)):
        return None
    out = []
    for number, ch in enumerate(raw.info["chs"], start=1):
        unit, size = units[number], volts_per_unit(units[number])
        rng = float(ch["range"]) or 1.0
        out.append((unit, (1.0 if size is None else size) / rng, size is not None))
    return out


def brainvision_types(names: Sequence[str], types: Sequence[str], dims: Sequence[tuple[str, float, bool]] | None
                      ) -> list[str]:
    """mne's channel ``types`` with a voltage channel mne typed ``misc`` (a unit it does not know, ``dims``) typed
    ``eeg``, then each ``eeg`` channel given the type its label implies (:func:`~bci_stream.io.gdf.gdf_types`)."""
    fixed = [("eeg" if kind == "misc" and dims is not None and dims[i][2] else kind) for i, kind in enumerate(types)]
    return gdf_types(list(names), fixed)


def point_markers(events: Sequence[Event]) -> list[Event]:
    """``events`` with every one of one sample (a marker of size 1: a point in time) given duration 0."""
    return [replace(e, duration=0) if e.duration == 1 else e for e in events]


def non_stimulus(description: str) -> bool:
    """Whether ``description`` is mne's name of a BrainVision marker of a type of :data:`NON_STIMULUS_TYPES`
    (``Response/R  1``, ``Comment/ball missed``, ``SyncStatus/Sync On``): it happens within a trial, not at a cue."""
    kind, slash, _ = str(description).partition("/")
    return bool(slash) and kind.strip().lower() in {t.lower() for t in NON_STIMULUS_TYPES}


__all__ = ["DEFAULT_UNIT", "NON_STIMULUS_TYPES", "brainvision_channels", "brainvision_types", "non_stimulus",
           "point_markers", "vhdr_units"]
