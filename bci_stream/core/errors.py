"""Exceptions of bci-stream. Each names the parameter, the rule and the bad value."""

from __future__ import annotations


class BciStreamError(Exception):
    """Base class for every error bci-stream raises on purpose."""


class ModelError(BciStreamError):
    """A model file or model card is missing, corrupt or inconsistent."""


class ModelNotFoundError(ModelError):
    """No model of that name (or version) in the registry."""


class ModelUnavailableError(BciStreamError):
    """A model could not be loaded now for a reason of the server that a retry can cure (out of memory or file
    descriptors, a busy file, an interrupted or failed read: :mod:`bci_stream.core.load_errors`); the model itself
    is not known to be at fault, so this is not a :class:`ModelError`."""


class PlacementError(BciStreamError):
    """A decoder's placement cannot be met: no node has its resources, its node is gone, or the backend does not
    place (the request is refused; after a node loss the decoder goes to ``error`` with this message)."""


class StreamError(BciStreamError):
    """An LSL stream could not be found, or does not match what the model expects."""


class StreamNotFoundError(StreamError):
    """No stream matched the selector within the timeout."""


class StreamMismatchError(StreamError):
    """The stream's channel count, rate, format or labels do not match the model card."""


class CommandError(BciStreamError):
    """A command to a decoder could not be carried out; the message says why."""


class DecoderNotFoundError(CommandError):
    """No decoder with that id."""


class DecoderNotReadyError(CommandError):
    """The decoder has no worker that takes commands now (starting, or not running)."""


class CommandRefusedError(CommandError):
    """The worker refused the command (its reason is the message), or went away while handling it. ``retryable``:
    the worker said the same command may succeed later (e.g. a swap's model could not be loaded for lack of memory)."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class CommandTimeoutError(CommandError):
    """The worker did not answer in time."""


class DataError(BciStreamError, ValueError):
    """A recording cannot be loaded as asked (unknown format, corrupt file, inconsistent options)."""


class ChannelError(DataError):
    """Asked-for channels are missing from (or ambiguous in) a recording, or recordings' channels differ."""
