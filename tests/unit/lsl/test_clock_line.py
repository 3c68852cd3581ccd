"""The clock offset as a line over the sender's time (:class:`~bci_stream.lsl.clock_line.ClockLine`): a sender clock
that drifts, or estimates that scatter, give decoded stamps that run on without a step back or ahead."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.lsl.clock_line import ClockLine


def run(drift: float, noise_s: float, sfreq: float, seconds: float = 120.0, every_s: float = 2.0, seed: int = 0):
    """A sender on a clock ``drift`` fast (local = sender * (1 - drift) + 100 s), estimates every ``every_s`` with
    ``noise_s`` scatter, samples at ``sfreq`` mapped chunk by chunk as they come; (mapped, true local) stamps."""
    rng = np.random.default_rng(seed)
    line, out, true = ClockLine(), [], []
    t_s = 1000.0 + np.arange(int(seconds * sfreq)) / sfreq  # the sender's stamps
    local = t_s * (1 - drift) + 100.0
    for k0 in range(0, len(t_s), int(every_s * sfreq)):
        now = t_s[k0]
        line.take(now, local[k0] - now + rng.normal(0.0, noise_s))
        chunk = slice(k0, k0 + int(every_s * sfreq))
        out.append(line.mapped(t_s[chunk]))
        true.append(local[chunk])
    return np.concatenate(out), np.concatenate(true)


@pytest.mark.parametrize(("drift", "noise_s", "sfreq"), [
    (0.01, 0.0, 160.0),  # an exploratory run's sender 1 % fast: 17 ms back at each refresh before
    (-0.01, 0.0, 160.0),  # 1 % slow: 28 ms ahead at each refresh before
    (100e-6, 1e-3, 2000.0),  # a crystal's 100 ppm, estimates scattered by 1 ms (a busy network), 2 kHz
    (0.0, 2e-3, 1000.0),
])
def test_mapped_stamps_never_step_back_and_follow_the_clock(drift, noise_s, sfreq) -> None:
    mapped, true = run(drift, noise_s, sfreq)
    steps = np.diff(mapped)
    assert steps.min() > 0, f"a step back of {-steps.min() * 1e3:.3f} ms"
    period = (1 - drift) / sfreq
    assert np.abs(steps - period).max() < 0.5 * period  # no jump ahead either: each step within half a period
    late = slice(len(true) // 2, None)  # once the line has its slope: on the sender's true clock
    assert np.abs(mapped[late] - true[late]).max() < max(3 * noise_s, 2e-4)


def test_a_step_of_the_clock_is_applied_at_once_and_forget_starts_anew() -> None:
    line = ClockLine()
    for i in range(10):
        line.take(1000.0 + 2 * i, 5.0)
    assert line.offset_at(1020.0) == pytest.approx(5.0)
    line.take(1020.0, 5.5)  # 0.5 s: a clock set, not drift: no blend over 2 s
    assert line.offset_at(1020.5) == pytest.approx(5.5, abs=0.05)
    held = line.offset_at(1021.0)
    line.forget()  # another instance: as before until its first estimate, which then holds alone
    assert line.offset_at(1021.0) == held
    line.take(10.0, -3000.0)
    assert line.offset_at(10.0) == -3000.0 and len(line.points) == 1


def test_a_provisional_offset_holds_until_the_first_estimate_which_blends_in_or_steps() -> None:
    """A new instance with no estimate of its own is stamped by its arrival (a provisional offset, kept by no least
    squares); its first estimate takes over without a step when within STEP_S, at once when further."""
    line = ClockLine()
    for i in range(10):
        line.take(1000.0 + 2 * i, 5.0)  # the last instance's line
    line.forget()
    line.provisional(50.0, 7.03)  # the new instance's first chunk arrived 7.03 s after its stamp
    assert line.offset_at(51.0) == pytest.approx(7.03) and not line.points
    line.take(52.0, 7.0)  # its estimate: the arrival was 30 ms late
    t = 52.0 + np.arange(0, 3.0, 0.01)
    mapped = line.mapped(t)
    assert np.diff(mapped).min() > 0 and mapped[0] == pytest.approx(52.0 + 7.03)  # blended over BLEND_S
    assert line.offset_at(52.0 + ClockLine.BLEND_S) == pytest.approx(7.0) and len(line.points) == 1
    line.provisional(60.0, 7.5)
    line.take(61.0, 7.0)  # 0.5 s off the provisional offset: the estimate at once
    assert line.offset_at(61.0) == pytest.approx(7.0)
