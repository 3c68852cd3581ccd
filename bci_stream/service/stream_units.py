"""A decoded stream's ``stream.units`` and the amplitude check of its unit, one rule for every change.

``stream.units`` says how the model reading the stream converts its samples
(:meth:`~bci_stream.lsl.units.UnitScale.describe`). A stream whose ``desc`` declares no unit is read in an assumed
one (``options.input_unit``, else the card's); :class:`~bci_stream.lsl.units.AmplitudeCheck` then looks at its first
2 s and adds ``warning`` when their amplitude is implausible in that unit, or in the unit the stream declares (volts
read as µV decode as noise, silently). The units change when a hot swap loads a model of another card (another
unit, other channels) and when
the source comes back as a new outlet instance; both go through :meth:`StreamUnits.change`:

* read in the same assumed unit (the same size: ``uV`` is ``microvolts``) as before: the warning stays, as the
  samples are still read in a unit their amplitude says is wrong;
* read in another unit (another assumed unit, or the stream now declares its units): the warning goes and the check
  runs again on the next samples;
* a new outlet instance is checked again in any case, on its own first 2 s (its sender may have been fixed or
  changed): the warning kept meanwhile is replaced by that check's verdict (kept, or cleared).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bci_stream.core.units import same_size
from bci_stream.lsl.units import AmplitudeCheck, UnitScale


def same_assumed_unit(was: UnitScale, now: UnitScale) -> bool:
    """Whether ``now`` reads the stream's samples in the assumed unit ``was`` read them in (no unit in the stream's
    ``desc`` for both; one unit, of the same size: ``uV`` and ``µV`` are the same)."""
    if not (was.assumed and now.assumed) or len(set(was.input_units)) != 1 or len(set(now.input_units)) != 1:
        return False
    return same_size(was.input_units[0], now.input_units[0])


class StreamUnits:
    """The units a stream is read in, the amplitude warning of an assumed unit, and the check still running.

    Parameters
    ----------
    units, chan_idx
        How the running model reads the stream (its unit factors; its channel map, None: by position).
    sfreq, stream
        The stream's rate and name (for the check's window and its message).
    """

    def __init__(self, units: UnitScale, chan_idx: np.ndarray | None, sfreq: float, stream: str) -> None:
        self.units, self.sfreq, self.stream = units, sfreq, stream
        self.warning: str | None = None
        self.check: AmplitudeCheck | None = None  # the first 2 s being looked at (None: done, or nothing to check)
        self._start_check(chan_idx)

    @property
    def scale(self) -> np.ndarray:
        """The factor of each model channel from the stream's unit to the card's."""
        return self.units.scale

    def describe(self) -> dict[str, Any]:
        """The status's ``stream.units``: :meth:`~bci_stream.lsl.units.UnitScale.describe` and ``warning``, if any."""
        out = self.units.describe()
        if self.warning is not None:
            out["warning"] = self.warning
        return out

    def feed(self, x: np.ndarray) -> bool:
        """A pulled chunk ``x`` ``[n, n_stream_chans]`` (the stream's own unit) while :attr:`check` runs; True when it
        completes the check (its verdict is then :attr:`warning`: set, or cleared)."""
        check = self.check
        if check is None:
            return False
        check.feed(x)
        if not check.done:
            return False
        self.check, self.warning = None, check.warning
        return True

    def change(self, units: UnitScale, chan_idx: np.ndarray | None, new_instance: bool) -> dict[str, Any]:
        """Read the stream with ``units`` and ``chan_idx`` from now on (a hot swap's model, or ``new_instance``: the
        source came back as another outlet instance); the new ``stream.units``. See the module docstring."""
        same = same_assumed_unit(self.units, units)
        self.units = units
        if not same:
            self.warning = None
        if new_instance or not same or self.check is not None:  # a check running restarts on the new channels
            self._start_check(chan_idx)
        return self.describe()

    def _start_check(self, chan_idx: np.ndarray | None) -> None:
        check = AmplitudeCheck(self.units, chan_idx, self.sfreq, self.stream)
        self.check = None if check.done else check
