"""Channel units of an LSL stream (``desc/channels/channel/unit``) and the factor to a model card's unit.

mne-lsl, LabRecorder and most amplifier apps write the unit per channel (``V``, ``volts``, ``uV``, ``µV``,
``microvolts``, ``mV``, ...). mne-lsl's ``PlayerLSL``/``StreamInfo.set_channel_info`` write MNE's ``unit_mul``
instead, a power of ten of the channel type's SI unit (``0`` = V, ``-6`` = µV): on a voltage channel type
(``eeg``, ``eog``, ...) it is read as that voltage unit. The step graph multiplies each channel by ``scale``
before anything else, so a stream in volts decodes like the same stream in microvolts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pylsl

from bci_stream.core.errors import StreamMismatchError
from bci_stream.core.channels import shortlist
from bci_stream.core.units import (MNE_VOLTAGE_TYPES, channel_unit, implausible_amplitude, same_size,
                                   volts_per_unit)
from bci_stream.core.amplitude import median_channel_sd
from bci_stream.lsl.info import desc_channel_values, per_channel
from bci_stream.lsl.sender_desc import sender_desc


def read_units(info: pylsl.StreamInfo) -> list[str | None]:
    """Each stream channel's unit from the ``desc``, by position: None where a channel has none (a blank or
    absent ``unit``, a unit that says there is none: ``none``, ``n/a``, ``unknown``, as MNE writes for a channel
    of unknown unit; or no entry: the ``desc`` lists fewer entries than the stream has channels). The rule of
    :func:`bci_stream.core.units.channel_unit`, which the file readers use too (:mod:`bci_stream.io.xdf`).

    Raises
    ------
    StreamMismatchError
        When the ``desc`` lists more channel entries than the stream has channels.
    """
    types = desc_channel_values(info, "type")
    units = [channel_unit(unit, ch_type) for unit, ch_type in zip(desc_channel_values(info, "unit"), types)]
    return per_channel(info, units, "units")


def recorded_channels(info: pylsl.StreamInfo, fallback: str) -> dict[str, Any]:
    """Each stream channel's ``unit`` and type (``ch_types``) for a recording's header, by position.

    Units: the ``desc``'s (mne-lsl's powers of ten as names), or, for a stream whose ``desc`` gives none,
    ``fallback`` (the unit the service took it to be in: the decoder's ``input_unit``, else the card's; a scaled
    ``input_unit`` such as ``"0.02235 uV"`` is written as it is: the recording holds the samples as pulled, raw
    counts, and :mod:`bci_stream.io.xdf` reads that unit back to µV, count × 0.02235); for a
    channel without one in a ``desc`` that gives some, what its ``unit`` says (``"none"``, ``"n/a"``) or ``""``.
    Types: the ``desc``'s ``type`` (``""`` where it gives none), so a reader of the recording can leave EOG or stim
    channels out as it would the stream's. With them, what the header keeps of the sender's own description
    (:func:`~bci_stream.lsl.sender_desc.sender_desc`: its ``desc``, each channel's location and impedance).
    """
    given = read_units(info)
    said = per_channel(info, desc_channel_values(info, "unit"), "units")  # as written ("none" stays "none")
    units = [fallback] * len(given) if all(u is None for u in given) else [
        u if u is not None else (text or "").strip() for u, text in zip(given, said)]
    types = [t or "" for t in per_channel(info, desc_channel_values(info, "type"), "types")]
    return {"unit": units, "ch_types": types, **sender_desc(info)}  # and the rest of the sender's description


@dataclass(frozen=True)
class UnitScale:
    """Per model channel: the factor from the stream's unit to the card's, and where the unit came from."""

    scale: np.ndarray  # [n_chans] float64
    input_units: list[str]
    assumed: bool  # no unit in the stream's desc: ``input_unit`` (default: the card's unit) was used
    note: str | None = None  # why a given ``input_unit`` was not used (the stream declares other units)

    def describe(self) -> dict:
        """The status's ``stream.units``: ``input`` (one unit, or the sorted list), ``assumed``, ``scale`` (one
        factor, or one per model channel; 12 significant digits: ``mV`` is 1000.0, not 1000.0000000000001) and,
        when a given ``input_unit`` was not used, a ``note`` saying so."""
        units = sorted(set(self.input_units))
        scale = [float(f"{x:.12g}") for x in self.scale]
        out = {"input": units[0] if len(units) == 1 else units, "assumed": self.assumed,
               "scale": scale[0] if len(set(scale)) == 1 else scale}
        if self.note is not None:
            out["note"] = self.note
        return out


def unit_scale(info: pylsl.StreamInfo, chan_idx: np.ndarray | None, ch_names: list[str], card_unit: str,
               input_unit: str | None) -> UnitScale:
    """The factor of every model channel (``chan_idx`` maps model channels to stream channels).

    A stream whose ``desc`` gives no unit at all is taken to be in ``input_unit`` (default: the card's unit),
    reported as assumed; ``input_unit`` may be a number and a unit (``"0.02235 uV"``: raw ADC counts of 0.02235 µV
    each, :func:`bci_stream.core.units.volts_per_unit`), its factor then in the scale. Once the ``desc`` gives a
    unit to some channel, every channel the model uses must have one: the others' unit is not guessed, and
    ``input_unit`` is not used (the result's ``note`` says so when it names another unit than the stream's).

    Raises
    ------
    StreamMismatchError
        When a channel's unit (or ``input_unit``, or the card's unit) is not a voltage unit: the error names
        the channel and the unit (and, for a bare power of ten on a channel whose type is not a voltage type,
        why it is not read as mne-lsl's). When the ``desc`` gives units to some channels but not to every channel
        the model uses: the error names those channels.
    """
    target = volts_per_unit(card_unit)
    if target is None:
        raise StreamMismatchError(f"the model card's unit {card_unit!r} is not a voltage unit this service converts")
    stream_units = read_units(info)
    idx = chan_idx if chan_idx is not None else np.arange(len(ch_names))
    declared = [stream_units[i] for i in idx]
    assumed = all(u is None for u in stream_units)
    if not assumed and any(u is None for u in declared):
        _refuse_partial_units(info, stream_units, idx, ch_names)
    fallback = input_unit or card_unit
    units = [u if u is not None else fallback for u in declared]
    scale = np.empty(len(units))
    for k, (name, unit) in enumerate(zip(ch_names, units)):
        size = volts_per_unit(unit)
        if size is None:
            what = "input_unit" if declared[k] is None and input_unit else f"channel {name!r} of stream {info.name()!r}"
            raise StreamMismatchError(f"{what} has unit {unit!r}, which cannot be converted to the model's "
                                      f"{card_unit!r} (known: V, mV, uV/µV, nV and their names)"
                                      + _power_of_ten_hint(info, unit, int(idx[k]) if declared[k] else None))
        scale[k] = size / target
    note = None
    if input_unit and not assumed and not all(same_size(u, input_unit) for u in units):
        note = (f"options.input_unit {input_unit!r} is not used: the stream's desc declares its channels' units "
                f"({shortlist(sorted(set(units)), 5)}); input_unit applies only to a stream that declares none")
    return UnitScale(scale, units, assumed, note)


def _power_of_ten_hint(info: pylsl.StreamInfo, unit: str, channel: int | None) -> str:
    """Why a bare power of ten (mne-lsl's ``unit_mul``, ``"-6"``) on stream channel ``channel`` was not read as a
    unit: its type is not a voltage type; ``""`` for any other unit."""
    digits = unit.strip().lstrip("+-")
    if channel is None or not (digits.isascii() and digits.isdigit()):
        return ""
    types = per_channel(info, desc_channel_values(info, "type"), "types")
    kind = (types[channel] or "").strip()
    return (f". A power of ten (mne-lsl's unit_mul) is read as a unit only on a voltage channel type "
            f"({', '.join(sorted(MNE_VOLTAGE_TYPES))}); "
            + (f"this channel's type is {kind!r}" if kind else "this channel's desc gives no type"))


DECODER_REMEDY = "give (or correct) options.input_unit when starting the decoder"  #: AmplitudeCheck's advice


class AmplitudeCheck:
    """Whether a stream has EEG's amplitude in the unit it is read in: assumed (no unit in its ``desc``), or declared
    by it (one unit for every channel; before, a declared unit was never checked, and a sender declaring µV while
    sending its SDK's volts decoded as noise with no word: audit s42, amplifiers).

    Fed the stream's chunks as pulled (values in the stream's own unit, before ``scale``: counts of a scaled unit
    such as ``"0.02235 uV"`` are judged in µV, count × 0.02235), it keeps the model's channels of the first
    ``seconds`` of samples; then :meth:`feed` returns a warning once (or None) and
    :attr:`done` is set. A window with no signal to judge (median channel SD 0 or not finite: an amplifier sending
    zeros before its acquisition starts) does not settle it: the next ``seconds`` are looked at. Volts read as µV
    (SD ~1e-5) or µV read as volts (~50 V) decode as noise, silently.
    ``remedy`` ends the warning: how this caller's user gives the unit (a decoder's option by default).
    """

    def __init__(self, units: UnitScale, chan_idx: np.ndarray | None, sfreq: float, stream: str,
                 seconds: float = 2.0, remedy: str = DECODER_REMEDY) -> None:
        self.unit, self.stream, self.remedy, self.assumed = units.input_units[0], stream, remedy, units.assumed
        self.idx = chan_idx
        self.need = max(int(round(seconds * sfreq)), 2) if sfreq > 0 else 256
        self.buf: np.ndarray | None = None  # [need, n_chans] float64, filled as chunks come
        self.have, self.done, self.warning = 0, len(set(units.input_units)) != 1, None
        self.skipped = 0  # samples of windows with no signal to judge (median channel SD 0 or not finite)

    def feed(self, x: np.ndarray) -> str | None:
        """Take a chunk ``x`` ``[n, n_stream_chans]``; the warning when this chunk completes the first window of
        ``seconds`` with signal and it is implausible (once), else None."""
        if self.done:
            return None
        x = x if self.idx is None else x[:, self.idx]
        while not self.done and len(x):
            part, x = x[: self.need - self.have], x[self.need - self.have:]
            if self.buf is None:
                self.buf = np.empty((self.need, part.shape[1]))
            self.buf[self.have:self.have + len(part)] = part
            self.have += len(part)
            if self.have == self.need:
                self._judge()
        return self.warning if self.done else None

    def _judge(self) -> None:
        """Judge the full window: done (``warning`` set when implausible), or skipped when it has no signal."""
        sd = median_channel_sd(self.buf)
        if not (math.isfinite(sd) and sd > 0):  # flat (an amplifier before acquisition, leads settling) or no data:
            self.skipped, self.have = self.skipped + self.have, 0  # nothing to judge yet; the next window is looked at
            return
        self.done, self.buf = True, None
        why = implausible_amplitude(sd, self.unit)
        if why is not None:
            where = f"its first {self.have}" if not self.skipped else \
                f"{self.have} of its samples after its first {self.skipped} (flat or not finite: not judged)"
            if self.assumed:
                self.warning = (f"stream {self.stream!r} declares no unit and is read as {self.unit!r}, but over "
                                f"{where} samples the {why}: declare the unit in the stream's "
                                f"desc/channels/channel/unit, or {self.remedy}")
            else:
                self.warning = (f"stream {self.stream!r} declares its channels in {self.unit!r}, but over {where} "
                                f"samples the {why}: the sender's values are not in the unit it declares (e.g. an "
                                "SDK's volts sent under a µV label); correct the sender's desc/channels/channel/unit, "
                                "or convert its values (a declared unit is read as declared: input_unit does not "
                                "override it)")


def recording_check(units: Sequence[str], assumed: bool, sfreq: float, stream: str, remedy: str) -> AmplitudeCheck:
    """The amplitude check of a recording with no model (``bci-stream record``, ``POST /recordings``): its channels
    in the commonest voltage unit of ``units`` (the units the file is written in: the stream's declared ones, or
    ``input_unit`` for every channel when it declares none, ``assumed``), judged in that unit; none to judge (no
    voltage channel): done at once. Before, every stream was judged in ``input_unit`` (µV by default), so a stream
    declaring volts and sending volts (mne-lsl's ``PlayerLSL``) was warned about as volts under a µV label."""
    volt = [u for u in units if volts_per_unit(u) is not None]
    common = Counter(volt).most_common(1)[0][0] if volt else ""
    idx = np.asarray([i for i, u in enumerate(units) if volt and u == common], dtype=np.intp)
    check = AmplitudeCheck(UnitScale(np.ones(len(idx)), [common] * max(len(idx), 1), assumed), idx, sfreq, stream,
                           remedy=remedy)
    check.done = check.done or not len(idx)
    return check


def _refuse_partial_units(info: pylsl.StreamInfo, stream_units: list[str | None], idx: np.ndarray,
                          ch_names: list[str]) -> None:
    """Raise the error of a ``desc`` that gives units to some channels but not to some the model uses."""
    given = sum(u is not None for u in stream_units)
    lacking = [f"{name!r} (stream channel {int(i)})" for name, i in zip(ch_names, idx) if stream_units[i] is None]
    units = sorted({u for u in stream_units if u is not None})
    raise StreamMismatchError(
        f"stream {info.name()!r} desc gives a unit for only {given} of its {len(stream_units)} channels "
        f"({shortlist([repr(u) for u in units], 5)}), and none for {len(lacking)} "
        f"channel(s) the model uses: {shortlist(lacking)}. Partial units "
        "are not guessed (nor is input_unit applied to them): give every channel its unit in desc/channels/channel"
        "/unit, or none at all")
