"""Validation shared by the models: metrics per image, per task and per set, best-value tracking,
optional saving of images, TensorBoard scalars and image grids. Works sharded across ranks."""

from __future__ import annotations

import inspect
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import cv2
import numpy as np
import torch

from dpmambair.data.image_io import tensor_to_uint8
from dpmambair.metrics import calculate_metric, get_metric
from dpmambair.metrics.conventions import metric_images
from dpmambair.utils.dist import get_dist_info, reduce_sum
from dpmambair.utils.options import OptionError

Predict = Callable[[Dict[str, Any]], Tuple[torch.Tensor, torch.Tensor]]


def _metric_call(name: str, mopt: Dict[str, Any], out: torch.Tensor, ref: torch.Tensor, source: str) -> float:
    try:
        a, b = metric_images(mopt, out, ref)  # 8-bit or clipped float, by the metric's convention
    except ValueError as err:
        raise OptionError(f"{source}: val.metrics.{name}: {err}") from None
    data = {"img": a, "img2": b}
    if "channel_order" in inspect.signature(get_metric(str(mopt.get("type")), source)).parameters:
        data["channel_order"] = "RGB"
    return calculate_metric(data, mopt, f"{source}: val.metrics.{name}")


class BestTracker:
    """Best value and iteration per (set, metric); `better: lower` for metrics like LPIPS."""

    def __init__(self) -> None:
        self.best: Dict[Tuple[str, str], Tuple[float, int]] = {}

    def update(self, set_name: str, metric: str, value: float, it: int, higher_is_better: bool = True) -> bool:
        key = (set_name, metric)
        old = self.best.get(key)
        if old is None or (value > old[0] if higher_is_better else value < old[0]):
            self.best[key] = (value, it)
            return True
        return False

    def state_dict(self) -> Dict[str, Any]:
        return {f"{s}/{m}": v for (s, m), v in self.best.items()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.best = {tuple(k.split("/", 1)): tuple(v) for k, v in state.items()}  # type: ignore[misc]


def run_validation(
    predict: Predict,
    dataloader: Iterable,
    set_name: str,
    metrics_opt: Dict[str, Any],
    source: str,
    current_iter: int,
    save_dir: Optional[Path] = None,
    num_grid: int = 3,
    *,
    device: torch.device,
) -> Tuple[Dict[str, float], List[np.ndarray]]:
    """Evaluate one validation set; returns ({'psnr': avg, 'psnr/<task>': per-task avg, ...}, image grids).

    Sums and counts are reduced over ranks, so a sharded loader gives the same numbers as one rank.
    `device` is the model's: the totals are reduced there, because an NCCL group only reduces CUDA tensors.
    """
    sums: Dict[str, float] = defaultdict(float)
    counts: Dict[str, float] = defaultdict(float)
    grids: List[np.ndarray] = []
    index = 0
    for data in dataloader:
        output, reference = predict(data)
        names = data.get("task_name")
        for i in range(output.shape[0]):
            out_img, ref_img = tensor_to_uint8(output[i]), tensor_to_uint8(reference[i])
            task = names[i] if isinstance(names, (list, tuple)) else None
            for name, mopt in metrics_opt.items():
                value = _metric_call(name, mopt, output[i], reference[i], source)
                for key in (name, f"{name}/{task}" if task else None):
                    if key:
                        sums[key] += value
                        counts[key] += 1
            index += 1
            if save_dir is not None:
                stem = Path(data["lq_path"][i]).stem if "lq_path" in data else f"{index:05d}"
                path = save_dir / set_name / f"{stem}_{current_iter}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), cv2.cvtColor(out_img, cv2.COLOR_RGB2BGR))
            if len(grids) < num_grid:
                lq_img = tensor_to_uint8(data["lq"][i])
                if lq_img.shape == out_img.shape == ref_img.shape:
                    grids.append(np.concatenate([lq_img, out_img, ref_img], axis=1))
    keys = sorted(set(sums) | set(counts))
    if get_dist_info()[1] > 1:  # every rank must hold the same key list: metrics and the fixed task names
        keys = _all_keys(keys)
    totals = torch.tensor([[sums.get(k, 0.0), counts.get(k, 0.0)] for k in keys], dtype=torch.float64, device=device)
    totals = reduce_sum(totals) if keys else totals
    results = OrderedDict()
    for k, (s, c) in zip(keys, totals.tolist()):
        if c > 0:
            results[k] = s / c
    return results, grids


def _all_keys(keys: List[str]) -> List[str]:
    import torch.distributed as dist

    gathered: List[List[str]] = [None] * get_dist_info()[1]  # type: ignore[list-item]
    dist.all_gather_object(gathered, keys)
    return sorted({k for part in gathered for k in part})


def log_validation(
    results: Dict[str, float],
    set_name: str,
    current_iter: int,
    tb_logger,
    grids: List[np.ndarray],
    tracker: BestTracker,
    metrics_opt: Dict[str, Any],
    logger,
) -> None:
    """Log a validation result to the text log and TensorBoard, and track the best values."""
    lines = [f"validation {set_name} @ iter {current_iter}:"]
    for key, value in results.items():
        metric = key.split("/", 1)[0]
        better = str((metrics_opt.get(metric) or {}).get("better", "higher")).lower() != "lower"
        line = f"  {key}: {value:.4f}"
        if "/" not in key:
            tracker.update(set_name, key, value, current_iter, better)
            best, best_it = tracker.best[(set_name, key)]
            line += f"  (best {best:.4f} @ iter {best_it})"
        lines.append(line)
        if tb_logger is not None:
            tb_logger.add_scalar(f"val_{set_name}/{key}", value, current_iter)
    logger.info("\n".join(lines))
    if tb_logger is not None:
        for i, grid in enumerate(grids):
            tb_logger.add_image(f"val_{set_name}/lq_output_gt_{i}", grid, current_iter, dataformats="HWC")
