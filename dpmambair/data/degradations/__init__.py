"""Degradation synthesis: low light, fog, rain, snow, motion blur, JPEG and noise, alone or compounded.

    rng = np.random.default_rng(0)
    lq, params = degrade(clean, "rain+fog", severity=0.7, rng=rng)   # params reproduce lq via apply_params

Every type takes a severity in [0, 1] (mild → severe, ends overridable per parameter), is deterministic for a
given generator, and works on float32 RGB (H, W, 3) arrays in [0, 1]. See `compose.py` for the order.
"""

from .base import Degradation, Params, line_kernel
from .blur import motion_kernel
from .compose import ORDER, apply_params, degrade, get_degradation, parse_types, sample_params
from .fog import depth_map
from .jpeg import jpeg_roundtrip

__all__ = [
    "Degradation",
    "Params",
    "ORDER",
    "apply_params",
    "degrade",
    "get_degradation",
    "parse_types",
    "sample_params",
    "motion_kernel",
    "line_kernel",
    "depth_map",
    "jpeg_roundtrip",
]
