"""One interface to the selective scan, several backends.

`selective_scan` takes the arguments of mamba_ssm's `selective_scan_fn` (same shapes, same meaning):

    u, delta, z: (b, d, l)   A: (d, n)   B, C: (b, n, l) or (b, g, n, l)   D, delta_bias: (d,)

Backends: "cuda" (mamba_ssm's kernel), "chunked" (pure PyTorch, CPU and GPU), "blocked" (pure PyTorch
with no loop over the length, for export to ONNX with dynamic sizes; inference), "reference" (a plain
loop, for tests). "auto" picks "cuda" when the kernel imported and the tensors are on a GPU, else
"chunked". The scan computes in float32 at least (half-precision inputs are upcast, the output cast
back), so mixed-precision training keeps an exact recurrence.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from dpmambair.utils.misc import describe_shape

from .scan_blocked import scan_blocked
from .scan_chunked import autocast_off, scan_chunked
from .scan_cuda import INSTALL_COMMAND, cuda_import_error, cuda_scan_available, scan_cuda
from .scan_reference import scan_reference

BACKENDS = ("auto", "cuda", "chunked", "blocked", "reference")


def _check(name: str, t: Optional[Tensor], expected: Tuple[int, ...], label: str) -> None:
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise ValueError(f"selective_scan: '{name}' must be a tensor of shape {label}, got {type(t).__name__}")
    if tuple(t.shape) != expected:
        raise ValueError(f"selective_scan: '{name}' must have shape {label} = {expected}, got {describe_shape(t)}")


def validate_scan_args(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor],
    z: Optional[Tensor],
    delta_bias: Optional[Tensor],
) -> None:
    """Raise ValueError naming the argument and the expected shape."""
    if not isinstance(u, Tensor) or u.dim() != 3:
        got = describe_shape(u)
        raise ValueError(f"selective_scan: 'u' must have shape (b, d, l), got {got}")
    b, d, length = u.shape
    if not isinstance(A, Tensor) or A.dim() != 2 or A.shape[0] != d:
        got = describe_shape(A)
        raise ValueError(f"selective_scan: 'A' must have shape (d, n) with d={d}, got {got}")
    if A.is_complex():
        raise ValueError("selective_scan: complex 'A' is not supported; pass a real (d, n) tensor")
    n = A.shape[1]
    _check("delta", delta, (b, d, length), "(b, d, l)")
    for name, t in (("B", B), ("C", C)):
        if not isinstance(t, Tensor) or t.dim() not in (3, 4):
            got = describe_shape(t)
            raise ValueError(f"selective_scan: '{name}' must have shape (b, n, l) or (b, g, n, l), got {got}")
        if t.dim() == 3:
            _check(name, t, (b, n, length), "(b, n, l)")
        else:
            g = t.shape[1]
            if g < 1 or d % g:
                raise ValueError(f"selective_scan: '{name}' has g={g} groups, which must divide d={d}")
            _check(name, t, (b, g, n, length), "(b, g, n, l)")
    if B.dim() == 4 and C.dim() == 4 and B.shape[1] != C.shape[1]:
        raise ValueError(
            f"selective_scan: 'B' and 'C' must have the same number of groups, got {B.shape[1]} and {C.shape[1]}"
        )
    _check("D", D, (d,), "(d,)")
    _check("z", z, (b, d, length), "(b, d, l)")
    _check("delta_bias", delta_bias, (d,), "(d,)")


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend "auto" stands for on this device."""
    if backend not in BACKENDS:
        raise ValueError(f"selective_scan: unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "cuda" if device.type == "cuda" and cuda_scan_available() else "chunked"
    return backend


def check_backend(
    backend: str, device: torch.device, chunk_size: Optional[int] = None, segment: Optional[int] = None
) -> Tuple[str, str, Optional[str]]:
    """What a run with `scan_backend: backend` on `device` will use: (backend, log line, warning or None).

    Why: `auto` silently falling back to the chunked scan on a GPU costs much speed (an estimated 10x), and
    `import mamba_ssm` can fail for reasons unrelated to the kernel (its __init__ imports triton and
    transformers). Raises ValueError (one line) when 'cuda' cannot run here.
    """
    name = resolve_backend(backend, device)
    if name == "cuda" and not cuda_scan_available():
        raise ValueError(
            f"scan_backend 'cuda': mamba_ssm's kernel did not import ({cuda_import_error()}); "
            f"install it with `{INSTALL_COMMAND}`, or set scan_backend: auto"
        )
    if name == "cuda" and device.type != "cuda":
        raise ValueError(
            f"scan_backend 'cuda' needs a CUDA device, but the model runs on {device}; set scan_backend: auto"
        )
    if name == "cuda":
        line = f"selective scan backend: cuda (mamba_ssm's kernel; scan_backend: {backend})"
    else:
        sizes = f"chunk {chunk_size or 'auto'}, segment {segment or 'auto'}"
        line = (
            f"selective scan backend: {name} (pure PyTorch; scan_backend: {backend}; {sizes}, {device.type} settings)"
        )
    warning = None
    if backend == "auto" and device.type == "cuda" and name != "cuda":
        warning = (
            f"scan_backend auto: mamba_ssm's CUDA kernel did not import ({cuda_import_error()}), so the scan "
            f"falls back to the pure-PyTorch chunked backend, much slower on a GPU; install the kernel "
            f"with `{INSTALL_COMMAND}`"
        )
    return name, line, warning


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor] = None,
    z: Optional[Tensor] = None,
    delta_bias: Optional[Tensor] = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    backend: str = "auto",
    chunk_size: Optional[int] = None,
    segment: Optional[int] = None,
) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Selective scan y_t = C_t·h_t + D u_t, h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t (then · silu(z)).

    `chunk_size` and `segment` tune the chunked backend (default: chosen from the sizes and the device
    type, see `auto_chunk`); they never change results.
    Returns `out` (b, d, l) in u's dtype, and with `return_last_state` also the final state (b, d, n)
    in the compute dtype (no gradient flows through it, as in mamba_ssm).
    """
    validate_scan_args(u, delta, A, B, C, D, z, delta_bias)
    name = resolve_backend(backend, u.device)
    if name == "cuda":
        if u.device.type != "cuda":
            raise ValueError(
                "selective_scan: backend='cuda' needs tensors on a CUDA device; use backend='chunked' on CPU"
            )
        f32 = [
            t.float() if t is not None and t.dtype in (torch.float16, torch.bfloat16) else t
            for t in (delta, A, B, C, D, z, delta_bias)
        ]
        res = scan_cuda(
            u.float() if u.dtype in (torch.float16, torch.bfloat16) else u,
            *f32[:4],
            D=f32[4],
            z=f32[5],
            delta_bias=f32[6],
            delta_softplus=delta_softplus,
            return_last_state=return_last_state,
        )
        if return_last_state:
            return res[0].to(u.dtype), res[1]
        return res.to(u.dtype)

    compute = torch.float64 if torch.float64 in {t.dtype for t in (u, delta, A, B, C)} else torch.float32

    def cast(t: Optional[Tensor]) -> Optional[Tensor]:
        return None if t is None else t.to(compute)

    Bn = B if B.dim() == 4 else B.unsqueeze(1)
    Cn = C if C.dim() == 4 else C.unsqueeze(1)
    args = (
        cast(u),
        cast(delta),
        cast(A),
        cast(Bn).contiguous(),
        cast(Cn).contiguous(),
        cast(D),
        cast(z),
        cast(delta_bias),
    )
    with autocast_off(u.device):
        if name == "reference":
            res = scan_reference(*args, delta_softplus=delta_softplus, return_last_state=return_last_state)
        elif name == "blocked":
            res = scan_blocked(*args, delta_softplus=delta_softplus, return_last_state=return_last_state)
        else:
            res = scan_chunked(
                *args,
                delta_softplus=delta_softplus,
                return_last_state=return_last_state,
                chunk_size=chunk_size,
                segment=segment,
            )
    if return_last_state:
        return res[0].to(u.dtype), res[1]
    return res.to(u.dtype)
