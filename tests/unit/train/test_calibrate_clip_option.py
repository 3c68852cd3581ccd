"""``bci-stream calibrate --clip-sd X|off``: the component clip of every candidate, said in the card and report.

On the repository's real subset (tests/data: S001 R05 and R06, 21 channels; the calibrations on their 8 central
channels, rewritten as NPZ: every channel is still sensorimotor, so the same 8 candidates at a third of the fit), as
a user types it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from support.common import SUBSET_S001_21CH, subset_file
from support.marked import FAST_CHANNELS

pytest.importorskip("sklearn", reason="calibrate fits with scikit-learn (train extra)")

RUNS = [SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"]


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """R05 and R06 on :data:`support.marked.FAST_CHANNELS` alone, as NPZ files (events and rate kept)."""
    from bci_stream.io import load_recording, pick_channels, save_npz
    from bci_stream.io.recording import Recording

    out = tmp_path_factory.mktemp("central")
    paths = []
    for run in RUNS:
        rec = load_recording(subset_file(run))
        data, names = pick_channels(rec.data, rec.ch_names, FAST_CHANNELS, source=str(run))
        paths.append(save_npz(Recording(data=data, sfreq=rec.sfreq, ch_names=list(names), events=rec.events,
                                        source=str(run)), out / f"{run.stem}.npz"))
    return paths


def _calibrate(out: Path, *extra: str, runs: list[Path] = RUNS):
    files = [str(subset_file(r)) for r in runs]
    return CliRunner().invoke(main, ["calibrate", "--no-progress", *files, "--labels", "T1=fists,T2=feet",
                                     "--name", "m", "--out", str(out), "--no-recurrent", *extra],
                              catch_exceptions=False)


@pytest.mark.parametrize("option, expected", [("4", 4.0), ("off", None)])
def test_every_member_has_the_clip_asked_for(central: list[Path], tmp_path: Path, option: str,
                                            expected: float | None) -> None:
    res = _calibrate(tmp_path, "--clip-sd", option, runs=central)
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    members = card["architecture"]["members"]
    assert len(members) == 8 and [m.get("clip_sd") for m in members] == [expected] * 8
    report = json.loads((tmp_path / "m" / "report" / "report.json").read_text())
    labels = json.dumps(report)
    assert ("clip=4" in labels) == (expected is not None)


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "eight"])
def test_a_clip_that_is_not_a_positive_number_or_off_is_refused(tmp_path: Path, bad: str) -> None:
    res = _calibrate(tmp_path, "--clip-sd", bad)
    assert res.exit_code == 2
    assert (f"error: --clip-sd must be a number > 0 (times each component's calibration RMS) or 'off', got {bad!r}"
            in res.output), res.output
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), "8"])
def test_the_python_call_refuses_a_bad_clip_before_loading_anything(tmp_path: Path, bad) -> None:
    from bci_stream.train.classical.calibration import calibrate
    from bci_stream.train.classical.calibration_inputs import CalibrationError

    with pytest.raises(CalibrationError, match=r"--clip-sd must be a number > 0 .* or 'off', got"):
        calibrate([tmp_path / "missing.edf"], {"T1": "fists", "T2": "feet"}, "m", tmp_path, clip_sd=bad)
