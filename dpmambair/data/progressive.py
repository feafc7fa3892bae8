"""Progressive patch training as Restormer does it: small patches with large batches first, then larger.

The loader always produces the largest patch (`gt_size`) at the largest batch (`batch_size_per_gpu`); the
trainer asks `ProgressiveSchedule.at(iteration)` for the current (batch, patch) and calls `crop_batch` to keep
that many samples and one random aligned patch of that size from them. Both are pure: randomness comes from
the generator the trainer passes (Python's `random` module state is part of its training state).
"""

from __future__ import annotations

import random
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .errors import DatasetError

Rng = Union[random.Random, np.random.Generator, Any]


@dataclass(frozen=True)
class ProgressiveSchedule:
    """Stage i lasts `iters[i]` iterations with `mini_batch_sizes[i]` samples of `gt_sizes[i]` pixels.

    Iterations are counted from 1, as BasicSR does; iterations past the last stage stay in the last stage.
    """

    iters: Tuple[int, ...]
    mini_batch_sizes: Tuple[int, ...]
    gt_sizes: Tuple[int, ...]

    def __post_init__(self) -> None:
        n = len(self.iters)
        if n == 0 or len(self.mini_batch_sizes) != n or len(self.gt_sizes) != n:
            raise DatasetError(
                f"progressive training needs iters, mini_batch_sizes and gt_sizes of one length, got "
                f"{list(self.iters)}, {list(self.mini_batch_sizes)}, {list(self.gt_sizes)}"
            )
        if any(int(v) <= 0 for v in (*self.iters, *self.mini_batch_sizes, *self.gt_sizes)):
            raise DatasetError("progressive training: iters, mini_batch_sizes and gt_sizes must be positive")

    @classmethod
    def from_options(
        cls, dataset_opt: Dict[str, Any], source: str = "datasets.train"
    ) -> Optional["ProgressiveSchedule"]:
        """The schedule an option block describes, or None when it has no `iters` (fixed batch and patch).

        `gt_sizes` must not exceed `gt_size` and `mini_batch_sizes` not `batch_size_per_gpu`: the loader
        produces the largest batch and patch, and stages can only shrink them.
        """
        iters = dataset_opt.get("iters")
        if not iters:
            return None
        try:
            sched = cls(
                tuple(int(v) for v in iters),
                tuple(int(v) for v in dataset_opt.get("mini_batch_sizes") or ()),
                tuple(int(v) for v in dataset_opt.get("gt_sizes") or ()),
            )
        except DatasetError as err:
            raise DatasetError(f"{source}: {err}") from None
        gt_size = int(dataset_opt.get("gt_size") or 0)
        batch = int(dataset_opt.get("batch_size_per_gpu") or 0)
        if gt_size and max(sched.gt_sizes) > gt_size:
            raise DatasetError(f"{source}: gt_sizes {list(sched.gt_sizes)} exceed gt_size {gt_size} (the loaded patch)")
        if batch and max(sched.mini_batch_sizes) > batch:
            raise DatasetError(
                f"{source}: mini_batch_sizes {list(sched.mini_batch_sizes)} exceed batch_size_per_gpu {batch}"
            )
        return sched

    @property
    def bounds(self) -> Tuple[int, ...]:
        """Last iteration of each stage."""
        return tuple(int(v) for v in np.cumsum(self.iters))

    def stage(self, iteration: int) -> int:
        return min(bisect_left(self.bounds, int(iteration)), len(self.iters) - 1)

    def at(self, iteration: int) -> Tuple[int, int]:
        """(mini batch size, patch size) for this iteration."""
        s = self.stage(iteration)
        return self.mini_batch_sizes[s], self.gt_sizes[s]


def _uniform(rng: Rng) -> float:
    return float(rng.random())


def crop_batch(
    data: Dict[str, Any], batch: int, patch: int, rng: Rng, keys: Sequence[str] = ("lq", "gt")
) -> Dict[str, Any]:
    """Keep `batch` random samples of a collated batch and one random patch×patch box (the same for every
    sample and for lq and gt), as Restormer's progressive training does.

    Per-sample entries (tensors with the batch as first dimension, lists of the batch's length) are
    sub-sampled together, so `task`, `lq_path`, ... still describe the kept samples. `rng` is anything with a
    `random()` method (Python's `random` module or a `random.Random`, or a numpy Generator).
    """
    n = int(data[keys[0]].shape[0])
    if batch < n:
        order = sorted(range(n), key=lambda _: _uniform(rng))
        keep = sorted(order[:batch])
        index = torch.as_tensor(keep)
        data = {
            k: (
                v.index_select(0, index)
                if isinstance(v, torch.Tensor) and v.ndim and v.shape[0] == n
                else [v[i] for i in keep]
                if isinstance(v, (list, tuple)) and len(v) == n
                else v
            )
            for k, v in data.items()
        }
    h, w = data[keys[0]].shape[-2:]
    if patch < h or patch < w:
        top = int((h - patch) * _uniform(rng)) if patch < h else 0
        left = int((w - patch) * _uniform(rng)) if patch < w else 0
        data = dict(data)
        for k in keys:
            if k in data:
                data[k] = data[k][..., top : top + patch, left : left + patch]
    return data
