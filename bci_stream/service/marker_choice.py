"""Which marker stream a decoder (or a recording) follows when the default selector matches several.

By default (no ``options.markers.stream``) the marker stream is ``<input name>-markers`` or
``<input name>-annotations`` on the input's host (:func:`marker_predicate`). Two amplifiers of one make share a stream
name, and so do their marker streams: each input must follow its own, never the other's cues. The rule
(:meth:`MarkerChoice.choose`), applied at every search (the first and each after the stream went):

1. A candidate is **this input's** when the input has a source_id ``S`` and the candidate's source_id is ``S``
   (mne-lsl's ``PlayerLSL`` gives its annotations its own source_id), ``S-markers`` (``simulate``, ``demo`` and
   ``replay``) or ``S-annotations``. The input's own one is followed, whatever else matches.
2. A candidate that is **another input's** by the same rule (another stream of the input's name on its host, with
   another source_id) is never followed: while only such ones are up, the follower keeps searching (``reason`` names
   them), so a decoder whose own marker stream went does not take its neighbour's in the meantime.
3. Otherwise (a stimulus program's marker outlet, with a source_id of its own) the remaining candidate is followed.
   Several left by the rule (none or several this input's, or several unrelated): the first found is followed,
   as before, and it is **reported**: the connection's ``also_matching`` names the others, a warning is logged, a
   recording writes a ``markers_ambiguous`` event and a note. The cure: a marker selector with a source_id.

An explicit selector (``options.markers.stream``) is not judged: the first stream it matches is followed.
The candidates answer a continuous resolver together (one query, within tens of ms of each other): this input's own
stream is followed as soon as it is seen; any other choice is made :data:`SETTLE_S` after the first candidate is seen,
so that the others and the streams of the input's name are known.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pylsl

from bci_stream.core.spec import MarkerOptions
from bci_stream.lsl.source import build_predicate, described, excluding

log = logging.getLogger("bci_stream.markers")

SUFFIXES = ("-markers", "-annotations")  #: the default marker streams' names: ``<input name><suffix>``
#: a marker stream's source_id derived from its input's ``S``: ``S`` (PlayerLSL), ``S-markers``, ``S-annotations``
OWN_SOURCE_IDS = ("",) + SUFFIXES
SETTLE_S = 0.5  #: the wait from the first candidate seen to the choice, s (all answer one query together)
#: what a decoder's messages call the cure (a recording names its own field or flag)
DECODER_CURE = "options.markers.stream with a source_id"


def marker_predicate(options: MarkerOptions, input_name: str, hostname: str,
                     input_info: pylsl.StreamInfo | None = None) -> str:
    """The LSL predicate of the marker stream: the selector given (never the input stream ``input_info`` itself: a
    selector that matched it, e.g. its name, read every EEG sample as markers, thousands a second), or the streams
    named after the input."""
    sel = options.stream
    if sel is not None:
        predicate = build_predicate(sel.name, sel.type, sel.source_id, sel.hostname)
        return predicate if input_info is None else excluding(predicate, input_info)
    beside = [build_predicate(f"{input_name}{suffix}", hostname=hostname) for suffix in SUFFIXES]
    return " or ".join(f"({p})" for p in beside)


def own_input_reason(options: MarkerOptions, input_info: pylsl.StreamInfo | None) -> str | None:
    """Why a marker selector that the input stream ``input_info`` itself matches finds nothing there (that stream is
    never read as markers: :func:`marker_predicate` leaves it out), said as the follower's ``reason`` while it looks
    for another (before, ``searching`` for ever with no reason: audit s63fault F7); None for any other selector."""
    sel = options.stream
    if sel is None or input_info is None:
        return None
    own = {"name": input_info.name(), "type": input_info.type(), "source_id": input_info.source_id(),
           "hostname": input_info.hostname()}
    if any(value and value != own[key] for key, value in
           (("name", sel.name), ("type", sel.type), ("source_id", sel.source_id), ("hostname", sel.hostname))):
        return None
    given = build_predicate(sel.name, sel.type, sel.source_id, sel.hostname)
    return (f"the marker selector {given} matches the input stream {input_info.name()!r} itself, which is never read "
            "as markers: waiting for another stream it matches (select the marker stream by its own name or source_id)")


def derived_from(marker_source_id: str, source_id: str) -> bool:
    """Whether a marker stream's source_id is derived from an input's (``OWN_SOURCE_IDS``); never for no source_id."""
    return bool(source_id) and marker_source_id in {source_id + s for s in OWN_SOURCE_IDS}


@dataclass
class Chosen:
    """The outcome of one look: the stream to follow (None: none yet) and how it was chosen."""

    info: pylsl.StreamInfo | None
    chosen_by: str = ""  # "source_id", "only match", "first found"
    also_matching: list[str] = field(default_factory=list)  # the candidates the rule could not tell apart from it
    passed_over: list[str] = field(default_factory=list)  # candidates not followed: another input's, or not its own
    candidates: int = 0  # marker streams matching the default selector

    def report(self) -> dict[str, Any]:
        """The fields a connection's ``stream`` gets (status ``markers.stream``, a recording's header)."""
        return {"chosen_by": self.chosen_by, "also_matching": self.also_matching, "passed_over": self.passed_over}


@dataclass
class MarkerChoice:
    """The rule of the module docstring for one input (its name, host and source_id)."""

    input_name: str
    hostname: str
    source_id: str
    cure: str = DECODER_CURE

    @classmethod
    def for_input(cls, options: MarkerOptions, input_name: str, hostname: str,
                  input_info: pylsl.StreamInfo | None, cure: str = DECODER_CURE) -> MarkerChoice | None:
        """The choice for the default selector; None for an explicit one (its first match is followed)."""
        if options.stream is not None:
            return None
        return cls(input_name, hostname, input_info.source_id() if input_info is not None else "", cure)

    def resolver_predicate(self, marker_predicate: str) -> str:
        """What the follower's resolver asks for: the marker candidates and the streams of the input's name (whose
        source_ids tell another input's marker stream)."""
        return f"({marker_predicate}) or ({build_predicate(self.input_name, hostname=self.hostname)})"

    def choose(self, found: list[pylsl.StreamInfo]) -> Chosen:
        """The marker stream to follow among ``found`` (the resolver's results, in the order found)."""
        names = {f"{self.input_name}{s}" for s in SUFFIXES}
        candidates = [i for i in found if i.name() in names]
        # the source_ids of the other streams of the input's name (the input itself: its own source_id)
        others = {i.source_id() for i in found if i.name() == self.input_name} - {"", self.source_id}
        own = [i for i in candidates if derived_from(i.source_id(), self.source_id)]
        theirs = [i for i in candidates if i not in own and any(derived_from(i.source_id(), s) for s in others)]
        free = [i for i in candidates if i not in own and i not in theirs]
        pool, chosen_by = (own, "source_id") if own else (free, "only match" if len(free) == 1 else "first found")
        if not pool:
            return Chosen(None, passed_over=[described(i) for i in theirs], candidates=len(candidates))
        passed = [i for i in candidates if i not in pool]
        return Chosen(pool[0], chosen_by, [described(i) for i in pool[1:]], [described(i) for i in passed],
                      len(candidates))

    @staticmethod
    def ready(chosen: Chosen, waited_s: float) -> bool:
        """Whether to follow ``chosen.info`` now, ``waited_s`` after the first candidate was seen: this input's own at
        once, any other choice after :data:`SETTLE_S` (the other inputs' streams known by then)."""
        return chosen.info is not None and (chosen.chosen_by == "source_id" or waited_s >= SETTLE_S)

    def warn(self, chosen: Chosen, predicate: str) -> None:
        """Log a warning for a choice the rule could not make (``chosen.also_matching`` not empty)."""
        if chosen.also_matching:
            log.warning("marker stream: %s", self.ambiguity(chosen, predicate))

    def ambiguity(self, chosen: Chosen, predicate: str) -> str:
        """What :meth:`warn` says."""
        which = f"this input's by source_id {self.source_id!r}" if self.source_id else "this input's (no source_id)"
        how = "several are" if chosen.chosen_by == "source_id" else "none is"
        return (f"{len(chosen.also_matching) + 1} marker streams match {predicate} and {how} {which}: following the "
                f"first found, {described(chosen.info)}; not {', '.join(chosen.also_matching)} "
                f"(choose with {self.cure})")


#: the most channels of a marker stream that is followed: a marker stream carries a code, or a few (one-hot
#: annotations: one per description); one of 50,000 channels was recorded as 250,000 markers in 5 samples (review s48)
MAX_MARKER_CHANNELS = 256


def too_wide(info: pylsl.StreamInfo) -> str | None:
    """Why stream ``info`` is not followed as a marker stream (more than :data:`MAX_MARKER_CHANNELS` channels), or
    None."""
    if (n := info.channel_count()) <= MAX_MARKER_CHANNELS:
        return None
    return (f"stream {info.name()!r} has {n} channels, more than the {MAX_MARKER_CHANNELS} a marker stream may have "
            "(a code, or a few, per sample): not followed, nothing of it recorded")
