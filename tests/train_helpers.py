"""Shared helpers for the training tests: a tiny paired dataset on disk and tiny option files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import cv2
import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]

TINY_G = {
    "type": "DPMambaIR",
    "dim": 8,
    "num_blocks": [1, 1, 1, 1],
    "num_refinement_blocks": 1,
    "d_state": 4,
    "prompt_hidden": 8,
    "ffn_expansion_factor": 1.0,
    "embed_dim": 32,
}
TINY_DE = {"type": "DegradationExtractor", "version": "normal", "embed_dim": 32}


def make_pairs(folder: Path, count: int = 6, size: int = 32, seed: int = 0) -> Dict[str, str]:
    """lq = darker, noisier gt; smooth random gt images so that a tiny network can learn something."""
    rng = np.random.default_rng(seed)
    lq_dir, gt_dir = folder / "lq", folder / "gt"
    lq_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        base = rng.random((4, 4, 3)).astype(np.float32)
        gt = cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1)
        lq = (gt * 0.5 + rng.normal(0, 0.03, gt.shape)).clip(0, 1)
        cv2.imwrite(str(gt_dir / f"{i:03d}.png"), (gt * 255).round().astype(np.uint8))
        cv2.imwrite(str(lq_dir / f"{i:03d}.png"), (lq * 255).round().astype(np.uint8))
    return {"dataroot_lq": str(lq_dir), "dataroot_gt": str(gt_dir)}


def tiny_options(
    tmp: Path, name: str, model_type: str = "DPMambaIRModel", total_iter: int = 12, **extra: Any
) -> Dict[str, Any]:
    train_roots = make_pairs(tmp / "data" / "train", count=8)
    val_roots = make_pairs(tmp / "data" / "val", count=2, seed=1)
    opt: Dict[str, Any] = {
        "name": name,
        "model_type": model_type,
        "num_gpu": 0,
        "manual_seed": 3,
        "deterministic": True,
        "datasets": {
            "train": {
                "name": "tiny",
                "type": "PairedImageDataset",
                "phase": "train",
                "task": "noise",
                **train_roots,
                "gt_size": 16,
                "use_hflip": True,
                "use_vflip": True,
                "batch_size_per_gpu": 2,
                "num_worker_per_gpu": 0,
                "mini_batch_sizes": [2, 1],
                "iters": [5, 1000],
                "gt_sizes": [12, 16],
            },
            "val": {"name": "tinyval", "type": "PairedImageDataset", "phase": "val", "task": "noise", **val_roots},
        },
        "network_g": dict(TINY_G, prompt_source="classes" if model_type == "DPMambaIRModel" else "extractor"),
        "network_de": dict(TINY_DE),
        "path": {"root": str(tmp)},
        "train": {
            "total_iter": total_iter,
            "optim_g": {"type": "AdamW", "lr": 2e-3, "weight_decay": 1e-4},
            "scheduler": {"type": "CosineAnnealingLR", "eta_min": 1e-6},
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0},
            "mse_opt": {"type": "MSELoss", "loss_weight": 0.5},
            "fft_opt": {"type": "FFTLoss", "loss_weight": 0.001},
        },
        "val": {
            "val_freq": 6,
            "save_img": False,
            "metrics": {"psnr": {"type": "calculate_psnr"}, "ssim": {"type": "calculate_ssim"}},
        },
        "logger": {"print_freq": 1, "save_checkpoint_freq": 4, "use_tb_logger": True},
    }
    for key, value in extra.items():
        opt[key] = value
    return opt


def write_options(opt: Dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return path


def free_port() -> int:
    """A TCP port nobody listens on now (a fixed one collides when two test runs share a machine)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_train(
    opt_path: Path,
    *args: str,
    env_extra: Dict[str, str] | None = None,
    timeout: int = 240,
    check: bool = True,
    torchrun: int = 0,
    script: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run train.py (or `script`, a wrapper around it) in a subprocess, one OpenMP thread per process:
    several processes share 2 cores."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.update(env_extra or {})
    script = script or ROOT / "train.py"
    if torchrun:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={torchrun}",
            f"--master_port={free_port()}",
            str(script),
            "-opt",
            str(opt_path),
            "--launcher",
            "pytorch",
            *args,
        ]
    else:
        cmd = [sys.executable, str(script), "-opt", str(opt_path), *args]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(opt_path.parent))
    if check and res.returncode != 0:
        raise AssertionError(f"train.py failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


def save_random_extractor(path: Path, net_opt: Dict[str, Any]) -> Path:
    from dpmambair.archs import build_network

    torch.manual_seed(0)
    net = build_network(net_opt)
    torch.save({"params": net.state_dict(), "network_de": net_opt}, path)
    return path


def read_losses(log: Path) -> dict:
    """iteration → losses; a resumed run re-logs iterations after its state, the last record wins."""
    out = {}
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        out[rec["iter"]] = rec["losses"]
    return out
