"""What every degradation type shares: severity → parameters, then a deterministic apply.

A degradation is split in two so that every synthetic pair can be written down and reproduced exactly:
`sample(severity, rng)` draws a JSON-serialisable parameter dict (including an integer `seed` for pixel-level
randomness such as noise or streak positions), and `apply(img, params)` is a pure function of the image and
that dict. Severity in [0, 1] moves each severity-driven parameter linearly from its `mild` to its `severe`
end; option files can override those ends per parameter. Random draws that are not severity (an angle, a
trajectory) come before nothing else depends on them, so for one generator state the parameters are monotone
in severity — which is what makes "more severe" reliably mean "lower PSNR".
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

Params = Dict[str, Any]
Range = Tuple[float, float]


def lerp(ends: Sequence[float], t: float) -> float:
    """ends[0] at t=0 (mild) to ends[1] at t=1 (severe)."""
    return float(ends[0]) + (float(ends[1]) - float(ends[0])) * float(t)


class Degradation:
    """Base class: subclasses set `name`, `ranges` ({param: (mild, severe)}) and implement `draw` and `apply`."""

    name: str = ""
    ranges: Mapping[str, Range] = {}

    def sample(self, severity: float, rng: np.random.Generator, ranges: Optional[Mapping[str, Any]] = None) -> Params:
        """Parameters for one image at this severity; `ranges` overrides (mild, severe) ends by parameter name."""
        if not 0.0 <= float(severity) <= 1.0:
            raise ValueError(f"{self.name}: severity must lie in [0, 1], got {severity}")
        merged = dict(self.ranges)
        for key, value in (ranges or {}).items():
            if key not in merged and key not in self.optional:
                raise ValueError(f"{self.name}: unknown parameter '{key}' (known: {', '.join(sorted(self.ranges))})")
            merged[key] = value
        params: Params = {
            "type": self.name,
            "severity": round(float(severity), 6),
            "seed": int(rng.integers(0, 2**31 - 1)),
        }
        params.update(self.draw(rng))
        for key, ends in merged.items():
            if ends is None:
                continue
            if isinstance(ends, (int, float)):
                ends = (ends, ends)
            params[key] = round(lerp(ends, severity), 6)
        return params

    optional: Tuple[str, ...] = ()

    def draw(self, rng: np.random.Generator) -> Params:
        """Random parameters that do not depend on severity (angles, airlight, ...)."""
        return {}

    def apply(self, img: np.ndarray, params: Params) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, img: np.ndarray, severity: float, rng: np.random.Generator) -> Tuple[np.ndarray, Params]:
        params = self.sample(severity, rng)
        return self.apply(img, params), params


def line_kernel(length: float, angle_deg: float, normalise: bool) -> np.ndarray:
    """A 1-pixel-wide anti-aliased line of `length` pixels through the centre of an odd square kernel.

    `angle_deg` is measured from the vertical (0 = straight down), which is how rain and falling snow are
    described. Unnormalised (peak 1 along the line) it turns isolated seed pixels into streaks of unit
    brightness; normalised (sum 1) it is a linear motion blur.
    """
    length = max(float(length), 1.0)
    size = int(np.ceil(length)) // 2 * 2 + 3
    c = size // 2
    theta = np.deg2rad(angle_deg)
    dy, dx = np.cos(theta), np.sin(theta)
    n = max(int(np.ceil(length * 2)), 2)
    t = np.linspace(-(length - 1) / 2.0, (length - 1) / 2.0, n)
    ys, xs = c + t * dy, c + t * dx
    k = np.zeros((size, size), np.float32)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = (ys - y0).astype(np.float32), (xs - x0).astype(np.float32)
    for oy, ox, w in ((0, 0, (1 - fy) * (1 - fx)), (1, 0, fy * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 1, fy * fx)):
        np.add.at(k, (np.clip(y0 + oy, 0, size - 1), np.clip(x0 + ox, 0, size - 1)), w)
    if normalise:
        return k / k.sum()
    return np.minimum(k * (length / max(k.sum(), 1e-8)), 1.0).astype(np.float32)
