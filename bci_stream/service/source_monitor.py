"""Watching a stream's source while it is silent: is it back, back changed, or replaced by another stream?"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import pylsl
from pylsl.util import LostError, TimeoutError as LslTimeoutError

from bci_stream.core.errors import StreamMismatchError
from bci_stream.core.spec import SOURCE_GRACE_S
from bci_stream.lsl.liblsl import time_correction_ex
from bci_stream.lsl.source import NUMERIC_FORMATS, build_predicate, described

RECONNECT_BACKOFF = (0.25, 4.0)  # first and largest interval between source checks while stalled, s
#: how long :meth:`SourceMonitor.begin_verify` waits for a first answer about the outlet instance liblsl re-subscribed
#: to, s (found in ~1 ms on a working network: it is the instance whose samples just arrived); later looks do not wait
VERIFY_TRY_S = 0.1
#: a selector naming a host: how long only instances on other hosts may answer before the returned one is refused, s
VERIFY_TIMEOUT_S = 3.0
#: how long :meth:`SourceMonitor.replaced` listens for the source's instances, s
REPLACED_LOOK_S = 0.3

log = logging.getLogger("bci_stream.worker")

NO_OTHER: dict[str, str | bool | float | None] = {"other_stream": None, "other_fits": None, "ends_at": None,
                                                  "note": None}


class SourceMonitor:
    """Looks at what matches the decoder's selector, with a bounded exponential backoff between looks.

    Parameters
    ----------
    source
        The full info of the stream being decoded.
    predicate
        The decoder's stream selector as an LSL XPath predicate.
    hostname
        The selector's host name, if it names one: an instance of the source on another host is not the source
        (liblsl re-subscribes an inlet by source_id, whatever the host).
    grace_s
        While silent: how long the source may stay gone, another stream that fits the model matching the selector,
        before :meth:`check` refuses (``options.source_grace_s``).
    """

    def __init__(self, source: pylsl.StreamInfo, predicate: str, hostname: str | None = None,
                 grace_s: float = SOURCE_GRACE_S, owner: Literal["decoder", "recording"] = "decoder") -> None:
        self.source = source
        self.owner = owner  # whose stream: the refusals of a returned instance say what to do in its terms
        self.predicate = predicate
        self.hostname = hostname
        self.grace_s = grace_s
        #: while silent and the source gone: another stream the selector matches (``other_stream``, described),
        #: whether it may fit the model (``other_fits``), when the decoder ends unless its source comes back
        #: (``ends_at``, ``local_clock()``; None: never, the other cannot fit) and a ``note`` saying so; all None
        #: while no other stream matches or the source is up (the status's ``stall`` carries them)
        self.other: dict[str, str | bool | float | None] = dict(NO_OTHER)
        self._gone_since: float | None = None  # the first look that found the source gone and a fitting other
        self.watch: pylsl.ContinuousResolver | None = None
        self.watching = False  # silent: watching (``watch`` None while its resolver could not be created yet)
        self.seen_uids = {source.uid()}
        self.present: set[str] = set()  # uids of the source's instances at the latest check
        self.checked = False  # whether a check ran since the stall began
        self._backoff = RECONNECT_BACKOFF[0]
        self._next_check = 0.0
        self._inlet: pylsl.StreamInlet | None = None
        #: the resolved info of the latest new outlet instance (:meth:`new_instance`): its full info is checked
        #: against the model before any of its samples is decoded (``StallHandling.note_reconnect``)
        self.fresh: pylsl.StreamInfo | None = None
        self._was_reset: Callable[[], bool] = lambda: False
        #: while the instance liblsl re-subscribed to waits to be checked: when that began (``local_clock()``), the
        #: resolver looking for it (:meth:`poll_verify`), and the first one-shot resolve's finds
        self.verify_since: float | None = None
        self.verifier: pylsl.ContinuousResolver | None = None
        self._verify_found: list[pylsl.StreamInfo] = []

    def follow(self, inlet: pylsl.StreamInlet, timeout: float = 2.0) -> None:
        """Watch ``inlet`` for liblsl's own re-subscriptions (a source with a source_id, recovered by liblsl).

        liblsl switches a recovering inlet to a new outlet instance of the source (same name, type, source_id,
        channel count and format, *any rate*) and only then reads its samples; on that switch it raises the
        inlet's clock-reset flag, provided a clock offset had been measured. So the offset is measured here
        (waiting up to ``timeout`` s: at once when the decoder already measured it), and :meth:`resubscribed`
        reads the flag at every chunk, before any sample of that chunk is decoded.
        """
        self._inlet = inlet
        self._was_reset = inlet.was_clock_reset if self.source.source_id() else (lambda: False)
        self._measure_clock(timeout)

    def resubscribed(self) -> bool:
        """liblsl re-subscribed the followed inlet to another outlet instance since the last call (the next step
        is :meth:`begin_verify`); the clock offset is measured again, so that the next switch raises the flag too."""
        if not self._was_reset():
            return False
        self._measure_clock(0.0)  # starts a measurement; liblsl's clock thread finishes it within ~2.6 s
        return True

    def _measure_clock(self, timeout: float) -> None:
        if self._inlet is not None and self.source.source_id():
            try:
                time_correction_ex(self._inlet, timeout)
            except (LslTimeoutError, LostError):
                pass

    def same_source(self, info: pylsl.StreamInfo) -> bool:
        """``info`` is an instance of the decoded source: its source_id (when it has one), and its name or type. A
        sibling outlet of one sender under its source_id, other in both name and type (mne-lsl's PlayerLSL gives its
        annotations stream its EEG stream's source_id), is not: it was taken for the source "come back with
        n_chans=3, sfreq=0", a final refusal, as soon as the EEG stream went silent."""
        src = self.source
        if self.hostname is not None and info.hostname() != self.hostname:
            return False
        if src.source_id():
            return info.source_id() == src.source_id() and (info.name() == src.name() or info.type() == src.type())
        return (info.name(), info.type(), info.hostname()) == (src.name(), src.type(), src.hostname())

    def start(self) -> None:
        """The stream went silent: start watching. A resolver that cannot be created now (liblsl's "could not
        create continuous resolver": the process is out of file descriptors, EMFILE) is no crash of the worker:
        the stream stays stalled and :meth:`check` tries again at each look (the backoff's pace)."""
        self.watching, self.present, self.checked = True, set(), False
        self.other, self._gone_since = dict(NO_OTHER), None
        self._backoff = RECONNECT_BACKOFF[0]
        self._next_check = pylsl.local_clock() + self._backoff
        self._open_watch()

    def look_now(self) -> None:
        """The next :meth:`check` looks at once, whatever its backoff: an instance whose check passed in a helper
        thread (the shared worker's) is reopened in the loop's next pass, not up to 4 s later."""
        self._next_check = 0.0

    def _open_watch(self) -> None:
        try:
            self.watch = pylsl.ContinuousResolver(pred=self.predicate, forget_after=2.0)
        except RuntimeError as exc:  # liblsl gives no errno; on loopback it is a shortage of descriptors
            self.watch = None
            log.warning("stream %r went silent and its source cannot be looked for yet (liblsl: %r; out of file "
                        "descriptors?): looking again in %g s", self.source.name(), str(exc), self._backoff)

    def release(self) -> None:
        """The stream is closed: let go of its inlet and any watch, so that liblsl frees their threads and descriptors
        now (its owner may sit in a reference cycle that only a rare full collection would free)."""
        self._inlet, self._was_reset = None, lambda: False
        self.watch, self.watching = None, False
        self.verifier, self.verify_since = None, None

    def stop(self) -> str | None:
        """Data again: stop watching; the new outlet instance's uid if the source came back as one.

        Raises
        ------
        StreamMismatchError
            An instance of the same source seen meanwhile has another channel count, rate or format.
        """
        uid = None
        if self.watch is not None:
            mine = [i for i in self.watch.results() if self.same_source(i)]
            self.check_shapes(mine)
            fresh = self.new_instance(mine)
            uid = None if fresh is None else fresh.uid()
        self.watch, self.watching = None, False
        self.other, self._gone_since = dict(NO_OTHER), None
        return uid

    def begin_verify(self) -> None:
        """liblsl re-subscribed the inlet to another outlet instance of the source: start looking for the instances
        of the source that are up (:meth:`poll_verify` checks them). One short one-shot resolve (up to
        :data:`VERIFY_TRY_S`), then a continuous resolver that :meth:`poll_verify` reads without waiting: a shared
        worker's other streams go on meanwhile (before, a loop of one-shot resolves held the worker up to 3 s)."""
        self.verify_since = pylsl.local_clock()
        self._verify_found = pylsl.resolve_bypred(self.verify_predicate(), 1, VERIFY_TRY_S)
        self.verifier = None

    def verify_predicate(self) -> str:
        """The source's instances by name, type and source_id (whatever the host: :meth:`same_source` judges it)."""
        src = self.source
        return build_predicate(src.name() or None, src.type() or None, src.source_id() or None)

    def poll_verify(self) -> tuple[bool, str | None]:
        """Whether the returned instance could be checked, and, if so, its uid when not seen before:
        ``(False, None)`` while no instance of the source answered a resolve yet (the decoder waits and asks again:
        not finding it *yet* says nothing against it), ``(True, uid or None)`` once one did and every instance found
        has the shape the decoder started on.

        Raises
        ------
        StreamMismatchError
            An instance of the source has another channel count, rate or format; or, the selector naming a host,
            only instances on other hosts answered for :data:`VERIFY_TIMEOUT_S` (liblsl re-subscribes by source_id,
            whatever the host).
        """
        found, self._verify_found = self._verify_found, []
        if self.verifier is None and not found:
            try:
                self.verifier = pylsl.ContinuousResolver(pred=self.verify_predicate(), forget_after=2.0)
            except RuntimeError as exc:  # out of descriptors: looked for again at the next poll
                log.warning("stream %r: cannot look for its returned instance yet (liblsl: %r)", self.source.name(),
                            str(exc))
        if self.verifier is not None:
            found = found + self.verifier.results()
        mine = [i for i in found if self.same_source(i)]
        if not mine:
            src, waited = self.source, pylsl.local_clock() - (self.verify_since or 0.0)
            if waited >= VERIFY_TIMEOUT_S and self.hostname is not None and (elsewhere := sorted(
                    {i.hostname() for i in found if i.hostname() != self.hostname})):
                raise StreamMismatchError(
                    f"stream {src.name()!r} (source_id {src.source_id()!r}) came back as a new outlet instance on "
                    f"host {', '.join(map(repr, elsewhere))}, not on {self.hostname!r}, the host the {self.owner} "
                    f"selects (liblsl re-subscribes by source_id, whatever the host). {self.refusal(other_host=True)}")
            return False, None
        self.verifier, self.verify_since = None, None
        self.check_shapes(mine)
        fresh = self.new_instance(mine)
        return True, None if fresh is None else fresh.uid()

    def replaced(self, uid: str, timeout: float = REPLACED_LOOK_S) -> str | None:
        """Data again after a silence of a stream whose re-subscriptions liblsl cannot flag (it raises its flag only
        once a clock offset was measured, and none was: a host whose LSL time probes get no answer): the uid of a new
        outlet instance of the source if the one decoded (``uid``) answered no resolve within ``timeout`` s and
        another did (it is then checked as any new instance), else None. Before, such a sender that restarted faster
        than ``stall_timeout_s`` went on being decoded unchecked, even with its channels in another order."""
        mine = [i for i in pylsl.resolve_bypred(self.verify_predicate(), 0, timeout) if self.same_source(i)]
        if not mine or uid in {i.uid() for i in mine}:
            return None
        self.check_shapes(mine)
        fresh = self.new_instance(mine)
        return None if fresh is None else fresh.uid()

    def check_shapes(self, mine: list[pylsl.StreamInfo]) -> None:
        """StreamMismatchError when an instance of the source in ``mine`` differs in channel count, rate or
        format from the stream the decoder started on, naming what it was and what it is now."""
        src = self.source
        shape = (src.channel_count(), src.nominal_srate(), src.channel_format())
        for info in mine:
            got = (info.channel_count(), info.nominal_srate(), info.channel_format())
            if got != shape:
                raise StreamMismatchError(
                    f"stream {src.name()!r} (source_id {src.source_id()!r}) came back with n_chans={got[0]}, "
                    f"sfreq={got[1]:.10g}, format={NUMERIC_FORMATS.get(got[2], got[2])}; it was n_chans={shape[0]}, "
                    f"sfreq={shape[1]:.10g}, format={NUMERIC_FORMATS[shape[2]]}. {self.refusal()}"
                )

    def refusal(self, other_host: bool = False) -> str:
        """The refusal of a returned instance that cannot be taken as the source (another shape, or ``other_host``),
        and what to do, in the terms of the :attr:`owner`."""
        stream = "another host's stream" if other_host else "it"
        if self.owner == "recording":
            return f"Refusing to record {stream} into the same file; record it to a new file"
        advice = "start a new decoder for it" if other_host else "start a new decoder"
        return f"Refusing to decode {stream} with the same state; {advice}"

    def check(self, now: float, fits: Callable[[pylsl.StreamInfo], bool] = lambda info: True
              ) -> tuple[pylsl.StreamInfo | None, str | None]:
        """While silent, at most once per backoff interval: ``(info to reopen or None, new uid or None)``.

        The source gone and another stream matching the selector: one that cannot fit the model (``fits``, the rule
        a first connection passes over a find by) never ends the decoder; one that may fit does only when the
        source is still gone ``grace_s`` after the first look that found it so (looked at again then). Meanwhile
        :attr:`other` says which stream, and until when. Before: the first look ended it, ~1 s into a 1.5 s restart
        of an amplifier that shared its name with another (of another rate and channel count, at that).

        Raises
        ------
        StreamMismatchError
            The same source is back with another channel count, rate or format, or it stayed gone for ``grace_s``
            while another stream that may fit the model matches the selector: decoding that one with this state
            would be wrong.
        """
        if not self.watching or now < self._next_check:
            return None, None
        self._backoff = min(self._backoff * 2, RECONNECT_BACKOFF[1])
        self._next_check = now + self._backoff
        if self.watch is None:  # its resolver could not be created at the stall: again now, looked at next time
            self._open_watch()
            return None, None
        found = self.watch.results()
        mine = [i for i in found if self.same_source(i)]
        self.check_shapes(mine)
        self.note_others([] if mine else found, now, fits)
        self.present, self.checked = {i.uid() for i in mine}, True
        fresh = self.new_instance(mine)
        return (fresh or (mine[0] if mine else None)), (fresh.uid() if fresh else None)

    def note_others(self, others: list[pylsl.StreamInfo], now: float, fits: Callable[[pylsl.StreamInfo], bool]) -> None:
        """The source gone and ``others`` matching the selector: note the first that may fit the model (else the
        first), start the grace at the first look that finds one that may fit, and refuse once it is over."""
        fitting = [i for i in others if fits(i)]
        if not fitting:
            self._gone_since = None
        elif self._gone_since is None:
            self._gone_since = now
        if not others:
            self.other = dict(NO_OTHER)
            return
        src, other = self.source, (fitting or others)[0]
        if self._gone_since is None:
            self.other = {"other_stream": described(other), "other_fits": False, "ends_at": None,
                          "note": f"another stream matches the selector, {described(other)}, but cannot fit the "
                                  "model: waiting for the source to come back, however long"}
            return
        ends_at = self._gone_since + self.grace_s
        if now >= ends_at:
            raise StreamMismatchError(
                f"stream {src.name()!r} (source_id {src.source_id()!r}) is gone and another stream matches the "
                f"selector: {other.name()!r} (source_id {other.source_id()!r}, host {other.hostname()!r}). It did "
                f"not come back within {now - self._gone_since:.1f} s (source_grace_s={self.grace_s:g}). "
                "Refusing to switch sources silently; start a new decoder for it"
            )
        self._next_check = min(self._next_check, ends_at)  # looked at again when the grace is over
        self.other = {"other_stream": described(other), "other_fits": True, "ends_at": ends_at,
                      "note": f"another stream that may fit the model matches the selector, {described(other)}: "
                              f"the decoder ends in error unless its source comes back within source_grace_s="
                              f"{self.grace_s:g} (by ends_at); it never switches to the other stream"}

    def new_instance(self, mine: list[pylsl.StreamInfo]) -> pylsl.StreamInfo | None:
        """A new outlet instance of the source among ``mine`` (a reconnection), else None."""
        new = [i for i in mine if i.uid() not in self.seen_uids]
        self.seen_uids.update(i.uid() for i in new)
        if new:
            self.fresh = new[0]
        return new[0] if new else None
