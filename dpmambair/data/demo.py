"""The embedded demo dataset, built offline from the photographs that ship inside scikit-image.

Only natural colour photographs are used, and the split is by photograph, so validation and test scenes
never appear in training:

    train: astronaut, rocket, motorcycle_left, motorcycle_right   (clean images, degraded on the fly)
    val:   coffee                                                  (fixed pairs: 7 types x severities)
    test:  chelsea                                                 (fixed pairs: 7 types x severities)

(`motorcycle_left/right` are the two views of skimage's stereo pair — one scene — so both stay in train.)
Layout written under the output folder:

    train/clean/<photo>.png
    val/clean/<photo>.png     val/<task>/{lq,gt}/<photo>_s<sev>.png     val/metadata.jsonl
    test/clean/<photo>.png    test/<task>/{lq,gt}/<photo>_s<sev>.png    test/metadata.jsonl
    splits.json   README.md
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Dict, Sequence, Tuple, Union

import cv2
import numpy as np

from .errors import DatasetError
from .image_io import write_image
from .synthesis import synthesize_folder
from .tasks import TASKS

SPLITS: Dict[str, Tuple[str, ...]] = {
    "train": ("astronaut", "rocket", "motorcycle_left", "motorcycle_right"),
    "val": ("coffee",),
    "test": ("chelsea",),
}
DEMO_SEED = {"val": 1001, "test": 2002}


def _loaders() -> Dict[str, Callable[[], np.ndarray]]:
    import skimage.data as d

    return {
        "astronaut": d.astronaut,
        "rocket": d.rocket,
        "coffee": d.coffee,
        "chelsea": d.chelsea,
        "motorcycle_left": lambda: d.stereo_motorcycle()[0],
        "motorcycle_right": lambda: d.stereo_motorcycle()[1],
    }


def load_photo(name: str) -> np.ndarray:
    """A bundled skimage photograph as float32 RGB in [0, 1]; DatasetError if this install lacks it."""
    try:
        img = _loaders()[name]()
    except Exception as err:  # skimage raises assorted errors when a file needs a download
        raise DatasetError(f"skimage.data photo '{name}' is not available offline ({type(err).__name__})") from None
    if img.ndim != 3 or img.shape[2] != 3:
        raise DatasetError(f"skimage.data photo '{name}' is not an RGB image")
    return img.astype(np.float32) / 255.0


def resize_short_side(img: np.ndarray, short: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = short / min(h, w)
    return cv2.resize(img, (max(short, round(w * s)), max(short, round(h * s))), interpolation=cv2.INTER_AREA)


def eval_view(img: np.ndarray, short: int) -> np.ndarray:
    """Short side `short`, long side centre-cropped to at most 1.5x (a multiple of 8): small, fixed-size views."""
    img = resize_short_side(img, short)
    h, w = img.shape[:2]
    long_max = max(8, int(short * 1.5) // 8 * 8)
    if w >= h and w > long_max:
        x0 = (w - long_max) // 2
        img = img[:, x0 : x0 + long_max]
    elif h > w and h > long_max:
        y0 = (h - long_max) // 2
        img = img[y0 : y0 + long_max]
    return np.ascontiguousarray(img)


def build_demo(
    output: Union[str, Path],
    train_size: int = 256,
    eval_size: int = 128,
    severities: Sequence[float] = (0.3, 0.6, 0.9),
    overwrite: bool = False,
) -> Dict[str, object]:
    """Write the demo dataset; `train_size`/`eval_size` are the short sides of training and evaluation images."""
    out = Path(output)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DatasetError(f"output folder is not empty: {out} (pass --overwrite to rebuild it)")
        if not (out / "splits.json").is_file():
            raise DatasetError(f"refusing to overwrite {out}: it does not look like a demo folder (no splits.json)")
        shutil.rmtree(out)
    summary: Dict[str, object] = {"output": str(out), "splits": {k: list(v) for k, v in SPLITS.items()}}
    for split, names in SPLITS.items():
        clean = out / split / "clean"
        for name in names:
            img = load_photo(name)
            img = resize_short_side(img, train_size) if split == "train" else eval_view(img, eval_size)
            write_image(clean / f"{name}.png", img)
        if split != "train":
            res = synthesize_folder(
                clean, out / split, list(TASKS), seed=DEMO_SEED[split], severities=list(severities), layout="per-task"
            )
            summary[f"{split}_pairs"] = res["pairs"]
    (out / "splits.json").write_text(
        json.dumps(
            {
                "source": "skimage.data (bundled photographs)",
                "splits": summary["splits"],
                "train_size": train_size,
                "eval_size": eval_size,
                "severities": list(severities),
                "seeds": DEMO_SEED,
            },
            indent=2,
        )
        + "\n"
    )
    (out / "README.md").write_text(_readme(train_size, eval_size, severities))
    return summary


def _readme(train_size: int, eval_size: int, severities: Sequence[float]) -> str:
    import skimage

    tasks = ", ".join(TASKS)
    return f"""# Demo dataset (generated by scripts/make_demo_data.py; do not edit)

Built offline from the photographs bundled with scikit-image {skimage.__version__} (`skimage.data`).
Split by photograph, so validation and test scenes never appear in training:

- train: {", ".join(SPLITS["train"])} — clean images, short side {train_size} px, degraded on the fly
  (`SyntheticDegradationDataset`, `dataroot_gt: datasets/demo/train/clean`)
- val: {", ".join(SPLITS["val"])} — fixed pairs, short side {eval_size} px
- test: {", ".join(SPLITS["test"])} — fixed pairs, short side {eval_size} px

Every val/test photo is degraded by each of the seven tasks ({tasks}) at severities
{", ".join(str(s) for s in severities)}:

    <split>/<task>/lq/<photo>_s<severity x 100>.png   degraded input
    <split>/<task>/gt/<photo>_s<severity x 100>.png   clean target
    <split>/metadata.jsonl                            the exact parameters of every pair
    <split>/clean/<photo>.png                         the clean photo

`MixedDegradationDataset` with `dataroot: datasets/demo/val` reads all seven tasks with their labels.
"""
