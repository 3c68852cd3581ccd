"""Errors of the data loaders. Each names the parameter, the rule and the bad value."""

from __future__ import annotations

from bci_stream.core.errors import ChannelError, DataError

__all__ = ["ChannelError", "DataError", "LabelMapError", "SfreqMismatchError"]


class SfreqMismatchError(DataError):
    """Recordings loaded together have different sampling rates (we refuse; we never resample)."""


class LabelMapError(DataError):
    """A label mapping matches no event of the recording, or cannot label anything."""
