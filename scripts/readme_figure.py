#!/usr/bin/env python
"""The README's first picture: the shipped model restoring a scikit-image photo under each of the seven types.

    python scripts/readme_figure.py [--weights weights/dpmambair_compact.pth] [--photo chelsea]
        [--severity 0.6] [--output docs/images/shipped_model.png]

The photo is one bundled with scikit-image (chelsea: CC0, "no copyright restrictions" in skimage.data), never
seen by the shipped model (trained on CBSD432 only); the benchmark images are research-only and cannot be
published in a picture. Degradations: the project's engine at one severity, seeded, rounded to 8 bits.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="default: the shipped weights/dpmambair_compact.pth")
    p.add_argument("--photo", default="chelsea", help="a scikit-image photo name (default chelsea)")
    p.add_argument("--severity", type=float, default=0.6, help="degradation severity in [0, 1] (default 0.6)")
    p.add_argument("--short-side", type=int, default=256, help="resize the photo's short side (default 256)")
    p.add_argument("--output", default="docs/images/shipped_model.png", help="PNG to write")
    args = p.parse_args(argv)
    if not 0.0 <= args.severity <= 1.0:
        p.error(f"--severity must lie in [0, 1], got {args.severity}")

    import torch

    from dpmambair.data import TASKS
    from dpmambair.data.benchmark_sets import synth_u8
    from dpmambair.data.demo import load_photo, resize_short_side
    from dpmambair.data.image_io import to_uint8, write_image
    from dpmambair.data.seeding import stable_seed
    from dpmambair.inference.restorer import Restorer
    from dpmambair.inference.weights import shipped_weights
    from dpmambair.metrics.psnr_ssim_metric import calculate_psnr
    from dpmambair.utils.comparison_figure import make_comparison_figure
    from dpmambair.utils.errors import DPMambaIRError

    try:
        weights = Path(args.weights) if args.weights else shipped_weights()
        restorer = Restorer.from_checkpoint(weights)
        gt = to_uint8(resize_short_side(load_photo(args.photo), args.short_side))
    except DPMambaIRError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in TASKS:
            lq = synth_u8(gt, task, args.severity, stable_seed("readme", args.photo, task, args.severity))
            x = torch.from_numpy(lq.transpose(2, 0, 1).copy()).float().div(255)[None]
            with torch.inference_mode():
                out = to_uint8(restorer(x)[0].permute(1, 2, 0).numpy())
            folder = Path(tmp) / task
            for sub, img in (("lq", lq), ("gt", gt), ("out", out)):
                write_image(folder / sub / f"{args.photo}.png", img)
            rows.append(
                {
                    "task": task,
                    "image": str(folder / "lq" / f"{args.photo}.png"),
                    "output": str(folder / "out" / f"{args.photo}.png"),
                    "input_psnr": calculate_psnr(lq, gt),
                    "psnr": calculate_psnr(out, gt),
                }
            )
            print(f"{task:<9} input {rows[-1]['input_psnr']:6.2f} dB  restored {rows[-1]['psnr']:6.2f} dB")
        path = make_comparison_figure(
            rows,
            args.output,
            tile_width=224,
            title=f"shipped compact model, unseen photo, severity {args.severity}: degraded | restored | clean",
        )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
