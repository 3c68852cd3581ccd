"""The API process's limit of open files, raised to what the service's caps may need at once.

In the API process a decoder holds about 5-7 file descriptors (its pipes, its output ring), a recording with no model
about 23 (its stream's and its marker stream's inlets: liblsl's sockets, epoll, timer and event descriptors; measured
in the review s48) and an HTTP connection one. With every cap at its default (``max_decoders``,
``max_recordings``, ``http_max_connections``) that is over the soft limit of 1024 open files that many systems give
a process, and a service that reaches it fails in odd places (an accept, a worker's pipe: EMFILE). ``serve`` raises its
soft limit, as far as the hard limit allows (an unprivileged process may), before anything opens: its worker
processes inherit it. A hard limit below the need is said once, in a WARNING naming the numbers.
"""

from __future__ import annotations

import logging
import resource

from bci_stream.core.settings import Settings

log = logging.getLogger("bci_stream.api")

#: file descriptors a decoder, and a recording with no model, may hold in the API process, and those of the process
PER_DECODER = 8
PER_RECORDING = 24
BASE = 256


def open_files_needed(settings: Settings) -> int:
    """The open files the API process may need with every cap reached: :data:`BASE`, :data:`PER_DECODER` for each
    decoder, :data:`PER_RECORDING` for each recording, one per HTTP connection."""
    return (BASE + PER_DECODER * settings.max_decoders + PER_RECORDING * settings.max_recordings
            + settings.http_max_connections)


def raise_open_files_limit(settings: Settings) -> tuple[int, int] | None:
    """Raise the soft ``RLIMIT_NOFILE`` to :func:`open_files_needed` (at most the hard limit); ``(before, after)``
    when it changed, else None. Never lowers it."""
    need = open_files_needed(settings)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return None
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if target < need:
        log.warning("the open-files limit of this process is %d (hard), under the %d its caps may need "
                    "(max_decoders, max_recordings, http_max_connections): raise it (systemd LimitNOFILE=, ulimit -Hn) "
                    "or lower the caps", hard, need)
    if target <= soft:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # a platform that refuses: the limit stays, said
        log.warning("could not raise the open-files limit from %d to %d: %s", soft, target, exc)
        return None
    log.info("open-files limit raised from %d to %d (of %d needed by the caps)", soft, target, need)
    return soft, target
