"""Data-parallel training across processes with ``torch.distributed`` (gloo on CPU).

Launched by ``torchrun --nproc_per_node N -m bci_stream.train CONFIG.toml`` (or
``bci-stream train --nproc-per-node N CONFIG.toml``), each process reads ``RANK``/``WORLD_SIZE`` from
the environment torchrun sets. Every process loads the data and trains on its share of the streams;
:class:`~torch.nn.parallel.DistributedDataParallel` averages gradients, so all ranks take the same
optimiser steps and end with identical parameters (checked after each fit: :func:`param_digest`).
Rank 0 validates, writes the checkpoints, the report and the export. Without ``WORLD_SIZE`` (or with
1) nothing distributed happens.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistContext:
    """Join the process group described by torchrun's environment (gloo backend), if any."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return DistContext(dist.get_rank(), dist.get_world_size())


def shutdown(ctx: DistContext) -> None:
    import torch.distributed as dist

    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def broadcast_floats(ctx: DistContext, values: list[float]) -> list[float]:
    """Rank 0's ``values`` on every rank."""
    if not ctx.enabled:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.broadcast(t, src=0)
    return t.tolist()


def gather_objects(ctx: DistContext, obj: object) -> list[object]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not ctx.enabled:
        return [obj]
    import torch.distributed as dist

    out: list[object] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()


def param_digest(module: torch.nn.Module) -> str:
    """sha256 of every parameter's bytes, in ``named_parameters`` order (identical params ⇔ equal digests)."""
    h = hashlib.sha256()
    for name, p in module.named_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
