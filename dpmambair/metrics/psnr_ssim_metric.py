"""PSNR and SSIM under the two conventions the restoration literature uses (option key `convention`).

`convention: basicsr` (the default; BasicSR, Restormer, DA-CLIP):

Numpy functions take images in [0, 255] (uint8 or float), HWC or CHW, and compute in float64:
- PSNR = 10·log10(255² / MSE) over all pixels and channels (inf for identical images);
- SSIM per channel with an 11×11 Gaussian window (σ = 1.5), C1 = (0.01·255)², C2 = (0.03·255)²,
  population (not sample) statistics, averaged over the valid region (5 pixels trimmed from every
  side, where the window does not reach past the border) and then over channels. This equals
  skimage's `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=255)`.
- `test_y_channel`: compare the ITU-R BT.601 luma Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255
  instead of the colour channels. Numpy images are taken as BGR (as OpenCV reads them and
  BasicSR's `tensor2img` writes them) unless `channel_order='RGB'`.
`convention: skimage` (PromptIR, AdaIR: skimage's `peak_signal_noise_ratio` and `structural_similarity` with
`data_range=1` on the network's clipped float output, no rounding to 8 bits):
- images are float in [0, 1] (uint8 input is divided by 255); PSNR = 10·log10(1 / MSE);
- SSIM with skimage's defaults: a uniform 7×7 window, sample covariance (× 49/48), the same C1, C2 for
  data range 1, averaged over the valid region (3 pixels trimmed) and then over channels;
- `crop_border` and `test_y_channel` work as above (Y on the [0, 1] scale).
The same network output scores differently under the two (rounding, window, covariance), which is why a
table must say which one it used (test.py writes it into metrics.json).
The torch helpers take B×C×H×W (or C×H×W) RGB tensors in [0, 1], as the network outputs them, and
return one value per image; they agree with the numpy functions on the same pixels.
"""

from __future__ import annotations

import functools
from typing import Any, Tuple

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from dpmambair.utils.registry import METRIC_REGISTRY

_Y_WEIGHTS_RGB = np.array([65.481, 128.553, 24.966]) / 255.0  # BT.601, for [0, 255] input, + 16
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SKIMAGE_WINDOW = 7
CONVENTIONS = {
    "basicsr": "BasicSR: uint8 [0, 255] images, PSNR on 8-bit values, SSIM with an 11x11 Gaussian window (sigma 1.5)",
    "skimage": "skimage (PromptIR, AdaIR): float [0, 1] clipped images, data_range 1, SSIM with a uniform 7x7 "
    "window and sample covariance",
}


def check_convention(convention: str) -> str:
    """The convention's name, or a ValueError listing the known ones."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got '{convention}'")
    return convention


def _to_numpy(img: Any) -> np.ndarray:
    """Accept numpy arrays and (CPU or GPU) tensors alike."""
    if isinstance(img, torch.Tensor):
        return img.detach().cpu().numpy()
    return np.asarray(img)


def reorder_image(img: Any, input_order: str = "HWC") -> np.ndarray:
    """Return an H×W×C array (a 2-D image gets C = 1)."""
    if input_order not in ("HWC", "CHW"):
        raise ValueError(f"input_order must be 'HWC' or 'CHW', got '{input_order}'")
    img = _to_numpy(img)
    if img.ndim == 2:
        return img[..., None]
    if img.ndim != 3:
        raise ValueError(f"expected a 2-D or 3-D image, got shape {img.shape}")
    return img.transpose(1, 2, 0) if input_order == "CHW" else img


def to_y_channel(img: np.ndarray, channel_order: str = "BGR") -> np.ndarray:
    """BT.601 luma (H×W×1, float64, [16, 235] for [0, 255] input) of a 3-channel image.

    A 1-channel input is returned as is.
    """
    img = img.astype(np.float64)
    if img.shape[2] == 1:
        return img
    if img.shape[2] != 3:
        raise ValueError(f"test_y_channel needs a 1- or 3-channel image, got {img.shape[2]} channels")
    if channel_order not in ("BGR", "RGB"):
        raise ValueError(f"channel_order must be 'BGR' or 'RGB', got '{channel_order}'")
    weights = _Y_WEIGHTS_RGB[::-1] if channel_order == "BGR" else _Y_WEIGHTS_RGB
    return (img @ weights + 16.0)[..., None]


def crop_borders(a: np.ndarray, b: np.ndarray, crop_border: int) -> Tuple[np.ndarray, np.ndarray]:
    """Both H×W×C images without `crop_border` pixels on each side (BasicSR's crop_border); every metric uses it."""
    if not crop_border:
        return a, b
    if 2 * crop_border >= min(a.shape[:2]):
        raise ValueError(f"crop_border={crop_border} leaves nothing of a {a.shape[0]}×{a.shape[1]} image")
    return a[crop_border:-crop_border, crop_border:-crop_border], b[crop_border:-crop_border, crop_border:-crop_border]


def _prepare(
    img: Any,
    img2: Any,
    crop_border: int,
    input_order: str,
    test_y_channel: bool,
    channel_order: str,
    convention: str = "basicsr",
) -> Tuple[np.ndarray, np.ndarray]:
    """Shared preamble: same shape, H×W×C float64, border crop, optional Y channel.

    Under `convention: skimage` the result is on the [0, 1] scale (uint8 input divided by 255).
    """
    check_convention(convention)
    a, b = reorder_image(img, input_order), reorder_image(img2, input_order)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} and {b.shape}")
    scale = 1.0
    if convention == "skimage":
        scale = 255.0
        if a.dtype == np.uint8 or b.dtype == np.uint8:
            a, b = a / 255.0 if a.dtype == np.uint8 else a, b / 255.0 if b.dtype == np.uint8 else b
        if max(float(np.max(a)), float(np.max(b))) > 1.0 + 1e-6:
            raise ValueError("convention 'skimage' takes float images in [0, 1] (or uint8); got values above 1")
    a, b = crop_borders(a.astype(np.float64), b.astype(np.float64), crop_border)
    if test_y_channel:
        a = to_y_channel(a * scale, channel_order) / scale
        b = to_y_channel(b * scale, channel_order) / scale
    return a, b


@METRIC_REGISTRY.register()
def calculate_psnr(
    img: Any,
    img2: Any,
    crop_border: int = 0,
    input_order: str = "HWC",
    test_y_channel: bool = False,
    channel_order: str = "BGR",
    convention: str = "basicsr",
) -> float:
    """PSNR in dB of two images (higher is better; inf when they are identical); see the module for conventions."""
    a, b = _prepare(img, img2, crop_border, input_order, test_y_channel, channel_order, convention)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return float("inf")
    peak = 1.0 if convention == "skimage" else 255.0
    return float(10.0 * np.log10(peak**2 / mse))


@functools.lru_cache(maxsize=None)
def _gaussian_window() -> np.ndarray:
    """The normalised 11×11 Gaussian (σ = 1.5) as an outer product (read-only)."""
    g = cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA).astype(np.float64)
    window = g @ g.T
    window.setflags(write=False)
    return window


def _ssim_2d(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two single-channel float64 [0, 255] images, averaged over the valid region."""
    if min(a.shape) < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got {a.shape[0]}×{a.shape[1]}"
        )
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    window = _gaussian_window()
    r = SSIM_WINDOW // 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window)[r:-r, r:-r]  # border handling is irrelevant after the crop

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def _ssim_2d_uniform(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two single-channel float64 [0, 1] images as skimage's `structural_similarity` computes it by default
    (uniform 7×7 window, sample covariance, data_range 1), averaged over the valid region."""
    w = SKIMAGE_WINDOW
    if min(a.shape) < w:
        raise ValueError(f"SSIM needs images of at least {w}×{w} pixels, got {a.shape[0]}×{a.shape[1]}")
    c1, c2 = 0.01**2, 0.03**2
    r = w // 2
    cov_norm = w * w / (w * w - 1.0)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.blur(x, (w, w), borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]

    mu_a, mu_b = mean(a), mean(b)
    var_a = cov_norm * (mean(a * a) - mu_a**2)
    var_b = cov_norm * (mean(b * b) - mu_b**2)
    cov = cov_norm * (mean(a * b) - mu_a * mu_b)
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


@METRIC_REGISTRY.register()
def calculate_ssim(
    img: Any,
    img2: Any,
    crop_border: int = 0,
    input_order: str = "HWC",
    test_y_channel: bool = False,
    channel_order: str = "BGR",
    convention: str = "basicsr",
) -> float:
    """SSIM of two images, per channel and averaged (higher is better, 1 for identical images); see the module."""
    a, b = _prepare(img, img2, crop_border, input_order, test_y_channel, channel_order, convention)
    ssim_2d = _ssim_2d_uniform if convention == "skimage" else _ssim_2d
    return float(np.mean([ssim_2d(a[..., c], b[..., c]) for c in range(a.shape[2])]))


def _prepare_torch(
    img: torch.Tensor, img2: torch.Tensor, crop_border: int, test_y_channel: bool
) -> Tuple[torch.Tensor, torch.Tensor]:
    """B×C×H×W float64 tensors in [0, 255], cropped, optionally reduced to Y (RGB input)."""
    if img.shape != img2.shape:
        raise ValueError(f"tensor shapes differ: {tuple(img.shape)} and {tuple(img2.shape)}")
    if img.dim() == 3:
        img, img2 = img[None], img2[None]
    if img.dim() != 4:
        raise ValueError(f"expected C×H×W or B×C×H×W tensors, got shape {tuple(img.shape)}")
    a, b = img.detach().double() * 255.0, img2.detach().double() * 255.0
    if crop_border:
        if 2 * crop_border >= min(a.shape[-2:]):
            raise ValueError(f"crop_border={crop_border} leaves nothing of a {a.shape[-2]}×{a.shape[-1]} image")
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    if test_y_channel and a.shape[1] == 3:
        w = torch.tensor(_Y_WEIGHTS_RGB, dtype=a.dtype, device=a.device).view(1, 3, 1, 1)
        a = (a * w).sum(1, keepdim=True) + 16.0
        b = (b * w).sum(1, keepdim=True) + 16.0
    return a, b


@METRIC_REGISTRY.register()
def psnr_torch(
    img: torch.Tensor, img2: torch.Tensor, crop_border: int = 0, test_y_channel: bool = False
) -> torch.Tensor:
    """Per-image PSNR (shape B, float64, inf where identical) of RGB tensors in [0, 1]; for validation on the GPU."""
    a, b = _prepare_torch(img, img2, crop_border, test_y_channel)
    mse = ((a - b) ** 2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(255.0**2 / mse)


@METRIC_REGISTRY.register()
def ssim_torch(
    img: torch.Tensor, img2: torch.Tensor, crop_border: int = 0, test_y_channel: bool = False
) -> torch.Tensor:
    """Per-image SSIM (shape B, float64) of RGB tensors in [0, 1], same definition as `calculate_ssim`."""
    a, b = _prepare_torch(img, img2, crop_border, test_y_channel)
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got {tuple(a.shape[-2:])}")
    channels = a.shape[1]
    window = torch.from_numpy(np.array(_gaussian_window())).to(a).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=channels)  # 'valid' region only

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.mean(dim=(2, 3)).mean(dim=1)
