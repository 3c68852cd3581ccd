"""``evaluate NAME`` of a model that is not in the default registry says how to name another registry.

A lab runs ``calibrate run1.xdf ... --name s01 --out DIR`` and then ``evaluate s01 --data run4.xdf`` (the README's
order): before, the answer was only "model 's01' not found in <the checkout's models>" (available: ...), no word of
``--models-dir``. Now it names ``--models-dir DIR`` and the model folder as MODEL, offline and with ``--live``; a
``--models-dir`` given by the user keeps the plain message.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from support.common import TEST_DATA

EDF = str(TEST_DATA / "eegmmidb" / "S001" / "S001R06.edf")
HINT = "give --models-dir DIR, or the model's folder DIR/NAME as MODEL"


@pytest.mark.parametrize("live", [False, True])
def test_a_model_not_in_the_default_registry_names_models_dir(tmp_path, monkeypatch, live):
    monkeypatch.setenv("BCI_STREAM_MODELS_DIR", str(tmp_path / "registry"))
    (tmp_path / "registry").mkdir()
    res = CliRunner().invoke(main, ["evaluate", "s01lab", "--data", EDF, "--labels", "T1=fists,T2=feet"]
                             + (["--live"] if live else []))
    assert res.exit_code == 2, res.output
    assert "model 's01lab' not found in" in res.output and HINT in res.output, res.output


def test_a_models_dir_given_keeps_the_plain_message(tmp_path):
    res = CliRunner().invoke(main, ["evaluate", "s01lab", "--data", EDF, "--labels", "T1=fists,T2=feet",
                                    "--models-dir", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "model 's01lab' not found in" in res.output and HINT not in res.output, res.output


@pytest.mark.parametrize("live", [False, True])
def test_a_models_onnx_file_as_model_names_its_folder(live):
    """Audit s58readme F3: ``evaluate models/NAME/model.onnx`` (the file that is "the model") was read as a torch
    checkpoint and answered with torch's unpickling dump. Now one line naming the folder to give."""
    from support.common import REPO

    onnx = REPO / "models" / "eegmmidb-s001" / "model.onnx"
    res = CliRunner().invoke(main, ["evaluate", str(onnx), "--data", EDF, "--labels", "T1=fists,T2=feet"]
                             + (["--live"] if live else []))
    assert res.exit_code == 2, res.output
    assert (f"MODEL {onnx} is an ONNX file: give its model folder ({onnx.parent}, the one holding model.json)"
            in res.output and "Weights only" not in res.output), res.output
