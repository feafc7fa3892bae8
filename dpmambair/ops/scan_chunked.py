"""Pure-PyTorch selective scan: a chunked parallel scan with a hand-written backward.

Why: mamba_ssm's CUDA kernel is hard to install, and a step-by-step loop is slow (one tiny op per
position) and stores every step for autograd. The recurrence

    h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t,        y_t = C_t · h_t

is linear in h, so it can be split: the sequence is processed in chunks of `chunk_size` positions,
and each chunk is cut into K segments scanned *in parallel* (the classic scan-then-propagate scheme):

1. every segment is scanned from a zero state (one vectorised step per position of a segment);
2. the true state entering each segment is propagated across segments (K small steps);
3. each segment's states are corrected by (decay product since segment start) × (entering state).

The decay products are exp(A · ΣΔ) ≤ 1, so no exp can overflow whatever the chunk length or the
size of Δ (large decays only underflow towards 0, which is their exact value in float32); the
chunk length only trades memory for speed. Only the state at each chunk start is kept for the
backward, never a (b, d, l, n) tensor. The backward recomputes a chunk's states and solves the
adjoint recurrence g_t = C_t dy_t + exp(Δ_{t+1} A) g_{t+1} the same way, chunk by chunk from the end.

Internal layout of a chunk: (b, g, L, K, n, dg) with L positions per segment and K segments, so
that one step of a segment loop is a contiguous slice. The channels dg are innermost, not the state
n: a product of a per-channel factor (Δ, Δu) with a per-state one (A, B) then runs along the long
channel axis, which a CPU vectorises far better than a short n (6-7x faster at n = 8).
"""

from __future__ import annotations

import contextlib
from typing import ContextManager, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

# Per device type: (elements of one (b, d, chunk, n) work tensor, longest chunk).
# CPU: ~8 MB in float32, cache-friendly. CUDA: the scan is bound by kernel launches, not by cache, so a
# chunk is as long as a 1 GiB float32 work tensor allows (up to 4 such buffers live during the backward;
# set `network_g.scan_chunk` lower on a small GPU), and segments ≈ √chunk keep the two sequential loops
# (L steps inside a segment, K across segments) short: at (8, 96, 16384, 16) one chunk of 16384, 16x
# fewer ATen ops per forward+backward than the CPU settings (scripts/bench_scan.py --count-ops).
# Other device types (meta, ...) use the CPU settings.
CHUNK_SETTINGS = {"cpu": (2**21, 4096), "cuda": (2**28, 2**16)}


def auto_chunk(batch: int, channels: int, d_state: int, length: int, device_type: str = "cpu") -> Tuple[int, int]:
    """(chunk, segment) for a scan of this size on this device type ("cpu", "cuda"; others as "cpu").

    Why: the Python loop costs per step, the tensor ops per element. On a CPU, few channels (one image
    at full resolution) call for long chunks so that the loop steps are few; many channels for short
    ones so that the work tensors stay in cache. Segments of 16 positions measured fastest on a 2-core
    CPU for chunks up to 1024 (scripts/bench_scan.py); longer chunks use about √chunk so that the K-step
    propagation across segments stays short. On a GPU every step is a kernel launch, so chunks are long
    and segments always ≈ √chunk.
    """
    elements, longest = CHUNK_SETTINGS.get(device_type, CHUNK_SETTINGS["cpu"])
    per_position = max(batch * channels * d_state, 1)
    chunk = 1 << max(int(elements // per_position).bit_length() - 1, 4)
    chunk = min(chunk, longest, 1 << max(length - 1, 1).bit_length())
    sqrt_chunk = 1 << ((chunk.bit_length() - 1 + 1) // 2)
    segment = 16 if chunk <= 1024 and device_type != "cuda" else sqrt_chunk
    return chunk, min(segment, chunk)


# Decays below exp(-40) ≈ 4e-18 are indistinguishable from 0 next to any other term (even in float64
# to the 1e-10 the tests ask), and clamping the exponent there keeps every product out of the
# denormal range, which x86 CPUs compute up to 50x slower.
LOG_DECAY_MIN = -40.0


def autocast_off(device: torch.device) -> ContextManager:
    """Autocast disabled for this device type.

    Why: under autocast the scan's matmuls (C·h, the sums over n) would run in bf16/fp16 while the
    recurrence runs in float32, so the output and the gradients would lose precision and disagree.
    """
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:  # a device type without autocast (meta): nothing to disable
        return contextlib.nullcontext()


def _effective_delta(delta: Tensor, delta_bias: Optional[Tensor], delta_softplus: bool) -> Tensor:
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    return F.softplus(delta) if delta_softplus else delta


def _to_seg(x: Tensor, K: int, L: int) -> Tensor:
    """(b, g, c, T) → (b, g, L, K, c): position t = k·L + j goes to [j, k]; zero-padded to K·L."""
    pad = K * L - x.shape[-1]
    if pad:
        x = F.pad(x, (0, pad))
    return x.unflatten(-1, (K, L)).permute(0, 1, 4, 3, 2).contiguous()


def _from_seg(x: Tensor, T: int) -> Tensor:
    """(b, g, L, K, c) → (b, g, c, T), dropping the padding."""
    return x.permute(0, 1, 4, 3, 2).flatten(-2)[..., :T]


class _Workspace:
    """Chunk-sized buffers reused from chunk to chunk.

    Why: a fresh ~10 MB tensor per operation and chunk is a fresh mapping from the OS, and its page
    faults cost more than the arithmetic on a CPU.
    """

    def __init__(self, like: Tensor) -> None:
        self._like = like
        self._bufs: dict = {}

    def get(self, name: str, shape: Tuple[int, ...]) -> Tensor:
        numel = 1
        for s in shape:
            numel *= s
        buf = self._bufs.get(name)
        if buf is None or buf.numel() < numel:
            buf = self._bufs[name] = self._like.new_empty(numel)
        return buf[:numel].view(shape)


class _Chunk:
    """One chunk's inputs in segment layout, shared by forward and backward.

    Per channel (b, g, L, K, dg), per state (b, g, L, K, n), states (b, g, L, K, n, dg), A given as
    (g, n, dg); L positions per segment, K segments; one step of a segment loop is the contiguous
    slice [:, :, j].
    """

    def __init__(self, dt: Tensor, u: Tensor, B: Tensor, A: Tensor, segment: int) -> None:
        self.T = T = dt.shape[-1]
        self.L = L = min(segment, T)
        self.K = K = -(-T // L)
        g, n, dg = A.shape
        self.A6 = A.view(1, g, 1, 1, n, dg)
        self.dt = _to_seg(dt, K, L)
        self.u = _to_seg(u, K, L)
        self.dtu = self.dt * self.u
        self.B = _to_seg(B, K, L)
        self.shape = (dt.shape[0], g, L, K, n, dg)

    def seg(self, x: Tensor) -> Tensor:
        return _to_seg(x, self.K, self.L)

    def back(self, x: Tensor) -> Tensor:
        return _from_seg(x, self.T)

    def decays(self, out: Tensor) -> Tensor:
        """exp(Δ A) per step, exponent clamped at LOG_DECAY_MIN (see above)."""
        return torch.mul(self.dt.unsqueeze(-2), self.A6, out=out).clamp_(min=LOG_DECAY_MIN).exp_()

    def inputs(self, out: Tensor) -> Tensor:
        """Δ B u per step."""
        return torch.mul(self.dtu.unsqueeze(-2), self.B.unsqueeze(-1), out=out)

    def last_index(self) -> Tuple[int, int]:
        return (self.T - 1) % self.L, (self.T - 1) // self.L


def _segment_scan(a: Tensor, H: Tensor, h0: Tensor) -> Tensor:
    """States of one chunk, in place: H holds the inputs Δ B u and becomes the states h.

    a (b, g, L, K, n, dg) holds the per-step decays and is overwritten with the decay products since
    each segment start. h0 (b, g, n, dg) is the state before the chunk. Returns the true state
    entering each segment, (b, g, K, n, dg), which the backward reuses.
    """
    L, K = a.shape[2], a.shape[3]
    for j in range(1, L):  # 1. all K segments at once, each from a zero state
        H[:, :, j].addcmul_(a[:, :, j], H[:, :, j - 1])
        a[:, :, j].mul_(a[:, :, j - 1])  # a_j ← Π_{r≤j} a_r
    h_in = torch.empty_like(H[:, :, 0])
    h_in[:, :, 0] = h0
    for k in range(1, K):  # 2. propagate across segments
        torch.addcmul(H[:, :, L - 1, k - 1], a[:, :, L - 1, k - 1], h_in[:, :, k - 1], out=h_in[:, :, k])
    H.addcmul_(a, h_in.unsqueeze(2))  # 3. correct every state
    return h_in


class ChunkedSelectiveScan(torch.autograd.Function):
    """autograd.Function over normalised inputs: B, C are (b, g, n, l); None for absent D, z, delta_bias."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size, segment):  # type: ignore[override]
        b, d, length = u.shape
        g, n = B.shape[1], A.shape[1]
        dg = d // g
        dt = _effective_delta(delta, delta_bias, delta_softplus).view(b, g, dg, length)
        u4, An = u.view(b, g, dg, length), A.view(g, dg, n).transpose(1, 2).contiguous()
        h = u.new_zeros(b, g, n, dg)
        y = u.new_empty(b, g, dg, length)
        ws = _Workspace(u)
        seg_states = []
        for s in range(0, length, chunk_size):
            e = min(s + chunk_size, length)
            ch = _Chunk(dt[..., s:e], u4[..., s:e], B[..., s:e], An, segment)
            H = ch.inputs(ws.get("H", ch.shape))
            seg_states.append(_segment_scan(ch.decays(ws.get("a", ch.shape)), H, h))
            y[..., s:e] = ch.back(torch.matmul(ch.seg(C[..., s:e]).unsqueeze(-2), H).squeeze(-2))
            j, k = ch.last_index()
            h = H[:, :, j, k].clone()
        out = y.view(b, d, length)
        if D is not None:
            out.addcmul_(u, D[:, None])
        # the state entering every segment: (b, g, l/segment, n, dg), 1/segment of a full state tensor
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, out, torch.cat(seg_states, dim=2))
        ctx.scan_cfg = (delta_softplus, chunk_size, segment)
        last = h.transpose(-1, -2).reshape(b, d, n)
        ctx.mark_non_differentiable(last)
        return (F.silu(z).mul_(out) if z is not None else out), last

    @staticmethod
    def backward(ctx, dout, _dlast):  # type: ignore[override]
        with autocast_off(dout.device):  # backward() may be called inside an autocast region
            return ChunkedSelectiveScan._backward(ctx, dout)

    @staticmethod
    def _backward(ctx, dout):
        u, delta, A, B, C, D, z, delta_bias, out, seg_states = ctx.saved_tensors
        delta_softplus, chunk_size, segment = ctx.scan_cfg
        b, d, length = u.shape
        g, n = B.shape[1], A.shape[1]
        dg = d // g
        # elementwise parts in place: these (b, d, l) tensors dominate the scan's memory otherwise
        dz = None
        if z is not None:
            sig = torch.sigmoid(z)
            dy = torch.mul(z, sig).mul_(dout)  # dout · silu(z)
            dz = torch.mul(dout, out).mul_(sig)  # dout · out · silu'(z), silu' = σ (1 + z (1 - σ))
            dz.mul_(sig.neg_().add_(1).mul_(z).add_(1))
            del sig
        else:
            dy = dout
        dD = (dy * u).sum(dim=(0, 2)) if D is not None else None
        du = dy * D[:, None] if D is not None else torch.zeros_like(u)

        dt = _effective_delta(delta, delta_bias, delta_softplus).view(b, g, dg, length)
        u4, dy4, du4 = u.view(b, g, dg, length), dy.view(b, g, dg, length), du.view(b, g, dg, length)
        An = A.view(g, dg, n).transpose(1, 2).contiguous()
        ddt = torch.empty_like(dt)
        dB = torch.empty_like(B)
        dC = torch.empty_like(C)
        dA = torch.zeros(g, n, dg, dtype=u.dtype, device=u.device)
        carry = u.new_zeros(b, g, n, dg)  # exp(Δ_next A) g_next: the adjoint entering from the next chunk
        ws = _Workspace(u)
        chunk_starts = list(range(0, length, chunk_size))
        seg_offset = seg_states.shape[2]
        for idx in range(len(chunk_starts) - 1, -1, -1):
            s = chunk_starts[idx]
            e = min(s + chunk_size, length)
            ch = _Chunk(dt[..., s:e], u4[..., s:e], B[..., s:e], An, segment)
            L, K = ch.L, ch.K
            seg_offset -= K
            h_in = seg_states[:, :, seg_offset : seg_offset + K]
            a = ch.decays(ws.get("a", ch.shape))
            H = ch.inputs(ws.get("H", ch.shape))  # states, recomputed from the saved segment-entry states
            H[:, :, 0].addcmul_(a[:, :, 0], h_in)
            for j in range(1, L):
                H[:, :, j].addcmul_(a[:, :, j], H[:, :, j - 1])
            dy_s = ch.seg(dy4[..., s:e])
            # Σ_dg (and in dB) as row vector × transposed H: matrix × column vector runs ~8x slower on a CPU
            dC[..., s:e] = ch.back(torch.matmul(dy_s.unsqueeze(-2), H.transpose(-1, -2)).squeeze(-2))
            # adjoint g_t = C_t dy_t + exp(Δ_{t+1} A) g_{t+1}, scanned backwards in the same three steps;
            # Q_t = Π_{r=t+1}^{end of segment + 1} exp(Δ_r A), the last factor belonging to the next segment
            G = torch.mul(ch.seg(C[..., s:e]).unsqueeze(-1), dy_s.unsqueeze(-2), out=ws.get("G", ch.shape))
            Q = ws.get("Q", ch.shape)
            Q[:, :, L - 1, : K - 1] = a[:, :, 0, 1:]
            Q[:, :, L - 1, K - 1] = 1.0  # the step into the next chunk is already inside `carry`
            for j in range(L - 2, -1, -1):
                G[:, :, j].addcmul_(a[:, :, j + 1], G[:, :, j + 1])
                torch.mul(a[:, :, j + 1], Q[:, :, j + 1], out=Q[:, :, j])
            g_in = torch.empty_like(G[:, :, 0])
            g_in[:, :, K - 1] = carry
            for k in range(K - 2, -1, -1):
                torch.addcmul(G[:, :, 0, k + 1], Q[:, :, 0, k + 1], g_in[:, :, k + 1], out=g_in[:, :, k])
            G.addcmul_(Q, g_in.unsqueeze(2))
            # q_t = dL/d(Δ_t A) = g_t · exp(Δ_t A) · h_{t-1}   (into Q's buffer, which is free now)
            q = Q
            torch.mul(G[:, :, 0], a[:, :, 0], out=q[:, :, 0]).mul_(h_in)
            torch.mul(G[:, :, 1:], a[:, :, 1:], out=q[:, :, 1:]).mul_(H[:, :, :-1])
            gB = torch.matmul(ch.B.unsqueeze(-2), G).squeeze(-2)  # Σ_n g B
            dB[..., s:e] = ch.back(torch.matmul(ch.dtu.unsqueeze(-2), G.transpose(-1, -2)).squeeze(-2))
            carry = a[:, :, 0, 0] * G[:, :, 0, 0]
            work = ws.get("G", ch.shape)  # G is no longer needed
            qA = torch.mul(q, ch.A6, out=work).sum(-2)
            ddt[..., s:e] = ch.back(gB * ch.u + qA)
            du4[..., s:e] += ch.back(gB * ch.dt)
            dA += torch.mul(q, ch.dt.unsqueeze(-2), out=work).sum(dim=(0, 2, 3))
        del dt, dy, dy4
        ddelta = ddt.view(b, d, length)
        if delta_softplus:
            pre = delta + delta_bias[:, None] if delta_bias is not None else delta.clone()
            ddelta.mul_(pre.sigmoid_())
            del pre
        dbias = ddelta.sum(dim=(0, 2)) if delta_bias is not None else None
        return du, ddelta, dA.transpose(1, 2).reshape(d, n), dB, dC, dD, dz, dbias, None, None, None


def scan_chunked(
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
    chunk_size: Optional[int] = None,
    segment: Optional[int] = None,
):
    """Chunked scan over normalised inputs (B, C as (b, g, n, l)); computes in u's dtype.

    `chunk_size` / `segment` default to `auto_chunk`'s choice for u's device; they change speed and memory,
    not results.
    """
    auto = auto_chunk(u.shape[0], u.shape[1], A.shape[1], u.shape[2], u.device.type)
    chunk_size = auto[0] if chunk_size is None else chunk_size
    segment = auto[1] if segment is None else segment
    if chunk_size < 1 or segment < 1:
        raise ValueError(f"selective_scan: chunk_size and segment must be ≥ 1, got {chunk_size} and {segment}")
    out, last = ChunkedSelectiveScan.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size, segment)
    return (out, last) if return_last_state else out
