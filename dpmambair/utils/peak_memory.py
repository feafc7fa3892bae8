"""Peak memory of one measured region, for the benchmark scripts.

On CUDA it is the allocator's high-water mark above what was allocated at the start. On CPU it is the
process's resident-set high-water mark (ru_maxrss) above the resident set at the start, so it is only
meaningful when the region is the largest thing the process has done: the benchmarks run each case in
a fresh subprocess for that reason.
"""

from __future__ import annotations

import os
import resource

import torch


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


class PeakMemory:
    """`pm = PeakMemory(device)` before the region, `pm.mib()` after it: peak MiB used by the region."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = torch.device(device).type == "cuda"
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = _rss_kib()

    def mib(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            return (torch.cuda.max_memory_allocated() - self.base) / 2**20
        return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.base) / 1024
