"""The per-stream decode pipeline: causal preprocessing → recurrent decoder, for one model.

One object owns the state carried from sample to sample (filter state and recurrent state), so the
worker can reset, decay, snapshot, restore or replace it between two chunks in one place. Non-finite
values must be handled before (:class:`~bci_stream.signal.preprocess.NonFiniteGuard`).

By default preprocessing and the recurrent step run as one onnxruntime call per sample
(:class:`~bci_stream.inference.fused.FusedPipeline`); ``fused=False`` (or a graph the fuser cannot
handle) runs :class:`~bci_stream.signal.preprocess.Preprocessor` then
:class:`~bci_stream.inference.decoder.Decoder`. Both give the same outputs (tests check it) and the
same state layout: ``h0`` (+ ``c0``) ``[L, 1, H]`` and the filter state ``zf [2 * n_sections, C]``.
"""

from __future__ import annotations

import logging

import numpy as np

from bci_stream.errors import ModelError
from bci_stream.inference.decoder import Decoder, DecoderState
from bci_stream.inference.fused import FILTER_STATE, FusedPipeline
from bci_stream.inference.registry import ModelEntry
from bci_stream.signal.preprocess import Preprocessor

log = logging.getLogger("bci_stream.pipeline")


class DecodePipeline:
    """``run(x[T, n_chans]) -> y[T, n_outputs]`` with carried state, for one stream and one model.

    Parameters
    ----------
    entry
        The model (card + ONNX file) from the registry.
    fused
        One onnxruntime call per sample for preprocessing + step (default), else two stages.
    """

    def __init__(self, entry: ModelEntry, fused: bool = True) -> None:
        self.entry = entry
        self.card = entry.card
        self.decoder = Decoder(entry.onnx_path, self.card)
        self.fused: FusedPipeline | None = None
        if fused:
            try:
                self.fused = FusedPipeline(entry.onnx_path, self.card, decoder=self.decoder)
            except (ModelError, ValueError, RuntimeError) as exc:  # an exotic graph: two stages still work
                log.warning("model %s: fused preprocessing unavailable (%s); using two stages", self.card.ref, exc)
        self.pre = Preprocessor(self.card.preprocessing, self.card.n_chans, self.card.sfreq)
        self._state = self.decoder.new_state()

    @property
    def state(self) -> DecoderState:
        """The recurrent state."""
        return self.fused.state if self.fused is not None else self._state

    def warm_up(self) -> None:
        """Run the ONNX paths once (first calls allocate), then return to the initial state."""
        for t in (1, 1, 16):
            self.run(np.zeros((t, self.card.n_chans), dtype=np.float32))
        self.reset()

    def run(self, x: np.ndarray) -> np.ndarray:
        """Decode a finite float32 chunk ``x[T, n_chans]`` into ``y[T, n_outputs]``.

        A backlog (T > 2 * :attr:`BLOCK`) is decoded in blocks of :attr:`BLOCK` samples with the state
        carried (the same result): onnxruntime's recurrent kernels are faster on blocks that stay in
        cache than on one call over thousands of samples.
        """
        if len(x) > 2 * self.BLOCK:
            return np.concatenate([self._run(x[i:i + self.BLOCK]) for i in range(0, len(x), self.BLOCK)])
        return self._run(x)

    BLOCK = 128

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.fused is not None:
            return self.fused.run(x)
        return self.decoder.run(self.pre.process(x), self._state)

    def reset(self) -> None:
        """Zero recurrent state; filters re-initialise on the next sample (as at start)."""
        if self.fused is not None:
            self.fused.reset()
        else:
            self._state.reset()
            self.pre.reset()

    def decay(self, factor: float) -> None:
        """Scale the recurrent state towards the zero state by ``factor`` in [0, 1] (filters untouched)."""
        snap = self.snapshot()
        for name in self.state.names:
            snap[name] = snap[name] * factor
        self.restore(snap)

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of every state array: recurrent (``h0``/``c0``) and, once initialised, filter (``zf``)."""
        if self.fused is not None:
            return self.fused.snapshot()
        snap = self._state.snapshot()
        zi = self.pre.filter_state
        if zi is not None:
            snap[FILTER_STATE] = zi.reshape(-1, self.card.n_chans).copy()
        return snap

    def restore(self, snapshot: dict[str, np.ndarray]) -> None:
        """Set the state from :meth:`snapshot` output; without ``zf`` the filters re-initialise on the next
        sample. Names, shapes and finiteness are checked; nothing changes when refused."""
        if self.fused is not None:
            self.fused.restore(snapshot)
            return
        snap = dict(snapshot)
        zf = snap.pop(FILTER_STATE, None)
        zi = None
        if zf is not None and self.pre.sos is not None:
            zf = np.asarray(zf, dtype=np.float64)
            shape = (2 * len(self.pre.sos), self.card.n_chans)
            if zf.shape != shape:
                raise ValueError(f"state array {FILTER_STATE!r} must have shape {shape}, got {zf.shape}")
            if not np.isfinite(zf).all():
                raise ValueError(f"state array {FILTER_STATE!r} must be finite, got NaN or inf")
            zi = zf.reshape(-1, 2, self.card.n_chans)
        self._state.restore(snap)
        self.pre.filter_state = zi

    def filter_state(self) -> np.ndarray | None:
        """The filter state ``zf`` (a copy), or None before the first sample or without a filter."""
        return self.snapshot().get(FILTER_STATE)

    def take_filter_state(self, zf: np.ndarray | None) -> None:
        """Start from another pipeline's filter state (same preprocessing), recurrent state unchanged."""
        snap = {n: a for n, a in self.snapshot().items() if n != FILTER_STATE}
        if zf is not None:
            snap[FILTER_STATE] = zf
        self.restore(snap)

    def norms(self) -> dict[str, list[float]]:
        return self.state.norms()
