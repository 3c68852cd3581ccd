"""EEGLAB ``.set`` files: mne's reader (:func:`bci_stream.io.mne_formats.read_mne`), and events named by more fields
of ``EEG.event`` than its ``type``.

mne names each event by its ``type`` only. Many EEGLAB datasets keep the condition in another field of the event
structure: EEGLAB's own tutorial dataset (``eeglab_data.set``) has 80 ``square`` events, the target's side in
``position`` (1 or 2), and ``rt`` responses; ERPLAB writes ``code`` (and ``codelabel``), BIDS imports ``value`` and
``trial_type``, HED ``usertags``. With ``event_fields`` (the reader option, ``[data.reader] event_fields`` in a
run config) each event is named by those fields' values joined with ``/``, in the order given: ``("type",
"position")`` gives ``square/1``, ``square/2`` and ``rt`` (an empty value is left out; an event whose fields are
all empty keeps its type). A ``boundary`` event (data cut out) keeps its name: it marks a discontinuity, never a cue.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.io.errors import DataError
from bci_stream.io.extras import require
from bci_stream.io.recording import Event


def read_eeglab(path: Path, event_fields: Sequence[str] | str | None = None) -> tuple:
    """:func:`~bci_stream.io.mne_formats.read_mne` of ``path``, each event named by ``event_fields`` (see the module
    docstring; None: by its ``type``, as mne names it).

    Raises
    ------
    DataError
        ``event_fields`` empty, or naming a field that ``EEG.event`` lacks (the error lists the fields it has).
    """
    from bci_stream.io.mne_formats import read_mne

    data, sfreq, names, events, extras = read_mne(path)
    if event_fields is None:
        return data, sfreq, names, events, extras
    fields = [event_fields] if isinstance(event_fields, str) else [str(f) for f in event_fields]
    if not fields or not all(f.strip() for f in fields):
        raise DataError(f"event_fields must name one or more fields of EEG.event (e.g. [\"type\", \"position\"]); "
                        f"got {event_fields!r}")
    return data, sfreq, names, renamed_events(events, event_table(path), fields, path), extras


def event_table(path: Path) -> dict[str, list[Any]]:
    """``EEG.event`` of ``path`` as ``{field: [value per event]}`` (pymatreader; an EEGLAB file saves the ``EEG``
    struct, or, from EEGLAB 2019 on, its fields as variables of the file)."""
    pymatreader = require("pymatreader", "reading EEGLAB event fields")
    mat = pymatreader.read_mat(str(path), variable_names=["EEG", "event"])
    eeg = mat["EEG"] if isinstance(mat.get("EEG"), dict) else mat
    table = eeg.get("event", {})
    if isinstance(table, list):  # one dict per event (pymatreader's form for some layouts)
        keys = sorted({k for e in table if isinstance(e, dict) for k in e})
        table = {k: [e.get(k) if isinstance(e, dict) else None for e in table] for k in keys}
    if not isinstance(table, dict):
        return {}
    return {k: v if isinstance(v, list) else list(v) if isinstance(v, np.ndarray) and v.ndim > 0 else [v]
            for k, v in table.items()}


def _latency(value: Any) -> float:
    """An event's ``latency`` (1-based sample, may be fractional) as a float; NaN when it has none."""
    try:
        return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])
    except (IndexError, TypeError, ValueError):
        return float("nan")


def value_text(value: Any) -> str:
    """One field value as event text: a whole number without its ``.0`` (``2.0`` -> ``"2"``); ``""`` for an empty
    one (an empty array, a NaN)."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return ""
        value = value.item()
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return ""
        return str(int(value)) if float(value).is_integer() else f"{float(value):g}"
    return str(value).strip() if value is not None else ""


def renamed_events(events: list[Event], table: dict[str, list[Any]], fields: list[str], path: Path) -> list[Event]:
    """``events`` (mne's, named by ``type``) renamed by ``fields`` of ``table``: each is matched to the entry of
    ``EEG.event`` of its type at its sample (``latency`` - 1, within one sample), in order."""
    missing = [f for f in fields if f not in table]
    if missing or not {"type", "latency"} <= set(table):
        raise DataError(f"event_fields names field(s) {missing or fields} that EEG.event of {path.name} lacks (or "
                        f"it has no type and latency); its events have {sorted(table)}")
    entries: dict[str, list[tuple[float, str]]] = {}
    for i in range(len(table["type"])):
        name = "/".join(t for t in (value_text(table[f][i]) for f in fields) if t)
        kind = value_text(table["type"][i])
        entries.setdefault(kind, []).append((_latency(table["latency"][i]) - 1.0, name or kind))
    for queue in entries.values():
        queue.sort(key=lambda entry: entry[0])
    used: dict[str, int] = {}
    out = []
    for ev in sorted(events, key=lambda e: e.onset):
        kind = str(ev.description)
        queue, k = entries.get(kind, []), used.get(kind, 0)
        while k < len(queue) and not queue[k][0] >= ev.onset - 1:  # entries mne dropped (outside the data)
            k += 1
        if kind.lower() != "boundary" and k < len(queue) and abs(queue[k][0] - ev.onset) <= 1:
            out.append(Event(ev.onset, ev.duration, queue[k][1]))
            k += 1
        else:
            out.append(ev)
        used[kind] = k
    return out
