"""Why loading a model failed: a fault of the model (permanent) or a condition of this machine now (transient).

A model file that is missing, a directory, unreadable for its permissions, corrupt, or that disagrees with its card
is the client's to fix: :class:`~bci_stream.core.errors.ModelError` (the API answers 422). The same file may also
fail to load because the process is short of something a retry can bring back: memory, file descriptors, a busy
file or an interrupted read: :class:`~bci_stream.core.errors.ModelUnavailableError` (the API answers 503 with
``Retry-After``; a hot swap keeps the running model).

The rule (:func:`transient_cause`): ``MemoryError``; an ``OSError`` whose errno is in :data:`TRANSIENT_ERRNOS`
(``EAGAIN``, ``EBUSY``, ``EINTR``, ``EIO``, ``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ENOMEM``, ``ETIMEDOUT``,
``ETXTBSY``); and onnxruntime's failures that carry one of those: onnxruntime raises its own exception types (``Fail``
for all of these), so its out-of-memory (``std::bad_alloc``) and a system error number in its message are read
from the message, here only. Every other errno (``ENOENT``, ``EISDIR``, ``EACCES``, ``EPERM``, ``ENOTDIR``...) and
every other failure is permanent. ``EIO`` counts as transient: a read error of the server's storage is not the
request's fault, though a retry cures it only if the storage does. So is running out of memory, though a model too
big for this machine will fail on every retry: a worker counts the failures to load the same model for lack of
memory or file descriptors (:data:`SHORTAGE_ERRNOS`, ``MemoryError``, onnxruntime's ``std::bad_alloc``: the
error's ``shortage``; :class:`TransientLoadFailures`) and, at the :data:`MAX_TRANSIENT_LOAD_FAILURES`-th in a row,
reports a :class:`~bci_stream.core.errors.ModelError` (422) that says the model will not be retried automatically.
The other transient causes (a storage error, a busy file, an interrupted or timed-out read) are "retry later" (503)
every time: they say nothing about the model's size.
"""

from __future__ import annotations

import errno
import os
import re

from bci_stream.core.errors import BciStreamError, ModelError, ModelUnavailableError

#: errnos of a load failure that a retry can cure (see the module docstring).
TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.EIO, errno.EMFILE, errno.ENFILE,
                              errno.ENOBUFS, errno.ENOMEM, errno.ETIMEDOUT, errno.ETXTBSY})
#: errnos of :data:`TRANSIENT_ERRNOS` that say the server is short of memory or file descriptors: a model that hits
#: them every time may never fit (counted by :class:`TransientLoadFailures`).
SHORTAGE_ERRNOS = frozenset({errno.ENOMEM, errno.EMFILE, errno.ENFILE, errno.ENOBUFS})
_ORT_ERRNO = re.compile(r"system error number (\d+)")
_ORT_NO_MEMORY = "std::bad_alloc"
#: Transient failures in a row to load the same model after which a worker stops answering "retry later" (503)
#: and answers that the model failed that many times and will not be retried automatically (422): a model that
#: never fits in this machine's memory (or file descriptor limit) would otherwise be retried forever. Three lets
#: a passing shortage (another load or a burst of connections) clear between two tries.
MAX_TRANSIENT_LOAD_FAILURES = 3


def transient_cause(exc: BaseException) -> str | None:
    """What a retry could cure about ``exc``, raised while loading a model (e.g. ``"EMFILE: Too many open files"``),
    or None when it is permanent (see the module docstring)."""
    found = _transient(exc)
    return None if found is None else found[0]


def _transient(exc: BaseException) -> tuple[str, bool] | None:
    """:func:`transient_cause`, and whether it is a shortage of memory or file descriptors."""
    if isinstance(exc, MemoryError):
        return "out of memory", True
    code = exc.errno if isinstance(exc, OSError) else None
    if code is None and type(exc).__module__.startswith("onnxruntime"):
        text = str(exc)
        if _ORT_NO_MEMORY in text:
            return "out of memory (onnxruntime: std::bad_alloc)", True
        found = _ORT_ERRNO.search(text)
        code = int(found.group(1)) if found else None
    if code in TRANSIENT_ERRNOS:
        return f"{errno.errorcode[code]}: {os.strerror(code)}", code in SHORTAGE_ERRNOS
    return None


def load_error(exc: BaseException, what: str, permanent: str | None = None) -> BciStreamError:
    """The error to report for ``exc``, raised while loading ``what`` (``"model 'name'"``, a file): ``exc`` itself
    when it is already one of bci-stream's, :class:`ModelUnavailableError` when a retry can cure it, else a
    :class:`ModelError` (``cannot load {what}: {exc}``, or ``{what} {permanent}: {exc}`` when ``permanent`` says
    what is wrong with it)."""
    if isinstance(exc, BciStreamError):
        return exc
    found = _transient(exc)
    if found is not None:
        why, shortage = found
        return ModelUnavailableError(f"cannot load {what} now: {why} ({exc}). This is a condition of the server, not "
                                     "a fault of the model: retry later", cause=f"{why} ({exc})", what=what,
                                     shortage=shortage)
    return ModelError(f"cannot load {what}: {exc}" if permanent is None else f"{what} {permanent}: {exc}")


def given_up(what: str, count: int, last: str, shortage: bool = True) -> str:
    """Why ``what`` (``"model 'name'"``) is no longer retried: it failed to load ``count`` times in a row, the last
    time with ``last``; for lack of memory or file descriptors when ``shortage`` (it may never fit), else for a
    condition of the server that ``last`` names (a worker's exit code does not say which: the start path)."""
    times = f"{count} time{'' if count == 1 else 's'}{' in a row' if count > 1 else ''}"
    if not shortage:
        return (f"{what} failed to load {times} for a condition of the server (last: {last}); it will not be retried "
                "automatically. Cure what the last error names (free memory, raise the file descriptor limit, or "
                "repair the storage), then ask again")
    return (f"{what} failed to load {times} for lack of memory or file descriptors (last: {last}); it will not be "
            "retried automatically: it may never fit on this machine. Free memory or raise the file descriptor limit, "
            "or use a smaller model, then ask again")


class TransientLoadFailures:
    """Consecutive failures to load one model for lack of memory or file descriptors, so that a model that can never
    be loaded on this machine stops being reported as "retry later" (see the module docstring).

    ``key`` names the model file: its card's sha256, or the name it was asked by when the card itself could not be
    read. A failure of another key starts the count anew, as does anything else :meth:`clear` is called for (a model
    loaded, or refused for a fault of its own).

    Parameters
    ----------
    limit
        The failure in a row that is reported as permanent (:data:`MAX_TRANSIENT_LOAD_FAILURES`).
    """

    def __init__(self, limit: int = MAX_TRANSIENT_LOAD_FAILURES) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1 transient load failure, got {limit!r}")
        self.limit = limit
        self.key: str | None = None
        self.count = 0

    def failed(self, key: str, model: str, error: ModelUnavailableError) -> BciStreamError:
        """Count ``error``, a transient failure to load ``model`` (``"model 'name'"``) whose file is ``key``; return
        ``error`` itself below :attr:`limit` failures in a row, else a :class:`ModelError` naming the model, the
        count and the last error. Only a shortage (``error.shortage``) counts: any other transient failure is
        returned as it is, and neither counts nor ends the count."""
        if not error.shortage:
            return error
        self.count = self.count + 1 if key == self.key else 1
        self.key = key
        if self.count < self.limit:
            return error
        return ModelError(given_up(model, self.count, error.cause))

    def clear(self) -> None:
        """The model loaded, or failed for another reason: the next transient failure is a first one again."""
        self.key, self.count = None, 0
