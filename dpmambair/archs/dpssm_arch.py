"""DP-SSM: the degradation-aware prompt selective scan layer (paper section 3.5, Eq. 8–9, Fig. 4a)."""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dpmambair.ops.selective_scan import selective_scan
from dpmambair.utils.registry import ARCH_REGISTRY

from .common import FP32LayerNorm, check_embedding, check_features, zero_last_linear

SCANS = ("single", "bidirectional", "bidirectional_branch")
INSERTIONS = ("modulate", "concat", "attention")
PROMPT_WIDTH = 64  # insertion "concat" / "attention": width of the per-block prompt P(D) (attention: 8 tokens × 8)
PROMPT_TOKENS = 8


class PromptMapping(nn.Sequential):
    """M_*: Linear → GELU → Linear from the degradation embedding D to a modulation vector.

    The last layer is zero-initialised, so an untrained mapping outputs 0 and the α built from it is
    exactly 1: the layer starts as the plain SSM and learns how far the degradation should steer it.
    """

    def __init__(self, embed_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))
        zero_last_linear(self)


class ScanParams(nn.Module):
    """The per-direction parameters of one selective scan: x_proj, dt_proj, A_log, D (Mamba initialisation)."""

    def __init__(
        self,
        d_inner: int,
        d_state: int,
        dt_rank: int,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dt_init_floor: float = 1e-4,
    ) -> None:
        super().__init__()
        self.dt_rank, self.d_state = dt_rank, d_state
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        std = dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        # Bias such that softplus(bias) is log-uniform in [dt_min, dt_max] (Mamba's dt initialisation).
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        # S4D-real initialisation A = -(1..n), stored as log for positivity; D = 1 (skip path).
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.A_log._no_weight_decay = True  # type: ignore[attr-defined]
        self.D._no_weight_decay = True  # type: ignore[attr-defined]

    def project(self, tokens: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """tokens (b, l, d_inner) → Δ (b, d_inner, l) = softplus(dt_proj(dt) + bias), B, C (b, d_state, l)."""
        dt, B, C = self.x_proj(tokens).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt)).transpose(1, 2)
        return delta, B.transpose(1, 2), C.transpose(1, 2)


def prompt_net(embed_dim: int, hidden: int, width: int) -> nn.Sequential:
    """P(D) of the Table 4 insertions: Linear → GELU → Linear, the same shape as the M_* mappings."""
    return nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, width))


class PromptConcat(nn.Module):
    """Insertion "concat" (Table 4): tokens ⊕ P(D) → narrow linear fusion (rank `fusion_dim`) → added to the tokens.

    Capacity-matched to modulation (docs/architecture.md, "Table 4 and 5 variants"): P(D) has the hidden width
    of the three M_* together, and the fusion is a rank-r bottleneck instead of a (2·d_inner → d_inner) layer,
    so per-token cost stays within 3 % of the modulated model. The up-projection starts at zero: like an
    untrained modulation (α = 1), an untrained concat is the identity.
    """

    def __init__(self, d_inner: int, embed_dim: int, hidden: int, fusion_dim: int, width: int = PROMPT_WIDTH) -> None:
        super().__init__()
        self.prompt = prompt_net(embed_dim, hidden, width)
        self.fuse_down = nn.Linear(d_inner + width, fusion_dim, bias=False)
        self.fuse_up = nn.Linear(fusion_dim, d_inner, bias=False)
        nn.init.zeros_(self.fuse_up.weight)

    def forward(self, tokens: Tensor, embedding: Tensor) -> Tensor:
        prompt = self.prompt(embedding)[:, None, :].expand(-1, tokens.shape[1], -1)
        return tokens + self.fuse_up(self.fuse_down(torch.cat([tokens, prompt], dim=-1)))


class PromptCrossAttention(nn.Module):
    """Insertion "attention" (Table 4): image tokens (queries) attend to P(D) read as 8 prompt tokens.

    One head of width `fusion_dim` (q: d_inner → r, k/v: prompt token → r, output r → d_inner, zero-initialised),
    P(D) as in PromptConcat: the same capacity budget as modulation.
    """

    def __init__(
        self,
        d_inner: int,
        embed_dim: int,
        hidden: int,
        fusion_dim: int,
        width: int = PROMPT_WIDTH,
        num_tokens: int = PROMPT_TOKENS,
    ) -> None:
        super().__init__()
        self.num_tokens, self.fusion_dim = num_tokens, fusion_dim
        self.prompt = prompt_net(embed_dim, hidden, width)
        self.q = nn.Linear(d_inner, fusion_dim, bias=False)
        self.kv = nn.Linear(width // num_tokens, 2 * fusion_dim, bias=False)
        self.proj = nn.Linear(fusion_dim, d_inner, bias=False)
        nn.init.zeros_(self.proj.weight)

    def forward(self, tokens: Tensor, embedding: Tensor) -> Tensor:
        b = tokens.shape[0]
        k, v = self.kv(self.prompt(embedding).view(b, self.num_tokens, -1)).chunk(2, dim=-1)  # (b, T, r) each
        out = F.scaled_dot_product_attention(self.q(tokens)[:, None], k[:, None], v[:, None])[:, 0]  # (b, l, r)
        return tokens + self.proj(out)

    def extra_macs(self, inputs: tuple, output: Tensor) -> Dict[str, int]:
        """q·kᵀ and attn·v: 2·b·l·T·r (Linear layers are counted by the hooks)."""
        b, length = output.shape[:2]
        return {"matmul": 2 * b * length * self.num_tokens * self.fusion_dim}


class SSMBranch(nn.Module):
    """The layers of one whole SSM path besides its scan parameters: in_proj, depthwise conv, out_norm, out_proj.

    Used for the second direction of `scan="bidirectional_branch"` (Table 5, the reading that doubles the whole
    SSM path); the first direction's layers live on DPSSM itself (checkpoint keys unchanged).
    """

    def __init__(self, dim: int, d_inner: int, d_state: int, dt_rank: int, d_conv: int) -> None:
        super().__init__()
        self.in_proj = nn.Linear(dim, 2 * d_inner, bias=False)
        self.conv2d = nn.Conv2d(d_inner, d_inner, d_conv, padding=d_conv // 2, groups=d_inner, bias=True)
        self.scan = ScanParams(d_inner, d_state, dt_rank)
        self.out_norm = FP32LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, dim, bias=False)


@ARCH_REGISTRY.register()
class DPSSM(nn.Module):
    """Degradation-aware prompt selective scan on (b, C, H, W) features (MambaIR-style SSM layer).

    in_proj → (x, z); x: depthwise 3×3 conv + SiLU, flattened row-major to a sequence; x_proj → (dt, B, C);
    Δ = softplus(dt_proj(dt) + bias). With insertion "modulate" the degradation embedding D (b, embed_dim)
    scales the scan parameters per image (Eq. 8):
    α_Δ = 2·sigmoid(M_Δ(D)) (b, d_inner), α_B = 1 + M_B(D), α_C = 1 + M_C(D) (b, d_state);
    Δ_dp = α_Δ·Δ, B_dp = α_B·B, C_dp = α_C·C. Each α is 1 at initialisation (zero last layer), so an
    untrained prompt is the identity. α_Δ goes through a sigmoid because Δ must stay positive (it is a
    step size; exp(Δ A) must stay a decay). Then one selective scan (Eq. 9), LayerNorm, gate y·SiLU(z),
    out_proj.

    The `prompt_delta`, `prompt_B`, `prompt_C` switches only apply to insertion "modulate"; a prompt that
    is off has no module at all. Insertion "concat" / "attention" (Table 4) do not modulate: they mix the
    embedding into the tokens before x_proj, through fusion layers narrowed to `fusion_dim` so that the
    model keeps the modulated model's parameters and MACs within 3 % (PromptConcat, PromptCrossAttention).

    Table 5's dual-sequence scan, two readings: `scan="bidirectional"` adds a scan of the reversed sequence
    with its own x_proj, dt_proj, A_log, D and shares in_proj, conv, out_proj (MambaIR's SS2D with two
    directions); `scan="bidirectional_branch"` adds a whole second SSM path for the reversed sequence (own
    in_proj, conv, scan parameters, out_norm, out_proj; SSMBranch). Prompts on Δ and B apply to both
    directions; the two outputs are summed.
    """

    def __init__(
        self,
        dim: int,
        d_state: int = 16,
        expand: float = 2,
        dt_rank: Union[int, str] = "auto",
        embed_dim: int = 512,
        prompt_delta: bool = True,
        prompt_B: bool = True,
        prompt_C: bool = True,
        scan: str = "single",
        insertion: str = "modulate",
        prompt_hidden: int = 32,
        scan_backend: str = "auto",
        d_conv: int = 3,
        scan_chunk: Optional[int] = None,
        scan_segment: Optional[int] = None,
        fusion_dim: int = 8,
    ) -> None:
        super().__init__()
        if scan not in SCANS:
            raise ValueError(f"DPSSM: 'scan' must be one of {', '.join(SCANS)}, got '{scan}'")
        if insertion not in INSERTIONS:
            raise ValueError(f"DPSSM: 'insertion' must be one of {', '.join(INSERTIONS)}, got '{insertion}'")
        if dt_rank != "auto" and not (isinstance(dt_rank, int) and dt_rank > 0):
            raise ValueError(f"DPSSM: 'dt_rank' must be 'auto' or a positive int, got {dt_rank!r}")
        if not (isinstance(d_conv, int) and d_conv > 0 and d_conv % 2):
            raise ValueError(
                f"DPSSM: 'd_conv' must be a positive odd int (the depthwise conv keeps H, W), got {d_conv!r}"
            )
        if not (isinstance(fusion_dim, int) and fusion_dim > 0):
            raise ValueError(f"DPSSM: 'fusion_dim' must be a positive int, got {fusion_dim!r}")
        self.dim, self.d_state, self.embed_dim = dim, d_state, embed_dim
        self.d_inner = d_inner = int(expand * dim)
        self.dt_rank = math.ceil(dim / 16) if dt_rank == "auto" else int(dt_rank)
        for key, value in (("scan_chunk", scan_chunk), ("scan_segment", scan_segment)):
            if value is not None and not (isinstance(value, int) and value > 0):
                raise ValueError(f"DPSSM: '{key}' must be a positive int or null (chosen per device), got {value!r}")
        self.scan, self.insertion, self.scan_backend = scan, insertion, scan_backend
        self.scan_chunk, self.scan_segment = scan_chunk, scan_segment

        self.in_proj = nn.Linear(dim, 2 * d_inner, bias=False)
        self.conv2d = nn.Conv2d(d_inner, d_inner, d_conv, padding=d_conv // 2, groups=d_inner, bias=True)
        self.forward_scan = ScanParams(d_inner, d_state, self.dt_rank)
        self.backward_scan = ScanParams(d_inner, d_state, self.dt_rank) if scan == "bidirectional" else None
        self.backward_branch = (
            SSMBranch(dim, d_inner, d_state, self.dt_rank, d_conv) if scan == "bidirectional_branch" else None
        )
        self.out_norm = FP32LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, dim, bias=False)

        modulate = insertion == "modulate"
        self.prompt_delta = PromptMapping(embed_dim, prompt_hidden, d_inner) if modulate and prompt_delta else None
        self.prompt_B = PromptMapping(embed_dim, prompt_hidden, d_state) if modulate and prompt_B else None
        self.prompt_C = PromptMapping(embed_dim, prompt_hidden, d_state) if modulate and prompt_C else None
        # P(D) of concat / attention gets the hidden width of M_Δ, M_B and M_C together (capacity matching)
        fusion = {"concat": PromptConcat, "attention": PromptCrossAttention}.get(insertion)
        self.prompt_fusion = fusion(d_inner, embed_dim, 3 * prompt_hidden, fusion_dim) if fusion else None

    @property
    def uses_embedding(self) -> bool:
        """Whether forward needs the degradation embedding (False only with modulate and every prompt off)."""
        return self.insertion != "modulate" or any(
            m is not None for m in (self.prompt_delta, self.prompt_B, self.prompt_C)
        )

    def _scan(self, params: ScanParams, u: Tensor, tokens: Tensor, alphas: Dict[str, Tensor]) -> Tensor:
        delta, B, C = params.project(tokens)
        if "delta" in alphas:
            delta = alphas["delta"][:, :, None] * delta
        if "B" in alphas:
            B = alphas["B"][:, :, None] * B
        if "C" in alphas:
            C = alphas["C"][:, :, None] * C
        A = -torch.exp(params.A_log.float())
        if u.dtype in (torch.float16, torch.bfloat16):  # under autocast: keep the scan's float32 output (a sum of
            u = u.float()  # states, it can pass fp16's 65504) for the float32 out_norm
        # Δ is already softplus-ed and modulated, so the kernel must not apply softplus again
        # (mamba_ssm's delta_softplus).
        return selective_scan(
            u.contiguous(),
            delta.contiguous(),
            A,
            B.contiguous(),
            C.contiguous(),
            D=params.D.float(),
            delta_softplus=False,
            backend=self.scan_backend,
            chunk_size=self.scan_chunk,
            segment=self.scan_segment,
        )

    def _tokens(self, layers: nn.Module, x: Tensor, embedding: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """in_proj → (x, z); x: depthwise conv, SiLU, row-major tokens (b, L, d_inner), prompt fusion.

        z is (b, L, d_inner).
        """
        b, h, w, _ = x.shape
        xs, z = layers.in_proj(x).chunk(2, dim=-1)  # (b, H, W, d_inner) each
        xs = F.silu(layers.conv2d(xs.permute(0, 3, 1, 2).contiguous()))
        tokens = xs.flatten(2).transpose(1, 2)  # (b, L, d_inner), row-major raster order
        if self.prompt_fusion is not None:
            tokens = self.prompt_fusion(tokens, embedding)
        return tokens, z.reshape(b, h * w, -1)

    def forward(self, x: Tensor, embedding: Optional[Tensor] = None) -> Tensor:
        check_features(x, self.dim, "DPSSM")
        b, _, h, w = x.shape
        if self.uses_embedding:
            check_embedding(embedding, b, self.embed_dim, "DPSSM")
        x = x.permute(0, 2, 3, 1)  # (b, H, W, C)
        alphas: Dict[str, Tensor] = {}
        if self.prompt_delta is not None:
            alphas["delta"] = 2.0 * torch.sigmoid(self.prompt_delta(embedding))
        if self.prompt_B is not None:
            alphas["B"] = 1.0 + self.prompt_B(embedding)
        if self.prompt_C is not None:
            alphas["C"] = 1.0 + self.prompt_C(embedding)

        tokens, z = self._tokens(self, x, embedding)
        u = tokens.transpose(1, 2)  # (b, d_inner, L)
        y = self._scan(self.forward_scan, u, tokens, alphas)
        if self.backward_scan is not None:
            y = y + self._scan(self.backward_scan, u.flip(-1), tokens.flip(1), alphas).flip(-1)
        out = self.out_proj(self.out_norm(y.transpose(1, 2)) * F.silu(z))
        if self.backward_branch is not None:
            branch = self.backward_branch
            tokens, z = self._tokens(branch, x, embedding)
            y = self._scan(branch.scan, tokens.transpose(1, 2).flip(-1), tokens.flip(1), alphas).flip(-1)
            out = out + branch.out_proj(branch.out_norm(y.transpose(1, 2)) * F.silu(z))
        return out.view(b, h, w, self.dim).permute(0, 3, 1, 2).contiguous()

    def extra_macs(self, inputs: tuple, output: Tensor) -> Dict[str, int]:
        """MACs the Linear/Conv hooks cannot see: the scan itself (attention reports its own matmuls).

        Scan: 9·b·l·d·n per direction plus b·d·l for the D skip (mamba's/VMamba's flop-counter convention).
        """
        b, _, h, w = output.shape
        length = h * w
        directions = 1 if self.scan == "single" else 2
        return {"scan": directions * (9 * b * length * self.d_inner * self.d_state + b * self.d_inner * length)}
