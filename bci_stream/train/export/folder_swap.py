"""A model folder written as one change, so that a service reading the registry meanwhile (``calibrate --overwrite``
while decoders serve) sees the old model or the new one, never a new ONNX file beside the old card (a sha256 mismatch:
"the file was changed or corrupted after export") nor a card half written ("not readable JSON": not found).

The new files are written into a hidden staging folder beside the model's (the same file system), with the old
folder's other files (a report, a README) copied in first; then the staging folder takes the old one's place by two
renames. Between them, for microseconds, the folder is absent: a request then is told the model is not found, as
before the first export. Hidden folders (a name starting with ``.``) are no models to the registry
(:meth:`~bci_stream.core.registry.ModelRegistry.scan`), so the staging and replaced folders are never listed.

A model replaced by another version of itself is kept in a folder of the new one named after its version
(``OUT/NAME/1.0.2/``; :func:`archive_name`), so ``NAME@1.0.2`` still resolves: before, a recalibration
(``calibrate --overwrite``) removed it, and a config file's decoder pinned to it was not started any more.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from bci_stream.core.card import CARD_FILE, ONNX_FILE
from bci_stream.core.errors import BciStreamError

#: A version kept as a folder of the model's (:func:`archive_name`): a plain name, never a path or a hidden folder.
VERSION_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


class FolderWriteError(BciStreamError, OSError):
    """A model folder could not be written (no room, a read-only disk, an I/O error): nothing of it changed. A
    :class:`~bci_stream.core.errors.BciStreamError`, so ``calibrate`` and ``train`` say it in one line (before: a
    traceback after the whole calibration)."""


def unwritable(out_dir: Path, why: object) -> FolderWriteError:
    """The error of a model folder ``out_dir`` that could not be written because of ``why``: nothing of it changed."""
    return FolderWriteError(f"model folder {out_dir} cannot be written: {why}; nothing of it changed")


def write_folder(out_dir: Path, fill: Callable[[Path], None], replaced: Collection[str],
                 archive: str | None = None) -> None:
    """Write model folder ``out_dir`` as one change: ``fill(staging)`` writes the new files; every other file of an
    existing ``out_dir`` than ``replaced`` (names) is kept. ``archive``: the version of the model replaced, kept
    whole (its card, graphs, report...) in ``out_dir/<archive>/``, where the registry finds it as ``NAME@VERSION``
    (:func:`archive_name`). On an error nothing of ``out_dir`` changes.

    Raises
    ------
    FolderWriteError
        A file could not be written or moved (``OSError``): the message names ``out_dir`` and the cause."""
    out_dir = Path(out_dir)
    try:  # a name too long for the file system fails here (before: a traceback after the work; audit s51)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.writing-", dir=out_dir.parent))
    except OSError as exc:
        raise unwritable(out_dir, exc) from exc
    try:
        if out_dir.is_dir():
            kept = staging / archive if archive is not None else None  # archive_name: no folder of that name
            for item in out_dir.iterdir():
                if kept is not None and not item.name.startswith(".") and not (item / CARD_FILE).is_file():
                    kept.mkdir(exist_ok=True)
                    _copy(item, kept / item.name)  # the replaced version, whole (not the versions kept before it)
                if item.name not in replaced:
                    _copy(item, staging / item.name)
        fill(staging)
        # mkdtemp's 0700 would hide the model from a service run as another user: the old folder's mode, else 0755;
        # its files the same without the execute bits (before: the caller's umask, 0600 under a umask of 077, so a
        # model written by one user was "not readable JSON" to the service of another, found by an audit)
        folder_mode = out_dir.stat().st_mode & 0o777 if out_dir.is_dir() else 0o755
        for path in staging.rglob("*"):
            if not path.is_symlink():
                path.chmod(folder_mode if path.is_dir() else folder_mode & 0o666)
        staging.chmod(folder_mode)
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.replaced-{uuid.uuid4().hex[:8]}"
            out_dir.rename(old)
            staging.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise unwritable(out_dir, exc) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextlib.contextmanager
def staged_folder(out_dir: Path) -> Iterator[Path]:
    """A private folder to write a whole model folder in (the model, then what is made from it: its report); when the
    block ends without an error it replaces ``out_dir`` as one change (:func:`write_folder`: the version it replaces
    kept, the folder's other files kept); on an error or an interrupt (Ctrl-C) it goes and nothing of ``out_dir``
    changed. Before, ``calibrate`` stopped between its export and its report left a model without its report in the
    registry, served, and its name taken (audit s64cal F1).

    Raises
    ------
    FolderWriteError
        The folder beside ``out_dir`` could not be made, or ``out_dir`` not written."""
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staged-", dir=out_dir.parent))
    except OSError as exc:
        raise unwritable(out_dir, exc) from exc
    try:
        staged = root / out_dir.name
        try:
            yield staged
        except FolderWriteError as exc:  # said of out_dir, not of the private folder (its path means nothing to a user)
            cause = exc.__cause__
            why = f"[Errno {cause.errno}] {cause.strerror}" if isinstance(cause, OSError) and cause.strerror else exc
            raise unwritable(out_dir, why) from cause
        card = json.loads((staged / CARD_FILE).read_text(encoding="utf-8"))
        items = sorted(staged.iterdir())

        def fill(folder: Path) -> None:
            for item in items:
                shutil.move(item, folder / item.name)  # (the same file system: a rename)

        from bci_stream.train.export.step_graph import SINGLE_STEP_FILE  # (step_graph imports onnx)

        # the model's own files go even where the new one has none (a GRU's single-sample graph beside an ensemble
        # was kept, review s64 F1), as write_model replaces them; the folder's other files stay
        write_folder(out_dir, fill, replaced={item.name for item in items} | {ONNX_FILE, SINGLE_STEP_FILE, CARD_FILE},
                     archive=archive_name(out_dir, card["name"], card["version"]))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _copy(item: Path, to: Path) -> None:
    if item.is_dir() and not item.is_symlink():
        shutil.copytree(item, to, symlinks=True)
    else:
        shutil.copy2(item, to, follow_symlinks=False)


def archive_name(out_dir: Path, name: str, version: str) -> str | None:
    """The folder that keeps the model ``out_dir`` holds when model ``name@version`` replaces it: its version, when
    its card is of model ``name`` at another version (a pinned ``name@version``, in a config file or a lab's records,
    still resolves after a recalibration: audit s46 reproducibility S10), else None (no model there, another model's
    card, the same version rewritten, a version that is no plain folder name, or one whose name a folder of the model
    already has: a version kept before, or another folder such as ``report``)."""
    try:
        old = json.loads((Path(out_dir) / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    held = old.get("version") if isinstance(old, dict) and old.get("name") == name else None
    if not isinstance(held, str) or held == version or not VERSION_FOLDER.fullmatch(held):
        return None
    return None if (Path(out_dir) / held).exists() else held


def kept_note(out_dir: Path, name: str, version: str) -> str:
    """``"; it is kept in ..."`` when :func:`archive_name` keeps the model ``out_dir`` holds, else ``""``."""
    if (kept_as := archive_name(out_dir, name, version)) is None:
        return ""
    return (f"; it is kept in {Path(out_dir) / kept_as} ({name}@{kept_as} still resolves; remove that folder once "
            "nothing asks for that version)")


def write_text_atomic(path: Path, text: str) -> None:
    """``path.write_text(text)`` as one change (a temporary file beside it, then ``os.replace``): a reader sees the
    old text or the new, never half of it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.is_file() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
