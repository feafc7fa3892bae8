"""Real benchmark pairs (LOL, GoPro, Rain100H, SOTS, CBSD68/Set12, Classic5/LIVE1) from ../shared, when present.

A user's clone has no ../shared: then every test here is skipped with the reason printed; the core suite
never depends on these files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dpmambair.data import DatasetError, build_dataset

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_pairs"
if not REAL.is_dir():
    REAL = Path("/work/shared/data/real_pairs")

pytestmark = pytest.mark.skipif(
    not REAL.is_dir(), reason=f"real sample pairs not found at {REAL} (only in the development workspace)"
)

PAIRED = {"low_light": "lowlight", "blur": "blur", "rain": "rain", "haze": "fog"}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("folder,task", sorted(PAIRED.items()))
def test_real_pairs_load_aligned(folder: str, task: str) -> None:
    ds = build_dataset(
        {
            "type": "PairedImageDataset",
            "dataroot_lq": str(REAL / folder / "lq"),
            "dataroot_gt": str(REAL / folder / "gt"),
            "task": task,
        },
        "real: datasets.test_1",
    )
    assert len(ds) >= 1
    for i in range(len(ds)):
        s = ds[i]
        assert s["lq"].shape == s["gt"].shape and s["lq"].shape[0] == 3 and s["task_name"] == task
        assert 5.0 < psnr(s["lq"].numpy(), s["gt"].numpy()) < 30.0  # degraded, but the same scene


def test_real_noise_folder_reports_clean_only_images() -> None:
    """CBSD68 3096 and 167062 ship without a noisy version: named as gt images without lq."""
    with pytest.raises(DatasetError, match=r"gt images without an lq image .*cbsd68_167062.png, cbsd68_3096.png"):
        build_dataset(
            {
                "type": "PairedImageDataset",
                "dataroot_lq": str(REAL / "noise" / "lq"),
                "dataroot_gt": str(REAL / "noise" / "gt"),
            },
            "real: datasets.test_1",
        )


def test_real_gray_images_synthesise_as_rgb() -> None:
    """Gray BMP/PNG clean images (Classic5, LIVE1, Set12) feed the synthetic dataset as 3-channel RGB."""
    for folder in ("jpeg", "noise"):
        ds = build_dataset(
            {
                "type": "SyntheticDegradationDataset",
                "dataroot_gt": str(REAL / folder / "gt"),
                "degradations": [folder],
                "severities": [0.5],
            },
            "real: datasets.val",
        )
        for i in range(len(ds)):
            s = ds[i]
            assert s["lq"].shape == s["gt"].shape and s["gt"].shape[0] == 3
            assert psnr(s["lq"].numpy(), s["gt"].numpy()) < 35.0
