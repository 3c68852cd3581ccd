"""Find an LSL stream, check it against a model card, and open an inlet on it."""

from __future__ import annotations

import math
import platform
import re
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pylsl
from pylsl.util import LostError, TimeoutError as LslTimeoutError

from bci_stream.core.channels import (NUMBERED_LABEL, bank_labelled, match_channels, match_note, normalise_ch_name,
                                     renamable_flags, renamed_hint, shortlist)
from bci_stream.core.errors import StreamMismatchError
from bci_stream.core.card import ModelCard
from bci_stream.lsl.clock_line import ClockLine
from bci_stream.lsl.info import read_labels, read_types
from bci_stream.lsl.liblsl import time_correction_ex

NUMERIC_FORMATS = {
    pylsl.cf_float32: "float32",
    pylsl.cf_double64: "double64",
    pylsl.cf_int32: "int32",
    pylsl.cf_int16: "int16",
    pylsl.cf_int8: "int8",
    pylsl.cf_int64: "int64",
}
#: a resolve's ``minimum`` that no lab reaches (pylsl's own buffer): the resolve listens its whole timeout, so every
#: stream that answers is in it
ALL_MATCHES = 1024
#: LSL's names of the formats a decoder refuses (an error names the stream's).
OTHER_FORMATS = {pylsl.cf_string: "string", pylsl.cf_undefined: "undefined"}
#: pylsl pushes and pulls int64 samples only on 64-bit platforms other than Windows (its own rule).
INT64_SUPPORTED = struct.calcsize("P") != 4 and platform.system() != "Windows"
#: the note ``calibrate --channel-names`` writes in a card's ``training.notes`` (bci_stream.train.classical
#: .calibration_inputs: "renamed the 25 channels of every file by --channel-names: EEG-Fz -> Fz, ...")
RENAMED_NOTE = re.compile(r"renamed the \d+ channels of every file by --channel-names\b")


def _xpath_literal(value: str) -> str:
    """Quote a value for an XPath 1.0 predicate (no escape syntax: pick the other quote, or concat)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    parts = value.split("'")
    return "concat(" + ", \"'\", ".join(f"'{p}'" for p in parts) + ")"


def build_predicate(name: str | None = None, stype: str | None = None, source_id: str | None = None,
                    hostname: str | None = None) -> str:
    """An LSL resolve predicate matching every field given (at least one)."""
    fields = {"name": name, "type": stype, "source_id": source_id, "hostname": hostname}
    terms = [f"{key}={_xpath_literal(val)}" for key, val in fields.items() if val]
    if not terms:
        raise ValueError("stream selector must give at least one of name, type, source_id, hostname; got none")
    return " and ".join(terms)


def excluding(predicate: str, info: pylsl.StreamInfo) -> str:
    """``predicate`` that never matches the stream ``info``: e.g. a marker selector that would also match the decoded
    EEG stream itself. By its name and source_id, which outlive a restart of its sender (a sibling stream of the
    same source_id, mne-lsl's ``<name>-annotations``, is another name), else by its uid."""
    sid = info.source_id()
    term = (f"name={_xpath_literal(info.name())} and source_id={_xpath_literal(sid)}" if sid
            else f"uid={_xpath_literal(info.uid())}")
    return f"({predicate}) and not({term})"


def described(i: pylsl.StreamInfo) -> str:
    """``'name' (type, n ch, rate, host)`` of a stream, and its source_id when it has one."""
    return (f"{i.name()!r} ({i.type() or 'no type'}, {i.channel_count()} ch, {i.nominal_srate():g} Hz, {i.hostname()}"
            + (f", source_id {i.source_id()!r})" if i.source_id() else ")"))


def full_info(inlet: pylsl.StreamInlet, info: pylsl.StreamInfo, timeout: float = 10.0) -> pylsl.StreamInfo:
    """The full info (with its ``desc``) of the stream ``inlet`` was opened on, ``info`` as resolved.

    liblsl connects an inlet to the host and port the resolve gave: when that stream's outlet has gone and another
    outlet has since taken its port (ports are reused at once, by this process or another), the inlet reads the
    other stream's info. Its uid then differs from ``info``'s: raised as ``LostError`` (the source is gone: look for
    it again), so another stream is never decoded as the one asked for.
    """
    full = inlet.info(timeout=timeout)
    if info.uid() and full.uid() != info.uid():
        raise LostError(f"stream '{info.name()}' (uid {info.uid()}) is gone: its address now serves stream "
                        f"'{full.name()}' (uid {full.uid()})")
    return full


def channel_indices(stream_labels: Sequence[str | None] | None, n_stream_chans: int, card: ModelCard,
                    stream_name: str | None = None, stream_types: Sequence[str | None] | None = None
                    ) -> np.ndarray | None:
    """Stream column for each model channel, or None when the stream's order already is the model's.

    ``stream_labels`` holds each stream channel's label by position, None where the stream's ``desc`` gives
    none (:func:`bci_stream.lsl.info.read_labels`). When the stream labels any channel, every model channel is
    looked up among the labelled ones (exact, then ignoring case, dots and an ``EEG`` prefix:
    :func:`bci_stream.core.channels.ch_name_key`, then a 10-20/10-10 renamed position by its other name:
    :func:`bci_stream.core.channels.match_channels`), so the stream may order channels differently, carry extra
    ones, or leave channels the model does not use unlabelled. Only without any label is the stream taken to
    be in the model's order, and then its channel count must equal the card's ``n_chans``.

    Raises
    ------
    StreamMismatchError
        On a channel count mismatch, more labels than channels, or a model channel absent from (or ambiguous
        in) the labelled channels; for a ``desc`` that labels only some channels, the error says how many and
        lists the model channels not found.
    """
    stream = f"stream {stream_name!r}" if stream_name else "stream"
    labels = list(stream_labels or [])
    if not any(labels):
        if n_stream_chans != card.n_chans:
            raise StreamMismatchError(
                f"{stream} has {n_stream_chans} channels and no channel labels; model '{card.ref}' needs "
                f"n_chans={card.n_chans}"
            )
        return None
    if len(labels) > n_stream_chans:
        raise StreamMismatchError(f"{stream} has {n_stream_chans} channels but {len(labels)} channel labels: "
                                  "cannot tell which label names which channel")
    labels = [label or None for label in labels] + [None] * (n_stream_chans - len(labels))
    found, missing, ambiguous = match_channels(labels, card.ch_names, renamable_flags(stream_types, n_stream_chans))
    if ambiguous:
        name, hits = next(iter(ambiguous.items()))
        raise StreamMismatchError(f"model channel {name!r} of model '{card.ref}' matches several channels of "
                                  f"{stream}: {hits}; label each channel once")
    named = [label for label in labels if label]
    if len(missing) < card.n_chans and bank_labelled(named) and not bank_labelled(card.ch_names):
        hits = [n for n in card.ch_names if n not in missing]
        raise StreamMismatchError(
            f"the labels of {stream} are BioSemi bank labels ({shortlist(named, 3)}), not electrode positions; model "
            f"'{card.ref}' reads 10-10 positions, and its {shortlist(hits)} match bank labels by name only (bank C's "
            "C1 ... C6 are not the C row). Label the stream's channels by their positions, or calibrate a model on "
            "the bank labels")
    unlabelled = [i for i, label in enumerate(labels) if not label]
    if missing and unlabelled:
        raise StreamMismatchError(
            f"{stream} desc labels only {n_stream_chans - len(unlabelled)} of its {n_stream_chans} channels "
            f"(unlabelled: channel {shortlist(unlabelled)}, counting from 0); {len(missing)} of the {card.n_chans} "
            f"channels model '{card.ref}' needs are not among the labelled ones: {shortlist(missing)}. Label every "
            "channel in desc/channels/channel/label (the service does not guess which unlabelled channel is which)"
            + renamed_hint(missing, labels, "stream", stream_types)
        )
    if missing:
        raise StreamMismatchError(
            f"{stream} lacks {len(missing)} of the {card.n_chans} channels model '{card.ref}' needs: "
            f"{shortlist(missing)} (stream has {n_stream_chans} channels: {shortlist(labels)})"
            + renamed_hint(missing, labels, "stream", stream_types) + renamed_cure(card)
            + numbered_hint(labels, len(missing) == card.n_chans, n_stream_chans == card.n_chans)
        )
    arr = np.asarray(found, dtype=np.intp)
    if n_stream_chans == card.n_chans and np.array_equal(arr, np.arange(card.n_chans)):
        return None
    return arr


_POSITION = re.compile(r"^[A-Za-z]{1,3}?(\d{1,2}|[zZ])$")  # a 10-10/10-20 name, as normalise_ch_name reads it


def _names_a_position(label: str) -> bool:
    name = normalise_ch_name(label)
    return bool(_POSITION.match(name)) and not NUMBERED_LABEL.match(name)  # not Ch1, CH01, Chan3, EGI's E12


def numbered_hint(labels: Sequence[str | None], none_found: bool, same_count: bool) -> str:
    """Why a stream none of whose labels is an electrode position (``EEG 001``, ``Ch1``, ``1``: an amplifier app
    that numbers its channels) lacks every model channel, and the cures; ``""`` otherwise (``none_found``: no model
    channel was found; ``same_count``: the stream has the model's channel count)."""
    if not none_found or any(_names_a_position(label) for label in labels if label):
        return ""
    order = ("; or, when its channels are in the model's order, send no labels at all (a stream without labels is "
             "read in the model's order)") if same_count else ""
    return ("; no label of the stream names an electrode position (numbered channels?): label its channels with "
            f"their positions in the sender (desc/channels/channel/label){order}")


def renamed_cure(card: ModelCard) -> str:
    """The cure for a stream that lacks the model's channels when the model was calibrated on renamed channels
    (its card's ``training.notes`` hold :data:`RENAMED_NOTE`: a BCI IV 2a file's ``EEG-0``... named ``FC3``... by
    ``calibrate --channel-names``): stream the channels under those names; ``""`` for any other card."""
    notes = (getattr(card, "training", None) or {}).get("notes") or []
    note = next((n for n in notes if isinstance(n, str) and RENAMED_NOTE.match(n)), None)
    if note is None:
        return ""
    return (f"; model '{card.ref}' was calibrated on renamed channels (its card's training notes: {note!r}): stream "
            "them under those names (bci-stream replay FILE --channel-names NAMES, the names calibrate was given; "
            "from an amplifier, label its channels so in the stream's desc)")


def label_report(labels: Sequence[str | None], ch_names: Sequence[str] | None = None,
                 types: Sequence[str | None] | None = None) -> dict[str, Any]:
    """What a decoder's status says of its stream's channel labels (:func:`bci_stream.lsl.info.read_labels`):
    how many channels the ``desc`` labels, which ones (by position, from 0) it leaves unlabelled, and whether
    the stream was taken to be in the model's channel order (no label at all). Given the model's ``ch_names``,
    also a ``note`` when a lab should know how they were matched (:func:`bci_stream.core.channels.match_note`:
    a model channel read under its other 10-20/10-10 name, ``T7`` from the stream's ``T3``; a stream channel not
    used though named like a used one, ``EEG C3`` beside ``C3``), by the rule :func:`check_stream` matched them by
    given each channel's desc ``types`` (:func:`bci_stream.lsl.info.read_types`)."""
    unlabelled = [i for i, label in enumerate(labels) if not label]
    out: dict[str, Any] = {"labelled": len(labels) - len(unlabelled), "unlabelled": unlabelled,
                           "order_assumed": len(unlabelled) == len(labels)}
    if out["order_assumed"] and len(labels) > 1 and ch_names is not None:
        out["warning"] = (f"the stream labels none of its {len(labels)} channels (desc/channels/channel/label): they "
                          f"are read in the model's order ({shortlist(list(ch_names), 6)}), unchecked; a sender in "
                          "another order is decoded with its channels swapped: label them")
    if ch_names is not None and (note := match_note([label or None for label in labels], ch_names,
                                                    renamable=renamable_flags(types, len(labels)))):
        out["note"] = note
    return out


def rate_mismatch(name: str, sfreq: float, card: ModelCard) -> str | None:
    """Why stream ``name`` at ``sfreq`` Hz (0: irregular) cannot feed ``card``'s model (None: the same rate, to a
    relative 1e-6); nothing is resampled."""
    if sfreq == pylsl.IRREGULAR_RATE:
        return (f"stream {name!r} has an irregular rate (nominal_srate 0); model '{card.ref}' needs "
                f"sfreq={card.sfreq:.10g} Hz")
    if not same_rate(sfreq, card.sfreq):  # near: the rates print alike, or almost (audit s64interop F6)
        near = ("; the two must be equal to a relative 1e-6 (nothing is resampled): declare the amplifier's nominal "
                "rate, not a measured one") if abs(sfreq - card.sfreq) < 1e-3 * card.sfreq else ""
        return f"stream {name!r} has sfreq={sfreq:.10g} Hz; model '{card.ref}' needs sfreq={card.sfreq:.10g} Hz{near}"
    return None


def same_rate(sfreq: float, nominal: float) -> bool:
    """A stream of ``sfreq`` Hz (0: irregular, never) can feed a model of ``nominal`` Hz: the same, to a relative
    1e-6 (nothing is resampled)."""
    return abs(sfreq - nominal) <= 1e-6 * nominal


def may_fit(info: pylsl.StreamInfo, card: ModelCard) -> bool:
    """Whether a resolved stream has the rate, a numeric format and at least the channel count ``card`` needs (what
    :func:`check_stream` checks first; which channels, by label, is known only from its full info): a stream of the
    selected name with fewer channels (another decoder's decoded stream published under it) can never be decoded."""
    return fits_shape(info, card.sfreq, card.n_chans)


def recordable(info: pylsl.StreamInfo) -> bool:
    """Whether ``bci-stream record`` can record the stream ``info`` describes: numeric samples at a nominal rate."""
    return info.channel_format() in NUMERIC_FORMATS and info.nominal_srate() != pylsl.IRREGULAR_RATE


def fits_shape(info: pylsl.StreamInfo, sfreq: float, n_chans: int) -> bool:
    """:func:`may_fit` for a model of ``sfreq`` Hz reading ``n_chans`` channels (where the card is not at hand: the
    service's process judges the other matches of a decoder's selector by its status)."""
    return (same_rate(info.nominal_srate(), sfreq) and info.channel_format() in NUMERIC_FORMATS
            and info.channel_count() >= n_chans)


def check_stream(info: pylsl.StreamInfo, card: ModelCard) -> np.ndarray | None:
    """Validate rate and format against the card; return the channel map of :func:`channel_indices`."""
    if (why := rate_mismatch(info.name(), info.nominal_srate(), card)) is not None:
        raise StreamMismatchError(why)
    if (fmt := info.channel_format()) not in NUMERIC_FORMATS:
        raise StreamMismatchError(
            f"stream {info.name()!r} has channel format {OTHER_FORMATS.get(fmt, fmt)}; model '{card.ref}' needs a "
            "numeric format (float32, double64, int8, int16, int32 or int64)"
        )
    if info.channel_format() == pylsl.cf_int64 and not INT64_SUPPORTED:
        raise StreamMismatchError(f"stream {info.name()!r} has channel format int64, which pylsl cannot pull on "
                                  f"{platform.system()} {struct.calcsize('P') * 8}-bit; send int32 or float samples")
    return channel_indices(read_labels(info), info.channel_count(), card, info.name(), read_types(info))


TimeCorrection = Literal["auto", "lsl", "none"]


@dataclass
class ClockOffset:
    """Offset added to the source's timestamps to bring them into this host's ``local_clock`` domain.

    ``auto``: LSL's estimates, except for a stream from this very host whose estimate is below 1 ms (or below the
    round trip of its probe: :meth:`reads_this_clock`), where the offset is exactly 0 (both ends read the same
    monotonic clock and the estimate is only round-trip noise, about 40 µs on loopback). ``lsl``: always LSL's
    estimates. ``none``: 0. The estimates make a line over the sender's time, changed without a step
    (:class:`~bci_stream.lsl.clock_line.ClockLine`: :meth:`mapped`); ``offset`` is its value now.
    """

    mode: TimeCorrection
    same_host: bool
    offset: float = 0.0
    estimate: float = 0.0
    uncertainty: float = float("nan")  # round-trip time of the latest estimate, seconds
    line: ClockLine = field(default_factory=ClockLine)
    zero: bool = True  # no offset at all (mode none, or this host's clock): stamps kept as they are
    changed: bool = False  # the last update brought a new estimate that moved the offset (for a recording's record)
    provisional_on: bool = False  # an offset from arrivals maps the stamps; no estimate taken since (provisional)

    SAME_HOST_MAX = 1e-3

    @classmethod
    def for_stream(cls, info: pylsl.StreamInfo, mode: TimeCorrection) -> ClockOffset:
        return cls(mode=mode, same_host=info.hostname() == socket.gethostname())

    def update(self, inlet: pylsl.StreamInlet, timeout: float) -> float:
        """Refresh from the inlet (blocks up to ``timeout`` only until the first estimate exists); :attr:`changed`
        says whether a new estimate moved the offset (the line's value moves with the drift between estimates)."""
        self.changed = False
        if self.mode == "none":
            return self.offset
        try:
            estimate, uncertainty = time_correction_ex(inlet, timeout)
        except (LslTimeoutError, LostError):
            return self.offset
        fresh = (estimate, uncertainty) != (self.estimate, self.uncertainty)
        before = self.offset, self.estimate
        self.estimate, self.uncertainty = estimate, uncertainty
        if fresh:  # (the same estimate again leaves a provisional offset be; the first after one blends in, not 0)
            self.zero = self.mode == "auto" and self.reads_this_clock() and not self.provisional_on
            self.provisional_on = False
        now = pylsl.local_clock() - estimate  # the sender's time
        if not self.zero and fresh:
            self.line.take(now, estimate)
        self.offset = 0.0 if self.zero else self.line.offset_at(now)
        self.changed = self.offset != before[0] and estimate != before[1]
        return self.offset

    def mapped(self, ts: np.ndarray) -> np.ndarray:
        """The sender's stamps ``ts`` on this host's clock (each + the offset at its time)."""
        return ts + self.offset if self.zero else self.line.mapped(ts)

    @property
    def estimated(self) -> bool:
        """Whether an estimate came since the start or the last :meth:`forget`."""
        return not math.isnan(self.uncertainty)

    @property
    def unmapped(self) -> bool:
        """A stream from another host whose offset is not known (no estimate came): its stamps go out as sent."""
        return self.mode != "none" and not self.same_host and not self.estimated

    def provisional(self, t: float, offset: float) -> None:
        """Map with ``offset`` (no estimate: :attr:`estimated` stays False) from the sender's time ``t`` until an
        estimate comes (:meth:`ClockLine.provisional`)."""
        self.line.provisional(t, offset)
        self.offset, self.zero, self.provisional_on = offset, False, True

    def forget(self) -> None:
        """Another outlet instance of the stream (maybe another clock): its first estimate starts a new line."""
        self.line.forget()
        self.estimate, self.uncertainty, self.provisional_on = 0.0, float("nan"), False

    def reads_this_clock(self) -> bool:
        """A stream of this host whose estimate is within its own error: below :data:`SAME_HOST_MAX` or the probe's
        round trip (liblsl's estimate is off by at most half of it). Before, 1 ms alone: on a loaded machine the
        round trip of a same-host estimate passed it, and the output stamps went 1.87 ms early for a while."""
        bound = max(self.SAME_HOST_MAX, 0.0 if math.isnan(self.uncertainty) else self.uncertainty)
        return self.same_host and abs(self.estimate) < bound


#: What :func:`unmapped_warning` says of a decoded stream.
DECODED_UNMAPPED = ("its timestamps are used as sent, on that host's clock, until an estimate comes; and liblsl cannot "
                    "flag a restart of that sender without one: after each silence of the stream the worker looks "
                    "for a new outlet instance (0.3 s)")


def unmapped_warning(info: pylsl.StreamInfo, waited_s: float, consequence: str = DECODED_UNMAPPED) -> str:
    """What a stream from another host with no clock offset estimate (:attr:`ClockOffset.unmapped`) means: the cause,
    then ``consequence`` (what it means for the one that reads the stream)."""
    return (f"no clock offset estimate for stream {info.name()!r} from host {info.hostname()!r} within {waited_s:g} s "
            f"(LSL's time probes to that host get no answer: a firewall dropping UDP?): {consequence}")
