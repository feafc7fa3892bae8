"""Clean images → degraded/clean pairs made on the fly by the degradation engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from dpmambair.utils.registry import DATASET_REGISTRY

from .base_dataset import BaseImageDataset, Item
from .degradations import ORDER, apply_params, parse_types, sample_params
from .errors import DatasetError
from .image_io import list_images, read_image
from .options import get_bool, repeat_factors
from .pairing import check_folder, check_images
from .seeding import stable_seed
from .tasks import TASKS
from .transforms import paired_random_crop, random_crop

DEFAULT_VAL_SEVERITIES = (0.25, 0.5, 0.75)
JPEG_BLOCK = 8


@DATASET_REGISTRY.register()
class SyntheticDegradationDataset(BaseImageDataset):
    """Pairs synthesised from clean images: `lq = degrade(gt)`.

    Options: `dataroot_gt` (folder of clean images; `meta_info_file` may list a subset), `degradations`
    (default: all of TASKS; an entry may be a compound such as `rain+fog`, labelled with its first part),
    `severity` ([low, high] range drawn uniformly when training; default [0, 1]), `severities` (fixed list for
    validation/test; default [0.25, 0.5, 0.75]), `compound_prob` (training: chance of adding one more random
    degradation to a sample; default 0), `degrade_size` (training: side of the region that is degraded before
    the `gt_size` crop is cut from it, at least `gt_size`; default: the crop itself), `repeat` (training:
    {task: factor}, how many times per epoch each image is drawn with that degradation, as in
    MixedDegradationDataset; fractions allowed), `degradation_opts`
    ({type: {param: [mild, severe]}}), `seed` (the validation set's seed), `cache_images` (keep decoded clean
    images in memory; for small sets), and the augmentation keys.

    Index → (image, degradation[, severity]) deterministically, so a shuffled epoch sees every degradation of
    every image equally often. Training: random crop, flips, then the degradation with random parameters
    from the sample's generator. With `degrade_size` > `gt_size` a larger region is degraded and the
    training pair is a random crop of it: like a crop of a degraded photo (what real datasets and the test
    images are), instead of a small crop degraded on its own, where a motion-blur kernel reaches the
    reflected border over much of the patch and the fog depth ramp spans only the patch. Validation/test:
    whole images, parameters from a seed fixed per (image, degradation, severity) — the same pairs in every
    run, on every machine, with any number of workers.
    Samples carry `degradation` (e.g. 'rain+fog') and `params` (JSON of the parameters that reproduce `lq`);
    `lq_path` is a virtual name `<stem>_<degradation>_s<severity×100>.png` beside the clean image.
    """

    KEYS = frozenset(
        {
            "dataroot_gt",
            "meta_info_file",
            "degradations",
            "severity",
            "severities",
            "compound_prob",
            "degrade_size",
            "repeat",
            "degradation_opts",
            "cache_images",
            "recursive",
            "task",
            "check_sizes",
        }
    )

    def __init__(self, opt: Dict[str, Any], source: str = "SyntheticDegradationDataset") -> None:
        super().__init__(opt, source)
        try:
            root = check_folder(self.opt.get("dataroot_gt"), "dataroot_gt")
        except DatasetError as err:
            raise self.fail(str(err)) from None
        self.root = root
        problems: List[str] = []
        meta = self.opt.get("meta_info_file")
        if meta:
            self.files = self._from_meta(Path(meta), root, problems)
        else:
            self.files = list_images(root, get_bool(self.opt, "recursive", False, source))
            if not self.files:
                problems.append(f"no images in dataroot_gt folder {root}")
        if not problems and get_bool(self.opt, "check_sizes", True, source):
            self.warn_small(check_images(self.files, problems))
        self.raise_problems(problems)

        specs = self.opt.get("degradations")
        if specs is None:
            specs = [self.task_name] if self.task_name else list(TASKS)
        if isinstance(specs, str):
            specs = [specs]
        if not specs:
            raise self.fail("'degradations' is empty")
        self.specs: List[Tuple[str, List[str], str]] = []  # (label, types in imaging order, primary task)
        for spec in specs:
            try:
                types = parse_types(str(spec))
            except (KeyError, ValueError) as err:
                raise self.fail(str(err)) from None
            primary = self.canonical(str(spec).split("+")[0])
            self.specs.append(("+".join(types), types, primary))
        self.ranges = self._ranges()
        self.slots = self._train_slots() if self.is_train else None
        self.severity = self._range("severity", (0.0, 1.0))
        sev = self.opt.get("severities", DEFAULT_VAL_SEVERITIES)
        sev = [sev] if isinstance(sev, (int, float)) else list(sev)
        if not sev or any(not 0.0 <= float(s) <= 1.0 for s in sev):
            raise self.fail(f"'severities' must be numbers in [0, 1], got {self.opt.get('severities')!r}")
        self.severities = [float(s) for s in sev]
        self.compound_prob = float(self.opt.get("compound_prob", 0.0) or 0.0)
        if not 0.0 <= self.compound_prob <= 1.0:
            raise self.fail(f"'compound_prob' must lie in [0, 1], got {self.compound_prob}")
        size = self.opt.get("degrade_size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise self.fail(
                f"'degrade_size' must be a positive int (pixels; the region is at least gt_size), or null; got {size!r}"
            )
        # side of the training region that is degraded; larger than gt_size: the pair is cropped from it after
        self.region = max(size or 0, self.gt_size or 0)
        self.cache: Optional[Dict[int, np.ndarray]] = {} if get_bool(self.opt, "cache_images", False, source) else None

    def needs_gt_size(self) -> bool:
        return True

    def _from_meta(self, meta: Path, root: Path, problems: List[str]) -> List[Path]:
        if not meta.is_file():
            problems.append(f"meta_info_file not found: {meta}")
            return []
        files, missing = [], []
        for raw in meta.read_text().splitlines():
            name = raw.strip().split(" (")[0].split()[0] if raw.strip() else ""
            if not name or name.startswith("#"):
                continue
            (files if (root / name).is_file() else missing).append(root / name)
        if missing:
            problems.append(
                f"files listed in {meta} but missing: {', '.join(map(str, missing[:5]))} ({len(missing)} in total)"
            )
        elif not files:
            problems.append(f"meta_info_file lists no images: {meta}")
        return files

    def _range(self, key: str, default: Tuple[float, float]) -> Tuple[float, float]:
        value = self.opt.get(key, default)
        lo, hi = (value, value) if isinstance(value, (int, float)) else tuple(value)
        if not 0.0 <= float(lo) <= float(hi) <= 1.0:
            raise self.fail(f"'{key}' must be a number or a [low, high] range inside [0, 1], got {value!r}")
        return float(lo), float(hi)

    def _ranges(self) -> Dict[str, Dict[str, Any]]:
        raw = self.opt.get("degradation_opts") or {}
        if not isinstance(raw, dict):
            raise self.fail("'degradation_opts' must map degradation names to {parameter: [mild, severe]}")
        out = {self.canonical(k): dict(v or {}) for k, v in raw.items()}
        rng = np.random.default_rng(0)
        for name, ranges in out.items():  # fail now on a misspelt parameter, not in a worker
            try:
                sample_params([name], 0.5, rng, {name: ranges})
            except (ValueError, TypeError) as err:
                raise self.fail(f"degradation_opts: {err}") from None
        return out

    def _train_slots(self) -> Optional[List[Tuple[int, int]]]:
        """(image, spec) of each training index when `repeat` is set; None: each pair once, index = image·n_spec + spec.

        Why: the same `repeat: {task: factor}` as MixedDegradationDataset, so an all-in-one option file can
        weight the tasks whichever dataset type it trains on. A factor f gives round(f · images) slots (at
        least one), cycling through the images.
        """
        if self.opt.get("repeat") is None:
            return None
        try:
            factors = repeat_factors(self.opt["repeat"], [p for _, _, p in self.specs], self.canonical, "degradations")
        except ValueError as err:
            raise self.fail(str(err)) from None
        n = len(self.files)
        slots: List[Tuple[int, int]] = []
        for spec_i, (_, _, primary) in enumerate(self.specs):
            slots += [(k % n, spec_i) for k in range(max(1, round(factors.get(primary, 1.0) * n)))]
        return slots

    # ---- Dataset -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        if self.slots is not None:
            return len(self.slots)
        n = len(self.files) * len(self.specs)
        return n if self.is_train else n * len(self.severities)

    def clean(self, i: int) -> np.ndarray:
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        img = read_image(self.files[i])
        if self.cache is not None:
            self.cache[i] = img
        return img

    def _virtual_lq(self, path: Path, label: str, severity: float) -> Path:
        return path.with_name(f"{path.stem}_{label.replace('+', '-')}_s{int(round(severity * 100)):03d}.png")

    def __getitem__(self, index: int) -> Dict[str, Any]:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        n_spec = len(self.specs)
        if self.is_train:
            image_i, spec_i = self.slots[index] if self.slots is not None else divmod(index, n_spec)
            rng = self.sample_rng()
            gt = random_crop(self.clean(image_i), self.region, rng)
            gt = self.augment([gt], rng)[0]
            severity = float(rng.uniform(*self.severity))
            label, types, primary = self.specs[spec_i]
            add_one, extra = rng.random() < self.compound_prob, ORDER[int(rng.integers(len(ORDER)))]
            if add_one and extra not in types:
                types = [t for t in ORDER if t in set(types) | {extra}]
                label = "+".join(types)
        else:
            image_i, rest = divmod(index, n_spec * len(self.severities))
            spec_i, sev_i = divmod(rest, len(self.severities))
            severity = self.severities[sev_i]
            label, types, primary = self.specs[spec_i]
            gt = self.clean(image_i)
            name = self.files[image_i].relative_to(self.root).as_posix()
            rng = np.random.default_rng(stable_seed("val", self.base_seed, name, label, severity))
        params = sample_params(types, severity, rng, self.ranges)
        lq = apply_params(gt, params)
        if self.is_train and self.region > self.gt_size:
            # on the 8-pixel grid: JPEG blocks stay aligned with the image origin, as in a whole test image
            lq, gt = paired_random_crop(lq, gt, self.gt_size, rng, align=JPEG_BLOCK)
        path = self.files[image_i]
        return self.make_sample(
            np.ascontiguousarray(lq),
            np.ascontiguousarray(gt),
            self._virtual_lq(path, label, severity),
            path,
            primary,
            degradation=label,
            params=json.dumps(params),
        )

    def items(self) -> List[Item]:
        if self.slots is not None:
            return [Item(None, self.files[i], self.specs[s][2]) for i, s in self.slots]
        per = 1 if self.is_train else len(self.severities)
        return [Item(None, f, primary) for f in self.files for _, _, primary in self.specs for _ in range(per)]
