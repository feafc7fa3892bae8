"""Snow: several particle layers (small, medium and large flakes) composited over the image, plus a veil.

Each layer scatters seed pixels, grows them into soft round flakes of its own size (Gaussian blob scaled to
peak ≈ 1) and smears them slightly along a common falling direction; the layers are combined as
1 − Π(1 − m) and alpha-blended as near-white. Severity raises the flake densities, opacity and the veil.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Degradation, Params, line_kernel

FLAKE_SIGMAS = (0.6, 1.3, 2.6)  # small, medium and large flakes (pixels)


class Snow(Degradation):
    name = "snow"
    ranges = {
        "density_small": (0.002, 0.012),
        "density_medium": (0.0005, 0.004),
        "density_large": (0.0001, 0.0012),
        "opacity": (0.6, 0.95),
        "veil": (0.0, 0.12),
    }

    def draw(self, rng: np.random.Generator) -> Params:
        return {"angle": round(float(rng.uniform(-25.0, 25.0)), 4), "fall": round(float(rng.uniform(1.0, 4.0)), 4)}

    def mask(self, height: int, width: int, params: Params) -> np.ndarray:
        rng = np.random.default_rng(params["seed"])
        clear = np.ones((height, width), np.float32)
        for sigma, key in zip(FLAKE_SIGMAS, ("density_small", "density_medium", "density_large")):
            u = rng.random((height, width), dtype=np.float32)
            seeds = (u < params[key]).astype(np.float32)
            blob = cv2.GaussianBlur(seeds, (0, 0), sigmaX=sigma) * np.float32(2.0 * np.pi * sigma * sigma * 1.4)
            fall = params["fall"] * sigma / FLAKE_SIGMAS[-1]
            if fall > 1.0:
                blob = cv2.filter2D(
                    blob, -1, line_kernel(fall, params["angle"], normalise=True), borderType=cv2.BORDER_REFLECT
                )
            clear *= 1.0 - np.clip(blob, 0.0, 1.0)
        return 1.0 - clear

    def apply(self, img: np.ndarray, params: Params) -> np.ndarray:
        h, w = img.shape[:2]
        m = (self.mask(h, w, params) * np.float32(params["opacity"]))[:, :, None]
        veil = np.float32(params["veil"])
        out = img * (1.0 - veil) + veil * np.float32(0.9)
        return np.clip(out * (1.0 - m) + m * np.float32(0.97), 0.0, 1.0)
