"""mamba_ssm's fused CUDA selective-scan kernel, when it is installed and importable.

`import mamba_ssm` fails on machines without its compiled extension, so the import is guarded and
`cuda_scan_available()` says whether this backend can be used.
"""

from __future__ import annotations

from typing import Callable, Optional

_KERNEL: Optional[Callable] = None
_IMPORT_ERROR: Optional[str] = None

try:  # pragma: no cover - only on machines with the CUDA extension
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as _KERNEL
except Exception as err:  # ImportError, or OSError/RuntimeError from a broken CUDA extension
    _IMPORT_ERROR = f"{type(err).__name__}: {err}"


INSTALL_COMMAND = "MAMBA_KEEP_CUDA_BUILD=TRUE pip install --no-build-isolation -r requirements-cuda.txt"


def cuda_scan_available() -> bool:
    """True when mamba_ssm's kernel imported (a GPU tensor is still needed to use it)."""
    return _KERNEL is not None


def cuda_import_error() -> Optional[str]:
    """Why mamba_ssm could not be imported, for error messages and benchmark output."""
    return _IMPORT_ERROR


def scan_cuda(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False):
    """Call mamba_ssm's `selective_scan_fn` with the same arguments (B, C as (b, n, l) or (b, g, n, l))."""
    if _KERNEL is None:
        raise RuntimeError(
            "backend='cuda' needs mamba_ssm's CUDA kernel, which did not import "
            f"({_IMPORT_ERROR}); install it with `{INSTALL_COMMAND}` on a CUDA machine, or use backend='chunked'"
        )
    return _KERNEL(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
