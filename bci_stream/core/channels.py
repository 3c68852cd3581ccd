"""Channel names: one normaliser for the whole project, and picking channels by (normalised) name.

Only :mod:`re` and numpy here: the online path (``bci_stream.lsl.source``) imports this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_EEG_PREFIX = re.compile(r"^eeg[\s_:-]+", re.IGNORECASE)
_TEN_TEN = re.compile(r"^([A-Za-z]{1,3}?)(\d{1,2}|[zZ])$")
# a reference written after the position, as clinical amplifiers and EDF exports name channels ("C3-REF",
# "EEG C3-A2", "Cz-M1", "C3-LE", "C3-AVG"): dropped when what precedes it is a 10-10 position
_REF_SUFFIX = re.compile(r"^(.+?)\s*-\s*(?:ref|le|ar|avg|car|a1|a2|m1|m2|a12|m12|lm|rm)$", re.IGNORECASE)


def normalise_ch_name(name: str) -> str:
    """A channel name in 10-10 spelling: ``"Fc5."`` → ``"FC5"``, ``"EEG Cz"`` → ``"Cz"``, ``"fpz"`` → ``"Fpz"``.

    Strips whitespace and leading/trailing dots, drops an ``EEG`` prefix (``"EEG "``, ``"EEG-"``,
    ``"EEG_"``, ``"EEG:"``) and a reference suffix after a 10-10 position (``"C3-REF"``, ``"C3-A2"``, ``"Cz-M1"``,
    ``"C3-LE"``, ``"C3-AVG"`` → ``"C3"``; a bipolar ``"C3-C4"`` is kept), then, when the rest looks like a
    10-10 position (letters + number or ``z``), writes the letters upper case (``Fp`` stays ``Fp``) and ``z``
    lower case. Other names (``"EOG1"``, ``"STI 014"``) are only stripped.
    """
    out = _EEG_PREFIX.sub("", name.strip()).strip(". \t")
    ref = _REF_SUFFIX.match(out)
    if ref is not None and _TEN_TEN.match(ref.group(1).strip(". ")):
        out = ref.group(1).strip(". ")
    m = _TEN_TEN.match(out)
    if m is None:
        return out
    letters, pos = m.groups()
    letters = "Fp" if letters.upper() == "FP" else letters.upper()
    return letters + pos.lower()


# names of channels that are not EEG (electro-oculogram, -cardiogram, -myogram, triggers, auxiliary sensors)
_NON_EEG_NAME = re.compile(r"^(?:[vhlr]?eog|ecg|ekg|emg|sti(?![a-z])|stim|status|trig|resp|gsr|eda|ppg|spo2|pulse|"
                           r"photo|acc|aux|marker|event|temp(?![a-z])|temperature)", re.IGNORECASE)
EEG_TYPES = ("eeg",)


def non_eeg_reason(name: str, ch_type: str | None = None) -> str | None:
    """Why a channel is not EEG, or None when it may be: a declared type other than ``eeg`` (``"type eog"``), or
    a name of a non-EEG sensor (``"EOG1"``, ``"ECG"``, ``"EMG-L"``, ``"STI 014"``, ``"Status"``, ``"AUX1"``:
    ``"name"``)."""
    if ch_type is not None and ch_type.lower() not in EEG_TYPES:
        return f"type {ch_type}"
    return "name" if _NON_EEG_NAME.match(normalise_ch_name(name)) else None


def ch_name_key(name: str) -> str:
    """The key names are compared by: :func:`normalise_ch_name`, case-folded (``"C3.."`` ≡ ``"c3"``)."""
    return normalise_ch_name(name).casefold()


def match_channels(available: Sequence[str], wanted: Sequence[str]
                   ) -> tuple[list[int], list[str], dict[str, list[str]]]:
    """Index into ``available`` of each name in ``wanted``: exact match first, then by :func:`ch_name_key`.

    Returns
    -------
    idx
        One index per found name, in the order of ``wanted``.
    missing
        Names of ``wanted`` found nowhere.
    ambiguous
        Names of ``wanted`` whose key matches several ``available`` names (name → those names).
    """
    exact: dict[str, list[int]] = {}
    for i, name in enumerate(available):
        exact.setdefault(name, []).append(i)
    loose: dict[str, list[int]] = {}
    for i, name in enumerate(available):
        loose.setdefault(ch_name_key(name), []).append(i)
    idx: list[int] = []
    missing: list[str] = []
    ambiguous: dict[str, list[str]] = {}
    for name in wanted:
        hits = exact.get(name) or loose.get(ch_name_key(name), [])
        if len(hits) == 1:
            idx.append(hits[0])
        elif hits:
            ambiguous[name] = [available[h] for h in hits]
        else:
            missing.append(name)
    return idx, missing, ambiguous


#: The 10-20 names of four positions that 10-10 renamed (10-20 → 10-10). Older caps and clinical montages use the
#: left side; MNE's and most newer montages the right. Names are not matched across them: a message only hints.
TEN_TWENTY_RENAMED = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}


def renamed_hint(missing: Sequence[str], available: Sequence[str | None], source: str = "stream") -> str:
    """A hint for a message on ``missing`` channels when ``available`` has them under their other name (10-20
    ``T3``/``T4``/``T5``/``T6`` for 10-10 ``T7``/``T8``/``P7``/``P8``, or the reverse): ``""`` when none is."""
    have = {ch_name_key(a): a for a in available if a}
    other = {**TEN_TWENTY_RENAMED, **{new: old for old, new in TEN_TWENTY_RENAMED.items()}}
    pairs = []
    for name in missing:
        alt = other.get(normalise_ch_name(name))
        if alt is not None and ch_name_key(alt) in have:
            pairs.append((have[ch_name_key(alt)], name))
    if not pairs:
        return ""
    theirs, wanted = ", ".join(a for a, _ in pairs), ", ".join(w for _, w in pairs)
    return (f" ({source} has {theirs}: the other name of {wanted}; T3, T4, T5, T6 of 10-20 are T7, T8, P7, P8 of "
            f"10-10. Names are not matched across the two systems: rename the channels to the model's names)")


def shortlist(names: Sequence[object], limit: int = 10) -> str:
    """The first ``limit`` of ``names`` for a message, comma-separated, ``" ..."`` when there are more."""
    return ", ".join(map(str, names[:limit])) + (" ..." if len(names) > limit else "")


def pick_channels(data: np.ndarray, ch_names: Sequence[str], wanted: Sequence[str], *,
                  source: str = "recording") -> tuple[np.ndarray, list[str]]:
    """Rows of ``data`` for ``wanted`` channels, in that order, and their names as the file gives them.

    Raises
    ------
    ChannelError
        If a wanted name is missing, ambiguous, or asked twice.
    """
    from bci_stream.core.errors import ChannelError

    dupes = sorted({n for n in wanted if list(wanted).count(n) > 1})
    if dupes:
        raise ChannelError(f"ch_names must not repeat a channel; got {shortlist(dupes)} more than once")
    idx, missing, ambiguous = match_channels(ch_names, wanted)
    if ambiguous:
        name, hits = next(iter(ambiguous.items()))
        raise ChannelError(f"ch_names entry {name!r} matches several channels of {source}: {hits}")
    if missing:
        raise ChannelError(
            f"ch_names has {len(missing)} channel(s) not in {source}: {shortlist(missing)} "
            f"({source} has {len(ch_names)} channels: {shortlist(list(ch_names))})"
            + renamed_hint(missing, ch_names, source)
        )
    if len(set(idx)) != len(idx):
        raise ChannelError(f"ch_names must not name the same channel twice (after normalising); got {list(wanted)}")
    return data[idx], [ch_names[i] for i in idx]
