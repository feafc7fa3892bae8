"""Labelled degraded crops of the demo photographs, for probing what a degradation embedding has learned.

Every crop of every photograph is degraded by every task at every severity, so the set is balanced by
type and severity and differs only in what the embedding should ignore (the scene). Photographs are
chosen by split (`dpmambair.data.demo.SPLITS`), so a probe can be built from held-out scenes only
(val + test) and compared with one built from training scenes. Each photograph draws its crops and
degradation parameters from its own generator, seeded by (seed, photograph): the same samples in every
run and whatever other photographs are included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, List, Sequence, Tuple

import numpy as np

from .degradations import degrade
from .demo import SPLITS, load_photo, resize_short_side
from .errors import DatasetError
from .seeding import stable_seed
from .tasks import TASKS, canonical_task


@dataclass
class DegradedCrops:
    """`images` (n, h, w, 3) float32 RGB in [0, 1]; per sample its task, severity and photograph."""

    images: np.ndarray
    tasks: List[str] = field(default_factory=list)
    severities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    photos: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def labels(self, names: Sequence[str] = TASKS) -> np.ndarray:
        """Integer task labels: positions in `names` (by default `TASKS`, the codebase-wide label order)."""
        return np.array([list(names).index(t) for t in self.tasks], dtype=np.int64)


def split_photos(splits: Iterable[str]) -> Tuple[str, ...]:
    """The photographs of the named demo splits, in split order; DatasetError naming an unknown split."""
    names: List[str] = []
    for split in splits:
        if split not in SPLITS:
            raise DatasetError(f"unknown demo split '{split}'; known: {', '.join(SPLITS)}")
        names += [n for n in SPLITS[split] if n not in names]
    return tuple(names)


def _check(crops_per_photo: int, crop_size: int, short_side: int, severities: Sequence[float]) -> None:
    for name, value in (("crops_per_photo", crops_per_photo), ("crop_size", crop_size), ("short_side", short_side)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise DatasetError(f"degraded crops: '{name}' must be a positive int, got {value!r}")
    if crop_size > short_side:
        raise DatasetError(f"degraded crops: 'crop_size' ({crop_size}) must not exceed 'short_side' ({short_side})")
    if not severities or any(not 0.0 <= float(s) <= 1.0 for s in severities):
        raise DatasetError(
            f"degraded crops: 'severities' must be a non-empty list of values in [0, 1], got {list(severities)!r}"
        )


def make_degraded_crops(
    photos: Sequence[str],
    severities: Sequence[float],
    crops_per_photo: int = 4,
    crop_size: int = 96,
    short_side: int = 128,
    tasks: Sequence[str] = TASKS,
    seed: int = 0,
) -> DegradedCrops:
    """Crops × tasks × severities of each photograph, degraded one task at a time.

    Each photograph is resized to `short_side` first, so photographs of different resolutions (the training
    photos are larger than the evaluation views) give degradations at the same scale; `crop_size` crops are
    then taken at random positions.
    """
    _check(crops_per_photo, crop_size, short_side, severities)
    task_names = [canonical_task(t) for t in tasks]
    images: List[np.ndarray] = []
    out_tasks: List[str] = []
    out_sev: List[float] = []
    out_photos: List[str] = []
    for photo in photos:
        rng = np.random.default_rng(stable_seed("degraded-crops", seed, photo))
        img = resize_short_side(load_photo(photo), short_side)
        h, w = img.shape[:2]
        for _ in range(crops_per_photo):
            y, x = int(rng.integers(0, h - crop_size + 1)), int(rng.integers(0, w - crop_size + 1))
            crop = np.ascontiguousarray(img[y : y + crop_size, x : x + crop_size])
            for task in task_names:
                for sev in severities:
                    lq, _ = degrade(crop, task, float(sev), rng)
                    images.append(np.clip(lq, 0.0, 1.0).astype(np.float32, copy=False))
                    out_tasks.append(task)
                    out_sev.append(float(sev))
                    out_photos.append(photo)
    if not images:
        raise DatasetError("degraded crops: no photographs given")
    return DegradedCrops(np.stack(images), out_tasks, np.asarray(out_sev, np.float32), out_photos)


__all__ = ["DegradedCrops", "make_degraded_crops", "split_photos"]
