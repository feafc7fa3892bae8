#!/usr/bin/env python
"""Benchmark whole-image vs tiled inference of one size×size image: time and peak memory.

Each mode runs in a fresh subprocess so that its peak (the high-water mark of the resident set above the
memory held once the networks and the input exist, as in scripts/bench_scan.py; on CUDA the allocator's
peak) belongs to it alone. The networks come from an option file (default options/allinone.yml, the
paper-size model) with *random weights*: time and memory are those of the real model, image quality is
not. The outputs of the two modes are compared (PSNR of tiled vs whole, and the change in PSNR against the
synthetic clean image), which shows what tiling costs in fidelity for this architecture, whose scan and
HEB pooling see the whole image.

    python scripts/bench_infer.py                                   # 2048², tile 512 / overlap 32, allinone
    python scripts/bench_infer.py --size 1024 --net-opt dim=16      # a narrower network (say so when reporting)
    python scripts/bench_infer.py --size 1024 --weights experiments/demo_stage2_dpmambair/models/net_g_latest.pth

On a 2-core CPU the default model takes minutes per 512² tile (see the printed estimate); use --net-opt
for a quicker, narrower variant and report which one was measured. With --weights, a *trained* restorer
checkpoint is measured instead, on a real photograph (scikit-image's astronaut, resized to size×size) degraded
by `--degradation` at `--severity`, so the PSNR lines are those of real restoration.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]


def network_options(opt_path: str, overrides: List[str]) -> Dict[str, Any]:
    """network_g / network_de of the option file, with `--net-opt key=value` applied to network_g."""
    import yaml

    from dpmambair.utils.options import OptionError, parse_options

    opt = parse_options(opt_path, is_train=False)
    net_g = copy.deepcopy(opt.get("network_g"))
    if not isinstance(net_g, dict):
        raise OptionError(f"{opt_path}: no network_g to benchmark")
    for item in overrides:
        if "=" not in item:
            raise OptionError(f"--net-opt: expected key=value, got '{item}'")
        key, value = item.split("=", 1)
        net_g[key] = yaml.safe_load(value)
    return {"network_g": net_g, "network_de": copy.deepcopy(opt.get("network_de"))}


def synthetic_pair(size: int, seed: int = 0):
    """A smooth clean image (sum of random low-frequency waves) and a darker, noisy version of it."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    gt = torch.zeros(1, 3, size, size)
    for c in range(3):
        for _ in range(6):
            fy, fx, ph = (torch.rand(3, generator=gen) * torch.tensor([12.0, 12.0, 6.28])).tolist()
            gt[0, c] += torch.sin(2 * math.pi * (fy * yy + fx * xx) + ph)
    gt = (gt - gt.amin()) / (gt.amax() - gt.amin())
    lq = (0.8 * gt + 0.03 * torch.randn(gt.shape, generator=gen)).clamp(0, 1)
    return lq, gt


def photo_pair(size: int, degradation: str, severity: float, seed: int = 0):
    """scikit-image's astronaut resized to size×size (clean) and its degraded version, both (1, 3, size, size)."""
    import cv2
    import numpy as np
    import torch

    from dpmambair.data.degradations import degrade
    from dpmambair.data.demo import load_photo

    gt = cv2.resize(load_photo("astronaut"), (size, size), interpolation=cv2.INTER_CUBIC).clip(0.0, 1.0)
    lq, _ = degrade(gt, degradation, severity=severity, rng=np.random.default_rng(seed))

    def tensor(a: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]

    return tensor(lq), tensor(gt)


def measured_pair(args: argparse.Namespace):
    """The (lq, gt) pair a run measures: a degraded photo with --weights, else the synthetic pair."""
    if args.weights:
        return photo_pair(args.size, args.degradation, args.severity)
    return synthetic_pair(args.size)


def build_restorer(nets: Dict[str, Any], weights: Optional[str], tile: Optional[int], overlap: int, device: str):
    """The restorer under test: a trained checkpoint (`weights`), else random weights from the option file."""
    import torch

    from dpmambair.archs import build_network
    from dpmambair.inference.restorer import Restorer

    if weights:
        return Restorer.from_checkpoint(weights, device=device, tile=tile, tile_overlap=overlap)
    torch.manual_seed(0)
    net_g = build_network(nets["network_g"], "network_g")
    uses = (
        getattr(net_g, "uses_embedding", False) and nets["network_g"].get("prompt_source", "extractor") == "extractor"
    )
    net_de = build_network(nets["network_de"], "network_de") if uses else None
    return Restorer(net_g, net_de, tile=tile, tile_overlap=overlap, device=device)


def worker(args: argparse.Namespace, nets: Dict[str, Any], tile: Optional[int]) -> dict:
    """One measurement in this process: build, warm up, then embed + restore the whole image once."""
    import numpy as np
    import torch

    from dpmambair.utils.peak_memory import PeakMemory

    restorer = build_restorer(nets, args.weights, tile, args.tile_overlap, args.device)
    net_g = restorer.net_g
    task = 0 if restorer.prompt_source == "classes" else None
    dev = restorer.device
    lq, _ = measured_pair(args)
    restorer(torch.rand(1, 3, 64, 64), task=task)  # warm-up: thread pools, kernels
    lq = lq.to(dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    peak = PeakMemory(dev)
    sync()
    t0 = time.perf_counter()
    emb = restorer.embed(lq) if restorer.net_de is not None else None
    sync()
    t1 = time.perf_counter()
    out = restorer(lq, task=task, embedding=emb)
    sync()
    t2 = time.perf_counter()
    peak_mib = peak.mib()
    if args.save:
        np.save(args.save, out[0].float().cpu().numpy())
    params = sum(p.numel() for p in net_g.parameters())
    return {
        "embed_s": t1 - t0,
        "restore_s": t2 - t1,
        "peak_mib": peak_mib,
        "threads": torch.get_num_threads(),
        "params_m": params / 1e6,
        "device": str(dev),
    }


def psnr(a, b) -> float:
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "-opt", default=str(ROOT / "options" / "allinone.yml"), help="option file giving network_g/network_de"
    )
    parser.add_argument("--size", type=int, default=2048, help="image side (default 2048)")
    parser.add_argument("--tile", type=int, default=512, help="tile side for the tiled mode (multiple of 8)")
    parser.add_argument("--tile_overlap", type=int, default=32, help="tile overlap in pixels")
    parser.add_argument("--modes", default="whole,tiled", help="comma list of whole, tiled")
    parser.add_argument(
        "--net-opt",
        dest="net_opt",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override network_g options, e.g. dim=16 'num_blocks=[1,1,1,1]'",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--weights", help="a trained restorer checkpoint (net_g_*.pth) to measure instead of random weights"
    )
    parser.add_argument(
        "--degradation", default="noise", help="with --weights: degradation of the test photo (default noise)"
    )
    parser.add_argument(
        "--severity", type=float, default=0.5, help="with --weights: its severity in [0, 1] (default 0.5)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from dpmambair.data.degradations import parse_types
    from dpmambair.utils.device import resolve_device
    from dpmambair.utils.errors import DPMambaIRError
    from dpmambair.utils.options import OptionError

    try:
        nets = {} if args.weights else network_options(args.opt, args.net_opt)
        resolve_device(args.device, "--device")
        if args.weights:
            if args.net_opt:
                raise OptionError("--net-opt: not with --weights (the checkpoint fixes the network)")
            if not Path(args.weights).is_file():
                raise OptionError(f"--weights: no such file '{args.weights}'")
            parse_types(args.degradation)
            if not 0.0 <= args.severity <= 1.0:
                raise OptionError(f"--severity: must lie in [0, 1], got {args.severity}")
        if args.worker:
            tile = args.tile if args.worker == "tiled" else None
            print(json.dumps(worker(args, nets, tile)))
            return
    except DPMambaIRError as err:
        sys.exit(f"bench_infer.py: {err}")
    if args.tile % 8 or not 0 <= args.tile_overlap <= args.tile - 8:
        sys.exit(
            f"bench_infer.py: --tile must be a multiple of 8 and --tile_overlap in [0, tile - 8], "
            f"got {args.tile}/{args.tile_overlap}"
        )
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("whole", "tiled") for m in modes):
        sys.exit(f"bench_infer.py: --modes must list whole and/or tiled, got '{args.modes}'")

    from dpmambair.inference.tiling import tile_starts

    n_tiles = (
        len(tile_starts(args.size + (-args.size) % 8, min(args.tile, args.size + (-args.size) % 8), args.tile_overlap))
        ** 2
    )
    if args.weights:
        print(
            f"inference benchmark: {args.size}x{args.size} RGB, fp32, device={args.device}, "
            f"trained weights {args.weights}, "
            f"on skimage's astronaut degraded by {args.degradation} at severity {args.severity}"
        )
    else:
        print(
            f"inference benchmark: {args.size}x{args.size} RGB, fp32, device={args.device}, "
            "RANDOM WEIGHTS (no checkpoint: "
            "time and memory are the model's, output quality is not)"
        )
        print(
            f"network_g ({args.opt}{', overridden: ' + ' '.join(args.net_opt) if args.net_opt else ''}): "
            f"{json.dumps(nets['network_g'], separators=(',', ':'))}"
        )
        print(f"network_de: {json.dumps(nets['network_de'], separators=(',', ':'))}")
    print(
        f"tiled = {n_tiles} tiles of {args.tile} with overlap {args.tile_overlap}; "
        "memory = peak above networks + input "
        f"({'CUDA allocator' if args.device.startswith('cuda') else 'resident set of a fresh process'})"
    )
    print(f"{'mode':>6} {'embed s':>9} {'restore s':>10} {'total s':>9} {'peak MiB':>10}")
    results, saved = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            save = str(Path(tmp) / f"{mode}.npy")
            cmd = [
                sys.executable,
                __file__,
                "-opt",
                args.opt,
                "--size",
                str(args.size),
                "--tile",
                str(args.tile),
                "--tile_overlap",
                str(args.tile_overlap),
                "--device",
                args.device,
                "--worker",
                mode,
                "--save",
                save,
            ]
            if args.net_opt:
                cmd += ["--net-opt", *args.net_opt]
            if args.weights:
                cmd += ["--weights", args.weights, "--degradation", args.degradation, "--severity", str(args.severity)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                tail = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit status {res.returncode}"
                if res.returncode < 0 or res.returncode == 137:
                    tail += " (killed: out of memory?)"
                print(f"{mode:>6}  failed: {tail}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            results[mode], saved[mode] = r, save
            print(
                f"{mode:>6} {r['embed_s']:9.2f} {r['restore_s']:10.2f} "
                f"{r['embed_s'] + r['restore_s']:9.2f} {r['peak_mib']:10.1f}"
            )
        if results:
            any_r = next(iter(results.values()))
            print(f"({any_r['params_m']:.2f} M restorer parameters, {any_r['threads']} threads)")
        if "whole" in saved and "tiled" in saved:
            import numpy as np

            whole, tiled = np.load(saved["whole"]), np.load(saved["tiled"])
            lq, gt = measured_pair(args)
            lq, gt = lq[0].numpy(), gt[0].numpy()
            w_res, t_res = results["whole"], results["tiled"]
            whole, tiled = whole.clip(0.0, 1.0), tiled.clip(0.0, 1.0)  # as saved images are
            print(
                f"tiled vs whole: PSNR {psnr(tiled, whole):.2f} dB between the outputs, max |diff| "
                f"{float(np.abs(tiled - whole).max()):.4f}; against the clean image {psnr(whole, gt):.3f} dB whole, "
                f"{psnr(tiled, gt):.3f} dB tiled (difference {psnr(tiled, gt) - psnr(whole, gt):+.3f} dB; the input: "
                f"{psnr(lq, gt):.3f} dB)"
            )
            print(
                f"tiled uses {t_res['peak_mib'] / max(w_res['peak_mib'], 1e-9):.3f} of the whole-image peak memory and "
                f"{(t_res['embed_s'] + t_res['restore_s']) / max(w_res['embed_s'] + w_res['restore_s'], 1e-9):.2f}"
                "x its time"
            )


if __name__ == "__main__":
    main()
