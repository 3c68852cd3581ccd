"""Build and read LSL stream metadata (channel labels, units) the way LSL tools expect.

The channel description follows the XDF/LSL meta-data convention:
``desc/channels/channel/{label,unit,type}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pylsl


def make_stream_info(
    name: str,
    stype: str,
    ch_names: Sequence[str],
    sfreq: float,
    source_id: str,
    *,
    unit: str = "microvolts",
    ch_type: str = "EEG",
    channel_format: str = "float32",
) -> pylsl.StreamInfo:
    """Create a ``StreamInfo`` whose ``desc`` lists every channel with label, unit and type."""
    info = pylsl.StreamInfo(name, stype, len(ch_names), sfreq, channel_format, source_id)
    channels = info.desc().append_child("channels")
    for label in ch_names:
        ch = channels.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", unit)
        ch.append_child_value("type", ch_type)
    return info


def read_ch_names(info: pylsl.StreamInfo) -> list[str] | None:
    """Channel labels from ``desc/channels``, or None when the stream does not carry all of them."""
    labels: list[str] = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        labels.append(ch.child_value("label"))
        ch = ch.next_sibling("channel")
    if len(labels) != info.channel_count() or not all(labels):
        return None
    return labels
