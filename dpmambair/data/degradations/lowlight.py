"""Low light: I = α·J^γ + sensor noise (signal-dependent shot noise and read noise).

α scales the illumination, γ > 1 crushes mid-tones as an under-exposed camera curve does, and the noise is
the heteroscedastic Gaussian approximation of Poisson–Gaussian sensor noise: variance = shot·I + read², which
is what makes real low-light images (LOL) noisy in the shadows rather than uniformly.
"""

from __future__ import annotations

import numpy as np

from .base import Degradation, Params


class LowLight(Degradation):
    name = "lowlight"
    ranges = {"alpha": (0.6, 0.1), "gamma": (1.1, 1.8), "shot": (0.0005, 0.004), "read": (0.002, 0.012)}

    def apply(self, img: np.ndarray, params: Params) -> np.ndarray:
        dark = np.power(np.clip(img, 0.0, 1.0), np.float32(params["gamma"])) * np.float32(params["alpha"])
        rng = np.random.default_rng(params["seed"])
        std = np.sqrt(np.float32(params["shot"]) * dark + np.float32(params["read"]) ** 2)
        noisy = dark + std * rng.standard_normal(dark.shape, dtype=np.float32)
        return np.clip(noisy, 0.0, 1.0, out=noisy)
