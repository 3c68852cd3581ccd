"""`bci-stream upgrade-model`: a format-1 folder (bare network graph) becomes a step graph, checked by parity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from bci_stream.engine.step_model import StepModel
from bci_stream.train.export.onnx_export import _export_graph
from bci_stream.core.card import sha256_file
from bci_stream.core.registry import ModelRegistry
from bci_stream.train.nets.rnn import CausalRNN
from bci_stream.dsp.preprocess import PreprocessingConfig, Preprocessor


def format1_folder(root: Path, cell: str) -> tuple[Path, CausalRNN, PreprocessingConfig]:
    torch.manual_seed(1)
    net = CausalRNN(4, 2, hidden_size=8, n_layers=2, cell=cell).eval()
    pre = PreprocessingConfig(bandpass=(1.0, 30.0), car=True, mean=[0.0] * 4, std=[5.0, 6.0, 7.0, 8.0])
    d = root / f"old-{cell}"
    d.mkdir()
    _export_graph(net, d / "model.onnx")
    state = ["h0", "c0"] if cell == "lstm" else ["h0"]
    card = {"format_version": 1, "name": f"old-{cell}", "version": "0.9", "sha256": sha256_file(d / "model.onnx"),
            "created": "2026-01-01T00:00:00+00:00", "architecture": {"cell": cell, "n_layers": 2, "hidden_size": 8},
            "n_chans": 4, "ch_names": ["C3", "Cz", "C4", "Pz"], "sfreq": 100.0, "preprocessing": pre.model_dump(),
            "output": {"kind": "categorical", "labels": ["a", "b"]}, "inputs": ["x", *state],
            "outputs": ["y", *[s.replace("0", "n") for s in state]]}
    (d / "model.json").write_text(json.dumps(card))
    return d, net, pre


def test_upgrade_model_writes_a_step_graph_equal_to_the_old_pipeline(tmp_path):
    for cell in ("gru", "lstm"):
        d, net, pre = format1_folder(tmp_path, cell)
        proc = subprocess.run([str(Path(sys.executable).parent / "bci-stream"), "upgrade-model", str(d)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert f"old-{cell}@0.9 is now a step graph" in proc.stdout
        entry = ModelRegistry(tmp_path).get(f"old-{cell}")
        assert entry.card.format_version == 2 and entry.card.parity.max_abs_diff <= 1e-4
        assert (d / entry.card.step.single_step.file).is_file()  # the single-sample specialisation
        model = StepModel(entry.onnx_path, entry.card)
        x = np.random.default_rng(0).normal(0, 10, (300, 4)).astype(np.float32)
        y = np.concatenate([model.run(x[i:i + 1], st) for st in [model.new_state()] for i in range(300)])
        with torch.no_grad():
            z = Preprocessor(pre, 4, 100.0).process(x.astype(np.float64))
            ref = net(torch.from_numpy(z)[None])[0][0].numpy()
        np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5)
        again = subprocess.run([str(Path(sys.executable).parent / "bci-stream"), "upgrade-model", str(d)],
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr  # a folder already upgraded: a no-op, said on stdout
        assert f"model folder {d} is already card format 2 (a step graph); nothing to do" in again.stdout


def test_a_step_graph_folder_that_cannot_be_loaded_is_not_said_to_be_fine(tmp_path):
    """A format-2 folder has nothing to upgrade; one no decoder can load (an invalid card, a graph that is not the
    card's) is said so, exit 1, as `bci-stream models` says it. Before (audit s66cli F10): "already card format 2
    ...; nothing to do", exit 0, to a user checking the folder with upgrade-model."""
    import shutil

    from support.common import REPO

    cli = str(Path(sys.executable).parent / "bci-stream")
    bad_card, bad_graph, good = (tmp_path / n for n in ("bad-card", "bad-graph", "good"))
    for d in (bad_card, bad_graph, good):
        shutil.copytree(REPO / "models" / "sim-mi-gru", d)
    card = json.loads((bad_card / "model.json").read_text())
    (bad_card / "model.json").write_text(json.dumps({**card, "sfreq": "fast"}))
    (bad_graph / "model.onnx").write_bytes(b"garbage")
    for d, said in ((bad_card, "model card"), (bad_graph, "sha256")):
        proc = subprocess.run([cli, "upgrade-model", str(d)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "nothing to do" not in proc.stdout and said in proc.stderr, proc.stderr
    proc = subprocess.run([cli, "upgrade-model", str(good)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "nothing to do" in proc.stdout, proc.stdout + proc.stderr
