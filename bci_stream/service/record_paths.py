"""Where a decoder's recording goes (``record_path`` under the service's ``recordings_dir``), and why it cannot go
there: refused by the API before a worker starts (:func:`record_path_refusal`), or by the worker
(:func:`open_recording`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bci_stream.core.errors import StreamMismatchError
from bci_stream.core.out_folder import out_folder_problem
from bci_stream.service.recorder import Recorder


def open_recording(recordings_dir: str | None, record_path: str, generation: int, input_header: dict[str, Any],
                   output_header: dict[str, Any]) -> Recorder:
    """A decoder's :class:`Recorder` at ``recordings_dir/record_path`` (worker generation ``n > 1`` writes
    ``<stem>.<n><suffix>``: a restarted worker never overwrites the first file).

    Raises
    ------
    StreamMismatchError
        No ``recordings_dir``, or the file cannot be created (exists; at a first start, not writable); the message
        names ``record_path`` and the file. A restarted worker (``generation > 1``) whose file cannot be created now
        (a full disk, a read-only folder) decodes on unrecorded and tries again (``Recorder(retry=True)``): a
        condition of the server never ends a decoder that was running.
    """
    if recordings_dir is None:
        raise StreamMismatchError("record_path was given but the service has no recordings_dir")
    path = Path(recordings_dir) / record_path
    if generation > 1:
        path = path.with_name(f"{path.stem}.{generation}{path.suffix}")
    try:
        return Recorder(path, input_header, output_header, retry=generation > 1)
    except OSError as exc:
        raise StreamMismatchError(f"record_path {record_path!r} cannot be recorded to {path}: {exc}") from None


def recordings_dir_problem(recordings_dir: str | Path) -> str | None:
    """Why the service's ``recordings_dir`` can never be written (under ``/proc``, a file, a read-only mount), or
    None (a folder not there yet is created when first needed). Before, a decoder asking to record was accepted
    (201), then ended in ``error`` with an errno line that did not name the setting."""
    return out_folder_problem(recordings_dir, "the service's recordings_dir (setting recordings_dir, env "
                                              "BCI_STREAM_RECORDINGS_DIR)")


def record_path_refusal(recordings_dir: str | None, record_path: str | None) -> str | None:
    """Why ``record_path`` cannot be recorded to, known before a worker starts (no ``recordings_dir``, or the file
    exists: a recording is never overwritten), or None. The API refuses such a request at once; the worker's own
    check (:func:`open_recording`) stays for a file created meanwhile."""
    if record_path is None:
        return None
    if recordings_dir is None:
        return "record_path was given but the service has no recordings_dir"
    if (why := recordings_dir_problem(recordings_dir)) is not None:
        return f"record_path {record_path!r} cannot be written: {why}"
    path = Path(recordings_dir) / record_path
    if path.exists():
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
    if (why := out_folder_problem(folder, "its folder")) is not None:
        return f"{field} {relative!r} cannot be written: {why}"
    return None
