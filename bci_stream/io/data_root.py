"""Where the real EEG data set lives: one rule for the train configs, the studies, the benchmarks and the tests.

The data (PhysioNet EEGMMIDB, BCI2000 samples ...) is never copied into the repository. It is found in

* the folder named by the environment variable ``BCI_STREAM_DATA`` when it is set, else
* ``../shared/data`` beside the checkout (the folder that holds the repository's folder).

That folder holds ``eegmmidb/S001/S001R01.edf`` ... as PhysioNet ships them (:data:`EEGMMIDB_URL`).
A train config names it with the placeholder ``${BCI_STREAM_DATA}`` at the start of ``data.root``
(:func:`expand_data_root`), so the same config works wherever the data is.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable naming the data folder.
DATA_ENV = "BCI_STREAM_DATA"
#: What a config's ``data.root`` starts with to mean "the data folder".
PLACEHOLDER = "${" + DATA_ENV + "}"
#: Where EEGMMIDB is downloaded from (109 subjects; one subject's folder, e.g. S001/, is 28 MB).
EEGMMIDB_URL = "https://physionet.org/content/eegmmidb/1.0.0/"


def default_data_root() -> Path:
    """``../shared/data`` beside the checkout (used when ``BCI_STREAM_DATA`` is unset)."""
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def data_root() -> Path:
    """The real-EEG folder: env ``BCI_STREAM_DATA`` when set (and not empty; a relative one is relative to the working
    directory, not to a config file that names it), else :func:`default_data_root`."""
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).expanduser().absolute() if env else default_data_root()


def expand_data_root(root: str) -> str:
    """``root`` with a leading ``${BCI_STREAM_DATA}`` replaced by :func:`data_root` (other roots unchanged).

    Raises
    ------
    ValueError
        When ``${`` appears anywhere else: only this one placeholder, only at the start, is understood.
    """
    rest = root.removeprefix(PLACEHOLDER) if root.startswith(PLACEHOLDER) else None
    if "${" in (root if rest is None else rest):
        raise ValueError(f"only {PLACEHOLDER}, at the start of the path, is replaced (by the data folder)")
    if rest is None:
        return root
    return str(data_root() / rest.lstrip("/\\"))


def missing_data_hint() -> str:
    """One sentence for an error about a missing data file: where the data was looked for and how to point at it."""
    root = data_root()
    where = (f"{DATA_ENV}={os.environ[DATA_ENV].strip()!r}" if os.environ.get(DATA_ENV, "").strip()
             else f"{DATA_ENV} is unset, so ../shared/data beside the checkout: {root}")
    return (f"real EEG is looked for under the data folder ({where}); set {DATA_ENV} to the folder that holds "
            f"eegmmidb/ (PhysioNet EEGMMIDB, {EEGMMIDB_URL})")


__all__ = ["DATA_ENV", "EEGMMIDB_URL", "PLACEHOLDER", "data_root", "default_data_root", "expand_data_root",
           "missing_data_hint"]
