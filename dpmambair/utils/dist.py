"""torch.distributed set-up for `torchrun ... train.py --launcher pytorch`.

NCCL on GPUs, Gloo on CPU. With `--launcher none` everything runs as rank 0 of a world of 1.
"""

from __future__ import annotations

import functools
import os
from typing import Callable, Tuple

import torch
import torch.distributed as dist


def init_dist(launcher: str, backend: str | None = None) -> Tuple[int, int]:
    """Initialise the process group from torchrun's environment; returns (rank, world_size)."""
    if launcher == "none":
        return 0, 1
    if launcher != "pytorch":
        raise ValueError(f"--launcher: unknown launcher '{launcher}' (use 'none' or 'pytorch' with torchrun)")
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise RuntimeError(
            "--launcher pytorch needs torchrun's environment: "
            "run `torchrun --nproc_per_node=N train.py -opt ... --launcher pytorch`"
        )
    if backend is None or (backend == "nccl" and not torch.cuda.is_available()):
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def get_dist_info() -> Tuple[int, int]:
    """(rank, world_size), (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def master_only(func: Callable) -> Callable:
    """Run `func` on rank 0 only (logging, saving); other ranks get None."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if get_dist_info()[0] == 0:
            return func(*args, **kwargs)
        return None

    return wrapper


def reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Average a tensor over ranks (identity when not distributed)."""
    world = get_dist_info()[1]
    return value if world == 1 else reduce_sum(value) / world


def reduce_sum(value: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks (identity when not distributed)."""
    if get_dist_info()[1] == 1:
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value
