"""A selective scan with no loop over the sequence length: the backend that exports (ONNX, torch.export).

Why: the chunked backend loops in Python over chunks and segments whose number depends on the length, so a
traced graph is fixed to one image size, and mamba_ssm's kernel is a CUDA-only custom op that no exporter
knows (MambaIR#105, VMamba#65). Here every loop has a fixed trip count, so height and width stay dynamic.

The recurrence h_t = a_t h_{t-1} + x_t (a_t = exp(Δ_t A), x_t = Δ_t B_t u_t) is solved blockwise:

1. the sequence is padded to a multiple of GROUP and each group of GROUP positions is scanned from a zero
   state, all groups at once (GROUP fixed steps);
2. each group is summarised by its decay product and its final state, which form the same recurrence one
   level up, solved the same way (LEVELS fixed levels; the top level must hold one group, so a sequence may
   have up to GROUP**LEVELS positions: 16.7 M, a 4096×4096 feature map);
3. the state entering each group is added back, decayed: h_t += exp(Σ log a since the group start) · h_in.

Decays are carried as logarithms (≤ 0), clamped like the chunked backend's, so no exp can overflow. Inference
only (no hand-written backward; autograd works but stores every level). Memory is one (b, d, n, l) state
tensor, so large images go through tiles, as with any backend.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .scan_chunked import LOG_DECAY_MIN, _effective_delta

GROUP = 16
LEVELS = 6
MAX_LENGTH = GROUP**LEVELS


def _grouped_scan(log_a: Tensor, x: Tensor, level: int) -> Tensor:
    """States h (…, l) of h_t = exp(log_a_t) h_{t-1} + x_t from a zero state; `level` counts down to 1."""
    length = x.shape[-1]
    pad = (GROUP - length % GROUP) % GROUP
    log_a, x = F.pad(log_a, (0, pad)), F.pad(x, (0, pad))  # padded steps: decay 1, input 0
    la = log_a.unflatten(-1, (-1, GROUP))  # (…, groups, GROUP)
    xs = x.unflatten(-1, (-1, GROUP))
    states, logs = [], []
    h = torch.zeros_like(xs[..., 0])
    cum = torch.zeros_like(la[..., 0])
    for j in range(GROUP):  # fixed trip count: all groups advance one position per step
        h = torch.exp(la[..., j]) * h + xs[..., j]
        cum = cum + la[..., j]
        states.append(h)
        logs.append(cum)
    local = torch.stack(states, dim=-1)  # (…, groups, GROUP), each group from a zero state
    cum_log = torch.stack(logs, dim=-1)  # Σ log a from the group start, inclusive
    if level > 1:
        ends = _grouped_scan(cum_log[..., -1], local[..., -1], level - 1)  # true state at each group end
        entering = F.pad(ends[..., :-1], (1, 0))  # the state before each group (zero before the first)
        local = local + torch.exp(cum_log) * entering[..., None]
    return local.flatten(-2)[..., :length]


def scan_blocked(
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
) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Blocked scan over normalised inputs (B, C as (b, g, n, l)); computes in u's dtype."""
    b, d, length = u.shape
    g, n = B.shape[1], A.shape[1]
    dg = d // g
    if not torch.jit.is_tracing() and not torch.compiler.is_compiling() and length > MAX_LENGTH:
        raise ValueError(f"selective_scan: backend 'blocked' handles up to {MAX_LENGTH} positions, got {length}")
    delta = _effective_delta(delta, delta_bias, delta_softplus)
    log_a = (delta.view(b, g, dg, 1, length) * A.view(1, g, dg, n, 1)).clamp(min=LOG_DECAY_MIN)
    x = (delta * u).view(b, g, dg, 1, length) * B.view(b, g, 1, n, length)
    h = _grouped_scan(log_a, x, LEVELS)  # (b, g, dg, n, l)
    out = (h * C.view(b, g, 1, n, length)).sum(3).reshape(b, d, length)
    if D is not None:
        out = out + u * D[:, None]
    if z is not None:
        out = out * F.silu(z)
    if return_last_state:
        return out, h[..., -1].reshape(b, d, n)
    return out
