"""Voltage unit spellings: the micro sign and the Greek mu with the word, ``uVolt(s)`` (``mVolt(s)``, ``nVolt(s)``);
case-folding (``MV`` is a millivolt, a documented decision)."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.units import volts_per_unit
from bci_stream.lsl.info import make_stream_info
from bci_stream.lsl.units import unit_scale


@pytest.mark.parametrize("unit", ["µvolts", "μvolts", "µVolt", "μ Volt", "uVolt", "uVolts", "uvolts", "UVOLT"])
def test_micro_spellings_with_the_word_are_microvolts(unit):
    assert volts_per_unit(unit) == 1e-6


@pytest.mark.parametrize("unit, volts", [("mVolts", 1e-3), ("mvolt", 1e-3), ("nVolts", 1e-9), ("NVOLT", 1e-9)])
def test_milli_and_nano_spellings_with_the_word_are_read_as_the_micro_ones_are(unit, volts):
    """Audit s58live F3: a stream declaring ``mVolts`` was refused though ``uVolts`` was read."""
    assert volts_per_unit(unit) == volts


def test_case_is_folded_so_MV_is_millivolts():
    assert volts_per_unit("MV") == volts_per_unit("mV") == 1e-3
    assert volts_per_unit("UV") == 1e-6 and volts_per_unit("mkV") is None


def test_a_stream_in_micro_volts_spelled_with_the_word_is_scaled_by_one():
    names = ["C3", "Cz", "C4"]
    info = make_stream_info("amp", "EEG", names, 250.0, "amp-src", unit=["μvolts", "µvolts", "uVolt"])
    scale = unit_scale(info, None, names, "microvolts", None)
    np.testing.assert_array_equal(scale.scale, [1.0, 1.0, 1.0])
    assert not scale.assumed


def test_a_factor_too_small_for_a_float_is_refused_not_taken_for_0_volts():
    """``1e-320 uV`` is 0 V in double precision: it was accepted, every sample then read as 0 V (review s62b F7)."""
    from bci_stream.core.units import unit_problem, volts_per_unit

    assert volts_per_unit("1e-320 uV") is None
    assert unit_problem("1e-320 uV") == ("must give a number of uV per stream unit a float can hold (got "
                                         "9.99989e-321: 0 V in floats)")
    assert volts_per_unit("1e-300 uV") == pytest.approx(1e-306, rel=1e-9)
