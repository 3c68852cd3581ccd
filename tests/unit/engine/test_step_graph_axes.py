"""A step graph that fixes an axis its card's step varies (the batch axis streams are stacked along, the time axis of a
chunk) or sizes a state otherwise than its card passed every check of the registry, then failed on its first chunk: a
traceback from ``evaluate`` and ``inspect``, a worker crash restarted three times by the service (audit s70model F1).
Now ``bci-stream models``, ``/ready`` and ``POST /decoders`` (its registry check) say why, as loading it does; a
single-sample graph that onnxruntime cannot run is refused at its warm-up (ModelError), never a crash."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort
import pytest
from fastapi import HTTPException

from bci_stream.api.routers.decoders import check_model
from bci_stream.core.card import sha256_file
from bci_stream.core.errors import ModelError
from bci_stream.core.onnx_meta import io_shapes
from bci_stream.core.registry import ModelRegistry, entry_problem
from bci_stream.engine.step_model import StepModel
from support.common import REPO


def _dim(graph, name: str, axis: int, value: int) -> None:
    for arg in (*graph.input, *graph.output):
        if arg.name == name:
            dim = arg.type.tensor_type.shape.dim[axis]
            dim.ClearField("dim_param")
            dim.dim_value = value
            return
    raise AssertionError(f"no {name!r} in the graph")


def graph_copy(models_dir: Path, root: Path, name: str, edit: Callable, file: str = "model.onnx") -> Path:
    """A copy of the exported tiny-gru folder as model ``name`` whose graph ``file`` is edited by ``edit(graph)`` (the
    card's sha256s follow the files, as a user who rebuilt a graph would set them)."""
    import onnx

    dst = root / name
    shutil.copytree(models_dir / "tiny-gru", dst)
    proto = onnx.load(str(dst / file))
    edit(proto.graph)
    onnx.save(proto, str(dst / file))
    card = json.loads((dst / "model.json").read_text())
    card["name"], card["sha256"] = name, sha256_file(dst / "model.onnx")
    card["step"]["single_step"]["sha256"] = sha256_file(dst / card["step"]["single_step"]["file"])
    (dst / "model.json").write_text(json.dumps(card))
    return dst


@pytest.mark.parametrize(("name", "edit", "why"), [
    ("fixed-time", lambda g: _dim(g, "x", 1, 1),
     "ONNX 'x' of {onnx} has shape ['B', 1, 8]; its axis 1 is the time axis, which must be dynamic (a chunk has any "
     "length), not fixed at 1: export it with dynamic axes ([batch, time, 8])"),
    ("fixed-batch", lambda g: _dim(g, "y", 0, 1),
     "ONNX 'y' of {onnx} has shape [1, 'T', 3]; its axis 0 is the batch axis, which must be dynamic (streams are "
     "stacked along it), not fixed at 1: export it with dynamic axes ([batch, time, 3])"),
    ("one-layer", lambda g: _dim(g, "state/h0", 0, 1),  # tiny-gru has 2 layers
     "ONNX 'state/h0' of {onnx} has shape [1, 'B', 16]; its axis 0 is 1, the card says 2 ([2, batch, 16])"),
])
def test_a_graph_whose_axes_are_not_its_cards_is_refused_by_every_check(models_dir, tmp_path, name, edit, why):
    folder = graph_copy(models_dir, tmp_path, name, edit)
    entry = ModelRegistry(tmp_path).get(name)
    expected = f"model '{name}@1.0.0': " + why.format(onnx=folder / "model.onnx")
    assert entry_problem(entry) == expected
    with pytest.raises(ModelError) as exc:
        StepModel(entry.onnx_path, entry.card)
    assert str(exc.value) == expected
    with pytest.raises(HTTPException) as err:
        check_model(ModelRegistry(tmp_path), name)
    assert err.value.status_code == 422 and expected in str(err.value.detail)


def test_a_single_sample_graph_onnxruntime_cannot_run_is_refused_at_its_warm_up(models_dir, tmp_path):
    """The single-sample graph is not the card's contract (its axes are fixed at 1): what onnxruntime refuses in it
    when it runs is the model's fault, a ModelError (a worker's refusal, final), not an onnxruntime exception."""
    import onnx

    card = json.loads((models_dir / "tiny-gru" / "model.json").read_text())
    single = card["step"]["single_step"]["file"]
    folder = graph_copy(models_dir, tmp_path, "odd-single", lambda g: _dim(g, "state/h0/1", 2, 17), file=single)
    proto = onnx.load(str(folder / "model.onnx"))  # its export metadata names the single-sample graph's sha256: gone
    del proto.metadata_props[:]
    onnx.save(proto, str(folder / "model.onnx"))
    card = json.loads((folder / "model.json").read_text())
    card["sha256"] = sha256_file(folder / "model.onnx")
    (folder / "model.json").write_text(json.dumps(card))
    entry = ModelRegistry(tmp_path).get("odd-single")
    model = StepModel(entry.onnx_path, entry.card)
    with pytest.raises(ModelError, match=r"^model 'odd-single@1.0.0': onnxruntime cannot run its step graph on a "
                                         r"warm-up \(zeros in, chunks of 1 and 3 samples\): "):
        model.warm_up()


def test_the_shape_reader_reads_what_onnxruntime_does(models_dir, tmp_path):
    folders = [e.directory for e in ModelRegistry(models_dir).list() + ModelRegistry(REPO / "models").list()]
    folders.append(graph_copy(models_dir, tmp_path, "fixed", lambda g: _dim(g, "x", 1, 1)))
    for folder in folders:
        for path in folder.glob("*.onnx"):
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            want = {a.name: a.shape for a in (*session.get_inputs(), *session.get_outputs())}
            assert io_shapes(path) == want, path
    for entry in ModelRegistry(REPO / "models").list():  # and every bundled model passes
        assert entry_problem(entry) is None, entry.card.ref
