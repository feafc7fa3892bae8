#!/usr/bin/env python
"""Benchmark the selective-scan backends: forward and forward+backward time, and peak memory.

Each (backend, size) is measured in a fresh subprocess so that its peak resident memory (the
high-water mark above the memory held once the inputs exist) belongs to it alone. Ratios are
computed from figures measured in this one run; the machine may be shared and noisy, so each time
is the best of --repeat runs.

    python scripts/bench_scan.py                      # the issue's three sizes, all available backends
    python scripts/bench_scan.py --sizes 4,192,4096,16 --backends chunked,reference
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_SIZES = ["1,96,4096,16", "4,192,4096,16", "1,96,16384,16"]



def worker(backend: str, size: str, device: str, repeat: int) -> dict:
    """Run one measurement in this process and return its figures."""
    import torch

    from dpmambair.ops import selective_scan
    from dpmambair.utils.peak_memory import PeakMemory

    b, d, length, n = (int(x) for x in size.split(","))
    gen = torch.Generator().manual_seed(0)
    dev = torch.device(device)

    def leaf(*shape, scale=1.0, shift=0.0):
        return (torch.randn(*shape, generator=gen) * scale + shift).to(dev).requires_grad_()

    # Mamba-like magnitudes: Δ = softplus(·) around 1e-2..1e-1, A = -(1..n) per channel
    u, delta, z = leaf(b, d, length), leaf(b, d, length, shift=-3.0), leaf(b, d, length)
    A = (-torch.arange(1, n + 1, dtype=torch.float32).repeat(d, 1)).to(dev).requires_grad_()
    B, C = leaf(b, n, length), leaf(b, n, length)
    D, bias = leaf(d), leaf(d, scale=0.1)
    args = (u, delta, A, B, C)
    kw = dict(D=D, z=z, delta_bias=bias, delta_softplus=True, backend=backend)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    peak = PeakMemory(dev)
    fwd, fwdbwd = [], []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        out = selective_scan(*args, **kw)
        sync()
        t1 = time.perf_counter()
        out.sum().backward()
        sync()
        t2 = time.perf_counter()
        fwd.append(t1 - t0)
        fwdbwd.append(t2 - t0)
        del out
        for t in (u, delta, A, B, C, D, z, bias):
            t.grad = None
    peak_mib = peak.mib()
    return {"backend": backend, "size": size, "device": device, "fwd_s": min(fwd), "fwdbwd_s": min(fwdbwd),
            "peak_mib": peak_mib, "threads": torch.get_num_threads()}


def available_backends(device: str) -> list:
    from dpmambair.ops import cuda_scan_available

    names = ["chunked", "reference"]
    if device == "cuda" and cuda_scan_available():
        names.insert(0, "cuda")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="b,d,l,n sizes (default: the issue's three)")
    parser.add_argument("--backends", default=None, help="comma list (default: every backend available on --device)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per measurement; the best is reported")
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.device, args.repeat)))
        return
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            sys.exit("bench_scan.py: --device cuda, but no CUDA device is visible to PyTorch")
    backends = args.backends.split(",") if args.backends else available_backends(args.device)
    print(f"selective scan, fp32, device={args.device}, best of {args.repeat}; memory = peak above inputs "
          f"({'CUDA allocator' if args.device == 'cuda' else 'resident set of a fresh process'})")
    print(f"{'(b, d, l, n)':>22} {'backend':>10} {'fwd ms':>10} {'fwd+bwd ms':>11} {'peak MiB':>9}")
    for size in args.sizes:
        rows = {}
        for backend in backends:
            cmd = [sys.executable, __file__, "--worker", backend, size, "--device", args.device, "--repeat", str(args.repeat)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                print(f"{size:>22} {backend:>10}  failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            rows[backend] = r
            print(f"{'(' + size.replace(',', ', ') + ')':>22} {backend:>10} {r['fwd_s'] * 1e3:10.1f} {r['fwdbwd_s'] * 1e3:11.1f} {r['peak_mib']:9.1f}")
        if "chunked" in rows and "reference" in rows:
            c, r = rows["chunked"], rows["reference"]
            print(f"{'':>22} chunked vs reference: fwd {r['fwd_s'] / c['fwd_s']:.1f}x faster, fwd+bwd "
                  f"{r['fwdbwd_s'] / c['fwdbwd_s']:.1f}x faster, peak memory {c['peak_mib'] / max(r['peak_mib'], 1e-9):.3f} of reference")


if __name__ == "__main__":
    main()
