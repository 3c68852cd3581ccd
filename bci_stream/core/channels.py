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
# "EEG C3-A2", "Cz-M1", "C3-LE", "C3-AVG", linked ears / mastoids "C3-A1A2", "C3-A1+A2", "C3-M1M2", numbered
# "C3-REF1", or "C3 REF" after a blank): dropped when what precedes it is a 10-10 position; the ear / mastoid
# references (group "ear") are not dropped after an ear or mastoid electrode (_EAR_ELECTRODE): "A1-A2", "M1-M2",
# "A2-A1" are derivations between two reference electrodes, not the channel A1 or M1
_REF_SUFFIX = re.compile(r"^(.+?)(?:\s*-\s*(?:(?P<ear>a1|a2|m1|m2|a12|m12|a1a2|m1m2|a1\s*\+\s*a2|m1\s*\+\s*m2|le|lm|"
                         r"rm)|ref\d*|ar|avg|car)|\s+ref\d*)$", re.IGNORECASE)
_EAR_ELECTRODE = re.compile(r"^[am][12]$", re.IGNORECASE)


def normalise_ch_name(name: str) -> str:
    """A channel name in 10-10 spelling: ``"Fc5."`` → ``"FC5"``, ``"EEG Cz"`` → ``"Cz"``, ``"fpz"`` → ``"Fpz"``.

    Strips whitespace and leading/trailing dots, drops an ``EEG`` prefix (``"EEG "``, ``"EEG-"``,
    ``"EEG_"``, ``"EEG:"``) and a reference suffix after a 10-10 position (``"C3-REF"``, ``"C3-A2"``, ``"Cz-M1"``,
    ``"C3-LE"``, ``"C3-AVG"``, linked ears ``"C3-A1A2"``/``"C3-A1+A2"``/``"C3-M1M2"``, ``"C3-REF1"``, ``"C3 REF"``
    → ``"C3"``; a bipolar ``"C3-C4"``, ``"C3-Cz"``, ``"Fp1-F7"`` is kept, and so is a derivation between two ear or
    mastoid electrodes, ``"A1-A2"``, ``"A2-A1"``, ``"M1-M2"``: it is not the electrode A1 or M1, while ``"A1-REF"``
    is ``"A1"``; blanks around the dash of a derivation kept are dropped, ``"A1 - A2"`` is ``"A1-A2"``,
    ``"C3 - C4"`` is ``"C3-C4"``), then, when the rest looks like a 10-10 position (letters + number or ``z``),
    writes the letters upper case (``Fp`` stays ``Fp``) and ``z`` lower case. Other names (``"EOG1"``,
    ``"STI 014"``) are only stripped.
    """
    out = _EEG_PREFIX.sub("", name.strip()).strip(". \t")
    ref = _REF_SUFFIX.match(out)
    head = ref.group(1).strip(". ") if ref is not None else ""
    if ref is not None and _TEN_TEN.match(head):
        ear = ref.group("ear")
        out = f"{head}-{''.join(ear.split())}" if ear and _EAR_ELECTRODE.match(head) else head
    first, dash, second = out.partition("-")
    if dash and _TEN_TEN.match(first.strip()) and _TEN_TEN.match(second.strip()):
        out = f"{first.strip()}-{second.strip()}"  # a derivation "C3 - C4" is written "C3-C4"
    m = _TEN_TEN.match(out)
    if m is None:
        return out
    letters, pos = m.groups()
    letters = "Fp" if letters.upper() == "FP" else letters.upper()
    return letters + pos.lower()


# names of channels that are not EEG (electro-oculogram, -cardiogram, -myogram, triggers, auxiliary sensors), each
# group named by the mne channel type the name implies
_NON_EEG_NAME = re.compile(r"^(?:(?P<eog>[vhlr]?eog)|(?P<ecg>ecg|ekg)|(?P<emg>emg)|(?P<stim>sti(?![a-z])|stim|status|"
                           r"trig|marker|event)|(?P<resp>resp)|(?P<gsr>gsr|eda)|(?P<misc>ppg|spo2|pulse|photo|acc|aux)"
                           r"|(?P<temperature>temp(?![a-z])|temperature))", re.IGNORECASE)
EEG_TYPES = ("eeg",)


def non_eeg_type(name: str) -> str | None:
    """The mne channel type the name of a non-EEG sensor implies (``"VEOG"`` → ``"eog"``, ``"EKG"`` → ``"ecg"``,
    ``"EMG-L"`` → ``"emg"``, ``"STI 014"``/``"Status"``/``"TRIG"`` → ``"stim"``, ``"RESP"`` → ``"resp"``,
    ``"GSR"``/``"EDA"`` → ``"gsr"``, ``"Temp"`` → ``"temperature"``, ``"AUX1"``/``"PPG"``/``"ACC_X"`` →
    ``"misc"``), or None when the name may be EEG's (read after :func:`normalise_ch_name`: ``"EEG-EOG"`` is
    ``"eog"``)."""
    m = _NON_EEG_NAME.match(normalise_ch_name(name))
    return m.lastgroup if m else None


def non_eeg_reason(name: str, ch_type: str | None = None) -> str | None:
    """Why a channel is not EEG, or None when it may be: a declared type other than ``eeg`` (``"type eog"``), or
    a name of a non-EEG sensor (``"EOG1"``, ``"ECG"``, ``"EMG-L"``, ``"STI 014"``, ``"Status"``, ``"AUX1"``:
    ``"name"``, :func:`non_eeg_type`)."""
    if ch_type is not None and ch_type.lower() not in EEG_TYPES:
        return f"type {ch_type}"
    return "name" if non_eeg_type(name) is not None else None


_LETTER_NUMBER = re.compile(r"^([A-Za-z])(\d+)$")
#: A label that numbers a channel instead of naming its position (as :func:`normalise_ch_name` leaves it): ``1``,
#: ``EEG-0`` (BCI Competition IV 2a), ``Ch1``, ``CH 01``, ``EXG Channel 0`` (OpenBCI), EGI's ``E12``.
NUMBERED_LABEL = re.compile(r"^(ch|chan|channel|exg\s*channel|e)?[\s_-]*0*\d+$", re.IGNORECASE)


def bank_labelled(ch_names: Sequence[str]) -> bool:
    """Whether ``ch_names`` are BioSemi bank labels (``A1`` ... ``D32`` on a 128-channel cap): at least two labels of
    banks A-H's channels 11-32, which no 10-10 or 10-20 position has (their single-letter names stop at 10: ``F10``,
    ``P10``), and no letter numbered past 32 (EGI's ``E1`` ... ``E128`` are a net's numbers). Such a cap's ``C1`` ...
    ``C6`` are bank C's first channels (right frontal on BioSemi's 128-channel layout), not the 10-10 positions."""
    found = [(m.group(1).upper(), int(m.group(2))) for n in ch_names
             if (m := _LETTER_NUMBER.match(normalise_ch_name(n)))]
    high = [1 for letter, k in found if letter in "ABCDEFGH" and 11 <= k <= 32]
    return len(high) >= 2 and all(k <= 32 for _, k in found)


def ch_name_key(name: str) -> str:
    """The key names are compared by: :func:`normalise_ch_name`, case-folded (``"C3.."`` ≡ ``"c3"``)."""
    return normalise_ch_name(name).casefold()


#: The 10-20 names of four positions that 10-10 renamed (10-20 → 10-10): the same scalp positions (MNE's
#: ``standard_1005`` montage gives each pair the same coordinates). Older caps and clinical montages use the left
#: side; MNE's and most newer montages the right. :func:`match_channels` takes one for the other when the wanted
#: name itself is absent.
TEN_TWENTY_RENAMED = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
_OTHER_NAME = {**TEN_TWENTY_RENAMED, **{new: old for old, new in TEN_TWENTY_RENAMED.items()}}
_RENAMED_RULE = "T3, T4, T5, T6 of 10-20 are T7, T8, P7, P8 of 10-10"


def other_name(name: str) -> str | None:
    """The name of position ``name`` in the other system (``"T3"`` → ``"T7"``, ``"EEG P8"`` → ``"T6"``), or None."""
    return _OTHER_NAME.get(normalise_ch_name(name))


#: The keys of each system's names of the renamed positions: a channel set that uses one of a system's names is
#: not read under the other system's (a stream with ``T7`` and ``T5`` is not a 10-20 montage: its ``T5`` is not P7).
_SYSTEMS = (frozenset(k.casefold() for k in TEN_TWENTY_RENAMED), frozenset(v.casefold() for v in
                                                                          TEN_TWENTY_RENAMED.values()))


def renamable_type(ch_type: str | None) -> bool:
    """Whether a channel of type ``ch_type`` (a stream's ``desc`` type, a file's channel type) may be read under its
    other 10-20/10-10 name: scalp EEG or no type given. sEEG/ECoG contacts are named by shaft and number (``T5`` is
    contact 5 of shaft T, not P7)."""
    return (ch_type or "").strip().casefold() in ("", *EEG_TYPES)


def _bare(name: str) -> str:
    """``name`` without its blanks and leading/trailing dots, case-folded: ``"C3.."`` and ``"c3"`` are ``"c3"``,
    ``"EEG C3"`` is ``"eeg c3"`` (how near two names a key matches are: :func:`_lookup`)."""
    return name.strip().strip(". \t").casefold()


def _lookup(available: Sequence[str | None], wanted: Sequence[str], renamable: Sequence[bool] | None = None
            ) -> list[tuple[str, list[int], str]]:
    """Per name in ``wanted``: the indices into ``available`` (None: an unlabelled channel, never matched) it
    matches and how (``exact``, ``key``: by :func:`ch_name_key`, ``renamed``: by its :func:`other_name`, when
    neither finds it, ``wanted`` does not name that position itself, ``available`` uses none of the wanted name's
    own system's names for the renamed positions, and the channel found is ``renamable``: one flag per
    ``available`` channel, None: all are)."""
    exact: dict[str, list[int]] = {}
    loose: dict[str, list[int]] = {}
    for i, name in enumerate(available):
        if name is None:
            continue
        exact.setdefault(name, []).append(i)
        loose.setdefault(ch_name_key(name), []).append(i)
    keys = {ch_name_key(w) for w in wanted}
    out = []
    for name in wanted:
        hits, how = exact.get(name, []), "exact"
        if not hits:
            hits, how = loose.get(ch_name_key(name), []), "key"
            if len(hits) > 1 and len(near := [i for i in hits if _bare(available[i]) == _bare(name)]) == 1:
                hits = near  # the one spelled as the wanted name but for dots and case: "C3" for "C3..", not "EEG C3"
        alt = other_name(name)
        if not hits and alt is not None and alt.casefold() not in keys:
            own = next(system for system in _SYSTEMS if normalise_ch_name(name).casefold() in system)
            if own.isdisjoint(loose):
                hits = [i for i in loose.get(alt.casefold(), []) if renamable is None or renamable[i]]
                how = "renamed"
        out.append((name, hits, how))
    return out


def match_channels(available: Sequence[str | None], wanted: Sequence[str], renamable: Sequence[bool] | None = None
                   ) -> tuple[list[int], list[str], dict[str, list[str]]]:
    """Index into ``available`` (None: an unlabelled channel) of each name in ``wanted``: exact match first, then by
    :func:`ch_name_key`, then, for a 10-20/10-10 renamed position (:data:`TEN_TWENTY_RENAMED`), by its other name: a
    wanted ``T7`` reads an available ``T3`` when there is no ``T7`` (and ``wanted`` does not also name ``T3``,
    ``available`` names none of T7, T8, P7, P8, and ``renamable``, one flag per ``available`` channel, allows it:
    see :func:`renamable_type`; :func:`renamed_hint` says why a twin was not read).
    :func:`match_note` says which channels were matched so, and which were passed over.

    Returns
    -------
    idx
        One index per found name, in the order of ``wanted``.
    missing
        Names of ``wanted`` found nowhere.
    ambiguous
        Names of ``wanted`` whose key matches several ``available`` names (name → those names).
    """
    idx: list[int] = []
    missing: list[str] = []
    ambiguous: dict[str, list[str]] = {}
    for name, hits, _ in _lookup(available, wanted, renamable):
        if len(hits) == 1:
            idx.append(hits[0])
        elif hits:
            ambiguous[name] = [available[h] for h in hits]
        else:
            missing.append(name)
    return idx, missing, ambiguous


def match_note(available: Sequence[str | None], wanted: Sequence[str], source: str = "stream",
               wanted_by: str = "model", renamable: Sequence[bool] | None = None) -> str | None:
    """What a lab should know of how :func:`match_channels` matched ``wanted`` (the channels of ``wanted_by``) in
    ``available`` (those of ``source``), or None: nothing. The wanted channels read under their other 10-20/10-10
    name, and the ``available`` channels passed over though named like a used one (``"EEG C3"`` beside the
    ``"C3"`` a model channel reads, or ``T3`` beside ``T7``)."""
    rows = [(name, hits[0], how) for name, hits, how in _lookup(available, wanted, renamable) if len(hits) == 1]
    used = {i for _, i, _ in rows}
    renamed = [f"{name} = {available[i]!r}" for name, i, how in rows if how == "renamed"]
    passed: list[str] = []
    for name, i, _ in rows:
        alt = other_name(available[i])
        alike = {ch_name_key(available[i])} | ({alt.casefold()} if alt else set())
        for j, label in enumerate(available):
            if label is not None and j not in used and ch_name_key(label) in alike:
                used.add(j)
                passed.append(f"{label!r} ({wanted_by} channel {name!r} reads {available[i]!r})")
    parts = []
    if renamed:
        parts.append(f"{wanted_by} channels read under their other name ({_RENAMED_RULE}): {shortlist(renamed)}")
    if passed:
        parts.append(f"{source} channels not used though named like a used one: {shortlist(passed)}")
    return "; ".join(parts) or None


def renamed_hint(missing: Sequence[str], available: Sequence[str | None], source: str = "stream",
                 ch_types: Sequence[str | None] | None = None) -> str:
    """A hint for a message on ``missing`` channels when ``available`` (None: an unlabelled channel) has them under
    their other name (10-20 ``T3``/``T4``/``T5``/``T6`` for 10-10 ``T7``/``T8``/``P7``/``P8``, or the reverse),
    which :func:`match_channels` did not take, and why: the channel's type in ``ch_types`` (one per ``available``
    channel; None: no types) is not EEG (``"T3 is typed SEEG, not EEG: not read as T7"``: an sEEG contact is
    named by shaft and number, :func:`renamable_type`), ``available`` also uses a name of the missing name's own
    system (a montage naming both systems), or the wanted names hold both names of that position; ``""`` when
    none is."""
    renamable = renamable_flags(ch_types, len(available))
    have: dict[str, list[int]] = {}
    for i, label in enumerate(available):
        if label:
            have.setdefault(ch_name_key(label), []).append(i)
    hints, typed = [], False
    for name in missing:
        alt = other_name(name)
        if alt is None or alt.casefold() not in have:
            continue
        twins = have[alt.casefold()]
        if renamable is not None and not any(renamable[i] for i in twins):
            typed = True
            hints += [f"{available[i]} is typed {_type_at(ch_types, i)}, not EEG: not read as {name}" for i in twins]
            continue
        own = next(system for system in _SYSTEMS if normalise_ch_name(name).casefold() in system)
        mixed = sorted(available[have[k][0]] for k in own & have.keys())
        why = (f"{source} also uses {shortlist(mixed)}, of the same system as {name}: names of both systems are "
               "not one montage" if mixed else "the model also names that position under its other name itself")
        hints.append(f"{available[twins[0]]} is the other name of {name} ({_RENAMED_RULE}), not read for it: {why}")
    rule = ("; only channels typed EEG, or of no type, are read under their 10-20/10-10 twin name (sEEG and ECoG "
            "contacts are named by shaft and number)") if typed else ""
    return f" ({'; '.join(hints)}{rule})" if hints else ""


def shortlist(names: Sequence[object], limit: int = 10) -> str:
    """The first ``limit`` of ``names`` for a message, comma-separated, ``" ..."`` when there are more."""
    return ", ".join(map(str, names[:limit])) + (" ..." if len(names) > limit else "")


def renamable_flags(ch_types: Sequence[str | None] | None, n_chans: int | None = None) -> list[bool] | None:
    """:func:`renamable_type` of each channel, by ``ch_types`` (a recording's channel types, a stream's desc types),
    None when it gives none (then every channel may be read under its other name). ``n_chans``: the number of
    channels when ``ch_types`` may list fewer (a stream ``desc`` with fewer entries): those past it have no type."""
    if ch_types is None:
        return None
    return [renamable_type(_type_at(ch_types, i)) for i in range(len(ch_types) if n_chans is None else n_chans)]


def _type_at(ch_types: Sequence[str | None] | None, i: int) -> str | None:
    """Channel ``i``'s type in ``ch_types`` (None: none given, or past its end)."""
    return ch_types[i] if ch_types is not None and i < len(ch_types) else None


def pick_channels(data: np.ndarray, ch_names: Sequence[str], wanted: Sequence[str], *,
                  source: str = "recording", ch_types: Sequence[str | None] | None = None
                  ) -> tuple[np.ndarray, list[str]]:
    """Rows of ``data`` for ``wanted`` channels, in that order, and their names as the file gives them.

    Matched by :func:`match_channels`, as the live service matches a stream: a wanted 10-10 ``T7`` reads a 10-20
    ``T3`` of a channel whose type in ``ch_types`` (one per channel of ``ch_names``; None: no types) is scalp EEG
    or none (an sEEG ``T3`` is not renamed). :func:`match_note` with :func:`renamable_flags` says what a lab should
    know of the match.

    Raises
    ------
    ChannelError
        If a wanted name is missing, ambiguous, or asked twice.
    """
    from bci_stream.core.errors import ChannelError

    dupes = sorted({n for n in wanted if list(wanted).count(n) > 1})
    if dupes:
        raise ChannelError(f"ch_names must not repeat a channel; got {shortlist(dupes)} more than once")
    idx, missing, ambiguous = match_channels(ch_names, wanted, renamable_flags(ch_types))
    if ambiguous:
        name, hits = next(iter(ambiguous.items()))
        raise ChannelError(f"ch_names entry {name!r} matches several channels of {source}: {hits}")
    if missing:
        raise ChannelError(
            f"ch_names has {len(missing)} channel(s) not in {source}: {shortlist(missing)} "
            f"({source} has {len(ch_names)} channels: {shortlist(list(ch_names))})"
            + renamed_hint(missing, ch_names, source, ch_types)
        )
    if len(set(idx)) != len(idx):
        raise ChannelError(f"ch_names must not name the same channel twice (after normalising); got {list(wanted)}")
    return data[idx], [ch_names[i] for i in idx]
