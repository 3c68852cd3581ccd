"""`bci-stream upgrade-model` on a researcher's own torch export (audit s41_byom): a card written without
``format_version`` is format 1 and upgrades; one with a step graph and no ``format_version`` is format 2; logits on a
``categorical`` card, a model that outputs NaN, a graph that depends on how many samples a call gets and a card with
more labels than outputs are refused, each in words that point at the model; the author's graph is kept as
``model.format1.onnx``, which the registry ignores. Real torch exports, real onnx and onnxruntime."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.core.card import sha256_file
from bci_stream.core.errors import ModelError
from bci_stream.core.registry import ModelRegistry
from bci_stream.train.export.upgrade import AlreadyUpgraded, upgrade_model_dir
from test_upgrade_refusals import snapshot

N_CHANS, HIDDEN, K = 4, 8, 3


class Own(torch.nn.Module):
    """A user's own net: GRU, linear head, and a softmax unless ``mistake`` says otherwise."""

    def __init__(self, mistake: str = "") -> None:
        super().__init__()
        self.mistake = mistake
        self.rnn = torch.nn.GRU(N_CHANS, HIDDEN, 1, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, K)

    def forward(self, x, h0):
        if self.mistake == "chunk mean":  # each call's samples less their mean over T: not causal sample by sample
            x = x - x.mean(dim=1, keepdim=True)
        out, hn = self.rnn(x, h0)
        logits = self.head(out)
        if self.mistake == "nan":
            logits = logits * torch.sqrt(-torch.ones(1))  # NaN
        return (logits if self.mistake == "logits" else torch.softmax(logits, -1)), hn


def own_folder(root: Path, name: str, mistake: str = "", labels: int = K, fv: bool = True) -> Path:
    """A format-1 folder as the audit's author wrote it: the torch export and a card (no ``format_version`` key
    unless ``fv``)."""
    d = root / name
    d.mkdir()
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Own(mistake).eval(), (torch.zeros(1, 5, N_CHANS), torch.zeros(1, 1, HIDDEN)),
                          str(d / "model.onnx"), input_names=["x", "h0"], output_names=["y", "hn"],
                          dynamic_axes={"x": {0: "B", 1: "T"}, "y": {0: "B", 1: "T"}, "h0": {1: "B"}, "hn": {1: "B"}},
                          opset_version=17, dynamo=False)
    card = {"name": name, "version": "0.1.0", "sha256": sha256_file(d / "model.onnx"),
            "created": "2026-12-04T00:00:00+00:00",
            "architecture": {"family": "recurrent", "cell": "gru", "n_layers": 1, "hidden_size": HIDDEN},
            "n_chans": N_CHANS, "ch_names": ["C3", "Cz", "C4", "Pz"], "sfreq": 160.0,
            "preprocessing": {"mean": [0.0] * N_CHANS, "std": [10.0] * N_CHANS},
            "output": {"kind": "categorical", "labels": [f"c{i}" for i in range(labels)]},
            "inputs": ["x", "h0"], "outputs": ["y", "hn"]}
    if fv:
        card = {"format_version": 1, **card}
    (d / "model.json").write_text(json.dumps(card))
    return d


def test_a_card_without_format_version_is_format_1_and_upgrades(tmp_path: Path) -> None:
    d = own_folder(tmp_path, "mine", fv=False)
    original = (d / "model.onnx").read_bytes()
    [(entry, why)], problems = ModelRegistry(tmp_path).checked()
    assert problems == [] and entry.card.format_version == 1  # before: "step must describe the step graph"
    assert why == (f"model 'mine@0.1.0' is card format 1 without a step graph; upgrade its folder with "
                   f"`bci-stream upgrade-model {d}` (needs the train extra)")
    res = CliRunner().invoke(main, ["upgrade-model", str(d)])
    assert res.exit_code == 0, res.output
    assert f"{d}: mine@0.1.0 is now a step graph" in res.output
    assert f"your format-1 graph is kept as {d / 'model.format1.onnx'}" in res.output
    # what one sample per call costs here, as calibrate reports it (a figure only: no speed is asserted)
    assert re.search(rf"{re.escape(str(d))}: step cost on this machine, one sample per call: p50 \d+ µs, p99 \d+ µs "
                     r"\(sample period 6250 µs at 160 Hz\)", res.output), res.output
    assert (d / "model.format1.onnx").read_bytes() == original  # the author's export, byte for byte
    card = json.loads((d / "model.json").read_text())
    assert card["format_version"] == 2 and card["training"]["format1_sha256"] == sha256_file(d / "model.format1.onnx")
    [(entry, why)], problems = ModelRegistry(tmp_path).checked()  # the kept graph is no model, nor a problem
    assert (why, problems, entry.directory) == (None, [], d)
    models = CliRunner().invoke(main, ["models", "--models-dir", str(tmp_path)])
    assert models.output.splitlines()[0].startswith("mine@0.1.0") and "problem" not in models.output
    session = ort.InferenceSession(str(d / "model.format1.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x", "h0"]  # still the author's own graph, runnable


def test_a_card_with_a_step_graph_and_no_format_version_is_format_2(tmp_path: Path) -> None:
    d = own_folder(tmp_path, "mine")
    upgrade_model_dir(d)
    card = json.loads((d / "model.json").read_text())
    del card["format_version"]
    (d / "model.json").write_text(json.dumps(card))
    entry = ModelRegistry(tmp_path).get("mine")
    assert entry.card.format_version == 2 and ModelRegistry(tmp_path).checked()[0][0][1] is None
    with pytest.raises(AlreadyUpgraded, match="is already card format 2"):
        upgrade_model_dir(d)


CASES = {
    "logits": (dict(mistake="logits"), r"^export of logits@0\.1\.0 refused: output\.kind is 'categorical', so the "
               r"graph's output 'y' must be class probabilities \(each value in \[0, 1\], each row summing to 1 "
               r"within 0\.001\), but on the parity probe (its output has the value -?[0-9.e-]+|a row sums to "
               r"[0-9.e-]+) \(sample \d+.*: the network ends in logits or scores; end it with a softmax over the "
               r"classes \(torch\.softmax\(logits, dim=-1\)\)"),
    "nan": (dict(mistake="nan"), r"^export of nan@0\.1\.0 refused: the model itself outputs nan \(NaN or inf\) on "
            r"the parity probe \(EEG-sized input, 1000 samples\): first at sample 0, output 0, in the offline "
            r"reference, before any step graph \(3000 values in all\)"),
    "chunk mean": (dict(mistake="chunk mean"), r"^export of chunk-mean@0\.1\.0 refused: the step graph run one "
                   r"sample at a time differs from the offline reference by [0-9.e-]+ \(tolerance 0\.0001\) over "
                   r"1000 samples; the graph run one sample per call and run in blocks of up to 128 samples differ "
                   r"by [0-9.e-]+ themselves: its output depends on how many samples a call gets, so it is not "
                   r"causal sample by sample"),
    "labels": (dict(labels=4), r"^model 'labels@0\.1\.0': .*model\.onnx: the card's output\.labels has 4 labels, "
               r"but the graph's output 'y' has 3 outputs \(its last axis\): give one label per output$"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_model_mistake_is_refused_in_words_that_point_at_the_model(tmp_path: Path, case: str) -> None:
    kwargs, message = CASES[case]
    d = own_folder(tmp_path, case.replace(" ", "-"), **kwargs)
    before = snapshot(d)
    with pytest.raises(ModelError) as err:
        upgrade_model_dir(d)
    assert "\n" not in str(err.value)
    assert re.search(message, str(err.value)), str(err.value)
    assert snapshot(d) == before  # nothing written, nothing kept


def test_an_own_softmax_model_passes_the_probability_check(tmp_path: Path) -> None:
    card = upgrade_model_dir(own_folder(tmp_path, "fine"))
    entry = ModelRegistry(tmp_path).get("fine")
    assert card.parity.max_abs_diff <= 1e-4 and entry.card.output.kind == "categorical"


def test_an_upgraded_card_edited_to_more_labels_names_output_labels(tmp_path: Path) -> None:
    """The audit's ``editk``: the error named ``step`` ("step must have n_chans=4 and n_outputs=4, got 4 and 3")."""
    d = own_folder(tmp_path, "mine")
    upgrade_model_dir(d)
    card = json.loads((d / "model.json").read_text())
    card["output"]["labels"].append("extra")
    (d / "model.json").write_text(json.dumps(card))
    assert ModelRegistry(tmp_path).scan()[1] == [
        f"model card {d / 'model.json'} is invalid: <root>: output.labels has 4 labels, but the step "
        "graph's output 'y' has 3 outputs (step.n_outputs): give one label per output"]


def test_upgrade_model_warns_of_a_model_slower_than_its_sample_period(tmp_path: Path) -> None:
    """The audit's 2 x 1280 GRU lost half its 1 kHz input in the service, and upgrade-model had said nothing of its
    cost. A card at 10 MHz (a 0.1 µs sample period no step graph runs within) makes the warning certain."""
    d = own_folder(tmp_path, "fast-rate")
    card = json.loads((d / "model.json").read_text())
    (d / "model.json").write_text(json.dumps({**card, "sfreq": 1e7}))
    res = CliRunner().invoke(main, ["upgrade-model", str(d)])
    assert res.exit_code == 0, res.output  # measured and said, never a refusal
    assert f"{d}: warning: one sample per call takes" in res.output
    assert "sample period at 1e+07 Hz" in res.output and "load.warning" in res.output, res.output


def test_a_logits_model_upgraded_before_the_check_is_refused_when_the_service_loads_it(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """A categorical model upgraded before ``upgrade-model`` checked its outputs (session 41), here by an upgrade with
    that check taken out, was served: its logits published labelled 'probability'. The service's warm-up of a model
    it loads (a decoder's start, a swap) now refuses it, in the words export uses; a softmax model loads."""
    import bci_stream.train.export.step_graph as step_graph
    from bci_stream.engine.step_model import StepModel

    monkeypatch.setattr(step_graph, "reference_problem", lambda *args: None)  # the upgrade of before
    upgrade_model_dir(own_folder(tmp_path, "old-logits", mistake="logits"))
    upgrade_model_dir(own_folder(tmp_path, "fine"))
    registry = ModelRegistry(tmp_path)
    entry = registry.get("old-logits")
    with pytest.raises(ModelError) as err:
        StepModel(entry.onnx_path, entry.card).warm_up()
    assert re.fullmatch(r"model 'old-logits@0\.1\.0': output\.kind is 'categorical', so its output 'y' must be class "
                        r"probabilities \(each value in \[0, 1\], each row summing to 1 within 0\.001\), but on its "
                        r"warm-up \(zeros in\) (its output has the value -?[0-9.e-]+|a row sums to [0-9.e-]+) "
                        r"\(sample \d+.*\): the network ends in logits or scores, which would be published labelled "
                        r"'probability'; end it with a softmax over the classes \(torch\.softmax\(logits, dim=-1\)\), "
                        r"or give the card another output\.kind \('gaussian' for continuous values\), and export it "
                        r"again", str(err.value)), str(err.value)
    fine = registry.get("fine")
    StepModel(fine.onnx_path, fine.card).warm_up()
