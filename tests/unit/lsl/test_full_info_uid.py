"""An inlet opened on a resolved stream reads the full info of whatever outlet now listens at the resolved port: if
the stream's outlet went away and another outlet took its port (seen in a CI rehearsal: a decoder read another
test's stream's info and refused it as lacking every channel), :func:`full_info` raises ``LostError`` (the source is
gone: looked for again) instead of returning the other stream's info. Real outlets and inlets on loopback."""

from __future__ import annotations

import pylsl
import pytest
from pylsl.util import LostError

from bci_stream.lsl.source import full_info
from support.common import unique
from support.lsl import new_outlet


def test_the_full_info_of_another_stream_at_the_resolved_address_is_refused() -> None:
    asked, other = unique("uid-asked"), unique("uid-other")
    outlet_a, _ = new_outlet(asked, f"{asked}-src")
    outlet_b, _ = new_outlet(other, f"{other}-src")
    info_a = pylsl.resolve_bypred(f"name='{asked}'", 1, 10.0)[0]
    info_b = pylsl.resolve_bypred(f"name='{other}'", 1, 10.0)[0]
    inlet_a, inlet_b = pylsl.StreamInlet(info_a), pylsl.StreamInlet(info_b)
    full = full_info(inlet_a, info_a)  # the stream asked for: its full info, desc included
    assert full.name() == asked and full.uid() == info_a.uid() and not full.desc().child("channels").empty()
    with pytest.raises(LostError, match=f"stream '{asked}' .* is gone: its address now serves stream '{other}'"):
        full_info(inlet_b, info_a)  # as if the inlet on asked's address had reached the other outlet
    del inlet_a, inlet_b, outlet_a, outlet_b
