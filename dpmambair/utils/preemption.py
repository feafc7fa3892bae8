"""Stop a training run cleanly when the cluster asks it to.

Why: a SLURM job is preempted or reaches its time limit with SIGTERM (or the SIGUSR1 that
`#SBATCH --signal=USR1@120` asks for) some time before SIGKILL. Without a handler the run dies at once
and loses every iteration since its last periodic checkpoint. With it the run finishes the current step,
writes a resumable checkpoint and exits 0, so `--auto_resume` continues exactly where it stopped.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Dict, Optional

import torch

from dpmambair.utils.dist import get_dist_info

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class PreemptionHandler:
    """Context manager: while active, SIGTERM/SIGUSR1 only record a stop request (handlers restored on exit)."""

    def __init__(self) -> None:
        self.received: Optional[str] = None
        self._previous: Dict[int, object] = {}

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        self.received = self.received or signal.Signals(signum).name

    def __enter__(self) -> "PreemptionHandler":
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def should_stop(self, device: torch.device) -> bool:
        """Whether any rank received a stop signal; every rank must call it at the same iteration.

        The flag is reduced on `device` (the model's), because an NCCL group reduces only CUDA tensors.
        """
        if get_dist_info()[1] == 1:
            return self.received is not None
        import torch.distributed as dist

        flag = torch.tensor([1.0 if self.received else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)
