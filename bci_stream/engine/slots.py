"""Many streams of one model in one session: a slot-indexed state table, one onnxruntime call per wake-up.

A :class:`SlotTable` serves the streams of one :class:`~bci_stream.engine.step_model.StepModel` (sherpa-onnx
``DecodeStreams``, Triton's sequence-batcher slots). Each stream gets a *slot*: an index into one tensor per
state whose batch axis has the table's capacity (doubled when the table is full), plus a row of the unit
``scale``. :meth:`SlotTable.state` gives a slot's :class:`SlotState`, a
:class:`~bci_stream.engine.stream_state.StreamState` whose arrays are views into those tensors, so reset,
snapshot, restore, decay, adopt and first-sample initialisation are StreamState's own code and touch that
slot alone.

:meth:`SlotTable.step_ready` decodes every ready slot: with equal chunk lengths in **one** onnxruntime call
of the general step graph (the slots' states gathered into contiguous input buffers, the new states scattered
back), with different lengths in rounds of the shortest remaining length over the slots still active, so a
slot's state always ends where its own T single steps leave it and no padding ever enters a state. Row b of
every graph output depends only on row b of every input (the step-graph contract), so a slot's output never
depends on another slot's data. The buffers of a call (x, scale, states in and out, y) are prefixes of
arenas allocated for the capacity, bound once per ``(n_slots, T)`` shape through IOBindings and cached. A
single sample of a single slot takes the model's single-sample session instead (``StepModel.run``'s hot
path, over a scratch state that the slot's values are copied into and out of), which is cheaper there.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Mapping
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort

from bci_stream.core.contract import SCALE, X, Y, StateSpec
from bci_stream.engine.step_model import StepModel, _fast_runner
from bci_stream.engine.stream_state import StreamState


def _batch_view(tensor: np.ndarray, s: StateSpec, slot: int) -> np.ndarray:
    """Slot ``slot``'s part of a state tensor: a view with the state's own shape (batch axis of size 1)."""
    return tensor[(slice(None),) * s.batch_axis + (slice(slot, slot + 1),)]


def _batched_shape(s: StateSpec, n: int) -> tuple[int, ...]:
    shape = list(s.shape)
    shape[s.batch_axis] = n
    return tuple(shape)


class SlotState(StreamState):
    """The state of one slot: a :class:`StreamState` over views into its :class:`SlotTable`'s tensors.

    Every StreamState method works on it (``reset(roles)``, ``snapshot()``, ``restore()``, ``decay()``,
    ``adopt()``, ``set_scale()``, ``init_first()``, ``norms()``) and touches this slot only. The table
    advances it (:meth:`SlotTable.step_ready`); ``StepModel.run`` refuses it for single samples. Once its
    slot is removed it keeps private copies of its last values, so writing to it can no longer reach the
    slot's next owner.

    Attributes
    ----------
    slot
        Its index in the table, or None once removed.
    key
        The stream key it was added with.
    """

    def __init__(self, table: SlotTable, slot: int, key: Hashable) -> None:  # no buffers of its own
        self._init_bookkeeping(table.spec)  # no packed single-sample buffers: a slot never uses them
        self.slot: int | None = slot
        self.key = key
        self._attach(table)
        self.reset()

    @property
    def _bindings(self) -> None:
        raise TypeError(f"the state of slot {self.slot} (stream {self.key!r}) is advanced by its "
                        f"SlotTable.step_ready, not by StepModel.run")

    def _attach(self, table: SlotTable) -> None:
        """Point the arrays and the scale at this slot's part of ``table``'s tensors (again after growth)."""
        slot = self.slot
        views = {s.name: _batch_view(table._tensors[s.name], s, slot) for s in self.spec.states}
        self._bufs = {name: (v, v) for name, v in views.items()}  # one buffer: the table copies in and out
        self.scale = table._scale[slot:slot + 1]

    def _detach(self) -> None:
        """Keep private copies of the current values; forget the table."""
        self._bufs = {name: (bufs[0].copy(),) * 2 for name, bufs in self._bufs.items()}
        self.scale = self.scale.copy()
        self.slot = None


class _Call(NamedTuple):
    """The bound buffers of one ``(n_slots, T)`` call shape (prefixes of the table's arenas)."""

    run: Any  # run(binding)
    binding: Any
    x: np.ndarray  # [n * T, C] float32 (the bound [n, T, C] buffer, slots one after the other)
    scale: np.ndarray  # [n, 1, C] float64
    ins: dict[str, np.ndarray]  # state name -> [.. n ..] in the graph's layout
    outs_major: dict[str, np.ndarray]  # state name -> the output buffer with its batch axis moved first
    y: np.ndarray  # [n, T, K] float32
    keep: tuple  # the OrtValues, alive as long as the binding


class SlotTable:
    """The streams of one :class:`StepModel` in slots of shared state tensors (see the module docstring).

    Parameters
    ----------
    model
        The step graph all slots run (its general session: B and T free).
    capacity
        Slots allocated at first (>= 1); the table doubles it whenever :meth:`add` finds no free slot.
    max_shapes
        How many ``(n_slots, T)`` call shapes keep their IOBinding (least recently built dropped first).
    """

    def __init__(self, model: StepModel, capacity: int = 8, max_shapes: int = 64) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be an integer >= 1, got {capacity!r}")
        if not isinstance(max_shapes, int) or max_shapes < 1:
            raise ValueError(f"max_shapes must be an integer >= 1, got {max_shapes!r}")
        self.model = model
        self.spec = model.spec
        self._states_spec = list(self.spec.states)
        self._max_shapes = max_shapes
        self._capacity = 0
        self._tensors: dict[str, np.ndarray] = {}
        self._major: dict[str, np.ndarray] = {}  # the same tensors, batch axis first (views)
        self._scale = np.ones((0, 1, self.spec.n_chans), dtype=np.float64)
        self._slots: list[SlotState | None] = []
        self._by_key: dict[Hashable, int] = {}
        self._free: list[int] = []  # a heap: the lowest free slot is reused first
        self._calls: dict[tuple[int, int], _Call] = {}
        self._names = [s.name for s in self._states_spec]
        self._solo: StreamState | None = None  # scratch state of the single-sample path, built on first use
        self._grow(capacity)

    # -- slots -----------------------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def slots(self) -> dict[Hashable, int]:
        """Stream key -> slot of every stream in the table."""
        return dict(self._by_key)

    def add(self, key: Hashable) -> int:
        """Give stream ``key`` a free slot with a fresh state (unit scale 1); return the slot."""
        if key in self._by_key:
            raise ValueError(f"stream key must be unique in the table, {key!r} already has slot {self._by_key[key]}")
        if not self._free:
            self._grow(2 * self._capacity)
        slot = heapq.heappop(self._free)
        self._scale[slot] = 1.0
        self._slots[slot] = SlotState(self, slot, key)
        self._by_key[key] = slot
        return slot

    def remove(self, slot: int) -> None:
        """Free ``slot``; its :class:`SlotState` keeps copies of its last values, the slot may be reused."""
        state = self.state(slot)
        state._detach()
        self._slots[slot] = None
        del self._by_key[state.key]
        heapq.heappush(self._free, slot)

    def state(self, slot: int) -> SlotState:
        """The state of an occupied ``slot``."""
        state = self._slots[slot] if isinstance(slot, (int, np.integer)) and 0 <= slot < self._capacity else None
        if state is None:
            raise KeyError(f"slot must be an occupied slot of the table (occupied: {sorted(self._by_key.values())}), "
                           f"got {slot!r}")
        return state

    def slot_of(self, key: Hashable) -> int:
        """The slot of stream ``key``."""
        try:
            return self._by_key[key]
        except KeyError:
            known = ", ".join(sorted(map(repr, self._by_key)))
            raise KeyError(f"stream key {key!r} has no slot (streams: {known})") from None

    def _grow(self, capacity: int) -> None:
        """Reallocate every tensor and arena for ``capacity`` slots, keeping the occupied slots' values."""
        old = self._capacity
        spec = self.spec
        for s in self._states_spec:
            tensor = np.zeros(_batched_shape(s, capacity), dtype=s.dtype)
            if old:
                tensor[(slice(None),) * s.batch_axis + (slice(0, old),)] = self._tensors[s.name]
            self._tensors[s.name] = tensor
            self._major[s.name] = np.moveaxis(tensor, s.batch_axis, 0)
        scale = np.ones((capacity, 1, spec.n_chans), dtype=np.float64)
        scale[:old] = self._scale
        self._scale = scale
        per_block = capacity * spec.max_block
        self._x_arena = np.zeros(per_block * spec.n_chans, dtype=np.float32)
        self._y_arena = np.zeros(per_block * spec.n_outputs, dtype=np.float32)
        self._scale_arena = np.ones(capacity * spec.n_chans, dtype=np.float64)
        self._in_arena = {s.name: np.zeros(int(np.prod(_batched_shape(s, capacity))), dtype=s.dtype)
                          for s in self._states_spec}
        self._out_arena = {name: np.zeros_like(a) for name, a in self._in_arena.items()}
        self._calls.clear()
        self._slots.extend([None] * (capacity - old))
        for state in self._slots:
            if state is not None:
                state._attach(self)
        for slot in range(old, capacity):
            heapq.heappush(self._free, slot)
        self._capacity = capacity

    # -- decoding --------------------------------------------------------------------------------------

    def step_ready(self, pending: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Decode raw ``x_i[T_i, C]`` of each slot ``i`` in ``pending``; return float32 ``y_i[T_i, K]`` per slot.

        Every slot's state advances by exactly its T_i samples (T_i = 0 gives ``[0, K]`` and changes
        nothing). Equal T_i (<= ``max_block``) take one onnxruntime call for all slots; otherwise rounds of
        the shortest remaining length over the slots still active (at most ``max_block`` each). Input is
        checked for every slot before any state changes.
        """
        c, k = self.spec.n_chans, self.spec.n_outputs
        table = self._slots
        slots: list[int] = []
        xs: list[np.ndarray] = []
        out: dict[int, np.ndarray] = {}
        first: list[tuple[SlotState, np.ndarray]] = []
        for slot, x in pending.items():
            try:
                state = table[slot] if slot >= 0 else None
            except (IndexError, TypeError):
                state = None
            if state is None:
                self.state(slot)  # raises, naming the occupied slots
            if type(x) is not np.ndarray:
                x = np.asarray(x)
            if x.ndim != 2 or x.shape[1] != c:
                raise ValueError(f"x of slot {slot} (stream {state.key!r}) must have shape (T, n_chans={c}), "
                                 f"got {x.shape}")
            if len(x):
                slots.append(slot)
                xs.append(x)
                if state._pending:
                    first.append((state, x[0]))
            else:
                out[slot] = np.empty((0, k), dtype=np.float32)
        if not slots:
            return out
        for state, x0 in first:  # only once every slot's input has been checked
            state.init_first(x0)
        lengths = [len(x) for x in xs]
        t_max = max(lengths)
        if min(lengths) == t_max and t_max <= self.spec.max_block:  # the usual wake-up: one call
            out.update(zip(slots, self._run(slots, xs, t_max).copy()))
            return out
        results = [np.empty((n, k), dtype=np.float32) for n in lengths]
        offsets = [0] * len(slots)
        active = list(range(len(slots)))
        while active:
            t = min(self.spec.max_block, min(lengths[j] - offsets[j] for j in active))
            y = self._run([slots[j] for j in active], [xs[j][offsets[j]:offsets[j] + t] for j in active], t)
            for r, j in enumerate(active):
                results[j][offsets[j]:offsets[j] + t] = y[r]
                offsets[j] += t
            active = [j for j in active if offsets[j] < lengths[j]]
        out.update(zip(slots, results))
        return out

    def _run(self, slots: list[int], xs: list[np.ndarray], t: int) -> np.ndarray:
        """One call over ``slots``, ``t`` samples each; ``y [n, t, K]`` (a buffer reused by the next call).

        One sample of one slot goes through the model's single-sample session (through a scratch state:
        the slot's values copied in and out), anything else through the general session.
        """
        if t == 1 and len(slots) == 1:
            return self._run_one(self._slots[slots[0]], xs[0])
        call = self._call(len(slots), t)
        idx = np.asarray(slots, dtype=np.intp)
        np.concatenate(xs, axis=0, out=call.x, casting="unsafe")
        np.take(self._scale, idx, axis=0, out=call.scale, mode="clip")
        for s in self._states_spec:
            np.take(self._tensors[s.name], idx, axis=s.batch_axis, out=call.ins[s.name], mode="clip")
        call.run(call.binding)
        for s in self._states_spec:
            self._major[s.name][idx] = call.outs_major[s.name]
        return call.y

    def _run_one(self, state: SlotState, x: np.ndarray) -> np.ndarray:
        """One sample ``x [1, C]`` of one slot through ``StepModel.run``'s single-sample path."""
        solo = self._solo
        if solo is None:
            solo = self._solo = self.model.new_state()
        solo._pending.clear()  # the slot's own values replace every state, initialised or not
        cur, names = solo._cur, self._names
        for name in names:
            np.copyto(solo._bufs[name][cur], state._bufs[name][0])
        np.copyto(solo.scale, state.scale)
        solo._unit_scale = state._unit_scale
        y = self.model.run(x, solo)
        cur = solo._cur
        for name in names:
            np.copyto(state._bufs[name][0], solo._bufs[name][cur])
        return y[None]

    def _call(self, n: int, t: int) -> _Call:
        """The bound buffers for ``n`` slots of ``t`` samples, built on first use."""
        call = self._calls.get((n, t))
        if call is not None:
            return call
        if len(self._calls) >= self._max_shapes:
            del self._calls[next(iter(self._calls))]
        spec, session = self.spec, self.model.session
        x = self._x_arena[:n * t * spec.n_chans].reshape(n, t, spec.n_chans)
        y = self._y_arena[:n * t * spec.n_outputs].reshape(n, t, spec.n_outputs)
        scale = self._scale_arena[:n * spec.n_chans].reshape(n, 1, spec.n_chans)
        binding = session.io_binding()
        keep = []

        def bind(name: str, array: np.ndarray, output: bool) -> None:
            value = ort.OrtValue.ortvalue_from_numpy(array)
            keep.append(value)
            (binding.bind_ortvalue_output if output else binding.bind_ortvalue_input)(name, value)

        bind(X, x, False)
        bind(SCALE, scale, False)
        bind(Y, y, True)
        ins, outs_major = {}, {}
        for s in self._states_spec:
            shape = _batched_shape(s, n)
            size = int(np.prod(shape))
            ins[s.name] = self._in_arena[s.name][:size].reshape(shape)
            out_buf = self._out_arena[s.name][:size].reshape(shape)
            outs_major[s.name] = np.moveaxis(out_buf, s.batch_axis, 0)
            bind(s.input, ins[s.name], False)
            bind(s.output, out_buf, True)
        run, (runnable,) = _fast_runner(session, [binding])
        call = _Call(run, runnable, x.reshape(n * t, spec.n_chans), scale, ins, outs_major, y, (keep, binding))
        self._calls[(n, t)] = call
        return call
