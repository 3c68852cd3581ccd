"""`evaluate --live` with a model calibrated on files of two event conventions (its card maps EDF ``T1``/``T2`` and
BrainVision-style ``Stimulus/S  1``/``Stimulus/S  2``, in ``training.label_map`` and ``scoring.marker_map``, as
``calibrate`` writes them) on a test file that holds one convention: the events the file lacks are dropped with a
note, and neither the result's ``settings.label_map`` nor the marker map the service's live scoring was told (its
status ``scoring``) lists them; the service is told rest cues are no trials, as the card's ``scoring`` says. Real
files: the first 30 s of S001R10 (21-channel subset) as a FIF with its cues renamed ``Stimulus/S  n``; the bundled
GRU (21 channels, rest / fists / feet) with the two-convention card; a real
in-process service decoding a real LSL replay."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support.common import REPO, SUBSET_S001_21CH, subset_file

mne = pytest.importorskip("mne")

GRU = REPO / "models" / "eegmmidb-s001-gru"
R10 = SUBSET_S001_21CH / "S001R10.edf"
MIXED = {"T0": "rest", "T1": "fists", "T2": "feet",  # a card map of two conventions, as calibrate writes it
         "Stimulus/S  3": "rest", "Stimulus/S  1": "fists", "Stimulus/S  2": "feet"}

pytestmark = [pytest.mark.timeout(120)]


def _two_convention_model(models: Path) -> Path:
    dst = models / GRU.name
    shutil.copytree(GRU, dst)
    card = json.loads((dst / "model.json").read_text())
    card["training"]["label_map"] = dict(MIXED)
    card["scoring"]["marker_map"] = {k: (None if v == "rest" else v) for k, v in MIXED.items()}  # rest: no trial
    (dst / "model.json").write_text(json.dumps(card))
    return dst


def _stimulus_fif(tmp_path: Path) -> Path:
    raw = mne.io.read_raw_edf(subset_file(R10), preload=True, verbose="error").crop(0.0, 30.0, include_tmax=False)
    raw.annotations.rename({"T0": "Stimulus/S  3", "T1": "Stimulus/S  1", "T2": "Stimulus/S  2"})
    path = tmp_path / "S001R10_30s_stim_raw.fif"
    raw.save(path, verbose="error")
    return path


def test_the_live_report_and_the_services_marker_map_hold_only_the_events_in_use(tmp_path: Path) -> None:
    from bci_stream.train.evaluate.live import evaluate_live

    model = _two_convention_model(tmp_path / "models")
    res = evaluate_live(str(model), [_stimulus_fif(tmp_path)], None, models_dir=None, speed=16.0,
                        decision_times=(2.0,))
    in_use = {"Stimulus/S  3": "rest", "Stimulus/S  1": "fists", "Stimulus/S  2": "feet"}
    assert res["notes"][0].startswith("the model's label map also names 'T0', 'T1', 'T2', which the test files do "
                                      "not hold"), res["notes"]
    assert res["settings"]["label_map"] == in_use
    scoring = res["files"][0]["service"]["scoring"]
    # the service scores the trial classes only: a rest cue is no trial (as the card's scoring map says)
    assert scoring["marker_map"] == {**in_use, "Stimulus/S  3": None} and scoring["source"] == "options"
    assert scoring["markers_not_trials"] > 0  # the rest cues
    assert scoring["markers_mapped"] == res["files"][0]["n_trials"] > 0  # the file's cues, mapped by that map
    assert scoring["trials"] > 0  # and scored (a cue less than 2 s before the file's end is not decided)
    assert res["checks"]["passed"], res["checks"]
