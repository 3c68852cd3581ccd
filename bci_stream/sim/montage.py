"""10-10 channel names and approximate 2-D scalp positions for simulated EEG.

The reference montage is the 64-channel cap used by the PhysioNet EEG Motor
Movement/Imagery dataset (EEGMMIDB, recorded with BCI2000), with standard 10-10
capitalisation.

Positions returned by :func:`ten_ten_position` live on a coarse grid: ``x`` is the
lateral index (left negative, right positive; one unit is roughly one 10 % step)
and ``y`` is the row (front positive, ``C`` row = 0). They are meant for
distance-based spatial spreading of simulated sources, not for source imaging.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from numbers import Integral

from bci_stream.core.channels import ch_name_key

__all__ = ["TEN_TEN_64", "UNKNOWN_POSITION", "ten_ten_names", "ten_ten_position", "unplaced"]

TEN_TEN_64: tuple[str, ...] = (
    "FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6",
    "C5", "C3", "C1", "Cz", "C2", "C4", "C6",
    "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6",
    "Fp1", "Fpz", "Fp2",
    "AF7", "AF3", "AFz", "AF4", "AF8",
    "F7", "F5", "F3", "F1", "Fz", "F2", "F4", "F6", "F8",
    "FT7", "FT8",
    "T7", "T8", "T9", "T10",
    "TP7", "TP8",
    "P7", "P5", "P3", "P1", "Pz", "P2", "P4", "P6", "P8",
    "PO7", "PO3", "POz", "PO4", "PO8",
    "O1", "Oz", "O2",
    "Iz",
)  # fmt: skip

#: Position given to names that cannot be parsed (e.g. ``EEG065``): behind the
#: inion, far from the sensorimotor sources at C3/Cz/C4.
UNKNOWN_POSITION: tuple[float, float] = (0.0, -6.0)

# Channels picked first when a subset of the 64 is requested.
_PRIORITY: tuple[str, ...] = (
    "C3", "C4", "Cz",
    "FC3", "FC4", "CP3", "CP4", "C1", "C2", "C5", "C6", "FCz", "CPz",
    "O1", "O2", "Oz", "Pz", "Fz",
)  # fmt: skip

_ROWS: dict[str, float] = {
    "fp": 4.0,
    "af": 3.0,
    "f": 2.0,
    "fc": 1.0,
    "ft": 1.0,
    "c": 0.0,
    "t": 0.0,
    "cp": -1.0,
    "tp": -1.0,
    "p": -2.0,
    "po": -3.0,
    "o": -4.0,
    "i": -5.0,
}

# Old 10-20 temporal names -> 10-10 equivalents.
_ALIASES: dict[str, str] = {"t3": "t7", "t4": "t8", "t5": "p7", "t6": "p8"}

# Two-letter prefixes must be tried before their one-letter heads.
_NAME_RE = re.compile(r"^(fp|af|fc|ft|cp|tp|po|f|c|t|p|o|i)(z|[1-9][0-9]?)$")


def ten_ten_names(n_chans: int) -> list[str]:
    """Channel names for an ``n_chans``-channel simulated cap.

    Parameters
    ----------
    n_chans : int
        Number of channels, ``>= 1``.

    Returns
    -------
    list of str
        For ``n_chans <= 64`` a subset of :data:`TEN_TEN_64`, chosen by priority
        (C3, C4, Cz, then their sensorimotor neighbours FC3 FC4 CP3 CP4 C1 C2 C5
        C6 FCz CPz, then O1 O2 Oz Pz Fz, then the remaining channels in montage
        order) and returned in :data:`TEN_TEN_64` order. So any ``n_chans >= 3``
        contains C3, C4 and Cz. For ``n_chans > 64`` all 64 names followed by
        ``EEG065``, ``EEG066``, ...

    Raises
    ------
    ValueError
        If ``n_chans`` is not an integer ``>= 1``.
    """
    if isinstance(n_chans, bool) or not isinstance(n_chans, Integral):
        raise ValueError(f"n_chans must be an integer >= 1, got {n_chans!r}")
    n_chans = int(n_chans)
    if n_chans < 1:
        raise ValueError(f"n_chans must be >= 1, got {n_chans}")
    if n_chans >= len(TEN_TEN_64):
        extra = [f"EEG{i:03d}" for i in range(len(TEN_TEN_64) + 1, n_chans + 1)]
        return list(TEN_TEN_64) + extra
    order = list(_PRIORITY) + [ch for ch in TEN_TEN_64 if ch not in _PRIORITY]
    chosen = set(order[:n_chans])
    return [ch for ch in TEN_TEN_64 if ch in chosen]


def ten_ten_position(name: str) -> tuple[float, float]:
    """Approximate 2-D scalp position of a 10-10 electrode, parsed from its name.

    Parameters
    ----------
    name : str
        Electrode label, case-insensitive (``"C3"``, ``"fcz"``, ``"Fc5."``, ``"EEG-C3"`` and
        old names ``T3``/``T4``/``T5``/``T6`` are understood).

    Returns
    -------
    tuple of float
        ``(x, y)``: ``x`` is the lateral index (odd number ``k`` -> left at
        ``-(k + 1) / 2``, even ``k`` -> right at ``k / 2``, ``z`` -> 0, so T7/T8,
        FT7/FT8, TP7/TP8 are at 4 and T9/T10 at 5); ``y`` is the row (Fp 4, AF 3,
        F 2, FC/FT 1, C/T 0, CP/TP -1, P -2, PO -3, O -4, I -5). Names that cannot
        be parsed (e.g. ``EEG065``) get :data:`UNKNOWN_POSITION` ``(0, -6)``.

    Raises
    ------
    ValueError
        If ``name`` is not a string.
    """
    if not isinstance(name, str):
        raise ValueError(f"name must be a str, got {type(name).__name__} {name!r}")
    s = ch_name_key(name)
    s = _ALIASES.get(s, s)
    m = _NAME_RE.match(s)
    if m is None:
        return UNKNOWN_POSITION
    prefix, num = m.groups()
    y = _ROWS[prefix]
    if num == "z":
        x = 0.0
    else:
        k = int(num)
        x = -(k + 1) / 2.0 if k % 2 else k / 2.0
    return (float(x), float(y))


def unplaced(names: Sequence[str]) -> list[str]:
    """The names of ``names`` that :func:`ten_ten_position` cannot place on the 10-10 montage (they get
    :data:`UNKNOWN_POSITION`: background EEG, hardly any of the simulated rhythms)."""
    return [n for n in names if ten_ten_position(n) == UNKNOWN_POSITION]
