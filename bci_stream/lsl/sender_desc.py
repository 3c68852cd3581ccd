"""What a recording keeps of the sender's own stream description, beside the channels' labels, units and types
(:func:`~bci_stream.lsl.units.recorded_channels`): its ``desc`` (an amplifier app's ``acquisition`` with its
manufacturer and model, ``reference``, ``cap``, filters ...), each channel entry's other fields (``location`` X/Y/Z,
``impedance``, ``name``) and the stream's identity (``created_at``, ``uid``, ``session_id``, ``hostname``), as
LabRecorder keeps them. Before, a recording held the channels' label, unit and type only: no electrode positions, no
reference, no amplifier, nor when the stream was made (audit s69record F4)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pylsl

#: The stream header's own fields kept (the rest, network ports and the like, say nothing of the recording).
IDENTITY = ("version", "created_at", "uid", "session_id", "hostname")
#: A channel entry's fields the recording writes itself (from the service's reading of them).
OWN_CHANNEL_FIELDS = ("label", "unit", "type")


def sender_desc(info: pylsl.StreamInfo) -> dict[str, str | list[str]]:
    """``{"extra_info": ..., "extra_desc": ..., "channel_extras": [...]}``: XML text of the stream's identity fields,
    of its ``desc`` but ``channels``, and of each channel entry's fields but :data:`OWN_CHANNEL_FIELDS` (one per
    channel, ``""`` past the entries given); all ``""`` when the stream's XML does not parse."""
    n = info.channel_count()
    empty: dict[str, str | list[str]] = {"extra_info": "", "extra_desc": "", "channel_extras": [""] * n}
    try:
        root = ET.fromstring(info.as_xml())
    except ET.ParseError:
        return empty
    ident = "".join(ET.tostring(e, encoding="unicode") for e in root if e.tag in IDENTITY and (e.text or "").strip())
    desc = root.find("desc")
    if desc is None:
        return {**empty, "extra_info": ident}
    extra = "".join(ET.tostring(e, encoding="unicode") for e in desc if e.tag != "channels")
    entries = desc.find("channels")
    per = [] if entries is None else ["".join(ET.tostring(f, encoding="unicode") for f in ch
                                              if f.tag not in OWN_CHANNEL_FIELDS)
                                      for ch in entries.findall("channel")][:n]
    return {"extra_info": ident, "extra_desc": extra, "channel_extras": per + [""] * (n - len(per))}
