"""Which live decoder or recording is to write a file under ``recordings_dir``: a second request for the same file
is refused at once (422), not answered 201 to take the file from the first (whose start then failed, having decoded
nothing) or to fail itself later.

A file that already exists is refused by :func:`~bci_stream.service.recorder.record_path_refusal` and
:meth:`~bci_stream.service.recordings.Recordings.out_refusal`; this covers one that is claimed but not written yet (a
decoder still starting, a recording still searching its stream), and the file a decoder's restarted worker records to
(``<stem>.<n><suffix>``, possibly not created yet: a full disk). A restarted worker takes the next free name, so a
file claimed but not created yet when it looks is the one collision left (the other decoder's start then fails).
The workers' own check, at opening, stays for two
requests that pass at the same instant.
"""

from __future__ import annotations

import os
from pathlib import Path

from bci_stream.service.recordings import Recordings
from bci_stream.service.supervisor import Supervisor

#: States in which a decoder no longer writes its ``record_path`` (its file finished, or never started).
ENDED = ("stopped", "error")


def claim_refusal(field: str, relative: str | None, supervisor: Supervisor, recordings: Recordings) -> str | None:
    """Why ``relative`` (a request's ``field``, relative to the recordings folder) is another's file, or None."""
    folder = supervisor.recordings_dir
    if relative is None or folder is None:
        return None
    path = os.path.normpath(Path(folder) / relative)
    for handle in supervisor.list():
        theirs = handle.spec.options.record_path
        if not theirs or handle.status.state in ENDED:
            continue
        now = (handle.status.record or {}).get("path")  # a restarted worker's file (``<stem>.<n><suffix>``)
        if path in (os.path.normpath(Path(folder) / theirs), now and os.path.normpath(now)):
            return (f"{field} must not be a file a decoder records to, got {relative!r}: decoder {handle.id!r} "
                    f"(state {handle.status.state!r}) records to it; choose a new file name")
    return recordings.taken(Path(path), relative, field)
