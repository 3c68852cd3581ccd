"""Errors of the data loaders. Each names the parameter, the rule and the bad value."""

from __future__ import annotations

from bci_stream.errors import BciStreamError


class DataError(BciStreamError, ValueError):
    """A recording cannot be loaded as asked (unknown format, corrupt file, inconsistent options)."""


class ChannelError(DataError):
    """Asked-for channels are missing from (or ambiguous in) a recording, or recordings' channels differ."""


class SfreqMismatchError(DataError):
    """Recordings loaded together have different sampling rates (we refuse; we never resample)."""


class LabelMapError(DataError):
    """A label mapping matches no event of the recording, or cannot label anything."""
