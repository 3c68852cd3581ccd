"""Per-sample labels from events by an explicit mapping, and the EEGMMIDB run table.

A *label map* sends an event description (an annotation's text, an XDF marker string, a BCI2000 state
value written as text, e.g. ``"2"``) to a class name, or to ``None`` to ignore it. Each matching event
labels the samples it covers: ``[onset, onset + duration)``, or ``[onset + start, onset + stop)`` with
``label_window=(start_s, stop_s)``. Samples no event labels are ``-1``.

``label_names`` are the distinct class names in the order they first appear among the map's values
(``{"T0": "rest", "T1": "fists", "T2": "feet"}`` → ``["rest", "fists", "feet"]``), so the class
indices depend only on the map, never on which events a particular file holds. Where labelled spans
overlap, the later event (by onset) wins.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any
from pathlib import Path

import numpy as np

from bci_stream.io.errors import LabelMapError
from bci_stream.io.recording import UNLABELLED, Event

LabelMap = Mapping[str | int, str | None]


def label_names_of(label_map: LabelMap) -> list[str]:
    """Distinct class names of ``label_map`` in order of first appearance (``None`` values skipped)."""
    names: list[str] = []
    for key, value in label_map.items():
        if value is not None and not isinstance(value, str):
            raise LabelMapError(f"label_map values must be class names (str) or None; got {value!r} for key {key!r}")
        if value is not None and value not in names:
            names.append(value)
    return names


def absent_events(label_map: LabelMap, events: Sequence[Event]) -> list[str]:
    """The events ``label_map`` maps to a class (not ignored) that occur nowhere in ``events`` (e.g. of all the
    files of an evaluation): a typo in a label map would otherwise score one class only."""
    present = {str(e.description) for e in events}
    return [str(k) for k, v in label_map.items() if v is not None and str(k) not in present]


def _squeezed(name: str) -> str:
    return "".join(name.split()).casefold()


def near_names(absent: Sequence[str], events: Sequence[Event]) -> str:
    """A hint for the event names of a label map that no event has (``absent``): the events of ``events`` named like
    each but for case, blanks or a ``TYPE/`` prefix (a BrainVision marker: ``Stimulus/S  1``, or ``Comment/T1`` where
    mne exported an EDF annotation ``T1``), e.g. ``; did you mean 'Stimulus/S  1' for 'Stimulus/S 1'? (...)``; ``""``
    when no event is so named (audit s51: the error listed the events, but not which one a typo meant)."""
    present = sorted({str(e.description) for e in events})
    said = []
    for name in absent:
        key, bare = _squeezed(str(name)), _squeezed(str(name).rpartition("/")[2])  # bare: a TYPE/ typed too much
        near = [p for p in present if key in (_squeezed(p), _squeezed(p.rpartition("/")[2])) or bare == _squeezed(p)]
        if near:
            said.append(f"{' or '.join(map(repr, near[:3]))} for {str(name)!r}")
    return (f"; did you mean {', '.join(said)}? (an event name must match exactly: its case, blanks and TYPE/ prefix "
            "included)") if said else ""


def reader_hint(absent: Sequence[str], sources: Sequence[Any], options: Mapping[str, Any] | None) -> str:
    """Which reader option may give event names ``absent`` that the files' default reading does not (``""``: none,
    or it was given): an EEGLAB file's ``TYPE/VALUE`` names come with ``--event-fields type,FIELD``; a BCI2000
    file's events are its ``StimulusCode`` values unless ``--state`` or ``--type-state`` reads another state (audit
    s64cal F5: the refusal listed the names the default reading gave, and said nothing of the option)."""
    options, kinds = options or {}, {str(s).lower().rpartition(".")[2] for s in sources}
    hints = []
    if "set" in kinds and not options.get("event_fields") and any("/" in str(a) for a in absent):
        hints.append("an EEGLAB file's events are named TYPE/VALUE with --event-fields type,FIELD (a field of its "
                     "EEG.event, e.g. --event-fields type,position)")
    if "dat" in kinds and not (options.get("state") or options.get("type_state")) and any(
            not str(a).strip().lstrip("-").isdigit() for a in absent):  # (codes: StimulusCode's own kind of name)
        hints.append("a BCI2000 file's events are its StimulusCode state's values; --state NAME reads another "
                     "state's, --type-state NAME names each by another state's value (e.g. --type-state "
                     "StimulusType: 1 target, 0 non-target)")
    return "".join(f"; {h}" for h in hints)


def parse_label_pair(item: str, *, flag: str = "--label", allow_ignore: bool = False) -> tuple[str, str | None]:
    """One ``--label EVENT=CLASS`` value → ``(EVENT, CLASS)``, split at the **last** ``=``.

    The event name may hold ``,`` and ``=`` (BrainVision ``Stimulus/S  1``, ``cond=1``, ``left,hand``); the class
    name may not hold ``=``. Both are stripped of surrounding blanks. ``EVENT=`` (empty class) gives ``None``
    (ignore the event) when ``allow_ignore``, else it is refused.

    Raises
    ------
    LabelMapError
        Naming ``flag``, the rule and the value: no ``=``, an empty event, or an empty class (unless ``allow_ignore``).
    """
    key, sep, value = item.rpartition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or (not value and not allow_ignore):
        form = "EVENT=CLASS" + (" (or EVENT= to ignore it)" if allow_ignore else "")
        raise LabelMapError(f"{flag} must be {form}, split at the last '=' (EVENT may hold ',' and '='); "
                            f"got {item!r}")
    return key, value or None


def parse_label_list(text: str, *, flag: str = "--labels", allow_ignore: bool = False) -> dict[str, str | None]:
    """``"T1=fists,T2=feet"`` → ``{"T1": "fists", "T2": "feet"}``: ``EVENT=CLASS`` pairs split at ``,``.

    A pair with more than one ``=`` is refused (``"cond=1=left"`` was read as event ``cond``, class ``1=left``);
    event names holding ``,`` or ``=`` go in ``--label`` (:func:`parse_label_pair`). A trailing comma is harmless.

    Raises
    ------
    LabelMapError
        Naming ``flag``, the rule and the bad pair and value: a pair without ``=``, with an empty event or class (an
        empty class is ``None``, ignore, when ``allow_ignore``), with two ``=``, or an empty pair inside.
    """
    out: dict[str, str | None] = {}
    parts = [p.strip() for p in text.split(",")]
    form = "EVENT=CLASS" + (" (or EVENT= to ignore)" if allow_ignore else "")
    hint = "; an event name holding ',' or '=' goes in --label EVENT=CLASS (repeat it), split at the last '='"
    if any(not p for p in parts[:-1]):  # a trailing comma is harmless, an empty pair inside is a typo
        raise LabelMapError(f"{flag} must be {form} pairs separated by single commas (e.g. T1=fists,T2=feet), with "
                            f"no empty pair; got {text!r}")
    for part in [p for p in parts if p]:
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if "=" in value:
            raise LabelMapError(f"{flag} pair {part!r} holds two '='; {flag} splits at ',' and at the one '=' of "
                                f"each pair{hint}; got {text!r}")
        if not sep or not key or (not value and not allow_ignore):
            raise LabelMapError(f"{flag} must be {form} pairs separated by commas (e.g. T1=fists,T2=feet); pair "
                                f"{part!r} is not{hint}; got {text!r}")
        if key in out:
            raise LabelMapError(f"{flag} names event {key!r} twice; got {text!r}")
        out[key] = value or None
    return out


def merge_label_maps(lists: Sequence[str], pairs: Sequence[str], *, list_flag: str = "--labels",
                     pair_flag: str = "--label", allow_ignore: bool = False) -> dict[str, str | None]:
    """One label map from ``--labels`` values (``lists``, comma lists) and ``--label`` values (``pairs``), in that
    order; an event named twice (in either) is refused, naming both flags' values."""
    out: dict[str, str | None] = {}
    items = [(list_flag, t, parse_label_list(t, flag=list_flag, allow_ignore=allow_ignore).items()) for t in lists]
    items += [(pair_flag, t, [parse_label_pair(t, flag=pair_flag, allow_ignore=allow_ignore)]) for t in pairs]
    seen: dict[str, str] = {}
    for flag, text, got in items:
        for key, value in got:
            if key in out:
                raise LabelMapError(f"event {key!r} is mapped twice: by {seen[key]} and by {flag} {text!r}; name "
                                    "each event once")
            out[key], seen[key] = value, f"{flag} {text!r}"
    folded: dict[str, str] = {}
    for name in dict.fromkeys(v for v in out.values() if v):  # 'Left' beside 'left': two classes, with no word
        if (other := folded.setdefault(name.casefold(), name)) != name:  # (audit s68cal F3)
            raise LabelMapError(f"classes {other!r} and {name!r} differ only in case, so they would be two classes; "
                                f"name each class one way (e.g. {other}) in {list_flag} and {pair_flag}")
    return out


def _check_window(label_window: tuple[float, float] | None) -> None:
    if label_window is None:
        return
    try:
        start, stop = (float(v) for v in label_window)
    except (TypeError, ValueError):
        raise LabelMapError(f"label_window must be (start_s, stop_s); got {label_window!r}") from None
    if not (np.isfinite(start) and np.isfinite(stop) and stop > start):
        raise LabelMapError(f"label_window must be finite with stop_s > start_s; got {label_window!r}")


def window_lead(label_window: Sequence[float] | None, sfreq: float) -> int:
    """Samples from a cue to the first sample it labels under ``label_window = (start_s, stop_s)``:
    ``round(start_s * sfreq)`` (negative when the labels start before the cue), 0 without a window (labels from the
    event's onset). Trial scoring subtracts it from a labelled segment's onset to find the cue
    (:mod:`bci_stream.train.evaluate.metrics`)."""
    return 0 if label_window is None else int(round(float(label_window[0]) * sfreq))


def labels_from_events(events: Sequence[Event], n_times: int, sfreq: float, label_map: LabelMap, *,
                       label_window: tuple[float, float] | None = None,
                       source: str = "recording") -> tuple[np.ndarray, list[str]]:
    """Per-sample labels ``[n_times]`` (``-1`` = none) and the label names, from ``events`` by ``label_map``.

    With ``label_window = (start_s, stop_s)`` each cue labels ``[cue + start_s, cue + stop_s)``; a cue whose window
    would start before the data (``start_s < 0``, a cue closer to the start than ``-start_s``) labels nothing: labels
    cut at sample 0 would not show where its cue is (trial times count from the cue:
    :func:`~bci_stream.train.evaluate.metrics.find_trials`), so it would be decided up to ``-start_s`` late.

    Raises
    ------
    LabelMapError
        If no key of ``label_map`` matches an event description (the message lists the descriptions
        the recording has), if every matched event has zero duration and no ``label_window`` is given,
        or if a value or ``label_window`` is malformed.
    """
    names = label_names_of(label_map)
    _check_window(label_window)
    lookup = {str(k): v for k, v in label_map.items()}
    labels = np.full(n_times, UNLABELLED, dtype=np.int64)
    matched = [ev for ev in sorted(events, key=lambda e: e.onset) if ev.description in lookup]
    if not matched:
        have = Counter(ev.description for ev in events)
        listing = ", ".join(f"{d!r} ×{n}" for d, n in sorted(have.items())) or "none"
        near = near_names([k for k, v in lookup.items() if v is not None], events)
        raise LabelMapError(f"label_map matches no event of {source}: keys {sorted(lookup)}; its event descriptions "
                            f"are {listing}{near}")
    labelled_any = False
    for ev in matched:
        name = lookup[ev.description]
        if name is None:
            continue
        if label_window is None:
            start, stop = ev.onset, ev.onset + ev.duration
        else:
            start = ev.onset + window_lead(label_window, sfreq)
            stop = ev.onset + int(round(label_window[1] * sfreq))
            if start < 0:  # a window from before the data: labels cut at sample 0 would hide where its cue is
                continue
        start, stop = max(start, 0), min(stop, n_times)
        if stop > start:
            labels[start:stop] = names.index(name)
            labelled_any = True
    to_label = [ev for ev in matched if lookup[ev.description] is not None]
    if to_label and not labelled_any and label_window is None and all(ev.duration == 0 for ev in to_label):
        raise LabelMapError(
            f"label_map matches {len(to_label)} events of {source}, but all have zero duration; "
            f"give label_window=(start_s, stop_s) to label a span after each onset"
        )
    return labels, names


# EEGMMIDB (PhysioNet eegmmidb v1.0.0): what T1/T2 mean in each run. T0 is rest in every run.
_EEGMMIDB_TASKS = {
    **dict.fromkeys((1, 2), ("baseline", None, None)),
    **dict.fromkeys((3, 7, 11), ("executed", "left_fist", "right_fist")),
    **dict.fromkeys((4, 8, 12), ("imagined", "left_fist", "right_fist")),
    **dict.fromkeys((5, 9, 13), ("executed", "fists", "feet")),
    **dict.fromkeys((6, 10, 14), ("imagined", "fists", "feet")),
}


def eegmmidb_task(run: int) -> str:
    """``"baseline"`` (R01 eyes open, R02 eyes closed), ``"executed"`` or ``"imagined"`` for an EEGMMIDB run."""
    if run not in _EEGMMIDB_TASKS:
        raise LabelMapError(f"run must be an EEGMMIDB run number 1..14; got {run!r}")
    return _EEGMMIDB_TASKS[run][0]


def eegmmidb_label_map(run: int, *, rest: str | None = "rest") -> dict[str, str | None]:
    """The label map of EEGMMIDB run ``run`` (1..14).

    ===============  ==========  ===========  ============
    runs             task        T1           T2
    ===============  ==========  ===========  ============
    1, 2             baseline    –            –
    3, 7, 11         executed    left_fist    right_fist
    4, 8, 12         imagined    left_fist    right_fist
    5, 9, 13         executed    fists        feet
    6, 10, 14        imagined    fists        feet
    ===============  ==========  ===========  ============

    ``T0`` maps to ``rest`` (pass ``rest=None`` to leave rest unlabelled). Executed and imagined runs
    share class names; :func:`eegmmidb_task` tells them apart. Baseline runs (R01 eyes open, R02 eyes
    closed) hold one ``T0`` over the whole run.
    """
    eegmmidb_task(run)  # validates run
    _task, t1, t2 = _EEGMMIDB_TASKS[run]
    out: dict[str, str | None] = {"T0": rest}
    if t1 is not None:
        out.update({"T1": t1, "T2": t2})
    return out


def eegmmidb_run(path: str) -> int:
    """The run number of an EEGMMIDB file name such as ``S001R06.edf`` (→ 6)."""
    m = re.fullmatch(r"S\d{3}R(\d{2})", Path(path).name.split(".")[0])
    if m is None:
        raise LabelMapError(f"path must be an EEGMMIDB file named like S001R06.edf; got {Path(path).name!r}")
    return int(m.group(1))
