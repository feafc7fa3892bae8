"""Several degradation-specific datasets as one, each sample labelled with its task index from TASKS."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from torch.utils.data import Dataset

from dpmambair.utils.registry import DATASET_REGISTRY

from .base_dataset import BaseImageDataset, Item
from .builder import build_dataset
from .errors import DatasetError
from .options import AUGMENT_KEYS, repeat_factors
from .pairing import check_folder
from .tasks import TASKS, canonical_task, folder_candidates

LQ_NAMES = ("LQ", "lq", "input", "degraded")
GT_NAMES = ("GT", "gt", "target", "clean")
INHERITED = tuple(sorted(AUGMENT_KEYS | {"phase", "io_backend", "check_sizes", "filename_tmpl", "seed"}))


@dataclass(frozen=True)
class PartBlock:
    """One part of a mixed dataset: where it is described, its task, its dataset block and repeat factor."""

    where: str
    task: Optional[str]
    opt: Dict[str, Any]
    repeat: float


def _canonical(name: Any, where: str) -> str:
    try:
        return canonical_task(str(name))
    except KeyError as err:
        raise DatasetError(f"{where}: {str(err)}") from None


def _find_sub(folder: Path, names: Sequence[str], what: str, given: Optional[str], where: str) -> Path:
    if given:
        path = folder / str(given)
        if path.is_dir():
            return path
        raise DatasetError(f"{where}: {what} folder not found: {path}")
    for n in names:
        if (folder / n).is_dir():
            return folder / n
    raise DatasetError(f"{where}: {what} folder not found in {folder} (looked for {', '.join(names)})")


def part_blocks(opt: Dict[str, Any], source: str, phase: str, problems: Optional[List[str]] = None) -> List[PartBlock]:
    """The dataset block of every part of a MixedDegradationDataset block, without building anything.

    Layout problems (missing dataroot, no folder for a degradation, missing LQ/GT folder) raise a
    DatasetError, or — when a `problems` list is given, as the dataset checker does — are appended to it and
    the part is skipped, so that every part can still be checked.
    """
    inherited = {k: opt[k] for k in INHERITED if k in opt}
    inherited["phase"] = phase
    blocks: List[PartBlock] = []

    def report(err: DatasetError) -> None:
        if problems is None:
            raise err
        problems.append(str(err))

    if opt.get("datasets") and opt.get("dataroot"):
        raise DatasetError(f"{source}: give either 'dataroot' (+ 'degradations') or a 'datasets' list, not both")
    if opt.get("datasets"):
        entries = opt["datasets"]
        if not isinstance(entries, list):
            raise DatasetError(f"{source}: 'datasets' must be a list of dataset blocks")
        for i, entry in enumerate(entries):
            where = f"{source}.datasets[{i}]"
            if not isinstance(entry, dict):
                raise DatasetError(f"{where}: must be a dataset block (a mapping)")
            sub = dict(inherited, **{k: v for k, v in entry.items() if k != "repeat"})
            sub.setdefault("type", "PairedImageDataset")
            task = _canonical(sub["task"], where) if sub.get("task") is not None else None
            if task is None and str(sub["type"]).lower() == "pairedimagedataset":
                raise DatasetError(f"{where}: needs 'task' (one of {', '.join(TASKS)}) so its samples are labelled")
            if task is not None:
                sub["task"] = task
            blocks.append(PartBlock(where, task, sub, float(entry.get("repeat", 1.0))))
        return blocks
    try:
        root = check_folder(opt.get("dataroot"), "dataroot")
    except DatasetError as err:
        raise DatasetError(f"{source}: {err}") from None
    names = opt.get("degradations") or list(TASKS)
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise DatasetError(f"{source}: 'degradations' is empty")
    seen: Dict[str, str] = {}
    for name in names:
        task = _canonical(name, source)
        if task in seen:
            raise DatasetError(f"{source}: degradation '{name}' repeats '{seen[task]}' (both are task '{task}')")
        seen[task] = str(name)
        candidates = folder_candidates(str(name))
        folder = next((root / c for c in candidates if (root / c).is_dir()), None)
        where = f"{source} [{name}]"
        if folder is None:
            report(
                DatasetError(
                    f"{source}: no folder for degradation '{name}' in {root} (looked for {', '.join(candidates)})"
                )
            )
            continue
        try:
            lq = _find_sub(folder, LQ_NAMES, "LQ", opt.get("lq_folder"), where)
            gt = _find_sub(folder, GT_NAMES, "GT", opt.get("gt_folder"), where)
        except DatasetError as err:
            report(err)
            continue
        sub = dict(inherited, type="PairedImageDataset", task=task, dataroot_lq=str(lq), dataroot_gt=str(gt))
        if "recursive" in opt:
            sub["recursive"] = opt["recursive"]
        blocks.append(PartBlock(where, task, sub, 1.0))
    return blocks


@DATASET_REGISTRY.register()
class MixedDegradationDataset(BaseImageDataset):
    """The all-in-one training/validation set: one sub-dataset per degradation, combined.

    Two ways to describe the parts:

    * `dataroot` + `degradations` — DA-CLIP's "universal" layout `<dataroot>/<degradation>/{LQ,GT}`; each name
      may be a task name or alias (`hazy`, `low-light`, ...); its folder is found under any of its names.
    * `datasets:` — a list of dataset blocks (`type` defaults to PairedImageDataset), each with a `task`
      (and optional `repeat`); augmentation keys and `phase` are inherited from this block.

    Task labels always come from TASKS (never from list order). Combination (training only; validation and
    test use every image exactly once): `sampling: concat` (default) repeats task t's images `repeat[t]`
    times per epoch (fractions allowed); `sampling: balanced` first equalises every task to the largest one,
    then applies the repeat factors as weights.
    """

    KEYS = frozenset(
        {
            "dataroot",
            "degradations",
            "datasets",
            "sampling",
            "repeat",
            "lq_folder",
            "gt_folder",
            "filename_tmpl",
            "check_sizes",
            "recursive",
        }
    )

    def __init__(self, opt: Dict[str, Any], source: str = "MixedDegradationDataset") -> None:
        super().__init__(opt, source)
        parts = [
            (b.task, build_dataset(b.opt, b.where, self.phase), b.repeat)
            for b in part_blocks(self.opt, source, self.phase)
        ]
        repeat = self._repeat_factors([t for t, _, _ in parts], [r for _, _, r in parts])
        self.parts: List[Tuple[Optional[str], Dataset]] = [(t, d) for t, d, _ in parts]
        sampling = str(self.opt.get("sampling", "concat")).lower()
        if sampling not in ("concat", "balanced"):
            raise self.fail(f"sampling must be 'concat' or 'balanced', got '{sampling}'")
        sizes = [len(d) for _, d in self.parts]  # type: ignore[arg-type]
        if not self.is_train:
            self.lengths = sizes
        else:
            base = [max(sizes)] * len(sizes) if sampling == "balanced" else sizes
            self.lengths = [max(1, int(round(b * r))) for b, r in zip(base, repeat)]
        self.sizes = sizes
        self.offsets = [0]
        for n in self.lengths:
            self.offsets.append(self.offsets[-1] + n)

    def needs_gt_size(self) -> bool:
        return False  # the parts decide (a synthetic part may crop, a paired part needs gt_size itself)

    def _repeat_factors(self, tasks: Sequence[Optional[str]], own: Sequence[float]) -> List[float]:
        try:
            by_task = repeat_factors(self.opt.get("repeat"), tasks, self.canonical, "parts")
        except ValueError as err:
            raise self.fail(str(err)) from None
        out = []
        for t, r_own in zip(tasks, own):
            r = by_task.get(t, r_own) if t else r_own
            if r <= 0:
                raise self.fail(f"repeat factor for '{t}' must be positive, got {r}")
            out.append(r)
        return out

    # ---- Dataset -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.offsets[-1]

    def locate(self, index: int) -> Tuple[int, int]:
        """(part, index within the part) of a global index."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        part = bisect.bisect_right(self.offsets, index) - 1
        local = index - self.offsets[part]
        return part, (local * self.sizes[part]) // self.lengths[part]

    def __getitem__(self, index: int) -> Dict[str, Any]:
        part, local = self.locate(int(index))
        sample = self.parts[part][1][local]
        # one key set for every part, so a batch mixing real and synthetic pairs still collates
        sample.setdefault("degradation", sample.get("task_name", ""))
        sample.setdefault("params", "")
        return sample

    def reseed(self, seed: int) -> None:
        super().reseed(seed)
        for _, d in self.parts:
            if hasattr(d, "reseed"):
                d.reseed(seed)

    def items(self) -> List[Item]:
        out: List[Item] = []
        for _, d in self.parts:
            out.extend(d.items())  # type: ignore[attr-defined]
        return out

    def task_counts(self) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        for _, d in self.parts:
            for k, v in d.task_counts().items():  # type: ignore[attr-defined]
                counts[k] = counts.get(k, 0) + v
        return counts
