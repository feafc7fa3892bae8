"""Reading and writing images as float32 RGB in [0, 1].

Whatever is on disk — 8-bit or 16-bit PNG, JPEG, BMP, TIFF, grayscale, RGBA or palette images — comes out as
an (H, W, 3) float32 RGB array in [0, 1], so datasets never special-case a format. Alpha is dropped (the colour
values are kept as stored), grayscale is repeated to three channels, and 16-bit values are divided by 65535,
so a 16-bit image and its 8-bit version load to (almost) the same floats. EXIF orientation is ignored, as in
BasicSR, so an lq/gt pair stays aligned whatever camera metadata it carries.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Tuple, Union

import cv2
import numpy as np
import torch

from .errors import DatasetError

PathLike = Union[str, Path]
IMG_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


def is_image_file(path: PathLike) -> bool:
    """True for a visible file whose extension is an image extension (case-insensitive)."""
    p = Path(path)
    return not p.name.startswith(".") and p.suffix.lower() in IMG_EXTENSIONS


def list_images(folder: PathLike, recursive: bool = False) -> List[Path]:
    """Image files in `folder`, sorted; hidden files and folders and non-image files are skipped.

    Skipping (not failing on) `.DS_Store`, `Thumbs.db`, `README.txt` or a `meta_info.txt` beside the images
    is what users expect of a dataset folder; a file that *claims* to be an image but does not decode is an
    error reported elsewhere.
    """
    root = Path(folder)
    if not recursive:
        return sorted(p for p in root.iterdir() if p.is_file() and is_image_file(p))
    out: List[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out.extend(Path(dirpath) / f for f in filenames if is_image_file(f))
    return sorted(out)


def _to_float_rgb(img: np.ndarray, path: PathLike) -> np.ndarray:
    if img.dtype == np.uint8:
        scale = 255.0
    elif img.dtype == np.uint16:
        scale = 65535.0
    elif img.dtype in (np.float32, np.float64):
        scale = 1.0
    else:
        raise DatasetError(f"{path}: unsupported pixel type {img.dtype} (use 8- or 16-bit images)")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    elif img.ndim == 3 and img.shape[2] == 2:  # gray + alpha
        img = cv2.cvtColor(np.ascontiguousarray(img[:, :, 0]), cv2.COLOR_GRAY2RGB)
    elif img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        raise DatasetError(f"{path}: unsupported image shape {img.shape}")
    out = img.astype(np.float32)
    if scale != 1.0:
        out *= np.float32(1.0 / scale)
    else:
        np.clip(out, 0.0, 1.0, out=out)
    return out


def read_image(path: PathLike) -> np.ndarray:
    """Decode an image file to (H, W, 3) float32 RGB in [0, 1]; DatasetError naming the file if it cannot."""
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)
    except OSError as err:
        raise DatasetError(f"{path}: cannot read file ({err.strerror or err})") from None
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None:
        raise DatasetError(f"{path}: not a decodable image")
    return _to_float_rgb(img, path)


def image_size(path: PathLike) -> Tuple[int, int]:
    """(height, width) from the file header without decoding the pixels (fast enough for every file at start-up).

    Falls back to a full decode for formats the header reader does not know.
    """
    try:
        from PIL import Image

        with Image.open(path) as im:
            w, h = im.size
        return int(h), int(w)
    except ImportError:
        pass
    except OSError:
        pass  # not recognised by the header reader; the full decode below decides
    except Exception:  # PIL raises assorted errors on corrupt headers
        pass
    img = read_image(path)
    return int(img.shape[0]), int(img.shape[1])


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float [0, 1] → uint8, rounded (the inverse of reading an 8-bit file)."""
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_image(path: PathLike, img: np.ndarray) -> None:
    """Write an (H, W, 3) RGB image (float in [0, 1] or uint8) as 8-bit; folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = img if img.dtype == np.uint8 else to_uint8(img)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, enc = cv2.imencode(path.suffix or ".png", arr)
    if not ok:
        raise DatasetError(f"{path}: cannot encode image")
    enc.tofile(str(path))


def img_to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float32 array → (3, H, W) float32 tensor (a copy, contiguous)."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))


def tensor_to_uint8(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) float RGB in [0, 1] → (H, W, 3) uint8 RGB, rounded (BasicSR's tensor2img); the inverse of
    `img_to_tensor` up to quantisation. Validation and test.py score and save images through this one function."""
    return img.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
