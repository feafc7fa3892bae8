"""build_dataloader: per-worker seeding (distinct, reproducible), persistent workers, samplers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DistributedSampler

from dpmambair.data import build_dataloader, build_dataset


def one_image_dataset(tmp_path: Path, n: int = 8):
    """n copies of one image: any difference between samples comes from the random crop/flip alone."""
    for side in ("lq", "gt"):
        (tmp_path / side).mkdir(exist_ok=True)
    img = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    for i in range(n):
        for side in ("lq", "gt"):
            cv2.imwrite(str(tmp_path / side / f"{i}.png"), img)
    opt = {
        "type": "PairedImageDataset",
        "phase": "train",
        "dataroot_lq": str(tmp_path / "lq"),
        "dataroot_gt": str(tmp_path / "gt"),
        "gt_size": 16,
        "use_hflip": True,
        "batch_size_per_gpu": 2,
        "num_worker_per_gpu": 2,
        "use_shuffle": False,
    }
    return build_dataset(opt, "o.yml: datasets.train"), opt


def batches(loader, epochs: int = 1):
    out = []
    for _ in range(epochs):
        out.extend(b["gt"].clone() for b in loader)
    return out


def test_workers_differ_and_runs_repeat(tmp_path: Path) -> None:
    ds, opt = one_image_dataset(tmp_path)
    ds.sample_rng()  # a generator created in the parent must not be copied into both workers
    loader = build_dataloader(ds, opt, seed=7)
    assert loader.batch_size == 2 and loader.num_workers == 2 and loader.persistent_workers and loader.drop_last
    run1 = batches(loader, epochs=2)
    crops = {t.numpy().tobytes() for b in run1 for t in b}
    assert len(crops) == 16  # no two samples alike: workers and epochs draw different crops
    run2 = batches(build_dataloader(ds, opt, seed=7), epochs=2)
    assert all(torch.equal(a, b) for a, b in zip(run1, run2))  # same seed, same stream


def test_validation_loader_and_samplers(tmp_path: Path) -> None:
    ds, opt = one_image_dataset(tmp_path, n=6)
    val = build_dataloader(ds, dict(opt, phase="val"))
    assert val.batch_size == 1 and val.num_workers == 2
    sampler = DistributedSampler(ds, num_replicas=2, rank=1, shuffle=True, seed=0)
    dist_loader = build_dataloader(ds, dict(opt, num_worker_per_gpu=0), dist=True, sampler=sampler)
    assert sum(b["lq"].shape[0] for b in dist_loader) == 2  # 3 samples per rank, batches of 2, last dropped
    assert build_dataloader(ds, dict(opt, num_worker_per_gpu=1), num_gpu=2).batch_size == 4  # BasicSR, non-DDP
