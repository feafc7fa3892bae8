"""Metrics: every `*_metric.py` here registers itself in METRIC_REGISTRY when this package is imported."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict

import torch

from dpmambair.utils.misc import import_modules_with_suffix
from dpmambair.utils.options import OptionError
from dpmambair.utils.registry import METRIC_REGISTRY

_modules = import_modules_with_suffix(__file__, __name__, "_metric")

from dpmambair.metrics.lpips_metric import calculate_lpips  # noqa: E402  (BasicSR-style direct imports)
from dpmambair.metrics.psnr_ssim_metric import calculate_psnr, calculate_ssim  # noqa: E402

# keys an option block may carry that describe the metric rather than parameterise it (BasicSR's `better`)
DESCRIPTIVE_KEYS = frozenset({"type", "better"})


def get_metric(name: str, source: str = "metric options") -> Callable[..., Any]:
    """The registered metric function called `name` (case-insensitive).

    Otherwise a one-line OptionError naming `source`.
    """
    fn = METRIC_REGISTRY.find(name)
    if fn is None:
        raise OptionError(f"{source}: unknown metric type '{name}'; known types: {', '.join(METRIC_REGISTRY.keys())}")
    return fn


def calculate_metric(data: Dict[str, Any], opt: Dict[str, Any], source: str = "metric options") -> float:
    """BasicSR's entry point: `opt = {type: calculate_psnr, crop_border: 0, ...}`, `data = {img: ..., img2: ...}`.

    Unknown option keys are an error (a misspelt `test_y_channel` must not silently change a table);
    per-image tensor results (psnr_torch, ssim_torch) are averaged into one float.
    """
    if not isinstance(opt, dict) or not opt.get("type"):
        raise OptionError(f"{source}: a metric needs a 'type' key naming one of: {', '.join(METRIC_REGISTRY.keys())}")
    fn = get_metric(str(opt["type"]), source)
    kwargs = {k: v for k, v in opt.items() if k not in DESCRIPTIVE_KEYS}
    params = inspect.signature(fn).parameters
    unknown = sorted(k for k in list(kwargs) + list(data) if k not in params)
    if unknown:
        raise OptionError(f"{source}: {fn.__name__} has no argument '{unknown[0]}' (it accepts: {', '.join(params)})")
    both = sorted(set(kwargs) & set(data))
    if both:
        raise OptionError(
            f"{source}: '{both[0]}' is given both by the option block and by the caller; set it in one place"
        )
    value = fn(**data, **kwargs)
    if isinstance(value, torch.Tensor):
        return float(value.double().mean().item())
    return float(value)


__all__ = ["METRIC_REGISTRY", "calculate_lpips", "calculate_metric", "calculate_psnr", "calculate_ssim", "get_metric"]
