"""Classical restorers computed beside ours in scripts/bench_quality.py, so every row has a same-run reference.

Only methods a library provides or that are a few lines of textbook image processing, each on 8-bit RGB:
- noise: OpenCV's non-local means (`fastNlMeansDenoisingColored`, Buades et al. 2005), filter strength h;
- low light: histogram equalisation of the luma (OpenCV `equalizeHist` on Y of YCrCb);
- haze: the dark channel prior (He et al., CVPR 2009): 15-pixel dark channel, ω = 0.95, t ≥ 0.1, airlight from
  the brightest 0.1 % of the dark channel, transmission refined with a grey-guided box filter (radius 30).
There is no classical method in OpenCV for JPEG deblocking, rain, snow or blind motion blur; those rows have none.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import cv2
import numpy as np


def nl_means(img: np.ndarray, h: float) -> np.ndarray:
    """OpenCV colour NL-means with luma and colour strength h (7×7 patches, 21×21 search window)."""
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    out = cv2.fastNlMeansDenoisingColored(bgr, None, float(h), float(h), 7, 21)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def equalise_luma(img: np.ndarray) -> np.ndarray:
    """Histogram equalisation of Y (YCrCb), colour kept: the textbook low-light baseline."""
    ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
    ycc[..., 0] = cv2.equalizeHist(ycc[..., 0])
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


def _guided(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with box means (grey guide), float64."""
    k = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.blur(x, k, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    cov_ip = box(guide * src) - mean_i * mean_p
    var_i = box(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def dark_channel_prior(img: np.ndarray, patch: int = 15, omega: float = 0.95, t_min: float = 0.1) -> np.ndarray:
    """Single-image dehazing by the dark channel prior (He et al. 2009)."""
    x = img.astype(np.float64) / 255.0
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    dark = cv2.erode(x.min(axis=2), kernel)
    n = max(1, int(dark.size * 0.001))
    idx = np.argpartition(dark.ravel(), -n)[-n:]
    airlight = x.reshape(-1, 3)[idx].max(axis=0).clip(1e-3, 1.0)
    t = 1.0 - omega * cv2.erode((x / airlight).min(axis=2), kernel)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0
    t = np.clip(_guided(grey, t, 30, 1e-3), t_min, 1.0)
    out = (x - airlight) / t[..., None] + airlight
    return (np.clip(out, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def nl_means_for(sigma: float, h_per_sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda img: nl_means(img, h_per_sigma * sigma)


# name of the classical baseline per degradation type, for the table's header
BASELINE_NAMES: Dict[str, str] = {
    "noise": "OpenCV NL-means",
    "lowlight": "hist. equalisation (Y)",
    "fog": "dark channel prior",
}


def baseline_for(task: str, sigma: Optional[float] = None, h_per_sigma: float = 0.8) -> Optional[Callable]:
    """The classical restorer for `task`, or None when there is no fair one (JPEG, rain, snow, blur)."""
    if task == "noise" and sigma is not None:
        return nl_means_for(sigma, h_per_sigma)
    if task == "lowlight":
        return equalise_luma
    if task == "fog":
        return dark_channel_prior
    return None


__all__ = ["BASELINE_NAMES", "baseline_for", "dark_channel_prior", "equalise_luma", "nl_means", "nl_means_for"]
