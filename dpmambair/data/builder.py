"""`build_dataset`: option block → dataset instance, through DATASET_REGISTRY."""

from __future__ import annotations

import copy
from typing import Any, Dict, Optional

from torch.utils.data import Dataset

from dpmambair.utils.registry import DATASET_REGISTRY

from .errors import DatasetError
from .options import phase_of


def build_dataset(opt: Dict[str, Any], source: str = "dataset", phase: Optional[str] = None) -> Dataset:
    """Build the dataset an option block describes (`type` names a registered class).

    `source` names where the block came from (e.g. 'options/x.yml: datasets.train'); every error is one line
    starting with it. The phase is `phase`, else the block's `phase` key, else derived from the block name in
    `source` (train / val / test), so blocks written without `phase:` work as in BasicSR.
    """
    if not isinstance(opt, dict) or not opt.get("type"):
        raise DatasetError(
            f"{source}: a dataset needs a 'type' key naming one of: {', '.join(DATASET_REGISTRY.keys())}"
        )
    opt = copy.deepcopy(opt)
    opt["phase"] = phase or phase_of(opt, source)
    cls = DATASET_REGISTRY.find(str(opt["type"]))
    if cls is None:
        raise DatasetError(
            f"{source}: unknown dataset type '{opt['type']}'; known types: {', '.join(DATASET_REGISTRY.keys())}"
        )
    return cls(opt, source)  # type: ignore[operator]
