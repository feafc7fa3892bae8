"""PSNR/SSIM follow BasicSR's conventions and agree with scikit-image's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from dpmambair.metrics import METRIC_REGISTRY, calculate_metric, get_metric
from dpmambair.metrics.psnr_ssim_metric import calculate_psnr, calculate_ssim, psnr_torch, ssim_torch

TOL = 1e-9


def sk_ssim(a: np.ndarray, b: np.ndarray, channel_axis: int | None = None) -> float:
    """skimage's SSIM with the Wang et al. / BasicSR settings."""
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=channel_axis
    )


def noisy(img: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(np.float64) + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def rgb_pair() -> tuple[np.ndarray, np.ndarray]:
    """A 192×160 crop of a real photo and a noisy copy (RGB, uint8)."""
    clean = data.astronaut()[80:272, 180:340]
    return clean, noisy(clean, 15, 0)


@pytest.mark.parametrize("image, sigma", [("astronaut", 5), ("astronaut", 25), ("chelsea", 10), ("coffee", 20)])
def test_psnr_ssim_match_skimage_rgb(image: str, sigma: float) -> None:
    clean = getattr(data, image)()[:160, :200]
    deg = noisy(clean, sigma, seed=sigma)
    bgr, deg_bgr = clean[..., ::-1], deg[..., ::-1]  # our default channel order; PSNR/SSIM do not depend on it
    assert calculate_psnr(bgr, deg_bgr) == pytest.approx(peak_signal_noise_ratio(clean, deg, data_range=255), abs=TOL)
    assert calculate_ssim(bgr, deg_bgr) == pytest.approx(sk_ssim(clean, deg, channel_axis=2), abs=TOL)


def test_ssim_is_the_mean_of_per_channel_ssim(rgb_pair) -> None:
    clean, deg = rgb_pair
    per_channel = [sk_ssim(clean[..., c], deg[..., c]) for c in range(3)]
    assert calculate_ssim(clean, deg) == pytest.approx(np.mean(per_channel), abs=TOL)


def test_grayscale_float_and_chw_inputs(rgb_pair) -> None:
    gray = data.camera()[100:260, 150:330]
    deg = noisy(gray, 12, 3)
    assert calculate_psnr(gray, deg) == pytest.approx(peak_signal_noise_ratio(gray, deg, data_range=255), abs=TOL)
    assert calculate_ssim(gray, deg) == pytest.approx(sk_ssim(gray, deg), abs=TOL)
    # float images in [0, 255] give the same values as uint8; CHW equals HWC
    clean, deg3 = rgb_pair
    assert calculate_ssim(clean.astype(np.float32), deg3.astype(np.float64)) == pytest.approx(
        calculate_ssim(clean, deg3), abs=TOL
    )
    chw = dict(input_order="CHW")
    assert calculate_psnr(clean.transpose(2, 0, 1), deg3.transpose(2, 0, 1), **chw) == calculate_psnr(clean, deg3)
    assert calculate_ssim(clean.transpose(2, 0, 1), deg3.transpose(2, 0, 1), **chw) == pytest.approx(
        calculate_ssim(clean, deg3), abs=TOL
    )


def test_y_channel_is_bt601_luma(rgb_pair) -> None:
    clean, deg = rgb_pair
    y, y_deg = (
        rgb2ycbcr(clean)[..., 0],
        rgb2ycbcr(deg)[..., 0],
    )  # Y = 16 + 65.481 R + 128.553 G + 24.966 B (R,G,B in [0,1])
    bgr, deg_bgr = clean[..., ::-1], deg[..., ::-1]
    assert calculate_psnr(bgr, deg_bgr, test_y_channel=True) == pytest.approx(
        peak_signal_noise_ratio(y, y_deg, data_range=255), abs=TOL
    )
    assert calculate_ssim(bgr, deg_bgr, test_y_channel=True) == pytest.approx(sk_ssim(y, y_deg), abs=TOL)
    assert calculate_psnr(clean, deg, test_y_channel=True, channel_order="RGB") == pytest.approx(
        calculate_psnr(bgr, deg_bgr, test_y_channel=True), abs=TOL
    )


def test_crop_border_and_identical_images(rgb_pair) -> None:
    clean, deg = rgb_pair
    b = 4
    assert calculate_psnr(clean, deg, crop_border=b) == pytest.approx(
        peak_signal_noise_ratio(clean[b:-b, b:-b], deg[b:-b, b:-b], data_range=255), abs=TOL
    )
    assert calculate_ssim(clean, deg, crop_border=b) == pytest.approx(
        sk_ssim(clean[b:-b, b:-b], deg[b:-b, b:-b], 2), abs=TOL
    )
    assert calculate_psnr(clean, clean) == float("inf")
    assert calculate_ssim(clean, clean) == pytest.approx(1.0, abs=1e-12)


def test_torch_helpers_agree_with_numpy(rgb_pair) -> None:
    clean, deg = rgb_pair
    clean2, deg2 = clean[::-1].copy(), noisy(clean[::-1], 30, 7)

    def t(*imgs: np.ndarray) -> torch.Tensor:  # RGB [0, 1] B×C×H×W, as the network outputs
        return torch.stack([torch.from_numpy(i.astype(np.float32) / 255).permute(2, 0, 1) for i in imgs])

    for y in (False, True):
        p = psnr_torch(t(clean, clean2), t(deg, deg2), crop_border=2, test_y_channel=y)
        s = ssim_torch(t(clean, clean2), t(deg, deg2), crop_border=2, test_y_channel=y)
        assert p.shape == s.shape == (2,)
        for i, (a, b) in enumerate([(clean, deg), (clean2, deg2)]):
            kw = dict(crop_border=2, test_y_channel=y, channel_order="RGB")
            assert p[i].item() == pytest.approx(calculate_psnr(a, b, **kw), abs=1e-4)
            assert s[i].item() == pytest.approx(calculate_ssim(a, b, **kw), abs=1e-6)


def test_calculate_metric_and_clear_errors(rgb_pair) -> None:
    clean, deg = rgb_pair
    opt = {"type": "calculate_PSNR", "crop_border": 0, "test_y_channel": False, "better": "higher"}
    assert calculate_metric({"img": clean, "img2": deg}, opt) == calculate_psnr(clean, deg)
    assert "calculate_ssim" in METRIC_REGISTRY and get_metric("CALCULATE_SSIM") is calculate_ssim
    t = lambda x: torch.from_numpy(x / 255.0).permute(2, 0, 1)[None]  # noqa: E731
    assert calculate_metric({"img": t(clean), "img2": t(deg)}, {"type": "psnr_torch"}) == pytest.approx(
        calculate_psnr(clean, deg), abs=1e-6
    )

    src = "options/x.yml: val.metrics.psnr"
    with pytest.raises(ValueError) as err:
        calculate_metric({"img": clean, "img2": deg}, {"type": "psnr_typo"}, src)
    msg = str(err.value)
    assert "\n" not in msg and src in msg and "psnr_typo" in msg and "calculate_psnr" in msg
    with pytest.raises(ValueError, match="no argument 'test_y_chanel'"):
        calculate_metric({"img": clean, "img2": deg}, {"type": "calculate_psnr", "test_y_chanel": True}, src)
    with pytest.raises(ValueError, match="shapes differ"):
        calculate_psnr(clean, deg[:-1])


def test_skimage_convention_is_skimage_defaults_on_clipped_floats(rgb_pair) -> None:
    """`convention: skimage` (PromptIR, AdaIR) equals skimage's functions with data_range=1 and default SSIM
    arguments (uniform 7×7 window, sample covariance) on float images, and differs from BasicSR's SSIM."""
    clean = rgb_pair[0].astype(np.float64) / 255
    rng = np.random.default_rng(3)
    restored = np.clip(clean + rng.normal(0, 0.03, clean.shape), 0, 1)  # an unrounded network output
    sk_psnr = peak_signal_noise_ratio(clean, restored, data_range=1)
    sk_default_ssim = structural_similarity(clean, restored, data_range=1, channel_axis=2)
    assert calculate_psnr(restored, clean, convention="skimage") == pytest.approx(sk_psnr, abs=TOL)
    assert calculate_ssim(restored, clean, convention="skimage") == pytest.approx(sk_default_ssim, abs=TOL)
    basicsr = calculate_ssim(restored * 255, clean * 255)
    assert abs(basicsr - sk_default_ssim) > 1e-3  # the window and covariance matter: tables must say which
    # uint8 input is read as value / 255; Y is the same BT.601 luma on the [0, 1] scale
    u8 = (restored * 255).round().astype(np.uint8)
    assert calculate_psnr(u8, clean, convention="skimage") == pytest.approx(
        peak_signal_noise_ratio(clean, u8 / 255.0, data_range=1), abs=TOL
    )
    y_sk = calculate_psnr(restored, clean, test_y_channel=True, channel_order="RGB", convention="skimage")
    y_bs = calculate_psnr(restored * 255, clean * 255, test_y_channel=True, channel_order="RGB")
    assert y_sk == pytest.approx(y_bs, abs=1e-9)
    # a crop trims the same pixels under both conventions
    assert calculate_psnr(restored, clean, crop_border=4, convention="skimage") == pytest.approx(
        peak_signal_noise_ratio(clean[4:-4, 4:-4], restored[4:-4, 4:-4], data_range=1), abs=TOL
    )


def test_conventions_reject_wrong_names_and_ranges(rgb_pair) -> None:
    clean = rgb_pair[0]
    with pytest.raises(ValueError, match="convention must be one of basicsr, skimage, got 'matlab'"):
        calculate_psnr(clean, clean, convention="matlab")
    with pytest.raises(ValueError, match="float images in \\[0, 1\\]"):
        calculate_ssim(clean.astype(np.float64), clean.astype(np.float64), convention="skimage")


def test_metric_images_round_or_not_by_convention() -> None:
    from dpmambair.metrics.conventions import describe, metric_images

    out = torch.tensor([[[0.1234, 0.9]]]).expand(3, 1, 2).contiguous()
    ref = torch.zeros(3, 1, 2)
    a, _ = metric_images({"type": "calculate_psnr"}, out, ref)
    assert a.dtype == np.uint8 and a[0, 0, 0] == round(0.1234 * 255)
    a, _ = metric_images({"type": "calculate_psnr", "convention": "skimage"}, out, ref)
    assert a.dtype == np.float64 and a[0, 0, 0] == pytest.approx(0.1234, abs=1e-7)
    words = describe({"psnr": {"type": "calculate_psnr"}, "ssim_sk": {"convention": "skimage"}})
    assert words["psnr"].startswith("basicsr:") and "uniform 7x7" in words["ssim_sk"]
