"""The version ``bci-stream calibrate`` writes on a model's card.

A registry (and a hot swap, the provenance stream, a lab's records) tells models apart by ``name@version``. So a
calibration never writes a ``name@version`` that the registry folder already holds: the first model named NAME
is ``1.0.0``; a model that replaces one (``--overwrite`` of ``OUT/NAME``), or a NAME that another folder of
``OUT`` already carries (a kept copy), gets the highest version of NAME there with its last number + 1
(``1.0.0`` → ``1.0.1``, ``2.3`` → ``2.4``; a version without a number gets ``.1``).

``bci-stream train`` keeps the same rule for the version its config asks for (``export.version``,
:func:`version_to_write`): that version when no model of the name is held, or when it is above every one held; else
the next version, as a calibration's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bci_stream.core.card import CARD_FILE, MODEL_NAME_PATTERN
from bci_stream.core.registry import ModelRegistry, _version_key

FIRST_VERSION = "1.0.0"
#: The longest ``--name``: the model is written into a hidden folder beside ``OUT/NAME`` first
#: (``.NAME.writing-XXXXXXXX``, :func:`~bci_stream.train.export.folder_swap.write_folder`), whose name must fit the
#: file system's 255-byte limit. Before, a longer name failed after the whole calibration, with a traceback
#: (``OSError: [Errno 36] File name too long``; audit s51).
MAX_NAME_LENGTH = 200


def name_problem(name: str | None) -> str | None:
    """Why ``name`` cannot be a model's ``--name``, or None: :data:`MODEL_NAME_PATTERN` (a plain folder name of the
    registry) and at most :data:`MAX_NAME_LENGTH` characters."""
    if not re.fullmatch(MODEL_NAME_PATTERN, name or ""):
        return (f"--name must start with a letter or digit and hold only letters, digits, _ . - (it names the folder "
                f"OUT/NAME; pattern {MODEL_NAME_PATTERN}); got {name!r}")
    if len(name or "") > MAX_NAME_LENGTH:
        return (f"--name must be at most {MAX_NAME_LENGTH} characters (it names the folder OUT/NAME, written first as "
                f".NAME.writing-XXXXXXXX beside it, within the file system's limit of 255 bytes per name); got "
                f"{len(name or '')} characters: {(name or '')[:40]!r}...")
    return None


def bump(version: str) -> str:
    """``version`` with its last number + 1 (``1.0.9`` → ``1.0.10``, ``1.2.0-rc1`` → ``1.2.0-rc2``), or with
    ``.1`` appended when it holds no number."""
    m = re.search(r"(\d+)(?!.*\d)", version)
    if m is None:
        return f"{version}.1"
    return f"{version[:m.start()]}{int(m.group(1)) + 1}{version[m.end():]}"


def versions_held(out_dir: Path | str, name: str, folder: Path | str | None = None) -> list[tuple[str, Path]]:
    """Every version of model ``name`` in the registry folder ``out_dir``: the cards the registry reads, and the
    card of the model folder that is replaced, ``folder`` (default ``OUT/NAME``), even if the registry cannot
    validate it (it is what ``--overwrite`` replaces)."""
    out_dir = Path(out_dir)
    replaced = out_dir / name if folder is None else Path(folder)
    found = [(e.card.version, e.directory) for e in ModelRegistry(out_dir).scan()[0] if e.card.name == name]
    try:
        raw = json.loads((replaced / CARD_FILE).read_text(encoding="utf-8"))
        if raw.get("name") == name and isinstance(raw.get("version"), str) and raw["version"]:
            found.append((raw["version"], replaced))
    except (OSError, ValueError, AttributeError):
        pass
    return found


def next_version(out_dir: Path | str, name: str) -> tuple[str, str | None]:
    """The version to write for ``name`` in ``out_dir``, and the highest one already there (None: none).

    ``1.0.0`` when no model named ``name`` is in ``out_dir``; else :func:`bump` of the highest (by the registry's
    order, the one ``name`` without ``@version`` resolves to)."""
    held = versions_held(out_dir, name)
    if not held:
        return FIRST_VERSION, None
    return _after(held), max((v for v, _ in held), key=_version_key)


def version_to_write(out_dir: Path | str, name: str, wanted: str,
                     folder: Path | str | None = None) -> tuple[str, str | None]:
    """The version to write for ``name`` asked for as ``wanted`` (``train``'s ``export.version``), and the highest
    one already in ``out_dir`` (None: none).

    ``wanted`` when no model named ``name`` is in ``out_dir`` (nor in ``folder``, the model folder that is replaced,
    default ``OUT/NAME``), or when ``wanted`` is above every version held (by the registry's order); else, as for
    :func:`next_version`, :func:`bump` of the highest: a version held, or one below the highest (a replaced model's
    version may have named other bytes before), is never written again."""
    held = versions_held(out_dir, name, folder)
    if not held:
        return wanted, None
    top = max((v for v, _ in held), key=_version_key)
    if _version_key(wanted) > _version_key(top):
        return wanted, top
    return _after(held), top


def _after(held: list[tuple[str, Path]]) -> str:
    """:func:`bump` of the highest version in ``held``, bumped again while it is in ``held``."""
    new = bump(max((v for v, _ in held), key=_version_key))
    while new in {v for v, _ in held}:  # only where the number is not the version's last field ordered as a number
        new = bump(new)
    return new


def existing_model(model_dir: Path) -> str | None:
    """What the folder ``model_dir`` (``OUT/NAME``) already holds, in words (``model NAME@VERSION (sha256 ...)``,
    or its files), or None when it is absent or empty."""
    if model_dir.exists() and not model_dir.is_dir():
        return "a file (not a model folder)"
    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        return None
    try:
        card = json.loads((model_dir / CARD_FILE).read_text(encoding="utf-8"))
        return f"model {card['name']}@{card['version']} (sha256 {str(card['sha256'])[:12]})"
    except (OSError, ValueError, KeyError, TypeError):
        files = sorted(p.name + ("/" if p.is_dir() else "") for p in model_dir.iterdir())
        return f"files ({', '.join(files[:6])}{', ...' if len(files) > 6 else ''})"


def changed_meanwhile(model_dir: Path, held: str | None) -> str | None:
    """Why the model folder ``model_dir`` may not be replaced now: it holds other than ``held`` (what it held when the
    work began, :func:`existing_model`), a model written there meanwhile (a second ``calibrate`` of that name, a copy)
    that replacing would lose, perhaps under the same NAME@VERSION (audit s64cal F8); None when it is unchanged."""
    now = existing_model(model_dir)
    if now == held:
        return None
    return (f"--name {model_dir.name}: {model_dir} was changed while this calibration ran: it holds {now or 'nothing'} "
            f"now, {held or 'nothing'} at the start; nothing was replaced (a second calibrate of that name, or a "
            "copy?): run again, with --overwrite to replace it")


def registry_problem(out_dir: Path | str) -> str | None:
    """Why ``out_dir`` (``--out``) cannot take a new model folder ``OUT/NAME``, or None: it is a model's own folder
    (it holds a ``model.json``), where the registry above it would list the new model as one of that model's kept
    versions, and an ``--overwrite`` of that model would carry it along (before: written there with no word; audit
    s51). A ``model.json`` that is no card (no name and version) is not a model's: the registry ignores it. The
    registry named is the first folder above that is no model's (a kept version's folder is inside its model's)."""
    out_dir = Path(out_dir).absolute()  # "." has a parent to name
    held = existing_model(out_dir) if (out_dir / CARD_FILE).is_file() else None
    if held is None or not held.startswith("model "):
        return None
    registry = out_dir.parent
    while (registry / CARD_FILE).is_file() and registry.parent != registry:
        registry = registry.parent
    return (f"--out {out_dir} is the folder of {held}, not a model registry: give the registry folder that holds it "
            f"({registry}), or another folder")


__all__ = ["FIRST_VERSION", "MAX_NAME_LENGTH", "bump", "existing_model", "name_problem", "next_version",
           "registry_problem", "version_to_write", "versions_held"]
