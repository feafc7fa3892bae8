"""Degradation engine: severity lowers PSNR monotonically, determinism, composition order, alignment."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from dpmambair.data.degradations import ORDER, apply_params, degrade, get_degradation, motion_kernel, sample_params
from dpmambair.data.tasks import TASKS

SEVERITIES = (0.0, 0.25, 0.5, 0.75, 1.0)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    img = skimage.data.astronaut().astype(np.float32) / 255.0
    return cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("task", TASKS)
def test_psnr_falls_monotonically_with_severity(photo: np.ndarray, task: str) -> None:
    values = [psnr(degrade(photo, task, s, np.random.default_rng(7))[0], photo) for s in SEVERITIES]
    assert all(a > b for a, b in zip(values, values[1:])), f"{task}: {values}"
    assert values[-1] < 35.0  # the severe end is a visible degradation


@pytest.mark.parametrize("task", TASKS)
def test_deterministic_and_reproducible_from_params(photo: np.ndarray, task: str) -> None:
    out1, p1 = degrade(photo, task, 0.6, np.random.default_rng(3))
    out2, p2 = degrade(photo, task, 0.6, np.random.default_rng(3))
    out3, _ = degrade(photo, task, 0.6, np.random.default_rng(4))
    assert p1 == p2 and np.array_equal(out1, out2)
    if task != "jpeg":  # the codec has no randomness
        assert not np.array_equal(out1, out3)
    assert np.array_equal(apply_params(photo, p1), out1)  # the parameters alone reproduce the image
    assert out1.dtype == np.float32 and out1.shape == photo.shape and 0 <= out1.min() and out1.max() <= 1


def test_compound_follows_the_imaging_model_order(photo: np.ndarray) -> None:
    _, params = degrade(photo, "noise+jpeg+rain+lowlight", 0.5, np.random.default_rng(0))
    assert [p["type"] for p in params] == ["lowlight", "rain", "jpeg", "noise"]
    assert list(ORDER) == ["lowlight", "fog", "rain", "snow", "blur", "jpeg", "noise"]
    out, _ = degrade(photo, ["hazy", "rainy"], {"fog": 0.2, "rain": 0.9}, np.random.default_rng(0))
    assert psnr(out, photo) < psnr(degrade(photo, "fog", 0.2, np.random.default_rng(0))[0], photo)


def test_blur_kernel_is_centred_so_pairs_stay_aligned(photo: np.ndarray) -> None:
    for seed in range(5):
        k = motion_kernel(21.0, seed, 0.2)
        yy, xx = np.mgrid[0 : k.shape[0], 0 : k.shape[1]]
        c = k.shape[0] // 2
        assert abs((k * yy).sum() - c) < 0.05 and abs((k * xx).sum() - c) < 0.05
        assert abs(k.sum() - 1.0) < 1e-5
    dot = np.zeros((65, 65, 3), np.float32)
    dot[32, 32] = 1.0
    for seed in range(5):  # a blurred point stays centred on the point: no global shift
        spread, _ = degrade(dot, "blur", 1.0, np.random.default_rng(seed))
        w = spread[..., 0] / spread[..., 0].sum()
        yy, xx = np.mgrid[0:65, 0:65]
        assert abs((w * yy).sum() - 32) < 0.1 and abs((w * xx).sum() - 32) < 0.1


def test_parameter_ranges_and_bad_values(photo: np.ndarray) -> None:
    p = sample_params("noise", 1.0, np.random.default_rng(0), {"noise": {"sigma": [0.01, 0.02]}})[0]
    assert p["sigma"] == pytest.approx(0.02)
    p = sample_params("noise", 0.5, np.random.default_rng(0), {"noise": {"poisson_peak": [100, 10]}})[0]
    assert p["poisson_peak"] == pytest.approx(55)
    with pytest.raises(ValueError, match="severity"):
        get_degradation("rain").sample(1.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown parameter 'sigmaa'"):
        sample_params("noise", 0.5, np.random.default_rng(0), {"noise": {"sigmaa": [0, 1]}})
    with pytest.raises(KeyError, match="unknown degradation 'smog'"):
        degrade(photo, "smog", 0.5, np.random.default_rng(0))
