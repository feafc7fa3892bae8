#!/usr/bin/env python
"""Benchmark the selective-scan backends: forward and forward+backward time, and peak memory.

Each (backend, size) is measured in a fresh subprocess so that its peak resident memory (the
high-water mark above the memory held once the inputs exist) belongs to it alone. Ratios are
computed from figures measured in this one run; the machine may be shared and noisy, so each time
is the best of --repeat runs.

    python scripts/bench_scan.py                      # the issue's three sizes, all available backends
    python scripts/bench_scan.py --sizes 4,192,4096,16 --backends chunked,reference
    python scripts/bench_scan.py --count-ops          # ATen ops per scan, CPU vs CUDA chunk settings (no GPU needed)

--count-ops runs the chunked scan on the meta device (shapes only, no arithmetic) under a dispatch mode that
counts every ATen op of one forward+backward. On a GPU each op is at least one kernel launch, so the count
is what the chunked scan's speed on CUDA is bound by, and it can be measured on a machine without one.
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
COUNT_SIZES = ["8,96,16384,16"]  # the 8x128² patch stage's full-resolution scan (allinone.yml)


def count_ops(size: str, settings: str) -> dict:
    """ATen ops dispatched by one forward+backward of the chunked scan with `settings`' chunk sizes (meta device)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from dpmambair.ops import selective_scan
    from dpmambair.ops.scan_chunked import auto_chunk

    class OpCounter(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.count += 1
            return func(*args, **(kwargs or {}))

    b, d, length, n = (int(x) for x in size.split(","))
    chunk, segment = auto_chunk(b, d, n, length, settings)
    meta = torch.device("meta")

    def leaf(*shape):
        return torch.empty(*shape, device=meta).requires_grad_()

    u, delta, z, A, B, C, D, bias = (
        leaf(b, d, length),
        leaf(b, d, length),
        leaf(b, d, length),
        leaf(d, n),
        leaf(b, n, length),
        leaf(b, n, length),
        leaf(d),
        leaf(d),
    )
    with OpCounter() as counter:
        out = selective_scan(
            u,
            delta,
            A,
            B,
            C,
            D=D,
            z=z,
            delta_bias=bias,
            delta_softplus=True,
            backend="chunked",
            chunk_size=chunk,
            segment=segment,
        )
        fwd = counter.count
        out.sum().backward()
    return {
        "size": size,
        "settings": settings,
        "chunk": chunk,
        "segment": segment,
        "fwd_ops": fwd,
        "fwdbwd_ops": counter.count,
    }


def worker(backend: str, size: str, device: str, repeat: int, settings: str = "auto") -> dict:
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
    if backend == "chunked" and settings != "auto":  # another device type's chunk sizes on this device
        from dpmambair.ops.scan_chunked import auto_chunk

        kw["chunk_size"], kw["segment"] = auto_chunk(b, d, n, length, settings)

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
    return {
        "backend": backend,
        "size": size,
        "device": device,
        "fwd_s": min(fwd),
        "fwdbwd_s": min(fwdbwd),
        "peak_mib": peak_mib,
        "threads": torch.get_num_threads(),
        "settings": settings,
    }


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
    parser.add_argument(
        "--settings",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="chunked backend: the chunk sizes of this device type (default: those of --device)",
    )
    parser.add_argument(
        "--count-ops",
        action="store_true",
        help="count ATen ops per forward+backward on the meta device, CPU vs CUDA settings (no timing)",
    )
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.device, args.repeat, args.settings)))
        return
    if args.count_ops:
        sizes = args.sizes if args.sizes is not DEFAULT_SIZES else COUNT_SIZES
        print("chunked selective scan: ATen ops per forward+backward (meta device: shapes only)")
        print(f"{'(b, d, l, n)':>22} {'settings':>9} {'chunk':>6} {'segment':>8} {'fwd ops':>8} {'fwd+bwd ops':>12}")
        rows = []
        for size in sizes:
            pair = [count_ops(size, settings) for settings in ("cpu", "cuda")]
            for r in pair:
                print(
                    f"{'(' + size.replace(',', ', ') + ')':>22} {r['settings']:>9} {r['chunk']:>6} {r['segment']:>8} "
                    f"{r['fwd_ops']:>8} {r['fwdbwd_ops']:>12}"
                )
            print(
                f"{'':>22} CUDA settings: {pair[0]['fwdbwd_ops'] / pair[1]['fwdbwd_ops']:.1f}x fewer ops "
                "than CPU settings"
            )
            rows += pair
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
        return
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            sys.exit("bench_scan.py: --device cuda, but no CUDA device is visible to PyTorch")
    backends = args.backends.split(",") if args.backends else available_backends(args.device)
    print(
        f"selective scan, fp32, device={args.device}, chunk settings {args.settings}, best of {args.repeat}; "
        "memory = peak above inputs "
        f"({'CUDA allocator' if args.device == 'cuda' else 'resident set of a fresh process'})"
    )
    print(f"{'(b, d, l, n)':>22} {'backend':>10} {'fwd ms':>10} {'fwd+bwd ms':>11} {'peak MiB':>9}")
    all_rows = []
    for size in args.sizes:
        rows = {}
        for backend in backends:
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                backend,
                size,
                "--device",
                args.device,
                "--repeat",
                str(args.repeat),
                "--settings",
                args.settings,
            ]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                print(
                    f"{size:>22} {backend:>10}  failed: "
                    f"{res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}"
                )
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            rows[backend] = r
            all_rows.append(r)
            print(
                f"{'(' + size.replace(',', ', ') + ')':>22} {backend:>10} "
                f"{r['fwd_s'] * 1e3:10.1f} {r['fwdbwd_s'] * 1e3:11.1f} {r['peak_mib']:9.1f}"
            )
        if "chunked" in rows and "reference" in rows:
            c, r = rows["chunked"], rows["reference"]
            print(
                f"{'':>22} chunked vs reference: fwd {r['fwd_s'] / c['fwd_s']:.1f}x faster, fwd+bwd "
                f"{r['fwdbwd_s'] / c['fwdbwd_s']:.1f}x faster, "
                f"peak memory {c['peak_mib'] / max(r['peak_mib'], 1e-9):.3f} of reference"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(all_rows, indent=1))


if __name__ == "__main__":
    main()
