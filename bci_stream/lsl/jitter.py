"""Running spread of a stream's sample steps, before and after a timestamp repair."""

from __future__ import annotations

import math


class StepJitter:
    """Sums of the sample steps' deviations from the period, raw (``b``) and repaired (``a``), over about
    ``window`` steps (older steps count half each time the window fills)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.n = self.sb = self.sbb = self.sa = self.saa = 0.0

    def add(self, n: int, sb: float, sbb: float, sa: float, saa: float) -> None:
        """Add ``n`` steps with deviation sums ``sb``/``sa`` and sums of squares ``sbb``/``saa``."""
        f = 0.5 if self.n > self.window else 1.0
        self.n, self.sb, self.sbb = f * self.n + n, f * self.sb + sb, f * self.sbb + sbb
        self.sa, self.saa = f * self.sa + sa, f * self.saa + saa

    def ms(self) -> tuple[float | None, float | None]:
        """Standard deviation of the sample steps (diff of the stamps), before and after repair, ms."""
        if self.n < 2:
            return None, None
        n = self.n
        before = math.sqrt(max(self.sbb / n - (self.sb / n) ** 2, 0.0)) * 1e3
        after = math.sqrt(max(self.saa / n - (self.sa / n) ** 2, 0.0)) * 1e3
        return before, after
