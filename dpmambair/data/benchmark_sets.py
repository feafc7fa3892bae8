"""The standard restoration benchmarks as scripts/bench_quality.py runs them: which images, degraded how.

Every degraded input is made here, deterministically, and quantised to 8 bits as a saved test image is:

- Gaussian noise (CBSD68, σ in 0–255 units): `round(clip(gt + σ·N(0, 1), 0, 255))` in float64, one NumPy
  generator per image seeded with `stable_seed("noise", set, image name, σ)`.
- JPEG (LIVE1 in colour, Classic5 in grey): OpenCV's encoder (`cv2.imencode`, IJG, 4:2:0 chroma for colour) at
  the given quality, then decoded; grey images are encoded as one-channel JPEGs, as the literature does.
- The project's seven types (CBSD68 × type × severity): `dpmambair.data.degradations.degrade` in float with a
  generator seeded by `stable_seed("type", set, image name, type, severity)`, then rounded to uint8.
- Real pairs: `lq/` and `gt/` folders holding the same file names.

Scores: PSNR and SSIM on 8-bit RGB (grey sets: the one grey channel), no border crop, SSIM with the 11×11
Gaussian window (BasicSR's `calculate_psnr` / `calculate_ssim`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .degradations import degrade
from .errors import DatasetError
from .image_io import list_images, read_image, to_uint8
from .seeding import stable_seed

NOISE_SIGMAS = (15, 25, 50)
JPEG_QUALITIES = (10, 20, 30, 40)
TYPE_SEVERITIES = (0.3, 0.6, 0.9)
TYPES = ("lowlight", "snow", "rain", "fog", "jpeg", "noise", "blur")
# (folder under the data root, degradation type, what it is); looked up as <root>/<folder>, <root>/benchmarks/<folder>
REAL_SETS: Tuple[Tuple[str, str, str], ...] = (
    ("real_pairs/low_light", "lowlight", "LOL eval15 (real low light)"),
    ("real_pairs/rain", "rain", "Rain100H test (heavy synthetic rain)"),
    ("Rain_DDN_SIRR20", "rain", "Rain (DDN-SIRR synthetic, 20 pairs)"),
    ("Rain100L_sample2", "rain", "Rain100L (2 pairs)"),
    ("real_pairs/haze", "fog", "SOTS indoor (haze)"),
    ("SOTS_outdoor_sample2", "fog", "SOTS outdoor (2 pairs)"),
    ("real_pairs/blur", "blur", "GoPro (real motion blur, 384×384 crops)"),
    ("real_pairs/noise", "noise", "KAIR noisy/clean pairs (AWGN ≈ σ50)"),
)


@dataclass
class Case:
    """One test image: the degraded input and its ground truth, 8-bit RGB (grey sets repeat one channel)."""

    name: str
    lq: np.ndarray
    gt: np.ndarray
    grey: bool = False
    param: Optional[float] = None  # σ (0–255) or JPEG quality when the set has one, for per-image baselines


@dataclass
class BenchSet:
    """A named set of cases, made lazily (one image in memory at a time)."""

    key: str  # e.g. "CBSD68 noise σ=25"
    kind: str  # noise | jpeg | types | real
    task: str  # the degradation type it measures
    make: Callable[[], Iterator[Case]] = field(repr=False)
    count: int = 0
    folder: str = ""


def find_folder(root: Path, name: str) -> Optional[Path]:
    """<root>/<name> or <root>/benchmarks/<name> (the layout of datasets/ and of ../shared/data), else None."""
    for cand in (root / name, root / "benchmarks" / name):
        if cand.is_dir():
            return cand
    return None


def read_u8(path: Path) -> Tuple[np.ndarray, bool]:
    """8-bit RGB of an image file and whether it is grey (all channels equal)."""
    img = to_uint8(read_image(path))
    grey = bool(np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2]))
    return img, grey


def add_gaussian_noise(gt: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """`round(clip(gt + σ·N(0, 1)))` with σ in 0–255 units: the AWGN protocol of the denoising literature."""
    rng = np.random.default_rng(seed)
    noisy = gt.astype(np.float64) + float(sigma) * rng.standard_normal(gt.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def jpeg_u8(gt: np.ndarray, quality: int, grey: bool) -> np.ndarray:
    """OpenCV JPEG round trip of an 8-bit RGB image; a grey image is coded as a one-channel JPEG."""
    src = gt[..., 0] if grey else cv2.cvtColor(gt, cv2.COLOR_RGB2BGR)
    ok, enc = cv2.imencode(".jpg", src, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise DatasetError(f"OpenCV could not encode a JPEG at quality {quality}")
    dec = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
    return np.repeat(dec[..., None], 3, axis=2) if grey else cv2.cvtColor(dec, cv2.COLOR_BGR2RGB)


def synth_u8(gt: np.ndarray, task: str, severity: float, seed: int) -> np.ndarray:
    """One of the project's seven degradations at `severity`, rounded to 8 bits."""
    out, _ = degrade(gt.astype(np.float32) / 255.0, task, severity, np.random.default_rng(seed))
    return to_uint8(out)


def pairs_in(folder: Path) -> List[Tuple[Path, Path]]:
    """(lq, gt) paths of the files whose names appear in both `lq/` and `gt/`."""
    lq_dir, gt_dir = folder / "lq", folder / "gt"
    if not lq_dir.is_dir() or not gt_dir.is_dir():
        return []
    gts = {p.name: p for p in list_images(gt_dir)}
    return [(p, gts[p.name]) for p in list_images(lq_dir) if p.name in gts]


def _clean_images(folder: Path, limit: Optional[int]) -> List[Path]:
    files = list_images(folder)
    if not files:
        raise DatasetError(f"{folder}: no images")
    return files[:limit] if limit else files


def build_sets(
    root: Path,
    kinds: Sequence[str] = ("noise", "jpeg", "types", "real"),
    limit: Optional[int] = None,
    skipped: Optional[List[str]] = None,
) -> List[BenchSet]:
    """The benchmark sets found under `root`; a missing folder is recorded in `skipped` with its reason."""
    skipped = skipped if skipped is not None else []
    sets: List[BenchSet] = []

    def need(name: str, why: str) -> Optional[Path]:
        folder = find_folder(root, name)
        if folder is None:
            skipped.append(f"{name}: not found as {root / name} or {root / 'benchmarks' / name} ({why})")
        return folder

    if "noise" in kinds and (cbsd := need("CBSD68", "Gaussian-noise rows")) is not None:
        files = _clean_images(cbsd, limit)
        for sigma in NOISE_SIGMAS:

            def make(files=files, sigma=sigma) -> Iterator[Case]:
                for f in files:
                    gt, _ = read_u8(f)
                    lq = add_gaussian_noise(gt, sigma, stable_seed("noise", "CBSD68", f.name, sigma))
                    yield Case(f.stem, lq, gt, False, float(sigma))

            sets.append(BenchSet(f"CBSD68 noise σ={sigma}", "noise", "noise", make, len(files), str(cbsd)))
    if "jpeg" in kinds:
        for name in ("LIVE1", "Classic5"):
            folder = need(name, "JPEG rows")
            if folder is None:
                continue
            files = _clean_images(folder, limit)
            for q in JPEG_QUALITIES:

                def make(files=files, q=q) -> Iterator[Case]:
                    for f in files:
                        gt, grey = read_u8(f)
                        yield Case(f.stem, jpeg_u8(gt, q, grey), gt, grey, float(q))

                sets.append(BenchSet(f"{name} JPEG q={q}", "jpeg", "jpeg", make, len(files), str(folder)))
    if "types" in kinds and (cbsd := need("CBSD68", "seven-type rows")) is not None:
        files = _clean_images(cbsd, limit)
        for task in TYPES:
            for sev in TYPE_SEVERITIES:

                def make(files=files, task=task, sev=sev) -> Iterator[Case]:
                    for f in files:
                        gt, _ = read_u8(f)
                        lq = synth_u8(gt, task, sev, stable_seed("type", "CBSD68", f.name, task, sev))
                        yield Case(f.stem, lq, gt, False, None)

                sets.append(BenchSet(f"CBSD68 {task} s={sev}", "types", task, make, len(files), str(cbsd)))
    if "real" in kinds:
        for name, task, what in REAL_SETS:
            folder = need(name, what)
            if folder is None:
                continue
            pairs = pairs_in(folder)
            if not pairs:
                skipped.append(f"{name}: {folder} has no lq/ and gt/ files with matching names")
                continue
            pairs = pairs[:limit] if limit else pairs

            def make(pairs=pairs) -> Iterator[Case]:
                for lq_path, gt_path in pairs:
                    lq, grey_lq = read_u8(lq_path)
                    gt, grey_gt = read_u8(gt_path)
                    if lq.shape != gt.shape:
                        raise DatasetError(f"{lq_path}: size {lq.shape[:2]} differs from {gt_path} {gt.shape[:2]}")
                    yield Case(lq_path.stem, lq, gt, grey_lq and grey_gt, None)

            sets.append(BenchSet(f"{what}", "real", task, make, len(pairs), str(folder)))
    return sets


__all__ = [
    "BenchSet",
    "Case",
    "JPEG_QUALITIES",
    "NOISE_SIGMAS",
    "REAL_SETS",
    "TYPES",
    "TYPE_SEVERITIES",
    "add_gaussian_noise",
    "build_sets",
    "find_folder",
    "jpeg_u8",
    "pairs_in",
    "read_u8",
    "synth_u8",
]
