"""What the paired, mixed and synthetic datasets share: options, augmentation, sample dicts, item listing."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from torch.utils.data import Dataset

from .errors import DatasetError
from .image_io import img_to_tensor
from .options import check_io_backend, check_keys, get_bool, get_size, phase_of
from .seeding import SeedableMixin
from .tasks import TASKS, canonical_task
from .transforms import augment


@dataclass(frozen=True)
class Item:
    """One sample's files for checking: `lq` is None for on-the-fly synthesis."""

    lq: Optional[Path]
    gt: Path
    task: Optional[str]


class BaseImageDataset(SeedableMixin, Dataset):
    """Common option handling; subclasses list their own keys in `KEYS`."""

    KEYS: frozenset = frozenset()

    def __init__(self, opt: Dict[str, Any], source: str = "dataset") -> None:
        self.opt = dict(opt)
        self.source = source
        check_keys(self.opt, self.KEYS, source)
        check_io_backend(self.opt, source)
        self.phase = phase_of(self.opt, source)
        self.is_train = self.phase == "train"
        self.gt_size = get_size(self.opt, "gt_size", source, required=self.is_train and self.needs_gt_size())
        flip = get_bool(self.opt, "use_flip", False, source)  # BasicSR's older single key
        self.use_hflip = get_bool(self.opt, "use_hflip", flip, source)
        self.use_vflip = get_bool(self.opt, "use_vflip", flip, source)
        self.use_rot = get_bool(self.opt, "use_rot", False, source)
        self.base_seed = int(self.opt.get("seed", 0) or 0)
        task = self.opt.get("task")
        self.task_name: Optional[str] = self.canonical(task) if task is not None else None

    def needs_gt_size(self) -> bool:
        return True

    def fail(self, message: str) -> DatasetError:
        return DatasetError(f"{self.source}: {message}")

    def canonical(self, name: Any) -> str:
        try:
            return canonical_task(str(name))
        except KeyError as err:
            raise self.fail(str(err)) from None

    def raise_problems(self, problems: Sequence[str]) -> None:
        """Stop at construction on the first problem found, saying how many more there are."""
        if problems:
            more = (
                f" (and {len(problems) - 1} more problems; scripts/check_dataset.py lists them)"
                if len(problems) > 1
                else ""
            )
            err = self.fail(problems[0] + more)
            err.problems = [f"{self.source}: {p}" for p in problems]  # all of them, for the checker
            raise err

    def warn_small(self, sizes: Dict[Path, Tuple[int, int]]) -> None:
        """Images smaller than the patch are reflect-padded (documented choice); say so once, at construction."""
        if not (self.is_train and self.gt_size):
            return
        small = [p for p, (h, w) in sizes.items() if h < self.gt_size or w < self.gt_size]
        if small:
            warnings.warn(
                f"{self.source}: {len(small)} images are smaller than gt_size {self.gt_size} and will be "
                f"reflect-padded, e.g. {small[0]}",
                stacklevel=3,
            )

    def augment(self, imgs: Sequence[np.ndarray], rng: np.random.Generator) -> List[np.ndarray]:
        return augment(imgs, self.use_hflip, self.use_vflip, self.use_rot, rng)

    @staticmethod
    def make_sample(
        lq: np.ndarray, gt: np.ndarray, lq_path: Any, gt_path: Any, task: Optional[str], **extra: Any
    ) -> Dict[str, Any]:
        sample: Dict[str, Any] = {
            "lq": img_to_tensor(lq),
            "gt": img_to_tensor(gt),
            "lq_path": str(lq_path),
            "gt_path": str(gt_path),
        }
        if task is not None:
            sample["task"] = TASKS.index(task)
            sample["task_name"] = task
        sample.update(extra)
        return sample

    def items(self) -> List[Item]:  # pragma: no cover - abstract
        raise NotImplementedError

    def task_counts(self) -> Dict[str, int]:
        """Samples per task name ('unlabelled' for samples without one), for reports."""
        counts: Dict[str, int] = {}
        for item in self.items():
            key = item.task or "unlabelled"
            counts[key] = counts.get(key, 0) + 1
        return counts
