"""DP-SSM: the degradation-aware prompt selective scan layer (paper section 3.5, Eq. 8–9, Fig. 4a)."""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dpmambair.ops.selective_scan import selective_scan
from dpmambair.utils.registry import ARCH_REGISTRY

from .common import check_embedding, check_features, zero_last_linear

SCANS = ("single", "bidirectional")
INSERTIONS = ("modulate", "concat", "attention")
PROMPT_TOKENS = 8  # insertion "attention": the embedding is read as 8 prompt tokens (8 × 64 for 512-d)


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

    def __init__(self, d_inner: int, d_state: int, dt_rank: int, dt_min: float = 1e-3, dt_max: float = 1e-1,
                 dt_init_floor: float = 1e-4) -> None:
        super().__init__()
        self.dt_rank, self.d_state = dt_rank, d_state
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        std = dt_rank ** -0.5
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


class PromptCrossAttention(nn.Module):
    """Insertion "attention": image tokens (queries) attend to the embedding split into prompt tokens."""

    def __init__(self, d_inner: int, embed_dim: int, num_tokens: int = PROMPT_TOKENS) -> None:
        super().__init__()
        if embed_dim % num_tokens:
            raise ValueError(f"DPSSM: 'embed_dim' ({embed_dim}) must be divisible by {num_tokens} for insertion 'attention'")
        self.num_tokens = num_tokens
        self.heads = d_inner // 32 if d_inner % 32 == 0 else 1
        self.q = nn.Linear(d_inner, d_inner, bias=False)
        self.kv = nn.Linear(embed_dim // num_tokens, 2 * d_inner, bias=False)
        self.proj = nn.Linear(d_inner, d_inner, bias=False)

    def forward(self, tokens: Tensor, embedding: Tensor) -> Tensor:
        b, length, d = tokens.shape
        h = self.heads
        q = self.q(tokens).view(b, length, h, d // h).transpose(1, 2)  # (b, h, l, hd)
        k, v = self.kv(embedding.view(b, self.num_tokens, -1)).chunk(2, dim=-1)
        k = k.view(b, self.num_tokens, h, d // h).transpose(1, 2)
        v = v.view(b, self.num_tokens, h, d // h).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)  # (b, h, l, hd)
        return self.proj(out.transpose(1, 2).reshape(b, length, d))


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
    embedding into the tokens before x_proj. `scan="bidirectional"` (Table 5) adds a scan of the reversed
    sequence with its own x_proj, dt_proj, A_log, D (Vim-style); prompts apply to both; outputs are summed.
    """

    def __init__(self, dim: int, d_state: int = 16, expand: float = 2, dt_rank: Union[int, str] = "auto",
                 embed_dim: int = 512, prompt_delta: bool = True, prompt_B: bool = True, prompt_C: bool = True,
                 scan: str = "single", insertion: str = "modulate", prompt_hidden: int = 32,
                 scan_backend: str = "auto", d_conv: int = 3, scan_chunk: Optional[int] = None,
                 scan_segment: Optional[int] = None) -> None:
        super().__init__()
        if scan not in SCANS:
            raise ValueError(f"DPSSM: 'scan' must be one of {', '.join(SCANS)}, got '{scan}'")
        if insertion not in INSERTIONS:
            raise ValueError(f"DPSSM: 'insertion' must be one of {', '.join(INSERTIONS)}, got '{insertion}'")
        if dt_rank != "auto" and not (isinstance(dt_rank, int) and dt_rank > 0):
            raise ValueError(f"DPSSM: 'dt_rank' must be 'auto' or a positive int, got {dt_rank!r}")
        if not (isinstance(d_conv, int) and d_conv > 0 and d_conv % 2):
            raise ValueError(f"DPSSM: 'd_conv' must be a positive odd int (the depthwise conv keeps H, W), got {d_conv!r}")
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
        self.out_norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, dim, bias=False)

        modulate = insertion == "modulate"
        self.prompt_delta = PromptMapping(embed_dim, prompt_hidden, d_inner) if modulate and prompt_delta else None
        self.prompt_B = PromptMapping(embed_dim, prompt_hidden, d_state) if modulate and prompt_B else None
        self.prompt_C = PromptMapping(embed_dim, prompt_hidden, d_state) if modulate and prompt_C else None
        if insertion == "concat":
            self.prompt_proj = nn.Linear(embed_dim, d_inner)
            self.prompt_fuse = nn.Linear(2 * d_inner, d_inner)
        elif insertion == "attention":
            self.prompt_attn = PromptCrossAttention(d_inner, embed_dim)

    @property
    def uses_embedding(self) -> bool:
        """Whether forward needs the degradation embedding (False only with modulate and every prompt off)."""
        return self.insertion != "modulate" or any(
            m is not None for m in (self.prompt_delta, self.prompt_B, self.prompt_C))

    def _scan(self, params: ScanParams, u: Tensor, tokens: Tensor, alphas: Dict[str, Tensor]) -> Tensor:
        delta, B, C = params.project(tokens)
        if "delta" in alphas:
            delta = alphas["delta"][:, :, None] * delta
        if "B" in alphas:
            B = alphas["B"][:, :, None] * B
        if "C" in alphas:
            C = alphas["C"][:, :, None] * C
        A = -torch.exp(params.A_log.float())
        # Δ is already softplus-ed and modulated, so the kernel must not apply softplus again (mamba_ssm's delta_softplus).
        return selective_scan(u.contiguous(), delta.contiguous(), A, B.contiguous(), C.contiguous(), D=params.D.float(),
                              delta_softplus=False, backend=self.scan_backend, chunk_size=self.scan_chunk,
                              segment=self.scan_segment)

    def forward(self, x: Tensor, embedding: Optional[Tensor] = None) -> Tensor:
        check_features(x, self.dim, "DPSSM")
        b, _, h, w = x.shape
        if self.uses_embedding:
            check_embedding(embedding, b, self.embed_dim, "DPSSM")
        x, z = self.in_proj(x.permute(0, 2, 3, 1)).chunk(2, dim=-1)  # (b, H, W, d_inner) each
        x = F.silu(self.conv2d(x.permute(0, 3, 1, 2).contiguous()))
        tokens = x.flatten(2).transpose(1, 2)  # (b, L, d_inner), row-major raster order
        if self.insertion == "concat":
            prompt = self.prompt_proj(embedding)[:, None, :].expand(-1, tokens.shape[1], -1)
            tokens = self.prompt_fuse(torch.cat([tokens, prompt], dim=-1))
        elif self.insertion == "attention":
            tokens = tokens + self.prompt_attn(tokens, embedding)
        alphas: Dict[str, Tensor] = {}
        if self.prompt_delta is not None:
            alphas["delta"] = 2.0 * torch.sigmoid(self.prompt_delta(embedding))
        if self.prompt_B is not None:
            alphas["B"] = 1.0 + self.prompt_B(embedding)
        if self.prompt_C is not None:
            alphas["C"] = 1.0 + self.prompt_C(embedding)

        u = tokens.transpose(1, 2)  # (b, d_inner, L)
        y = self._scan(self.forward_scan, u, tokens, alphas)
        if self.backward_scan is not None:
            y = y + self._scan(self.backward_scan, u.flip(-1), tokens.flip(1), alphas).flip(-1)
        y = self.out_norm(y.transpose(1, 2)) * F.silu(z.reshape(b, h * w, -1))
        return self.out_proj(y).view(b, h, w, self.dim).permute(0, 3, 1, 2).contiguous()

    def extra_macs(self, inputs: tuple, output: Tensor) -> Dict[str, int]:
        """MACs the Linear/Conv hooks cannot see: the scan itself and the attention matmuls.

        Scan: 9·b·l·d·n per direction plus b·d·l for the D skip (mamba's/VMamba's flop-counter convention).
        """
        b, _, h, w = output.shape
        length = h * w
        directions = 2 if self.backward_scan is not None else 1
        macs = {"scan": directions * (9 * b * length * self.d_inner * self.d_state + b * self.d_inner * length)}
        if self.insertion == "attention":
            macs["matmul"] = 2 * b * length * PROMPT_TOKENS * self.d_inner
        return macs
