"""The decoding of one stream: channel map, non-finite policy, gaps, and the step graph with its state.

:class:`StreamDecoder` turns a pulled chunk into one output row per kept sample. It owns what changes
the decoding state (gap policy, reset, restore, hot swap) so every such change is counted in one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, Protocol

import numpy as np
import pylsl

from bci_stream.core.status import Counters
from bci_stream.core.units import input_limit
from bci_stream.engine.step_model import StepModel
from bci_stream.engine.stream_state import StreamState
from bci_stream.core.spec import DecoderOptions
from bci_stream.lsl.gaps import GapTracker
from bci_stream.lsl.dejitter import TimestampRepair
from bci_stream.dsp.preprocess import NonFiniteGuard
from bci_stream.service.nonfinite_watch import NonFiniteWatch


def model_info(model: StepModel) -> dict[str, Any]:
    card = model.card
    return {"name": card.name, "version": card.version, "sha256": card.sha256, "labels": card.output.labels,
            "kind": card.output.kind, "family": card.architecture.family}


class StateHost(Protocol):
    """Where the states of a worker's streams live (the shared worker's tables; see ``service.slot_pool``)."""

    def acquire(self, model: StepModel) -> tuple[StepModel, StreamState]:
        """A fresh state for a stream of ``model``, and the model instance that runs it."""

    def run(self, decoder: StreamDecoder, x: np.ndarray) -> np.ndarray:
        """Decode ``x[T, C]`` of ``decoder``'s stream alone, advancing its state."""

    def release(self, decoder: StreamDecoder) -> None:
        """The stream leaves its model's table (its state keeps a copy of its last values)."""


def _filters(pre: Any) -> tuple[Any, ...] | None:
    """What of a card's preprocessing makes its filter state: the band-pass and notch, run on the stream in the card's
    unit before the CAR and standardisation (a card in volts holds mean and std in volts: comparing the whole
    preprocessing took a µV to V swap of one net for other filters, and restarted them; audit s67eng F6)."""
    return (pre.bandpass, pre.filter_order, pre.notch, pre.notch_q) if pre is not None else None


class StreamDecoder:
    """Decode one stream with one model (see the module docstring).

    Parameters
    ----------
    model
        The step graph (shareable between streams).
    chan_idx
        Stream channel index of each model channel, or None when the stream is in the model's order.
    sfreq
        The stream's nominal rate.
    options
        The decoder's options (``nan_policy``, ``gap_policy``, ``gap_threshold_s``, ``decay_tau_s``).
    counters
        Where every sample and state change is counted.
    on_event
        ``on_event(kind, **fields)`` for gap-policy events (the recorder).
    host
        Where the state lives when streams share a worker (:class:`StateHost`: a slot of a shared
        :class:`~bci_stream.engine.slots.SlotTable`); None: a state of its own, run by ``model.run``.
    """

    def __init__(self, model: StepModel, chan_idx: np.ndarray | None, sfreq: float, options: DecoderOptions,
                 counters: Counters, on_event: Callable[..., None], host: StateHost | None = None,
                 name: str = "decoder") -> None:
        self.host = host
        if host is None:
            self.model, self.state = model, model.new_state()
        else:  # the state lives in a slot of the host's table for this model (shared with other streams)
            self.model, self.state = host.acquire(model)
        self.chan_idx = chan_idx
        self.options = options
        self.counters = counters
        self.on_event = on_event
        self.gaps = GapTracker(sfreq, options.gap_threshold_s)
        self.stamps = TimestampRepair(sfreq, options.timestamp_repair)  # chunk-stamped senders: per-sample times
        self.sfreq, self.speed = sfreq, 1.0
        self.reject = options.nan_policy == "reject"
        self.guard = NonFiniteGuard(model.n_chans, "zero" if self.reject else options.nan_policy)
        self.nonfinite = NonFiniteWatch(sfreq, on_event, name)  # which channels, and a run of rejections
        self.seq = 0  # number of the next input sample since the decoder started
        self.last_staged = np.empty((0, model.n_chans), np.float32)  # the kept samples :meth:`stage` gave last
        self.rebase: Callable[[float], float] | None = None  # a new outlet instance's first chunk: see new_instance

    @property
    def card(self):
        return self.model.card

    def set_speed(self, speed: float) -> None:
        """The sender's samples come ``speed`` times the nominal rate (a replay's declared speed, ``bci-stream replay
        --speed``): the timestamp repair reads its stamps at that rate, so a replay's regular stamps are left as they
        came. Before, one above 20x was taken for chunks sharing one stamp (a false ``longest_stamp_run`` and its
        warning, logged again at every new length), and one above ~100x had its stamps rewritten by up to 225 ms."""
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be finite and > 0, got {speed}")
        if speed != self.speed:
            self.speed = speed
            self.stamps = TimestampRepair(self.sfreq * speed, self.options.timestamp_repair)

    def new_instance(self, rebase: Callable[[float], float]) -> None:
        """The stream came back as a new outlet instance on a clock of its own: at its first chunk (the next one
        staged), the gap tracker starts afresh on its clock, the break measured from the last instance's last sample
        put on that clock by ``rebase`` (the new instance's first stamp → that sample's).
        Before, the break was read on the two senders' raw stamps: a clock 3000 days ahead counted 1.3e11 samples
        lost; one behind (a rebooted host) no gap at all, so ``gap_policy`` was not applied over it."""
        self.rebase = rebase

    def decode(self, x: np.ndarray, ts: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray] | None:
        """Decode a pulled chunk (``x`` in stream channel order, any numeric dtype; ``ts`` its timestamps).

        Returns ``(y, ts, seq, t_decode, epochs)`` for the samples kept (all but rejected ones; ``epochs``: the
        state epoch each row was decoded in), or None when every sample was rejected.
        """
        staged = self.stage(x, ts)
        if staged is None:
            return None
        x, ts, seq, segments = staged
        y, t_dec, epochs = self.run_segments(x, ts, segments)
        return None if y is None else (y, ts, seq, t_dec, epochs)

    def run_segments(self, x: np.ndarray, ts: np.ndarray, segments: list
                     ) -> tuple[np.ndarray | None, float, np.ndarray]:
        """Decode staged ``x`` (``ts`` its stamps) segment by segment (the gap policy before each gap, its event naming
        the segment's first sample: ``first_seq`` of :meth:`stage`).

        Returns ``(y or None, t_decode, epochs)``: ``epochs`` holds, per row of ``y``, the state epoch it was
        decoded in (a gap policy inside the chunk changes it for the rows after the gap only).
        """
        t_dec = 0.0
        ys = []
        epochs = np.empty(len(x), dtype=np.int64)
        for lo, hi, gap, first_seq in segments:
            if gap is not None:
                self.apply_gap_policy(gap, first_seq)
            if hi == lo:  # every sample after this gap was rejected
                continue
            epochs[lo:hi] = self.counters.state_epoch
            seg = self.guarded(x[lo:hi], ts[lo:hi])
            ta = pylsl.local_clock()
            ys.append(self.model.run(seg, self.state) if self.host is None else self.host.run(self, seg))
            t_dec += pylsl.local_clock() - ta
        self.count_nonfinite()
        if not ys:
            return None, t_dec, epochs[:0]
        return (ys[0] if len(ys) == 1 else np.concatenate(ys)), t_dec, epochs

    def stage(self, x: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list] | None:
        """Channel map, timestamp repair, gap split and the reject policy of a pulled chunk, before decoding.

        Returns ``(x, ts, seq, segments)`` of the kept samples, or None when the chunk is empty.
        ``segments``: ``(lo, hi, gap_s | None, first_seq)``, ``lo:hi`` bounds into the kept samples and
        ``first_seq`` the seq of the segment's first pulled sample (the first sample after its gap, kept or not).
        """
        c = self.counters
        n = len(ts)
        if n == 0:
            return None
        if self.chan_idx is not None:
            x = x[:, self.chan_idx]
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        seq = np.arange(self.seq, self.seq + n)
        self.seq += n
        c.samples_in += n
        if (rebase := self.rebase) is not None:  # a new outlet instance's first chunk (new_instance)
            self.rebase = None
            self.gaps.resume_after(rebase(float(ts[0])))  # (the timestamp repair restarts at the jump itself)
        raw, ts = ts, self.stamps.apply(ts)  # the returned ts are these (repaired) ones
        split = self.gaps.split(ts, c, raw)  # on every pulled sample: rejected samples arrived, they are not lost
        segments = [(lo, hi, gap, int(seq[lo]) if lo < n else int(seq[0]) + n) for lo, hi, gap in split]
        if self.reject:
            fine = self.guard.ok(x)
            ok = fine.all(axis=1)
            if not ok.all():
                bad = ~fine
                c.samples_rejected += int(n - ok.sum())
                c.nonfinite_values += int(bad.sum())
                c.nonfinite_chunks += 1
                self.nonfinite.saw(bad, self.card.ch_names, ts)
                self.nonfinite.rejected(ok, seq, ts)
                kept = np.r_[0, np.cumsum(ok)]  # segment bounds among the kept samples
                segments = [(int(kept[lo]), int(kept[hi]), gap, first) for lo, hi, gap, first in segments]
                x, ts, seq = x[ok], ts[ok], seq[ok]
            elif self.nonfinite.rejecting:  # the first clean chunk after a run of rejections
                self.nonfinite.kept_all(int(seq[0]))
        self.last_staged = x  # (nan_policy applies in place: the values the model reads, for FlatChannels)
        return x, ts, seq, segments

    def set_scale(self, scale: np.ndarray) -> None:
        """The factor from the stream's unit to the card's, per model channel: into the state, and the guard's bound
        on the values a stream may send (:func:`~bci_stream.core.units.input_limit`)."""
        self.state.set_scale(scale)
        self.guard.limit = input_limit(self.card.unit, np.broadcast_to(scale, (self.model.n_chans,)))

    def guarded(self, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """``x`` with its non-finite values replaced by the policy (hold, zero), the channels that held them noted; the
        filters of a channel that ran on the 0 stand-in till its first finite value in ``x`` start afresh from it (every
        path that decodes goes through here: the dedicated worker's, the shared and Ray workers' batched one)."""
        x = self.guard.apply(x)
        if (first := self.guard.first_finite) is not None:
            self.state.init_channels(*first)
        bad = self.guard.last_bad
        if bad is not None:
            self.nonfinite.saw(bad, self.card.ch_names, ts)
        if not self.reject:  # the share of samples replaced, per second of the stream
            n_bad = 0 if bad is None else int(bad.any(axis=1).sum())
            guard = self.guard
            self.nonfinite.replaced(len(x), n_bad, guard.last_replaced, guard.last_beyond, guard.policy)
        return x

    def count_nonfinite(self) -> None:
        """The guard's counts into the counters (hold/zero policies), after a chunk went through it."""
        if not self.reject:
            self.counters.nonfinite_values = self.guard.n_replaced
            self.counters.nonfinite_chunks = self.guard.n_chunks_affected

    def apply_gap_policy(self, gap_s: float, first_seq: int) -> None:
        """The gap policy for a gap of ``gap_s`` before sample ``first_seq`` (the seq its event names)."""
        policy = self.options.gap_policy
        self.on_event("gap", seconds=gap_s, policy=policy, seq=first_seq)
        if policy == "keep":
            return
        if policy == "reset":
            self.state.reset()
        else:
            self.state.decay(math.exp(-gap_s / self.options.decay_tau_s))
        self.counters.gap_policy_applied += 1
        self.counters.state_epoch += 1

    # -- state changes from commands -------------------------------------------------------------------

    def reset(self, counter: Literal["resets", "divergence_resets"] = "resets") -> int:
        """Every state back to its start (filters re-initialise on the next sample); the new state epoch.
        ``counter``: ``resets`` (asked for) or ``divergence_resets`` (a state not finite after a step)."""
        self.state.reset()
        setattr(self.counters, counter, getattr(self.counters, counter) + 1)
        self.counters.state_epoch += 1
        return self.counters.state_epoch

    def snapshot(self) -> dict[str, list]:
        return {k: v.tolist() for k, v in self.state.snapshot().items()}

    def restore(self, arrays: dict[str, Any], sha256: str | None, count: bool = True,
                held: list[float | None] | None = None) -> int:
        """Restore a snapshot of this model's state (ValueError naming what is wrong); the new state epoch.

        ``count=False``: the epoch was already advanced for this change (a restarted worker: last published + 1).
        ``held``: the last generation's guard's held values (:meth:`NonFiniteGuard.held`): a channel non-finite
        across a restart stays held at its last finite value, not at 0 (a step of its DC offset into the filters).
        """
        if sha256 is not None and sha256 != self.card.sha256:
            raise ValueError(f"model.sha256 must be that of the running model ({self.card.sha256}), got {sha256}")
        self.state.restore(arrays)
        if held is not None:
            self.guard.restore_held(held, restored_state=True)
        if count:
            self.counters.state_epoch += 1
        return self.counters.state_epoch

    def swap(self, model: StepModel, chan_idx: np.ndarray | None, scale: np.ndarray | None = None) -> int:
        """Switch to ``model`` (already loaded and warmed) between two chunks; the new state epoch.

        The new model starts from its initial state; the filter state is carried over when both models
        have the same filters (band-pass, notch: what runs before the CAR and standardisation, whose statistics a card
        in volts holds in volts) and read the same channels (no filter transient at the switch).
        """
        old = self.state
        if self.host is None:
            state = model.new_state()
        else:  # leave this model's slot (its state keeps its values for adopt) for one in the new model's table
            self.host.release(self)
            model, state = self.host.acquire(model)
        same_input = (chan_idx is None and self.chan_idx is None) or (
            chan_idx is not None and self.chan_idx is not None and np.array_equal(chan_idx, self.chan_idx))
        if _filters(model.card.preprocessing) == _filters(self.card.preprocessing) and same_input:
            # the filters run in the card's unit (the stream times its scale): a card of another unit (volts after
            # microvolts) takes their state converted, else ~0.5 s of outputs would come from a state 1e6 off
            old_scale = old.scale[0, 0]
            ratio = old_scale if scale is None else np.broadcast_to(np.asarray(scale, np.float64), old_scale.shape)
            ratio = ratio / old_scale
            if np.allclose(ratio, ratio[0], rtol=1e-9, atol=0.0):  # one factor for every channel (units differ)
                state.adopt(old, roles=("filter",), factor=float(ratio[0]))
        if scale is not None:  # the stream's unit to the new card's unit
            state.set_scale(scale)
        # the guard holds one value per model channel: each stream channel the new model reads keeps its own
        self.guard = self.guard.remapped(model.n_chans, self.chan_idx, chan_idx)
        self.guard.limit = input_limit(model.card.unit, np.ones(model.n_chans) if scale is None else scale)
        self.model, self.state, self.chan_idx = model, state, chan_idx
        self.counters.swaps += 1
        self.counters.state_epoch += 1
        return self.counters.state_epoch
