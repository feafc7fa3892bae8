"""Fog / haze: the atmospheric scattering model I = J·t + A·(1 − t), t = exp(−β·d).

d is a smooth random depth map (a few random values interpolated over the image plus "farther towards the
top", the usual outdoor prior), so the transmission varies smoothly as in real haze instead of being a flat
veil; A is a slightly tinted grey airlight.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Degradation, Params


def depth_map(height: int, width: int, seed: int, grid: int = 4) -> np.ndarray:
    """Smooth depth in [0.15, 1]: bicubic-interpolated random grid blended with a top-to-bottom gradient."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((grid, grid)).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None]
    d = 0.55 * ramp + 0.45 * np.clip(field, 0.0, 1.0)
    return 0.15 + 0.85 * d


class Fog(Degradation):
    name = "fog"
    ranges = {"beta": (0.5, 2.2)}

    def draw(self, rng: np.random.Generator) -> Params:
        airlight = float(rng.uniform(0.75, 0.95))
        tint = rng.uniform(-0.03, 0.03, 3)
        return {"airlight": [round(airlight + float(t), 6) for t in tint]}

    def apply(self, img: np.ndarray, params: Params) -> np.ndarray:
        h, w = img.shape[:2]
        t = np.exp(-np.float32(params["beta"]) * depth_map(h, w, params["seed"]))[:, :, None]
        a = np.asarray(params["airlight"], np.float32)[None, None, :]
        return np.clip(img * t + a * (1.0 - t), 0.0, 1.0)
