"""``load_recording``: one entry point for every format, dispatched on the file extension."""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import warnings

from bci_stream.core.channels import ch_name_key, match_note, pick_channels, renamable_flags, shortlist
from bci_stream.io.errors import ChannelError, DataError, LabelMapError, RecordingWarning, SfreqMismatchError
from bci_stream.io.labels import LabelMap, labels_from_events
from bci_stream.io.marker_codes import zero_is_event
from bci_stream.io.recording import Event, Recording

FORMATS = {
    ".edf": "mne", ".bdf": "mne", ".gdf": "mne", ".fif": "mne", ".fif.gz": "mne", ".set": "eeglab", ".vhdr": "mne",
    ".dat": "bci2000", ".xdf": "xdf", ".xdfz": "xdf", ".xdf.gz": "xdf", ".npz": "npz",
}


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((two for two in (".fif.gz", ".xdf.gz") if name.endswith(two)), path.suffix.lower())


def _reader(kind: str) -> Callable[..., Any]:
    if kind == "mne":
        from bci_stream.io.mne_formats import read_mne
        return read_mne
    if kind == "eeglab":
        from bci_stream.io.eeglab import read_eeglab
        return read_eeglab
    if kind == "bci2000":
        from bci_stream.io.bci2000 import read_bci2000
        return read_bci2000
    if kind == "xdf":
        from bci_stream.io.xdf import read_xdf
        return read_xdf
    from bci_stream.io.npz import read_npz
    return read_npz


#: A data or marker file given instead of the file that names it: why, and that file's extension (``.fdt``: audit s51).
_NAMED_BY = {".eeg": ("a BrainVision recording is read from its header", ".vhdr"),
             ".vmrk": ("a BrainVision recording is read from its header", ".vhdr"),
             ".fdt": ("an EEGLAB dataset is read from its .set file, which names its .fdt", ".set")}


def load_recording(path: str | Path, *, label_map: LabelMap | None = None, ch_names: Sequence[str] | None = None,
                   label_window: tuple[float, float] | None = None, rename_channels: Sequence[str] | None = None,
                   cues: Collection[Any] | None = None, **opts: Any) -> Recording:
    """Load one recording as a :class:`Recording` in microvolts.

    Formats by extension: ``.edf``/``.bdf``/``.gdf``/``.fif``/``.fif.gz`` (mne), ``.set`` (EEGLAB, mne +
    pymatreader), ``.vhdr`` (BrainVision, mne), ``.dat`` (BCI2000), ``.xdf``/``.xdfz``/``.xdf.gz`` (pyxdf), ``.npz``
    (:func:`bci_stream.io.npz.save_npz`).

    Parameters
    ----------
    path
        The file.
    label_map
        Event description → class name (``None`` = ignore), see :mod:`bci_stream.io.labels`. Without
        it, labels are all ``-1`` (an NPZ file keeps the labels it stores).
    ch_names
        Channels to keep, in this order, matched exactly or by :func:`normalise_ch_name` (``"C3"``
        finds ``"C3.."``). The recording keeps the file's spelling.
    label_window
        ``(start_s, stop_s)`` after each event onset to label, instead of the event's duration.
    rename_channels
        New names for the file's channels, one per channel in the file's order (for files whose channels are only
        numbered, e.g. a BCI2000 ``.dat`` without its ``.loc``); applied before ``ch_names`` picks
        (checked by :func:`check_names`).
    cues
        The events a caller that labels the events itself looks for (``calibrate``, ``evaluate``: its label map's
        keys). With ``label_map`` they decide the XDF option ``zero`` when it is not given: a 0 on a numeric marker
        stream is an event only when they name ``"0"`` (:func:`~bci_stream.io.marker_codes.zero_is_event`).
    **opts
        Format options. BCI2000 (:func:`bci_stream.io.bci2000.read_bci2000`): ``state`` (default
        ``"StimulusCode"``), ``type_state``, ``include_zero``, ``loc_file``. EEGLAB
        (:func:`bci_stream.io.eeglab.read_eeglab`): ``event_fields``. XDF (:func:`bci_stream.io.xdf.read_xdf`):
        ``stream``, ``marker_stream``, ``until_next``, ``zero``.

    Raises
    ------
    DataError
        Unknown extension or option, unreadable file; :class:`ChannelError` for missing or ambiguous
        channels; :class:`LabelMapError` for a mapping that matches no event.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in FORMATS:
        why, ext = _NAMED_BY.get(suffix, ("", ""))
        header = f" ({why}: give {path.stem}{ext})" if why else ""
        raise DataError(f"path must end in one of {', '.join(sorted(FORMATS))}; got {path.name!r}{header}")
    try:
        found = path.is_file()
    except OSError as exc:  # a folder on the way the user may not search (EACCES): before, a traceback
        raise DataError(f"{path} cannot be looked for ({exc.strerror or exc}): give a file this user can "
                        "read") from None
    if not found:
        raise DataError(missing_path_message(path))
    reader = _reader(FORMATS[suffix])
    allowed = format_options(path)
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise DataError(
            f"unknown option(s) {unknown} for {suffix} files; allowed: {allowed or 'none'}"
        )
    if "zero" in allowed and "zero" not in opts:  # a numeric marker stream's 0: an event when the map names "0"
        opts["zero"] = zero_is_event([*(label_map or ()), *(cues or ())])
    parts = tuple(reader(path, **named_options(path, opts, rename_channels is not None)))
    extras: dict[str, Any] = parts[-1] if isinstance(parts[-1], dict) else {}  # e.g. {"ch_types": [...]}
    parts = parts[:-1] if isinstance(parts[-1], dict) else parts
    data, sfreq, names, events = parts[:4]
    labels, label_names = (parts[4], parts[5]) if len(parts) > 4 else (None, [])
    types, units, bads = extras.get("ch_types"), extras.get("ch_units"), extras.get("bad_channels") or []
    if rename_channels is not None:
        before, names = names, check_names(rename_channels, len(names), str(path), "rename_channels")
        bads = renamed_bads(bads, before, names)
    if ch_names is not None:
        before = names
        data, names = _pick(data, names, list(ch_names), str(path), types, "wanted")
        types, units = _types_of(types, before, names), _types_of(units, before, names)
        bads = [n for n in names if n in bads]
    if label_map is not None:
        labels, label_names = labels_from_events(events, data.shape[1], sfreq, label_map,
                                                 label_window=label_window, source=str(path))
    elif label_window is not None:
        raise DataError("label_window needs a label_map; got label_window without label_map")
    return Recording(data=data, sfreq=sfreq, ch_names=list(names), labels=labels, label_names=list(label_names),
                     events=list(events), source=str(path), ch_types=types, ch_units=units, bad_channels=bads)


def format_options(path: str | Path) -> list[str]:
    """The format options :func:`load_recording` takes for ``path`` (by its extension; none for an unknown one)."""
    suffix = _suffix(Path(path))
    if suffix not in FORMATS:
        return []
    return [p for p in inspect.signature(_reader(FORMATS[suffix])).parameters if p != "path"]


def named_options(path: str | Path, options: Mapping[str, Any], renamed: bool) -> dict[str, Any]:
    """``options`` for reading ``path`` when the caller names its channels itself (``renamed``: ``--channel-names``):
    a BCI2000 file without ``ChannelNames`` then takes no ``.loc`` file from beside it (``loc_file=False``), nor warns
    that it did, unless ``loc_file`` is given."""
    if renamed and "loc_file" in format_options(path) and "loc_file" not in options:
        return {**options, "loc_file": False}
    return dict(options)


def options_by_file(paths: Sequence[str | Path], options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each file's share of ``options`` (reader options given on a command line: ``stream``, ``marker_stream``):
    those its format takes (:func:`format_options`). ValueError naming the flag when no file's format takes one."""
    per_file = [{k: v for k, v in options.items() if k in format_options(p)} for p in paths]
    unused = [k for k in options if not any(k in o for o in per_file)]
    if unused:
        from bci_stream.io.reader_flags import OPTION_FORMATS, flag

        flags = ", ".join(flag(k) for k in unused)
        names = ", ".join(Path(p).name for p in paths[:4]) + (" ..." if len(paths) > 4 else "")
        takes = "; ".join(f"{flag(k)}: {OPTION_FORMATS[k]} files" for k in unused if k in OPTION_FORMATS)
        raise ValueError(f"{flags} applies to no file given: no file's format takes it ({takes + '; ' if takes else ''}"
                         f"files: {names})")
    return per_file


def load_recordings(paths: Sequence[str | Path], *,
                    label_map: LabelMap | Callable[[str], LabelMap] | None = None,
                    ch_names: Sequence[str] | None = None, file_options: Sequence[dict[str, Any]] | None = None,
                    keys: Sequence[str] | None = None, **kwargs: Any) -> list[Recording]:
    """Load several recordings as a list (nothing is concatenated), checked to be compatible.

    Every recording must have the same sfreq: we **refuse** a file whose rate differs, we never
    resample. Every recording must have the same channels (compared by normalised name); later files
    are reordered to the first file's order (or to ``ch_names`` when given). All must end with the
    same ``label_names``, so class indices mean the same in every file.

    ``label_map`` may be a mapping, or a callable ``path -> mapping`` (e.g.
    ``lambda p: eegmmidb_label_map(eegmmidb_run(p))``). Other keywords go to :func:`load_recording`, and
    ``file_options[i]`` (format options, e.g. XDF ``stream``) to file ``i`` only, for runs that mix formats.
    ``keys[i]``: where file ``i`` was given (``train``: its config key, ``data.train[1]``), named in the sfreq
    refusal.

    Raises
    ------
    SfreqMismatchError, ChannelError, LabelMapError
        Naming the first file that differs from the first one, and how.
    """
    if not paths:
        raise DataError("paths must name at least one recording; got none")
    recs: list[Recording] = []
    for i, p in enumerate(paths):
        lm = label_map(str(p)) if callable(label_map) else label_map
        rec = load_recording(p, label_map=lm, ch_names=ch_names, **kwargs, **(file_options[i] if file_options else {}))
        if recs:
            first = recs[0]
            if rec.sfreq != first.sfreq:
                key, first_key = (f"{keys[i]}: ", f" ({keys[0]})") if keys else ("", "")
                raise SfreqMismatchError(
                    f"{key}sfreq must be the same in every recording (we refuse, not resample): {rec.source} has "
                    f"sfreq={rec.sfreq:.10g} Hz, {first.source}{first_key} has {first.sfreq:.10g} Hz"
                )
            if ch_names is None:
                _check_same_channels(first, rec)
                before = rec.ch_names
                rec.data, rec.ch_names = _pick(rec.data, rec.ch_names, first.ch_names, rec.source, rec.ch_types,
                                               "first file's")
                rec.ch_types = _types_of(rec.ch_types, before, rec.ch_names)
                rec.ch_units = _types_of(rec.ch_units, before, rec.ch_names)
                rec.bad_channels = [n for n in rec.ch_names if n in rec.bad_channels]
            if rec.label_names != first.label_names:
                raise LabelMapError(
                    f"label_names must be the same in every recording: {rec.source} has {rec.label_names}, "
                    f"{first.source} has {first.label_names}"
                )
        recs.append(rec)
    return recs


def check_names(names: Sequence[str], n_chans: int, source: str, what: str) -> list[str]:
    """``names`` as new channel names for the ``n_chans`` channels of ``source``, checked: one per channel, none
    blank, no two the same (after :func:`~bci_stream.core.channels.ch_name_key`). ``what`` names the parameter (or
    option) in the error.

    Raises
    ------
    ChannelError
        Naming ``what``, ``source``, the rule and the bad value.
    """
    names = [str(n).strip() for n in names]
    if len(names) != n_chans:
        raise ChannelError(f"{what} must give one name per channel of {source} ({n_chans} channels, in the file's "
                           f"order); got {len(names)} name(s): {shortlist(names, 6) or 'none'}")
    blank = [i for i, n in enumerate(names) if not n]
    if blank:
        raise ChannelError(f"{what} must not give a blank name; got one for channel(s) {shortlist(blank)} "
                           "(counting from 0)")
    seen: dict[str, str] = {}
    for n in names:
        if ch_name_key(n) in seen:
            raise ChannelError(f"{what} must name every channel differently (compared after normalising); got "
                               f"{seen[ch_name_key(n)]!r} and {n!r}")
        seen[ch_name_key(n)] = n
    return names


def renamed_bads(bads: Sequence[str], before: Sequence[str], after: Sequence[str]) -> list[str]:
    """The bad channels ``bads`` (names of ``before``) under the new names ``after`` (one per channel, same order)."""
    return [new for old, new in zip(before, after) if old in bads]


def _pick(data: Any, names: Sequence[str], wanted: list[str], source: str, types: Sequence[str] | None,
          wanted_by: str) -> tuple[Any, list[str]]:
    """:func:`~bci_stream.core.channels.pick_channels` of ``wanted`` in ``source`` (its channel ``types`` decide
    which channels may be read under their other 10-20/10-10 name, as in the live service), with a
    :class:`RecordingWarning` (shown once per file on stderr) when a lab should know how they were matched
    (:func:`~bci_stream.core.channels.match_note`: a wanted ``T7`` read from the file's ``T3``)."""
    picked, kept = pick_channels(data, names, wanted, source=source, ch_types=types)
    if (note := match_note(names, wanted, "file", wanted_by, renamable_flags(types))) is not None:
        warnings.warn(f"{Path(source).name}: {note}", RecordingWarning, stacklevel=3)
    return picked, kept


def _types_of(types: Sequence[str] | None, before: Sequence[str], after: Sequence[str]) -> list[str] | None:
    """The channel types (or units) of ``after`` (a pick of ``before``, whose types are ``types``); None when
    unknown."""
    if types is None:
        return None
    type_of = dict(zip(before, types))
    return [type_of[n] for n in after]


def _check_same_channels(first: Recording, rec: Recording) -> None:
    a = {ch_name_key(n): n for n in first.ch_names}
    b = {ch_name_key(n): n for n in rec.ch_names}
    if a.keys() != b.keys():
        missing = [a[k] for k in a if k not in b]
        extra = [b[k] for k in b if k not in a]
        raise ChannelError(
            f"channels must be the same in every recording: {rec.source} lacks {missing or 'none'} and has "
            f"extra {extra or 'none'} compared with {first.source} (pass ch_names=[...] to pick a common set)"
        )


def events_summary(events: Sequence[Event]) -> dict[str, int]:
    """Number of events per description."""
    out: dict[str, int] = {}
    for ev in events:
        out[ev.description] = out.get(ev.description, 0) + 1
    return dict(sorted(out.items()))


def missing_path_message(path: Path) -> str:
    """Why ``path`` (no file) cannot be read, and the data folder's path to it when the file is there, or where the
    data folder is looked for when ``path`` lies in it (a README example, ``BCI_STREAM_DATA`` pointing elsewhere); a
    relative ``path`` whose folder the data folder holds gets that folder's names near its own (audit s66cli F15)."""
    from bci_stream.io.data_root import DATA_ENV, data_root, missing_data_hint

    root, said = data_root(), f"path does not exist or is not a file: {path}"
    if not path.is_absolute() and (root / path).is_file():
        return f"{said} (the data folder, {DATA_ENV}, holds {root / path}: give that path)"
    where = Path(os.path.normpath(path.absolute()))  # ``../shared/data/...`` from the checkout: the data folder's
    for folder in (where.parent, *(() if path.is_absolute() else ((root / path).parent,))):
        if (near := _near_names(folder, path.name)) is not None:  # its folder is there: a typo of the file's name
            return f"{said} ({near})"
    try:
        where.relative_to(os.path.normpath(root.absolute()))  # BCI_STREAM_DATA=../shared/data too
    except ValueError:  # a relative path: the data folder's hint when it may be meant there (not a mistyped folder
        if path.is_absolute() or (root.is_dir() and not (root / path.parts[0]).exists()):  # of one's own: s66 F7)
            return said
    return f"{said}; {missing_data_hint()}"


def _near_names(folder: Path, name: str) -> str | None:
    """The names in ``folder`` near ``name`` (None when ``folder`` is no folder this user may list)."""
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else None
    except OSError:  # a folder this user may not list
        names = None
    if names is None:
        return None
    near = difflib.get_close_matches(name, names, n=3)
    return f"{folder} has " + (f"files named like it: {', '.join(sorted(near))}: did you mean one of them?" if near
                               else "no file of a name near it")


__all__ = ["FORMATS", "check_names", "events_summary", "load_recording", "load_recordings", "missing_path_message",
           "named_options", "renamed_bads"]
