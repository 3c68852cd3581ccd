"""``last_label`` of ``GET /decoders/{id}``: the class of the latest output row, none for a row with a non-finite
value (audit s68api F3: a model putting out NaN showed ``last_output`` all null and ``last_label`` its first class)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from bci_stream.api.views import decoder_status
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle


@pytest.mark.parametrize(("last", "label"), [([0.1, 0.7, 0.2], "left"), ([math.nan] * 3, None),
                                              ([0.1, math.nan, 0.2], None), ([0.1, math.inf, 0.2], None)])
def test_the_last_label_is_the_argmax_of_a_finite_row_only(last, label):
    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"}))
    handle.status = replace(handle.status, state="running", model={"name": "m", "labels": ["rest", "left", "right"]},
                            last_output=last)
    assert decoder_status(handle).last_label == label
