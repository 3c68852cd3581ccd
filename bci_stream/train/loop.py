"""The training loop: truncated BPTT over windows of contiguous streams, with state carried between them.

Each training sequence (one recording, or its training part) is cut into *segments* of
``segment_s`` seconds, starting at a random offset each epoch; the segments of all recordings form
the batch (each rank of a distributed run takes its share). A segment is processed window by window
(``window_s``): the recurrent state is carried from one window to the next and detached (truncated
BPTT), the variational dropout masks are drawn once per segment and held for all its windows. A model
that reads the future (:class:`~bci_stream.train.nets.birnn.BiRNN`) also gets the samples after each window
up to its lookahead (unbounded: ``bidirectional_future_s``); those last samples of a recording only
ever serve as future context. AdamW, gradient-norm clipping, early stopping on the validation loss
(or accuracy) with the best epoch's weights restored.

The loss is the negative log-likelihood of the labelled samples (label -1 skipped). A distilled student adds the KL
to its teacher's probabilities on every sample outside the bad spans (``Sequence.bad``): unlabelled samples (rest,
trials reaching into a bad span) included, since distillation is what teaches the student there, but not the held
values of a NaN stretch, the settling after it or data marked bad, where the teacher's output describes no EEG.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from bci_stream.train.nets.birnn import BiRNN
from bci_stream.train.nets.heads import nll, soft_target_kl
from bci_stream.train.config import ConfigError, DistillationConfig, TrainingConfig
from bci_stream.train.dataset import Sequence as Seq
from bci_stream.train.distributed import DistContext, broadcast_floats, gather_objects, param_digest
from bci_stream.train.infer import Net, predict_eta


@dataclass
class FitResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False
    seconds: float = 0.0
    param_digests: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "best_validation": self.best, "stopped_early": self.stopped_early,
                "epochs_run": len(self.history), "seconds": round(self.seconds, 2),
                "param_digests": self.param_digests, "history": self.history}


class _Encode(nn.Module):
    """Routes DDP's ``forward`` to the net's ``encode`` (pre-activations + state), so hooks fire."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, *state: torch.Tensor, **kwargs: Any):
        return self.net.encode(x, *state, **kwargs)


@dataclass
class _Batch:
    x: torch.Tensor  # [B, L + future, C]
    y: torch.Tensor  # [B, L]
    soft: torch.Tensor | None  # [B, L, K]
    bad: torch.Tensor  # [B, L] bool: samples in bad spans (Seq.bad), left out of the distillation term


def future_context(net: Net, cfg: TrainingConfig, sfreq: float) -> int:
    """Samples past each window that the net reads (0 for a causal net)."""
    if not isinstance(net, BiRNN):
        return 0
    return net.lookahead if net.lookahead is not None else int(round(cfg.bidirectional_future_s * sfreq))


def segment_length(seqs: Sequence[Seq], cfg: TrainingConfig, sfreq: float, future: int) -> tuple[int, int]:
    """``(segment, window)`` lengths in samples; the segment is a whole number of windows."""
    window = max(1, int(round(cfg.window_s * sfreq)))
    room = min(s.n_times for s in seqs) - future - window  # keep a window's room for the random offset
    seg = min(int(round(cfg.segment_s * sfreq)), room)
    if seg < 1:
        raise ConfigError(
            f"training sequences are too short ({min(s.n_times for s in seqs)} samples) for "
            f"window_s={cfg.window_s:g} s plus {future} samples of future context"
        )
    window = min(window, seg)
    return (seg // window) * window, window


def make_batch(seqs: Sequence[Seq], seg: int, future: int, offset: int, ctx: DistContext,
               rng: np.random.Generator) -> _Batch:
    """This rank's segments of all sequences, from ``offset``; the segment count is split evenly (each with its
    labels, soft targets if any, and bad-span mask)."""
    parts = []
    for s in seqs:
        start = offset
        while start + seg + future <= s.n_times:
            parts.append((s, start))
            start += seg
    n_use = (len(parts) // ctx.world_size) * ctx.world_size
    if n_use == 0:
        raise ConfigError(f"{len(parts)} training segments cannot be shared by {ctx.world_size} processes; "
                         f"lower training.segment_s")
    order = rng.permutation(len(parts))[:n_use]
    mine = [parts[i] for i in order[ctx.rank :: ctx.world_size]]
    x = np.stack([s.x[a : a + seg + future] for s, a in mine])
    y = np.stack([s.labels[a : a + seg] for s, a in mine])
    soft = np.stack([s.soft[a : a + seg] for s, a in mine]) if mine[0][0].soft is not None else None
    bad = np.stack([s.bad[a : a + seg] for s, a in mine])
    return _Batch(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(soft) if soft is not None else None,
                  torch.from_numpy(bad))


def validate(net: Net, seqs: Sequence[Seq]) -> dict[str, float]:
    """Mean negative log-likelihood and accuracy over the labelled samples of ``seqs`` (zero start state)."""
    total, n, correct = 0.0, 0, 0
    for s in seqs:
        eta = torch.from_numpy(predict_eta(net, s.x))
        y = torch.from_numpy(s.labels)
        loss, k = nll(net.head, eta, y)
        total, n = total + float(loss), n + k
        if net.head == "categorical":
            lab = y >= 0
            correct += int((eta.argmax(-1)[lab] == y[lab]).sum())
    return {"loss": total / max(n, 1), "accuracy": correct / max(n, 1)}


def fit(net: Net, train: Sequence[Seq], validation: Sequence[Seq], cfg: TrainingConfig, sfreq: float,
        ctx: DistContext, *, seed: int, desc: str = "train", distill: DistillationConfig | None = None,
        progress: bool = True) -> FitResult:
    """Train ``net`` in place (best validation epoch restored) and return its history."""
    from tqdm.auto import tqdm

    t0 = time.monotonic()
    torch.manual_seed(seed)
    future = future_context(net, cfg, sfreq)
    seg, window = segment_length(train, cfg, sfreq, future)
    model: nn.Module = _Encode(net)
    if ctx.enabled:
        model = nn.parallel.DistributedDataParallel(model)  # broadcasts rank 0's initial weights
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    is_bi = isinstance(net, BiRNN)
    res = FitResult()
    best_score, best_state, bad_epochs = float("inf"), copy.deepcopy(net.state_dict()), 0
    bar = tqdm(range(cfg.epochs), desc=desc, disable=not (ctx.is_main and progress), dynamic_ncols=True, leave=True)
    for epoch in bar:
        t_epoch = time.monotonic()
        rng = np.random.default_rng([seed, epoch])  # same on every rank: same segment split
        gen = torch.Generator().manual_seed(seed * 100003 + epoch * 101 + ctx.rank)
        batch = make_batch(train, seg, future, int(rng.integers(0, window)), ctx, rng)
        net.train()
        state = net.zero_state(batch.x.shape[0])
        masks = net.new_masks(batch.x.shape[0], generator=gen)
        sum_loss, n_windows = 0.0, 0
        for a in range(0, seg, window):
            xw = batch.x[:, a : a + window + future]
            yw, sw = batch.y[:, a : a + window], (batch.soft[:, a : a + window] if batch.soft is not None else None)
            bw = batch.bad[:, a : a + window]
            kwargs: dict[str, Any] = {"masks": masks}
            if is_bi:
                kwargs["n_out"] = window
                if net.lookahead is not None and cfg.lookahead_positions < window:
                    pos = torch.randperm(window, generator=gen)[: cfg.lookahead_positions].sort().values
                    kwargs["positions"] = pos
                    yw, bw = yw[:, pos], bw[:, pos]
                    sw = sw[:, pos] if sw is not None else None
            eta, state = model(xw, *state, **kwargs)
            state = tuple(s.detach() for s in state)  # truncated BPTT: carry the state, not the graph
            loss_sum, n = nll(net.head, eta, yw)
            loss = loss_sum / max(n, 1)
            if distill is not None and sw is not None:
                kl_sum, m = soft_target_kl(eta, sw, distill.temperature, keep=~bw)  # not on held / marked data
                loss = (1 - distill.alpha) * loss + distill.alpha * kl_sum / max(m, 1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            sum_loss += float(loss.detach())
            n_windows += 1
        val = validate(net, validation) if ctx.is_main else {"loss": 0.0, "accuracy": 0.0}
        val_loss, val_acc = broadcast_floats(ctx, [val["loss"], val["accuracy"]])
        score = val_loss if cfg.monitor == "loss" else -val_acc
        row = {"epoch": epoch + 1, "train_loss": round(sum_loss / max(n_windows, 1), 5), "val_loss": round(val_loss, 5),
               "val_accuracy": round(val_acc, 5), "seconds": round(time.monotonic() - t_epoch, 2)}
        res.history.append(row)
        if score < best_score:
            best_score, best_state, bad_epochs = score, copy.deepcopy(net.state_dict()), 0
            res.best_epoch, res.best = epoch + 1, {"loss": val_loss, "accuracy": val_acc}
        else:
            bad_epochs += 1
        bar.set_postfix(loss=row["train_loss"], val=row["val_loss"], acc=row["val_accuracy"], best=res.best_epoch)
        if bad_epochs >= cfg.patience and epoch + 1 >= cfg.min_epochs:
            res.stopped_early = True
            break
    bar.close()
    net.load_state_dict(best_state)
    net.eval()
    res.param_digests = [str(d) for d in gather_objects(ctx, param_digest(net))]
    if len(set(res.param_digests)) != 1:
        raise RuntimeError(f"{desc}: ranks ended with different parameters (digests {res.param_digests})")
    res.seconds = time.monotonic() - t0
    return res
