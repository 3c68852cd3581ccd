"""Exceptions of bci-stream. Each names the parameter, the rule and the bad value."""

from __future__ import annotations

from bci_stream.core.messages import Retry


class BciStreamError(Exception):
    """Base class for every error bci-stream raises on purpose. ``retry``: why the same request may succeed if sent
    again (:class:`~bci_stream.core.messages.Retry`: the API answers 409 or 503 and says ``"retryable": true``), or
    None (the default: a retry cannot cure it)."""

    retry: Retry | None = None
    #: Where in a request the bad value is (``("body", "options", "placement", "node_id")``): the API's 422 then
    #: names it as a malformed body's does (``detail``: a list of ``loc``, ``msg``, ``type``); None: a message only.
    loc: tuple[str, ...] | None = None


class ModelError(BciStreamError):
    """A model file or model card is missing, corrupt or inconsistent."""


class ModelNotFoundError(ModelError):
    """No model of that name (or version) in the registry."""


class PinDamagedError(ModelError):
    """A decoder's own copy of its model (:mod:`~bci_stream.service.model_pin`) no longer verifies: its files were
    removed or changed under it (a cleaner of the temporary folder removes files and keeps folders). The supervisor
    copies the model again when the registry holds the same bytes (audit s61life F4: before, the restart ended in
    ``error``, final, though the registry held those very bytes)."""


class ModelUnavailableError(BciStreamError):
    """A model could not be loaded now for a reason of the server that a retry can cure (out of memory or file
    descriptors, a busy file, an interrupted or failed read: :mod:`bci_stream.core.load_errors`); the model itself
    is not known to be at fault, so this is not a :class:`ModelError`. ``cause``: what the server was short of and
    the error that said so (e.g. ``EMFILE: Too many open files ([Errno 24] ...)``), without the advice to retry;
    ``what``: what could not be loaded (``"model 'name'"``) or None; ``shortage``: the server was short of memory or
    file descriptors (a model that may never fit: counted, :class:`~bci_stream.core.load_errors.TransientLoadFailures`),
    not a storage error or a busy file (retried every time)."""

    retry = Retry.UNAVAILABLE

    def __init__(self, message: str, cause: str | None = None, what: str | None = None,
                 shortage: bool = False) -> None:
        super().__init__(message)
        self.cause = message if cause is None else cause
        self.what, self.shortage = what, shortage


class PlacementError(BciStreamError):
    """A decoder's placement cannot be met: no node has its resources, its node is gone, or the backend does not
    place (the request is refused; after a node loss the decoder goes to ``error`` with this message). ``field``: the
    ``options.placement`` field refused (``node_id``, ``hostname``, ``resources``), named in the 422's ``loc``."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.loc = None if field is None else ("body", "options", "placement", field)


class StreamError(BciStreamError):
    """An LSL stream could not be found, or does not match what the model expects."""


class StreamNotFoundError(StreamError):
    """No stream matched the selector within the timeout."""


class SourceUnavailableError(StreamError):
    """A stream's full description could not be read now (its sender did not answer in time: a starved sender, a
    loaded machine). Not a refusal: the worker ends as after a crash and is restarted from its last state, connecting
    afresh (before, a final refusal of a source that came back unchanged)."""


class StreamMismatchError(StreamError):
    """The stream's channel count, rate, format or labels do not match the model card."""


class CommandError(BciStreamError):
    """A command to a decoder could not be carried out; the message says why, ``retry`` whether sending it again
    may succeed (e.g. ``Retry.BUSY``: the decoder is not running yet; the worker's own :attr:`Reply.retry
    <bci_stream.core.messages.Reply.retry>` for a refusal it answered)."""

    def __init__(self, message: str, retry: Retry | None = None) -> None:
        super().__init__(message)
        self.retry = retry


class DecoderNotFoundError(CommandError):
    """No decoder with that id."""


class DecoderIdInUseError(BciStreamError):
    """A decoder start asked for an id (``DecoderSpec.id``) that a decoder of this service has."""


class OutputIdInUseError(DecoderIdInUseError):
    """A decoder start asked for an ``options.output_source_id`` that another decoder of this service publishes (or
    was started with): two outlets never share a source_id."""


class CapacityError(BciStreamError):
    """A cap of the service is reached (a setting: ``max_decoders``, ``max_recordings``): the request would start one
    more than it allows. The API answers 429, not retryable as such: a ``DELETE`` frees a slot, or the setting is
    raised (the message names it, its value and both remedies)."""


class ResourceShortageError(BciStreamError):
    """This server is short of a resource (file descriptors: its open-files limit) to start a worker now; the message
    names the limit and what to do. The API answers 503 with ``Retry-After``: a ``DELETE``, or a closed connection,
    frees some."""

    retry = Retry.UNAVAILABLE


class DecoderNotReadyError(CommandError):
    """The decoder has no worker that takes commands now (starting, or not running)."""


class CommandRefusedError(CommandError):
    """The worker refused the command (its reason is the message, its ``retry`` the worker's), or went away while
    handling it."""


class DecoderStoppingError(CommandRefusedError):
    """The decoder is being stopped (a ``DELETE`` in progress, state ``stopping``): it takes no other command, nor a
    second stop; once stopped it is gone (404). Not retryable: a retry finds it gone."""


class CommandTimeoutError(CommandError):
    """The worker did not answer in time."""


class ServiceEndingError(BciStreamError):
    """The service is shutting down (SIGTERM, Ctrl-C): a request still waiting for a decoder's start (a Ray
    placement) or a worker's answer is answered at once (503), not cut off after the server's graceful wait with a
    bare 500 and a traceback in the log (audit s61ray F3)."""


class DataError(BciStreamError, ValueError):
    """A recording cannot be loaded as asked (unknown format, corrupt file, inconsistent options)."""


class ChannelError(DataError):
    """Asked-for channels are missing from (or ambiguous in) a recording, or recordings' channels differ."""


def error_line(exc: BaseException) -> str:
    """``exc``'s first line (onnxruntime's and onnx's errors run on with graph dumps), its type's name when it says
    nothing: one line for a refusal that quotes a library's error."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def rule_text(msg: str) -> str:
    """A pydantic error message without the ``"Value error, "`` pydantic puts before the text of a check this
    project words itself (the rule, the field and the value), where it read as part of the rule."""
    return str(msg).removeprefix("Value error, ")

