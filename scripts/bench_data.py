#!/usr/bin/env python
"""Data-pipeline throughput of an option file's training set, and whether the loader keeps ahead of training.

    python scripts/bench_data.py -opt options/allinone_synthetic.yml [--patch 192] [--workers 2] [--no-step]

Prints (1) training samples per second for ONE worker per degradation type at --patch (read, crop, flip,
degrade, to tensor), (2) samples per second of a --workers DataLoader over the whole mixed pipeline (batch
as configured), and (3) when network_g builds, the time of one training step (forward + backward, configured
batch at the configured gt_size) against what the loader delivers at that patch size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def time_train_step(opt: dict, batch: int, patch: int, runs: int = 2) -> Optional[float]:
    """Median seconds of forward + backward (L1) + AdamW step of network_g on random data (the frozen extractor's
    forward included when the network reads embeddings); None when network_g does not build."""
    import torch

    try:
        from dpmambair.archs import build_network

        net = build_network(opt["network_g"], f"{opt['opt_path']}: network_g")
    except Exception as err:  # a missing or unfinished architecture is reported, not fatal
        print(f"training step: network_g does not build ({type(err).__name__}: {err})")
        return None
    cond = {}
    net_de = None
    source = opt["network_g"].get("prompt_source", "extractor")
    if source == "classes":
        cond["task"] = torch.randint(0, int(opt["network_g"].get("num_tasks", 7)), (batch,))
    elif opt.get("network_de"):
        net_de = build_network(opt["network_de"], f"{opt['opt_path']}: network_de").eval()
    params = [p for p in net.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=1e-4)
    times = []
    for i in range(runs + 1):
        x, y = torch.rand(batch, 3, patch, patch), torch.rand(batch, 3, patch, patch)
        t0 = time.perf_counter()
        if net_de is not None:
            with torch.no_grad():
                cond["embedding"] = net_de(x)
        loss = (net(x, **cond) - y).abs().mean()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if i:  # the first run is a warm-up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-opt", required=True, help="option file with datasets.train")
    parser.add_argument("--patch", type=int, default=192, help="patch size of the per-type measurement (default 192)")
    parser.add_argument("--samples", type=int, default=30, help="samples timed per type (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    parser.add_argument("--batches", type=int, default=20, help="batches timed through the DataLoader (default 20)")
    parser.add_argument("--no-step", action="store_true", help="skip timing a training step of network_g")
    parser.add_argument("--step-runs", type=int, default=2, help="timed training steps after a warm-up (default 2)")
    args = parser.parse_args(argv)

    import torch

    from dpmambair.data.bench import loader_rate, per_task_rate
    from dpmambair.utils.errors import DPMambaIRError
    from dpmambair.utils.options import OptionError, parse_options

    try:
        opt = parse_options(args.opt, is_train=True)
        dopt = (opt.get("datasets") or {}).get("train")
        if not dopt:
            raise OptionError(f"{args.opt}: no datasets.train block")
        source = f"{args.opt}: datasets.train"
        print(
            f"CPU: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, load average "
            f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}"
        )
        print(
            f"1) samples/s/worker (one process), {args.patch}x{args.patch} patches "
            f"({dopt.get('type')}: read + crop + flip + degrade + tensor)"
        )
        seed = int(opt.get("manual_seed", 0))
        synthetic = str(dopt.get("type", "")).lower() == "syntheticdegradationdataset"
        variants = {"as configured": dopt}
        if synthetic:  # clean image kept in memory vs decoded from disk for every sample
            variants = {"clean cached": dict(dopt, cache_images=True), "PNG decoded": dict(dopt, cache_images=False)}
        tables = {k: per_task_rate(v, source, args.patch, args.samples, seed=seed) for k, v in variants.items()}
        print("   " + f"{'type':<10}" + "".join(f"{k:>28}" for k in tables))
        for task in sorted(next(iter(tables.values()))):
            print(
                "   "
                + f"{task:<10}"
                + "".join(f"{t[task]:9.1f} samples/s ({1000 / t[task]:5.2f} ms)" for t in tables.values())
            )
        mixed = {k: len(t) / sum(1.0 / r for r in t.values()) for k, t in tables.items()}
        print(
            "   "
            + f"{'mixed':<10}"
            + "".join(f"{m:9.1f} samples/s ({1000 / m:5.2f} ms)" for m in mixed.values())
            + "   (equal share of every type)"
        )
        res = loader_rate(dopt, source, args.patch, args.workers, args.batches, seed=int(opt.get("manual_seed", 0)))
        print(
            f"2) DataLoader, {args.workers} workers, batch {res['batch']}, {args.patch}x{args.patch}: "
            f"{res['samples_per_s']:.1f} samples/s ({res['seconds_per_batch'] * 1000:.1f} ms/batch; "
            f"start-up {res['startup_s']:.2f}s)"
        )
        if args.no_step or not opt.get("network_g"):
            print("3) training step: skipped" + ("" if args.no_step else " (no network_g in the option file)"))
            return 0
        batch = int(dopt.get("batch_size_per_gpu", 1))
        patch = int(dopt.get("gt_size") or args.patch)
        step = time_train_step(opt, batch, patch, args.step_runs)
        if step is None:
            return 0
        need = batch / step
        have = (
            res["samples_per_s"]
            if patch == args.patch
            else loader_rate(dopt, source, patch, args.workers, args.batches, seed=int(opt.get("manual_seed", 0)))[
                "samples_per_s"
            ]
        )
        verdict = "yes" if have >= need else "NO"
        print(
            f"3) training step of network_g (forward + backward + AdamW, batch {batch}, {patch}x{patch}, CPU): "
            f"{step:.3f} s -> consumes {need:.1f} samples/s; {args.workers} workers deliver {have:.1f} samples/s "
            f"at {patch}x{patch}: keep ahead: {verdict}"
        )
    except DPMambaIRError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
