"""What a model card's outputs and channels must be (audit s69classic F1, F2, F4): a categorical output names at
least 2 classes (a softmax over one is 1.0 whatever the input: such a model was upgraded and decoded 1.0 for every
sample); output labels and channel names are unique and not blank (a decoded stream labelled 'left', 'left' or '',
''); an LSTM card that does not list its inputs and outputs gets an LSTM's (x, h0, c0 / y, hn, cn), not a GRU's."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bci_stream.core.card import ModelCard


def card(**changes) -> dict:
    base = {"format_version": 1, "name": "mine", "version": "1.0.0", "sha256": "0" * 64,
            "created": "2026-12-07T00:00:00+00:00",
            "architecture": {"family": "recurrent", "cell": "gru", "n_layers": 1, "hidden_size": 8},
            "n_chans": 3, "ch_names": ["C3", "Cz", "C4"], "sfreq": 250.0,
            "preprocessing": {"bandpass": [8.0, 30.0], "filter_order": 4, "car": True},
            "output": {"kind": "categorical", "labels": ["left", "right"]}}
    return {**base, **changes}


@pytest.mark.parametrize(("changes", "said"), [
    ({"output": {"kind": "categorical", "labels": ["p"]}}, "output.labels must name at least 2 classes for kind "
     "'categorical' (a softmax over one class is 1.0 whatever the input), got ['p']: a binary net outputs both"),
    ({"output": {"kind": "categorical", "labels": ["left", "left"]}}, "output.labels must be unique"),
    ({"output": {"kind": "gaussian", "labels": ["x", " x "]}}, "output.labels must be unique"),
    ({"output": {"kind": "categorical", "labels": ["", " "]}}, "output.labels must each name an output, got a blank "
     "one at position(s) [0, 1]"),
    ({"ch_names": ["Fp1", "", " "]}, "ch_names must each name a channel (the stream's channels are picked by label), "
     "got a blank one at position(s) [1, 2]"),
])
def test_outputs_and_channels_that_cannot_be_told_apart_are_refused(changes, said):
    with pytest.raises(ValidationError, match=said.replace("(", "\\(").replace(")", "\\)").replace("[", "\\[")
                       .replace("]", "\\]")):
        ModelCard.model_validate(card(**changes))


def test_one_gaussian_output_is_a_model():
    assert ModelCard.model_validate(card(output={"kind": "gaussian", "labels": ["x"]})).n_outputs == 1


def test_an_lstm_card_without_inputs_and_outputs_gets_an_lstms_names():
    lstm = ModelCard.model_validate(card(architecture={"family": "recurrent", "cell": "lstm", "n_layers": 2,
                                                       "hidden_size": 8}))
    assert lstm.inputs == ["x", "h0", "c0"] and lstm.outputs == ["y", "hn", "cn"]
    gru = ModelCard.model_validate(card())
    assert gru.inputs == ["x", "h0"] and gru.outputs == ["y", "hn"]
    given = ModelCard.model_validate(card(architecture={"family": "recurrent", "cell": "lstm", "n_layers": 1,
                                                        "hidden_size": 8}, inputs=["x", "a", "b"]))
    assert given.inputs == ["x", "a", "b"] and given.outputs == ["y", "hn", "cn"]


@pytest.mark.parametrize("bad", [0, 3, 99, "2", True, 2.0, -1])
def test_a_format_version_is_1_or_2_as_an_integer(bad):
    """Audit s70model F5: 0, 3, 99, "2", true and 2.0 were listed as loadable, and upgrade-model read true as format 1
    and 99 as 'nothing to do'."""
    with pytest.raises(ValidationError) as err:
        ModelCard.model_validate(card(format_version=bad))
    assert err.value.errors()[0]["loc"] == ("format_version",), err.value


def test_a_format_1_card_with_a_step_graph_is_refused_naming_format_version(models_dir):
    import json

    step = json.loads((models_dir / "tiny-gru" / "model.json").read_text())
    with pytest.raises(ValidationError, match="format_version 1 is a bare recurrent graph, without a step; a card with "
                                              "a step graph is format_version 2"):
        ModelCard.model_validate({**step, "format_version": 1})
    assert ModelCard.model_validate(step).format_version == 2


def test_a_card_in_another_spelling_of_its_graphs_unit_agrees_with_it(models_dir):
    """Audit s70model F6: 'uV' on the card against 'microvolts' in the graph's metadata was a mismatch ('the stream
    would be read in the wrong unit'), though both are one µV."""
    import json

    from bci_stream.core.card import metadata_problem
    from bci_stream.core.onnx_meta import metadata_props

    raw = json.loads((models_dir / "tiny-gru" / "model.json").read_text())
    meta = metadata_props(models_dir / "tiny-gru" / "model.onnx")
    assert meta["unit"] == "microvolts"
    for same in ("uV", "µV", "μV", "microvolt"):
        assert metadata_problem(ModelCard.model_validate({**raw, "unit": same}), meta, "g.onnx") is None, same
    assert "unit is 'mV' on the card but 'microvolts' in the graph" in metadata_problem(
        ModelCard.model_validate({**raw, "unit": "mV"}), meta, "g.onnx")
