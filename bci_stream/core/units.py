"""Voltage unit names and their sizes: the one table the request check and the stream reader both use.

Only the standard library here: the request schema (:mod:`bci_stream.core.spec`) imports it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

#: Unit name (lower case, spaces removed) → its size in volts. ``µ`` is U+00B5 (micro sign), ``μ`` U+03BC (Greek
#: mu): amplifier software writes both. Names are case-folded (:func:`volts_per_unit`), so ``MV`` is millivolts, not
#: the SI megavolt (a decision: a stream in megavolts is not EEG, and all-capital headers such as ``UV`` occur).
VOLTS = {
    "v": 1.0, "volt": 1.0, "volts": 1.0,
    "mv": 1e-3, "millivolt": 1e-3, "millivolts": 1e-3, "mvolt": 1e-3, "mvolts": 1e-3,
    "uv": 1e-6, "µv": 1e-6, "μv": 1e-6, "muv": 1e-6, "microvolt": 1e-6, "microvolts": 1e-6,
    "uvolt": 1e-6, "uvolts": 1e-6, "µvolt": 1e-6, "µvolts": 1e-6, "μvolt": 1e-6, "μvolts": 1e-6,
    "nv": 1e-9, "nanovolt": 1e-9, "nanovolts": 1e-9, "nvolt": 1e-9, "nvolts": 1e-9,
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


#: What a ``unit`` field says when a channel has no (known) unit: MNE writes ``n/a`` (and ``NA``), others ``none``,
#: ``unknown``, ``-``. Read as no unit at all, so ``input_unit`` (or the card's unit) applies as to a blank field.
NO_UNIT = frozenset({"", "none", "n/a", "na", "unknown", "-"})


def is_no_unit(unit: str) -> bool:
    """Whether a ``unit`` field says the channel has no unit (:data:`NO_UNIT`, ignoring case and spaces)."""
    return unit.strip().replace(" ", "").lower() in NO_UNIT


def channel_unit(unit: str, ch_type: str) -> str | None:
    """A channel's ``unit`` field as read: None when it says there is none (:func:`is_no_unit`: blank, ``none``,
    ``n/a``, ...), mne-lsl's power of ten on a voltage channel type as that unit (:func:`mne_lsl_unit`), else the
    text as it is (a voltage unit, or another: ``g``, ``degC``)."""
    return None if is_no_unit(unit) else mne_lsl_unit(unit, ch_type)


def stream_units(units: Sequence[str], types: Sequence[str]) -> tuple[list[str | None], bool]:
    """The one rule of a stream's channel units, for the live service (:mod:`bci_stream.lsl.units`) and the file
    readers (:mod:`bci_stream.io.xdf`, :mod:`bci_stream.io.session`): each channel's unit as read
    (:func:`channel_unit`, by position with ``types``; None where it gives none), and whether the stream gives no
    channel a unit (``assumed``: every channel is then read in an assumed unit, a decoder's ``input_unit`` live, µV
    from a file). Beside channels that give a unit, a channel that gives none (a blank field too) is not guessed:
    a decoder refuses it among the channels its model uses, a file reader keeps it unconverted, not a voltage."""
    read = [channel_unit(unit, ch_type) for unit, ch_type in zip(units, types)]
    return read, all(u is None for u in read)


#: A unit with a factor (``"0.02235 uV"``: one stream unit is 0.02235 µV), as amplifier apps that send raw ADC counts
#: need: the number (decimal or exponent form), optional spaces, a unit name of :data:`VOLTS`.
_SCALED = re.compile(r"^\s*([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?(?=\s*[^\d\s.+-])|(?:inf|infinity|nan)(?=\s)))"
                     r"\s*(.+)$", re.IGNORECASE)


def _split(unit: str) -> tuple[float, str]:
    """``unit`` as (factor, unit name): ``"0.02235 uV"`` → ``(0.02235, "uV")``, ``"uV"`` → ``(1.0, "uV")``."""
    m = _SCALED.match(unit)
    return (float(m.group(1)), m.group(2)) if m else (1.0, unit)


def volts_per_unit(unit: str) -> float | None:
    """The size of ``unit`` in volts, or None when it is not a voltage unit this module knows.

    ``unit`` is a name of :data:`VOLTS` (the lookup ignores case and spaces: ``"Micro Volts"``, ``"UV"``; so ``"MV"``
    is a millivolt), or a positive finite number and one (``"0.02235 uV"``: raw ADC counts of 0.02235 µV each,
    ``"1e-3 mV"``): :func:`unit_problem` says why a text is neither.
    """
    factor, name = _split(unit)
    size = _named_size(name)
    if size is None or not (math.isfinite(factor) and factor > 0):
        return None
    volts = size if factor == 1.0 else factor * size
    return volts if math.isfinite(volts) and volts > 0 else None  # ('1e-320 uV' is 0 V in floats: review s62b F7)


def _named_size(name: str) -> float | None:
    """The size in volts of a unit name of :data:`VOLTS` (ignoring case and spaces), or None."""
    return VOLTS.get(name.strip().replace(" ", "").lower())


def same_size(a: str, b: str) -> bool:
    """Whether units ``a`` and ``b`` are the same voltage unit (``"uV"``, ``"µV"``, ``"microvolts"``, ``"1e3 nV"``:
    sizes equal to 1e-9, so a number's rounding does not count), or, when either is not one, the same text
    (ignoring case and surrounding spaces)."""
    size_a, size_b = volts_per_unit(a), volts_per_unit(b)
    if size_a is not None and size_b is not None:
        return math.isclose(size_a, size_b, rel_tol=1e-9)
    return a.strip().casefold() == b.strip().casefold()


def unit_problem(unit: str) -> str | None:
    """Why ``unit`` is not a voltage unit :func:`volts_per_unit` reads (None: it is), for an error that also names
    the option and the value."""
    if volts_per_unit(unit) is not None:
        return None
    factor, name = _split(unit)
    if _named_size(name) is None:
        comma = " (write a decimal point, not a comma)" if "," in unit else ""
        return (f"must be a voltage unit ({', '.join(sorted(VOLTS))}), or a number and one (\"0.02235 uV\": one "
                f"stream unit is that many µV, for raw ADC counts){comma}")
    if math.isfinite(factor) and factor > 0:  # a size no float holds
        return f"must give a number of {name.strip()} per stream unit a float can hold (got {factor:g}: 0 V in floats)"
    return f"must give a positive, finite number of {name.strip()} per stream unit (got {factor:g})"


#: Median channel standard deviation of scalp EEG, µV (low, high). Outside it the values are almost surely in
#: another unit than the one they are read in: volts read as µV give ~1e-5, µV read as volts ~1e7 µV. calibrate
#: warns on a file outside it; :func:`implausible_amplitude` says why a stream or file is.
PLAUSIBLE_SD_UV = (0.5, 5000.0)
#: Volts no EEG input reaches: the widest DC-coupled amplifiers' input ranges stay under ±1 V. A value beyond it is a
#: corrupt sample (a bad packet, a float read as the wrong type), handled as a non-finite one by ``nan_policy``: one
#: such value of 1e15 µV left a classical decoder's running power blind for 30-58 s, pinned to one class.
MAX_INPUT_V = 1.0
_NAMED = (("V", 1.0), ("mV", 1e-3), ("µV", 1e-6), ("nV", 1e-9))


def input_limit(unit: str, scale: np.ndarray) -> np.ndarray | None:
    """Per channel, the largest absolute value a stream may send (in its own unit, ``scale``: each channel's factor to
    ``unit``, the model's) that is still below :data:`MAX_INPUT_V`; None when ``unit`` is not a voltage unit."""
    size = volts_per_unit(unit)
    if size is None:
        return None
    return (MAX_INPUT_V / size / np.abs(np.asarray(scale, dtype=np.float64))).astype(np.float32)


def implausible_amplitude(sd: float, unit: str) -> str | None:
    """Why a median channel standard deviation ``sd``, in ``unit`` (a scaled one too: counts of ``"0.02235 uV"`` are
    judged as ``sd`` × 0.02235 µV), is not scalp EEG (and which unit would make it
    so), or None: plausible (:data:`PLAUSIBLE_SD_UV`), ``sd`` zero or not finite (flat or no data: not a unit
    question), or ``unit`` not a voltage unit.

    >>> implausible_amplitude(2e-5, "uV")
    'median channel SD 2e-05 uV, outside the 0.5-5000 µV of scalp EEG (plausible if the values are in V)'
    """
    size = volts_per_unit(unit)
    if size is None or not (math.isfinite(sd) and sd > 0):
        return None
    uv = sd * size * 1e6
    lo, hi = PLAUSIBLE_SD_UV
    if lo <= uv <= hi:
        return None
    in_uv = "" if size == 1e-6 else f" = {uv:.3g} µV"
    if _SCALED.match(unit):  # counts of a scaled unit ("SD 4.5e+05 × 0.02235 uV"): the factor is what to check
        plausible = (lo * 1e-6 / sd, hi * 1e-6 / sd)  # volts per count that would make the SD scalp EEG's
        return (f"median channel SD {sd:.3g} × {unit}{in_uv}, outside the {lo:g}-{hi:g} µV of scalp EEG (check the "
                f"amplifier's volts per count: {plausible[0] * 1e6:.3g}-{plausible[1] * 1e6:.3g} µV per count would "
                "fit)")
    fits = [name for name, s in _NAMED if lo <= sd * s * 1e6 <= hi]
    return (f"median channel SD {sd:.3g} {unit}{in_uv}, outside the {lo:g}-{hi:g} µV of scalp EEG"
            + (f" (plausible if the values are in {' or '.join(fits)})" if fits else ""))


__all__ = ["MAX_INPUT_V", "MNE_VOLTAGE_TYPES", "NO_UNIT", "PLAUSIBLE_SD_UV", "VOLTS", "channel_unit",
           "implausible_amplitude", "input_limit", "is_no_unit", "mne_lsl_unit", "same_size", "stream_units",
           "unit_problem", "volts_per_unit"]
