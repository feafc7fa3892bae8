"""Rain: a streak layer R added by screen blending, I = 1 − (1 − J)(1 − β·R).

Streaks are seed pixels (density = fraction of pixels) smeared by an unnormalised line kernel of random
angle and a severity-driven length, then softened to a width. Screen blending brightens like real streaks and
never saturates the clean image. Seeds are `uniform < density` on one random field, so a denser rain at the
same seed contains every streak of a lighter one.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Degradation, Params, line_kernel


def streak_layer(
    height: int, width: int, density: float, length: float, angle: float, width_px: float, seed: int
) -> np.ndarray:
    """Rain streaks in [0, 1] (H, W)."""
    rng = np.random.default_rng(seed)
    u = rng.random((height, width), dtype=np.float32)
    strength = 0.6 + 0.4 * rng.random((height, width), dtype=np.float32)
    seeds = np.where(u < density, strength, np.float32(0.0)).astype(np.float32)
    layer = cv2.filter2D(seeds, -1, line_kernel(length, angle, normalise=False), borderType=cv2.BORDER_REFLECT)
    if width_px > 1.0:
        sigma = 0.5 * (width_px - 1.0)
        layer = cv2.GaussianBlur(layer, (0, 0), sigmaX=sigma) * np.float32(1.0 + 1.5 * sigma)
    return np.clip(layer, 0.0, 1.0)


class Rain(Degradation):
    name = "rain"
    ranges = {"density": (0.002, 0.01), "length": (8.0, 32.0), "width": (1.0, 2.0), "intensity": (0.5, 0.9)}

    def draw(self, rng: np.random.Generator) -> Params:
        return {"angle": round(float(rng.uniform(-30.0, 30.0)), 4)}

    def apply(self, img: np.ndarray, params: Params) -> np.ndarray:
        h, w = img.shape[:2]
        r = streak_layer(h, w, params["density"], params["length"], params["angle"], params["width"], params["seed"])
        r = (np.float32(params["intensity"]) * r)[:, :, None]
        return 1.0 - (1.0 - img) * (1.0 - r)
