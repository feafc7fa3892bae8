"""`tile: auto`: the tile size from the device's free memory, and a smaller tile when memory runs out anyway.

Why: users of Restormer, PromptIR and OneRestore hit out-of-memory errors on large photos and must hand-pick a
tile size. Here the restorer measures what one pixel costs and divides the free memory by it:

- cost per pixel: one forward of a small probe with a hook on every module, summing the bytes of every
  module output. Under `no_grad` most of those are freed long before the forward ends, so the sum bounds the
  live activations from above (the scan's work buffers are chunk-sized and do not grow with the image);
- free memory: `torch.cuda.mem_get_info` on a GPU, `MemAvailable` of /proc/meminfo on a CPU;
- tile: the largest multiple of 8 whose cost fits in half the free memory (None when the whole image fits).

If a forward still runs out of memory (another process took it), the tile is halved and the image retried;
the restorer logs each retry.
"""

from __future__ import annotations

import math
import os
from typing import Callable, Optional

import torch
from torch import Tensor, nn

ALIGN = 8
MIN_TILE = 64  # below this the overlap dominates and the extractor's context is lost
PROBE = 64  # probe side: small enough for any device, large enough for every level of the U-Net
HEADROOM = 0.5  # share of the free memory a tile may use


def free_memory_bytes(device: torch.device) -> int:
    """Bytes the device can still give: CUDA's free memory, or the CPU's MemAvailable."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # other Unix systems: free physical pages
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return 4 * 2**30  # unknown: assume a small machine


def bytes_per_pixel(net: nn.Module, forward: Callable[[Tensor], Tensor], like: Tensor) -> float:
    """Summed bytes of every module output in one forward of a PROBE×PROBE crop, per input pixel."""
    total = 0

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        nonlocal total
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, Tensor):
                total += t.numel() * t.element_size()

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    try:
        probe = like.new_zeros(like.shape[0], like.shape[1], PROBE, PROBE)
        with torch.no_grad():
            forward(probe)
    finally:
        for h in handles:
            h.remove()
    return total / float(PROBE * PROBE)


def choose_tile(per_pixel: float, free_bytes: int, height: int, width: int) -> Optional[int]:
    """The largest multiple of 8 (at least MIN_TILE) whose cost fits in HEADROOM × free memory; None when
    the whole (padded) image fits."""
    budget = HEADROOM * free_bytes
    padded_h, padded_w = -(-height // ALIGN) * ALIGN, -(-width // ALIGN) * ALIGN
    if per_pixel * padded_h * padded_w <= budget:
        return None
    side = int(math.sqrt(budget / max(per_pixel, 1e-9))) // ALIGN * ALIGN
    return max(side, MIN_TILE)


def smaller_tile(tile: Optional[int], height: int, width: int) -> Optional[int]:
    """The tile to retry with after an out-of-memory error: half the current one (or of the image's longer
    side), a multiple of 8; None when it cannot shrink below MIN_TILE."""
    current = tile if tile is not None else max(height, width)
    if current <= MIN_TILE:
        return None
    return max(MIN_TILE, current // 2 // ALIGN * ALIGN)


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or a CPU allocator failure."""
    if isinstance(err, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(err).lower()
    return "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
