#!/usr/bin/env python
"""Restoration quality on the standard benchmarks: one command, one table (input, ours, a classical baseline
computed in the same run, and the published numbers for the same protocol).

    python scripts/bench_quality.py [--weights weights/dpmambair_compact.pth] [--data datasets]
        [--sets noise,jpeg,types,real] [--limit N] [--output results/bench_quality]

Data: `--data` holds CBSD68/, LIVE1/, Classic5/ (clean images) and paired folders with lq/ and gt/
(real_pairs/<type>/, Rain_DDN_SIRR20/, ...); a folder is also found under `<data>/benchmarks/`. See
datasets/README.md for where each set comes from. A missing set is skipped with its reason printed.
The protocol (seeds, rounding, colour space, crop) is in dpmambair/data/benchmark_sets.py and the README.
Writes `<output>/quality.json` (every number) and `<output>/quality.md` (the table).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

KINDS = ("noise", "jpeg", "types", "real")
NLM_H_PER_SIGMA = (0.4, 0.55, 0.7, 0.85, 1.0)  # grid for OpenCV NL-means' h / σ, tuned per σ (see tune_nl_means)

# Published PSNR (dB) for the same protocol, (method, value, source). Colour (RGB) unless the set is grey.
PUBLISHED: Dict[str, List[tuple]] = {
    "CBSD68 noise σ=15": [
        ("CBM3D", 33.52, "Dabov et al. 2007, as tabulated in FFDNet (Zhang et al., TIP 2018) Table 6"),
        ("FFDNet", 33.87, "FFDNet Table 6"),
        ("PromptIR", 33.98, "PromptIR (Potlapalli et al., NeurIPS 2023) Table 2"),
    ],
    "CBSD68 noise σ=25": [
        ("CBM3D", 30.71, "FFDNet Table 6"),
        ("DnCNN", 31.23, "DnCNN (Zhang et al., TIP 2017)"),
        ("FFDNet", 31.21, "FFDNet Table 6"),
        ("PromptIR", 31.31, "PromptIR Table 2"),
    ],
    "CBSD68 noise σ=50": [
        ("CBM3D", 27.38, "FFDNet Table 6"),
        ("FFDNet", 27.96, "FFDNet Table 6"),
        ("PromptIR", 28.49, "PromptIR Table 2"),
    ],
    "LIVE1 JPEG q=10": [("QGAC", 27.62, "Ehrlich et al., ECCV 2020"), ("FBCNN", 27.77, "Jiang et al., ICCV 2021")],
    "LIVE1 JPEG q=20": [("QGAC", 29.88, "Ehrlich et al. 2020"), ("FBCNN", 30.11, "Jiang et al. 2021")],
    "LIVE1 JPEG q=30": [("QGAC", 31.17, "Ehrlich et al. 2020"), ("FBCNN", 31.43, "Jiang et al. 2021")],
    "LIVE1 JPEG q=40": [("QGAC", 32.05, "Ehrlich et al. 2020"), ("FBCNN", 32.34, "Jiang et al. 2021")],
    "Classic5 JPEG q=10": [("DnCNN-3", 29.40, "DnCNN (TIP 2017)"), ("FBCNN", 30.12, "Jiang et al. 2021")],
    "Classic5 JPEG q=20": [("DnCNN-3", 31.63, "DnCNN (TIP 2017)"), ("FBCNN", 32.31, "Jiang et al. 2021")],
    "Classic5 JPEG q=30": [("DnCNN-3", 32.91, "DnCNN (TIP 2017)"), ("FBCNN", 33.54, "Jiang et al. 2021")],
    "Classic5 JPEG q=40": [("DnCNN-3", 33.77, "DnCNN (TIP 2017)"), ("FBCNN", 34.35, "Jiang et al. 2021")],
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="restorer file (default: the shipped weights/dpmambair_compact.pth)")
    p.add_argument("--data", default="datasets", help="folder holding the benchmark sets (default datasets)")
    p.add_argument("--sets", default=",".join(KINDS), help=f"comma list of {', '.join(KINDS)} (default all)")
    p.add_argument("--limit", type=int, default=None, help="first N images of each set (a quick look; default all)")
    p.add_argument("--output", default="results/bench_quality", help="folder for quality.json / quality.md")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--no-baselines", action="store_true", help="skip the classical baselines")
    args = p.parse_args(argv)
    args.kinds = [k.strip() for k in args.sets.split(",") if k.strip()]
    bad = [k for k in args.kinds if k not in KINDS]
    if bad or not args.kinds:
        p.error(f"--sets: unknown {', '.join(bad) or '(empty)'}; choose from {', '.join(KINDS)}")
    if args.limit is not None and args.limit < 1:
        p.error(f"--limit must be at least 1, got {args.limit}")
    return args


def scores(out: np.ndarray, gt: np.ndarray, grey: bool) -> tuple:
    from dpmambair.metrics.psnr_ssim_metric import calculate_psnr, calculate_ssim

    if grey:  # grey sets are scored on their one channel (the luma of our RGB output)
        out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None]
        gt = gt[..., :1]
    return calculate_psnr(out, gt), calculate_ssim(out, gt)


def restore_u8(restorer, lq: np.ndarray) -> np.ndarray:
    import torch

    x = torch.from_numpy(np.ascontiguousarray(lq.transpose(2, 0, 1))).float().div(255.0)[None]
    with torch.inference_mode():
        y = restorer(x)
    return y[0].mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def tune_nl_means(sets, count: int = 4) -> Dict[float, float]:
    """Per σ, the h/σ of the grid that scores best on the first `count` images of the set (favours the baseline)."""
    from dpmambair.inference.baselines import nl_means

    best: Dict[float, float] = {}
    for s in sets:
        if s.kind != "noise":
            continue
        cases = [c for _, c in zip(range(count), s.make())]
        sigma = cases[0].param
        trial = {
            r: np.mean([scores(nl_means(c.lq, r * sigma), c.gt, c.grey)[0] for c in cases]) for r in NLM_H_PER_SIGMA
        }
        best[sigma] = max(trial, key=trial.get)
    return best


def run_set(restorer, s, nlm: Dict[float, float], baselines: bool) -> Dict[str, Any]:
    from dpmambair.inference.baselines import BASELINE_NAMES, baseline_for

    ratio_25 = nlm.get(25.0, 0.7)
    rows: Dict[str, List[tuple]] = {"input": [], "ours": [], "baseline": []}
    t0 = time.perf_counter()
    for case in s.make():
        rows["input"].append(scores(case.lq, case.gt, case.grey))
        rows["ours"].append(scores(restore_u8(restorer, case.lq), case.gt, case.grey))
        if baselines:
            sigma = case.param if s.kind == "noise" else None
            if s.task == "noise" and sigma is None:  # the engine's or a real pair's noise: estimate σ from the pair
                sigma = float(np.std(case.lq.astype(np.float64) - case.gt))
            fn = baseline_for(s.task, sigma, nlm.get(sigma, ratio_25) if sigma else ratio_25)
            if fn is not None:
                rows["baseline"].append(scores(fn(case.lq), case.gt, case.grey))
    n = len(rows["input"])
    res: Dict[str, Any] = {"set": s.key, "kind": s.kind, "task": s.task, "images": n, "folder": s.folder}
    for k, v in rows.items():
        if v:
            res[k] = {"psnr": float(np.mean([a for a, _ in v])), "ssim": float(np.mean([b for _, b in v]))}
    if "baseline" in res:
        res["baseline"]["name"] = BASELINE_NAMES[s.task]
    res["gain_psnr"] = res["ours"]["psnr"] - res["input"]["psnr"]
    res["published"] = [{"method": m, "psnr": v, "source": src} for m, v, src in PUBLISHED.get(s.key, [])]
    res["seconds"] = time.perf_counter() - t0
    return res


def fmt_row(r: Dict[str, Any]) -> str:
    base = r.get("baseline")
    base_txt = f"{base['psnr']:.2f} / {base['ssim']:.4f} ({base['name']})" if base else "—"
    pub = "; ".join(f"{p['method']} {p['psnr']:.2f}" for p in r["published"]) or "—"
    return (
        f"| {r['set']} | {r['images']} | {r['input']['psnr']:.2f} / {r['input']['ssim']:.4f} | "
        f"{r['ours']['psnr']:.2f} / {r['ours']['ssim']:.4f} | {r['gain_psnr']:+.2f} | {base_txt} | {pub} |"
    )


HEADER = (
    "| set | images | input PSNR / SSIM | ours PSNR / SSIM | gain (dB) | classical baseline, same run "
    "| published PSNR |\n"
    "|---|---:|---:|---:|---:|---|---|"
)


def type_matrix(results: List[Dict[str, Any]]) -> str:
    """CBSD68 × seven types: the PSNR gain per severity, the compact view of 'every type above its input'."""
    from dpmambair.data.benchmark_sets import TYPE_SEVERITIES, TYPES

    by = {(r["task"], r["set"].rsplit("s=", 1)[-1]): r["gain_psnr"] for r in results if r["kind"] == "types"}
    if not by:
        return ""
    lines = ["| CBSD68, gain in dB | " + " | ".join(f"s={s}" for s in TYPE_SEVERITIES) + " |"]
    lines.append("|---|" + "---:|" * len(TYPE_SEVERITIES))
    for t in TYPES:
        lines.append(
            f"| {t} | "
            + " | ".join(f"{by[(t, str(s))]:+.2f}" if (t, str(s)) in by else "—" for s in TYPE_SEVERITIES)
            + " |"
        )
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import torch

    from dpmambair.data.benchmark_sets import build_sets
    from dpmambair.inference.restorer import Restorer
    from dpmambair.inference.weights import shipped_weights
    from dpmambair.utils.errors import DPMambaIRError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        root = Path(args.data)
        if not root.is_dir():
            raise DPMambaIRError(f"--data {root}: no such folder (see datasets/README.md for the benchmark sets)")
        skipped: List[str] = []
        sets = build_sets(root, args.kinds, args.limit, skipped)
        for line in skipped:
            print(f"skipped {line}", flush=True)
        if not sets:
            raise DPMambaIRError(f"--data {root}: none of the benchmark sets was found (see datasets/README.md)")
        weights = Path(args.weights) if args.weights else shipped_weights()
        restorer = Restorer.from_checkpoint(weights, device=args.device)
    except DPMambaIRError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    nlm = tune_nl_means(sets) if not args.no_baselines else {}
    if nlm:
        print(
            "NL-means h/σ tuned on the first 4 images of each noise set: "
            + ", ".join(f"σ{s:g} → {r}" for s, r in nlm.items())
        )
    print(f"weights {weights}; {len(sets)} sets from {root}\n\n{HEADER}", flush=True)
    results = []
    for s in sets:
        try:
            r = run_set(restorer, s, nlm, not args.no_baselines)
        except DPMambaIRError as err:
            print(f"error: {s.key}: {err}", file=sys.stderr)
            return 2
        results.append(r)
        print(fmt_row(r), flush=True)
    matrix = type_matrix(results)
    if matrix:
        print("\n" + matrix)
    wall = time.perf_counter() - t0
    print(f"\n{sum(r['images'] for r in results)} images in {wall / 60:.1f} min")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"weights": str(weights), "data": str(root), "limit": args.limit, "nl_means_h_per_sigma": nlm}
    (out / "quality.json").write_text(json.dumps({"meta": meta, "skipped": skipped, "results": results}, indent=1))
    (out / "quality.md").write_text(HEADER + "\n" + "\n".join(fmt_row(r) for r in results) + "\n\n" + matrix + "\n")
    print(f"wrote {out / 'quality.json'} and {out / 'quality.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
