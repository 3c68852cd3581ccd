"""A card edited after export (channels, labels, rate, unit, output kind, preprocessing, step I/O) disagrees with the
metadata_props its ONNX graph was stamped with: the service and the offline path refuse it, naming the field and both
values. Graphs
without that metadata (older exports) still load, and so does every bundled model."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import HTTPException

from bci_stream.api.routers.decoders import check_model
from bci_stream.core.card import graph_metadata_disagreements, sha256_file
from bci_stream.core.errors import ModelError
from bci_stream.core.registry import ModelRegistry
from bci_stream.engine.offline import decode_offline
from bci_stream.engine.step_model import StepModel
from support.common import REPO, test_signal


def edited_copy(models_dir: Path, root: Path, name: str, edit: Callable[[dict], None]) -> Path:
    """A copy of the exported tiny-gru folder as model ``name`` whose card (only) is edited by ``edit``."""
    dst = root / name
    shutil.copytree(models_dir / "tiny-gru", dst)
    card = json.loads((dst / "model.json").read_text())
    card["name"] = name  # a renamed copy is fine: name and version are not behaviour
    edit(card)
    (dst / "model.json").write_text(json.dumps(card))
    return dst


def _reverse_channels(card: dict) -> None:
    card["ch_names"] = card["ch_names"][::-1]


def _rename_channel(card: dict) -> None:
    card["ch_names"][2] = "C5"


def _swap_labels(card: dict) -> None:
    card["output"]["labels"] = ["rest", "right", "left"]


def _rate(card: dict) -> None:
    card["sfreq"] = 250.0


def _kind(card: dict) -> None:
    card["output"]["kind"] = "gaussian"


def _band(card: dict) -> None:
    card["preprocessing"]["bandpass"] = [8.0, 30.0]


def _unit(card: dict) -> None:  # found by an exploratory run: decoded the stream 1e6 times too small, unrefused
    card["unit"] = "volts"


def _filter_init(card: dict) -> None:
    zf = next(s for s in card["step"]["states"] if s["name"] == "zf")
    zf["init_value"][0] += 1.0


EDITS = {  # edit -> what the refusal must say (the field, the card's value, the graph's value)
    "reversed": (_reverse_channels, ["ch_names is ['Pz', 'CP4', 'CP3'", "in the graph",
                                     "the same entries in another order; first difference at position 0: card 'Pz', "
                                     "graph 'FC3'"]),
    "renamed": (_rename_channel, ["ch_names is", "first difference at position 2: card 'C5', graph 'C3'"]),
    "labels": (_swap_labels, ["output.labels is ['rest', 'right', 'left'] on the card but ['rest', 'left', 'right'] "
                              "in the graph"]),
    "rate": (_rate, ["sfreq is 250 Hz on the card but 500 Hz in the graph"]),
    "kind": (_kind, ["output.kind is 'gaussian' on the card but 'categorical' in the graph"]),
    "filter": (_filter_init, ["step.states[0].init_value[0] is 1.0", "on the card but 0.0"]),
    "band": (_band, ["preprocessing.bandpass[0] is 8.0 on the card but 1.0 in the graph"]),
    "unit": (_unit, ["unit is 'volts' on the card but 'microvolts' in the graph (the stream would be read in the "
                     "wrong unit)"]),
}


@pytest.fixture(scope="module")
def edited(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("edited-cards")
    for name, (edit, _) in EDITS.items():
        edited_copy(models_dir, root, name, edit)
    return root


@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edited_card_is_refused_by_the_runtime_naming_field_and_values(edited: Path, name: str) -> None:
    entry = ModelRegistry(edited).get(name)  # the sha256 still matches: only the card was edited
    with pytest.raises(ModelError) as err:
        StepModel(entry.onnx_path, entry.card)
    msg = str(err.value)
    assert msg.startswith(f"model '{name}@1.0.0': its card disagrees with the graph {entry.onnx_path} "
                          f"(the metadata_props written at export): ")
    for part in EDITS[name][1]:
        assert part in msg
    with pytest.raises(ModelError, match="its card disagrees with the graph"):  # the offline (evaluate) path
        decode_offline(entry, test_signal(10))


def test_post_decoders_refuses_an_edited_card_with_422(edited: Path) -> None:
    with pytest.raises(HTTPException) as err:
        check_model(ModelRegistry(edited), "reversed")
    assert err.value.status_code == 422
    (detail,) = err.value.detail
    assert detail["loc"] == ["body", "model"] and "ch_names is ['Pz'" in detail["msg"]


def test_a_graph_without_metadata_still_loads(models_dir: Path, tmp_path: Path) -> None:
    import onnx

    dst = tmp_path / "tiny-gru"
    shutil.copytree(models_dir / "tiny-gru", dst)
    proto = onnx.load(str(dst / "model.onnx"))
    del proto.metadata_props[:]  # as an export older than the metadata stamp
    onnx.save(proto, str(dst / "model.onnx"))
    card = json.loads((dst / "model.json").read_text())
    card["sha256"] = sha256_file(dst / "model.onnx")
    card["ch_names"] = card["ch_names"][::-1]  # nothing to compare against: accepted as before
    (dst / "model.json").write_text(json.dumps(card))
    entry = ModelRegistry(tmp_path).get("tiny-gru")
    StepModel(entry.onnx_path, entry.card).warm_up()


def test_the_exported_and_the_bundled_models_agree_with_their_graphs(models_dir: Path) -> None:
    import onnxruntime as ort

    bundled = ModelRegistry(REPO / "models").list()
    assert len(bundled) >= 3
    for entry in ModelRegistry(models_dir).list() + bundled:
        meta = ort.InferenceSession(str(entry.onnx_path), providers=["CPUExecutionProvider"]) \
            .get_modelmeta().custom_metadata_map
        assert {"ch_names", "output_labels", "sfreq", "bci_stream.step"} <= set(meta), entry.card.ref
        assert graph_metadata_disagreements(entry.card, meta) == [], entry.card.ref
        StepModel(entry.onnx_path, entry.card)  # loads


def test_unreadable_metadata_is_named() -> None:
    card = ModelRegistry(REPO / "models").get("eegmmidb-s001-gru").card
    assert graph_metadata_disagreements(card, {"ch_names": "[not json"})[0].startswith(
        "the graph's metadata_props 'ch_names' is unreadable")
    assert graph_metadata_disagreements(card, {"ch_names": json.dumps(card.ch_names), "n_chans": "21"}) == []


@pytest.mark.parametrize(("arch", "said"), [
    ({"cell": "lstm"}, "cell 'lstm'"),
    ({"hidden_size": 64}, "hidden_size 64"),
    ({"n_layers": 3}, "n_layers 3"),
])
def test_a_card_whose_architecture_is_not_its_step_graphs_is_refused(models_dir: Path, tmp_path: Path, arch: dict,
                                                                     said: str) -> None:
    """The card's architecture is what /models, the status and inspect report; the step graph's recurrent states are
    what runs. An edited architecture (another cell, size or depth) was served under the card's description; only
    ``inspect`` noticed. Now the runtime and POST /decoders refuse it, naming both."""
    edited_copy(models_dir, tmp_path, "arch", lambda card: card["architecture"].update(arch))
    entry = ModelRegistry(tmp_path).get("arch")
    with pytest.raises(ModelError) as err:
        StepModel(entry.onnx_path, entry.card)
    msg = str(err.value)
    assert msg.startswith("model 'arch@1.0.0': the card's architecture (") and said in msg, msg
    assert "disagrees with its step graph's recurrent states {'h0': [2, 1, 16]}" in msg, msg
    with pytest.raises(HTTPException) as http:
        check_model(ModelRegistry(tmp_path), "arch")
    assert http.value.status_code == 422 and said in str(http.value.detail), http.value.detail


@pytest.mark.parametrize("name", sorted(EDITS))
def test_models_and_ready_say_an_edited_card_cannot_load(edited: Path, name: str) -> None:
    """``bci-stream models`` and ``GET /ready`` listed such models as healthy (``/ready`` 200 with every model
    refused at ``POST /decoders``: audit s46 of reproducibility): their check now reads the graph's metadata_props
    (without onnxruntime: :mod:`bci_stream.core.onnx_meta`) and says what loading would."""
    from bci_stream.api.startup_log import usable_models
    from bci_stream.core.registry import entry_problem

    registry = ModelRegistry(edited)
    entry = registry.get(name)
    why = entry_problem(entry)
    assert why is not None and why.startswith(f"model '{name}@1.0.0': its card disagrees with the graph "
                                              f"{entry.onnx_path} (the metadata_props written at export): "), why
    for part in EDITS[name][1]:
        assert part in why
    usable, problems, _ = usable_models(registry)
    assert usable == [] and len(problems) == len(EDITS)


def test_the_metadata_reader_reads_what_onnx_does(models_dir: Path, tmp_path: Path) -> None:
    import onnx

    from bci_stream.core.onnx_meta import OnnxFormatError, metadata_props

    for entry in ModelRegistry(models_dir).list() + ModelRegistry(REPO / "models").list():
        proto = onnx.load(str(entry.onnx_path), load_external_data=False)
        assert metadata_props(entry.onnx_path) == {p.key: p.value for p in proto.metadata_props}, entry.card.ref
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x0a\xff\xff\xff\xff\x0fnot a model")
    with pytest.raises(OnnxFormatError, match="runs past the end"):
        metadata_props(bad)


def test_a_model_with_external_weights_is_refused_everywhere(models_dir: Path, tmp_path: Path) -> None:
    """A graph that keeps tensors in another file (``weights.bin``, ONNX's external data): the card's sha256 covers
    ``model.onnx`` only, so 64 changed bytes of the weights went unseen by ``/ready`` and loaded; and a decoder's
    pinned copy lacked the file and failed after a 201 (audit s46, security review). Refused by the registry's check,
    the runtime and POST /decoders, naming the file."""
    import onnx

    from bci_stream.core.registry import entry_problem
    from bci_stream.core.onnx_meta import external_data

    dst = tmp_path / "ext"
    shutil.copytree(models_dir / "tiny-gru", dst)
    onnx.save(onnx.load(str(dst / "model.onnx")), str(dst / "model.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="weights.bin", size_threshold=64)
    card = json.loads((dst / "model.json").read_text())
    card["name"], card["sha256"] = "ext", sha256_file(dst / "model.onnx")
    (dst / "model.json").write_text(json.dumps(card))
    assert external_data(dst / "model.onnx") == ["weights.bin"]
    entry = ModelRegistry(tmp_path).get("ext")
    why = entry_problem(entry)
    assert why is not None and why.startswith("model 'ext@1.0.0' keeps tensors outside model.onnx (weights.bin)"), why
    with pytest.raises(ModelError, match=r"keeps tensors outside model.onnx \(weights.bin\)"):
        StepModel(entry.onnx_path, entry.card)
    with pytest.raises(HTTPException) as err:
        check_model(ModelRegistry(tmp_path), "ext")
    assert err.value.status_code == 422 and "weights.bin" in str(err.value.detail)
    assert all(external_data(e.onnx_path) == [] for e in ModelRegistry(REPO / "models").list())
