"""Looking for the streams an LSL predicate matches without blocking: a liblsl continuous resolver, read at will.

A decoder or a recording looking for its stream takes a Stop (a ``DELETE``) and reports its status between looks.
It looked with one-shot resolves of 0.5 s (``pylsl.resolve_bypred(predicate, 1, 0.5)``), and liblsl 1.18 returns
such a resolve of an absent stream after 5.5 s on about every other call (measured on a test machine: a timeout of
exactly 0.5 s, liblsl's resolve wave interval, meets a race; 0.4, 0.6, 1.0 and 2.0 s return on time): a ``DELETE``
then waited that long, and a shared worker whose only decoder was looking sent no status for its 5 s leave timeout
and was killed as hung (audit s65api F1). A continuous resolver's results are read at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pylsl

#: how long a stream no longer answering stays in a look's results, s (as the source monitor's resolvers)
LOOK_FORGET_S = 2.0
#: how often a caller reads its look while nothing is found, s; in its first :data:`LOOK_FAST_S`, every
#: :data:`LOOK_FAST_POLL_S` (a stream that is up is listed ~10 ms after the resolver is made: a decoder's start waited a
#: whole poll for it)
LOOK_POLL_S = 0.1
LOOK_FAST_S, LOOK_FAST_POLL_S = 0.5, 0.01
#: how long a look that found only streams that cannot serve (another rate or format than a decoder's model, no rate
#: or no numbers for a recording) goes on for one that may, s
OTHERS_WAIT_S = 1.0
#: the one-shot resolve's timeout when liblsl could make no continuous resolver (out of file descriptors), s: not
#: 0.5 s, the timeout that meets liblsl's race
ONESHOT_S = 0.4


class StreamLook:
    """The streams ``predicate`` matches, as a continuous resolver sees them now (:meth:`found`), and the one of them
    its caller takes (:meth:`choose`).

    Parameters
    ----------
    predicate
        The LSL XPath predicate of the streams looked for.
    """

    def __init__(self, predicate: str) -> None:
        self.predicate = predicate
        self.since = time.monotonic()
        #: the first stream found that the caller's rule does not fit (:meth:`choose`), and when (``time.monotonic()``)
        self.unfit: pylsl.StreamInfo | None = None
        self.unfit_since = 0.0
        #: uid -> ``local_clock()`` when a stream found went away before an inlet on it opened (:meth:`went`)
        self.gone: dict[str, float] = {}
        try:
            self.resolver: pylsl.ContinuousResolver | None = pylsl.ContinuousResolver(pred=predicate,
                                                                                     forget_after=LOOK_FORGET_S)
        except RuntimeError:  # liblsl could not make one (e.g. the process is out of file descriptors)
            self.resolver = None

    def found(self) -> list[pylsl.StreamInfo]:
        """The streams seen now, at once, but those that went away (:meth:`went`) less than :data:`LOOK_FORGET_S` ago
        (the resolver lists them that long yet; one still listed after it, e.g. too slow to send its info once, is
        found again). Without a resolver: a one-shot resolve of :data:`ONESHOT_S`."""
        if self.resolver is None:
            infos = pylsl.resolve_bypred(self.predicate, 1, ONESHOT_S)
        else:
            infos = self.resolver.results()
        now = pylsl.local_clock()
        return [i for i in infos if now - self.gone.get(i.uid(), -math.inf) > LOOK_FORGET_S]

    def choose(self, fits: Callable[[pylsl.StreamInfo], bool], late: bool = False) -> pylsl.StreamInfo | None:
        """A stream found now that ``fits`` (a decoder's: may fit its model; a recording's: recordable); else, once
        only others were found for :data:`OTHERS_WAIT_S` or when ``late`` (its caller's timeout passed), the first of
        them, :attr:`unfit` (which its caller refuses, saying why; also set when one that fits was taken beside it);
        else None (look again after :meth:`wait`).
        mne-lsl's PlayerLSL gives its annotations stream (irregular, strings) its EEG stream's source_id: a selector by
        source_id matches both, and the first found (often the annotations) ended a decoder in a final refusal."""
        found, now = self.found(), time.monotonic()
        if self.unfit is None and (others := [i for i in found if not fits(i)]):
            self.unfit, self.unfit_since = others[0], now
        if (fit := next((i for i in found if fits(i)), None)) is not None:
            return fit
        return self.unfit if self.unfit is not None and (late or now - self.unfit_since > OTHERS_WAIT_S) else None

    def wait(self) -> None:
        """Sleep until the next read: :data:`LOOK_FAST_POLL_S` in the look's first :data:`LOOK_FAST_S`, then
        :data:`LOOK_POLL_S`."""
        time.sleep(LOOK_FAST_POLL_S if time.monotonic() - self.since < LOOK_FAST_S else LOOK_POLL_S)

    def went(self, uid: str) -> None:
        """The stream ``uid`` was found, and went away before an inlet on it opened: not found for a while."""
        self.gone[uid] = pylsl.local_clock()
        if self.unfit is not None and self.unfit.uid() == uid:
            self.unfit = None


__all__ = ["LOOK_FORGET_S", "LOOK_POLL_S", "OTHERS_WAIT_S", "StreamLook"]
