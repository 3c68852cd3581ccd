"""The state of one decoded stream: every state tensor its step graph carries, owned by the caller.

A :class:`StreamState` belongs to one stream and one :class:`~bci_stream.core.contract.StepSpec`; the
shared :class:`~bci_stream.engine.step_model.StepModel` reads and advances it. Each tensor lives in two
preallocated buffers that single steps alternate between (ping-pong), so onnxruntime's bound inputs and
outputs never move and nothing is allocated per sample; :attr:`StreamState.arrays` is the current one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bci_stream.core.contract import StateSpec, StepSpec


#: The largest magnitude a restored state value may have. No decoder's state comes near it: recurrent states are
#: bounded by their gates, filter states by the signal (microvolts), power and covariance states by its square (a ±1 V
#: signal: 1e12 µV²); a larger value makes the step overflow (its square passes float32's 3.4e38 from 1.8e19), and the
#: decoder would put out the same saturated row for ever, every output finite, nothing counted.
MAX_STATE_ABS = 1e15


def _first_nonfinite(given: Any, arr: np.ndarray) -> str:
    """The first value of ``arr`` that is NaN or inf, as given (``1e300`` overflows float32: said so)."""
    i = int(np.flatnonzero(~np.isfinite(arr.ravel()))[0])
    value = np.asarray(given, dtype=np.float64).ravel()[i]
    return repr(float(value)) + (f" (beyond {arr.dtype.name}'s range)" if np.isfinite(value) else "")


def _no_number(given: Any) -> str | None:
    """The first element of nested lists ``given`` that is no real number as JSON gives them (``null``, ``true``, a
    string, an integer beyond float64's range), said as JSON would; None when each is one (numpy arrays: as they are).
    numpy would take ``null`` as NaN and ``true`` as 1, and raise OverflowError on a huge integer."""
    stack = [given]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        elif v is None or isinstance(v, bool):
            return "null" if v is None else str(v).lower()
        elif isinstance(v, int):
            try:
                float(v)
            except OverflowError:
                return f"an integer of {len(str(abs(v)))} digits (beyond float64's range)"
        elif not isinstance(v, (float, np.number, np.ndarray)):
            return repr(v)[:40]
    return None


class StreamState:
    """State tensors of one stream (see the module docstring).

    Parameters
    ----------
    spec
        The step graph's I/O description (from the model card).

    Attributes
    ----------
    scale
        ``[1, 1, C]`` float64, the per-channel factor from the stream's unit to the card's unit (the
        graph input ``scale``); change it with :meth:`set_scale`.
    """

    def __init__(self, spec: StepSpec) -> None:
        self._init_bookkeeping(spec)
        single = spec.single_step
        packed = single.sample_and_filter if single is not None else None
        self._bufs = {}
        for s in spec.states:
            if s.name == packed:
                lead = tuple(np.zeros((1 + s.shape[1], s.shape[2]), s.dtype) for _ in range(2))
                self._packed[s.name] = lead
                self._bufs[s.name] = (lead[0][1:][None], lead[1][1:][None])
            else:
                self._bufs[s.name] = (np.zeros(s.shape, s.dtype), np.zeros(s.shape, s.dtype))
        self.scale = np.ones((1, 1, spec.n_chans), dtype=np.float64)
        self._bindings: tuple | None = None  # built and owned by the StepModel that last ran this state
        self.reset()

    def _init_bookkeeping(self, spec: StepSpec) -> None:
        """What every state has besides its buffers (also a slot's view: :class:`~.slots.SlotState`)."""
        self.spec = spec
        self.specs: dict[str, StateSpec] = {s.name: s for s in spec.states}
        #: name -> two [1 + S, C] buffers whose rows 1.. are the filter state and row 0 the sample, for a
        #: single-sample graph that takes both as one input (``SingleStep.sample_and_filter``)
        self._packed: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._cur = 0
        self._unit_scale = True  # scale is all ones: a single-sample graph's input is the sample as it is
        self._pending: set[str] = set()  # first_sample states waiting for the stream's first sample

    @property
    def names(self) -> list[str]:
        return list(self.specs)

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The current state arrays by name (views, not copies)."""
        return {n: bufs[self._cur] for n, bufs in self._bufs.items()}

    @property
    def pending(self) -> bool:
        """True while a state waits for the stream's first sample to be initialised."""
        return bool(self._pending)

    def set_scale(self, scale: np.ndarray | float) -> None:
        """Set the unit factor, one value or one per channel (finite, non-zero)."""
        value = np.broadcast_to(np.asarray(scale, dtype=np.float64), (self.spec.n_chans,))
        if not (np.isfinite(value).all() and (value != 0).all()):
            raise ValueError(f"scale must be finite and non-zero for every channel, got {value.tolist()}")
        self.scale[0, 0, :] = value
        self._unit_scale = bool((value == 1.0).all())

    def _initial(self, s: StateSpec) -> np.ndarray:
        if s.init == "constant":
            return np.asarray(s.init_value, dtype=s.dtype).reshape(s.shape)
        return np.zeros(s.shape, s.dtype)

    def reset(self, roles: tuple[str, ...] | None = None) -> None:
        """Back to the initial state (only the states of ``roles``, e.g. ``("recurrent",)``, if given).

        ``first_sample`` states are initialised again by the next sample.
        """
        for s in self.specs.values():
            if roles is not None and s.role not in roles:
                continue
            init = self._initial(s)
            for buf in self._bufs[s.name]:
                np.copyto(buf, init)
            if s.init == "first_sample":
                self._pending.add(s.name)

    def init_first(self, x0: np.ndarray) -> None:
        """Initialise the pending ``first_sample`` states from the stream's first raw sample ``x0 [C]``."""
        scaled = np.asarray(x0, dtype=np.float64).reshape(-1) * self.scale[0, 0]
        for name in self._pending:
            s = self.specs[name]
            value = np.outer(np.asarray(s.init_value, dtype=np.float64), scaled)[None]
            np.copyto(self._bufs[name][self._cur], value, casting="unsafe")
        self._pending.clear()

    def init_channels(self, chans: np.ndarray, values: np.ndarray) -> None:
        """Initialise the ``first_sample`` states of channels ``chans`` only from their raw ``values`` (as
        :meth:`init_first` does every channel): a channel whose first finite value came after the stream's first
        sample, its filters run on a stand-in till then (:class:`~bci_stream.dsp.preprocess.NonFiniteGuard`). States
        still pending are left to :meth:`init_first`."""
        scaled = np.asarray(values, dtype=np.float64).reshape(-1) * self.scale[0, 0, chans]
        for name, s in self.specs.items():
            if s.init != "first_sample" or name in self._pending:
                continue
            buf = self._bufs[name][self._cur]
            buf[..., chans] = np.outer(np.asarray(s.init_value, dtype=np.float64), scaled)[None]

    def set_arrays(self, values: dict[str, np.ndarray]) -> None:
        """Write new values into the current buffers (no checks; the engine's own outputs)."""
        cur = self._cur
        for n, v in values.items():
            np.copyto(self._bufs[n][cur], v, casting="unsafe")

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of the state arrays; a ``first_sample`` state not yet initialised is left out."""
        return {n: a.copy() for n, a in self.arrays.items() if n not in self._pending}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Set the state from a :meth:`snapshot`. Nothing changes if it is refused.

        Every state must be present except ``first_sample`` ones (left out: initialised by the next
        sample); shapes must match and values be finite, within ±:data:`MAX_STATE_ABS`.
        """
        required = {n for n, s in self.specs.items() if s.init != "first_sample"}
        unknown = set(snapshot) - set(self.specs)
        if unknown or not required <= set(snapshot):
            raise ValueError(f"state snapshot must have arrays {sorted(required)} (optional: "
                             f"{sorted(set(self.specs) - required)}), got {sorted(snapshot)}")
        checked = {}
        for n, a in snapshot.items():
            s = self.specs[n]
            if (bad := _no_number(a)) is not None:
                raise ValueError(f"state array {n!r} must be a nested list of numbers of one shape, got {bad}")
            try:
                with np.errstate(over="ignore"):  # a value beyond the dtype's range is refused below, naming it
                    arr = np.asarray(a, dtype=s.dtype)
            except (ValueError, TypeError, OverflowError) as exc:  # ragged or nested lists (a restore over HTTP)
                raise ValueError(f"state array {n!r} must be a nested list of numbers of one shape: {exc}") from None
            if arr.shape != tuple(s.shape):
                raise ValueError(f"state array {n!r} must have shape {tuple(s.shape)}, got {arr.shape}")
            if not np.isfinite(arr).all():
                raise ValueError(f"state array {n!r} must be finite in {np.dtype(s.dtype).name}, got "
                                 f"{_first_nonfinite(a, arr)}")
            if (big := np.abs(arr) > MAX_STATE_ABS).any():
                raise ValueError(f"state array {n!r} must hold values within ±{MAX_STATE_ABS:g} (no decoder's state "
                                 f"reaches it; beyond it the step overflows), got {float(arr[big].ravel()[0])!r}")
            checked[n] = arr
        self.set_arrays(checked)
        self._pending = {n for n, s in self.specs.items() if s.init == "first_sample" and n not in checked}

    def adopt(self, other: StreamState, roles: tuple[str, ...] = ("filter",), factor: float = 1.0) -> None:
        """Take ``other``'s states of ``roles`` that this state has with the same spec (e.g. the filter
        state at a hot swap between models with the same preprocessing), times ``factor`` (the filters run in the
        card's unit: a new card's unit is ``factor`` times the old one's), and its unit scale."""
        for name, s in self.specs.items():
            theirs = other.specs.get(name)
            if s.role in roles and theirs == s and name not in other._pending:
                self.set_arrays({name: other.arrays[name] * factor if factor != 1.0 else other.arrays[name]})
                self._pending.discard(name)
        self.scale[...] = other.scale
        self._unit_scale = other._unit_scale

    def decay(self, factor: float) -> None:
        """Scale the recurrent states towards zero by ``factor`` in [0, 1]; other states are untouched."""
        if not 0.0 <= factor <= 1.0:
            raise ValueError(f"decay factor must be in [0, 1], got {factor}")
        for n, s in self.specs.items():
            if s.role == "recurrent":
                buf = self._bufs[n][self._cur]
                buf *= factor

    def norms(self) -> dict[str, list[float]]:
        """L2 norm of each recurrent state per layer (leading axis): a cheap look at what a network carries."""
        return {n: np.linalg.norm(a.reshape(a.shape[0], -1), axis=1).tolist()
                for n, a in self.arrays.items() if self.specs[n].role == "recurrent"}
