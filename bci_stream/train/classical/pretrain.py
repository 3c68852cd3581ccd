"""A recurrent decoder pretrained across subjects and fine-tuned on one calibration run of a new subject (torch).

Model (:class:`PretrainNet`), on the standardised aligned log power ``zs_t`` of :mod:`.pretrain_data`::

    logits_t = lin[task](zs_t) + out[task](GRU(zs_t))     # one GRU shared by every task; a head per task

The heads start at zero. Per task, the model is a residual GRU on a linear decoder of the log power, so it
converts exactly to :class:`~.residual_ref.ResidualParams` (:func:`to_params`: the linear head folds into the
CSP+LDA read-out ``coef``/``intercept``, the alignment into its ``filters``) and exports with the residual
step graph (:func:`~.residual_graph.export_csp_gru`, parity checked by the runtime's StepModel).

* :func:`pretrain`: every run of the pretraining subjects, per-sample cross-entropy on the samples
  ``window`` s after each cue, truncated BPTT over segments of ``segment_s`` (each segment starts from the
  state its predecessor ended in at the last pass), minibatches of segments, AdamW, gradient clipping, early
  stopping on a stratified ``val_fraction`` of the pretraining trials (best epoch kept; epoch 0 included);
* :func:`fine_tune`: a copy of the pretrained net trained on the target's calibration run for a fixed number
  of full-batch epochs (15 trials are too few to hold any out), the head only or every weight, with an L2-SP
  penalty ``l2sp * |theta - theta_pretrained|^2`` that pulls towards the pretrained weights.

Seeds are fixed and torch uses one thread.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from bci_stream.train.classical.params import CspLdaParams
from bci_stream.train.classical.pretrain_data import FrontEndConfig, SubjectData
from bci_stream.train.classical.residual_ref import ResidualParams


#: TBPTT segment of fine-tuning, seconds.
SEGMENT_S = 8.0


@dataclass(frozen=True)
class PretrainConfig:
    """Hyper-parameters of the cross-subject pretraining (:func:`pretrain`)."""

    hidden_size: int = 16
    window: tuple[float, float] = (0.5, 4.0)
    lr: float = 1e-2
    weight_decay: float = 1e-3
    max_epochs: int = 30
    patience: int = 6
    segment_s: float = 8.0
    batch_segments: int = 64
    val_fraction: float = 0.2
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FineTuneConfig:
    """What is pretrained on (``scope``) and how the target's calibration run fine-tunes it.

    Attributes
    ----------
    scope
        ``"all"``: every other subject, whatever its task (a head per task, the GRU shared); ``"task"``: only
        the other subjects of the target's task.
    mode
        ``"head"`` (the task's ``lin`` and ``out``; the GRU stays pretrained) or ``"all"`` (every weight).
    epochs, lr
        Full-batch AdamW steps on the calibration run, learning rate.
    l2sp
        Weight of ``|theta - theta_pretrained|^2`` (summed over the trained weights).
    window
        Seconds after each calibration cue whose samples carry the loss.
    """

    scope: str = "all"
    mode: str = "all"
    epochs: int = 20
    lr: float = 5e-3
    l2sp: float = 1e-2
    window: tuple[float, float] = (0.5, 4.0)

    def label(self) -> str:
        return f"scope={self.scope} ft={self.mode} ep={self.epochs} lr={self.lr:g} l2sp={self.l2sp:g}"

    def as_dict(self) -> dict:
        return asdict(self)


class PretrainNet(nn.Module):
    """``logits = lin[task](zs) + out[task](GRU(zs))``; heads at zero when added (:meth:`add_task`)."""

    def __init__(self, n_features: int, hidden_size: int) -> None:
        super().__init__()
        self.gru = nn.GRU(n_features, hidden_size, batch_first=True)
        self.lin = nn.ModuleDict()
        self.out = nn.ModuleDict()

    def add_task(self, task: str, n_outputs: int) -> bool:
        """Add a zero head for ``task`` unless it has one; True when added."""
        if task in self.lin:
            if self.lin[task].out_features != n_outputs:
                raise ValueError(f"task {task!r} has {self.lin[task].out_features} outputs, got n_outputs={n_outputs}")
            return False
        self.lin[task] = nn.Linear(self.gru.input_size, n_outputs)
        self.out[task] = nn.Linear(self.gru.hidden_size, n_outputs)
        for layer in (self.lin[task], self.out[task]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        return True

    def head(self, task: str, zs: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
        return self.lin[task](zs) + self.out[task](seq)

    def forward(self, zs: torch.Tensor, task: str, h0: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``zs [B, T, F]`` float32 → (logits ``[B, T, K]``, ``h_n [1, B, H]``)."""
        seq, hn = self.gru(zs, h0)
        return self.head(task, zs, seq), hn


# --- data ------------------------------------------------------------------------------------------------------


@dataclass
class _Segments:
    zs: torch.Tensor  # [N, S, F]
    y: torch.Tensor  # [N, S] class (0 where no loss)
    train: torch.Tensor  # [N, S] bool
    val: torch.Tensor  # [N, S] bool
    prev: np.ndarray  # [N] predecessor segment, -1 = first of its run
    task: list[str]  # [N]


def _targets(subject: SubjectData, run: int, window: tuple[float, float], val_trials: set[int]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per sample of ``run``: class (-1: no loss) and split (1 train, 2 validation)."""
    r = subject.prep.runs[run]
    y, split = np.full(r.n_times, -1, np.int64), np.zeros(r.n_times, np.int8)
    w0, w1 = (int(round(w * r.sfreq)) for w in window)
    for ti, (onset, cls) in enumerate(zip(r.trials.onsets, r.trials.classes)):
        sl = slice(max(int(onset) + w0, 0), min(int(onset) + w1, r.n_times))
        y[sl], split[sl] = cls, 2 if ti in val_trials else 1
    return y, split


def _val_trials(subject: SubjectData, runs: Sequence[int], fraction: float, rng: np.random.Generator
                ) -> dict[int, set[int]]:
    """A stratified ``fraction`` of the subject's trials on ``runs`` (per class, at least one left to train)."""
    pairs = [(ri, ti) for ri in runs for ti in range(len(subject.prep.runs[ri].trials))]
    classes = np.array([subject.prep.runs[ri].trials.classes[ti] for ri, ti in pairs], dtype=np.int64)
    out: dict[int, set[int]] = {ri: set() for ri in runs}
    for k in np.unique(classes):
        idx = np.flatnonzero(classes == k)
        n_val = min(int(round(fraction * len(idx))), len(idx) - 1)
        for j in rng.permutation(idx)[:max(n_val, 0)]:
            out[pairs[j][0]].add(pairs[j][1])
    return out


def _segments(items: list[tuple[SubjectData, int, set[int]]], window: tuple[float, float], seg_s: float
              ) -> _Segments:
    """Cut each (subject, run) into segments of ``seg_s`` (the last padded, without loss)."""
    zs, ys, splits, prev, tasks = [], [], [], [], []
    for subject, ri, val in items:
        seg = max(int(round(seg_s * subject.prep.sfreq)), 1)
        z = subject.zs[ri]
        y, split = _targets(subject, ri, window, val)
        n_seg = -(-len(z) // seg)
        pad = n_seg * seg - len(z)
        start = sum(len(a) for a in zs)
        zs.append(np.concatenate([z, np.zeros((pad, z.shape[1]), np.float32)]).reshape(n_seg, seg, -1))
        ys.append(np.concatenate([y, np.full(pad, -1, np.int64)]).reshape(n_seg, seg))
        splits.append(np.concatenate([split, np.zeros(pad, np.int8)]).reshape(n_seg, seg))
        prev += [-1] + [start + j for j in range(n_seg - 1)]
        tasks += [subject.task] * n_seg
    if len({a.shape[1] for a in zs}) > 1:
        lengths = sorted({a.shape[1] for a in zs})
        raise ValueError(f"every subject must have the same sfreq (segment length), got segments of {lengths}")
    y_all, split_all = np.concatenate(ys), np.concatenate(splits)
    return _Segments(torch.from_numpy(np.concatenate(zs)), torch.from_numpy(np.maximum(y_all, 0)),
                     torch.from_numpy(split_all == 1), torch.from_numpy(split_all == 2),
                     np.asarray(prev, np.int64), tasks)


def _nll(net: PretrainNet, data: _Segments, idx: np.ndarray, h_store: torch.Tensor
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample NLL ``[len(idx), S]`` of segments ``idx`` and their final states (state from the store)."""
    prev = data.prev[idx]
    h0 = torch.where(torch.from_numpy(prev >= 0)[None, :, None], h_store[:, torch.from_numpy(np.maximum(prev, 0))],
                     torch.zeros(()))
    zs = data.zs[idx]
    seq, hn = net.gru(zs, h0)
    nll = torch.zeros(zs.shape[:2])
    tasks = np.asarray(data.task)[idx]
    for task in sorted(set(tasks)):
        rows = torch.from_numpy(np.flatnonzero(tasks == task))
        logp = torch.log_softmax(net.head(task, zs[rows], seq[rows]), dim=-1)
        nll = nll.index_put((rows,), -logp.gather(-1, data.y[idx][rows][..., None])[..., 0])
    return nll, hn


def _mean(nll: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return nll[mask].mean() if bool(mask.any()) else nll.sum() * 0.0


# --- training --------------------------------------------------------------------------------------------------


def new_net(n_features: int, hidden_size: int, seed: int) -> PretrainNet:
    """A fresh net (GRU at torch's seeded init, no heads)."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    return PretrainNet(n_features, hidden_size)


def pretrain(subjects: Sequence[SubjectData], n_features: int, cfg: PretrainConfig = PretrainConfig()
             ) -> tuple[PretrainNet, dict]:
    """Pretrain on every run of ``subjects`` (features prepared); no subjects: the fresh net."""
    net = new_net(n_features, cfg.hidden_size, cfg.seed)
    info: dict = {"subjects": [s.name for s in subjects], "config": cfg.as_dict()}
    if not subjects:
        return net, info | {"epochs_run": 0, "best_epoch": 0}
    rng = np.random.default_rng(cfg.seed)
    items = []
    for s in subjects:
        net.add_task(s.task, len(s.labels))
        runs = list(range(len(s.prep.runs)))
        val = _val_trials(s, runs, cfg.val_fraction, rng)
        items += [(s, ri, val[ri]) for ri in runs]
    data = _segments(items, cfg.window, cfg.segment_s)
    n = len(data.prev)
    h_store = torch.zeros(1, n, cfg.hidden_size)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best, bad, history = (float("inf"), 0, copy.deepcopy(net.state_dict())), 0, []
    everything = np.arange(n)
    for epoch in range(cfg.max_epochs + 1):
        with torch.no_grad():  # the whole set with the current weights: validation, and fresh states
            nll, h_store = _nll(net, data, everything, h_store)
            val, train = float(_mean(nll, data.val)), float(_mean(nll, data.train))
        history.append({"epoch": epoch, "train": train, "val": val})
        if val < best[0] - 1e-6:
            best, bad = (val, epoch, copy.deepcopy(net.state_dict())), 0
        else:
            bad += 1
        if bad >= cfg.patience or epoch == cfg.max_epochs:
            break
        for batch in np.array_split(rng.permutation(n), max(1, -(-n // cfg.batch_segments))):
            nll, hn = _nll(net, data, batch, h_store)
            loss = _mean(nll, data.train[batch])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            h_store[:, batch] = hn.detach()
    net.load_state_dict(best[2])
    return net, info | {"epochs_run": len(history) - 1, "best_epoch": best[1], "val_loss_best": best[0],
                        "history": history, "n_segments": n}


def fine_tune(pretrained: PretrainNet, subject: SubjectData, cfg: FineTuneConfig, seed: int = 0
              ) -> tuple[PretrainNet, dict]:
    """A copy of ``pretrained`` fine-tuned on ``subject``'s calibration run (see the module docstring)."""
    if cfg.mode not in ("head", "all"):
        raise ValueError(f"mode must be 'head' or 'all', got {cfg.mode!r}")
    if cfg.epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {cfg.epochs}")
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    net = copy.deepcopy(pretrained)
    new_head = net.add_task(subject.task, len(subject.labels))
    trained = [p for n, p in net.named_parameters()
               if cfg.mode == "all" or n.startswith((f"lin.{subject.task}.", f"out.{subject.task}."))]
    for p in net.parameters():
        p.requires_grad_(any(p is q for q in trained))
    anchor = [p.detach().clone() for p in trained]
    info = {"config": cfg.as_dict(), "new_head": new_head, "n_trials": len(subject.prep.runs[subject.calib].trials)}
    if cfg.epochs == 0:
        return net, info | {"loss": []}
    data = _segments([(subject, subject.calib, set())], cfg.window, SEGMENT_S)
    h_store = torch.zeros(1, len(data.prev), net.gru.hidden_size)
    opt = torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=0.0)
    losses = []
    idx = np.arange(len(data.prev))
    for _ in range(cfg.epochs):
        nll, hn = _nll(net, data, idx, h_store)
        loss = _mean(nll, data.train)
        penalty = sum(((p - a) ** 2).sum() for p, a in zip(trained, anchor))
        opt.zero_grad()
        (loss + cfg.l2sp * penalty).backward()
        nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        h_store = hn.detach()
        losses.append(float(loss.detach()))
    for p in net.parameters():
        p.requires_grad_(True)
    return net, info | {"loss": losses}


def predict_run(net: PretrainNet, task: str, zs: np.ndarray) -> np.ndarray:
    """Class probabilities ``[T, K]`` (float64) of a whole run's features ``zs [T, F]`` from its first sample."""
    with torch.no_grad():
        logits, _ = net(torch.from_numpy(np.ascontiguousarray(zs, np.float32))[None], task)
    return torch.softmax(logits[0].double(), dim=-1).numpy()


def to_params(net: PretrainNet, subject: SubjectData, fe_cfg: FrontEndConfig) -> ResidualParams:
    """The residual decoder of ``net``'s head for ``subject``'s task with ``subject``'s front-end.

    ``lin(zs) = z @ coef.T + intercept`` with ``coef = W / in_std`` and ``intercept = b - W @ (in_mean /
    in_std)``: the linear head becomes the CSP+LDA read-out on the aligned log power.
    """
    fe = subject.fe
    if fe is None:
        raise ValueError(f"subject {subject.name} has no front-end: call pretrain_data.prepare first")

    def arr(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.float64)

    w, b = arr(net.lin[subject.task].weight), arr(net.lin[subject.task].bias)
    csp = CspLdaParams(ch_names=list(fe.ch_names), sfreq=subject.prep.sfreq,
                       preprocessing=subject.prep.preprocessing(fe_cfg.csp_config()), filters=fe.filters,
                       tau_s=fe_cfg.tau_s, power_init=fe.power_init, coef=w / fe.in_std[None, :],
                       intercept=b - w @ (fe.in_mean / fe.in_std), labels=subject.labels)
    g = net.gru
    return ResidualParams(csp=csp, in_mean=fe.in_mean, in_std=fe.in_std, w_ih=arr(g.weight_ih_l0),
                          w_hh=arr(g.weight_hh_l0), b_ih=arr(g.bias_ih_l0), b_hh=arr(g.bias_hh_l0),
                          out_weight=arr(net.out[subject.task].weight), out_bias=arr(net.out[subject.task].bias),
                          inputs="log_power")


__all__ = ["FineTuneConfig", "PretrainConfig", "PretrainNet", "fine_tune", "new_net", "predict_run", "pretrain",
           "to_params"]
