"""calibrate's input checks on real EEG (tests/data: S001 R05/R06, 21 channels) made bad the ways a lab's files are.

NaN samples are held as the service does (nan_policy hold), said naming file, channels, count and first time, and the
trials they touch left out; ``--channels``
with one channel is refused by rule; one channel far from its run's median SD (a x1000 gain, a flat electrode) is
flagged by name; files whose channels differ are refused the same way whatever their order; and ``train`` holds
NaN in its data as the service does, naming the channels (a NaN a filter made is named non-finite, not flat).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.io import load_recording
from bci_stream.io.npz import save_npz
from bci_stream.io.recording import Recording
from bci_stream.train.classical.calibration_inputs import (
    CalibrationError,
    amplitude_notes,
    channel_sd_notes,
    load_calibration,
)
from bci_stream.train.classical.prepared import Run
from support.common import SUBSET_S001_21CH, subset_file

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"
LABELS = {"T1": "fists", "T2": "feet"}
NAN_CHECK_CHANNELS = ["Fc3", "C3", "Cz", "C4", "Cp3", "Cp4"]  # beside the two NaN channels (Fc1, Fc4)


def _variant(tmp_path: Path, name: str, src: Path = R06, *, edit=None, drop: list[str] | None = None,
             names: list[str] | None = None) -> Path:
    """``src`` rewritten as NPZ: ``edit(data)`` changes the µV data ``[C, T]`` in place, ``drop`` leaves channels
    out, ``names`` renames them."""
    rec = load_recording(subset_file(src))
    keep = [i for i, n in enumerate(rec.ch_names) if n not in (drop or [])]
    data = rec.data[keep].astype(np.float64)
    if edit is not None:
        edit(data)
    out = Recording(data=data, sfreq=rec.sfreq, ch_names=names or [rec.ch_names[i] for i in keep],
                    events=rec.events, source=str(src))
    return save_npz(out, tmp_path / f"{name}.npz")


def _cli(args: list[str]):
    return CliRunner().invoke(main, ["calibrate", "--no-progress", *args], catch_exceptions=False)


def _nan_at_20s(data: np.ndarray) -> None:
    data[[2, 5], 3200:3360] = np.nan  # two channels, 1 s from t = 20 s (160 Hz)


def test_nan_samples_are_held_as_the_service_does_naming_file_channels_count_and_time(tmp_path: Path) -> None:
    bad = _variant(tmp_path, "nan_r06", edit=_nan_at_20s)
    names = load_recording(bad).ch_names
    res = _cli([str(subset_file(R05)), str(bad), "--labels", "T1=fists,T2=feet", "--name", "x",
                "--out", str(tmp_path / "models"), "--no-recurrent", "--no-average", "--no-combined",
                # the two NaN channels among 8 (fewer candidates to fit than with all 21)
                "--channels", ",".join([names[2], names[5], *NAN_CHECK_CHANNELS])])
    assert res.exit_code == 0, res.output
    assert (f"note: nan_r06.npz: 320 non-finite value(s) (NaN/inf) on 2 channel(s) ({names[2]}, {names[5]}) in 1 "
            "stretch(es), the first at t=20.000 s, were replaced by the channel's last finite value (nan_policy "
            "hold, as the service does)") in res.output, res.output
    assert "note: left out 1 trial(s) of nan_r06.npz: 1 overlap non-finite samples + 3.2 s settling" in res.output
    assert "median channel standard deviation" not in res.output  # no detour through the units
    assert "infs or NaNs" not in res.output and "Traceback" not in res.output


def test_channels_with_fewer_than_two_are_refused() -> None:
    res = _cli([str(subset_file(R05)), str(subset_file(R06)), "--labels", "T1=fists,T2=feet", "--name", "x",
                "--channels", "C3"])
    assert res.exit_code == 2, res.output
    assert "error: --channels must name at least 2 channels" in res.output and "got ['C3']" in res.output
    assert "infs or NaNs" not in res.output


def test_amplitude_notes_ignore_non_finite_values() -> None:
    rec = load_recording(subset_file(R05))
    data = np.ascontiguousarray(rec.data.T).astype(np.float64)
    data[3200:3360, :] = np.nan  # every channel, 1 s
    run = Run(data=data, sfreq=rec.sfreq, ch_names=list(rec.ch_names), trials=None, source="r05")
    assert amplitude_notes([run]) == []  # the finite samples are scalp EEG in µV
    run.data = data * 1e-6  # volts read as µV
    notes = amplitude_notes([run])
    assert len(notes) == 1 and "check the file's units" in notes[0] and "nan" not in notes[0], notes


def test_a_channel_far_from_the_runs_median_sd_is_named(tmp_path: Path) -> None:
    def damage(data: np.ndarray) -> None:
        data[10] *= 1000.0  # a x1000 gain on one channel
        data[4] = 0.0  # a flat electrode

    bad = _variant(tmp_path, "gain_r06", edit=damage)
    names = load_recording(bad).ch_names
    prep = load_calibration([subset_file(R05), bad], LABELS)
    flagged = [n for n in prep.notes if n.startswith("warning") and "far from the run's median channel SD" in n]
    assert len(flagged) == 1, prep.notes
    assert "gain_r06.npz" in flagged[0] and f"{names[10]} (SD " in flagged[0] and "x the median" in flagged[0], flagged
    assert f"{names[4]} (flat: SD 0)" in flagged[0] and "--channels" in flagged[0]
    # the real runs as recorded: nothing flagged
    assert channel_sd_notes(load_calibration([subset_file(R05), subset_file(R06)], LABELS).runs) == []


@pytest.mark.parametrize("lacking_first", [False, True])
def test_channels_that_differ_are_refused_in_either_order(tmp_path: Path, lacking_first: bool) -> None:
    full = subset_file(R05)
    lacking = _variant(tmp_path, "no_c3", drop=["C3.."])
    paths = [lacking, full] if lacking_first else [full, lacking]
    with pytest.raises(CalibrationError) as err:
        load_calibration(paths, LABELS)
    msg = str(err.value)
    assert "channels differ between the files (21 EEG channels over all files): channels missing in " in msg
    assert "no_c3.npz: ['C3..'] (1 of 21); pass --channels with a set every file has" in msg
    # with --channels, a set both have is used in either order
    assert load_calibration(paths, LABELS, channels=["C4", "Cz", "C2"]).ch_names == ["C4..", "Cz..", "C2.."]


def test_each_file_is_told_what_it_lacks_and_numbered_channels_get_the_hint(tmp_path: Path) -> None:
    a = _variant(tmp_path, "no_c3", drop=["C3.."])
    b = _variant(tmp_path, "no_c4", drop=["C4.."])
    with pytest.raises(CalibrationError) as err:
        load_calibration([a, b], LABELS)
    assert "no_c3.npz: ['C3..']" in str(err.value) and "no_c4.npz: ['C4..']" in str(err.value)
    numbered = _variant(tmp_path, "numbered", names=[str(i + 1) for i in range(21)])
    with pytest.raises(CalibrationError, match=r"numbered.npz's channels are only numbered \(1, 2, 3 \.\.\.\): "
                                               r"name them with --channel-names"):
        load_calibration([subset_file(R05), numbered], LABELS)


def test_train_holds_nan_as_the_service_naming_channels_and_a_filter_s_nan_as_non_finite_not_flat(
        tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from bci_stream.train.config import ConfigError, load_config
    from bci_stream.train.dataset import _fit_preprocessing, prepare_dataset
    from support.train_data import tiny_config_text

    bad = _variant(tmp_path, "nan_r05", R05, edit=_nan_at_20s)
    names = load_recording(bad).ch_names
    text = tiny_config_text(tmp_path / "out").replace('train = ["S001R06.edf", "S001R05.edf"]',
                                                      f'train = ["S001R06.edf", "{bad}"]')
    (tmp_path / "run.toml").write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path / "run.toml")
    notes = prepare_dataset(cfg).info["notes"]
    # data.channels picks 8 of the 21 channels: of the two with NaNs only Fc4 is used, and named
    assert names[5] == "Fc4." and names[2] == "Fc1."
    said = [n for n in notes if n.startswith("nan_r05.npz: 160 non-finite value(s) (NaN/inf) on 1 channel(s) (Fc4.) "
                                            "in 1 stretch(es), the first at t=20.000 s, were replaced by the channel's "
                                            "last finite value (nan_policy hold, as the service does)")]
    assert said and "flat" not in said[0] and "Fc1." not in said[0], notes
    # after filtering: a non-finite SD is named as such, by channel name
    x = np.random.default_rng(0).standard_normal((1600, 3)).astype(np.float32)
    x[800:, 1] = np.nan
    with pytest.raises(ConfigError, match=r"channels \['C3', 'Cz', 'C4'\] hold non-finite values in the training "
                                          r"data after filtering and CAR \(NaN or inf\)"):  # CAR spreads one NaN
        _fit_preprocessing(cfg, [(x, 1600, np.zeros(1600, dtype=bool))], ["C3", "Cz", "C4"], 160.0)
    # one channel with CAR (the config's default): a ConfigError naming the key, not a traceback (audit s69dsp F3)
    with pytest.raises(ConfigError, match=r"preprocessing.car must be false for 1 channel: a common average "
                                          r"reference of one channel is zero \(1 channel\(s\) \['Cz'\] at 160 Hz\)"):
        _fit_preprocessing(cfg, [(x[:, 1:2], 1600, np.zeros(1600, dtype=bool))], ["Cz"], 160.0)


def _reordered(tmp_path: Path, src: Path) -> Path:
    """``src`` as NPZ with its channels in reverse order (as a re-export may write them)."""
    rec = load_recording(subset_file(src))
    out = Recording(data=rec.data[::-1].astype(np.float64), sfreq=rec.sfreq, ch_names=rec.ch_names[::-1],
                    events=rec.events, source=str(src))
    return save_npz(out, tmp_path / "r05_reordered.npz")


@pytest.mark.parametrize("how", ["twice", "copy", "reordered", "one_fewer"])
def test_a_run_given_twice_or_as_a_copy_in_another_format_is_refused(tmp_path: Path, how: str) -> None:
    """Leave-one-run-out over a file and itself tested each fold on the data it was fitted on (CV 1.000, exit 0).
    A copy with its channels in another order, or one fewer, was taken for another run (compared by position)."""
    first = subset_file(R05)
    second = {"twice": lambda: first, "copy": lambda: _variant(tmp_path, "r05_copy", R05),  # NPZ, same µV samples
              "reordered": lambda: _reordered(tmp_path, R05),
              "one_fewer": lambda: _variant(tmp_path, "r05_fewer", R05, drop=["Cz.."])}[how]()
    picked = ["--channels", "C3,C4,Fc3,Fc4,Cp3,Cp4"] if how == "one_fewer" else []  # channels every file has
    res = _cli([str(first), str(subset_file(R06)), str(second), "--labels", "T1=fists,T2=feet", "--name", "dup",
                "--out", str(tmp_path / "models"), *picked])
    assert res.exit_code == 2, res.output
    assert (f"error: {load_recording(second).source} holds the same samples as {load_recording(first).source} "
            "(the same file given twice, or a copy of it: 20000 samples at 160 Hz): every calibration "
            "file must be a different run") in res.output
    assert not (tmp_path / "models" / "dup").exists()


def test_cues_too_close_to_a_files_end_are_left_out_with_a_note(tmp_path: Path) -> None:
    """A cue less than 3 s (the latest decision time) before the end has no trial; the counts said nothing of it."""
    rec = load_recording(subset_file(R06))
    cue = [e for e in rec.events if e.description in LABELS][4]
    end = cue.onset + int(rec.sfreq)  # 1 s of data after the fifth cue
    cut = Recording(data=rec.data[:, :end], sfreq=rec.sfreq, ch_names=rec.ch_names,
                    events=[e for e in rec.events if e.onset < end], source="cut")
    prep = load_calibration([subset_file(R05), save_npz(cut, tmp_path / "cut.npz")], LABELS)
    assert "cut.npz: 1 cue(s) less than 3 s before the file's end left out (a trial is scored up to 3 s after its " \
           "cue)" in prep.notes, prep.notes
    assert len(prep.runs[1].trials) == 4
