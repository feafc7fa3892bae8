#!/usr/bin/env python
"""PSNR and speed of the restorer in fp32, bf16 and fp16 on the benchmark sets, measured in one run.

    python scripts/bench_precision.py [--weights weights/dpmambair_compact.pth] [--data datasets]
        [--sets noise,jpeg,types] [--limit 8] [--precisions fp32,bf16,fp16] [--device auto] [--threads N]

Each precision restores the same images (the sets of scripts/bench_quality.py, first --limit images of each);
the table gives, per set, fp32's PSNR and every other precision's difference from it, and the seconds per
image with the ratio to fp32. Precision applies to the restorer's convolutions and matmuls (autocast); the
scan, the normalisations and the extractor stay in float32 (dpmambair/inference/restorer.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

PRECISIONS = ("fp32", "bf16", "fp16")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="restorer file (default: the shipped weights)")
    p.add_argument("--data", default="datasets", help="folder holding the benchmark sets (default datasets)")
    p.add_argument("--sets", default="noise,jpeg,types", help="comma list of noise, jpeg, types, real")
    p.add_argument("--limit", type=int, default=8, help="first N images of each set (default 8)")
    p.add_argument("--precisions", default=",".join(PRECISIONS), help="comma list (default fp32,bf16,fp16)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = p.parse_args(argv)
    args.precision_list = [x.strip() for x in args.precisions.split(",") if x.strip()]
    bad = [x for x in args.precision_list if x not in PRECISIONS]
    if bad or "fp32" not in args.precision_list:
        p.error(f"--precisions: must include fp32 and use only {', '.join(PRECISIONS)}; got {args.precisions}")
    if args.limit < 1:
        p.error(f"--limit must be at least 1, got {args.limit}")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import torch

    from dpmambair.data.benchmark_sets import build_sets
    from dpmambair.inference.restorer import RestoreError, Restorer
    from dpmambair.inference.weights import shipped_weights
    from dpmambair.metrics.psnr_ssim_metric import calculate_psnr
    from dpmambair.utils.errors import DPMambaIRError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        skipped: List[str] = []
        sets = build_sets(Path(args.data), [k.strip() for k in args.sets.split(",")], args.limit, skipped)
        for line in skipped:
            print(f"skipped {line}")
        if not sets:
            raise DPMambaIRError(f"--data {args.data}: none of the benchmark sets was found (see datasets/README.md)")
        weights = Path(args.weights) if args.weights else shipped_weights()
        restorers = {p: Restorer.from_checkpoint(weights, device=args.device, precision=p) for p in args.precision_list}
    except DPMambaIRError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    psnr: Dict[str, Dict[str, List[float]]] = {p: {} for p in args.precision_list}
    seconds: Dict[str, float] = dict.fromkeys(args.precision_list, 0.0)
    overflow: Dict[str, int] = dict.fromkeys(args.precision_list, 0)
    images = 0
    for s in sets:
        for case in s.make():
            x = torch.from_numpy(np.ascontiguousarray(case.lq.transpose(2, 0, 1))).float().div(255.0)[None]
            images += 1
            for p, restorer in restorers.items():  # the precisions alternate image by image: same machine state
                t0 = time.perf_counter()
                try:
                    with torch.inference_mode():
                        y = restorer(x)
                except RestoreError:  # an fp16 overflow: counted, never scored as a (black) image
                    overflow[p] += 1
                    psnr[p].setdefault(s.key, []).append(float("nan"))
                    continue
                finally:
                    seconds[p] += time.perf_counter() - t0
                out = y[0].mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
                psnr[p].setdefault(s.key, []).append(calculate_psnr(out, case.gt))
    device = next(iter(restorers.values())).device
    others = [p for p in args.precision_list if p != "fp32"]
    print(f"\nweights {weights}; device {device}; {images} images, first {args.limit} of each set\n")
    print("| set | fp32 PSNR | " + " | ".join(f"{p} − fp32 (dB)" for p in others) + " |")
    print("|---|---:|" + "---:|" * len(others))
    worst = dict.fromkeys(others, 0.0)
    for key, values in psnr["fp32"].items():
        ref = float(np.mean(values))
        diffs = []
        for p in others:
            ok = [(a, b) for a, b in zip(psnr[p][key], values) if not np.isnan(a)]
            if not ok:
                diffs.append("overflow")
                continue
            d = float(np.mean([a - b for a, b in ok]))  # over the images this precision restored
            worst[p] = max(worst[p], abs(d))
            lost = len(values) - len(ok)
            diffs.append(f"{d:+.3f}" + (f" ({lost} of {len(values)} overflowed)" if lost else ""))
        print(f"| {key} | {ref:.2f} | " + " | ".join(diffs) + " |")
    print(
        "| **seconds per image** | "
        + f"{seconds['fp32'] / images:.3f} | "
        + " | ".join(f"{seconds[p] / images:.3f} ({seconds[p] / seconds['fp32']:.2f}× fp32)" for p in others)
        + " |"
    )
    for p in others:
        if overflow[p]:
            print(f"{p}: overflowed (an error, never a black image) on {overflow[p]} of {images} images")
    print("\nlargest |PSNR difference| from fp32 over the sets: " + ", ".join(f"{p} {worst[p]:.3f} dB" for p in others))
    return 0


if __name__ == "__main__":
    sys.exit(main())
