"""`bci-stream inspect` on the layouts the trainer documents: an LSTM behind the power-filter front-end (layer 0
reads F filters, not the channels), an LSTM with per-layer widths (refused with a message that says so), and a
model given as a folder path, as `evaluate` accepts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bci_stream.analysis.introspect import run_inspect  # noqa: E402
from bci_stream.analysis.lstm_gates import LSTM_CHECK_TOL, _percentiles, lstm_forget_time_constants  # noqa: E402
from bci_stream.core.registry import ModelRegistry  # noqa: E402
from support.common import test_signal  # noqa: E402

CH_NAMES = ["FC3", "FC4", "C3", "Cz", "C4", "CP3", "CP4", "Pz"]


def export(root: Path, name: str, **net_options) -> Path:
    """A random-weight LSTM on 8 channels at 500 Hz, exported with the real exporter."""
    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN

    torch.manual_seed(0)
    net = CausalRNN(len(CH_NAMES), 2, cell="lstm", n_layers=2, **net_options)
    export_model(net, root / name, name=name, version="1.0.0", ch_names=CH_NAMES, sfreq=500.0,
                 output_labels=["left", "right"], preprocessing=PreprocessingConfig(bandpass=(1.0, 40.0)),
                 parity_samples=200)
    return root / name


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inspect-layouts")
    export(root, "lstm-power", hidden_size=6, power_filters=3)
    export(root, "lstm-widths", hidden_sizes=[6, 4])
    return root


def test_lstm_with_power_filters_reads_the_filters(models: Path) -> None:
    entry = ModelRegistry(models).get("lstm-power")
    assert entry.card.architecture.model_extra["power_filters"] == 3
    gates = lstm_forget_time_constants(entry, test_signal(400))
    assert gates["check_max_diff"] <= LSTM_CHECK_TOL  # the numpy LSTM on 3 filter powers == onnxruntime
    assert [len(layer["tau_ms"]) for layer in gates["layers"]] == [6, 6]
    json.dumps(gates, allow_nan=False)  # strict JSON: no NaN percentile next to an infinite time constant


def test_percentiles_next_to_infinite_time_constants_are_infinite_not_nan() -> None:
    tau = np.array([0.0, np.inf, np.inf, np.inf, 0.0, 0.0])  # saturated gates: f = 0 and f = 1
    assert _percentiles(tau, (5, 25, 50, 75, 95)).tolist() == [0.0, 0.0, np.inf, np.inf, np.inf]
    np.testing.assert_array_equal(_percentiles(np.array([1.0, 2.0, 3.0]), (5, 50, 95)),
                                  np.percentile([1.0, 2.0, 3.0], (5, 50, 95)))


def test_per_layer_widths_are_refused_saying_so(models: Path) -> None:
    lines: list[str] = []
    assert run_inspect("lstm-widths", models, None, lines.append) == 2
    assert lines == ["error: model 'lstm-widths@1.0.0': inspect does not support layers of different widths "
                     "(architecture.hidden_sizes=[6, 4]); it needs one hidden size for every layer. The model "
                     "itself is fine and runs in the service"]


def test_a_model_folder_path_is_accepted(models: Path, tmp_path: Path) -> None:
    for target in (models / "lstm-power", models / "lstm-power" / "model.json"):
        lines: list[str] = []
        code = run_inspect(str(target), tmp_path / "another-registry", tmp_path / "out", lines.append)
        assert code == 0, lines
        assert (tmp_path / "out" / "report.json").is_file()
    lines = []
    assert run_inspect(str(tmp_path), tmp_path / "another-registry", None, lines.append) == 2
    assert lines == [f"error: {tmp_path} is not a model folder: it has no model.json"]


def test_a_step_graph_that_cannot_step_several_states_at_once_is_refused_with_exit_2(tmp_path: Path,
                                                                                     monkeypatch) -> None:
    """A model whose state is batch first (made before upgrade-model checked a state's axes and probed 2 streams in
    one call; both turned off here to make one): the Jacobian steps many states in one call, which onnxruntime refuses.
    inspect says why, exit 2 (audit s67eng F3: a 45-line traceback, exit 1): the graph's state axes are not its card's
    (audit s70model F1: checked as the model loads)."""
    import bci_stream.engine.step_model as step_model
    import bci_stream.train.export.step_graph as step_graph
    from bci_stream.train.export.upgrade import upgrade_model_dir
    from support.batch_first import batch_first_folder

    with monkeypatch.context() as unchecked:
        unchecked.setattr(step_model, "axes_problem", lambda *a: None)
        unchecked.setattr(step_graph, "batch_problem", lambda *a: None)
        upgrade_model_dir(batch_first_folder(tmp_path))
    said: list[str] = []
    assert run_inspect("batch-first", tmp_path, None, said.append) == 2
    assert len(said) == 1 and said[0].startswith("error: model 'batch-first@0.9': ONNX 'state_out/h0' of "), said
    assert said[0].endswith("; a recurrent state must be [L, B, H], the batch B on its axis 1 (as torch.nn.GRU/LSTM "
                            "take h0 and c0), with B dynamic"), said
