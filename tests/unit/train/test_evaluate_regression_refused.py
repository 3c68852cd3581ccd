"""``evaluate`` of a model whose outputs are no class probabilities (a gaussian head: e.g. cursor velocities) is
refused before any file is read, offline and with ``--live``, in evaluate's words (exit 2). Before (audit s61train
F9), offline scored the values as classes with no word, and ``--live`` started the service and then printed the HTTP
API's raw 422 JSON. Real files: a model exported by the real exporter, a real EEGMMIDB subset file."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from bci_stream.cli import main  # noqa: E402
from support.common import TEST_DATA, TINY_CH_NAMES  # noqa: E402

EDF = str(TEST_DATA / "eegmmidb" / "S001" / "S001R06.edf")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    import torch

    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN

    root = tmp_path_factory.mktemp("regression-models")
    torch.manual_seed(0)
    net = CausalRNN(len(TINY_CH_NAMES), 2, hidden_size=8, n_layers=1, cell="gru", head="gaussian")
    export_model(net, root / "velocity", name="velocity", version="1.0.0", ch_names=list(TINY_CH_NAMES), sfreq=160.0,
                 output_labels=["vx", "vy"], preprocessing=PreprocessingConfig(bandpass=(1.0, 40.0)),
                 training={"data": "random weights"})
    return root


@pytest.mark.parametrize("live", [False, True])
def test_a_regression_model_is_refused_before_any_work(registry, live):
    res = CliRunner().invoke(main, ["evaluate", "velocity", "--models-dir", str(registry), "--data", EDF,
                                    "--labels", "T1=vx,T2=vy"] + (["--live"] if live else []))
    assert res.exit_code == 2, res.output
    assert ("model 'velocity@1.0.0': evaluate scores class decoders (output.kind 'categorical': class probabilities), "
            "and its outputs ['vx', 'vy'] are 'gaussian' values") in res.output, res.output
    assert "POST /decoders" not in res.output and "Uvicorn" not in res.output, res.output
