"""The model registry: self-describing models in a folder, verified before use.

Layout: ``<root>/<dir>/model.json`` + ``<root>/<dir>/model.onnx``, one model version per folder
(for example ``models/mi-gru/`` or ``models/mi-gru/1.2.0/``). A model is referred to as ``name`` (its
highest version) or ``name@version``.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bci_stream.core.errors import ModelError, ModelNotFoundError, ModelUnavailableError, rule_text
from bci_stream.core.load_errors import load_error
from bci_stream.core.registry_folders import cardless_folders, misnamed_folders
from bci_stream.core.units import volts_per_unit
from bci_stream.core.card import (CARD_FILE, MODEL_NAME_PATTERN, ONNX_FILE, ModelCard, architecture_problem,
                                  metadata_problem, sha256_file)
from bci_stream.core.onnx_meta import OnnxFormatError, cached_facts, per_file
from bci_stream.core.step_axes import axes_problem


@dataclass(frozen=True)
class ModelEntry:
    """A model found in the registry: its card and where its files are."""

    card: ModelCard
    directory: Path

    @property
    def onnx_path(self) -> Path:
        return self.directory / ONNX_FILE

    @property
    def card_path(self) -> Path:
        return self.directory / CARD_FILE


def read_card_json(card_path: Path) -> Any:
    """The parsed JSON of a model card file, not validated; ModelError naming the file when unreadable."""
    try:
        return json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model card {card_path} does not exist") from None
    except OSError as exc:  # out of file descriptors, an I/O error: a retry may read it (ModelUnavailableError)
        raise load_error(exc, f"model card {card_path}", "is not readable JSON") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model card {card_path} is not readable JSON: {exc}") from None


def read_card(card_path: Path) -> ModelCard:
    """Parse and validate a model card, with an error that names the file and the field."""
    return validate_card(read_card_json(card_path), card_path)


def validate_card(raw: Any, card_path: Path) -> ModelCard:
    """Validate parsed card JSON (from :func:`read_card_json`), with an error that names the file and the field."""
    try:
        return ModelCard.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {rule_text(err['msg'])}" for err in exc.errors()
        )
        raise ModelError(f"model card {card_path} is invalid: {problems}") from None


def verify_files(entry: ModelEntry, digest: Callable[[Path], str] = sha256_file) -> None:
    """Refuse a model whose ONNX file is missing or differs from what its card describes (``digest``: the sha256 of a
    file, read afresh by default)."""
    files = [(entry.onnx_path, entry.card.sha256)]
    single = entry.card.step.single_step if entry.card.step is not None else None
    if single is not None:
        files.append((entry.directory / single.file, single.sha256))
    for path, expected in files:
        if not path.is_file():
            what = "is not a regular file" if path.exists() else "does not exist"
            raise ModelError(f"model '{entry.card.ref}': ONNX file {path} {what}")
        actual = digest(path)
        if actual != expected:
            raise ModelError(
                f"model '{entry.card.ref}': sha256 of {path} is {actual}, but its card "
                f"{entry.card_path} says {expected}; the file was changed or corrupted after export"
            )


def runnable_problem(card: ModelCard, folder: Path | None = None) -> str | None:
    """Why the service can never decode with ``card`` (in ``folder``, named in the advice), whatever the stream (None:
    nothing known against it): a card format 1 (a bare recurrent graph, no step graph) or a unit that is no voltage
    (the stream is converted into it), or a recurrent architecture other than its step graph's
    (:func:`~bci_stream.core.card.architecture_problem`)."""
    if card.step is None:
        return (f"model '{card.ref}' is card format {card.format_version} without a step graph; upgrade its folder "
                f"with `bci-stream upgrade-model {folder or 'DIR'}` (needs the train extra)")
    if volts_per_unit(card.unit) is None:
        return (f"model '{card.ref}': the card's unit {card.unit!r} is not a voltage unit this service converts "
                "(e.g. microvolts, volts, '0.0224 uV')")
    return architecture_problem(card)


def external_problem(ref: str, external: list[str]) -> str | None:
    """Why a model whose graph keeps tensors in other files (``external``: their names) cannot be served: its card's
    sha256 covers ``model.onnx`` only and a decoder's pinned copy holds the card's files only, so such weights could
    change unseen under a running service (audit s46, security review); None for a self-contained graph."""
    if not external:
        return None
    return (f"model '{ref}' keeps tensors outside model.onnx ({', '.join(external)}): its card's sha256 does not "
            "cover them and a decoder's copy would lack them; save the graph with its tensors inside "
            "(onnx.save(model, path, save_as_external_data=False); a graph over 2 GB cannot be served)")


def entry_problem(entry: ModelEntry, digest: Callable[[Path], str] | None = None) -> str | None:
    """Why no decoder can load ``entry`` (its files missing or not as its card describes them: :func:`verify_files`,
    with ``digest``, :func:`cached_sha256` by default; or :func:`runnable_problem`), or None. What ``/ready`` lists in
    ``model_problems``, ``bci-stream models`` prints and a "not found" message tells apart (one check for all three:
    before, ``bci-stream models`` listed a corrupt ONNX file and a format-1 folder as healthy; and a card edited after
    export, which its graph's metadata contradicts: :func:`~bci_stream.core.card.metadata_problem`)."""
    try:
        verify_files(entry, digest or cached_sha256)
        meta, external, shapes = cached_facts(entry.onnx_path)
        return (runnable_problem(entry.card, entry.directory) or external_problem(entry.card.ref, external)
                or metadata_problem(entry.card, meta, entry.onnx_path)
                or _whose(entry.card.ref, axes_problem(entry.card, shapes, entry.onnx_path)))
    except OnnxFormatError as exc:
        return f"model '{entry.card.ref}': {entry.onnx_path} is not an ONNX model this service reads ({exc})"
    except ModelError as exc:
        return str(exc)
    except OSError as exc:  # out of file descriptors, an I/O error: cannot be loaded now
        return f"model '{entry.card.ref}': its files cannot be read ({exc.strerror or exc})"


def _whose(ref: str, why: str | None) -> str | None:
    return None if why is None else f"model '{ref}': {why}"


def open_model_folder(path: Path | str) -> ModelEntry:
    """The model in folder ``path`` (or ``path`` is its ``model.json``), its files verified as :meth:`ModelRegistry.get`
    does; for commands that take a model folder where a registry name would also do.

    Raises
    ------
    ModelError
        When ``path`` holds no ``model.json``, the card is unreadable or invalid, or a file disagrees with it.
    """
    path = Path(path)
    card_path = path if path.name == CARD_FILE else path / CARD_FILE
    if not card_path.is_file():
        raise ModelError(f"model card {card_path} does not exist" if card_path == path
                         else f"{path} is not a model folder: it has no {CARD_FILE}")
    entry = ModelEntry(read_card(card_path), card_path.parent)
    verify_files(entry)
    return entry


def open_model_ref(ref: str, models_dir: Path | str) -> ModelEntry:
    """The model a command line names: a model folder or its ``model.json`` on disk, else ``NAME[@VERSION]`` in
    the registry at ``models_dir`` (files verified either way).

    Raises
    ------
    ModelNotFoundError
        When ``ref`` is a path that does not exist (it cannot be a registry name: a name has no ``/`` and does not
        start with ``.`` or ``~``), or a name the registry does not hold.
    ModelError
        When ``ref`` is a file other than ``model.json``, or the model is broken.
    """
    path = Path(ref).expanduser()
    name_like = re.match(MODEL_NAME_PATTERN.rstrip("$"), ref) and "/" not in ref and "\\" not in ref
    if path.is_dir() and not (path / CARD_FILE).is_file() and name_like:
        # a folder here of the model's name that is no model (a subject's recordings, ``s01/``, beside a model s01):
        # the registry's model of that name; before, the folder was opened and refused
        try:
            return ModelRegistry(models_dir).get(ref)
        except ModelNotFoundError as exc:
            raise ModelError(f"{ref} is not a model folder (it has no {CARD_FILE}), nor a model of the registry at "
                             f"{models_dir} ({exc})") from exc
    if path.is_dir() or (path.name == CARD_FILE and path.is_file()):
        return open_model_folder(path)
    if path.exists():
        raise ModelError(f"{ref} is a file, not a model: give a model folder (holding {CARD_FILE}), its {CARD_FILE}, "
                         "or a registry NAME[@VERSION]")
    if not name_like:
        raise ModelNotFoundError(f"{ref} does not exist (a path; a registry name has no '/' and does not start "
                                 "with '.' or '~')")
    return ModelRegistry(models_dir).get(ref)


def _part_key(part: str) -> tuple[int, int, str, int, str]:
    """One dot-separated part: by its number, a suffix before none (``9b`` < ``9`` < ``10``, as PEP 440's
    pre-releases), then the suffix's letters and number (``rc9`` < ``rc10``); no number: below every number."""
    num, letters, n2, rest = re.fullmatch(r"(\d*)(\D*)(\d*)(.*)", part).groups()  # type: ignore[union-attr]
    return (int(num) if num else -1, 0 if letters or n2 or rest else 1, letters, int(n2) if n2 else -1, rest)


def _version_key(version: str) -> tuple:
    """The order of card versions (``name`` alone means the highest): numbers compared as numbers part by part, a
    ``-pre`` release before its release (``1.0.10-rc1`` < ``1.0.10``, as semver), ``+build`` only to break a tie.
    Before, any part with a letter ranked above every number (``1.0.9b`` > ``1.0.10``)."""
    main, _, build = version.partition("+")
    release, dash, pre = main.partition("-")
    return (tuple(_part_key(p) for p in release.split(".")), 0 if dash else 1,
            tuple(_part_key(p) for p in pre.split(".")) if dash else (), build)


def _twin_problems(entries: list[ModelEntry]) -> dict[str, str]:
    """Each ``NAME@VERSION`` that several folders hold with other bytes, with its problem (:func:`_twins`)."""
    by_ref: dict[str, list[ModelEntry]] = {}
    for entry in entries:
        by_ref.setdefault(entry.card.ref, []).append(entry)
    return {ref: _twins(same) for ref, same in by_ref.items() if len({e.card.sha256 for e in same}) > 1}


def _twins(same: list[ModelEntry]) -> str:
    """The problem of one ``NAME@VERSION`` in several folders with other bytes (a copy made by hand)."""
    return (f"model {same[0].card.ref} is in {len(same)} folders with different files: "
            + ", ".join(f"{e.directory} (sha256 {e.card.sha256[:12]})" for e in same)
            + ": which one is meant cannot be told; give one of them another version (or name), or remove it")


#: Errors of a folder that cannot be looked in (for good, unlike a passing shortage of file descriptors or memory).
CANNOT_LOOK = frozenset({errno.EACCES, errno.EPERM, errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR})


def _unreadable_folders(root: Path) -> list[str]:
    """The model folders directly under ``root`` that cannot be read (a glob skips them in silence: a model copied
    under a umask of 077 was simply "not found")."""
    found = []
    try:
        with os.scandir(root) as it:
            folders = [Path(e.path) for e in it if not e.name.startswith(".") and e.is_dir()]
    except OSError:  # a passing shortage (EMFILE): the scan that follows says it, as before
        return []
    for folder in folders:
        try:
            with os.scandir(folder) as it:
                next(it, None)
        except OSError as exc:
            if exc.errno in CANNOT_LOOK:
                found.append(f"model folder {folder} cannot be read ({exc.strerror or exc})")
    return found


class ModelRegistry:
    """Lists and loads the models under ``root``. Cheap to construct; reads the folder on each call."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def scan(self) -> tuple[list[ModelEntry], list[str]]:
        """All valid model entries, sorted by name then version (``bci-stream models``, ``GET /models``), and one
        message per folder whose card could not be read."""
        entries, problems = self._scan()
        entries.sort(key=lambda e: (e.card.name, _version_key(e.card.version)))
        return entries, [str(exc) for exc in problems]

    def checked(self) -> tuple[list[tuple[ModelEntry, str | None]], list[str]]:
        """:meth:`scan`, each entry with its :func:`entry_problem` (None: a decoder can load it; a ``NAME@VERSION``
        in two folders with other bytes: that, for each copy, not among the folder problems): what ``/ready`` and
        ``bci-stream models`` report."""
        entries, problems = self.scan()
        twins = _twin_problems(entries)  # each copy's own problem: no decoder can load either (audit s66model F1)
        return ([(e, twins.get(e.card.ref) or entry_problem(e)) for e in entries],
                [p for p in problems if p not in twins.values()])

    def root_problem(self) -> str | None:
        """Why the models directory cannot be listed (it does not exist, or cannot be looked in: a folder on the way
        the user may not search, EACCES), or None. Before, a directory that could not be looked in raised out of
        every listing (``GET /models`` and ``/ready`` answered 500, ``bci-stream models`` a traceback), and one that
        could not be read looked empty ("no model")."""
        try:
            if not self.root.is_dir():  # (a file there: said so, not "does not exist": audit s68fault)
                what = "is a file, not a folder" if self.root.exists() else "does not exist"
                return f"models directory {self.root} {what}"
            with os.scandir(self.root) as it:
                next(it, None)
        except OSError as exc:
            if exc.errno not in CANNOT_LOOK:  # a passing shortage (EMFILE, EIO): the scan says it, as before
                return None
            return (f"models directory {self.root} cannot be read ({exc.strerror or exc}): give the service's user "
                    "access to it")
        return None

    def _scan(self) -> tuple[list[ModelEntry], list[ModelError | ModelUnavailableError]]:
        entries: list[ModelEntry] = []
        problems: list[ModelError | ModelUnavailableError] = []
        if (why := self.root_problem()) is not None:
            return entries, [ModelError(why)]
        problems += [ModelError(why) for why in _unreadable_folders(self.root) + cardless_folders(self.root)]
        for card_path in sorted(self.root.glob(f"*/{CARD_FILE}")) + sorted(self.root.glob(f"*/*/{CARD_FILE}")):
            if any(part.startswith(".") for part in card_path.relative_to(self.root).parts):
                continue  # hidden: a folder being written or replaced (train.export.folder_swap), no model
            try:
                entries.append(ModelEntry(read_card(card_path), card_path.parent))
            except (ModelError, ModelUnavailableError) as exc:
                problems.append(exc)
        problems += [ModelError(why) for why in _twin_problems(entries).values()]
        if (self.root / CARD_FILE).is_file():  # `--models-dir models/NAME`: its own model is not listed (s66model F3)
            problems.append(ModelError(f"{self.root} is a model folder (it holds {CARD_FILE}), not a models "
                                       f"directory: give the folder that holds it, {self.root.parent}"))
        return entries, problems

    def list(self) -> list[ModelEntry]:
        """Valid model entries, sorted by name then version."""
        return self.scan()[0]

    def resolve(self, ref: str) -> ModelEntry:
        """Find ``name`` (highest version) or ``name@version``; files are not verified here."""
        return self._copies(ref)[-1]

    def _copies(self, ref: str) -> list[ModelEntry]:
        """The folders of the model ``ref`` means (one, or copies of the same files), the one :meth:`resolve` picks
        last; ModelNotFoundError or ModelError (copies with other files) as :meth:`resolve` says."""
        name, at, version = ref.partition("@")
        if at and not version:
            raise ModelNotFoundError(f"model {ref!r} not found: its version after '@' is empty (give NAME for its "
                                     "highest version, or NAME@VERSION)")
        matches = [e for e in self.list() if e.card.name == name and (not version or e.card.version == version)]
        if not matches:
            known, cannot = self._loadable_refs()
            # a folder named like the model whose card is unreadable: say so, not just "not found"; one that
            # could not be read now (out of file descriptors, an I/O error) is not "not found": retry it
            # (the folder of that name: not any segment of a path, e.g. of the registry's own)
            here = re.compile(re.escape((self.root / name).as_posix()) + r"(/|\s|:|\)|$)")
            broken = [p for p in self._scan()[1] if here.search(str(p).replace("\\", "/"))]
            if unavailable := [p for p in broken if isinstance(p, ModelUnavailableError)]:
                raise unavailable[0]
            if broken:  # its folder is there: why it cannot be read comes first, not after every other model's
                raise ModelNotFoundError(f"model {ref!r} not found in {self.root}: "  # (audit s67eng F4)
                                         + "; ".join(str(p) for p in broken)
                                         + f" (loadable: {', '.join(known) or 'none'})")
            raise ModelNotFoundError(
                f"model {ref!r} not found in {self.root} (available: {', '.join(known) or 'none'}"
                + "".join(f"; cannot load: {why}" for why in cannot)
                + (")" if (why := self.root_problem()) is None else "; that folder does not exist)"
                   if why.endswith("does not exist") else f"; {why})")
                + "".join(f"; {why}" for why in misnamed_folders(self.root, name, ((e.card, e.directory)
                                                                                  for e in self.list())))
            )
        same = [e for e in matches if e.card.version == matches[-1].card.version]
        if len({e.card.sha256 for e in same}) > 1:  # which one is meant cannot be told: never pick one silently
            raise ModelError(_twins(same))
        return same

    def _loadable_refs(self) -> tuple[list[str], list[str]]:
        """The refs of the models a decoder can load, and each other one with why it cannot (``"c@1 (ONNX file ...
        does not exist)"``), for a "not found" message: a model whose files are missing or changed, or that no
        decoder could run (``/ready`` lists it in ``model_problems``), is no model to offer instead."""
        whys: dict[str, list[str | None]] = {}
        for entry, why in self.checked()[0]:
            whys.setdefault(entry.card.ref, []).append(why)
        loadable = sorted(ref for ref, found in whys.items() if None in found)  # one whole copy is enough (get)
        cannot = [f"{ref} ({_about(ref, next(w for w in found if w))})" for ref, found in sorted(whys.items())
                  if None not in found]
        return loadable, cannot

    def get(self, ref: str) -> ModelEntry:
        """Resolve ``ref`` and verify its ONNX file against the card's sha256: of copies of one model (one card in
        two folders), the one :meth:`resolve` picks unless its files are broken (a copy missing its ONNX) and
        another's are whole; the first's error when none is."""
        copies = self._copies(ref)
        problems = []
        for entry in reversed(copies):
            try:
                verify_files(entry)
                return entry
            except ModelError as exc:
                problems.append(exc)
        raise problems[0]


def _about(ref: str, why: str) -> str:
    """``why`` (a message that begins by naming model ``ref``) without that name: ``"model 'a@1': X"`` -> ``"X"``,
    ``"model 'a@1' is X"`` -> ``"it is X"``."""
    head = f"model '{ref}'"
    if not why.startswith(head):
        return why
    rest = why[len(head):]
    return rest[2:] if rest.startswith(": ") else "it" + rest


#: path -> ((inode, size, mtime), sha256) of the files checked by /ready (a probe every few seconds reads each file
#: once) and by a "not found" message.
_DIGESTS: dict[str, tuple[tuple[int, int, int], str]] = {}


def cached_sha256(path: Path) -> str:
    """The sha256 of ``path``, read again only when its inode, size or modification time changed."""
    return per_file(_DIGESTS, path, sha256_file)
