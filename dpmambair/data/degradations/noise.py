"""Noise: I = J + η, additive white Gaussian noise of standard deviation σ, optionally after Poisson noise.

σ is given on the [0, 1] scale (σ = 25/255 ≈ 0.098 is the classic "σ = 25"). Poisson (shot) noise is off by
default; set `poisson_peak: [mild, severe]` (photon count of a white pixel; lower is noisier) to enable it.
"""

from __future__ import annotations

import numpy as np

from .base import Degradation, Params


class Noise(Degradation):
    name = "noise"
    ranges = {"sigma": (5.0 / 255.0, 50.0 / 255.0)}
    optional = ("poisson_peak",)

    def apply(self, img: np.ndarray, params: Params) -> np.ndarray:
        rng = np.random.default_rng(params["seed"])
        out = np.clip(img, 0.0, 1.0).astype(np.float32)
        peak = params.get("poisson_peak")
        if peak:
            out = (rng.poisson(out * np.float32(peak)) / np.float32(peak)).astype(np.float32)
        out = out + np.float32(params["sigma"]) * rng.standard_normal(out.shape, dtype=np.float32)
        return np.clip(out, 0.0, 1.0, out=out)
