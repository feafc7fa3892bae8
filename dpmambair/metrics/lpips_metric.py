"""LPIPS as a metric (lower is better), with the same offline network as `LPIPSLoss`.

Takes images in [0, 255] like `calculate_psnr` (BGR by default, as OpenCV reads them). The network
is built once per (net, device) and process by an explicit `lru_cache`, since building it costs a
second or more and validation calls the metric once per image.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import numpy as np
import torch

from dpmambair.metrics.psnr_ssim_metric import crop_borders, reorder_image
from dpmambair.utils.lpips_weights import build_lpips, canonical_net
from dpmambair.utils.registry import METRIC_REGISTRY


@functools.lru_cache(maxsize=None)
def _lpips_network(net: str, device: str) -> torch.nn.Module:
    """The frozen, eval-mode LPIPS network for `net` on `device` (built on first use)."""
    return build_lpips(net).to(device)


@METRIC_REGISTRY.register()
def calculate_lpips(
    img: Any,
    img2: Any,
    crop_border: int = 0,
    input_order: str = "HWC",
    net: str = "alex",
    channel_order: str = "BGR",
    device: Optional[str] = None,
) -> float:
    """LPIPS v0.1 distance of two 3-channel [0, 255] images (0 for identical images; lower is better)."""
    if channel_order not in ("BGR", "RGB"):
        raise ValueError(f"channel_order must be 'BGR' or 'RGB', got '{channel_order}'")
    a, b = reorder_image(img, input_order), reorder_image(img2, input_order)
    if a.shape != b.shape or a.shape[2] != 3:
        raise ValueError(f"LPIPS needs two 3-channel images of one shape, got {a.shape} and {b.shape}")
    a, b = crop_borders(a, b, crop_border)
    if channel_order == "BGR":
        a, b = a[..., ::-1], b[..., ::-1]
    model = _lpips_network(canonical_net(net), str(device or "cpu"))
    dev = next(model.parameters()).device

    def to_tensor(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32) / 255.0)
        return t.permute(2, 0, 1)[None].to(dev)

    with torch.no_grad():
        return float(model(to_tensor(a), to_tensor(b), normalize=True).item())
