"""Voltage unit names and their sizes: the one table the request check and the stream reader both use.

Only the standard library here: the request schema (:mod:`bci_stream.core.spec`) imports it.
"""

from __future__ import annotations

#: Unit name (lower case, spaces removed) → its size in volts. ``µ`` is U+00B5 (micro sign), ``μ`` U+03BC (Greek
#: mu): amplifier software writes both. Names are case-folded (:func:`volts_per_unit`), so ``MV`` is millivolts, not
#: the SI megavolt (a decision: a stream in megavolts is not EEG, and all-capital headers such as ``UV`` occur).
VOLTS = {
    "v": 1.0, "volt": 1.0, "volts": 1.0,
    "mv": 1e-3, "millivolt": 1e-3, "millivolts": 1e-3,
    "uv": 1e-6, "µv": 1e-6, "μv": 1e-6, "muv": 1e-6, "microvolt": 1e-6, "microvolts": 1e-6,
    "uvolt": 1e-6, "uvolts": 1e-6, "µvolt": 1e-6, "µvolts": 1e-6, "μvolt": 1e-6, "μvolts": 1e-6,
    "nv": 1e-9, "nanovolt": 1e-9, "nanovolts": 1e-9,
}


#: MNE channel types whose unit is the volt (mne-lsl writes their unit as a power of ten of it).
MNE_VOLTAGE_TYPES = frozenset({"eeg", "eog", "emg", "ecg", "seeg", "ecog", "dbs", "bio"})
#: MNE ``unit_mul`` exponent → unit name.
_POWERS = {0: "V", -3: "mV", -6: "uV", -9: "nV"}


def mne_lsl_unit(unit: str, ch_type: str) -> str:
    """``unit`` as a name when it is mne-lsl's power of ten (``"0"``, ``"-6"``) on a voltage channel type,
    else ``unit`` unchanged (so a bare number on another type stays an error that shows it)."""
    text = unit.strip()
    digits = text[1:] if text[:1] in ("-", "+") else text
    if ch_type.strip().lower() not in MNE_VOLTAGE_TYPES or not (digits.isascii() and digits.isdigit()):
        return unit
    return _POWERS.get(int(text), unit)


def volts_per_unit(unit: str) -> float | None:
    """The size of ``unit`` in volts, or None when it is not a voltage unit this module knows.

    The lookup ignores case and spaces (``"Micro Volts"``, ``"UV"``); so ``"MV"`` is a millivolt (see :data:`VOLTS`).
    """
    return VOLTS.get(unit.strip().replace(" ", "").lower())


__all__ = ["MNE_VOLTAGE_TYPES", "VOLTS", "mne_lsl_unit", "volts_per_unit"]
