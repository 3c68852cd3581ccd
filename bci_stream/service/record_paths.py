"""Where a decoder's recording goes (``record_path`` under the service's ``recordings_dir``), and why it cannot go
there: refused by the API before a worker starts (:func:`record_path_refusal`), or by the worker
(:func:`open_recording`)."""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import Any

from bci_stream.core.errors import StreamMismatchError
from bci_stream.core.out_folder import out_folder_problem
from bci_stream.service.recorder import Recorder

#: Bytes a restarted worker's suffix ``.<n>`` adds to ``record_path``'s file name, at most (``.`` and 6 digits): a
#: file name longer than the filesystem's limit less these is refused (:func:`name_length_problem`).
RESTART_SUFFIX_BYTES = 7
#: The longest file name (bytes) of a filesystem that does not say (``PC_NAME_MAX``).
DEFAULT_NAME_MAX = 255

log = logging.getLogger(__name__)


def open_recording(recordings_dir: str | None, record_path: str, generation: int, input_header: dict[str, Any],
                   output_header: dict[str, Any]) -> Recorder:
    """A decoder's :class:`Recorder` at ``recordings_dir/record_path``. A restarted worker (generation ``n > 1``)
    writes ``<stem>.<n><suffix>`` or, when that file exists (another decoder's ``record_path``, a file put there), the
    next free ``<stem>.<m><suffix>`` (``m > n``): it never overwrites a file and never ends for its file's name.

    Raises
    ------
    StreamMismatchError
        No ``recordings_dir``, or, at a first start, the file cannot be created (exists, not writable); the message
        names ``record_path`` and the file. A restarted worker (``generation > 1``) whose file cannot be created now
        (a full disk, a read-only folder) decodes on unrecorded and tries again (``Recorder(retry=True)``): a
        condition of the server never ends a decoder that was running.
    """
    if recordings_dir is None:
        raise StreamMismatchError("record_path was given but the service has no recordings_dir")
    path = Path(recordings_dir) / record_path
    if generation == 1:
        try:
            return Recorder(path, input_header, output_header)
        except OSError as exc:
            raise StreamMismatchError(f"record_path {record_path!r} cannot be recorded to {path}: {exc}") from None
    for n in itertools.count(generation):  # the folder holds finitely many files: one of these is free
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
        if not os.path.lexists(candidate):
            try:
                recorder = Recorder(candidate, input_header, output_header, retry=True)
            except FileExistsError:  # created between the look and the creation: the next one
                continue
            if n != generation:
                log.warning("record_path %r: %s exists, so worker generation %d records to %s", record_path,
                            path.with_name(f"{path.stem}.{generation}{path.suffix}"), generation, candidate)
            return recorder
    raise AssertionError("unreachable")


def recordings_dir_problem(recordings_dir: str | Path) -> str | None:
    """Why the service's ``recordings_dir`` can never be written (under ``/proc``, a file, a read-only mount), or
    None (a folder not there yet is created when first needed). Before, a decoder asking to record was accepted
    (201), then ended in ``error`` with an errno line that did not name the setting."""
    return out_folder_problem(recordings_dir, "the service's recordings_dir (setting recordings_dir, env "
                                              "BCI_STREAM_RECORDINGS_DIR)")


def record_path_refusal(recordings_dir: str | None, record_path: str | None) -> str | None:
    """Why ``record_path`` cannot be recorded to, known before a worker starts (no ``recordings_dir``, or the file
    exists: a recording is never overwritten; a name too long for the filesystem, leaving no room for a restarted
    worker's ``.<n>``: :func:`name_length_problem`), or None. The API refuses such a request at once; the worker's own
    check (:func:`open_recording`) stays for a file created meanwhile."""
    if record_path is None:
        return None
    if recordings_dir is None:
        return "record_path was given but the service has no recordings_dir"
    if (why := recordings_dir_problem(recordings_dir)) is not None:
        return f"record_path {record_path!r} cannot be written: {why}"
    if (why := name_length_problem(Path(recordings_dir), record_path, "record_path", RESTART_SUFFIX_BYTES)) is not None:
        return why
    path = Path(recordings_dir) / record_path
    if os.path.lexists(path):  # a link too, dangling or not: never written through
        return f"record_path must not exist (recordings are never overwritten), got {record_path!r}: {path} exists"
    return subfolder_problem(Path(recordings_dir), record_path, "record_path")


def subfolder_problem(recordings_dir: Path, relative: str, field: str) -> str | None:
    """Why the folder of ``relative`` (a request's ``field``, under a writable ``recordings_dir``) cannot be written,
    or None: a sub-folder made by another user (``s01/`` of a colleague's ``bci-stream record``), or a file in the way.
    Before, the request was accepted (201) and its worker or recording then failed with a bare ``PermissionError``
    (found by an audit of non-root deployments)."""
    folder = (recordings_dir / relative).parent
    if folder == recordings_dir:
        return None
    root = recordings_dir.resolve()
    if not folder.resolve().is_relative_to(root):  # a link among its folders: a request never writes outside
        return (f"{field} {relative!r} cannot be written: its folder {folder} leads out of recordings_dir ({root}) "
                f"through a symbolic link (to {folder.resolve()}); recordings stay inside recordings_dir")
    if (why := out_folder_problem(folder, "its folder")) is not None:
        return f"{field} {relative!r} cannot be written: {why}"
    return None


def name_max(folder: Path) -> int:
    """The longest file name, in bytes, of the filesystem of ``folder`` (or of its nearest existing parent: it may
    not be created yet); :data:`DEFAULT_NAME_MAX` when the filesystem does not say."""
    for existing in (folder, *folder.parents):
        try:
            limit = os.pathconf(existing, "PC_NAME_MAX")
        except (OSError, ValueError):
            continue
        return limit if limit > 0 else DEFAULT_NAME_MAX
    return DEFAULT_NAME_MAX


def name_length_problem(recordings_dir: Path, relative: str, field: str, reserve: int = 0) -> str | None:
    """Why a folder or the file name of ``relative`` (a request's ``field``) is too long for the filesystem's limit
    per name (:func:`name_max`), or None; the file name must also leave ``reserve`` bytes for what a restarted worker
    adds (``.<n>``: :data:`RESTART_SUFFIX_BYTES`). Before, a ``record_path`` of 255 bytes was accepted and recorded
    to, and its restarted worker ended the decoder for good (``[Errno 36] File name too long``); a name over the
    limit failed with a server error."""
    limit = name_max((recordings_dir / relative).parent)
    *folders, file_name = relative.split("/")
    for part in folders:
        if (size := len(part.encode())) > limit:
            return (f"{field} {relative!r} cannot be written: each folder name must be at most {limit} bytes (the "
                    f"filesystem's limit per name), got {size} bytes ({part[:40]!r}...)")
    if (size := len(file_name.encode())) > limit - reserve:
        room = f", less {reserve} for the '.<n>' a restarted worker adds to it" if reserve else ""
        return (f"{field} {relative!r} cannot be written: its file name must be at most {limit - reserve} bytes (the "
                f"filesystem's limit of {limit} bytes per name{room}), got {size} bytes")
    return None
