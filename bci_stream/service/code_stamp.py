"""Is a worker about to run the code its service runs? A stamp of the package's source, taken at serve start.

Workers are new processes (spawned, or forked from a fork server that holds third-party modules only:
:func:`~bci_stream.service.spawn.worker_context`): each imports bci_stream from disk when it starts, while the API
process keeps the code it started with. A ``pip install -U`` or a ``git pull`` under a running ``serve`` makes the
two disagree (a ring layout, a message's fields), and a worker would then fail in ways that say nothing of the cause.
So the API process takes a stamp of the package's source files when the service starts (:func:`mark_serve_start`: a
sha256 over every ``.py`` file of the package, a few ms) and hands it to every worker it starts (as an argument; in
the environment too, which processes started by other code inherit); a worker compares it with the code it
runs (:func:`code_changed`) before it imports any other module of bci-stream
(:mod:`~bci_stream.service.worker_entry`), and refuses on a difference. A worker given no stamp (started by other
code than a service) does not check. This module imports the standard library only: it must import whatever else
changed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: The environment variable that carries the service's stamp to its worker processes.
ENV = "BCI_STREAM_CODE_STAMP"

#: Parts of the package a worker never imports (the trainer, the simulator, offline analysis): editing a
#: calibration script under a running serve must not make its later workers refuse.
NOT_IN_WORKERS = ("train", "sim", "analysis")


def source_stamp(root: Path | None = None) -> str:
    """A short sha256 of every ``.py`` file under ``root`` (default: the installed bci_stream package) but those of
    :data:`NOT_IN_WORKERS`, by relative path and content."""
    if root is None:
        import bci_stream

        root = Path(bci_stream.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] in NOT_IN_WORKERS:
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def mark_serve_start() -> str:
    """In the API process, when a service starts: take the stamp its workers must match (they inherit it)."""
    stamp = os.environ[ENV] = source_stamp()
    return stamp


def code_changed(expected: str | None = None, node: bool = False) -> str | None:
    """In a worker, first thing: why it must not run (the code on disk is not its service's), or None.

    ``expected``: the service's stamp (None: the one in the environment, :data:`ENV`). ``node``: the worker is a Ray
    actor, maybe on another host than serve's, whose code may be another version (the reason names its host)."""
    expected = expected or os.environ.get(ENV)
    if not expected:
        return None
    actual = source_stamp()
    if actual == expected:
        return None
    if node:
        import socket

        import bci_stream

        return (f"the bci-stream code on host {socket.gethostname()} ({Path(bci_stream.__file__).parent}, stamped "
                f"{actual}) is not serve's (stamped {expected}): on another node than serve's, install serve's version "
                "of bci-stream there (deploy/RAY.md); on serve's host, the code changed since serve started (a pip "
                "install -U or a git pull): restart serve")
    return (f"the bci-stream code on disk changed since serve started (serve runs the code stamped {expected}, "
            f"this worker the code stamped {actual}, e.g. after a pip install -U or a git pull): restart serve")
