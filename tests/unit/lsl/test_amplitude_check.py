"""A stream or file whose unit is assumed (none declared) and whose amplitude is not EEG's in that unit is said:
volts read as µV (SD ~1e-5) and µV read as volts (SD ~20 V) decoded as noise with no word before. The pure check
(core.units.implausible_amplitude), the service-side accumulator over a stream's first seconds (lsl.units.
AmplitudeCheck, on a real pylsl StreamInfo without units), and evaluate's warning on a real EEG file in volts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pylsl
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.core.units import PLAUSIBLE_SD_UV, implausible_amplitude
from bci_stream.core.amplitude import median_channel_sd
from bci_stream.lsl.units import AmplitudeCheck, unit_scale
from support.common import REPO, SUBSET_R06, subset_file

NAMES = ["C3", "Cz", "C4"]


def test_implausible_amplitude_names_the_unit_that_fits() -> None:
    assert PLAUSIBLE_SD_UV == (0.5, 5000.0)
    assert implausible_amplitude(20.0, "uV") is None and implausible_amplitude(2e-5, "V") is None
    volts_as_uv = implausible_amplitude(2e-5, "microvolts")
    assert volts_as_uv.startswith("median channel SD 2e-05 microvolts, outside the 0.5-5000 µV")
    assert volts_as_uv.endswith("(plausible if the values are in V)")
    assert implausible_amplitude(20.0, "V") == ("median channel SD 20 V = 2e+07 µV, outside the 0.5-5000 µV of scalp "
                                                "EEG (plausible if the values are in µV)")
    assert implausible_amplitude(0.0, "uV") is None  # flat: not a unit question
    assert implausible_amplitude(float("nan"), "uV") is None and implausible_amplitude(1e-5, "g") is None


def _info(unit: str | None) -> pylsl.StreamInfo:
    info = pylsl.StreamInfo("amp-check", "EEG", len(NAMES), 160.0, "float32", "amp-check-src")
    chans = info.desc().append_child("channels")
    for name in NAMES:
        ch = chans.append_child("channel")
        ch.append_child_value("label", name)
        if unit is not None:
            ch.append_child_value("unit", unit)
    return info


def _feed(check: AmplitudeCheck, x: np.ndarray) -> list[str]:
    return [w for start in range(0, len(x), 16) if (w := check.feed(x[start:start + 16])) is not None]


def test_a_stream_in_volts_without_a_unit_is_warned_once_after_two_seconds() -> None:
    rng = np.random.default_rng(0)
    uv = rng.normal(0.0, 20.0, (800, len(NAMES)))  # 5 s at 160 Hz, SD 20 µV
    assumed = unit_scale(_info(None), None, NAMES, "microvolts", None)
    assert assumed.assumed
    check = AmplitudeCheck(assumed, None, 160.0, "amp-check")
    assert _feed(check, uv[:100] * 1e-6) == [] and not check.done  # 100 of the 320 samples of 2 s
    warnings = _feed(check, uv[100:] * 1e-6)
    assert len(warnings) == 1 and check.done, warnings
    assert warnings[0].startswith("stream 'amp-check' declares no unit and is read as 'microvolts', but over its "
                                  "first 320 samples the median channel SD 1.95e-05 microvolts")
    assert "(plausible if the values are in V): declare the unit in the stream's desc/channels/channel/unit, or " \
           "give (or correct) options.input_unit" in warnings[0]
    assert _feed(AmplitudeCheck(assumed, None, 160.0, "amp-check"), uv) == []  # µV read as µV: nothing
    as_volts = unit_scale(_info(None), None, NAMES, "microvolts", "V")  # input_unit V, the values in µV
    assert _feed(AmplitudeCheck(as_volts, None, 160.0, "amp-check"), uv)[0].endswith(
        "(plausible if the values are in µV): declare the unit in the stream's desc/channels/channel/unit, or give "
        "(or correct) options.input_unit when starting the decoder")
    declared = unit_scale(_info("V"), None, NAMES, "microvolts", None)  # declared V, and the values in V: nothing
    assert _feed(AmplitudeCheck(declared, None, 160.0, "amp-check"), uv * 1e-6) == []
    declared_uv = unit_scale(_info("uV"), None, NAMES, "microvolts", None)  # declared µV, the values in V (before:
    warnings = _feed(AmplitudeCheck(declared_uv, None, 160.0, "amp-check"), uv * 1e-6)  # never checked, no word)
    assert len(warnings) == 1 and warnings[0].startswith(
        "stream 'amp-check' declares its channels in 'uV', but over its first 320 samples the median channel SD "
        "1.95e-05 uV"), warnings
    assert "the sender's values are not in the unit it declares (e.g. an SDK's volts sent under a µV label)" \
           in warnings[0] and "input_unit does not override it" in warnings[0], warnings[0]
    # the model's channels only (chan_idx), NaN ignored
    wide = np.concatenate([uv * 1e-6, np.full((800, 1), 50.0)], axis=1)
    wide[5, 0] = np.nan
    assert len(_feed(AmplitudeCheck(assumed, np.array([0, 1, 2]), 160.0, "amp-check"), wide)) == 1
    assert abs(median_channel_sd(uv) - 20.0) < 1.0


def test_evaluate_warns_on_a_file_whose_eeg_is_in_volts(tmp_path: Path) -> None:
    from bci_stream.io import Recording, load_recording
    from bci_stream.io.npz import save_npz

    rec = load_recording(subset_file(SUBSET_R06))  # the model's 64 channels
    n = int(20 * rec.sfreq)  # its first 2 cues (40 s: 4 cues, a decode twice as long for the same check)
    paths = {}
    for name, factor in (("r06_uv", 1.0), ("r06_volts", 1e-6)):  # volts where µV are expected: an XDF in V, no unit
        paths[name] = save_npz(Recording(data=rec.data[:, :n] * factor, sfreq=rec.sfreq, ch_names=rec.ch_names,
                                         events=[e for e in rec.events if e.onset < n]), tmp_path / f"{name}.npz")
    res = CliRunner().invoke(main, ["evaluate", str(REPO / "models" / "eegmmidb-s001"), "--data",
                                    str(paths["r06_volts"])], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert ("warning: r06_volts.npz: over the model's channels, the median channel SD 5.21e-05 µV, outside"
            in res.output
            and "(plausible if the values are in V); check the file's units" in res.output), res.output
    res = CliRunner().invoke(main, ["evaluate", str(REPO / "models" / "eegmmidb-s001"), "--data",
                                    str(paths["r06_uv"])], catch_exceptions=False)
    # in µV: no unit warning (the one warning says the file is a piece of a training file of the model, as it is)
    warned = [ln for ln in res.output.splitlines() if ln.startswith("warning:")]
    assert res.exit_code == 0 and warned == [
        "warning: r06_uv.npz holds samples of a training file of the model (card training.files: S001R06.edf; its 20 s "
        "from 0 s lie at 0 s of this file: a cropped copy or an overlapping recording): its figures are in-sample, "
        "not a test"], res.output


def test_a_flat_start_does_not_settle_the_check() -> None:
    """An amplifier that sends zeros before its acquisition starts (or a DC-coupled one blanking its first samples):
    before, the first 2 s (flat: no verdict) ended the check, and the same stream in volts read as µV then decoded
    as noise with no warning at any time. Now a window with no signal is skipped and the next one judged."""
    rng = np.random.default_rng(1)
    volts = rng.normal(0.0, 20.0, (1600, len(NAMES))) * 1e-6  # 10 s at 160 Hz, SD 20 µV, sent in V
    volts[:1000] = 0.0  # 6.25 s of zeros first
    assumed = unit_scale(_info(None), None, NAMES, "microvolts", None)
    check = AmplitudeCheck(assumed, None, 160.0, "amp-check")
    assert _feed(check, volts[:960]) == [] and not check.done  # three flat windows: nothing to judge yet
    warnings = _feed(check, volts[960:])
    assert len(warnings) == 1 and check.done, warnings
    assert warnings[0].startswith("stream 'amp-check' declares no unit and is read as 'microvolts', but over 320 of "
                                  "its samples after its first 960 (flat or not finite: not judged) samples the "
                                  "median channel SD"), warnings[0]
    nan_start = rng.normal(0.0, 20.0, (1600, len(NAMES)))
    nan_start[:400] = np.nan  # no finite data first, then µV: judged plausible, no warning
    check = AmplitudeCheck(assumed, None, 160.0, "amp-check")
    assert _feed(check, nan_start) == [] and check.done and check.skipped == 320
    one_chunk = AmplitudeCheck(assumed, None, 160.0, "amp-check")  # a chunk holding the flat window and the next
    assert one_chunk.feed(volts[640:1600]) is not None and one_chunk.skipped == 320


def test_a_channel_with_no_finite_sample_is_left_out_without_a_numpy_warning():
    """Audit s58live F4: a model channel NaN throughout the check's window printed numpy's "Degrees of freedom <= 0"
    RuntimeWarning on the worker's stderr (np.errstate does not silence it); the value was right."""
    import warnings

    x = np.random.default_rng(2).standard_normal((320, 4)) * 20.0
    x[:, 1] = np.nan
    x[:300, 2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sd = median_channel_sd(x)
    assert abs(sd - 20.0) < 3.0 and np.isnan(median_channel_sd(np.full((10, 2), np.nan)))
