"""A model that puts out NaN or inf: said at once, and a recurrent state that diverged is reset.

A NaN input has its own policy (``nan_policy``: the guard replaces or rejects it before the model reads it), so a
non-finite *output* comes from the model itself. Two cases, told apart by the state after the step:

* the state is not finite (an input the model was not trained for, an artefact, drove it to NaN or inf): it can never
  recover by itself, every later output would be NaN. Under ``options.divergence_policy`` ``reset`` (the default)
  it is reset to the model's initial state right after the chunk that diverged (counted in ``divergence_resets``, a
  new ``state_epoch`` as for a reset asked for); under ``keep`` it stays so until ``POST /decoders/{id}/reset``.
* the state is finite: the model's own computation gives NaN (NaN weights, an overflow in its head); a reset would
  not help, it is said only.

Either way the rows already computed are published as they are (one output per input sample; counted in
``nonfinite_outputs``), and the status says so (``output_stream.nonfinite.warning``), once per episode in the log,
and in the recording's events (``diverged``; its end with message null). The warning ends after
:data:`DIVERGED_END_S` of the stream with every output finite. The clean path costs one ``isfinite`` over the chunk's
outputs (the state is looked at only after a non-finite output, and at each :meth:`DivergenceWatch.tick`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bci_stream.service.decoding import StreamDecoder

log = logging.getLogger("bci_stream.worker")

#: the warning ends after this many seconds of the stream with every output finite
DIVERGED_END_S = 10.0


def state_finite(arrays: dict[str, np.ndarray]) -> bool:
    """Whether every value of the state ``arrays`` is finite."""
    return all(bool(np.isfinite(a).all()) for a in arrays.values())


class DivergenceWatch:
    """Non-finite outputs of one decoded stream (see the module docstring).

    Parameters
    ----------
    decoder
        The stream's decoder (its ``state`` is read at each look: a hot swap changes it).
    policy
        ``options.divergence_policy``: ``reset`` or ``keep``.
    sfreq
        The stream's nominal rate (the end of a warning, in samples).
    on_event
        ``on_event(kind, **fields)``: the recording's events.
    decoder_id
        The decoder's id (the log's ``decoder <id>``, the reset's path).
    """

    def __init__(self, decoder: StreamDecoder, policy: str, sfreq: float, on_event: Callable[..., None],
                 decoder_id: str) -> None:
        if policy not in ("reset", "keep"):
            raise ValueError(f"policy must be 'reset' or 'keep', got {policy!r}")
        self.decoder, self.policy, self.on_event = decoder, policy, on_event
        self.decoder_id, self.name = decoder_id, f"decoder {decoder_id}"
        self.end_rows = DIVERGED_END_S * (sfreq if sfreq > 0 else 1.0)
        self.counters = decoder.counters
        self.warning: str | None = None
        self.state_diverged = False  # the latest non-finite row came with a state not finite
        self.first_seq: int | None = None  # the first non-finite row of the current episode
        self.last_seq: int | None = None  # the latest non-finite row
        self.finite_rows = 0  # finite rows in a row since the latest non-finite one (while the warning stands)

    def outputs(self, y: np.ndarray, seq: np.ndarray) -> None:
        """A chunk's published rows ``y`` ``[n, K]`` (``seq``: their input samples): counted, said, and a diverged
        state reset (``reset``) before the next chunk is decoded."""
        finite = np.isfinite(y)
        if finite.all():
            if self.warning is not None:
                self.finite_rows += len(y)
                if self.finite_rows >= self.end_rows:
                    self._end()
            return
        bad = np.flatnonzero(~finite.all(axis=1))
        self.counters.nonfinite_outputs += len(bad)
        self.finite_rows = len(y) - 1 - int(bad[-1])
        self.last_seq = int(seq[bad[-1]])
        self._diverged(int(seq[bad[0]]), not state_finite(self.decoder.state.arrays))

    def tick(self) -> None:
        """Between chunks: a state not finite whose outputs were (a head that hides it) is handled as well."""
        if (self.warning is None or self.policy == "reset") and not state_finite(self.decoder.state.arrays):
            self._diverged(self.decoder.seq, True)

    def _diverged(self, seq: int, state_bad: bool) -> None:
        new = self.warning is None or state_bad != self.state_diverged
        if self.warning is None:
            self.first_seq = seq
        self.state_diverged = state_bad
        c = self.counters
        if state_bad and self.policy == "reset":
            first = self.decoder.seq  # the first input sample decoded in the new state
            epoch = self.decoder.reset(counter="divergence_resets")
            self.warning = (f"the model's state diverged (NaN or inf) at seq {seq}: reset to the model's initial state "
                            f"(divergence_policy 'reset'; {c.divergence_resets} automatic reset(s), "
                            f"{c.nonfinite_outputs} output row(s) not finite, published as they are); most often an "
                            "input the model was not trained for (an artefact, an electrode pop)")
            self.on_event("diverged", message=self.warning, seq=seq, reset=True, first_seq=first, state_epoch=epoch)
        elif state_bad:
            self.warning = (f"the model's state diverged (NaN or inf) at seq {seq}: every output is NaN until the "
                            f"state is reset (divergence_policy 'keep'; POST /decoders/{self.decoder_id}/reset), "
                            f"{c.nonfinite_outputs} output row(s) not finite so far")
        else:
            self.warning = (f"the model put out NaN or inf at seq {seq} though its state is finite (its own "
                            f"computation: NaN weights, an overflow; a reset would not help), {c.nonfinite_outputs} "
                            "output row(s) not finite so far")
        if new:  # once per episode (and when its kind changes): the reset ones each have their event above
            log.warning("%s: %s", self.name, self.warning)
            if not (state_bad and self.policy == "reset"):
                self.on_event("diverged", message=self.warning, seq=seq, reset=False)

    def _end(self) -> None:
        log.info("%s: every output finite for %.0f s since seq %s: the divergence warning ended", self.name,
                 DIVERGED_END_S, self.last_seq)
        self.on_event("diverged", message=None, seq=self.last_seq)
        self.warning = self.first_seq = None
        self.state_diverged = False
        self.finite_rows = 0

    def describe(self) -> dict[str, Any] | None:
        """The status ``output_stream.nonfinite`` (None: every output finite so far): ``rows`` (not finite, this
        worker generation), ``divergence_resets``, ``policy``, the current episode's ``first_seq``, ``last_seq`` and
        ``state_diverged``, and ``warning`` (null once :data:`DIVERGED_END_S` of outputs were finite)."""
        c = self.counters
        if not c.nonfinite_outputs and not c.divergence_resets:
            return None
        return {"rows": c.nonfinite_outputs, "divergence_resets": c.divergence_resets, "policy": self.policy,
                "first_seq": self.first_seq, "last_seq": self.last_seq, "state_diverged": self.state_diverged,
                "warning": self.warning}
