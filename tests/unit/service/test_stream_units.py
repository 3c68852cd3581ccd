"""One rule for ``stream.units`` and the amplitude warning of an assumed unit, for a hot swap and a new instance
(:class:`bci_stream.service.stream_units.StreamUnits`)."""

from __future__ import annotations

import numpy as np

from bci_stream.lsl.units import UnitScale
from bci_stream.service.stream_units import StreamUnits, same_assumed_unit

SFREQ, N = 100.0, 200  # the check looks at the first 2 s: 200 samples


def assumed(unit: str, n: int = 2) -> UnitScale:
    return UnitScale(np.ones(n), [unit] * n, True)


def volts(n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 2)) * 2e-5  # EEG in volts


def warned() -> StreamUnits:
    units = StreamUnits(assumed("uV"), None, SFREQ, "eeg")
    assert units.feed(volts()) and units.warning is not None and "warning" in units.describe()
    return units


def test_the_same_assumed_unit_keeps_the_warning_at_a_swap():
    units = warned()
    out = units.change(assumed("microvolts"), None, new_instance=False)  # the same size, another spelling
    assert out["warning"] == units.warning and units.check is None


def test_another_assumed_unit_drops_the_warning_and_checks_again():
    units = warned()
    out = units.change(assumed("V"), None, new_instance=False)
    assert "warning" not in out and units.check is not None
    assert units.feed(volts()) and units.warning is None  # volts are plausible in V


def test_declared_units_drop_the_warning_and_are_checked_in_their_own_unit():
    """Before: a declared unit was never checked (a sender declaring µV, sending volts, decoded noise unsaid)."""
    units = warned()
    out = units.change(UnitScale(np.ones(2), ["uV", "uV"], False), None, new_instance=True)
    assert "warning" not in out and units.check is not None
    assert units.feed(volts(seed=5)) and "declares its channels in 'uV'" in units.warning  # volts under a µV label
    units.change(UnitScale(np.ones(2), ["V", "V"], False), None, new_instance=True)
    assert units.feed(volts(seed=6)) and units.warning is None  # volts declared as V: plausible


def test_a_new_instance_keeps_the_warning_until_its_own_values_are_checked():
    units = warned()
    assert "warning" in units.change(assumed("uV"), None, new_instance=True) and units.check is not None
    assert units.feed(volts(seed=1)) and units.warning is not None  # the same values: the same verdict
    units.change(assumed("uV"), None, new_instance=True)
    assert units.feed(volts(seed=2) * 1e6) and units.warning is None  # the sender fixed: cleared
    assert "warning" not in units.describe()


def test_a_check_running_at_a_swap_restarts_on_the_new_channels():
    units = StreamUnits(assumed("uV"), np.array([0, 1]), SFREQ, "eeg")
    assert not units.feed(np.zeros((10, 4)))
    units.change(assumed("uV", n=3), np.array([0, 2, 3]), new_instance=False)  # 3 model channels now
    assert not units.feed(volts(N - 1, seed=3).repeat(2, axis=1)[:, :4])
    assert units.feed(volts(1, seed=4).repeat(2, axis=1)[:, :4]) and units.warning is not None


def test_same_assumed_unit():
    assert same_assumed_unit(assumed("uV"), assumed("µV"))
    assert not same_assumed_unit(assumed("uV"), assumed("mV"))
    assert not same_assumed_unit(assumed("uV"), UnitScale(np.ones(2), ["uV", "uV"], False))
