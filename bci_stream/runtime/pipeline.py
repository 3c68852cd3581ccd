"""The per-stream decode pipeline: causal preprocessing → recurrent decoder, for one model.

One object owns the state carried from sample to sample (filter state and recurrent state), so the
worker can reset, decay, snapshot, restore or replace it between two chunks in one place. Non-finite
values must be handled before (:class:`~bci_stream.signal.preprocess.NonFiniteGuard`).
"""

from __future__ import annotations

import numpy as np

from bci_stream.inference.decoder import Decoder
from bci_stream.inference.registry import ModelEntry
from bci_stream.signal.preprocess import Preprocessor


class DecodePipeline:
    """``run(x[T, n_chans]) -> y[T, n_outputs]`` with carried state, for one stream and one model.

    Parameters
    ----------
    entry
        The model (card + ONNX file) from the registry.
    """

    def __init__(self, entry: ModelEntry) -> None:
        self.entry = entry
        card = entry.card
        self.card = card
        self.decoder = Decoder(entry.onnx_path, card)
        self.pre = Preprocessor(card.preprocessing, card.n_chans, card.sfreq)
        self.state = self.decoder.new_state()

    def warm_up(self) -> None:
        """Run the ONNX paths once (first calls allocate), then return to a zero state."""
        for t in (1, 16):
            self.decoder.run(np.zeros((t, self.card.n_chans), dtype=np.float32), self.decoder.new_state())
        self.state = self.decoder.new_state()

    def run(self, x: np.ndarray) -> np.ndarray:
        """Decode a finite float32 chunk ``x[T, n_chans]`` into ``y[T, n_outputs]``."""
        return self.decode(self.preprocess(x))

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """First stage of :meth:`run` (separate so the worker can time the stages)."""
        return self.pre.process(x)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Second stage of :meth:`run`: the recurrent decoder on preprocessed samples."""
        return self.decoder.run(z, self.state)

    def reset(self) -> None:
        """Zero recurrent state; filters re-initialise on the next sample (as at start)."""
        self.state.reset()
        self.pre.reset()

    def decay(self, factor: float) -> None:
        """Scale the recurrent state towards the zero state by ``factor`` in [0, 1]."""
        self.state.restore({n: a * factor for n, a in self.state.arrays.items()})

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of every state array: recurrent (``h0``/``c0``) and filter (``zi``, if any)."""
        snap = self.state.snapshot()
        if self.pre.filter_state is not None:
            snap["zi"] = np.array(self.pre.filter_state, copy=True)
        return snap

    def restore(self, snapshot: dict[str, np.ndarray]) -> None:
        """Set the state from :meth:`snapshot` output (``zi`` optional: without it filters re-initialise)."""
        snap = dict(snapshot)
        zi = snap.pop("zi", None)
        if zi is not None:
            zi = np.array(zi, dtype=np.float64)
            if not np.isfinite(zi).all():
                raise ValueError("state array 'zi' must be finite, got NaN or inf")
        old = self.pre.filter_state
        self.pre.filter_state = zi  # checks the shape
        try:
            self.state.restore(snap)
        except ValueError:
            self.pre.filter_state = old
            raise

    def norms(self) -> dict[str, list[float]]:
        return self.state.norms()
