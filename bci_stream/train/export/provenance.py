"""What made a model: the card's ``training.provenance``, written by every export (calibrate, train, upgrade-model).

A card names its training files (names, sha256, content prints) and its configuration; to redo a model a lab also
needs the code and the libraries that fitted and exported it (audit s46 of reproducibility: the package version has
been ``0.1.0`` throughout, so it alone does not tell two builds apart). Nothing machine-specific is kept: no path,
host or user name.
"""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

#: The distributions whose versions decide a fit or an export's bytes (those installed are listed).
LIBRARIES = ("numpy", "scipy", "scikit-learn", "onnx", "onnxruntime", "torch", "mne", "pyriemann")


def package_digest(root: Path | None = None) -> str:
    """sha256 over the source of the bci_stream package (every ``.py`` file, by its path in the package, sorted):
    the same code gives the same digest on any machine."""
    root = root or Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def provenance() -> dict[str, Any]:
    """``{"bci_stream", "source_sha256", "python", "machine", "libraries"}``: the package version and a digest of its
    source (:func:`package_digest`), the Python version, the CPU architecture, and each installed library of
    :data:`LIBRARIES` with its version."""
    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        version = metadata.version("bci-stream")
    except metadata.PackageNotFoundError:  # a checkout on sys.path, not installed
        version = None
    return {"bci_stream": version, "source_sha256": package_digest(), "python": platform.python_version(),
            "machine": platform.machine(), "libraries": libraries}


def portable(value: Any) -> Any:
    """``value`` (a str, or lists and dicts of them) with this machine's absolute paths made portable, for what travels
    with a model (its card, its report): under the data folder as ``${BCI_STREAM_DATA}/...`` (the placeholder a train
    config names it by), under the home folder as ``~/...``, any other as its last part (a file or folder name);
    within a command line, each word so (audit s46 of reproducibility: cards and reports held this machine's
    ``/work/shared/data/...`` and output folders)."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable(v) for v in value]
    if not isinstance(value, str) or "/" not in value:
        return value
    if " " in value:  # a command line: word by word
        return " ".join(portable(word) for word in value.split(" "))
    path = Path(value)
    if not path.is_absolute():
        return value
    from bci_stream.io.data_root import PLACEHOLDER, data_root

    for base, shown in ((data_root(), PLACEHOLDER), (Path.home(), "~")):
        if path == base or base in path.parents:
            return (Path(shown) / path.relative_to(base)).as_posix()
    return path.name


__all__ = ["LIBRARIES", "package_digest", "portable", "provenance"]
