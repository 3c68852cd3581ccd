"""Readout heads from the field's observation models: inverse link functions and their losses.

=============  ==============================  =================  =========================================
head           observation model               inverse link       loss (negative log-likelihood)
=============  ==============================  =================  =========================================
categorical    y ~ Categorical(softmax(eta))   softmax            cross-entropy on labelled samples
gaussian       y ~ Normal(eta, 1)              identity           mean squared error / 2 (+ const)
poisson        y ~ Poisson(exp(eta))           exp                exp(eta) - y * eta (+ log y!)
=============  ==============================  =================  =========================================

``eta`` is the readout's pre-activation ``[..., K]``. For the categorical head, targets are class
indices with ``-1`` for samples without a label (ignored); for the others, float targets ``[..., K]``
with NaN for missing values (ignored).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Head = Literal["categorical", "gaussian", "poisson"]
HEADS: tuple[str, ...] = ("categorical", "gaussian", "poisson")
IGNORE = -1


def check_head(head: str) -> None:
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")


def inverse_link(head: Head, eta: torch.Tensor) -> torch.Tensor:
    """Probabilities (categorical), values (gaussian) or rates (poisson) from ``eta``."""
    if head == "categorical":
        return torch.softmax(eta, dim=-1)
    if head == "poisson":
        return torch.exp(eta)
    return eta


def nll(head: Head, eta: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed negative log-likelihood over the valid targets, and how many targets were valid.

    Summing (rather than averaging) lets a caller combine windows or processes of different sizes and
    divide once by the total count.
    """
    check_head(head)
    if head == "categorical":
        flat_eta, flat_y = eta.reshape(-1, eta.shape[-1]), target.reshape(-1)
        n = int((flat_y != IGNORE).sum())
        loss = F.cross_entropy(flat_eta, flat_y, ignore_index=IGNORE, reduction="sum") if n else eta.sum() * 0
        return loss, n
    valid = torch.isfinite(target)
    n = int(valid.sum())
    if not n:
        return eta.sum() * 0, 0
    t = torch.where(valid, target, torch.zeros_like(target))
    if head == "gaussian":
        per = 0.5 * (eta - t) ** 2
    else:
        per = torch.exp(eta) - t * eta
    return (per * valid).sum(), n


def soft_target_kl(eta: torch.Tensor, teacher_probs: torch.Tensor, temperature: float = 1.0,
                   keep: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """Summed ``T^2 KL(teacher_T || student_T)`` over samples (Hinton et al. 2015), and the sample count.

    ``teacher_probs`` are the teacher's probabilities at temperature 1; they are re-tempered here as
    ``softmax(log p / T)``, which equals the teacher's softmax of ``eta / T``. ``keep`` (bool, ``eta``'s shape
    without its last axis) selects the samples summed and counted, as ``nll`` skips label -1 (default: all); the
    others add nothing, not even to the gradient.
    """
    if not temperature > 0:
        raise ValueError(f"distillation temperature must be > 0, got {temperature}")
    if keep is not None:  # selected first: what is left out reaches neither the sum nor the gradient, NaN or not
        if keep.shape != eta.shape[:-1] or keep.dtype != torch.bool:
            raise ValueError(f"soft_target_kl: keep must be a bool tensor of shape {tuple(eta.shape[:-1])} (eta "
                             f"without its last axis), got {keep.dtype} {tuple(keep.shape)}")
        eta, teacher_probs = eta[keep], teacher_probs[keep]
    log_t = torch.log_softmax(torch.log(teacher_probs.clamp_min(1e-12)) / temperature, dim=-1)
    log_s = torch.log_softmax(eta / temperature, dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1)
    return kl.sum() * temperature**2, int(kl.numel())
