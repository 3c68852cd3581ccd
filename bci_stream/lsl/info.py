"""Build and read LSL stream metadata (channel labels, units) the way LSL tools expect.

The channel description follows the XDF/LSL meta-data convention:
``desc/channels/channel/{label,unit,type}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pylsl

from bci_stream.core.errors import StreamMismatchError


def make_stream_info(
    name: str,
    stype: str,
    ch_names: Sequence[str],
    sfreq: float,
    source_id: str,
    *,
    unit: str | Sequence[str] = "microvolts",
    ch_type: str | Sequence[str] = "EEG",
    channel_format: str = "float32",
) -> pylsl.StreamInfo:
    """Create a ``StreamInfo`` whose ``desc`` lists every channel with label, unit and type.

    ``unit`` and ``ch_type`` are one value for every channel, or one per channel (in ``ch_names`` order).
    """
    units = _per_name(unit, ch_names, "unit")
    types = _per_name(ch_type, ch_names, "ch_type")
    info = pylsl.StreamInfo(name, stype, len(ch_names), sfreq, channel_format, source_id)
    channels = info.desc().append_child("channels")
    for label, ch_unit, kind in zip(ch_names, units, types):
        ch = channels.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", ch_unit)
        ch.append_child_value("type", kind)
    return info


def _per_name(value: str | Sequence[str], ch_names: Sequence[str], what: str) -> list[str]:
    if isinstance(value, str):
        return [value] * len(ch_names)
    values = list(value)
    if len(values) != len(ch_names):
        raise ValueError(f"{what} must be one string or one per channel ({len(ch_names)}); got {len(values)}")
    return values


def desc_channel_values(info: pylsl.StreamInfo, key: str) -> list[str]:
    """The ``key`` value (``""`` where absent) of every ``desc/channels/channel`` entry, in order.

    The list has one item per entry the ``desc`` lists, which may be fewer or more than the stream's channels.
    """
    values: list[str] = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        values.append(ch.child_value(key))
        ch = ch.next_sibling("channel")
    return values


def per_channel(info: pylsl.StreamInfo, values: list[str | None], what: str) -> list[str | None]:
    """``values`` (one per ``desc`` channel entry) as one per stream channel: None for the channels past the
    entries the ``desc`` lists.

    Raises
    ------
    StreamMismatchError
        When the ``desc`` lists more channel entries than the stream has channels: which entry describes
        which channel cannot be told.
    """
    n = info.channel_count()
    if len(values) > n:
        raise StreamMismatchError(
            f"stream {info.name()!r} desc/channels lists {len(values)} channel entries (their {what}) for its "
            f"{n} channels: each channel needs at most one entry, in channel order; cannot tell which entry "
            "describes which channel")
    return values + [None] * (n - len(values))


def read_labels(info: pylsl.StreamInfo) -> list[str | None]:
    """Each stream channel's label from ``desc/channels``, by position: None where the entry has a blank or no
    label, or where the ``desc`` lists fewer entries than the stream has channels. A ``desc`` whose entries carry no
    ``label`` at all but a ``name`` is read by those names (before, such a stream was read in the model's order, its
    channels shuffled if the sender's order was another, unnoticed).

    Raises
    ------
    StreamMismatchError
        When the ``desc`` lists more channel entries than the stream has channels (:func:`per_channel`).
    """
    labels = [label if label.strip() else None for label in desc_channel_values(info, "label")]
    if not any(labels):  # no `label` at all: some senders write the entry's label as `name` (audit s42)
        labels = [name if name.strip() else None for name in desc_channel_values(info, "name")] or labels
    return per_channel(info, labels, "labels")


def read_types(info: pylsl.StreamInfo) -> list[str | None]:
    """Each stream channel's ``type`` from ``desc/channels`` (``eeg``, ``seeg``, ``EOG`` ...), by position: None
    where the entry gives none or the ``desc`` lists fewer entries than the stream has channels."""
    return per_channel(info, [t.strip() or None for t in desc_channel_values(info, "type")], "types")


def read_ch_names(info: pylsl.StreamInfo) -> list[str] | None:
    """Channel labels from ``desc/channels``, or None when the stream does not carry all of them.

    For the labels of a stream whose ``desc`` labels only some channels, see :func:`read_labels`.
    """
    labels = desc_channel_values(info, "label")
    if len(labels) != info.channel_count() or not all(labels):
        return None
    return labels


#: ``desc/acquisition`` key in which ``bci-stream replay`` declares its ``--speed`` (samples sent per second of its
#: timestamps = nominal rate x speed).
REPLAY_SPEED = "replay_speed"


def read_replay_speed(info: pylsl.StreamInfo) -> float:
    """The replay speed a stream declares (``desc/acquisition/replay_speed``, written by ``bci-stream replay``): its
    samples are sent at the nominal rate times this; 1.0 when it declares none, or no finite number > 0."""
    value = info.desc().child("acquisition").child_value(REPLAY_SPEED)
    try:
        speed = float(value)
    except ValueError:
        return 1.0
    return speed if math.isfinite(speed) and speed > 0 else 1.0
