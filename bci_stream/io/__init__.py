"""Recordings from files: one :class:`Recording` type (µV), loaders for EDF/BDF/GDF/FIF/EEGLAB/BrainVision/BCI2000/
XDF/NPZ.

Nothing heavy is imported here: mne and pyxdf are imported by the loader that needs them.
"""

from bci_stream.core.channels import ch_name_key, non_eeg_reason, normalise_ch_name, pick_channels
from bci_stream.io.errors import ChannelError, DataError, LabelMapError, SfreqMismatchError
from bci_stream.io.labels import eegmmidb_label_map, eegmmidb_run, eegmmidb_task, labels_from_events
from bci_stream.io.load import events_summary, load_recording, load_recordings
from bci_stream.io.mne_formats import save_fif
from bci_stream.io.npz import save_npz
from bci_stream.io.recording import UNIT, UNLABELLED, Event, Recording
from bci_stream.io.xdf_writer import save_xdf

__all__ = [
    "UNIT", "UNLABELLED", "ChannelError", "DataError", "Event", "LabelMapError", "Recording",
    "SfreqMismatchError", "ch_name_key", "eegmmidb_label_map", "eegmmidb_run", "eegmmidb_task",
    "events_summary", "labels_from_events", "load_recording", "load_recordings", "non_eeg_reason", "normalise_ch_name",
    "pick_channels", "save_fif", "save_npz", "save_xdf",
]
