"""TF32 and cuDNN autotuning from the options.

Why: on an A100, float32 matmuls and convolutions in TF32 run several times faster at a precision the
training does not notice, and `cudnn.benchmark` picks the fastest convolution algorithm per input shape.
PyTorch leaves TF32 matmuls off, so the paper's GPU configurations switch both on explicitly; a key
left out (null) keeps PyTorch's own defaults. Neither setting has any effect on a CPU.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from dpmambair.utils.options import OptionError


def _flag(opt: Dict[str, Any], key: str) -> Optional[bool]:
    value = opt.get(key)
    if value is not None and not isinstance(value, bool):
        raise OptionError(f"{opt.get('opt_path', 'options')}: {key} must be true, false or null, got {value!r}")
    return value


def apply_cuda_math(opt: Dict[str, Any]) -> str:
    """Set TF32 (`tf32`) and `cudnn.benchmark` (`cudnn_benchmark`) for this process; returns a log line."""
    tf32, bench = _flag(opt, "tf32"), _flag(opt, "cudnn_benchmark")
    if bench and opt.get("deterministic", False):
        raise OptionError(
            f"{opt.get('opt_path', 'options')}: cudnn_benchmark: true and deterministic: true exclude "
            "each other (autotuning picks algorithms by timing); switch one off"
        )
    if tf32 is not None:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    if bench is not None:
        torch.backends.cudnn.benchmark = bench
    return (
        f"TF32 matmuls {'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'}, TF32 convolutions "
        f"{'on' if torch.backends.cudnn.allow_tf32 else 'off'}, cudnn.benchmark "
        f"{'on' if torch.backends.cudnn.benchmark else 'off'}"
    )
