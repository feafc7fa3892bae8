"""Check every dataset of an option file before GPU hours are spent (scripts/check_dataset.py).

Construction already checks folders, pairing, headers and sizes; this adds a full decode of every file (in
threads: OpenCV releases the GIL while decoding), runs the degradation engine once per synthetic degradation,
counts samples per task and collects *all* problems instead of stopping at the first.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .base_dataset import Item
from .builder import build_dataset
from .errors import DatasetError
from .image_io import read_image
from .mixed_degradation_dataset import part_blocks
from .options import phase_of


@dataclass
class DatasetReport:
    """What the checker found for one dataset block."""

    key: str
    type: str
    samples: int = 0
    files: int = 0
    tasks: Dict[str, int] = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def _decode_item(item: Item) -> Optional[str]:
    shapes: List[Tuple[int, ...]] = []
    for path in (item.lq, item.gt):
        if path is None:
            continue
        try:
            shapes.append(read_image(path).shape)
        except DatasetError as err:
            return str(err)
    if len(shapes) == 2 and shapes[0] != shapes[1]:
        return (
            f"lq and gt sizes differ: {item.lq} is {shapes[0][1]}x{shapes[0][0]} "
            f"but {item.gt} is {shapes[1][1]}x{shapes[1][0]}"
        )
    return None


def _check_built(dataset: Any, report: DatasetReport, decode: bool, workers: int) -> None:
    items: List[Item] = dataset.items()
    report.samples += len(dataset)
    for k, v in dataset.task_counts().items():
        report.tasks[k] = report.tasks.get(k, 0) + v
    unique = list({(i.lq, i.gt): i for i in items}.values())
    report.files += len({p for i in unique for p in (i.lq, i.gt) if p is not None})
    if decode:
        with ThreadPoolExecutor(max(workers, 1)) as pool:
            report.problems.extend(p for p in pool.map(_decode_item, unique) if p)
    specs = getattr(dataset, "specs", None)
    if specs and not report.problems:  # run the engine once per synthetic degradation
        step = 1 if dataset.is_train else len(dataset.severities)
        for i in range(len(specs)):
            try:
                dataset[i * step]
            except Exception as err:  # report, don't crash: this is a checker
                report.problems.append(f"{dataset.source}: synthesising '{specs[i][0]}' failed: {err}")


def check_block(key: str, block: Dict[str, Any], source: str, decode: bool = True, workers: int = 2) -> DatasetReport:
    """Check one `datasets.<key>` block; never raises for data problems, they go into the report."""
    start = time.time()
    report = DatasetReport(key, str(block.get("type", "?")) if isinstance(block, dict) else "?")
    try:
        phase = phase_of(block, source)
        if str(block.get("type", "")).lower() == "mixeddegradationdataset":
            layout_problems: List[str] = []
            parts = part_blocks(block, source, phase, layout_problems)
            report.problems.extend(layout_problems)
            for part in parts:
                try:
                    _check_built(build_dataset(part.opt, part.where, phase), report, decode, workers)
                except DatasetError as err:
                    report.problems.extend(getattr(err, "problems", [str(err)]))
            if not report.problems:  # the combination itself (repeat factors, sampling)
                build_dataset(block, source, phase)
        else:
            _check_built(build_dataset(block, source, phase), report, decode, workers)
    except DatasetError as err:
        report.problems.extend(getattr(err, "problems", [str(err)]))
    report.seconds = time.time() - start
    return report


def check_datasets(
    opt: Dict[str, Any], decode: bool = True, workers: int = 2, only: Optional[str] = None
) -> List[DatasetReport]:
    """Check every block under `datasets:` of parsed options (null blocks — cancelled inherited ones — are
    skipped; `only` keeps the blocks whose key starts with it, e.g. 'test')."""
    source = opt.get("opt_path", "options")
    blocks = {
        k: v for k, v in (opt.get("datasets") or {}).items() if v is not None and (not only or str(k).startswith(only))
    }
    if not blocks:
        raise DatasetError(f"{source}: no dataset blocks to check" + (f" starting with '{only}'" if only else ""))
    return [check_block(key, block, f"{source}: datasets.{key}", decode, workers) for key, block in blocks.items()]


def format_reports(reports: List[DatasetReport], max_problems: int = 10) -> str:
    """Human-readable summary: counts per task per dataset, then the first problems found."""
    lines: List[str] = []
    for r in reports:
        status = "OK" if r.ok else f"{len(r.problems)} PROBLEM(S)"
        lines.append(
            f"[{status}] datasets.{r.key} ({r.type}): {r.samples} samples, {r.files} files checked in {r.seconds:.1f}s"
        )
        for task, n in sorted(r.tasks.items()):
            lines.append(f"    {task:<10} {n}")
        for p in r.problems[:max_problems]:
            lines.append(f"    problem: {p}")
        if len(r.problems) > max_problems:
            lines.append(f"    ... and {len(r.problems) - max_problems} more problems")
    return "\n".join(lines)
