"""What the registry says of folders that hold no model it can list: a graph without its card, and a folder named
like a model whose card names another (both were "not found" with no word of the folder, and absent from ``/ready``
and ``bci-stream models``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bci_stream.core.card import CARD_FILE, ONNX_FILE, ModelCard


def cardless_folders(root: Path) -> list[str]:
    """One problem per model folder under ``root`` (``<dir>/`` or ``<dir>/<version>/``, hidden ones skipped as the
    scan skips them) that holds ``model.onnx`` but no ``model.json``: nothing can load it, and nothing said so."""
    found = []
    for onnx_path in sorted(root.glob(f"*/{ONNX_FILE}")) + sorted(root.glob(f"*/*/{ONNX_FILE}")):
        if any(part.startswith(".") for part in onnx_path.relative_to(root).parts):
            continue
        folder = onnx_path.parent
        if not (folder / CARD_FILE).exists():
            found.append(f"model folder {folder} holds {ONNX_FILE} but no {CARD_FILE} card ({folder / CARD_FILE} "
                         "does not exist): no decoder can load it; write its card (a format-1 card, then `bci-stream "
                         "upgrade-model DIR`, for your own export) or remove the folder")
    return found


def misnamed_folders(root: Path, name: str, cards: Iterable[tuple[ModelCard, Path]]) -> list[str]:
    """For a model ``name`` not found: each folder ``root/name`` (or a version folder in it) whose card (of
    ``cards``: card and folder) names another model, said with the card's name."""
    folder = root / name
    return [f"folder {directory} holds model '{card.ref}': its card's name is {card.name!r}, not {name!r} (a model is "
            f"asked for by its card's name: ask for {card.name!r}, or set the card's name to {name!r})"
            for card, directory in cards
            if card.name != name and (directory == folder or directory.parent == folder)]
