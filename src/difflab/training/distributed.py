"""Data-parallel training with PyTorch's own engine (torch.distributed + DDP), started by torchrun.

    torchrun --nproc_per_node=N -m difflab train …

Every rank draws the *same global batch* (indices, σ, noise) from the same seeded generator and
trains on its own contiguous slice of it; DDP averages the gradients, so with equal slices the
update is the full batch's and a run on N processes follows the single-process run up to
floating-point reduction order. (A DistributedSampler would give each rank different data *and* a
different trajectory from the single-process run; drawing with replacement from one generator keeps
them the same.) Only rank 0 writes checkpoints, logs and progress; losses are averaged across ranks
before logging.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import DifflabError


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job: rank, world size, local rank, and the device it uses."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def slice(self, n: int) -> slice:
        """This rank's contiguous share of a global batch of n (n divisible by the world size)."""
        per = n // self.world_size
        return slice(self.rank * per, (self.rank + 1) * per)


def setup(device: str = "cpu", batch_size: int | None = None) -> DistEnv:
    """Join the job torchrun started (WORLD_SIZE/RANK/LOCAL_RANK in the environment): gloo on CPU,
    nccl on CUDA with one GPU per local rank. Without torchrun: a single process, nothing to
    join."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv(device=device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if batch_size is not None and batch_size % world:
        raise DifflabError(
            f"--batch-size {batch_size} must be divisible by the number of processes {world}"
        )
    if device.startswith("cuda"):
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return DistEnv(rank, world, local, device)


def mean_across(env: DistEnv, value: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over all ranks (itself when single-process)."""
    if not env.active:
        return value
    out = value.detach().clone()
    dist.all_reduce(out)
    return out / env.world_size


def any_across(env: DistEnv, flag: bool) -> bool:
    """True on every rank if it is true on any (stop decisions must be unanimous, or ranks
    deadlock)."""
    if not env.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=env.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(env: DistEnv) -> None:
    if env.active:
        dist.barrier()


def teardown(env: DistEnv) -> None:
    if env.active and dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["DistEnv", "setup", "mean_across", "any_across", "barrier", "teardown"]
