"""Variational ("locked") dropout: one Bernoulli mask per sequence, the same at every time step.

Standard dropout draws a new mask at every time step, which for a recurrent network is noise the state
integrates; variational dropout (Gal & Ghahramani 2016) drops the same features for a whole sequence.
Here a *sequence* is one stream of one recording: the trainer draws the masks when a stream starts and
passes the same masks to every truncated-BPTT window of that stream.
"""

from __future__ import annotations

import torch

Masks = dict[str, torch.Tensor]


def locked_mask(batch_size: int, n_features: int, p: float, *, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """A ``[B, 1, F]`` mask of ``0`` and ``1 / (1 - p)``, broadcast over time (inverted dropout)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout p must be in [0, 1), got {p}")
    keep = torch.empty(batch_size, 1, n_features, device=device).bernoulli_(1.0 - p, generator=generator)
    return keep / (1.0 - p)


def sample_masks(sizes: dict[str, tuple[int, float]], batch_size: int, *,
                 generator: torch.Generator | None = None) -> Masks:
    """One locked mask per named site ``{site: (n_features, p)}``; sites with ``p == 0`` are left out."""
    return {site: locked_mask(batch_size, n, p, generator=generator) for site, (n, p) in sizes.items() if p > 0}


def apply_mask(x: torch.Tensor, masks: Masks | None, site: str) -> torch.Tensor:
    """``x * masks[site]`` when that site has a mask, else ``x`` unchanged."""
    if masks is None or site not in masks:
        return x
    return x * masks[site]
