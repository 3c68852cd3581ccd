"""``options.input_unit`` as a number and a unit (``"0.02235 uV"``): an amplifier app that sends raw ADC counts
without a unit in its desc (an ADS1299 at gain 24: 0.02235 µV per count). Parsed and validated in the request
(errors name the option, the rule and the value), applied as the stream's scale, shown in ``stream.units``, judged
by the amplitude check in µV (not counts), and written into a recording's header so a reader gets µV back."""

from __future__ import annotations

import numpy as np
import pylsl
import pytest
from pydantic import ValidationError

from bci_stream.core.spec import DecoderSpec
from bci_stream.core.units import implausible_amplitude, same_size, unit_problem, volts_per_unit
from bci_stream.lsl.info import make_stream_info
from bci_stream.lsl.units import AmplitudeCheck, recorded_channels, unit_scale

NAMES = ["C3", "Cz", "C4"]
ADS1299 = "0.02235 uV"


def _spec(input_unit: str) -> DecoderSpec:
    return DecoderSpec.model_validate({"stream": {"name": "s"}, "model": "m", "options": {"input_unit": input_unit}})


def _no_units() -> pylsl.StreamInfo:
    info = pylsl.StreamInfo("counts", "EEG", len(NAMES), 250.0, "int32", "counts-src")
    chans = info.desc().append_child("channels")
    for name in NAMES:
        chans.append_child("channel").append_child_value("label", name)
    return info


@pytest.mark.parametrize(("text", "volts"), [(ADS1299, 0.02235e-6), ("0.02235uV", 0.02235e-6), ("1e-3 mV", 1e-6),
                                             (" .5 µV ", 0.5e-6), ("2 microvolts", 2e-6), ("1 V", 1.0), ("uV", 1e-6),
                                             ("nanovolts", 1e-9)])
def test_a_number_and_a_unit_is_that_many_of_the_unit(text, volts):
    assert volts_per_unit(text) == pytest.approx(volts, rel=1e-15)
    assert unit_problem(text) is None and _spec(text).options.input_unit == text


@pytest.mark.parametrize(("text", "rule"), [
    ("0 uV", "input_unit must give a positive, finite number of uV per stream unit (got 0); got '0 uV'"),
    ("-0.02 uV", "input_unit must give a positive, finite number of uV per stream unit (got -0.02); got '-0.02 uV'"),
    ("inf uV", "input_unit must give a positive, finite number of uV per stream unit (got inf); got 'inf uV'"),
    ("nan mV", "input_unit must give a positive, finite number of mV per stream unit (got nan); got 'nan mV'"),
    ("1e999 V", "input_unit must give a positive, finite number of V per stream unit (got inf); got '1e999 V'"),
])
def test_a_bad_number_is_refused_naming_the_option_the_rule_and_the_value(text, rule):
    with pytest.raises(ValidationError) as exc:
        _spec(text)
    (err,) = exc.value.errors()
    assert err["loc"] == ("options", "input_unit") and err["msg"] == f"Value error, {rule}"


@pytest.mark.parametrize("text", ["0.02235 K", "0.02235", "counts", "-6"])
def test_an_unknown_unit_is_refused_saying_both_forms(text):
    with pytest.raises(ValidationError) as exc:
        _spec(text)
    msg = exc.value.errors()[0]["msg"]
    assert msg.startswith("Value error, input_unit must be a voltage unit (microvolt, ")
    assert msg.endswith(f"or a number and one (\"0.02235 uV\": one stream unit is that many µV, for raw ADC counts); "
                        f"got {text!r}")


def test_the_scale_and_the_status_of_counts():
    units = unit_scale(_no_units(), None, NAMES, "microvolts", ADS1299)
    assert units.describe() == {"input": ADS1299, "assumed": True, "scale": 0.02235}
    in_volts = unit_scale(_no_units(), None, NAMES, "V", ADS1299)  # a card in volts
    assert in_volts.describe()["scale"] == pytest.approx(2.235e-8, rel=1e-12)
    declared = make_stream_info("s", "EEG", NAMES, 250.0, "sid", unit="uV")
    note = unit_scale(declared, None, NAMES, "microvolts", ADS1299).describe()["note"]
    assert note.startswith(f"options.input_unit {ADS1299!r} is not used: the stream's desc declares")


def test_the_amplitude_check_judges_counts_in_microvolts():
    rng = np.random.default_rng(3)
    units = unit_scale(_no_units(), None, NAMES, "microvolts", ADS1299)
    counts = np.rint(rng.normal(0.0, 20.0 / 0.02235, (1000, len(NAMES))))  # SD ~900 counts = 20 µV: EEG
    assert AmplitudeCheck(units, None, 250.0, "counts").feed(counts) is None
    # SD ~10 counts = 0.2 µV: too small in µV, though 10 read as µV would pass
    small = AmplitudeCheck(units, None, 250.0, "counts").feed(np.rint(rng.normal(0.0, 10.0, (1000, 3))))
    assert small is not None and "read as '0.02235 uV'" in small and " × 0.02235 uV = 0.22" in small
    # SD ~100000 counts = 2235 µV: plausible in µV, though 100000 read as µV would not be
    assert implausible_amplitude(1e5, ADS1299) is None and implausible_amplitude(1e5, "uV") is not None


def test_a_recording_header_says_the_scaled_unit():
    """The recorder stores the samples as pulled (counts); the header's unit makes the XDF reader give µV back."""
    assert recorded_channels(_no_units(), ADS1299)["unit"] == [ADS1299] * 3


def test_one_rule_says_two_units_are_the_same_size_whatever_the_rounding():
    assert volts_per_unit("1e3 nV") != volts_per_unit("uV")  # 1.0000000000000002e-06: exact == would differ
    assert same_size("1e3 nV", "uV") and same_size("10uv", "10 µV") and same_size("microvolts", "µV")
    assert not same_size("uV", "mV") and not same_size("uV", "0.02235 uV")
    assert same_size(" Counts ", "counts") and not same_size("counts", "uV")  # not units: compared as text


def test_a_decimal_comma_is_named_in_the_refusal():
    assert "decimal point" in unit_problem("1,5 uV") and "decimal point" not in unit_problem("furlongs")
