"""`bci-stream upgrade-model` refuses, in one line and writing nothing, a folder that is no model folder, an
unreadable or invalid card, and a format-1 folder whose ONNX file is not the one its card's sha256 pins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.core.card import sha256_file
from bci_stream.core.errors import ModelError
from bci_stream.dsp.preprocess import PreprocessingConfig
from bci_stream.train.export.onnx_export import _export_graph
from bci_stream.train.export.upgrade import upgrade_model_dir
from bci_stream.train.nets.rnn import CausalRNN


def format1_folder(root: Path, name: str, seed: int = 1) -> Path:
    """A card-format-1 folder (a bare GRU graph, as exports before the step graph), real weights of seed ``seed``."""
    torch.manual_seed(seed)
    net = CausalRNN(4, 2, hidden_size=8, n_layers=2, cell="gru").eval()
    pre = PreprocessingConfig(bandpass=(1.0, 30.0), car=True, mean=[0.0] * 4, std=[5.0, 6.0, 7.0, 8.0])
    d = root / name
    d.mkdir()
    _export_graph(net, d / "model.onnx")
    card = {"format_version": 1, "name": name, "version": "0.9", "sha256": sha256_file(d / "model.onnx"),
            "created": "2026-01-01T00:00:00+00:00", "architecture": {"cell": "gru", "n_layers": 2, "hidden_size": 8},
            "n_chans": 4, "ch_names": ["C3", "Cz", "C4", "Pz"], "sfreq": 100.0, "preprocessing": pre.model_dump(),
            "output": {"kind": "categorical", "labels": ["a", "b"]}, "inputs": ["x", "h0"], "outputs": ["y", "hn"]}
    (d / "model.json").write_text(json.dumps(card))
    return d


def snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_a_foreign_graph_under_a_format1_card_is_refused_before_upgrading(tmp_path: Path) -> None:
    d = format1_folder(tmp_path, "old")
    other = format1_folder(tmp_path, "other", seed=2)
    (d / "model.onnx").write_bytes((other / "model.onnx").read_bytes())  # another net's graph, card sha kept
    card_sha = json.loads((d / "model.json").read_text())["sha256"]
    before = snapshot(d)
    with pytest.raises(ModelError) as err:
        upgrade_model_dir(d)
    assert str(err.value) == (f"model 'old@0.9': sha256 of {d / 'model.onnx'} is {sha256_file(d / 'model.onnx')}, "
                              f"but its card {d / 'model.json'} says {card_sha}; the file was changed or corrupted "
                              f"after export, nothing was upgraded")
    assert snapshot(d) == before  # nothing written
    res = CliRunner().invoke(main, ["upgrade-model", str(d)])
    assert res.exit_code == 1 and "sha256 of" in res.output and "Traceback" not in res.output


def test_a_missing_onnx_file_is_refused(tmp_path: Path) -> None:
    d = format1_folder(tmp_path, "old")
    (d / "model.onnx").unlink()
    with pytest.raises(ModelError, match=rf"^model 'old@0.9': ONNX file {d / 'model.onnx'} does not exist$"):
        upgrade_model_dir(d)


@pytest.mark.parametrize("case", ["no card", "not json", "invalid card", "json list"])
def test_a_folder_without_a_valid_card_gives_one_line_and_exit_1(tmp_path: Path, case: str) -> None:
    d = tmp_path / "m"
    d.mkdir()
    if case == "not json":
        (d / "model.json").write_text("{ not json")
    elif case == "invalid card":  # a format-1 card without its sha256 and with a negative rate
        card = json.loads((format1_folder(tmp_path, "src") / "model.json").read_text())
        del card["sha256"]
        card["sfreq"] = -1
        (d / "model.json").write_text(json.dumps(card))
    elif case == "json list":
        (d / "model.json").write_text("[]")
    expected = {"no card": f"{d} is not a model folder: it has no model.json",
                "not json": f"model card {d / 'model.json'} is not readable JSON: ",
                "invalid card": f"model card {d / 'model.json'} is invalid: sha256: Field required; sfreq: Input "
                                f"should be greater than 0",
                "json list": f"model card {d / 'model.json'} is invalid: <root>: "}[case]
    with pytest.raises(ModelError) as err:
        upgrade_model_dir(d)
    assert str(err.value).startswith(expected)
    res = CliRunner().invoke(main, ["upgrade-model", str(d)])
    assert res.exit_code == 1, res.output
    assert res.output.startswith(f"{d}: {expected}") and len(res.output.strip().splitlines()) == 1
    assert res.exception is None or isinstance(res.exception, SystemExit)
