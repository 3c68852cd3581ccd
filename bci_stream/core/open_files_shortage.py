"""A failure for want of file descriptors, said in the words an operator acts on (the open-files limit).

liblsl reports a process out of descriptors as "could not create stream inlet" (or resolver), and Python as
``OSError: [Errno 24] Too many open files``; neither names the limit to raise nor the caps that fill it. A recording
that failed so said only that (review s48).
"""

from __future__ import annotations

import errno
import os
import resource

from bci_stream.core.errors import ResourceShortageError

#: A process holding at least its soft limit less this many descriptors is taken as out of them (a recording needs
#: about 23 in the API process; those of the open that failed are closed again by the time it is reported).
NEAR = 32
SHORT = frozenset({errno.EMFILE, errno.ENFILE})


def open_files_shortage(exc: BaseException | None = None) -> str | None:
    """A sentence naming this process's open-files limit when ``exc`` says descriptors ran out (EMFILE, ENFILE), or
    the process holds nearly as many as its soft limit allows (what liblsl's errors cannot say), else None."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    short = isinstance(exc, OSError) and exc.errno in SHORT
    try:
        held: int | None = len(os.listdir("/proc/self/fd"))
    except OSError as listing:  # no /proc (not Linux), or not even one descriptor left to list it
        held, short = None, short or listing.errno in SHORT
    near = held is not None and soft != resource.RLIM_INFINITY and held >= soft - NEAR
    if not (short or near):
        return None
    limit, hard_limit = ("unlimited" if n == resource.RLIM_INFINITY else str(n) for n in (soft, hard))
    holds = f"holds {held} open files" if held is not None else "has no file descriptor left"
    # near the limit with no errno to say so: perhaps (liblsl's "could not create", a resolve that found nothing),
    # perhaps not (a stream that is not there); said as the guess it is (review s49 F7)
    cure = ": raise it" if short else ", so this may be for want of file descriptors: if so, raise it"
    return (f"this process {holds}, its limit (RLIMIT_NOFILE) is {limit}, hard limit {hard_limit}{cure} (systemd "
            "LimitNOFILE=, ulimit -n) or lower max_recordings, max_decoders or http_max_connections")


def with_shortage(message: str, exc: BaseException | None = None) -> str:
    """``message``, with :func:`open_files_shortage`'s sentence in brackets when it has one."""
    note = open_files_shortage(exc)
    return message if note is None else f"{message} ({note})"


def start_shortage(decoder_id: str, exc: OSError) -> ResourceShortageError:
    """A worker start out of file descriptors (``exc``: EMFILE, ENFILE), naming the open-files limit: the API's 503
    to a ``POST /decoders``, a restart's ``last_error``."""
    return ResourceShortageError(with_shortage(f"decoder {decoder_id}: its worker process could not be started: {exc}",
                                               exc))
