"""Data layer: datasets (registered in DATASET_REGISTRY), the degradation engine, loaders and helpers.

Every `*_dataset.py` module here registers its classes when this package is imported. The package knows
no networks (the layering in README.md, "Layout").
"""

from __future__ import annotations

from dpmambair.utils.misc import import_modules_with_suffix
from dpmambair.utils.registry import DATASET_REGISTRY

from .builder import build_dataset
from .errors import DatasetError
from .loader import build_dataloader, worker_init_fn
from .progressive import ProgressiveSchedule, crop_batch
from .tasks import DACLIP_FOLDERS, TASK_ALIASES, TASKS, canonical_task, task_index

_modules = import_modules_with_suffix(__file__, __name__, "_dataset")

__all__ = [
    "DATASET_REGISTRY",
    "TASKS",
    "TASK_ALIASES",
    "DACLIP_FOLDERS",
    "DatasetError",
    "ProgressiveSchedule",
    "build_dataloader",
    "build_dataset",
    "canonical_task",
    "crop_batch",
    "task_index",
    "worker_init_fn",
]
