"""Where the classical tools find data, and what they take from a recording besides its samples.

* :func:`data_root` — the shared real-EEG folder (env ``BCI_STREAM_DATA``; from :mod:`bci_stream.io.data_root`);
* :func:`sensorimotor_channels` / :func:`display_names` — the 10-10 sensorimotor subset for any channel
  naming (:func:`no_sensorimotor_note`: calibrate's note when there is none), and normalised spellings for reports;
* :class:`Trials` / :func:`trials_of` — the cue trials of a recording.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bci_stream.core.channels import NUMBERED_LABEL, bank_labelled, ch_name_key, normalise_ch_name, shortlist
from bci_stream.io.data_root import DATA_ENV, data_root

# The FC, C and CP rows of the 10-10 system (odd = left, z = midline, even = right), and the temporal
# neighbours of C5/C6 rows. Present in any cap that follows 10-10 naming, whatever its spelling.
SENSORIMOTOR_10_10: tuple[str, ...] = (
    "FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6",
    "C5", "C3", "C1", "Cz", "C2", "C4", "C6",
    "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6",
)
# Fewer than this many of the names above present: the cap is not 10-10 (or too sparse); use all channels.
MIN_SENSORIMOTOR = 6


def sensorimotor_found(ch_names: Sequence[str]) -> list[str]:
    """Every channel of ``ch_names`` (file spelling, file order) on the 10-10 FC/C/CP rows, however few.

    Names are compared after normalising (``"Fc5."`` ≡ ``"FC5"`` ≡ ``"fc5"``, ``"EEG C3"`` ≡ ``"C3"``). None on a cap
    labelled by BioSemi's banks (``A1`` ... ``D32``: :func:`~bci_stream.core.channels.bank_labelled`), whose ``C1`` ...
    ``C6`` are not the 10-10 positions."""
    if bank_labelled(ch_names):
        return []
    wanted = {ch_name_key(n) for n in SENSORIMOTOR_10_10}
    return [n for n in ch_names if ch_name_key(n) in wanted]


def sensorimotor_channels(ch_names: Sequence[str]) -> list[str] | None:
    """The channels of ``ch_names`` (file spelling, file order) on the 10-10 FC/C/CP rows, or None.

    Names are compared as by :func:`sensorimotor_found`. None when fewer than :data:`MIN_SENSORIMOTOR` of them are
    present (not a 10-10 montage, or too sparse a cap, e.g. a 10-20 cap's C3, Cz, C4): callers then use all channels.
    """
    picked = sensorimotor_found(ch_names)
    return picked if len(picked) >= MIN_SENSORIMOTOR else None


def channel_pick_note(ch_names: Sequence[str], renamed: bool) -> str:
    """calibrate's note on the sensorimotor channels of ``ch_names`` (with ``--channels`` not given): which it picked
    and from how many, or why none (:func:`no_sensorimotor_note`, with how to name numbered or bank-labelled
    channels unless ``renamed``: ``--channel-names`` was given)."""
    if (picked := sensorimotor_channels(ch_names)) is not None:
        if len(picked) == len(ch_names):
            return (f"every one of the {len(ch_names)} channels is on the 10-10 FC/C/CP rows: the candidates use all "
                    "of them")
        return (f"sensorimotor channels picked by name: {len(picked)} of the {len(ch_names)} channels are on the 10-10 "
                f"FC/C/CP rows ({', '.join(display_names(picked))}): half the candidates use them (ch=sensorimotor), "
                f"half all {len(ch_names)} (ch=all); pass --channels to choose")
    numbered = [n for n in ch_names if NUMBERED_LABEL.match(normalise_ch_name(n))]
    hint = ""
    if renamed:  # named already: no hint to name them
        return no_sensorimotor_note(ch_names)
    if 2 * len(numbered) >= len(ch_names):
        hint = (f"; {len(numbered)} of them are only numbered ({shortlist(numbered, 3)}, as BCI Competition IV 2a's "
                "EEG-0 ... EEG-16, OpenBCI's EXG Channel 0 ... or EGI's E1 ...): name every channel by its position "
                "with --channel-names so the sensorimotor rows are found")
    elif bank_labelled(ch_names):
        hint = (f"; the names are BioSemi bank labels ({shortlist(list(ch_names), 3)}), not 10-10 positions (bank C's "
                "C1 ... C6 are not the C row): name every channel by its position with --channel-names so the "
                "sensorimotor rows are found")
    return no_sensorimotor_note(ch_names, hint)


def no_sensorimotor_note(ch_names: Sequence[str], hint: str = "") -> str:
    """calibrate's note when :func:`sensorimotor_channels` of ``ch_names`` is None: how many of the FC/C/CP rows'
    positions were recognised and which, and that fewer than :data:`MIN_SENSORIMOTOR` means every candidate uses
    all the channels. ``hint``: what to do besides ``--channels`` (``"; ..."``)."""
    found = sensorimotor_found(ch_names)
    rows = f"FC/C/CP rows' {len(SENSORIMOTOR_10_10)} positions"
    which = (f"only {len(found)} of the {rows} recognised ({', '.join(found)})" if found else
             f"none of the {rows} ({SENSORIMOTOR_10_10[0]} ... {SENSORIMOTOR_10_10[-1]}) recognised")
    return (f"no 10-10 sensorimotor channels picked: {which} among the {len(ch_names)} channel names "
            f"({shortlist(list(ch_names), 6)}); with fewer than {MIN_SENSORIMOTOR} every candidate uses all of them "
            f"({len(ch_names)} channels); pass --channels to choose{hint}")


def display_names(ch_names: Sequence[str]) -> list[str]:
    """Normalised spellings (``"Fc5."`` → ``"FC5"``), for reports."""
    return [normalise_ch_name(n) for n in ch_names]


# --- trials ---------------------------------------------------------------------------------------------


@dataclass
class Trials:
    """Cue onsets of one recording and their classes.

    Attributes
    ----------
    onsets
        ``[n_trials]`` int, onset samples of the cues.
    classes
        ``[n_trials]`` int, index into the class names.
    """

    onsets: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return int(self.onsets.size)


def trials_of(events: Sequence, label_map: Mapping[str, str | None], labels: Sequence[str], n_times: int,
              sfreq: float, min_after_s: float = 0.0) -> Trials:
    """The cues of ``events`` that ``label_map`` maps to a class of ``labels``.

    Cues whose onset + ``min_after_s`` lies beyond the recording are dropped (the decision sample must
    exist).
    """
    onsets, classes = [], []
    limit = n_times - int(round(min_after_s * sfreq))
    for ev in sorted(events, key=lambda e: e.onset):
        name = label_map.get(str(ev.description))
        if name is None or ev.onset >= limit or ev.onset < 0:
            continue
        onsets.append(int(ev.onset))
        classes.append(labels.index(name))
    return Trials(np.asarray(onsets, dtype=np.int64), np.asarray(classes, dtype=np.int64))


def shared_channels_hint(recs: Sequence, pooled: Sequence[str]) -> str:
    """The ``--channels`` value that calibrates on the channels of ``pooled`` that every file of ``recs`` has (names
    matched as :func:`~bci_stream.core.channels.match_channels` matches them), for the refusal of files whose
    channels differ: before, a run with one extra electrode left the user to type the other 64 names (audit s51).
    ``""`` when they share fewer than 2."""
    import shlex

    from bci_stream.core.channels import match_channels

    shared = [n for n in pooled if all(not match_channels(rec.ch_names, [n])[1] for rec in recs)]
    if len(shared) < 2:
        return ""
    return f", e.g. the {len(shared)} they all have: --channels {shlex.quote(','.join(shared))}"


def numbered_hint(rec) -> str:
    """A hint for a file whose channels are only numbered (a BCI2000 .dat without its .loc)."""
    if rec.ch_names and all(str(n).strip().isdigit() for n in rec.ch_names):
        return (f" ({rec.source}'s channels are only numbered ({shortlist(rec.ch_names, 3)}): name them with "
                "--channel-names)")
    return ""


def name_twins_message(source: object, names: Sequence[str]) -> str | None:
    """The refusal of channels of ``source`` that ``calibrate`` would use side by side though they are one name after
    normalising (:func:`~bci_stream.core.channels.ch_name_key`: ``C3`` and EEGMMIDB's ``C3..``, ``C3`` and ``c3``), or
    None: the service finds a model's channels in a stream by that key, so such a model's two inputs would be told
    apart by their spelling alone, and a stream with one of them would feed it to both."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(ch_name_key(name), []).append(name)
    twins = [g for g in groups.values() if len(g) > 1]
    if not twins:
        return None
    said = "; ".join(f"{' and '.join(map(repr, g))} (both {normalise_ch_name(g[0])!r})" for g in twins[:5])
    return (f"channels of {source} must be distinct after normalising names (case, dots, blanks, an EEG prefix and a "
            f"reference suffix are ignored, as the service matches a stream's channels); {len(twins)} name(s) are "
            f"shared: {said}; pass --channels to choose one of each, or rename them with --channel-names")


__all__ = ["DATA_ENV", "MIN_SENSORIMOTOR", "SENSORIMOTOR_10_10", "Trials", "channel_pick_note", "data_root",
           "display_names", "name_twins_message", "no_sensorimotor_note", "numbered_hint", "sensorimotor_channels",
           "sensorimotor_found", "shared_channels_hint", "trials_of"]
