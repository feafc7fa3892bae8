"""Turn nested distributed layouts into what PairedImageDataset reads (scripts/prepare_*.py).

Only GoPro needs it among the single-task benchmarks: its frames sit in per-sequence folders
(`<split>/<sequence>/{blur,blur_gamma,sharp}/<frame>.png`) and frame names repeat across sequences. We write
a meta-info file of relative `lq gt` paths (nothing copied) or, optionally, flat folders of symbolic links
named `<sequence>_<frame>.png`. LOL, Rain100H, RESIDE-6K, Snow100K and DA-CLIP's universal layout are read in
place (see datasets/README.md).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import List, Tuple, Union

from .errors import DatasetError
from .image_io import list_images


def gopro_pairs(
    split_dir: Union[str, Path], blur_folder: str = "blur", sharp_folder: str = "sharp"
) -> List[Tuple[str, str]]:
    """(lq, gt) paths relative to `split_dir` for every frame of every sequence, sorted.

    `blur_folder` may be `blur_gamma` (the gamma-corrected blur some papers train on); a frame without its
    sharp counterpart or a sequence without both folders is an error naming it.
    """
    root = Path(split_dir)
    if not root.is_dir():
        raise DatasetError(f"GoPro split folder not found: {root}")
    seqs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not seqs:
        raise DatasetError(
            f"no sequence folders in {root} (expected <sequence>/{blur_folder} and <sequence>/{sharp_folder})"
        )
    pairs: List[Tuple[str, str]] = []
    for seq in seqs:
        blur, sharp = seq / blur_folder, seq / sharp_folder
        for d in (blur, sharp):
            if not d.is_dir():
                raise DatasetError(f"GoPro sequence folder missing: {d}")
        lq = {p.name for p in list_images(blur)}
        gt = {p.name for p in list_images(sharp)}
        if lq != gt:
            odd = sorted(lq ^ gt)
            raise DatasetError(
                f"{seq}: {blur_folder} and {sharp_folder} frames differ, e.g. {odd[0]} ({len(odd)} in total)"
            )
        pairs.extend((f"{seq.name}/{blur_folder}/{n}", f"{seq.name}/{sharp_folder}/{n}") for n in sorted(lq))
    return pairs


def write_meta_info(pairs: List[Tuple[str, str]], path: Union[str, Path]) -> Path:
    """One `lq gt` line per pair (PairedImageDataset's `meta_info_file` with dataroot_lq = dataroot_gt = split)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{lq} {gt}\n" for lq, gt in pairs))
    return path


def link_flat(
    pairs: List[Tuple[str, str]], split_dir: Union[str, Path], out_dir: Union[str, Path], copy: bool = False
) -> Tuple[Path, Path]:
    """`<out>/input/<sequence>_<frame>` and `<out>/target/...` as symbolic links (or copies) of the frames."""
    src, out = Path(split_dir).resolve(), Path(out_dir)
    lq_dir, gt_dir = out / "input", out / "target"
    for d in (lq_dir, gt_dir):
        if d.exists() and any(d.iterdir()):
            raise DatasetError(f"output folder is not empty: {d}")
        d.mkdir(parents=True, exist_ok=True)
    for lq, gt in pairs:
        name = lq.split("/")[0] + "_" + Path(lq).name
        for rel, d in ((lq, lq_dir), (gt, gt_dir)):
            target = d / name
            if copy:
                shutil.copy2(src / rel, target)
            else:
                os.symlink(src / rel, target)
    return lq_dir, gt_dir
