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
