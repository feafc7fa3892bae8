"""A training sampler that can resume in the middle of an epoch and makes every sample's random
augmentation a function of (seed, epoch, position), so an interrupted run replays exactly."""

from __future__ import annotations

import random
from typing import Any, Iterator, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class ResumableSampler(Sampler):
    """Shuffled indices per epoch (identical on every rank), sharded by rank, startable at any batch.

    Yields (index, sample_seed) pairs: `SeededDataset` seeds the augmentation RNGs with the second.
    """

    def __init__(
        self,
        dataset_len: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        enlarge_ratio: int = 1,
    ) -> None:
        self.n = dataset_len * max(int(enlarge_ratio), 1)
        self.dataset_len = dataset_len
        self.batch_size = batch_size
        self.seed, self.rank, self.world_size, self.shuffle = seed, rank, world_size, shuffle
        self.epoch = 0
        self.start_batch = 0
        # whole batches per rank, so every rank runs the same number of steps
        self.batches_per_epoch = max(self.n // (batch_size * world_size), 1)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=gen) if self.shuffle else torch.arange(self.n)
        per_rank = self.batches_per_epoch * self.batch_size
        total = per_rank * self.world_size
        if total > self.n:  # tiny datasets: repeat the order to fill one batch per rank
            order = order.repeat(-(-total // self.n))
        mine = order[:total][self.rank :: self.world_size]
        for pos in range(self.start_batch * self.batch_size, per_rank):
            global_pos = (self.epoch * per_rank + pos) * self.world_size + self.rank
            yield int(mine[pos]) % self.dataset_len, (self.seed * 7_919 + global_pos) % 2**31

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size


class SeededDataset(Dataset):
    """Seeds Python's, NumPy's and torch's global RNGs per sample before reading it, so random crops,
    flips and synthetic degradations depend on the sample's seed, not on worker order."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, item: Any) -> Any:
        index, seed = item if isinstance(item, tuple) else (item, None)
        if seed is None:
            return self.dataset[index]
        in_main = torch.utils.data.get_worker_info() is None
        saved = (random.getstate(), np.random.get_state(), torch.get_rng_state()) if in_main else None
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        if hasattr(self.dataset, "reseed"):
            self.dataset.reseed(seed)
        try:
            return self.dataset[index]
        finally:
            if saved is not None:  # without workers, leave the training loop's RNG streams untouched
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])
