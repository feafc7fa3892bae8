"""Which device to run on: the one resolver used by training, testing and inference."""

from __future__ import annotations

import os
from typing import Optional, Tuple, Union

import torch

from dpmambair.utils.options import OptionError

DeviceSpec = Union[str, int, torch.device, None]


def resolve_device(
    spec: DeviceSpec, source: str, fallback: bool = False, local_rank: bool = False
) -> Tuple[torch.device, Optional[str]]:
    """The device for `spec` and, with `fallback`, a warning line to log (else None).

    `spec` is an option file's `num_gpu` ('auto' or an integer ≥ 0) or a device name ('auto', 'cpu', 'cuda',
    'cuda:N'). 'auto' (or None) uses a GPU when PyTorch sees one. A GPU that is asked for but absent is an
    OptionError naming `source` (training: a silent fallback would cost days), or with `fallback` the CPU
    plus a warning (testing: the numbers are the same on either device, only slower). `local_rank` gives an
    unindexed CUDA request the GPU of this torchrun process (LOCAL_RANK).
    """
    if spec is None or spec == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif isinstance(spec, int) and not isinstance(spec, bool):
        if spec < 0:
            raise OptionError(f"{source}: must be 'auto' or an integer ≥ 0, got {spec!r}")
        dev = torch.device("cuda" if spec > 0 else "cpu")
    elif isinstance(spec, (str, torch.device)):
        try:
            dev = torch.device(spec)
        except (RuntimeError, TypeError):
            raise OptionError(f"{source}: expected auto, cpu, cuda or cuda:N, got {spec!r}") from None
    else:
        raise OptionError(f"{source}: expected 'auto', an integer ≥ 0, cpu, cuda or cuda:N, got {spec!r}")
    if dev.type != "cuda":
        return dev, None
    if not torch.cuda.is_available():
        missing = f"{source}: {spec!r} asks for a GPU but PyTorch sees no CUDA device on this machine"
        if fallback:
            return torch.device("cpu"), f"{missing}; running on the CPU instead (same results, slower; set num_gpu: 0)"
        raise OptionError(f"{missing}; use cpu (num_gpu: 0) or auto")
    if dev.index is None:
        index = int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count() if local_rank else 0
        return torch.device("cuda", index), None
    if dev.index >= torch.cuda.device_count():
        raise OptionError(f"{source}: {spec!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev, None


__all__ = ["DeviceSpec", "resolve_device"]
