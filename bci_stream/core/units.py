"""Voltage unit names and their sizes: the one table the request check and the stream reader both use.

Only the standard library here: the request schema (:mod:`bci_stream.core.spec`) imports it.
"""

from __future__ import annotations

#: Unit name (lower case, spaces removed) → its size in volts.
VOLTS = {
    "v": 1.0, "volt": 1.0, "volts": 1.0,
    "mv": 1e-3, "millivolt": 1e-3, "millivolts": 1e-3,
    "uv": 1e-6, "µv": 1e-6, "μv": 1e-6, "microvolt": 1e-6, "microvolts": 1e-6,
    "nv": 1e-9, "nanovolt": 1e-9, "nanovolts": 1e-9,
}


def volts_per_unit(unit: str) -> float | None:
    """The size of ``unit`` in volts, or None when it is not a voltage unit this module knows."""
    return VOLTS.get(unit.strip().replace(" ", "").lower())


__all__ = ["VOLTS", "volts_per_unit"]
