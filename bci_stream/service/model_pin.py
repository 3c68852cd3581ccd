"""A decoder's own copy of the model it runs (its *pin*): a restarted worker runs exactly those bytes.

The registry is a folder anyone may change while a decoder runs (``bci-stream calibrate --name m --overwrite``
replaces the folder of ``m``; a copy or ``rm -r`` does too). A worker that looked its model up by name again at each
restart would run whatever the folder holds then: another version (its outlet under another ``source_id``, its
state snapshot not restored), one with other outputs (a crash loop: the output ring is sized for the first), or
none. So the supervisor copies the model's files (card, ONNX, single-step graph) into a folder of its own per decoder
when the decoder starts and again after each hot swap (:func:`pin_ref`), and every worker of that decoder loads from
that copy (:func:`load_pinned`), verified against its card's sha256 as a registry model is. The copy is removed with
the decoder (:func:`unpin`).

Layout: ``<pins root>/<decoder id>/<n>-<sha256[:12]>/`` (``model.json``, ``model.onnx``, ...), the highest ``n``
current; ``<n>-error/error.txt`` when the model a hot swap put in could not be kept and the registry holds other
bytes now (its restart ends in that error).
The root is ``$BCI_STREAM_PINS_DIR``, else ``bci-stream-pins-<uid>`` in the temporary folder; worker processes
inherit it. A Ray actor gets the files as bytes (:func:`pinned_files`, :func:`write_pinned`): its node may not share
this folder.

Owners: the root is shared by every service of the machine (and by the Ray actors of its node), and a service that
crashed (SIGKILL: no :func:`unpin`) leaves its copies behind. So each process that writes a decoder's folder records
itself in it (``<decoder id>/.owner-<hash>``: host, pid, the process's start time and the boot's id, so that a reused
pid is not taken for the owner), and a supervisor, when it starts, removes the decoders' folders whose every owner is
gone (:func:`sweep_stale`); so does a Ray actor on its node (no supervisor starts there). A folder is kept while any of
its owners lives, or may live: one recorded on another host or in another pid namespace (it cannot be checked from
here), an unreadable record, or none (a folder being made, or one of a version that did not record owners).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bci_stream.core.card import CARD_FILE
from bci_stream.core.errors import ModelError, ModelNotFoundError, ModelUnavailableError, PinDamagedError
from bci_stream.core.registry import ModelEntry, ModelRegistry, cached_sha256, open_model_folder, verify_files

__all__ = ["PINS_ENV", "describe_pin", "drop_copies", "has_pin", "load_pinned", "pin_error", "pin_ref",
           "pinned_files", "pinned_model", "pins_root", "root_problem", "sweep_stale", "unpin", "write_pinned"]

log = logging.getLogger("bci_stream.supervisor")

#: Environment variable naming the folder of the decoders' model copies.
PINS_ENV = "BCI_STREAM_PINS_DIR"
ERROR_FILE = "error.txt"
#: Name prefix of a decoder folder's owner records (:func:`sweep_stale`).
OWNER_PREFIX = ".owner-"
#: Copies tried before a pin gives up: a copy made while the folder was being replaced does not verify.
ATTEMPTS = 3


def pins_root() -> Path:
    """The folder of every decoder's model copy (``$BCI_STREAM_PINS_DIR``, else one per user in the temp folder)."""
    if env := os.environ.get(PINS_ENV):
        return Path(env)
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"bci-stream-pins-{uid}"


def root_problem() -> str | None:
    """Why the pins root may not be trusted, or None (it is this user's own, or not there yet). Its default name is
    known in advance and the temporary folder is everyone's: another local user could make it first, then replace a
    running decoder's copy with an error or a model of their own, which its next worker would run (found by an audit
    of non-root deployments). So a root that is a symbolic link, belongs to another user, or that others may write
    to is not used: no copy is made or read there (as with an unwritable one: ``serve`` says so at start)."""
    root = pins_root()
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{root} cannot be checked ({exc})"
    if stat.S_ISLNK(st.st_mode):
        return f"{root} is a symbolic link (another user may have put it there)"
    if not stat.S_ISDIR(st.st_mode):
        return None  # a file: no copy can be made (the write check says so)
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"{root} belongs to uid {st.st_uid}, not to this service's uid {os.getuid()}"
    if st.st_mode & 0o022:
        return f"{root} may be written by other users (mode {st.st_mode & 0o777:o})"
    return None


def pin_dir(decoder_id: str) -> Path:
    if not decoder_id or "/" in decoder_id or "\\" in decoder_id or decoder_id.startswith("."):
        raise ValueError(f"decoder_id must be a plain folder name, got {decoder_id!r}")
    return pins_root() / decoder_id


def _current(decoder_id: str) -> Path | None:
    """The decoder's current copy (the highest ``<n>-...`` folder), or None (also in a root not to be trusted)."""
    base = pin_dir(decoder_id)
    if root_problem() is not None:
        return None
    try:
        folders = [p for p in base.iterdir() if p.is_dir() and p.name.split("-", 1)[0].isdigit()]
    except OSError:
        return None
    return max(folders, key=lambda p: int(p.name.split("-", 1)[0]), default=None)


def _model_files(entry: ModelEntry) -> list[str]:
    """The files of a model folder that a worker reads, relative to it."""
    names = [CARD_FILE, entry.onnx_path.name]
    single = entry.card.step.single_step if entry.card.step is not None else None
    if single is not None:
        names.append(single.file)
    return names


def _install(decoder_id: str, fill: Callable[[Path], None], tag: str) -> Path:
    """A new folder of the decoder's pin filled by ``fill(folder)``, made current (older ones removed)."""
    base = pin_dir(decoder_id)
    if (why := root_problem()) is not None:
        raise PermissionError(f"the model copies' folder (BCI_STREAM_PINS_DIR) is not used: {why}")
    base.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    base.mkdir(exist_ok=True, mode=0o700)
    _claim(base)  # at once: a folder without an owner is left alone by a sweep
    tmp = Path(tempfile.mkdtemp(prefix=".new-", dir=base))
    try:
        fill(tmp)
        current = _current(decoder_id)
        n = 1 if current is None else int(current.name.split("-", 1)[0]) + 1
        final = base / f"{n:04d}-{tag}"
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in base.iterdir():
        if old != final and not old.name.startswith("."):  # not a copy being made, nor an owner record
            shutil.rmtree(old, ignore_errors=True)
    return final


def _copy_entry(entry: ModelEntry, folder: Path, expect_sha: str | None) -> ModelEntry:
    """Copy ``entry``'s files into ``folder``; the copy, verified (against ``expect_sha`` too, if given)."""
    for name in _model_files(entry):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry.directory / name, folder / name)
    copy = open_model_folder(folder)  # the copies verified against the copied card
    if expect_sha is not None and copy.card.sha256 != expect_sha:
        raise ModelError(f"model '{copy.card.ref}' in {entry.directory} has sha256 {copy.card.sha256} now, not "
                         f"{expect_sha}: it was replaced on disk")
    return copy


def pin_ref(decoder_id: str, models_dir: str | Path, ref: str, expect_sha: str | None = None) -> ModelEntry:
    """Copy model ``ref`` of registry ``models_dir`` as decoder ``decoder_id``'s current model; the copy's entry.

    Parameters
    ----------
    expect_sha
        The sha256 the copy must have (the model a worker runs after a hot swap), or None (whatever ``ref`` is now).

    Raises
    ------
    ModelError, ModelNotFoundError, ModelUnavailableError
        ``ref`` is not in the registry, invalid, or (``expect_sha``) other bytes than those the decoder runs.
    """
    for attempt in range(ATTEMPTS):
        entry = ModelRegistry(models_dir).get(ref)
        copied: list[ModelEntry] = []
        try:
            folder = _install(decoder_id, lambda tmp: copied.append(_copy_entry(entry, tmp, expect_sha)),
                              entry.card.sha256[:12])
            return ModelEntry(copied[0].card, folder)  # the copy's own card (the folder may have changed meanwhile)
        except (ModelError, OSError) as exc:  # replaced while copied (a file gone, or not its card's): again
            if attempt == ATTEMPTS - 1 or (isinstance(exc, ModelError) and expect_sha is not None
                                           and ModelRegistry(models_dir).get(ref).card.sha256 != expect_sha):
                raise
            log.info("decoder %s: copying model %r again (%s)", decoder_id, ref, exc)
    raise AssertionError("unreachable")


def pin_error(decoder_id: str, message: str) -> None:
    """Make ``message`` the decoder's current pin: its next worker refuses to start with it (final ``error``)."""
    _install(decoder_id, lambda tmp: (tmp / ERROR_FILE).write_text(message, encoding="utf-8"), "error")


def drop_copies(decoder_id: str) -> bool:
    """Remove the decoder's copies (or error), not its owner records nor a copy being made: its next worker looks its
    model up in the registry (after the supervisor copied it again, or compared its bytes). True when none is left."""
    base = pin_dir(decoder_id)
    try:
        folders = [p for p in base.iterdir() if not p.name.startswith(".")]
    except FileNotFoundError:
        return True
    except OSError:  # unreadable: whatever is there stays
        return _current(decoder_id) is None
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return _current(decoder_id) is None


def load_pinned(decoder_id: str) -> ModelEntry | None:
    """The decoder's own copy of its model, its files verified; None when it has none (not pinned, or removed).

    Raises
    ------
    ModelError
        The pin is an error (:func:`pin_error`): its message; :class:`PinDamagedError` when the copy does not verify.
    """
    current = _current(decoder_id)
    if current is None:
        return None
    if (error := current / ERROR_FILE).is_file():
        raise ModelError(error.read_text(encoding="utf-8"))
    try:
        return open_model_folder(current)
    except ModelError as exc:  # its files removed or changed under it: PinDamagedError (copied again if it can be)
        raise PinDamagedError(str(exc)) from None


def has_pin(decoder_id: str) -> bool:
    """The decoder has a copy of its model (or an error in its place)."""
    return _current(decoder_id) is not None


def pinned_model(decoder_id: str, models_dir: str | Path, ref: str) -> ModelEntry | None:
    """What a worker of decoder ``decoder_id`` (model ``ref`` of ``models_dir``) runs: its own copy
    (:func:`load_pinned`), or None when it has none (the worker then looks ``ref`` up in the registry)."""
    entry = load_pinned(decoder_id)
    if entry is None:
        log.info("decoder %s: no copy of its model in %s: model %r is looked up in %s", decoder_id,
                    pin_dir(decoder_id), ref, models_dir)
    return entry


def describe_pin(entry: ModelEntry, models_dir: str | Path, ref: str) -> dict[str, Any]:
    """The status ``model`` fields of the pin: ``pinned`` (it runs the decoder's own copy), and ``registry_now``
    when the registry's ``ref`` is other bytes now (``ref`` and ``sha256``, or ``error``: not there, unreadable, its
    files not as its card says).
    A ``name@version`` no longer there whose name is (``calibrate --overwrite`` writes the next version: a hot swap
    refers to ``name@version``) names that name's highest version (before: "not found", though the registry held a
    newer model under that name)."""
    pinned = entry.directory.parent.parent == pins_root()
    fields: dict[str, Any] = {"pinned": pinned}
    if pinned:
        registry = ModelRegistry(models_dir)
        try:
            try:
                now = registry.resolve(ref)
            except ModelNotFoundError as gone:
                try:
                    now = registry.resolve(ref.partition("@")[0])
                except ModelNotFoundError:
                    raise gone from None
            if now.card.sha256 != entry.card.sha256:
                fields["registry_now"] = {"ref": now.card.ref, "sha256": now.card.sha256}
            verify_files(now, cached_sha256)  # a file corrupted in place (audit s63fault F3)
        except (ModelError, ModelUnavailableError, OSError) as exc:  # OSError: its file unreadable (review s63 F3)
            fields["registry_now"] = {"error": str(exc)}
    return fields


def pinned_files(decoder_id: str) -> dict[str, bytes] | None:
    """The files of the decoder's current copy, by name (for a worker on another node), or None."""
    current = _current(decoder_id)
    if current is None:
        return None
    return {str(p.relative_to(current)): p.read_bytes() for p in current.rglob("*") if p.is_file()}


def write_pinned(decoder_id: str, files: dict[str, bytes]) -> bool:
    """Make ``files`` (:func:`pinned_files`) the decoder's current copy here, unless it is already (same bytes);
    True when written."""
    current = _current(decoder_id)
    if current is not None and all((current / n).is_file() and (current / n).read_bytes() == b
                                   for n, b in files.items()):
        _claim(pin_dir(decoder_id))  # a restarted actor uses the copy of the one before: it is an owner too
        return False

    def fill(tmp: Path) -> None:
        for name, data in files.items():
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise ValueError(f"pinned file name must be relative, got {name!r}")
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)

    _install(decoder_id, fill, "node")
    return True


def unpin(decoder_id: str) -> None:
    """Remove the decoder's copies (it was deleted)."""
    shutil.rmtree(pin_dir(decoder_id), ignore_errors=True)


# -- owners, and the sweep of the copies of services gone ------------------------------------------------------------

def _proc_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot: ``/proc/<pid>/stat`` field 22); None if unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces and parentheses
    return fields[19] if len(fields) > 19 else None


def _read_or_none(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii").strip()
    except OSError:
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _owner_record() -> dict[str, Any]:
    """This process as an owner: host, pid, start time, boot id and pid namespace (the last three None off Linux)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _proc_start(pid),
            "boot": _read_or_none("/proc/sys/kernel/random/boot_id"), "pidns": _pid_namespace()}


def _claim(base: Path) -> None:
    """Record this process as an owner of decoder folder ``base`` (once; written whole, then renamed in place)."""
    text = json.dumps(_owner_record(), sort_keys=True)
    path = base / f"{OWNER_PREFIX}{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    if path.is_file():
        return
    tmp = base / f".tmp-{path.name}-{os.getpid()}"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def owner_gone(record: dict[str, Any]) -> bool:
    """Whether the owner ``record`` (:func:`_owner_record`) is surely gone: True only when checked here (same host
    and pid namespace) and its boot is over, or no process with its pid and start time runs."""
    here = _owner_record()
    if record.get("host") != here["host"]:
        return False  # another node sharing the folder: cannot be checked
    if record.get("boot") and here["boot"] and record["boot"] != here["boot"]:
        return True  # its machine restarted since: every process of then is gone
    if record.get("pidns") != here["pidns"]:
        return False  # another container's pids
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if record.get("start") is not None and here["start"] is not None:
        return _proc_start(pid) != record["start"]  # none, or another process that got the pid since
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process: alive
        return False
    return False  # without start times a reused pid keeps the folder (never one of a live owner removed)


def _owners(base: Path) -> list[dict[str, Any]] | None:
    """The owner records of decoder folder ``base``; None when one cannot be read (it is then kept)."""
    records = []
    for path in base.glob(f"{OWNER_PREFIX}*"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        records.append(record)
    return records


def sweep_stale() -> list[Path]:
    """Remove the decoder folders of the pins root whose every recorded owner is gone (a service or actor that
    crashed); the folders removed. A folder with a live, uncheckable or unreadable owner, or none, is kept."""
    root = pins_root()
    if root_problem() is not None:  # not this service's to clean
        return []
    try:
        folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    removed = []
    for base in folders:
        owners = _owners(base)
        if not owners or not all(owner_gone(o) for o in owners):
            continue
        shutil.rmtree(base, ignore_errors=True)
        if not base.exists():
            removed.append(base)
            who = ", ".join(f"pid {o.get('pid')}" for o in owners)
            log.info("removed the model copies of decoder %s (%s): their owner is gone (%s)", base.name, base, who)
    return removed
