#!/usr/bin/env python
"""Time our restorer against a peer network (e.g. PromptIR) in one process: inference and a training step.

The efficiency claim of the paper is relative (153 GMACs against PromptIR's 158), so the figure that matters
is a ratio measured on one machine at one time. Both networks are built here with random weights (time does not
depend on them) and run the same work, interleaved (ours, peer, ours, peer, ...) so that a noisy, shared machine
slows both alike; after one untimed warm-up run of each, every row reports the best and the median of
`--repeats` runs and the ratios ours / peer (below 1 means ours is faster).

Rows (the two of issue 17):
- infer: forward of one `--infer-size`² RGB image (1×3×256×256 by default) under `torch.inference_mode()`;
- train: a training step on a `--train-batch`×3×`--train-size`² batch (2×3×128×128 by default): zero_grad,
  forward, L1 loss against a random target, backward. `--optimizer-step` adds an AdamW step to both (the issue's
  figures are forward+backward only, so it is off by default).

Ours is the restorer `network_g` of the option file (`-opt`, default options/allinone.yml), built by the package's
own build_network, in float32. The degradation extractor is NOT timed: like the issue's figures (our 30.0 M
restorer against PromptIR's 35.6 M) this compares the restorers. When the restorer reads the extractor's
embedding, that embedding is computed once per input, before the timed work, by a random-weight extractor built
from `network_de` (in training the extractor is frozen, so it never takes part in the backward pass).

The peer comes from a Python file given by path, loaded with importlib; it is never copied into this repository.
For PromptIR (github.com/va1shn9v/PromptIR, file net/model.py; its training script builds `PromptIR(decoder=True)`):

    git clone https://github.com/va1shn9v/PromptIR /tmp/PromptIR      # needs einops, which requirements.txt has
    python scripts/bench_peer.py --peer-file /tmp/PromptIR/net/model.py --peer-class PromptIR \\
        --peer-kwargs '{"decoder": true}'
    python scripts/bench_peer.py ... --threads 2 --repeats 3 --json peer.json

A missing peer file or class, a peer that fails to import or to build, or a bad option file stops the script
with one line and exit status 2.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
ROWS = ("infer", "train")


class PeerError(Exception):
    """A peer that cannot be loaded or built: reported as one line."""


def load_peer_class(path: str, class_name: str) -> type:
    """The class `class_name` of the Python file at `path`, imported under a private module name."""
    file = Path(path)
    if not file.is_file():
        raise PeerError(f"--peer-file: no such file '{path}'")
    spec = importlib.util.spec_from_file_location(f"_bench_peer_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise PeerError(f"--peer-file: '{path}' is not a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # any failure of foreign code at import time is the peer's, reported in one line
        raise PeerError(f"--peer-file: '{path}' failed to import: {type(err).__name__}: {err}") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise PeerError(f"--peer-class: '{path}' defines no class '{class_name}'")
    return cls


def build_peer(path: str, class_name: str, kwargs_json: str):
    """The peer network, in float32 with random weights (seed 0)."""
    import torch

    try:
        kwargs = json.loads(kwargs_json)
    except json.JSONDecodeError as err:
        raise PeerError(f"--peer-kwargs: not valid JSON ({err})") from None
    if not isinstance(kwargs, dict):
        raise PeerError(f"--peer-kwargs: must be a JSON object, got {kwargs_json!r}")
    cls = load_peer_class(path, class_name)
    torch.manual_seed(0)
    try:
        return cls(**kwargs).float()
    except Exception as err:  # a constructor that rejects the kwargs
        raise PeerError(f"--peer-class: {class_name}(**{kwargs}) failed: {type(err).__name__}: {err}") from None


def build_ours(opt_path: str):
    """Our restorer (network_g of the option file) and, when it reads an embedding, the extractor (network_de)."""
    import torch

    from dpmambair.archs import build_network, needs_extractor
    from dpmambair.utils.options import OptionError, parse_options

    opt = parse_options(opt_path, is_train=False)
    net_g_opt = opt.get("network_g")
    if not isinstance(net_g_opt, dict):
        raise OptionError(f"{opt_path}: no network_g to benchmark")
    torch.manual_seed(0)
    net_g = build_network(copy.deepcopy(net_g_opt), f"{opt_path}: network_g").float()
    net_de = None
    if needs_extractor(net_g):
        net_de = build_network(copy.deepcopy(opt.get("network_de")), f"{opt_path}: network_de").float().eval()
    return net_g, net_de


def our_call(net_g, net_de, x) -> Callable[[Any], Any]:
    """net_g's forward for input `x`, its conditioning (embedding or task label) fixed outside the timing."""
    import torch

    if net_de is not None:
        with torch.no_grad():  # not inference_mode: the training row's autograd graph reads this tensor
            emb = net_de(x)
        return lambda inp: net_g(inp, embedding=emb)
    if getattr(net_g, "prompt_source", None) == "classes" and getattr(net_g, "uses_embedding", False):
        task = torch.zeros(x.shape[0], dtype=torch.long)
        return lambda inp: net_g(inp, task=task)
    return lambda inp: net_g(inp)


def infer_work(net, forward: Callable[[Any], Any], x) -> Callable[[], None]:
    import torch

    def run() -> None:
        net.eval()
        with torch.inference_mode():
            forward(x)

    return run


def train_work(net, forward: Callable[[Any], Any], x, y, optimizer_step: bool) -> Callable[[], None]:
    import torch
    import torch.nn.functional as F

    opt = torch.optim.AdamW(net.parameters(), lr=3e-4) if optimizer_step else None

    def run() -> None:
        net.train()
        net.zero_grad(set_to_none=True)
        loss = F.l1_loss(forward(x), y)
        loss.backward()
        if opt is not None:
            opt.step()

    return run


def timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def summary(times: List[float]) -> Dict[str, Any]:
    return {"best": min(times), "median": statistics.median(times), "all": times}


def measure(args: argparse.Namespace, ours, peer) -> Dict[str, Dict[str, Any]]:
    """Warm every row up once (untimed), then time them, ours and peer interleaved."""
    import torch

    net_g, net_de = ours
    gen = torch.Generator().manual_seed(0)
    xi = torch.rand(1, 3, args.infer_size, args.infer_size, generator=gen)
    xt = torch.rand(args.train_batch, 3, args.train_size, args.train_size, generator=gen)
    yt = torch.rand(xt.shape, generator=gen)
    works = {
        "infer": {"ours": infer_work(net_g, our_call(net_g, net_de, xi), xi), "peer": infer_work(peer, peer, xi)},
        "train": {
            "ours": train_work(net_g, our_call(net_g, net_de, xt), xt, yt, args.optimizer_step),
            "peer": train_work(peer, peer, xt, yt, args.optimizer_step),
        },
    }
    # one untimed run of every row at its real size first: at a small size the first timed run still paid for
    # the allocator's growth (it took up to twice the later ones on the 2-core machine)
    for row in args.rows:
        for side in ("ours", "peer"):
            works[row][side]()
    times: Dict[str, Dict[str, List[float]]] = {row: {"ours": [], "peer": []} for row in args.rows}
    for _ in range(args.repeats):
        for row in args.rows:
            for side in ("ours", "peer"):
                times[row][side].append(timed(works[row][side]))
    results = {}
    for row in args.rows:
        o, p = summary(times[row]["ours"]), summary(times[row]["peer"])
        results[row] = {
            "ours_s": o,
            "peer_s": p,
            "ratio_best": o["best"] / p["best"],
            "ratio_median": o["median"] / p["median"],
        }
    return results


ROW_NAMES = {"infer": "forward, {b}x3x{s}x{s}, inference mode", "train": "training step, {b}x3x{s}x{s}, L1, {what}"}


def row_label(args: argparse.Namespace, row: str) -> str:
    if row == "infer":
        return ROW_NAMES[row].format(b=1, s=args.infer_size)
    what = "forward+backward+AdamW step" if args.optimizer_step else "forward+backward"
    return ROW_NAMES[row].format(b=args.train_batch, s=args.train_size, what=what)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-opt", default=str(ROOT / "options" / "allinone.yml"), help="option file giving network_g")
    parser.add_argument("--peer-file", required=True, help="Python file defining the peer network (by path)")
    parser.add_argument("--peer-class", required=True, help="class name of the peer network in that file")
    parser.add_argument("--peer-kwargs", default="{}", help="constructor arguments as JSON, e.g. '{\"decoder\": true}'")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each row and network (default 3)")
    parser.add_argument("--rows", default="infer,train", help="comma list of infer, train (default both)")
    parser.add_argument("--infer-size", type=int, default=256, help="inference image side (default 256)")
    parser.add_argument("--train-size", type=int, default=128, help="training patch side (default 128)")
    parser.add_argument("--train-batch", type=int, default=2, help="training batch size (default 2)")
    parser.add_argument("--optimizer-step", action="store_true", help="add an AdamW step to the training row")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    if not rows or any(r not in ROWS for r in rows):
        parser.error(f"--rows must list infer and/or train, got '{args.rows}'")
    args.rows = rows
    for name in ("threads", "repeats", "infer_size", "train_size", "train_batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    import torch

    from dpmambair.utils.errors import DPMambaIRError

    torch.set_num_threads(args.threads)
    try:
        peer = build_peer(
            args.peer_file, args.peer_class, args.peer_kwargs
        )  # first: a peer mistake stops before ours is built
        ours = build_ours(args.opt)
    except (DPMambaIRError, PeerError) as err:
        print(f"bench_peer.py: {err}", file=sys.stderr)
        sys.exit(2)
    ours_m = sum(p.numel() for p in ours[0].parameters()) / 1e6
    peer_m = sum(p.numel() for p in peer.parameters()) / 1e6
    print(
        f"peer benchmark: float32 CPU, {torch.get_num_threads()} threads, {args.repeats} repeats interleaved, "
        f"random weights; torch {torch.__version__}"
    )
    print(f"ours: network_g of {args.opt} ({ours_m:.2f} M params; extractor not timed)")
    print(f"peer: {args.peer_class}(**{args.peer_kwargs}) from {args.peer_file} ({peer_m:.2f} M params)")
    results = measure(args, ours, peer)
    print(f"{'work':<48} {'ours s':>8} {'peer s':>8} {'ratio':>7}   (best; median in brackets)")
    for row in args.rows:
        r = results[row]
        print(
            f"{row_label(args, row):<48} {r['ours_s']['best']:8.3f} {r['peer_s']['best']:8.3f} "
            f"{r['ratio_best']:6.2f}x   ({r['ours_s']['median']:.3f} / {r['peer_s']['median']:.3f} = "
            f"{r['ratio_median']:.2f}x)"
        )
    if args.json:
        report = {
            "threads": torch.get_num_threads(),
            "repeats": args.repeats,
            "dtype": "float32",
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "ours": {"opt": args.opt, "params_m": ours_m, "extractor_timed": False},
            "peer": {"file": args.peer_file, "class": args.peer_class, "kwargs": json.loads(args.peer_kwargs)},
            "rows": {row: dict(results[row], work=row_label(args, row)) for row in args.rows},
        }
        report["peer"]["params_m"] = peer_m
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
