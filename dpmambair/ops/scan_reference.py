"""Plain sequential selective scan: the ground truth the other backends are tested against.

One step per sequence position, written with `unbind` so autograd's backward stays linear in the
length (indexing `x[..., t]` in a loop would make it quadratic). Slow and memory-hungry by design;
used only by tests and benchmarks.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor


def scan_reference(
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
    """Sequential scan; B, C must be (b, g, n, l) (the dispatcher normalises them); computes in u's dtype."""
    b, d, length = u.shape
    g, n = B.shape[1], A.shape[1]
    dg = d // g
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    A5 = A.view(g, dg, n)
    h = u.new_zeros(b, g, dg, n)
    ys = []
    steps = zip(
        delta.view(b, g, dg, length).unbind(-1), u.view(b, g, dg, length).unbind(-1), B.unbind(-1), C.unbind(-1)
    )
    for dt_t, u_t, B_t, C_t in steps:  # dt_t, u_t: (b, g, dg); B_t, C_t: (b, g, n)
        h = torch.exp(dt_t[..., None] * A5) * h + (dt_t * u_t)[..., None] * B_t[:, :, None, :]
        ys.append((h * C_t[:, :, None, :]).sum(-1))
    out = torch.stack(ys, dim=-1).reshape(b, d, length)
    if D is not None:
        out = out + u * D[:, None]
    if z is not None:
        out = out * F.silu(z)
    if return_last_state:
        return out, h.reshape(b, d, n)
    return out
