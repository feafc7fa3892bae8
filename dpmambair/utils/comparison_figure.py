"""A comparison figure a person would rather look at than read: one row per degradation type,
columns degraded / restored / ground truth, each tile labelled with its PSNR.

Drawn with OpenCV alone (no plotting dependency), from the per-image rows that `test.py` writes to
metrics.json (`image` = the degraded input's path, `output` = the restored image, `task`, `psnr`,
and with `val.score_input` also `input_psnr`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import cv2
import numpy as np

LABEL_H = 22  # pixels of caption strip above each tile
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _read_rgb(path: Union[str, Path]) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"comparison figure: cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def gt_path_for(lq_path: Union[str, Path]) -> Path:
    """The clean target of a `<set>/<task>/lq/<name>` input: `<set>/<task>/gt/<name>`."""
    p = Path(lq_path)
    if p.parent.name.lower() not in ("lq", "input"):
        raise ValueError(f"comparison figure: {p} is not inside an 'lq' folder; cannot locate its ground truth")
    return p.parent.parent / "gt" / p.name


def _tile(img: np.ndarray, caption: str, width: int) -> np.ndarray:
    """The image scaled to `width` with a caption strip above it."""
    h = max(1, round(img.shape[0] * width / img.shape[1]))
    body = cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA if img.shape[1] > width else cv2.INTER_NEAREST)
    strip = np.full((LABEL_H, width, 3), 255, np.uint8)
    cv2.putText(strip, caption, (4, LABEL_H - 7), FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([strip, body])


def pick_rows(images: Sequence[Dict[str, object]], tasks: Sequence[str], prefer: str = "") -> List[Dict[str, object]]:
    """One image per task, in `tasks` order: the first whose file name contains `prefer`, else the median one."""
    picked = []
    for task in tasks:
        rows = sorted((r for r in images if r.get("task") == task), key=lambda r: str(r["image"]))
        if not rows:
            continue
        match = [r for r in rows if prefer and prefer in Path(str(r["image"])).name]
        picked.append(match[0] if match else rows[len(rows) // 2])
    return picked


def make_comparison_figure(
    rows: Sequence[Dict[str, object]], path: Union[str, Path], tile_width: int = 192, title: Optional[str] = None
) -> Path:
    """Write a PNG grid: per row (task) degraded | restored | ground truth, PSNR on each tile; returns the path."""
    if not rows:
        raise ValueError("comparison figure: no images to show")
    lines = []
    for r in rows:
        lq, out, gt = _read_rgb(str(r["image"])), _read_rgb(str(r["output"])), _read_rgb(gt_path_for(str(r["image"])))
        task = str(r.get("task") or "")
        in_psnr = r.get("input_psnr")
        cap_in = f"{task}: degraded" + (f"  {float(in_psnr):.2f} dB" if in_psnr is not None else "")
        cap_out = "restored" + (f"  {float(r['psnr']):.2f} dB" if r.get("psnr") is not None else "")
        tiles = [_tile(lq, cap_in, tile_width), _tile(out, cap_out, tile_width), _tile(gt, "ground truth", tile_width)]
        height = max(t.shape[0] for t in tiles)
        tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in tiles]
        sep = np.full((height, 4, 3), 255, np.uint8)
        lines.append(np.hstack([tiles[0], sep, tiles[1], sep, tiles[2]]))
        lines.append(np.full((4, lines[-1].shape[1], 3), 255, np.uint8))
    grid = np.vstack(lines[:-1])
    if title:
        strip = np.full((LABEL_H + 6, grid.shape[1], 3), 255, np.uint8)
        cv2.putText(strip, title, (4, LABEL_H - 2), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        grid = np.vstack([strip, grid])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"comparison figure: cannot write {path}")
    return path
