"""The bidirectional and lookahead nets (the offline upper bound) have the causal net's per-layer widths."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("lookahead", [None, 4])
def test_birnn_has_the_causal_nets_per_layer_widths(tmp_path: Path, lookahead: int | None) -> None:
    from bci_stream.train.checkpoint import load_checkpoint, save_checkpoint
    from bci_stream.train.nets.birnn import BiRNN
    from bci_stream.train.nets.rnn import CausalRNN

    torch.manual_seed(0)
    causal = CausalRNN(5, 3, cell="lstm", hidden_sizes=[16, 8])
    bi = BiRNN(5, 3, cell="lstm", hidden_sizes=[16, 8], lookahead=lookahead).eval()
    n_fwd = sum(p.numel() for n, p in bi.named_parameters() if n.startswith("fwd."))
    assert n_fwd == sum(p.numel() for n, p in causal.named_parameters() if n.startswith("rnn."))
    x = torch.randn(1, 50, 5)
    y, *state = bi(x)
    assert [s.shape for s in state] == [torch.Size([2, 1, 16])] * 2  # as the causal net's state
    if lookahead is not None:  # still bounded: the output at t reads x[.. t+K] only
        x2 = x.clone()
        x2[0, 30 + lookahead + 1:] += 5.0
        assert torch.allclose(bi(x2)[0][0, :31], y[0, :31])
    save_checkpoint(tmp_path / "bi.pt", bi, {"ch_names": list("abcde"), "sfreq": 100.0,
                                             "label_names": ["r", "a", "b"], "preprocessing": {}})
    net, _ = load_checkpoint(tmp_path / "bi.pt")
    assert torch.allclose(net(x)[0], y)
    assert isinstance(BiRNN(5, 3, hidden_size=8, n_layers=2).fwd, torch.nn.GRU)  # uniform widths: old layout
