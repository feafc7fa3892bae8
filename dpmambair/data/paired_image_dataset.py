"""Paired lq/gt images from two folders (or a meta-info file): the dataset of every single-task benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from dpmambair.utils.registry import DATASET_REGISTRY

from .base_dataset import BaseImageDataset, Item
from .errors import DatasetError
from .image_io import read_image
from .options import get_bool
from .pairing import Pair, check_folder, check_pair_sizes, pair_folders, pairs_from_meta_info, templates_from_option
from .transforms import paired_random_crop


@DATASET_REGISTRY.register()
class PairedImageDataset(BaseImageDataset):
    """lq/gt pairs matched by file name.

    Options (BasicSR names): `dataroot_lq`, `dataroot_gt`; `filename_tmpl` (lq stem = tmpl.format(gt stem), or
    `{lq: 'rain-{}', gt: 'norain-{}'}` when both names differ; lq and gt may then share one folder);
    `meta_info_file` (lines `lq_rel gt_rel`, or one gt name); `recursive` (pair by relative path in nested
    folders); `task` (a name from TASKS, adds `task`/`task_name` to samples); `gt_size`, `use_hflip`,
    `use_vflip`, `use_rot` for training; `check_sizes` (default true: read every header at start-up).

    Training samples are random aligned gt_size crops (reflect-padded when an image is smaller) with the same
    flips for lq and gt; validation/test samples are whole images.
    """

    KEYS = frozenset(
        {"dataroot_lq", "dataroot_gt", "meta_info_file", "filename_tmpl", "recursive", "task", "check_sizes"}
    )

    def __init__(self, opt: Dict[str, Any], source: str = "PairedImageDataset") -> None:
        super().__init__(opt, source)
        try:
            lq_dir = check_folder(self.opt.get("dataroot_lq"), "dataroot_lq")
            gt_dir = check_folder(self.opt.get("dataroot_gt"), "dataroot_gt")
            lq_tmpl, gt_tmpl = templates_from_option(self.opt.get("filename_tmpl"))
        except DatasetError as err:  # from the helpers: add the source
            raise self.fail(str(err)) from None
        problems: List[str] = []
        meta = self.opt.get("meta_info_file")
        if meta:
            self.pairs = pairs_from_meta_info(Path(meta), lq_dir, gt_dir, lq_tmpl, problems)
        else:
            self.pairs = pair_folders(
                lq_dir, gt_dir, lq_tmpl, gt_tmpl, problems, recursive=get_bool(self.opt, "recursive", False, source)
            )
        if not problems and not self.pairs:
            problems.append(f"no lq/gt pairs found in {lq_dir} and {gt_dir}")
        if self.pairs and get_bool(self.opt, "check_sizes", True, source):  # also after pairing problems: list all
            self.warn_small(check_pair_sizes(self.pairs, problems))
        self.raise_problems(problems)

    def __len__(self) -> int:
        return len(self.pairs)

    def load_pair(self, pair: Pair) -> tuple:
        """Decode both images; a size mismatch (possible when check_sizes is off) names both files."""
        lq, gt = read_image(pair.lq), read_image(pair.gt)
        if lq.shape != gt.shape:
            raise self.fail(
                f"lq and gt sizes differ: {pair.lq} is {lq.shape[1]}x{lq.shape[0]} but {pair.gt} is "
                f"{gt.shape[1]}x{gt.shape[0]}"
            )
        return lq, gt

    def __getitem__(self, index: int) -> Dict[str, Any]:
        pair = self.pairs[index]
        lq, gt = self.load_pair(pair)
        if self.is_train:
            rng = self.sample_rng()
            lq, gt = paired_random_crop(lq, gt, self.gt_size, rng)
            lq, gt = self.augment([lq, gt], rng)
        return self.make_sample(np.ascontiguousarray(lq), np.ascontiguousarray(gt), pair.lq, pair.gt, self.task_name)

    def items(self) -> List[Item]:
        return [Item(p.lq, p.gt, self.task_name) for p in self.pairs]
