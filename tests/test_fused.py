"""FusedPipeline: preprocessing + decoder step in one onnxruntime call, on the state of the unfused pipeline.

Reference everywhere: the float64 ``Preprocessor`` followed by ``Decoder.run`` (real onnxruntime sessions,
models exported with the real exporter).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.inference.decoder import Decoder
from bci_stream.inference.fused import FusedPipeline
from bci_stream.inference.registry import ModelRegistry
from bci_stream.signal.preprocess import PreprocessingConfig, Preprocessor
from conftest import export_tiny, test_signal

TOL = 1e-4


def unfused(entry, x: np.ndarray, chunks: list[int] | None = None, card=None) -> np.ndarray:
    """Outputs of Preprocessor + Decoder over ``x``, in ``chunks`` (default: one call)."""
    card = card or entry.card
    dec = Decoder(entry.onnx_path, card)
    pre, state = Preprocessor(card.preprocessing, card.n_chans, card.sfreq), dec.new_state()
    bounds = np.cumsum([0, *(chunks or [len(x)])])
    return np.concatenate([dec.run(pre.process(x[a:b]), state) for a, b in zip(bounds[:-1], bounds[1:])])


def export_eeg_model(out_dir: Path):
    """A random-weight GRU (64 ch, 1 kHz, H 32, 2 layers) with the benchmark's preprocessing."""
    import torch

    from bci_stream.export.onnx_export import export_model
    from bci_stream.nets.rnn import CausalRNN

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = CausalRNN(64, 4, hidden_size=32, n_layers=2, cell="gru").eval()
    pre = PreprocessingConfig(bandpass=(8.0, 30.0), car=True, mean=rng.normal(0, 0.1, 64).tolist(),
                              std=rng.uniform(2, 6, 64).tolist())
    export_model(model, out_dir / "eeg-gru", name="eeg-gru", version="1.0.0", ch_names=[f"E{i}" for i in range(64)],
                 sfreq=1000.0, output_labels=["a", "b", "c", "d"], preprocessing=pre, parity_samples=200,
                 training={"data": "random weights, test fixture"})
    return ModelRegistry(out_dir).get("eeg-gru")


def random_chunks(n: int, rng: np.random.Generator) -> list[int]:
    """Chunk sizes summing to n: mostly single samples, some small and some large chunks."""
    sizes = []
    while sum(sizes) < n:
        kind = rng.random()
        size = 1 if kind < 0.6 else int(rng.integers(2, 8)) if kind < 0.9 else int(rng.integers(8, 200))
        sizes.append(min(size, n - sum(sizes)))
    return sizes


@pytest.fixture(scope="module", params=["tiny-gru", "tiny-lstm"])
def entry(request, models_dir):
    return ModelRegistry(models_dir).get(request.param)


@pytest.mark.parametrize("simplify", [True, False])
def test_fused_graph_io(entry, simplify):
    pipe = FusedPipeline(entry.onnx_path, entry.card, simplify=simplify)
    n_states = 2 * len(pipe.preprocessor.sos)  # band-pass order 4 (4 sections) + notch (1 section)
    assert n_states == pipe.n_filter_states == 10
    state = [("h0", "hn"), ("c0", "cn")] if entry.card.architecture.cell == "lstm" else [("h0", "hn")]
    inputs = {i.name: (i.type, i.shape) for i in pipe.session.get_inputs()}
    outputs = {o.name: o.type for o in pipe.session.get_outputs()}
    assert inputs["xz"] == ("tensor(double)", [1 + n_states, 8])
    assert outputs["zf_out"] == "tensor(double)"
    if simplify:  # the tiny models have 2 layers: one state input/output per layer
        assert set(inputs) == {"xz", *(f"{s}/{layer}" for s, _ in state for layer in (0, 1))}
        assert set(outputs) == {"y", "zf_out", *(f"{s}/{layer}" for _, s in state for layer in (0, 1))}
        assert inputs["h0/1"] == ("tensor(float)", [1, 1, 16])
    else:
        assert set(inputs) == {"xz", *(s for s, _ in state)}
        assert set(outputs) == {"y", "zf_out", *(s for _, s in state)}
    assert pipe.state_names == [s for s, _ in state] + ["zf"]


def test_simplified_graph_has_no_data_free_nodes(entry):
    import onnx

    from bci_stream.inference.fused import simplify_for_single_sample

    model = onnx.load(str(entry.onnx_path))
    ops = [n.op_type for n in model.graph.node if n.op_type != "Constant"]
    simplified = simplify_for_single_sample(model).graph
    simple = [n.op_type for n in simplified.node]
    data_free = ("Transpose", "Slice", "Concat", "Squeeze")
    assert ops.count("Transpose") == 2 and ops.count("Slice") >= 2 and "Concat" in ops and "Squeeze" in ops
    assert [op for op in ops if op not in data_free] == simple  # only the arithmetic is left, no Constant
    rnn = [n for n in simplified.node if n.op_type in ("GRU", "LSTM")]
    assert [n.output[0] for n in rnn] == ["", ""]  # the output sequence Y is not computed
    assert rnn[1].input[0] == rnn[0].output[1] == "hn/0"  # layer 2 reads layer 1's last state


@pytest.mark.parametrize("simplify", [True, False])
def test_single_steps_equal_the_unfused_pipeline(entry, simplify):
    x = test_signal(2000, seed=3)  # µV with ±500 µV DC offsets
    pipe = FusedPipeline(entry.onnx_path, entry.card, simplify=simplify)
    y = np.concatenate([pipe.run(x[t : t + 1]) for t in range(len(x))])
    y_ref = unfused(entry, x, [1] * len(x))
    assert y.dtype == np.float32 and y.shape == (2000, 3)
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=TOL)
    assert np.abs(y[0] - y_ref[0]).max() <= TOL  # the first sample initialises the filter as Preprocessor does


@pytest.mark.parametrize("seed", [0, 1])
def test_any_mix_of_chunk_sizes_equals_the_unfused_pipeline(entry, seed):
    rng = np.random.default_rng(seed)
    x = test_signal(3000, seed=seed)
    chunks = random_chunks(len(x), rng)
    assert chunks.count(1) > 50 and max(chunks) > 8
    pipe = FusedPipeline(entry.onnx_path, entry.card)
    bounds = np.cumsum([0, *chunks])
    y = np.concatenate([pipe.run(x[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])
    y_ref = unfused(entry, x)  # one chunk: sosfilt and the chunk graph over the whole signal
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=TOL)
    # The state matches too: the filter state is scipy's zi, the recurrent state the decoder's.
    pre = Preprocessor(entry.card.preprocessing, 8, entry.card.sfreq)
    pre.process(x)
    np.testing.assert_allclose(pipe.filter_state.reshape(pre.filter_state.shape), pre.filter_state,
                               rtol=1e-9, atol=1e-9 * np.abs(pre.filter_state).max())


def test_first_chunk_longer_than_one_sample_initialises_the_filter(entry):
    x = test_signal(400, seed=5)
    pipe = FusedPipeline(entry.onnx_path, entry.card)
    y = np.concatenate([pipe.run(x[:50]), *(pipe.run(x[t : t + 1]) for t in range(50, 400))])
    np.testing.assert_allclose(y, unfused(entry, x), rtol=0, atol=TOL)


def test_float64_filter_matches_the_float64_preprocessor_on_10000_samples_of_eeg(tmp_path):
    """The issue's case: 64 channels at 1 kHz, 8-30 Hz band-pass, CAR, standardisation, EEG with DC offsets."""
    from bci_stream.sim.eeg import SyntheticEEG

    entry = export_eeg_model(tmp_path)
    eeg, _ = SyntheticEEG(n_chans=64, sfreq=1000.0, seed=2).generate(10_000)
    x = eeg + np.random.default_rng(0).uniform(-500, 500, 64).astype(np.float32)  # amplifier offsets, µV
    pipe = FusedPipeline(entry.onnx_path, entry.card)
    y = np.concatenate([pipe.run(x[t : t + 1]) for t in range(len(x))])
    y_ref = unfused(entry, x, [1] * len(x))
    assert np.abs(y - y_ref).max() <= TOL


def test_snapshot_restore_gives_an_identical_continuation(entry):
    x = test_signal(600, seed=7)
    pipe = FusedPipeline(entry.onnx_path, entry.card)
    for t in range(100):
        pipe.run(x[t : t + 1])
    pipe.run(x[100:150])
    snap = pipe.snapshot()
    assert set(snap) == set(pipe.state_names) and snap["zf"].shape == (10, 8) and snap["zf"].dtype == np.float64
    y1 = np.concatenate([pipe.run(x[t : t + 1]) for t in range(150, 300)] + [pipe.run(x[300:])])
    other = FusedPipeline(entry.onnx_path, entry.card, decoder=pipe.decoder)
    other.restore(snap)
    y2 = np.concatenate([other.run(x[t : t + 1]) for t in range(150, 300)] + [other.run(x[300:])])
    np.testing.assert_array_equal(y1, y2)
    # The snapshot is a copy: running on does not change it.
    assert not np.array_equal(snap["zf"], pipe.snapshot()["zf"])


def test_restore_is_checked_and_atomic(entry):
    pipe = FusedPipeline(entry.onnx_path, entry.card)
    pipe.run(test_signal(20))
    snap = pipe.snapshot()
    before = pipe.snapshot()
    bad_zf = {**snap, "zf": np.zeros((4, 8))}
    with pytest.raises(ValueError, match=r"state array 'zf' must have shape \(10, 8\), got \(4, 8\)"):
        pipe.restore(bad_zf)
    with pytest.raises(ValueError, match=r"state array 'zf' must be finite, got NaN or inf"):
        pipe.restore({**snap, "zf": np.full((10, 8), np.nan)})
    with pytest.raises(ValueError, match=r"state array 'h0' must have shape \(2, 1, 16\), got \(1, 1, 16\)"):
        pipe.restore({**snap, "h0": np.zeros((1, 1, 16))})
    after = pipe.snapshot()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])


def test_snapshot_before_the_first_sample_restores_an_uninitialised_filter(entry):
    x = test_signal(200, seed=9)
    fresh = FusedPipeline(entry.onnx_path, entry.card)
    snap = fresh.snapshot()
    assert "zf" not in snap and fresh.filter_state is None
    used = FusedPipeline(entry.onnx_path, entry.card, decoder=fresh.decoder)
    used.run(test_signal(100, seed=1))
    used.restore(snap)
    np.testing.assert_array_equal(used.run(x), fresh.run(x))


def test_reset_and_reset_recurrent(entry):
    x = test_signal(300, seed=4)
    pipe = FusedPipeline(entry.onnx_path, entry.card)
    y_first = np.concatenate([pipe.run(x[t : t + 1]) for t in range(100)])
    pipe.reset()
    assert pipe.filter_state is None and all(v == 0 for v in pipe.state.norms()["h0"])
    np.testing.assert_array_equal(np.concatenate([pipe.run(x[t : t + 1]) for t in range(100)]), y_first)
    # reset_recurrent keeps the filter running: equal to an unfused pipeline whose decoder state alone was reset.
    pipe.reset_recurrent()
    zf = pipe.filter_state
    assert zf is not None and all(v == 0 for v in pipe.state.norms()["h0"])
    dec = Decoder(entry.onnx_path, entry.card)
    pre = Preprocessor(entry.card.preprocessing, 8, entry.card.sfreq)
    pre.process(x[:100])
    y_ref = dec.run(pre.process(x[100:]), dec.new_state())
    y = np.concatenate([pipe.run(x[t : t + 1]) for t in range(100, 300)])
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=TOL)


@pytest.fixture(scope="module")
def more_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fused-models")
    for cell, head, layers in (("gru", "gaussian", 1), ("lstm", "gaussian", 1), ("gru", "poisson", 3),
                               ("lstm", "poisson", 3)):
        export_tiny(root, f"{cell}-{head}-{layers}", cell, head=head, n_layers=layers)
    return root


@pytest.mark.parametrize("name", ["gru-gaussian-1", "lstm-gaussian-1", "gru-poisson-3", "lstm-poisson-3"])
def test_other_depths_and_heads(more_models, name):
    entry = ModelRegistry(more_models).get(name)
    x = test_signal(800, seed=8)
    chunks = random_chunks(len(x), np.random.default_rng(8))
    pipe = FusedPipeline(entry.onnx_path, entry.card)
    layers = entry.card.architecture.n_layers
    assert ("h0" in {i.name for i in pipe.session.get_inputs()}) == (layers == 1)  # per-layer inputs if L > 1
    bounds = np.cumsum([0, *chunks])
    y = np.concatenate([pipe.run(x[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])
    np.testing.assert_allclose(y, unfused(entry, x), rtol=0, atol=TOL)
    snap = pipe.snapshot()
    assert snap["h0"].shape == (layers, 1, 16)


@pytest.mark.parametrize(
    "preprocessing",
    [
        PreprocessingConfig(car=True),  # no filter: spatial only
        PreprocessingConfig(),  # nothing at all
        PreprocessingConfig(bandpass=(1.0, 40.0), filter_order=2),  # filter only
    ],
    ids=["car-only", "none", "filter-only"],
)
def test_other_preprocessing_configurations(models_dir, preprocessing):
    entry = ModelRegistry(models_dir).get("tiny-gru")
    card = entry.card.model_copy(update={"preprocessing": preprocessing})
    x = test_signal(500, seed=2)
    chunks = random_chunks(len(x), np.random.default_rng(3))
    pipe = FusedPipeline(entry.onnx_path, card)
    bounds = np.cumsum([0, *chunks])
    y = np.concatenate([pipe.run(x[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])
    np.testing.assert_allclose(y, unfused(entry, x, card=card), rtol=0, atol=TOL)
    has_filter = preprocessing.bandpass is not None
    assert ("zf_out" in {o.name for o in pipe.session.get_outputs()}) == has_filter
    assert ("zf" in pipe.snapshot()) == has_filter


def test_input_checks(entry, models_dir):
    pipe = FusedPipeline(entry.onnx_path, entry.card)
    assert pipe.run(np.empty((0, 8), np.float32)).shape == (0, 3)
    with pytest.raises(ValueError, match=r"x must have shape \(T, n_chans=8\), got \(1, 7\)"):
        pipe.run(np.zeros((1, 7), np.float32))
    with pytest.raises(ValueError, match=r"x must have shape \(T, n_chans=8\), got \(8,\)"):
        pipe.run(np.zeros(8, np.float32))
    with pytest.raises(ValueError, match=r"filter_dtype must be one of \('float64', 'float32'\), got 'float16'"):
        FusedPipeline(entry.onnx_path, entry.card, filter_dtype="float16")
    other = ModelRegistry(models_dir).get("tiny-lstm" if entry.card.name == "tiny-gru" else "tiny-gru")
    with pytest.raises(ValueError, match=r"decoder must run the same model \(sha256 [0-9a-f]{12}\), got one of"):
        FusedPipeline(entry.onnx_path, entry.card, decoder=Decoder(other.onnx_path, other.card))


def test_float32_filter_option_runs(entry):
    """float32 is kept for comparison; on this small, wide-band case it stays close to the reference."""
    x = test_signal(500, seed=6)
    pipe = FusedPipeline(entry.onnx_path, entry.card, filter_dtype="float32")
    assert {i.name: i.type for i in pipe.session.get_inputs()}["xz"] == "tensor(float)"
    y = np.concatenate([pipe.run(x[t : t + 1]) for t in range(len(x))])
    np.testing.assert_allclose(y, unfused(entry, x), rtol=0, atol=1e-3)
