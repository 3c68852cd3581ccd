"""The variants of the per-sample inference benchmark: seven ways of doing one step, each a :class:`_Variant`.

``ours`` and ``ours_batched`` (the engine's ``StepModel``), raw onnxruntime (``ort_run``, and IOBinding on the step
graph or on the bare network: :func:`iobinding_stepper`), torch eager with and without numpy preprocessing. What each
one runs is described in :mod:`latency_bench.inference`; :mod:`latency_bench.inference_timing` times them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Variant:
    """One way of doing a single step: ``step(x[1, C])`` returns the output; ``final_state()`` the state.

    ``per_call`` is the number of stream-samples one call decodes (its time is divided by it).
    """

    name: str
    step: Callable[[np.ndarray], Any]
    final_state: Callable[[], dict[str, np.ndarray]] | None
    per_call: int = 1


def _ours(model: Any) -> _Variant:
    state = model.new_state()
    run = model.run
    return _Variant("ours", lambda x: run(x, state), lambda: dict(state.arrays))


def _ours_batched(model: Any, others: np.ndarray) -> _Variant:
    """``StepModel.step`` over ``1 + others.shape[1]`` streams: stream 0 gets the shared row, stream k the
    rows ``others[:, k - 1]`` in turn (cycled)."""
    n_streams = others.shape[1] + 1
    states = [model.new_state() for _ in range(n_streams)]
    buf = np.zeros((n_streams, 1, model.n_chans), dtype=np.float32)
    head, rest = buf[0], buf[1:, 0]
    step = model.step
    pool = len(others)
    i = [0]

    def run(x: np.ndarray) -> np.ndarray:
        np.copyto(head, x)
        np.copyto(rest, others[i[0] % pool])
        i[0] += 1
        return step(buf, states)

    return _Variant("ours_batched", run, lambda: dict(states[0].arrays), per_call=n_streams)


def _ort_run(session: Any, names: list[tuple[str, str, str]], init: dict[str, np.ndarray],
             consts: dict[str, np.ndarray]) -> _Variant:
    """``session.run`` with a feed dict; ``names`` = ``(state, graph input, graph output)``."""
    state = {n: init[n].copy() for n, _, _ in names}
    output_names = ["y", *(o for _, _, o in names)]
    run = session.run

    def step(x: np.ndarray) -> np.ndarray:
        feed = {"x": x[None], **consts}
        for n, i, _ in names:
            feed[i] = state[n]
        y, *new = run(output_names, feed)
        for (n, _, _), v in zip(names, new):
            state[n] = v
        return y

    return _Variant("ort_run", step, lambda: dict(state))


def iobinding_stepper(session: Any, n_chans: int, n_outputs: int, names: list[tuple[str, str, str]],
                      init: dict[str, np.ndarray], consts: dict[str, np.ndarray] | None = None,
                      ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[], dict[str, np.ndarray]]]:
    """Raw onnxruntime IOBinding on a B = T = 1 graph: ``(step(x[1, C]) -> y, final_state())``.

    ``x`` is copied into a bound buffer; ``y`` is the bound output buffer (not a copy). ``names`` are
    ``(state, graph input, graph output)``; each state lives in two buffers and two prebuilt bindings
    alternate (ping-pong: binding A reads buffer 0 and writes buffer 1, binding B the reverse).
    ``consts`` are inputs bound once (e.g. the step graph's ``scale``).
    """
    import onnxruntime as ort

    x_buf = np.zeros((1, 1, n_chans), dtype=np.float32)
    y_buf = np.zeros((1, 1, n_outputs), dtype=np.float32)
    keep = [ort.OrtValue.ortvalue_from_numpy(a) for a in (x_buf, y_buf)]
    const_vals = {k: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v)) for k, v in (consts or {}).items()}
    bufs = {n: (np.array(init[n], copy=True), np.array(init[n], copy=True)) for n, _, _ in names}
    vals = {n: [ort.OrtValue.ortvalue_from_numpy(b) for b in pair] for n, pair in bufs.items()}
    bindings = []
    for src in (0, 1):
        binding = session.io_binding()
        binding.bind_ortvalue_input("x", keep[0])
        binding.bind_ortvalue_output("y", keep[1])
        for k, v in const_vals.items():
            binding.bind_ortvalue_input(k, v)
        for n, n_in, n_out in names:
            binding.bind_ortvalue_input(n_in, vals[n][src])
            binding.bind_ortvalue_output(n_out, vals[n][1 - src])
        bindings.append(binding)
    binding_a, binding_b = bindings
    run = session.run_with_iobinding
    x_row = x_buf[0]
    cur = [0]  # which state buffer holds the current state

    def step(x: np.ndarray) -> np.ndarray:
        np.copyto(x_row, x)
        if cur[0]:
            run(binding_b)
            cur[0] = 0
        else:
            run(binding_a)
            cur[0] = 1
        return y_buf

    step.keep_alive = (keep, const_vals, vals, bindings)  # type: ignore[attr-defined]
    return step, lambda: {n: pair[cur[0]] for n, pair in bufs.items()}


def _ort_iobinding(name: str, *args: Any, **kwargs: Any) -> _Variant:
    step, final = iobinding_stepper(*args, **kwargs)
    return _Variant(name, step, final)


def _torch_eager(model: Any, state_names: list[str]) -> _Variant:
    import torch

    state = list(model.zero_state(1))
    from_numpy = torch.from_numpy

    def step(x: np.ndarray) -> np.ndarray:
        y, *new = model(from_numpy(x)[None], *state)
        state[:] = new
        return y.numpy()

    return _Variant("torch_eager", step, lambda: {n: s.numpy() for n, s in zip(state_names, state)})


def _torch_preprocess(model: Any, preprocessor: Any, state_names: list[str]) -> _Variant:
    import torch

    state = list(model.zero_state(1))
    from_numpy = torch.from_numpy
    process = preprocessor.process

    def step(x: np.ndarray) -> np.ndarray:
        y, *new = model(from_numpy(process(x))[None], *state)
        state[:] = new
        return y.numpy()

    return _Variant("torch_preprocess", step, lambda: {n: s.numpy() for n, s in zip(state_names, state)})
