"""What a marker's timestamp says about its sender's clock: a stamp that is no number (NaN, infinite) cannot be placed,
and one an hour or more from this host's LSL clock is on another clock. Before, a NaN stamp crashed the scorer (the
decoder's worker restarted, each further one another restart, then ``error``), and Unix-time or experiment-relative
stamps left every cue pending or missed without a word (audit s70score F3/F4)."""

from __future__ import annotations

import logging
import math
from typing import Any

from bci_stream.service.stamp_checks import CLOCK_FAR_S

log = logging.getLogger("bci_stream.markers")


class MarkerStamps:
    """The follower's markers' stamps, judged as they are taken (:meth:`usable`); their figures for the status."""

    def __init__(self) -> None:
        self.unstamped = 0  # markers whose stamp is no finite number: received, neither scored nor recorded
        self.far = 0  # markers stamped more than CLOCK_FAR_S from this host's clock
        self.clock_warning: str | None = None

    def usable(self, value: str, t: float, now: float) -> bool:
        """Whether a marker at ``t`` (this host's clock, mapped) can be placed in time; ``now``: this host's clock.
        A marker far from ``now`` is usable (a sender's own clock is its business) but warned about, once."""
        if not math.isfinite(t):
            self.unstamped += 1
            if self.unstamped == 1:
                log.warning("marker %r has timestamp %r: a marker stamped with no finite number cannot be placed in "
                            "time; it is counted (markers.unstamped), neither scored nor recorded", value, t)
            return False
        ahead = t - now
        if abs(ahead) > CLOCK_FAR_S:
            self.far += 1
            if self.clock_warning is None:
                side = "ahead of" if ahead > 0 else "behind"
                self.clock_warning = (
                    f"marker {value!r} is stamped {abs(ahead):.4g} s {side} this host's LSL clock (more than "
                    f"{CLOCK_FAR_S:g} s): the stimulus program does not stamp with LSL's local_clock() (Unix time, "
                    "e.g. time.time(), or time since its start?); its cues cannot be placed among the decoded samples "
                    "(pending or missed): push markers without a timestamp, or stamp them with pylsl.local_clock()")
                log.warning("%s", self.clock_warning)
        return True

    def describe(self) -> dict[str, Any]:
        return {"unstamped": self.unstamped, "far_stamped": self.far, "clock_warning": self.clock_warning}


__all__ = ["MarkerStamps"]
