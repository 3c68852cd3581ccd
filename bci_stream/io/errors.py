"""Errors (and the warning) of the data loaders. Each names the parameter, the rule and the bad value."""

from __future__ import annotations

from bci_stream.core.errors import ChannelError, DataError

__all__ = ["ChannelError", "DataError", "LabelMapError", "RecordingWarning", "SfreqMismatchError"]


class SfreqMismatchError(DataError):
    """Recordings loaded together have different sampling rates (we refuse; we never resample)."""


class LabelMapError(DataError):
    """A label mapping matches no event of the recording, or cannot label anything."""


class RecordingWarning(UserWarning):
    """Something the reader noticed in a file that still loads (e.g. fewer samples than its header says)."""
