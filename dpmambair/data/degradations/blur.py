"""Motion blur: I = J ⊗ K with a random camera-shake kernel K.

K is a smooth random-walk trajectory (a heading that drifts by a random amount at each step), scaled to a
severity-driven extent, rasterised with bilinear weights and normalised. It is re-centred on its centre of
mass, so blurring never shifts the image: an lq/gt pair stays aligned, which a restoration loss needs.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Degradation, Params

STEPS = 96


def motion_kernel(extent: float, seed: int, curviness: float) -> np.ndarray:
    """Normalised (sum 1) odd-sized kernel of a random trajectory whose longest side spans `extent` pixels."""
    rng = np.random.default_rng(seed)
    heading = rng.uniform(0.0, np.pi) + np.cumsum(rng.normal(0.0, curviness, STEPS))
    steps = np.stack([np.sin(heading), np.cos(heading)], axis=1)
    path = np.cumsum(steps, axis=0)
    path -= path.mean(axis=0)
    span = max(float(np.ptp(path, axis=0).max()), 1e-6)
    path *= max(float(extent) - 1.0, 0.0) / span
    size = int(np.ceil(np.abs(path).max())) * 2 + 3
    c = size // 2
    k = np.zeros((size, size), np.float64)
    ys, xs = path[:, 0] + c, path[:, 1] + c
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = ys - y0, xs - x0
    for oy, ox, w in ((0, 0, (1 - fy) * (1 - fx)), (1, 0, fy * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 1, fy * fx)):
        np.add.at(k, (np.clip(y0 + oy, 0, size - 1), np.clip(x0 + ox, 0, size - 1)), w)
    k /= k.sum()
    # re-centre on the centre of mass (sub-pixel): no global shift between blurred and sharp image
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = float((k * yy).sum()), float((k * xx).sum())
    shift = np.float32([[1, 0, c - cx], [0, 1, c - cy]])
    k = cv2.warpAffine(k.astype(np.float32), shift, (size, size), flags=cv2.INTER_LINEAR)
    return (k / k.sum()).astype(np.float32)


class Blur(Degradation):
    name = "blur"
    ranges = {"extent": (5.0, 25.0)}

    def draw(self, rng: np.random.Generator) -> Params:
        return {"curviness": round(float(rng.uniform(0.02, 0.25)), 4)}

    def apply(self, img: np.ndarray, params: Params) -> np.ndarray:
        k = motion_kernel(params["extent"], params["seed"], params["curviness"])
        # filter2D correlates; flipping the kernel makes it a true convolution I = J ⊗ K
        out = cv2.filter2D(img, -1, k[::-1, ::-1].copy(), borderType=cv2.BORDER_REFLECT)
        return np.clip(out, 0.0, 1.0, out=out)  # large kernels go through the DFT: tiny negative round-off
