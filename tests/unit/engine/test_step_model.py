"""StepModel + StreamState on real step graphs: any chunking, batches of streams, state, units.

Reference everywhere: the float64 ``Preprocessor`` followed by the torch network over the whole sequence
(what export's parity check uses), or the same StepModel fed differently.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from bci_stream.engine.step_model import StepModel
from bci_stream.train.export.onnx_export import export_model
from bci_stream.core.registry import ModelRegistry
from bci_stream.train.nets.rnn import CausalRNN
from bci_stream.dsp.preprocess import PreprocessingConfig, Preprocessor

N_CHANS, SFREQ = 16, 1000.0


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[StepModel, CausalRNN, PreprocessingConfig]:
    """A random-weight GRU (16 ch at 1 kHz, H 24, 2 layers), 8-30 Hz band-pass + 50 Hz notch, CAR, standardisation."""
    torch.manual_seed(3)
    net = CausalRNN(N_CHANS, 3, hidden_size=24, n_layers=2).eval()
    rng = np.random.default_rng(3)
    pre = PreprocessingConfig(bandpass=(8.0, 30.0), notch=50.0, car=True,
                              mean=rng.normal(0, 0.1, N_CHANS).tolist(), std=rng.uniform(5, 15, N_CHANS).tolist())
    root = tmp_path_factory.mktemp("engine")
    export_model(net, root / "g", name="g", version="1", ch_names=[f"c{i}" for i in range(N_CHANS)], sfreq=SFREQ,
                 output_labels=["a", "b", "c"], preprocessing=pre)
    entry = ModelRegistry(root).get("g")
    return StepModel(entry.onnx_path, entry.card), net, pre


def eeg(n: int, seed: int, offset_uv: float = 500.0) -> np.ndarray:
    """EEG-like samples (µV) with per-channel DC offsets, as real amplifiers give."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] / SFREQ
    x = 10 * rng.standard_normal((n, N_CHANS)) + 8 * np.sin(2 * np.pi * 11 * t + rng.uniform(0, 6, N_CHANS))
    return (x + rng.uniform(-offset_uv, offset_uv, N_CHANS)).astype(np.float32)


def reference(net: CausalRNN, pre: PreprocessingConfig, x: np.ndarray) -> np.ndarray:
    z = Preprocessor(pre, N_CHANS, SFREQ).process(x.astype(np.float64))
    with torch.no_grad():
        return net(torch.from_numpy(z)[None])[0][0].numpy()


def chunk_sizes(n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.choice([1, 1, 1, 2, 7, 64, 129, 300])))
    sizes[-1] -= sum(sizes) - n
    return sizes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_any_mix_of_chunk_sizes_equals_the_float64_reference(bundle, seed):
    model, net, pre = bundle
    x = eeg(3000, seed)
    state, out, i = model.new_state(), [], 0
    for n in chunk_sizes(len(x), seed):
        out.append(model.run(x[i:i + n], state))
        i += n
    y = np.concatenate(out)
    assert y.shape == (3000, 3) and np.isfinite(y).all()
    np.testing.assert_allclose(y, reference(net, pre, x), rtol=0, atol=1e-4)


def test_float64_filter_holds_with_20_mv_dc_offsets(bundle):
    """A narrow band-pass at 1 kHz and ±20 mV offsets: the filter state in float64 keeps float32 accuracy."""
    model, net, pre = bundle
    x = eeg(10_000, 5, offset_uv=20_000.0)
    state = model.new_state()
    y = np.concatenate([model.run(x[i:i + 1], state) for i in range(len(x))])
    np.testing.assert_allclose(y, reference(net, pre, x), rtol=0, atol=1e-4)


def test_a_batch_of_streams_equals_each_stream_alone(bundle):
    model, _, _ = bundle
    xs = [eeg(400, s) for s in (10, 11, 12)]
    alone = []
    for x in xs:
        st = model.new_state()
        alone.append(model.run(x, st))
    states = [model.new_state() for _ in xs]
    stacked = np.stack(xs)
    cuts = ((0, 1), (1, 99), (100, 128), (228, 128), (356, 44))
    y = np.concatenate([model.step(stacked[:, i:i + n], states) for i, n in cuts], axis=1)
    for b in range(3):
        np.testing.assert_allclose(y[b], alone[b], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match=r"x must have 1 <= T <= max_block=128 samples, got 129"):
        model.step(np.zeros((3, 129, N_CHANS), np.float32), states)
    with pytest.raises(ValueError, match=r"x must have shape \(B=3, T, n_chans=16\), got \(2, 1, 16\)"):
        model.step(np.zeros((2, 1, N_CHANS), np.float32), states)


def test_snapshot_restore_gives_an_identical_continuation_and_is_atomic(bundle):
    model, _, _ = bundle
    x = eeg(600, 7)
    state = model.new_state()
    model.run(x[:250], state)
    snap = state.snapshot()
    assert set(snap) == {"zf", "h0"} and snap["zf"].dtype == np.float64 and snap["zf"].shape == (1, 10, N_CHANS)
    y1 = model.run(x[250:], state)
    other = model.new_state()
    other.restore(snap)
    np.testing.assert_array_equal(model.run(x[250:], other), y1)
    before = other.snapshot()
    bad = dict(snap, h0=np.full((2, 1, 24), np.nan))
    with pytest.raises(ValueError, match=r"state array 'h0' must be finite in float32, got nan$"):
        other.restore(bad)
    big = snap["h0"].astype(np.float64).tolist()
    big[1][0][3] = 1e300  # finite in JSON, beyond float32 (it said "got NaN or inf")
    with pytest.raises(ValueError, match=r"state array 'h0' must be finite in float32, got 1e\+300 \(beyond "
                                         r"float32's range\)$"):
        other.restore(dict(snap, h0=big))
    huge = snap["zf"].copy()
    huge[0, 4, 2] = 1.7e308  # finite in float64, but the filter overflows: the decoder went flat, nothing counted
    with pytest.raises(ValueError, match=r"state array 'zf' must hold values within ±1e\+15 \(no decoder's state "
                                         r"reaches it; beyond it the step overflows\), got 1.7e\+308$"):
        other.restore(dict(snap, zf=huge))
    huge[0, 4, 2] = -1e14  # far beyond any signal's, but the step stays finite: taken
    other.restore(dict(snap, zf=huge))
    other.restore(before)
    with pytest.raises(ValueError, match=r"state array 'zf' must have shape \(1, 10, 16\), got \(10, 16\)"):
        other.restore(dict(snap, zf=snap["zf"][0]))
    # JSON's other values (before: null read as NaN, true as 1, and 10**400 crashed the worker with OverflowError)
    for value, said in ((None, "null"), (True, "true"), (10**400, "an integer of 401 digits (beyond float64's range)"),
                        ("1.0", "'1.0'")):
        odd = snap["h0"].astype(np.float64).tolist()
        odd[0][0][2] = value
        with pytest.raises(ValueError, match=r"state array 'h0' must be a nested list of numbers of one shape, got "
                                             + re.escape(said) + "$"):
            other.restore(dict(snap, h0=odd))
    for k, v in other.snapshot().items():
        np.testing.assert_array_equal(v, before[k])  # nothing changed


def test_a_fresh_state_initialises_its_filter_from_the_first_sample_whatever_the_chunk(bundle):
    model, _, _ = bundle
    x = eeg(200, 8)
    a, b = model.new_state(), model.new_state()
    assert a.pending and "zf" not in a.snapshot()
    ya = model.run(x, a)
    yb = np.concatenate([model.run(x[:1], b), model.run(x[1:], b)])
    np.testing.assert_allclose(ya, yb, rtol=0, atol=1e-6)
    c = model.new_state()
    c.restore({"h0": np.zeros((2, 1, 24))})  # a snapshot taken before the first sample: filter still pending
    assert c.pending
    np.testing.assert_allclose(model.run(x, c), ya, rtol=0, atol=1e-6)


def test_scale_converts_the_stream_unit_inside_the_graph(bundle):
    model, _, _ = bundle
    x_uv = eeg(500, 9)
    ref = model.run(x_uv, model.new_state())
    volts = model.new_state()
    volts.set_scale(1e6)
    y = np.concatenate([model.run(x_uv[i:i + 1] * np.float32(1e-6), volts) for i in range(len(x_uv))])
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match=r"scale must be finite and non-zero for every channel"):
        volts.set_scale(0.0)


def test_reset_decay_and_adopt(bundle):
    model, _, _ = bundle
    x = eeg(300, 10)
    state = model.new_state()
    model.run(x, state)
    snap = state.snapshot()
    state.decay(0.5)
    np.testing.assert_allclose(state.snapshot()["h0"], 0.5 * snap["h0"], rtol=1e-6)
    np.testing.assert_array_equal(state.snapshot()["zf"], snap["zf"])
    fresh = model.new_state()
    fresh.adopt(state, roles=("filter",))
    assert not fresh.pending and not fresh.snapshot()["h0"].any()
    np.testing.assert_array_equal(fresh.snapshot()["zf"], snap["zf"])
    state.reset(roles=("recurrent",))
    assert not state.snapshot()["h0"].any() and not state.pending
    state.reset()
    assert state.pending and state.norms() == {"h0": [0.0, 0.0]}
    with pytest.raises(ValueError, match=r"decay factor must be in \[0, 1\], got 1.5"):
        state.decay(1.5)


def test_input_checks(bundle):
    model, _, _ = bundle
    with pytest.raises(ValueError, match=r"x must have shape \(T, n_chans=16\), got \(5, 3\)"):
        model.run(np.zeros((5, 3), np.float32), model.new_state())
    assert model.run(np.zeros((0, N_CHANS), np.float32), model.new_state()).shape == (0, 3)


def test_graph_metadata_carries_the_step_description(bundle):
    import onnx

    from bci_stream.core.contract import METADATA_KEY, StepSpec

    model, _, _ = bundle
    path = Path(model.session._model_path) if hasattr(model.session, "_model_path") else None
    if path is None:
        pytest.fail("the session does not expose its model path")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert StepSpec.model_validate_json(props[METADATA_KEY]) == model.spec


def test_the_single_sample_graph_equals_the_step_graph_and_has_no_data_movement_nodes(bundle):
    """Export writes model.step1.onnx (B = T = 1, per-layer state); one sample through it equals one sample
    through the general step graph, whatever the state."""
    import onnx

    model, _, _ = bundle
    single = model.spec.single_step
    assert single is not None and single.split == {"state/h0": 2}
    folder = Path(model.session._model_path).parent
    graph = onnx.load(str(folder / single.file)).graph
    assert not {n.op_type for n in graph.node} & {"Transpose", "Squeeze", "Shape", "Slice", "Split"}
    assert {i.name for i in graph.input} == {"xz", "state/h0/0", "state/h0/1"}  # sample and filter state packed
    assert single.sample_and_filter == "zf"
    x = eeg(400, 12)
    one, general = model.new_state(), model.new_state()
    y_one = np.concatenate([model.run(x[i:i + 1], one) for i in range(len(x))])  # the single-sample graph
    y_gen = np.concatenate([model.step(x[None, i:i + 1], [general])[0] for i in range(len(x))])  # general graph
    np.testing.assert_allclose(y_one, y_gen, rtol=0, atol=1e-6)
    for name in one.names:
        np.testing.assert_allclose(one.arrays[name], general.arrays[name], rtol=0, atol=1e-6)


def test_the_registry_refuses_a_changed_single_sample_graph(bundle, tmp_path):
    import shutil

    from bci_stream.core.errors import ModelError

    model, _, _ = bundle
    folder = Path(model.session._model_path).parent
    shutil.copytree(folder, tmp_path / "g")
    path = tmp_path / "g" / model.spec.single_step.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"sha256 of .*model.step1.onnx is [0-9a-f]{64}, but its card .* says"):
        ModelRegistry(tmp_path).get("g")
    path.unlink()
    with pytest.raises(ModelError, match=r"ONNX file .*model.step1.onnx does not exist"):
        ModelRegistry(tmp_path).get("g")
