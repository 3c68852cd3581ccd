"""Channels that are one name after normalising, in one recording (audit s52cal, finding 7): EEGMMIDB's ``C3..``
beside a ``C3`` (or ``c3``) added by another amplifier or an export. Without ``--channels`` calibrate used both as
two inputs, though the service finds a model's channels in a stream by the normalised name (a stream with one of them
would feed it to both). Now it is refused, naming the file, both channels, the shared name and the rule; with
``--channels`` naming one exactly it is used, as before. Real EEG: S001 R05 and R06 of the
repository's 21-channel subset, each with one more channel ``c3`` (a copy of ``Cz..``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bci_stream.train.classical.calibration_inputs import CalibrationError, load_calibration
from support.common import SUBSET_S001_21CH, subset_file

mne = pytest.importorskip("mne")

LABELS = {"T1": "fists", "T2": "feet"}


def _with_twin(tmp_path: Path, run: str) -> str:
    raw = mne.io.read_raw_edf(subset_file(SUBSET_S001_21CH / run), preload=True, verbose="error")
    extra = raw.copy().pick(["Cz.."]).rename_channels({"Cz..": "c3"})
    raw.add_channels([extra], force_update_info=True)
    raw.save(path := tmp_path / f"{run[:-4]}_twin_raw.fif", verbose="error")
    return str(path)


def test_two_channels_of_one_normalised_name_are_refused_without_channels(tmp_path: Path) -> None:
    paths = [_with_twin(tmp_path, run) for run in ("S001R05.edf", "S001R06.edf")]
    with pytest.raises(CalibrationError) as err:
        load_calibration(paths, LABELS)
    assert str(err.value) == (
        f"channels of {paths[0]} must be distinct after normalising names (case, dots, blanks, an EEG prefix and a "
        "reference suffix are ignored, as the service matches a stream's channels); 1 name(s) are shared: 'C3..' and "
        "'c3' (both 'C3'); pass --channels to choose one of each, or rename them with --channel-names")
    prep = load_calibration(paths, LABELS, channels=["C3..", "Cz", "C4"])  # chosen by its exact name: used
    assert prep.ch_names == ["C3..", "Cz..", "C4.."], prep.ch_names
