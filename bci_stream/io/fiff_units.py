"""FIFF unit codes (mne's ``info["chs"][i]["unit"]``) and the unit names bci-stream gives them, both ways.

Reading (:func:`_fiff_unit_name`): the unit of a non-voltage channel whose file does not name it (a FIF ``misc``
channel, ``FIFF_UNIT_CEL`` → ``"°C"``). Writing (:func:`_fiff_unit_code`, for
:func:`~bci_stream.io.fif_writer.to_mne_raw`): the code of a non-voltage unit name (``"degC"`` → ``FIFF_UNIT_CEL``).
``FIFF`` is ``mne.io.constants.FIFF``, passed in so that this module imports no mne.
"""

from __future__ import annotations

from bci_stream.io.recording import NO_UNIT


def _fiff_units(FIFF) -> dict[int, str]:
    """FIFF unit codes and the unit names bci-stream gives them."""
    return {FIFF.FIFF_UNIT_NONE: NO_UNIT, FIFF.FIFF_UNIT_UNITLESS: NO_UNIT, FIFF.FIFF_UNIT_CEL: "°C",
            FIFF.FIFF_UNIT_T: "T", FIFF.FIFF_UNIT_T_M: "T/m", FIFF.FIFF_UNIT_MOL: "mol", FIFF.FIFF_UNIT_S: "S",
            FIFF.FIFF_UNIT_PX: "px", FIFF.FIFF_UNIT_RAD: "rad", FIFF.FIFF_UNIT_SEC: "s", FIFF.FIFF_UNIT_A: "A",
            FIFF.FIFF_UNIT_OHM: "Ohm", FIFF.FIFF_UNIT_HZ: "Hz"}


def _fiff_unit_name(FIFF, code: int) -> str:
    """A FIFF unit code as a unit name (``FIFF_UNIT_CEL`` → ``"°C"``); :data:`NO_UNIT` for none or unitless."""
    names = _fiff_units(FIFF)
    if code in names:
        return names[code]
    text = str(getattr(code, "_name", "") or "")  # mne's named int: "FIFF_UNIT_V_M2"
    return text.removeprefix("FIFF_UNIT_").lower() or NO_UNIT


def _fiff_unit_code(FIFF, unit: str) -> int | None:
    """The FIFF code of a non-voltage unit name (``"degC"``, ``"°C"``, ``"Ohm"``), or None when FIFF has none."""
    key = unit.strip().lower()
    aliases = {"degc": "°c", "celsius": "°c", "ohms": "ohm", "sec": "s", "seconds": "s", "": NO_UNIT}
    key = aliases.get(key, key)
    codes = {name.lower(): code for code, name in reversed(_fiff_units(FIFF).items())}
    return codes.get(key)
