#!/usr/bin/env python
"""Restore images with a trained DPMambaIR checkpoint; no option file needed (the checkpoint is self-contained).

    python scripts/restore.py --input photos/ --output restored/     # the shipped weights/dpmambair_compact.pth
    python scripts/restore.py --weights experiments/DPMambaIR_allinone/models/net_g_latest.pth \\
        --input photos/ --output restored/ [--tile 512 --tile_overlap 32] [--self_ensemble] [--device cpu|cuda]

Reads every image OpenCV can read (any size; grayscale is expanded to RGB, 16-bit and float images are
scaled to [0, 1], an alpha channel is set aside and put back unchanged), writes `<output>/<name>.png`
(16-bit PNG for 16-bit or float inputs, else 8-bit), and prints for each image the degradation type
whose prototype embedding is closest to the image's (cosine similarity), when the checkpoint has prototypes.
Use --tile for images too large for memory (e.g. 512 on a GPU with little memory or for >2K images on CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dpmambair.utils.errors import DPMambaIRError  # noqa: E402

IMAGE_SUFFIXES = {
    ".png",
    ".jpg",
    ".jpeg",
    ".jpe",
    ".bmp",
    ".dib",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".pbm",
    ".pnm",
    ".pxm",
    ".sr",
    ".ras",
    ".jp2",
    ".exr",
    ".hdr",
    ".pic",
    ".pfm",
    ".avif",
}


class InputError(DPMambaIRError, ValueError):
    """A missing or unreadable input; one line naming the file."""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--weights",
        default=None,
        help="restorer checkpoint (net_g_*.pth written by train.py, or a packed weights file); "
        "default: the shipped weights/dpmambair_compact.pth",
    )
    parser.add_argument("--input", required=True, help="an image file or a folder of images (not recursive)")
    parser.add_argument("--output", required=True, help="folder for the restored PNGs (created if missing)")
    parser.add_argument(
        "--tile",
        type=tile_arg,
        default=None,
        help="tile size (multiple of 8), or auto: from the device's free memory, smaller on out-of-memory; "
        "default: whole image",
    )
    parser.add_argument("--tile_overlap", type=int, default=32, help="pixels shared by neighbouring tiles (default 32)")
    parser.add_argument("--self_ensemble", action="store_true", help="average over 8 flips/rotations (8x slower)")
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        default="fp32",
        help="arithmetic of the restorer's convolutions and matmuls (the scan and normalisations stay fp32); "
        "an fp16 overflow is an error, never a black image (default fp32)",
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda when available)")
    parser.add_argument(
        "--task",
        default=None,
        help="task name or index, only for class-conditioned checkpoints (prompt_source: classes)",
    )
    parser.add_argument(
        "--report",
        default=None,
        metavar="FILE.json",
        help="write, per image, the similarity to every degradation prototype, the nearest type and a confidence",
    )
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        metavar="X",
        help="leave an image unchanged (and say so) when its confidence (the nearest prototype's cosine "
        "similarity) is below X: do no harm to photos whose degradation the model does not recognise",
    )
    args = parser.parse_args(argv)
    if args.min_confidence is not None and not -1.0 <= args.min_confidence <= 1.0:
        parser.error(f"--min-confidence must lie in [-1, 1] (a cosine similarity), got {args.min_confidence}")
    return args


def tile_arg(text: str) -> Union[int, str]:
    """--tile: 'auto' or an int (checked further by Restorer)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a multiple of 8 or 'auto', got '{text}'") from None


def list_inputs(path: Path) -> List[Path]:
    if not path.exists():
        raise InputError(f"--input {path}: no such file or folder")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(
            f"--input {path}: the folder holds no image files ({', '.join(sorted(IMAGE_SUFFIXES)[:6])}, ...)"
        )
    return files


def read_image(path: Path) -> Tuple[np.ndarray, Optional[np.ndarray], bool]:
    """→ (RGB float32 H×W×3 in [0, 1], alpha in [0, 1] or None, high bit depth?)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise InputError(f"{path}: cannot read this image (unsupported or corrupt file)")
    if img.dtype == np.uint8:
        scale, deep = 255.0, False
    elif img.dtype == np.uint16:
        scale, deep = 65535.0, True
    elif img.dtype in (np.float32, np.float64):
        scale, deep = 1.0, True
    else:
        raise InputError(f"{path}: unsupported pixel type {img.dtype}")
    img = img.astype(np.float32) / scale
    if img.ndim == 2:
        img = img[..., None]
    channels = img.shape[2]
    alpha = None
    if channels == 4:
        img, alpha = img[..., :3], img[..., 3].clip(0, 1)
    elif channels == 2:  # gray + alpha
        img, alpha = img[..., :1], img[..., 1].clip(0, 1)
    elif channels not in (1, 3):
        raise InputError(f"{path}: {channels} channels; expected gray, RGB or RGBA")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    rgb = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2RGB).clip(0, 1)
    return rgb, alpha, deep


def write_image(path: Path, rgb: np.ndarray, alpha: Optional[np.ndarray], deep: bool) -> None:
    scale, dtype = (65535.0, np.uint16) if deep else (255.0, np.uint8)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if alpha is not None:
        bgr = np.concatenate([bgr, alpha[..., None]], axis=2)
    out = (bgr.clip(0, 1) * scale).round().astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), out):
        raise InputError(f"{path}: cannot write the output image")


def output_names(inputs: List[Path]) -> List[str]:
    """`<stem>.png`; inputs sharing a stem (a.jpg, a.png) become `<stem>_<ext>.png` so none overwrites another."""
    stems = [p.stem for p in inputs]
    return [
        f"{p.stem}_{p.suffix.lstrip('.').lower()}.png" if stems.count(p.stem) > 1 else f"{p.stem}.png" for p in inputs
    ]


def task_label(task: Optional[str], num_tasks: int) -> Optional[int]:
    if task is None:
        return None
    if task.isdigit():
        label = int(task)
    else:
        try:
            from dpmambair.data import TASKS
        except ImportError:
            raise InputError("--task: give the task index (task names need dpmambair.data.TASKS)") from None
        names = [t.lower() for t in TASKS]
        if task.lower() not in names:
            raise InputError(f"--task: unknown task '{task}'; known: {', '.join(TASKS)} (or an index)")
        label = names.index(task.lower())
    if not 0 <= label < num_tasks:
        raise InputError(f"--task: index {label} outside [0, {num_tasks - 1}]")
    return label


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from dpmambair.inference.restorer import RestoreError, Restorer
    from dpmambair.inference.weights import shipped_weights

    try:
        if args.weights is None:
            args.weights = str(shipped_weights())
            print(f"weights: {args.weights} (the shipped compact model; --weights picks another)")
        inputs = list_inputs(Path(args.input))
        out_dir = Path(args.output)
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError(f"--output {out_dir}: exists and is not a folder")
        restorer = Restorer.from_checkpoint(
            args.weights,
            device=args.device,
            tile=args.tile,
            tile_overlap=args.tile_overlap,
            self_ensemble=args.self_ensemble,
            precision=args.precision,
        )
        task = None
        if restorer.prompt_source == "classes":
            if args.task is None:
                raise InputError(
                    f"{args.weights}: this checkpoint is conditioned on task labels; pass --task NAME_OR_INDEX"
                )
            task = task_label(args.task, int(getattr(restorer.net_g, "num_tasks", 1)))
        out_dir.mkdir(parents=True, exist_ok=True)
    except DPMambaIRError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: --output {args.output}: {err.strerror or err}", file=sys.stderr)
        return 2

    can_name = restorer.net_de is not None and restorer.prototypes is not None
    if not can_name:
        why = "no degradation extractor" if restorer.net_de is None else "no degradation prototypes"
        if args.report or args.min_confidence is not None:
            flag = "--report" if args.report else "--min-confidence"
            print(f"error: {flag}: {args.weights} has {why}, so degradations cannot be recognised", file=sys.stderr)
            return 2
        print(f"note: {args.weights} has {why}; the degradation type of each image is not printed")
    report: List[Dict[str, Any]] = []
    print(
        f"restoring {len(inputs)} image(s) on {restorer.device} in {restorer.precision}; tile {restorer.tile or 'off'}"
        f"{f' (overlap {restorer.tile_overlap})' if restorer.tile else ''}, self-ensemble "
        f"{'on' if restorer.self_ensemble else 'off'}"
    )
    failures = 0
    for src, out_name in zip(inputs, output_names(inputs)):
        try:
            rgb, alpha, deep = read_image(src)
            lq = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
            t0 = time.perf_counter()
            emb = restorer.embed(lq) if restorer.net_de is not None else None
            info = restorer.degradation_report(embedding=emb)[0] if can_name else None
            keep = info is not None and args.min_confidence is not None and info["confidence"] < args.min_confidence
            if keep:  # not recognised: the input goes out as it came in
                out = rgb
            else:
                out = restorer(lq, task=task, embedding=emb)[0].permute(1, 2, 0).cpu().numpy()
            seconds = time.perf_counter() - t0
            dst = out_dir / out_name
            write_image(dst, out, alpha, deep)
        except (InputError, RestoreError) as err:
            print(f"error: {err}", file=sys.stderr)
            failures += 1
            continue
        except RuntimeError as err:  # out of memory, mostly: say what to do instead of a traceback
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            print(f"error: {src}: {first} (try --tile auto or --tile 512)", file=sys.stderr)
            failures += 1
            continue
        kind = ""
        if info is not None:
            kind = f"  closest degradation: {info['nearest']} (cosine {info['confidence']:.3f})"
            if keep:
                kind += f"; confidence below --min-confidence {args.min_confidence}: left unchanged"
            report.append({"input": str(src), "output": str(dst), "restored": not keep, **info})
        used = f", tile {restorer.last_tile or 'off'}" if restorer.tile == "auto" and not keep else ""
        print(f"{src} -> {dst}  ({rgb.shape[1]}x{rgb.shape[0]}, {seconds:.2f} s{used}){kind}")
    if args.report:
        rep = Path(args.report)
        rep.parent.mkdir(parents=True, exist_ok=True)
        rep.write_text(
            json.dumps(
                {"weights": str(args.weights), "min_confidence": args.min_confidence, "images": report}, indent=1
            )
        )
        print(f"report: {rep}")
    if failures:
        print(f"{failures} of {len(inputs)} image(s) failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
