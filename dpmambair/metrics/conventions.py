"""Which pixels a metric sees: the 8-bit image (BasicSR's convention) or the clipped float output (skimage's).

Why here: validation and test.py score the same network output; the convention named in a metric's option
block (`convention: basicsr | skimage`, default basicsr) decides whether the output is rounded to 8 bits
before scoring, so both callers must prepare the images the same way.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np
import torch

from dpmambair.data.image_io import tensor_to_uint8
from dpmambair.metrics.psnr_ssim_metric import CONVENTIONS

DEFAULT_CONVENTION = "basicsr"


def convention_of(mopt: Dict[str, Any]) -> str:
    """The metric block's convention (default basicsr); a ValueError names the known ones."""
    name = str(mopt.get("convention", DEFAULT_CONVENTION))
    if name not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got '{name}'")
    return name


def metric_images(mopt: Dict[str, Any], out: torch.Tensor, ref: torch.Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """(H, W, C) RGB arrays of two (C, H, W) [0, 1] tensors as the metric's convention scores them:
    uint8, rounded (basicsr), or float64 clipped to [0, 1] without rounding (skimage)."""
    if convention_of(mopt) == "skimage":
        return tuple(t.detach().double().clamp(0, 1).permute(1, 2, 0).cpu().numpy() for t in (out, ref))  # type: ignore[return-value]
    return tensor_to_uint8(out), tensor_to_uint8(ref)


def describe(metrics_opt: Dict[str, Any]) -> Dict[str, str]:
    """Metric name → the convention that produced its numbers, in words (for metrics.json)."""
    return {name: f"{convention_of(m)}: {CONVENTIONS[convention_of(m)]}" for name, m in metrics_opt.items()}
