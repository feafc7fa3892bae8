"""`build_dataloader`: BasicSR's loader rules (per-GPU batch and workers), seeded workers, optional sampler."""

from __future__ import annotations

import functools
from typing import Any, Dict, Optional

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .seeding import stable_seed


def worker_init_fn(worker_id: int, num_workers: int, rank: int, seed: int) -> None:
    """Give each worker's dataset copy its own generator: a function of (seed, rank, worker, torch's per-epoch
    worker seed), so workers never repeat each other's crops and epochs never repeat each other."""
    info = torch.utils.data.get_worker_info()
    dataset = info.dataset if info is not None else None
    worker_seed = stable_seed("worker", seed, rank, num_workers, worker_id, torch.initial_seed())
    inner = getattr(dataset, "dataset", dataset)  # unwrap a wrapper such as the trainer's SeededDataset
    for d in (dataset, inner):
        if hasattr(d, "reseed"):
            d.reseed(worker_seed)


def build_dataloader(
    dataset: Dataset,
    dataset_opt: Dict[str, Any],
    num_gpu: int = 1,
    dist: bool = False,
    sampler: Optional[Sampler] = None,
    seed: Optional[int] = None,
    rank: int = 0,
) -> DataLoader:
    """A DataLoader for a dataset block, following BasicSR.

    Training: `batch_size_per_gpu` and `num_worker_per_gpu` per process under DDP (`dist=True`), multiplied by
    `num_gpu` otherwise; shuffled unless a `sampler` (e.g. a DistributedSampler) is given; last partial batch
    dropped; workers persistent (`persistent_workers`, default true) and seeded by `worker_init_fn`.
    Validation/test: batch 1 (whole images of different sizes), no shuffling, `num_worker_per_gpu` workers
    (default 0). `phase` is read from the block (`phase` key) or the dataset.
    """
    phase = dataset_opt.get("phase") or getattr(dataset, "phase", "train")
    workers = int(dataset_opt.get("num_worker_per_gpu", 0) or 0)
    if phase == "train":
        multiplier = 1 if dist else max(int(num_gpu), 1)
        batch_size = int(dataset_opt.get("batch_size_per_gpu", 1)) * multiplier
        workers *= multiplier
        shuffle = bool(dataset_opt.get("use_shuffle", True)) if sampler is None else False
        drop_last = True
    else:
        batch_size, shuffle, drop_last = 1, False, False
    kwargs: Dict[str, Any] = dict(
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=bool(dataset_opt.get("pin_memory", torch.cuda.is_available())),
    )
    if workers > 0:
        kwargs["persistent_workers"] = bool(dataset_opt.get("persistent_workers", True))
        kwargs["prefetch_factor"] = int(dataset_opt.get("prefetch_factor", 2))
        kwargs["worker_init_fn"] = functools.partial(
            worker_init_fn,
            num_workers=workers,
            rank=rank,
            seed=int(seed if seed is not None else dataset_opt.get("seed", 0) or 0),
        )
    if seed is not None:  # drives the shuffle order and the workers' base seeds: same seed, same stream
        kwargs["generator"] = torch.Generator().manual_seed(int(seed))
    return DataLoader(dataset, **kwargs)
