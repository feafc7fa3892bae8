"""Model size and cost: parameters, multiply-accumulates (MACs) and CPU latency.

MAC convention (Restormer / PromptIR / MambaIR tables): multiply-accumulates of Conv2d, ConvTranspose2d
(any _ConvNd) and Linear layers, plus matmul-like ops that modules report themselves; element-wise
ops, norms, activations and pooling are not counted. A selective scan is not a layer the hooks can
see, so modules report it through a duck-typed protocol (utils must not import archs):

    module.extra_macs(inputs: tuple, output) -> {"scan": int, "matmul": int, "conv": int, ...}

called from a forward hook after each forward. For the scan the convention of mamba's / VMamba's flop
counters (`flops_selective_scan_ref`) is used: 9·b·l·d·n per scan (discretisation, state update and
output read-out), plus b·d·l for the D skip. `count_macs` reports the scan on its own (`scan`) and
leaves it out of `total`, as the paper-style tables do.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor, nn


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared tensors counted once)."""
    seen = {id(p): p for p in module.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in seen.values())


def _first_tensor(obj: Any) -> Optional[Tensor]:
    if isinstance(obj, Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for o in obj:
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


def layer_macs(module: nn.Module, inputs: tuple, output: Any) -> Dict[str, int]:
    """MACs of one call of a Conv/ConvTranspose/Linear layer (empty dict for any other module)."""
    out = _first_tensor(output)
    if out is None:
        return {}
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        inp = _first_tensor(inputs)
        per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
        return {"conv": inp.numel() * per_input} if inp is not None else {}
    if isinstance(module, nn.modules.conv._ConvNd):
        return {"conv": out.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)}
    if isinstance(module, nn.Linear):
        return {"linear": out.numel() * module.in_features}
    return {}


def count_macs(model: nn.Module, *inputs: Any, **kwargs: Any) -> Dict[str, int]:
    """Run `model(*inputs, **kwargs)` once without gradients and count its MACs with forward hooks.

    Returns {"conv", "linear", "matmul", "scan", ..., "total"}: `total` sums every category except
    "scan" (the paper-table convention); "scan" is the selective scan's own work, reported apart.
    """
    counts: Dict[str, int] = {"conv": 0, "linear": 0, "matmul": 0, "scan": 0}

    def hook(module: nn.Module, args: tuple, output: Any) -> None:
        found = dict(layer_macs(module, args, output))
        extra = getattr(module, "extra_macs", None)
        if callable(extra):
            for key, value in extra(args, output).items():
                found[key] = found.get(key, 0) + int(value)
        for key, value in found.items():
            counts[key] = counts.get(key, 0) + int(value)

    handles: List[Any] = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            model(*inputs, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    counts["total"] = sum(v for k, v in counts.items() if k != "scan")
    return counts


def measure_latency(fn: Callable[[], Any], warmup: int = 1, runs: int = 3) -> float:
    """Median wall-clock seconds of `fn()` after `warmup` untimed calls, without gradients."""
    if runs < 1:
        raise ValueError(f"measure_latency: 'runs' must be at least 1, got {runs}")
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def restorer_stats(
    net_g: nn.Module,
    net_de: Optional[nn.Module] = None,
    size: int = 256,
    channels: int = 3,
    latency: bool = True,
    warmup: int = 1,
    runs: int = 1,
) -> Dict[str, float]:
    """Size and cost of a restorer (and its degradation extractor) at one 1×channels×size×size input.

    The restorer is called as `net_g(x, embedding=..., task=...)`: the embedding comes from `net_de(x)`
    when an extractor is given (else a random one), the task label is 0; a restorer ignores what it
    does not use. Returns parameter counts, MACs (scan apart) and seconds per forward.
    """
    if size < 1:
        raise ValueError(f"restorer_stats: 'size' must be a positive int, got {size}")
    net_g = net_g.eval()
    x = torch.rand(1, channels, size, size)
    stats: Dict[str, float] = {"params_g": count_params(net_g)}
    embed_dim = int(getattr(net_g, "embed_dim", 512))
    if net_de is not None:
        net_de = net_de.eval()
        stats["params_de"] = count_params(net_de)
        macs_de = count_macs(net_de, x)
        stats["macs_de"], stats["scan_macs_de"] = macs_de["total"], macs_de["scan"]
        with torch.no_grad():
            embedding = net_de(x)
    else:
        embedding = torch.randn(1, embed_dim)
    kwargs = dict(embedding=embedding, task=torch.zeros(1, dtype=torch.long))
    macs_g = count_macs(net_g, x, **kwargs)
    stats["macs_g"], stats["scan_macs_g"] = macs_g["total"], macs_g["scan"]
    if latency:
        stats["latency_g"] = measure_latency(lambda: net_g(x, **kwargs), warmup=warmup, runs=runs)
        if net_de is not None:
            stats["latency_de"] = measure_latency(lambda: net_de(x), warmup=warmup, runs=runs)
    return stats


def format_stats(stats: Dict[str, float], size: int) -> List[str]:
    """Human-readable lines for `restorer_stats` output (M parameters, G MACs, ms)."""
    lines = [f"network_g parameters: {stats['params_g'] / 1e6:.2f} M"]
    if "params_de" in stats:
        lines.append(f"network_de parameters: {stats['params_de'] / 1e6:.2f} M")
    lines.append(f"network_g GMACs @1x3x{size}x{size} (scan excluded): {stats['macs_g'] / 1e9:.2f}")
    lines.append(f"network_g scan GMACs @1x3x{size}x{size} (9*b*l*d*n + b*d*l): {stats['scan_macs_g'] / 1e9:.2f}")
    if "macs_de" in stats:
        lines.append(f"network_de GMACs @1x3x{size}x{size}: {stats['macs_de'] / 1e9:.2f}")
    if "latency_g" in stats:
        threads = torch.get_num_threads()
        lines.append(f"network_g CPU latency @1x3x{size}x{size}: {stats['latency_g'] * 1e3:.1f} ms ({threads} threads)")
    if "latency_de" in stats:
        lines.append(f"network_de CPU latency @1x3x{size}x{size}: {stats['latency_de'] * 1e3:.1f} ms")
    return lines
