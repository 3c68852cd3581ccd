"""The command-line flags of the reader options (``[data.reader]`` in a run config, the format options of
:func:`~bci_stream.io.load_recording`), and the note that says how to replay a file so that its markers are the cues
a model was trained on.

A model trained or calibrated with reader options that change its events (BCI2000 ``type_state``, ``state``,
``include_zero``; EEGLAB ``event_fields``; XDF ``marker_stream``, ``zero``) learnt cues that a plain ``bci-stream
replay`` of the same file does not send: the replay must be given the same options (:func:`replay_args`), and the
service's live scoring says so (:func:`cue_reading_note`). The card keeps them (:func:`trained_reader`). ``stream``
(XDF: which stream is the EEG) is kept too but changes no event, so the note leaves it out: a replay of a file of
several such streams without ``--stream`` is refused, naming the flag, rather than sending other cues.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Reader options that change which events a file gives, or their names, in the order they are listed.
EVENT_OPTIONS = ("state", "type_state", "include_zero", "event_fields", "marker_stream", "zero")
#: The reader options ``bci-stream replay`` takes, each as its :func:`flag` (``include_zero`` false:
#: ``--no-include-zero``).
REPLAY_OPTIONS = ("stream", "marker_stream", "event_fields", "state", "type_state", "include_zero")
#: Which formats take each option (for a flag given with a file whose format takes none).
OPTION_FORMATS = {"stream": "XDF", "marker_stream": "XDF", "event_fields": "EEGLAB .set", "state": "BCI2000 .dat",
                  "type_state": "BCI2000 .dat", "include_zero": "BCI2000 .dat"}


def flag(option: str) -> str:
    """The command-line flag of a reader option (``type_state`` -> ``--type-state``)."""
    return "--" + option.replace("_", "-")


def in_flags(message: str, command: str) -> str:
    """A reader's ``message`` that asks for a stream option, worded for ``command``'s flags: ``pass stream=<name>`` (a
    train config's keyword) -> ``pass --stream NAME``; one that begins with the option's rule (``stream must name
    ...``) gets `` (COMMAND: --stream NAME)``; any other as it is. One rule for calibrate, evaluate and replay (before:
    each wrote it, and the keyword came first, the flag last in parentheses: audit s67readme F3)."""
    for option in ("marker_stream", "stream"):
        if f"pass {option}=<name>" in message:
            return message.replace(f"pass {option}=<name>", f"pass {flag(option)} NAME")
        if message.startswith(f"{option} must name"):
            return f"{message} ({command}: {flag(option)} NAME)"
    return message


def replay_args(reader: Mapping[str, Any]) -> list[str]:
    """The ``bci-stream replay`` arguments that read a file as ``reader`` (``[data.reader]``) reads it, for the options
    that change its events and that replay takes (``{"type_state": "StimulusType"}`` -> ``["--type-state",
    "StimulusType"]``); an option replay has no flag for is left out (:func:`cue_reading_note` names it)."""
    args: list[str] = []
    for key in EVENT_OPTIONS:
        if key not in reader or key not in REPLAY_OPTIONS or reader[key] is None:
            continue
        value = reader[key]
        if isinstance(value, bool):
            args.append(flag(key) if value else "--no-" + flag(key)[2:])
        elif isinstance(value, (list, tuple)):
            args += [flag(key), ",".join(str(v) for v in value)]
        else:
            args += [flag(key), str(value)]
    return args


def event_reading(reader: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options of ``reader`` that change a file's events (:data:`EVENT_OPTIONS`), in that order."""
    return {k: reader[k] for k in EVENT_OPTIONS if reader and reader.get(k) is not None}


def cue_reading_note(reader: Mapping[str, Any] | None) -> str | None:
    """A note saying that a model's cues were read with reader options, naming them and the replay flags that send the
    same cues, or None when ``reader`` has no option that changes the events. E.g. ``this model's cues were read with
    type_state='StimulusType'; replay the file with --type-state StimulusType to send the same cues (a live source
    must send them as such markers)``."""
    given = event_reading(reader)
    if not given:
        return None
    said = ", ".join(f"{k}={v!r}" for k, v in given.items())
    args = replay_args(given)
    how = f"replay the file with {' '.join(args)} to send the same cues" if args else ""
    if "zero" in given:  # replay's zero rule is its --labels' (bci_stream.sim.replay.label_cues)
        how += ("; " if how else "") + ("replay sends a numeric marker 0 as the marker '0' only when --labels names "
                                         f"'0' (zero={given['zero']!r})")
    return (f"this model's cues were read with {said}; {how} (markers named otherwise are scored by the marker map "
            "as they come: a live source must send the cues the model was trained on)")


def trained_reader(training: Any) -> dict[str, Any]:
    """The reader options a model's files were read with, from its card's ``training``: ``bci-stream train``'s
    ``[data.reader]`` (``training.config.data.reader``), else ``bci-stream calibrate``'s ``--stream``,
    ``--marker-stream``, ``--event-fields`` (``training.reader``); ``{}`` for a card without them (older cards)."""
    if not isinstance(training, Mapping):
        return {}
    config = training.get("config")
    data = config.get("data") if isinstance(config, Mapping) else None
    reader = data.get("reader") if isinstance(data, Mapping) else None
    if not isinstance(reader, Mapping):
        reader = training.get("reader")
    return dict(reader) if isinstance(reader, Mapping) else {}
