"""Networks of the trainer: state carry (TBPTT), variational dropout, lookahead masking, heads, presets, export."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bci_stream.core.errors import ModelError  # noqa: E402
from bci_stream.train.nets.birnn import BiRNN  # noqa: E402
from bci_stream.train.nets.dropout import locked_mask  # noqa: E402
from bci_stream.train.nets.heads import inverse_link, nll, soft_target_kl  # noqa: E402
from bci_stream.train.nets.presets import stacked_lstm_classifier  # noqa: E402
from bci_stream.train.nets.rnn import CausalRNN  # noqa: E402
from bci_stream.dsp.preprocess import PreprocessingConfig  # noqa: E402
from bci_stream.train.infer import predict_eta  # noqa: E402



@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small nets: one intra-op thread is faster than two fighting over a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


VARIANTS = {
    "gru": {},
    "lstm-2": {"cell": "lstm", "n_layers": 2},
    "widths-16-8": {"cell": "lstm", "hidden_sizes": [16, 8]},
    "gru-dropout-2": {"n_layers": 2, "dropout": 0.3, "input_dropout": 0.2},
    "attention": {"attention_window": 7},
    "power": {"power_filters": 3},
}


def _x(b: int, t: int, c: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((b, t, c)).astype(np.float32))


def test_default_causal_rnn_keeps_the_original_layout():
    """The bundled model and export rely on one multi-layer nn.GRU named ``rnn`` and a ``readout``."""
    m = CausalRNN(8, 3, hidden_size=16, n_layers=2)
    assert isinstance(m.rnn, torch.nn.GRU) and m.rnn.num_layers == 2
    assert sorted(m.state_dict()) == sorted(
        [f"rnn.{w}_{k}_l{i}" for w in ("weight", "bias") for k in ("ih", "hh") for i in (0, 1)]
        + ["readout.weight", "readout.bias"])
    y, hn = m(_x(1, 5, 8))
    assert y.shape == (1, 5, 3) and hn.shape == (2, 1, 16)
    torch.testing.assert_close(y.sum(-1), torch.ones(1, 5))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_windows_with_carried_state_equal_one_pass(variant):
    torch.manual_seed(0)
    m = CausalRNN(5, 3, hidden_size=12, **VARIANTS[variant]).eval()
    x = _x(2, 61, 5)
    with torch.no_grad():
        full, full_state = m.encode(x)
        state, outs = m.zero_state(2), []
        for a in range(0, 61, 9):  # uneven last window
            eta, state = m.encode(x[:, a : a + 9], *state)
            outs.append(eta)
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=1e-5)
    for s, f in zip(state, full_state):
        torch.testing.assert_close(s, f, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.from_numpy(predict_eta(m, x[0].numpy(), chunk=13)), full[0], atol=1e-5, rtol=1e-5)


def test_variational_dropout_holds_one_mask_per_sequence_across_windows():
    torch.manual_seed(0)
    m = CausalRNN(6, 2, hidden_size=8, n_layers=2, dropout=0.4, input_dropout=0.5).train()
    x = _x(3, 40, 6).requires_grad_(True)
    masks = m.new_masks(3, generator=torch.Generator().manual_seed(1))
    assert set(masks) == {"input", "layer1", "readout"}
    assert masks["input"].shape == (3, 1, 6)
    # Windows with the same masks and carried state == one pass with those masks.
    full, _ = m.encode(x, masks=masks)
    state, outs = m.zero_state(3), []
    for a in range(0, 40, 10):
        eta, state = m.encode(x[:, a : a + 10], *state, masks=masks)
        outs.append(eta)
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=1e-5)
    # A dropped input channel is dropped at every time step: zero gradient through the whole sequence.
    full.sum().backward()
    dropped = masks["input"][:, 0, :] == 0
    assert dropped.any() and (~dropped).any()
    grad_norm = x.grad.abs().sum(1)  # [B, C]
    assert torch.all(grad_norm[dropped] == 0)
    assert torch.all(grad_norm[~dropped] > 0)
    # In eval mode dropout is off: the output is deterministic and uses every channel.
    m.eval()
    with torch.no_grad():
        torch.testing.assert_close(m.encode(x)[0], m.encode(x)[0])


def test_locked_mask_values_and_errors():
    mask = locked_mask(4, 100, 0.25, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (4, 1, 100)
    assert set(torch.unique(mask).tolist()) <= {0.0, float(torch.tensor(1.0 / 0.75))}
    with pytest.raises(ValueError, match=r"dropout p must be in \[0, 1\), got 1.0"):
        locked_mask(1, 1, 1.0)
    with pytest.raises(ValueError, match=r"input_dropout must be in \[0, 1\), got -0.1"):
        CausalRNN(2, 2, input_dropout=-0.1)


@pytest.mark.parametrize("k", [0, 3, 8])
def test_birnn_output_at_t_uses_only_x_up_to_t_plus_k(k):
    torch.manual_seed(0)
    m = BiRNN(4, 3, hidden_size=6, lookahead=k).eval()
    x = _x(1, 50, 4)
    t0 = 30
    x2 = x.clone()
    x2[:, t0] += 5.0
    with torch.no_grad():
        a, _ = m.encode(x)
        b, _ = m.encode(x2)
    diff = (a - b).abs().amax(dim=(0, 2))
    assert torch.all(diff[: t0 - k] == 0), f"outputs before t0-K={t0 - k} changed: {diff[: t0 - k]}"
    assert diff[t0 - k] > 0  # x[t0] is inside the window of t0-K
    assert torch.all(diff[t0:] > 0)


def test_birnn_unbounded_reads_the_whole_future():
    torch.manual_seed(0)
    m = BiRNN(4, 3, hidden_size=6, lookahead=None).eval()
    x = _x(1, 50, 4)
    x2 = x.clone()
    x2[:, 12] += 5.0
    with torch.no_grad():
        assert (m.encode(x)[0] - m.encode(x2)[0])[0, 0].abs().max() > 0


@pytest.mark.parametrize("k", [0, 5, None])
def test_birnn_windows_positions_and_chunks_agree_with_one_pass(k):
    """Forward state carried over windows, backward windows fed from the future context, subsets of
    positions: all equal the one-pass outputs (what training and evaluation rely on)."""
    torch.manual_seed(0)
    m = BiRNN(3, 2, hidden_size=5, cell="lstm", lookahead=k, power_filters=2).eval()
    x = _x(2, 40, 3)
    with torch.no_grad():
        full, _ = m.encode(x)
        pos = torch.tensor([0, 3, 17, 38, 39])
        sub, _ = m.encode(x, positions=pos)
        torch.testing.assert_close(sub, full[:, pos], atol=1e-5, rtol=1e-5)
        if k is not None:
            state, outs = m.zero_state(2), []
            for a in range(0, 40, 8):
                eta, state = m.encode(x[:, a : min(a + 8 + k, 40)], *state, n_out=8)
                outs.append(eta)
            torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(torch.from_numpy(predict_eta(m, x[1].numpy(), chunk=7)), full[1],
                                       atol=1e-5, rtol=1e-5)


def test_heads_links_and_likelihoods():
    import torch.nn.functional as F

    eta = _x(2, 7, 3, seed=1)
    torch.testing.assert_close(inverse_link("categorical", eta).sum(-1), torch.ones(2, 7))
    torch.testing.assert_close(inverse_link("poisson", eta), eta.exp())
    assert inverse_link("gaussian", eta) is eta

    y = torch.randint(0, 3, (2, 7))
    y[0, :3] = -1
    loss, n = nll("categorical", eta, y)
    assert n == 11
    keep = y.reshape(-1) >= 0
    torch.testing.assert_close(loss, F.cross_entropy(eta.reshape(-1, 3)[keep], y.reshape(-1)[keep], reduction="sum"))

    target = torch.randn(2, 7, 3)
    target[1, 2, 0] = float("nan")
    loss, n = nll("gaussian", eta, target)
    ok = torch.isfinite(target)
    assert n == 41
    torch.testing.assert_close(loss, 0.5 * ((eta - target)[ok] ** 2).sum())

    counts = torch.poisson(torch.full((2, 7, 3), 2.0))
    loss, n = nll("poisson", eta, counts)
    torch.testing.assert_close(loss, F.poisson_nll_loss(eta, counts, log_input=True, full=False, reduction="sum"))

    probs = torch.softmax(eta, -1)
    kl, m = soft_target_kl(eta, probs, temperature=2.0)
    assert m == 14 and abs(float(kl)) < 1e-5
    assert float(soft_target_kl(eta, torch.softmax(-eta, -1), 2.0)[0]) > 0.1
    with pytest.raises(ValueError, match=r"head must be one of .* got 'bernoulli'"):
        nll("bernoulli", eta, y)


def test_a_gaussian_and_a_poisson_head_learn_their_targets():
    """The heads are trainable: a tiny causal net fits a delayed copy (gaussian) and counts (poisson)."""
    torch.manual_seed(0)
    x = _x(4, 30, 2, seed=3)
    for head, target in (("gaussian", torch.roll(x[..., :1], 1, dims=1)),
                         ("poisson", torch.poisson(torch.exp(x[..., :1].clamp(-2, 2))))):
        m = CausalRNN(2, 1, hidden_size=8, head=head)
        opt = torch.optim.Adam(m.parameters(), lr=3e-2)
        first = None
        for _ in range(25):
            loss, n = nll(head, m.encode(x)[0], target)
            opt.zero_grad()
            (loss / n).backward()
            opt.step()
            first = first if first is not None else float(loss.detach() / n)
        assert float(loss.detach() / n) < 0.8 * first, head


def _export(model, tmp_path, name):
    from bci_stream.train.export.onnx_export import export_model

    return export_model(model, tmp_path / name, name=name, version="1.0.0",
                        ch_names=[f"ch{i}" for i in range(model.n_chans)], sfreq=160.0,
                        output_labels=[f"c{i}" for i in range(model.n_outputs)], preprocessing=PreprocessingConfig(),
                        parity_samples=200)


def test_stacked_lstm_preset_exports_and_steps(tmp_path):
    from bci_stream.engine.step_model import StepModel
    from bci_stream.core.registry import ModelRegistry

    torch.manual_seed(0)
    m = stacked_lstm_classifier(6, 3)
    assert m.cell == "lstm" and m.hidden_sizes == [64, 32] and m.readout.in_features == 32
    card = _export(m, tmp_path, "stacked")
    assert card.architecture.hidden_size == 64 and card.architecture.model_extra["hidden_sizes"] == [64, 32]
    assert card.parity.max_abs_diff <= 1e-4
    entry = ModelRegistry(tmp_path).get("stacked")
    dec = StepModel(entry.onnx_path, entry.card)
    x = _x(1, 50, 6)[0].numpy()
    state = dec.new_state()
    y = np.concatenate([dec.run(x[:20], state), dec.run(x[20:], state)])
    with torch.no_grad():
        ref = m(torch.from_numpy(x)[None])[0][0].numpy()
    np.testing.assert_allclose(y, ref, atol=1e-5)
    assert np.all(state.arrays["h0"][1, 0, 32:] == 0)  # the 32-unit layer's padding stays zero


def test_power_front_end_exports(tmp_path):
    torch.manual_seed(0)
    card = _export(CausalRNN(6, 2, hidden_size=8, power_filters=4), tmp_path, "power")
    assert card.architecture.model_extra["power_filters"] == 4


@pytest.mark.parametrize(("model", "why"), [
    (lambda: CausalRNN(4, 2, hidden_size=8, attention_window=5), r"CausalRNN carries state beyond h0/c0 "
                                                                 r"\(attention window 5\)"),
    (lambda: BiRNN(4, 2, hidden_size=8, lookahead=4), r"BiRNN reads the future \(lookahead K=4 samples\)"),
    (lambda: BiRNN(4, 2, hidden_size=8), r"BiRNN reads the future \(bidirectional over the whole recording\)"),
], ids=["attention", "lookahead", "birnn"])
def test_offline_only_models_are_refused_by_export(tmp_path, model, why):
    with pytest.raises(ModelError, match=r"refused: " + why + r", which the service's streaming contract cannot "
                                         r"run; it is offline-only: only causal nets deploy \(export the run's "
                                         r"'causal' or 'distilled' checkpoint\)"):
        _export(model(), tmp_path, "offline")
    assert not (tmp_path / "offline").exists()
