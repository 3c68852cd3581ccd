"""Trigger (stim) channels of files without annotations: which channel holds the triggers and its integer codes.

A stim channel is not data: :func:`~bci_stream.io.mne_formats.read_mne` drops it, and when the file has no
annotations its codes become the events (:func:`trigger_codes`). For EDF/BDF files mne alone takes only ``Status`` and
``Trigger`` for stim channels: :func:`_edf_stim_channels` tells mne which other signals are trigger channels (by
label, dimension and rate), and :func:`trigger_codes` reads an EDF/BDF trigger channel's values from the file's own
samples (:mod:`bci_stream.io.edf_file`), as mne truncates them.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from bci_stream.core.units import volts_per_unit
from bci_stream.io.edf_file import _EDF_ANNOTATIONS, _edf_header, _edf_signal
from bci_stream.io.errors import RecordingWarning

#: mne's own EDF/BDF trigger labels (its ``stim_channel="auto"``), any case: a stim channel whatever it holds.
_MNE_TRIGGER_LABELS = ("status", "trigger")
#: Other usual labels of an EDF/BDF trigger channel, any case (mne alone reads them as EEG): a stim channel only when
#: the signal looks like one (see :func:`_edf_stim_channels`), else data.
_OTHER_TRIGGER_LABELS = ("trig", "stim", "sti 014", "sti014", "sti101", "sti 101")
#: The channel-type prefix ``mne.export.export_raw(..., add_ch_type=True)`` writes before a stim channel's name
#: (``"STIM STI 014"``; ``"EEG Fz"`` for EEG): such a label is a trigger label as those above.
_MNE_STIM_PREFIX = re.compile(r"^stim\s+(?=\S)", re.IGNORECASE)
#: The composite trigger channels of Neuromag FIF files, in the order ``mne.find_events`` looks for them (``STI101``
#: on newer systems, ``STI 014`` on older ones); ``STI 001`` ... are single trigger lines.
_COMPOSITE_STIM = ("STI101", "STI 014")
#: The trigger bits of a BioSemi ``Status`` channel (bits 16-23 are system flags).
_BIOSEMI_TRIGGER_MASK = 0xFFFF
#: How far from an integer a trigger channel's value may be before it is taken for an analog line.
_CODE_TOLERANCE = 0.25


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
