"""Run a torch decoder over a whole recording, in chunks with carried state (eval mode, no grad)."""

from __future__ import annotations

import numpy as np
import torch

from bci_stream.train.nets.birnn import BiRNN
from bci_stream.train.nets.rnn import CausalRNN

Net = CausalRNN | BiRNN


def predict_eta(net: Net, x: np.ndarray, chunk: int = 4000) -> np.ndarray:
    """Pre-activations ``[T, K]`` for ``x [T, C]`` from a zero state, exactly as one pass would give.

    A :class:`CausalRNN` is run chunk by chunk with its state carried; a :class:`BiRNN` with a bounded
    lookahead K gets each chunk plus K samples of future context; an unbounded one runs in one pass.
    """
    was_training = net.training
    net.eval()
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
    n = xt.shape[1]
    outs = []
    with torch.no_grad():
        state = net.zero_state(1)
        if isinstance(net, BiRNN) and net.lookahead is None:
            outs.append(net.encode(xt)[0])
        else:
            future = net.lookahead if isinstance(net, BiRNN) else 0
            for a in range(0, n, chunk):
                b = min(a + chunk, n)
                if isinstance(net, BiRNN):
                    eta, state = net.encode(xt[:, a : min(b + future, n)], *state, n_out=b - a)
                else:
                    eta, state = net.encode(xt[:, a:b], *state)
                outs.append(eta)
    net.train(was_training)
    return torch.cat(outs, dim=1)[0].numpy()


def predict_probs(net: Net, x: np.ndarray, chunk: int = 4000) -> np.ndarray:
    """Outputs after the head's link (class probabilities for a categorical head), ``[T, K]``."""
    return net.link(torch.from_numpy(predict_eta(net, x, chunk))).numpy()
