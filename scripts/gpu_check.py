#!/usr/bin/env python
"""One command for the first run on a GPU machine: is the GPU path right, and how fast is it?

    python scripts/gpu_check.py                   # on a CUDA machine (with mamba_ssm's kernel): under 8 minutes
    python scripts/gpu_check.py --dry-run         # any machine: the same code paths on the CPU, tiny sizes

It writes a JSON file (--out, default gpu_check.json) and prints a summary of:

1. parity: mamba_ssm's kernel vs the chunked scan, the output and every gradient, the prompt scalings α_Δ,
   α_B, α_C included (--dry-run: the chunked scan vs the reference loop on the CPU);
2. bench_scan: scripts/bench_scan.py on CUDA for both backends, and its op counts (--count-ops);
3. training: 30 iterations of options/allinone.yml (batch 8, 128² patches, bf16, random data, a random
   frozen extractor) per backend, each in a fresh process: it/s and peak memory;
4. ddp: with 2 or more GPUs, a torchrun NCCL run (2 processes) that passes one validation (--dry-run: Gloo,
   2 CPU processes).

Each section is independent: one that fails is recorded with its error and the others still run; the exit
status is 1 when any section failed. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# --dry-run network: the same classes as allinone.yml, CPU-sized
TINY_G = {
    "dim": 8,
    "num_blocks": [1, 1, 1, 1],
    "num_refinement_blocks": 1,
    "d_state": 4,
    "prompt_hidden": 8,
    "ffn_expansion_factor": 1.0,
    "embed_dim": 32,
}
TINY_DE = {"type": "DegradationExtractor", "version": "normal", "embed_dim": 32}


# ---- 1. parity ---------------------------------------------------------------------------------------
def scan_case(backend: str, leaves: Dict[str, Any], alphas: Dict[str, Any]):
    """Output and gradients of one modulated scan (Δ, B, C scaled per image by α_Δ, α_B, α_C, as in DPSSM)."""
    import torch

    from dpmambair.ops import selective_scan

    delta = leaves["delta"] * alphas["a_delta"][..., None]
    B = leaves["B"] * alphas["a_B"][..., None]
    C = leaves["C"] * alphas["a_C"][..., None]
    out = selective_scan(
        leaves["u"],
        delta,
        leaves["A"],
        B,
        C,
        D=leaves["D"],
        z=leaves["z"],
        delta_bias=leaves["delta_bias"],
        delta_softplus=True,
        backend=backend,
    )
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=out.device).view_as(out)
    wrt = {**leaves, **alphas}
    grads = torch.autograd.grad((out * weights).sum(), list(wrt.values()))
    return out.detach(), dict(zip(wrt.keys(), grads))


def parity(dry: bool) -> Dict[str, Any]:
    import torch

    device = torch.device("cpu" if dry else "cuda")
    ref_name, test_name = ("reference", "chunked") if dry else ("chunked", "cuda")
    b, d, length, n = (1, 8, 64, 4) if dry else (2, 64, 4096, 16)
    if test_name == "cuda":
        from dpmambair.ops.scan_cuda import cuda_import_error, cuda_scan_available

        if not cuda_scan_available():
            raise RuntimeError(f"mamba_ssm's kernel did not import ({cuda_import_error()})")
    gen = torch.Generator().manual_seed(0)

    def leaf(*shape, scale=1.0, shift=0.0):
        return (torch.randn(*shape, generator=gen) * scale + shift).to(device).requires_grad_()

    leaves = {
        "u": leaf(b, d, length),
        "delta": leaf(b, d, length, scale=0.5, shift=-2.0),
        "A": (-torch.rand(d, n, generator=gen) * 4 - 0.1).to(device).requires_grad_(),
        "B": leaf(b, n, length),
        "C": leaf(b, n, length),
        "D": leaf(d),
        "z": leaf(b, d, length),
        "delta_bias": leaf(d, scale=0.3),
    }
    alphas = {
        "a_delta": (torch.rand(b, d, generator=gen) + 0.5).to(device).requires_grad_(),
        "a_B": leaf(b, n, shift=1.0),
        "a_C": leaf(b, n, shift=1.0),
    }
    ref_out, ref_grads = scan_case(ref_name, leaves, alphas)
    out, grads = scan_case(test_name, leaves, alphas)

    def rel(a, r):
        return float((a - r).abs().max() / r.abs().max().clamp_min(1e-30))

    errors = {"out": rel(out, ref_out), **{f"d{k}": rel(grads[k], ref_grads[k]) for k in ref_grads}}
    ok = errors["out"] < 1e-3 and all(v < 1e-2 for k, v in errors.items() if k != "out")
    return {
        "ok": ok,
        "compared": f"{test_name} vs {ref_name}",
        "size": [b, d, length, n],
        "device": str(device),
        "max_rel_error": errors,
        "tolerance": {"out": 1e-3, "gradients": 1e-2},
    }


# ---- 2. bench_scan -----------------------------------------------------------------------------------
def bench(dry: bool, tmp: Path) -> Dict[str, Any]:
    from dpmambair.ops import cuda_scan_available

    script = str(ROOT / "scripts" / "bench_scan.py")
    if dry:
        timing = ["--device", "cpu", "--backends", "chunked", "--sizes", "1,8,256,4", "--repeat", "1"]
        count = ["--count-ops", "--sizes", "1,8,256,4"]
    else:
        backends = "cuda,chunked" if cuda_scan_available() else "chunked"
        timing = ["--device", "cuda", "--backends", backends, "--repeat", "3"]
        count = ["--count-ops"]
    result: Dict[str, Any] = {}
    for key, args in (("timing", timing), ("op_counts", count)):
        out = tmp / f"bench_{key}.json"
        res = subprocess.run(
            [sys.executable, script, *args, "--json", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=str(ROOT),
        )
        if res.returncode != 0 or not out.exists():
            raise RuntimeError(f"bench_scan.py {' '.join(args)} failed: {res.stderr.strip()[-500:]}")
        result[key] = json.loads(out.read_text())
        result[f"{key}_table"] = res.stdout.strip().splitlines()
    result["ok"] = bool(result["timing"]) and bool(result["op_counts"])
    if not dry and not cuda_scan_available():
        result["ok"] = False
        result["note"] = "mamba_ssm's kernel did not import: only the chunked backend was measured"
    return result


# ---- 3. training -------------------------------------------------------------------------------------
def train_worker(backend: str, dry: bool, iters: int) -> Dict[str, Any]:
    """Run in a fresh process: `iters` iterations of allinone.yml's restorer on random data."""
    import torch

    from dpmambair.archs import build_network
    from dpmambair.models.dpmambair_model import DPMambaIRModel
    from dpmambair.utils.cuda_math import apply_cuda_math
    from dpmambair.utils.options import parse_options
    from dpmambair.utils.peak_memory import PeakMemory

    opt = parse_options(ROOT / "options" / "allinone.yml", is_train=True)
    opt["network_g"]["scan_backend"] = backend
    batch, patch = 8, 128
    if dry:
        opt["network_g"].update(TINY_G)
        opt["network_de"] = dict(TINY_DE)
        opt["num_gpu"] = 0
        batch, patch = 1, 32
    cuda_math = apply_cuda_math(opt)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        de_path = Path(tmp) / "random_extractor.pth"  # a random frozen extractor: speed does not depend on its weights
        torch.save({"params": build_network(opt["network_de"]).state_dict(), "network_de": opt["network_de"]}, de_path)
        opt["path"] = {"pretrain_network_de": str(de_path), "models": tmp, "training_states": tmp}
        model = DPMambaIRModel(opt)
        gen = torch.Generator().manual_seed(0)
        gt = torch.rand(batch, 3, patch, patch, generator=gen)
        data = {"lq": (gt * 0.7 + 0.1 * torch.rand(gt.shape, generator=gen)).clamp(0, 1), "gt": gt}
        warmup = min(5, max(iters - 1, 0))

        def sync() -> None:
            if model.device.type == "cuda":
                torch.cuda.synchronize()

        losses: List[float] = []
        for it in range(1, warmup + 1):
            model.feed_data(data)
            losses.append(model.optimize_parameters(it)["total"])
        peak = PeakMemory(model.device)
        sync()
        t0 = time.perf_counter()
        for it in range(warmup + 1, iters + 1):
            model.feed_data(data)
            losses.append(model.optimize_parameters(it)["total"])
        sync()
        seconds = time.perf_counter() - t0
    timed = iters - warmup
    return {
        "backend": backend,
        "resolved_backend": model.scan_backend,
        "device": str(model.device),
        "batch": batch,
        "patch": patch,
        "use_amp": opt["train"].get("use_amp"),
        "cuda_math": cuda_math,
        "iterations": iters,
        "timed_iterations": timed,
        "it_per_s": timed / seconds if timed else None,
        "peak_mib": peak.mib() if timed else None,
        "finite_losses": all(map(_finite, losses)),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def training(dry: bool, iters: int) -> Dict[str, Any]:
    from dpmambair.ops import cuda_scan_available

    backends = ["chunked"] if dry else (["cuda", "chunked"] if cuda_scan_available() else ["chunked"])
    rows = []
    for backend in backends:
        cmd = [sys.executable, __file__, "--train-worker", backend, "--iters", str(iters)] + (
            ["--dry-run"] if dry else []
        )
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=420, cwd=str(ROOT))
        if res.returncode != 0:
            raise RuntimeError(f"training with scan_backend {backend} failed: {res.stderr.strip()[-800:]}")
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    ok = all(r["finite_losses"] and r["resolved_backend"] == r["backend"] for r in rows)
    result: Dict[str, Any] = {"ok": ok and (dry or "cuda" in backends), "runs": rows}
    if not dry and "cuda" not in backends:
        result["note"] = "mamba_ssm's kernel did not import: only the chunked backend was trained"
    return result


# ---- 4. DDP ------------------------------------------------------------------------------------------
def _write_pairs(folder: Path, count: int, size: int, seed: int) -> Dict[str, str]:
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    roots = {}
    for side in ("lq", "gt"):
        (folder / side).mkdir(parents=True, exist_ok=True)
        roots[f"dataroot_{side}"] = str(folder / side)
    for i in range(count):
        gt = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / "gt" / f"{i:03d}.png"), gt)
        cv2.imwrite(str(folder / "lq" / f"{i:03d}.png"), (gt // 2).astype(np.uint8))
    return roots


def ddp(dry: bool, tmp: Path) -> Dict[str, Any]:
    import torch
    import yaml

    if not dry and torch.cuda.device_count() < 2:
        return {"ok": None, "skipped": f"needs 2 or more GPUs, this machine has {torch.cuda.device_count()}"}
    backend = "gloo" if dry else "nccl"
    folder = tmp / "ddp"
    opt = {
        "name": "gpu_check_ddp",
        "model_type": "DPMambaIRModel",
        "num_gpu": 0 if dry else "auto",
        "manual_seed": 0,
        "datasets": {
            "train": {
                "name": "random",
                "type": "PairedImageDataset",
                "phase": "train",
                "task": "noise",
                **_write_pairs(folder / "train", 8, 32, 0),
                "gt_size": 32,
                "batch_size_per_gpu": 2,
                "num_worker_per_gpu": 0,
            },
            "val": {
                "name": "random_val",
                "type": "PairedImageDataset",
                "phase": "val",
                "task": "noise",
                **_write_pairs(folder / "val", 3, 32, 1),
            },  # 3 images on 2 ranks: an uneven shard
        },
        "network_g": {"type": "DPMambaIR", **TINY_G, "prompt_source": "classes"},
        "path": {"root": str(folder)},
        "train": {"total_iter": 2, "use_amp": "bf16", "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0}},
        "val": {"val_freq": 2, "metrics": {"psnr": {"type": "calculate_psnr"}}},
        "logger": {"print_freq": 1, "save_checkpoint_freq": 100, "use_tb_logger": False},
        "dist_params": {"backend": backend},
    }
    opt_path = folder / "ddp.yml"
    opt_path.write_text(yaml.safe_dump(opt, sort_keys=False))
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29533",
        str(ROOT / "train.py"),
        "-opt",
        str(opt_path),
        "--launcher",
        "pytorch",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=str(folder), env=env)
    log_file = folder / "experiments" / "gpu_check_ddp" / "train_gpu_check_ddp.log"
    log = log_file.read_text() if log_file.exists() else ""
    validated = "validation random_val @ iter 2" in log
    same = "identical across ranks: True" in log
    result = {
        "ok": res.returncode == 0 and validated and same,
        "backend": backend,
        "returncode": res.returncode,
        "validated": validated,
        "weights_identical": same,
    }
    if not result["ok"]:
        result["stderr_tail"] = res.stderr.strip()[-1500:]
    return result


# ---- main --------------------------------------------------------------------------------------------
def run_section(name: str, func: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    t0 = time.perf_counter()
    try:
        result = func()
    except Exception as err:  # one failing section must not hide the others
        result = {"ok": False, "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-2000:]}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"[{name}] {summary_line(name, result)}", flush=True)
    return result


def summary_line(name: str, r: Dict[str, Any]) -> str:
    status = "SKIPPED" if r.get("ok") is None else ("ok" if r["ok"] else "FAILED")
    if "error" in r:
        return f"{status}: {r['error']} ({r['seconds']} s)"
    if r.get("skipped"):
        return f"{status}: {r['skipped']}"
    if name == "parity":
        worst = max((v, k) for k, v in r["max_rel_error"].items() if k != "out")
        return (
            f"{status}: {r['compared']} at {tuple(r['size'])}: output rel. error {r['max_rel_error']['out']:.2e}, "
            f"worst gradient {worst[1]} {worst[0]:.2e} (dα_Δ {r['max_rel_error']['da_delta']:.2e}, "
            f"dα_B {r['max_rel_error']['da_B']:.2e}, dα_C {r['max_rel_error']['da_C']:.2e})"
        )
    if name == "bench_scan":
        rows = "; ".join(
            f"{x['backend']} {tuple(int(s) for s in x['size'].split(','))} fwd+bwd {x['fwdbwd_s'] * 1e3:.1f} ms"
            for x in r["timing"]
        )
        ops = "; ".join(f"{x['settings']} settings {x['fwdbwd_ops']} ops" for x in r["op_counts"])
        return f"{status}: {rows}; ATen ops per scan: {ops}" + (f" ({r['note']})" if r.get("note") else "")
    if name == "training":
        rows = "; ".join(
            f"{x['backend']}: {x['it_per_s']:.2f} it/s, peak {x['peak_mib']:.0f} MiB (batch {x['batch']}, "
            f"{x['patch']}², {x['use_amp']}, {x['device']})"
            for x in r["runs"]
        )
        return f"{status}: {rows}" + (f" ({r['note']})" if r.get("note") else "")
    if name == "ddp":
        return (
            f"{status}: torchrun 2 processes, {r['backend']}: exit {r['returncode']}, one validation "
            f"{'passed' if r['validated'] else 'missing'}, weights identical across ranks: {r['weights_identical']}"
        )
    return status


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dry-run", action="store_true", help="CPU only, tiny sizes: every path that runs without CUDA"
    )
    parser.add_argument("--out", default="gpu_check.json", help="JSON file to write (default: gpu_check.json)")
    parser.add_argument(
        "--iters", type=int, default=None, help="training iterations per backend (default 30; dry run 3)"
    )
    parser.add_argument("--train-worker", metavar="BACKEND", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    iters = args.iters if args.iters is not None else (3 if args.dry_run else 30)
    if args.train_worker:
        print(json.dumps(train_worker(args.train_worker, args.dry_run, iters)))
        return 0

    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print(
            "gpu_check.py: no CUDA device is visible to PyTorch; on a CPU machine run it with --dry-run",
            file=sys.stderr,
        )
        return 2
    from dpmambair.ops.scan_cuda import cuda_import_error, cuda_scan_available

    report: Dict[str, Any] = {
        "dry_run": args.dry_run,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if not args.dry_run else [],
        "mamba_ssm_kernel": cuda_scan_available(),
        "mamba_ssm_import_error": cuda_import_error(),
    }
    print(
        f"gpu_check: {'dry run on the CPU' if args.dry_run else ', '.join(report['gpus'])}; torch {torch.__version__}; "
        "mamba_ssm kernel "
        f"{'imported' if report['mamba_ssm_kernel'] else 'NOT importable: ' + str(report['mamba_ssm_import_error'])}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        report["parity"] = run_section("parity", lambda: parity(args.dry_run))
        report["bench_scan"] = run_section("bench_scan", lambda: bench(args.dry_run, tmp))
        report["training"] = run_section("training", lambda: training(args.dry_run, iters))
        report["ddp"] = run_section("ddp", lambda: ddp(args.dry_run, tmp))
    Path(args.out).write_text(json.dumps(report, indent=1))
    failed = [k for k in ("parity", "bench_scan", "training", "ddp") if report[k].get("ok") is False]
    print(f"gpu_check: wrote {args.out}; {'all sections passed' if not failed else 'FAILED: ' + ', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
