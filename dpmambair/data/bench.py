"""Data-pipeline throughput (scripts/bench_data.py): per-task sample cost in one process, and a DataLoader."""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from typing import Any, Dict

import torch

from .builder import build_dataset
from .loader import build_dataloader


def per_task_rate(
    dataset_opt: Dict[str, Any], source: str, patch: int, samples_per_task: int = 20, seed: int = 0
) -> Dict[str, float]:
    """Training samples per second for one worker, per task: read + crop + flip + degrade + to tensor."""
    opt = copy.deepcopy(dataset_opt)
    opt.update(phase="train", gt_size=patch)
    opt.pop("mini_batch_sizes", None), opt.pop("iters", None), opt.pop("gt_sizes", None)
    ds = build_dataset(opt, source, "train")
    if hasattr(ds, "reseed"):
        ds.reseed(seed)
    times: Dict[str, list] = defaultdict(list)
    n = len(ds)
    for i in range(min(n, 3)):  # warm-up: caches, first-call overheads
        ds[i]
    i = 0
    while True:  # every index at least once (all tasks seen), until each task has its share of timings
        t0 = time.perf_counter()
        sample = ds[i % n]
        times[str(sample.get("task_name", "unlabelled"))].append(time.perf_counter() - t0)
        i += 1
        if i >= n and min(len(v) for v in times.values()) >= samples_per_task:
            break
        if i >= 50 * max(n, samples_per_task):
            break
    return {k: len(v) / sum(v) for k, v in times.items()}


def loader_rate(
    dataset_opt: Dict[str, Any], source: str, patch: int, workers: int = 2, batches: int = 20, seed: int = 0
) -> Dict[str, float]:
    """Samples per second delivered by a `workers`-process DataLoader (after start-up), batch as configured."""
    opt = copy.deepcopy(dataset_opt)
    opt.update(phase="train", gt_size=patch, num_worker_per_gpu=workers)
    ds = build_dataset(opt, source, "train")
    loader = build_dataloader(ds, opt, num_gpu=1, seed=seed)
    it = iter(loader)
    t_start = time.perf_counter()
    first = next(it)
    startup = time.perf_counter() - t_start
    batch = int(first["lq"].shape[0])
    t0 = time.perf_counter()
    got = 0
    for _ in range(batches):
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            b = next(it)
        got += int(b["lq"].shape[0])
    dt = time.perf_counter() - t0
    del it, loader
    return {
        "samples_per_s": got / dt,
        "batch": batch,
        "batches": batches,
        "startup_s": startup,
        "seconds_per_batch": dt / batches,
        "threads": torch.get_num_threads(),
    }
