"""Write a ready paired dataset from a folder of clean images (scripts/synthesize.py, demo data).

Every pair's parameters go to `metadata.jsonl` (one JSON object per line: lq, gt, source image, degradation,
task, severity, params), so any pair can be regenerated exactly with `degradations.apply_params` and a
results table can be broken down by the real degradation strength. Seeds are derived from (seed, image
name, degradation, pair index), so output is identical across runs and independent of the order or
subset of images processed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .degradations import apply_params, parse_types, sample_params
from .errors import DatasetError
from .image_io import list_images, read_image, write_image
from .seeding import stable_seed
from .tasks import canonical_task

LAYOUTS = ("flat", "per-task")
METADATA = "metadata.jsonl"


def resize_max_side(img: np.ndarray, max_side: Optional[int]) -> np.ndarray:
    """Shrink (never enlarge) so the longer side is at most `max_side`, with area interpolation."""
    if not max_side or max(img.shape[:2]) <= max_side:
        return img
    h, w = img.shape[:2]
    s = max_side / max(h, w)
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _label(types: List[str]) -> str:
    return "-".join(types)


def synthesize_folder(
    input_dir: Union[str, Path],
    output_dir: Union[str, Path],
    types: Sequence[str],
    seed: int = 0,
    severities: Optional[Sequence[float]] = None,
    severity_range: Tuple[float, float] = (0.0, 1.0),
    count: int = 1,
    layout: str = "flat",
    ranges: Optional[Mapping[str, Mapping[str, Any]]] = None,
    max_side: Optional[int] = None,
    overwrite: bool = False,
) -> Dict[str, Any]:
    """Degrade every clean image in `input_dir` with every entry of `types` ('rain', or 'rain+fog' compounds).

    `severities` gives fixed severities (one pair per value); otherwise `count` pairs with severities drawn
    uniformly from `severity_range`. Layout 'flat': `<out>/lq/<stem>_<type>_s<sev>.png` and the same name
    under `<out>/gt/`; 'per-task': `<out>/<type>/{lq,gt}/<stem>_s<sev>.png` (readable by
    MixedDegradationDataset with `dataroot: <out>`). Returns a summary dict.
    """
    src, out = Path(input_dir), Path(output_dir)
    if not src.is_dir():
        raise DatasetError(f"input folder not found: {src}")
    files = list_images(src)
    if not files:
        raise DatasetError(f"no images in input folder {src}")
    if layout not in LAYOUTS:
        raise DatasetError(f"layout must be one of {', '.join(LAYOUTS)}, got '{layout}'")
    specs = []
    for spec in types:
        try:
            specs.append((parse_types(spec), canonical_task(str(spec).split("+")[0])))
        except (KeyError, ValueError) as err:
            raise DatasetError(f"--types: {str(err)}") from None
    if severities is not None:
        severities = [float(s) for s in severities]
        if len(set(severities)) != len(severities) or any(not 0 <= s <= 1 for s in severities):
            raise DatasetError(f"severities must be distinct values in [0, 1], got {severities}")
    lo, hi = float(severity_range[0]), float(severity_range[1])
    if not 0 <= lo <= hi <= 1:
        raise DatasetError(f"severity range must lie in [0, 1], got {severity_range}")
    targets = [out / METADATA] + ([out / "lq", out / "gt"] if layout == "flat" else [out / _label(t) for t, _ in specs])
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise DatasetError(f"output already holds {existing[0]}; choose an empty folder or pass --overwrite")
    for t in existing:
        shutil.rmtree(t) if t.is_dir() else t.unlink()
    out.mkdir(parents=True, exist_ok=True)

    records: List[Dict[str, Any]] = []
    for f in files:
        clean = resize_max_side(read_image(f), max_side)
        for types_, primary in specs:
            label = _label(types_)
            n = len(severities) if severities is not None else int(count)
            for k in range(n):
                rng = np.random.default_rng(stable_seed("synthesize", seed, f.name, label, k))
                sev = severities[k] if severities is not None else float(rng.uniform(lo, hi))
                params = sample_params(types_, sev, rng, ranges)
                lq = apply_params(clean, params)
                tag = f"s{int(round(sev * 100)):03d}" if severities is not None else f"{k:02d}"
                if layout == "flat":
                    name = f"{f.stem}_{label}_{tag}.png"
                    lq_rel, gt_rel = Path("lq") / name, Path("gt") / name
                else:
                    name = f"{f.stem}_{tag}.png"
                    lq_rel, gt_rel = Path(label) / "lq" / name, Path(label) / "gt" / name
                write_image(out / lq_rel, lq)
                write_image(out / gt_rel, clean)
                records.append(
                    {
                        "lq": lq_rel.as_posix(),
                        "gt": gt_rel.as_posix(),
                        "source": f.name,
                        "degradation": "+".join(types_),
                        "task": primary,
                        "severity": round(sev, 6),
                        "params": params,
                    }
                )
    with open(out / METADATA, "w") as fh:
        for r in records:
            fh.write(json.dumps(r, sort_keys=True) + "\n")
    return {"images": len(files), "pairs": len(records), "output": str(out), "metadata": str(out / METADATA)}
