"""The online pipeline applied offline to a whole recording, with the very same objects."""

from __future__ import annotations

import numpy as np

from bci_stream.core.registry import ModelEntry
from bci_stream.engine.step_model import StepModel
from bci_stream.core.units import input_limit
from bci_stream.dsp.preprocess import NonFiniteGuard


def decode_offline(entry: ModelEntry, x: np.ndarray, nan_policy: str = "hold") -> np.ndarray:
    """Decode ``x[T, n_chans]`` (model channel order, card units) in one call; returns ``y[T, n_outputs]``.

    Online decoding of the same samples in any chunking gives the same result (the tests check it).
    """
    guard = NonFiniteGuard(entry.card.n_chans, nan_policy)
    guard.limit = input_limit(entry.card.unit, np.ones(entry.card.n_chans))  # beyond ±1 V: as not finite, as live
    x = guard.apply(np.array(x, dtype=np.float32))
    model = StepModel(entry.onnx_path, entry.card)
    return model.run(x, model.new_state())
