"""SlotTable on real step graphs (GRU, LSTM, CSP+LDA, Riemann) in real onnxruntime sessions.

The reference everywhere is the same stream decoded alone by ``StepModel.run`` with its own
:class:`StreamState`: many streams in one table, stepped together with different chunk lengths, must give
each stream exactly (<= 1e-5) what it gives alone, and whatever happens to one slot (reset, restore, decay,
NaN input, removal, growth of the table) must leave the others' outputs unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.engine.slots import SlotState, SlotTable
from bci_stream.engine.step_model import StepModel
from support.common import test_signal

ATOL = 1e-5
FAMILIES = ["tiny-gru", "tiny-lstm", "csp_lda", "riemann"]


def _classical_params(family: str, n_chans: int, seed: int):
    """Random but valid classical parameters (8-30 Hz band-pass, 2 classes) at 500 Hz."""
    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.classical.params import CspLdaParams, RiemannParams

    rng = np.random.default_rng(seed)
    common = dict(ch_names=[f"E{i + 1}" for i in range(n_chans)], sfreq=500.0, tau_s=0.5, labels=["a", "b"],
                  preprocessing=PreprocessingConfig(bandpass=(8.0, 30.0), car=False))
    if family == "csp_lda":
        width = 4
        return CspLdaParams(filters=rng.standard_normal((n_chans, width)) / np.sqrt(n_chans),
                            power_init=rng.uniform(5.0, 50.0, width), coef=0.5 * rng.standard_normal((2, width)),
                            intercept=0.1 * rng.standard_normal(2), **common)
    a = rng.standard_normal((n_chans, 2 * n_chans))
    cov = 10.0 * (a @ a.T / (2 * n_chans) + 0.5 * np.eye(n_chans))
    w, v = np.linalg.eigh(cov)
    ref_isqrt = (v / np.sqrt(w)) @ v.T
    n_feat = n_chans * (n_chans + 1) // 2
    return RiemannParams(projection=None, shrinkage=0.05, cov_init=cov, ref_isqrt=(ref_isqrt + ref_isqrt.T) / 2,
                         coef=0.2 * rng.standard_normal((2, n_feat)), intercept=0.1 * rng.standard_normal(2), **common)


@pytest.fixture(scope="module")
def models(models_dir: Path, tmp_path_factory) -> dict[str, StepModel]:
    """The session's tiny GRU/LSTM (8 ch, H16, L2, every preprocessing stage) and two classical decoders."""
    out = {}
    for name in ("tiny-gru", "tiny-lstm"):
        entry = ModelRegistry(models_dir).get(name)
        out[name] = StepModel(entry.onnx_path, entry.card)
    pytest.importorskip("onnx", reason="the classical exporters need the train extra (onnx)")
    from bci_stream.train.classical.export import export_csp_lda, export_riemann, synthetic_parity_input

    root = tmp_path_factory.mktemp("slots-classical")
    for i, (family, export) in enumerate((("csp_lda", export_csp_lda), ("riemann", export_riemann))):
        params = _classical_params(family, 6, seed=10 + i)
        export(params, root / family, name=family, version="1.0.0",
               parity_input=synthetic_parity_input(params, 300, seed=i))
        entry = ModelRegistry(root).get(family)
        out[family] = StepModel(entry.onnx_path, entry.card)
    return out


def _signal(model: StepModel, n: int, seed: int) -> np.ndarray:
    return test_signal(n, seed=seed, n_chans=model.n_chans)


def _alone(model: StepModel, x: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    state = model.new_state()
    if scale != 1.0:
        state.set_scale(scale)
    y = model.run(x, state)
    return y, state.snapshot()


def _decode(table: SlotTable, xs: dict[int, np.ndarray], chunks: list[dict[int, int]]) -> dict[int, np.ndarray]:
    """Feed each slot its signal in the given per-wake-up chunk lengths; the outputs concatenated."""
    pos = dict.fromkeys(xs, 0)
    out: dict[int, list[np.ndarray]] = {s: [] for s in xs}
    for wake in chunks:
        pending = {s: xs[s][pos[s]:pos[s] + n] for s, n in wake.items()}
        for s, y in table.step_ready(pending).items():
            assert y.shape == (len(pending[s]), table.spec.n_outputs) and y.dtype == np.float32
            out[s].append(y)
            pos[s] += len(pending[s])
    return {s: np.concatenate(v) for s, v in out.items()}


def _random_chunks(slots: list[int], n_wakes: int, seed: int, high: int = 40) -> list[dict[int, int]]:
    rng = np.random.default_rng(seed)
    return [{s: int(rng.integers(1, high + 1)) for s in slots if rng.random() < 0.85} for _ in range(n_wakes)]


@pytest.mark.parametrize("family", FAMILIES)
def test_eight_slots_with_random_chunks_equal_each_stream_alone(models, family):
    model = models[family]
    table = SlotTable(model, capacity=8)
    slots = [table.add(f"s{i}") for i in range(8)]
    assert slots == list(range(8)) and table.capacity == 8
    table.state(slots[3]).set_scale(1e6)  # stream 3 arrives in volts
    chunks = _random_chunks(slots, 30, seed=1)
    chunks.insert(5, {0: 300, 1: 1, 2: 0, 5: 129})  # longer than max_block, a single sample, nothing
    totals = {s: sum(w.get(s, 0) for w in chunks) for s in slots}
    xs = {s: _signal(model, totals[s], seed=20 + s) for s in slots}
    xs[3] = xs[3] * np.float32(1e-6)
    got = _decode(table, xs, chunks)
    for s in slots:
        y_alone, state_alone = _alone(model, xs[s], scale=1e6 if s == 3 else 1.0)
        assert np.isfinite(got[s]).all()
        np.testing.assert_allclose(got[s], y_alone, rtol=0, atol=ATOL, err_msg=f"slot {s}")
        snap = table.state(s).snapshot()
        assert snap.keys() == state_alone.keys()
        for name, value in state_alone.items():
            np.testing.assert_allclose(snap[name], value, rtol=1e-5, atol=1e-4, err_msg=f"slot {s} state {name}")


def test_equal_lengths_take_one_call_and_unequal_lengths_take_rounds(models, monkeypatch):
    model = models["tiny-gru"]
    table = SlotTable(model, capacity=4)
    for i in range(3):
        table.add(i)
    calls: list[tuple[list[int], int]] = []
    run = table._run

    def counting(slots, xs, t):
        calls.append((list(slots), t))
        return run(slots, xs, t)

    monkeypatch.setattr(table, "_run", counting)
    x = _signal(model, 400, seed=3)
    table.step_ready({0: x[:5], 1: x[:5], 2: x[:5]})
    assert calls == [([0, 1, 2], 5)]
    calls.clear()
    table.step_ready({2: x[:3], 0: x[:7], 1: x[:0]})
    assert calls == [([2, 0], 3), ([0], 4)]  # in the order given
    calls.clear()
    table.step_ready({0: x[:5], 1: x[:300]})  # max_block = 128
    assert calls == [([0, 1], 5), ([1], 128), ([1], 128), ([1], 39)]


def test_reset_restore_and_decay_of_one_slot_leave_the_others_unchanged(models):
    model = models["tiny-gru"]
    table = SlotTable(model, capacity=4)
    slots = [table.add(k) for k in "abcd"]
    xs = {s: _signal(model, 600, seed=40 + s) for s in slots}
    first = _decode(table, {s: xs[s][:300] for s in slots}, [{s: 100 for s in slots}] * 3)
    snap = table.state(1).snapshot()
    table.step_ready({s: xs[s][300:350] for s in slots})  # slot 1 moves on, then goes back to its snapshot
    table.state(0).reset(("recurrent",))
    table.state(1).restore(snap)
    table.state(2).decay(0.5)
    pending = {0: xs[0][350:600], 1: xs[1][300:550], 2: xs[2][350:600], 3: xs[3][350:600]}
    got = table.step_ready(pending)
    # references: each stream alone through the same operations
    y3, _ = _alone(model, xs[3])
    np.testing.assert_allclose(got[3], y3[350:600], rtol=0, atol=ATOL)  # untouched slot: as if alone
    np.testing.assert_allclose(first[3], y3[:300], rtol=0, atol=ATOL)
    for s, op in ((0, lambda st: st.reset(("recurrent",))), (2, lambda st: st.decay(0.5)), (1, None)):
        st = model.new_state()
        model.run(xs[s][:300], st)
        if op is None:
            ref = model.run(xs[s][300:550], st)
        else:
            model.run(xs[s][300:350], st)
            op(st)
            ref = model.run(xs[s][350:600], st)
        np.testing.assert_allclose(got[s], ref, rtol=0, atol=ATOL, err_msg=f"slot {s}")


def test_remove_then_add_reuses_the_slot_with_a_fresh_state(models):
    model = models["tiny-lstm"]
    table = SlotTable(model, capacity=3)
    for k in ("a", "b", "c"):
        table.add(k)
    x = _signal(model, 200, seed=5)
    table.step_ready({s: x for s in range(3)})
    old = table.state(1)
    old.set_scale(2.0)
    table.remove(1)
    assert old.slot is None and table.slots == {"a": 0, "c": 2} and len(table) == 2
    with pytest.raises(KeyError, match=r"slot must be an occupied slot of the table \(occupied: \[0, 2\]\), got 1"):
        table.state(1)
    assert table.add("d") == 1 and table.slot_of("d") == 1 and table.capacity == 3
    fresh = table.state(1)
    assert fresh.pending and fresh.key == "d" and (fresh.scale == 1.0).all()
    # a SlotState sets up everything a StreamState has (but the single-sample bindings it refuses)
    assert set(vars(model.new_state())) - set(vars(fresh)) == {"_bindings"}
    assert all(not v.any() for v in fresh.snapshot().values())
    old.reset()  # the removed slot's old state object cannot reach the new owner
    old.restore({k: np.full_like(v, 7.0) for k, v in fresh.snapshot().items()})
    x2 = _signal(model, 150, seed=6)
    got = table.step_ready({0: x2, 1: x2})
    np.testing.assert_allclose(got[1], _alone(model, x2)[0], rtol=0, atol=ATOL)
    ref0 = model.new_state()
    model.run(x, ref0)
    np.testing.assert_allclose(got[0], model.run(x2, ref0), rtol=0, atol=ATOL)
    with pytest.raises(ValueError, match=r"stream key must be unique in the table, 'a' already has slot 0"):
        table.add("a")
    with pytest.raises(KeyError, match=r"stream key 'b' has no slot \(streams: 'a', 'c', 'd'\)"):
        table.slot_of("b")


def test_growth_doubles_the_capacity_and_keeps_every_state(models):
    model = models["tiny-gru"]
    table = SlotTable(model, capacity=2)
    a, b = table.add("a"), table.add("b")
    held = table.state(a)  # a state object taken before the growth stays the slot's state
    xs = [_signal(model, 500, seed=50 + i) for i in range(5)]
    table.step_ready({a: xs[0][:200], b: xs[1][:120]})
    new = [table.add(k) for k in "cde"]
    assert new == [2, 3, 4] and table.capacity == 8
    got = table.step_ready({a: xs[0][200:], b: xs[1][120:], 2: xs[2], 3: xs[3][:70], 4: xs[4][:1]})
    for s, start in ((a, 200), (b, 120)):
        np.testing.assert_allclose(got[s], _alone(model, xs[s])[0][start:], rtol=0, atol=ATOL, err_msg=f"slot {s}")
    np.testing.assert_allclose(got[2], _alone(model, xs[2])[0], rtol=0, atol=ATOL)
    np.testing.assert_allclose(got[3], _alone(model, xs[3][:70])[0], rtol=0, atol=ATOL)
    for name, value in _alone(model, xs[0])[1].items():
        np.testing.assert_allclose(held.snapshot()[name], value, rtol=1e-5, atol=1e-4)


def test_nan_in_one_slot_does_not_touch_another_slot(models):
    model = models["tiny-gru"]
    table = SlotTable(model, capacity=4)
    slots = [table.add(i) for i in range(4)]
    xs = {s: _signal(model, 300, seed=60 + s) for s in slots}
    clean = xs[1]
    xs[1] = bad = clean.copy()
    bad[100:110, 2] = np.nan
    bad[150] = np.inf
    got = _decode(table, xs, [{s: 60 for s in slots}] * 5)
    # the bad slot's own output is what the same chunks give alone (a non-finite sample spoils its whole
    # block inside the graph; what to do about NaN is the service's policy)
    alone = model.new_state()
    bad_alone = np.concatenate([model.run(bad[i:i + 60], alone) for i in range(0, 300, 60)])
    assert not np.allclose(got[1][60:], _alone(model, clean)[0][60:], rtol=0, atol=1e-3, equal_nan=True)
    np.testing.assert_allclose(got[1], bad_alone, rtol=0, atol=ATOL, equal_nan=True)
    for s in (0, 2, 3):
        np.testing.assert_allclose(got[s], _alone(model, xs[s])[0], rtol=0, atol=ATOL, err_msg=f"slot {s}")


def test_bad_input_is_refused_before_any_state_changes(models):
    model = models["tiny-gru"]
    table = SlotTable(model, capacity=2)
    a, b = table.add("a"), table.add("b")
    x = _signal(model, 50, seed=7)
    table.step_ready({a: x, b: x})
    before = table.state(a).snapshot()
    with pytest.raises(ValueError, match=r"x of slot 1 \(stream 'b'\) must have shape \(T, n_chans=8\), got \(5, 3\)"):
        table.step_ready({a: x, b: np.zeros((5, 3), np.float32)})
    with pytest.raises(KeyError, match=r"slot must be an occupied slot of the table \(occupied: \[0, 1\]\), got 7"):
        table.step_ready({a: x, 7: x})
    for name, value in table.state(a).snapshot().items():
        np.testing.assert_array_equal(value, before[name])
    assert table.step_ready({a: x[:0]})[a].shape == (0, 3) and table.step_ready({}) == {}
    with pytest.raises(TypeError, match=r"the state of slot 0 \(stream 'a'\) is advanced by its SlotTable.step_ready"):
        model.run(x[:1], table.state(a))
    assert isinstance(table.state(a), SlotState)
    with pytest.raises(ValueError, match=r"capacity must be an integer >= 1, got 0"):
        SlotTable(model, capacity=0)
