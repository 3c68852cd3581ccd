"""Where the model registry is when no setting names it: the checkout's ``models/``, a ``./models`` folder, or the
bundled models an install ships (``<prefix>/share/bci-stream/models``, from ``pyproject.toml``'s data files).

Before, ``pip install .`` (the container's and the unit file's install) shipped no model: outside a checkout,
``bci-stream demo`` ended in "model 'sim-mi-gru' not found in ./models" and ``bci-stream models`` in "models directory
./models does not exist" (audit s46, reproducibility D6).
"""

from __future__ import annotations

import site
import sysconfig
from pathlib import Path

#: Where an install puts the bundled models, below its data prefix (``sysconfig``'s ``data`` path).
SHIPPED_SUBDIR = Path("share") / "bci-stream" / "models"


def checkout_models_dir() -> Path | None:
    """``models/`` of the source tree when bci-stream runs from a checkout (the folder above the ``bci_stream``
    package holds ``pyproject.toml`` and ``models/``; an installed package sits in ``site-packages``, which holds
    neither), else None."""
    root = Path(__file__).resolve().parents[2]  # bci_stream/core/model_dirs.py -> the repository's root
    models = root / "models"
    return models if (root / "pyproject.toml").is_file() and models.is_dir() else None


def shipped_models_dir() -> Path | None:
    """The bundled models this install holds, or None when it holds none (a checkout run without installing): those
    of the prefix this package was installed into (``<prefix>/lib/pythonX.Y/site-packages/bci_stream``: a venv, the
    system, ``pip install --user``'s ``~/.local``), else of this interpreter's data prefixes (review s49 F4: before,
    the system prefix came first, and a second install's models could be served)."""
    package = Path(__file__).resolve().parents[1]  # bci_stream/core/model_dirs.py -> bci_stream
    prefixes = [package.parents[3]] if package.parent.name in ("site-packages", "dist-packages") else []
    prefixes.append(Path(sysconfig.get_path("data")))
    if site.ENABLE_USER_SITE:
        prefixes.append(Path(sysconfig.get_path("data", sysconfig.get_preferred_scheme("user"))))
    return next((p / SHIPPED_SUBDIR for p in prefixes if (p / SHIPPED_SUBDIR).is_dir()), None)


def default_models_dir() -> Path:
    """The registry used when neither ``--models-dir``, ``BCI_STREAM_MODELS_DIR`` nor a config file names one: the
    checkout's ``models/``; else ``./models`` when that folder exists; else the bundled models of the install (read
    only: ``calibrate`` writes to ``./models`` then, :func:`default_calibrate_out`); else ``./models`` (a
    ``does not exist`` error names it)."""
    if (checkout := checkout_models_dir()) is not None:
        return checkout
    here = Path.cwd() / "models"
    if here.is_dir():
        return here
    return shipped_models_dir() or here


def is_shipped(models_dir: Path) -> bool:
    """Whether ``models_dir`` is the install's bundled models (:func:`shipped_models_dir`)."""
    shipped = shipped_models_dir()
    return shipped is not None and Path(models_dir).resolve() == shipped.resolve()


def default_calibrate_out(models_dir: Path) -> Path:
    """Where ``calibrate`` writes when ``--out`` is not given: the registry ``models_dir``, unless that is the
    install's bundled models (a package's files, replaced by the next install), then ``./models``."""
    return Path.cwd() / "models" if is_shipped(models_dir) else models_dir
