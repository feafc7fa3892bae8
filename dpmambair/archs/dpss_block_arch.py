"""DPSS block: the residual block of the DPMambaIR restorer.

MambaIR's residual state-space block with DP-SSM and HEB.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn

from dpmambair.utils.registry import ARCH_REGISTRY

from .common import FeedForward, LayerNorm2d
from .dpssm_arch import DPSSM
from .heb_arch import HEB


@ARCH_REGISTRY.register()
class DPSSBlock(nn.Module):
    """x = s1·x + DPSSM(LN(x), D);  x = s2·x + HEB(FFN(LN(x))).

    s1, s2 are MambaIR's learnable per-channel skip scales (init 1); FFN is Restormer's gated
    depthwise-conv feed-forward network, which brings the local mixing a 1-D scan lacks; HEB restores
    the high frequencies the FFN output tends to lose in all-in-one training. `heb=False` drops the HEB
    (Table 3 rows without it). The other keys are passed to DPSSM.
    """

    def __init__(
        self,
        dim: int,
        d_state: int = 16,
        expand: float = 2,
        dt_rank: Union[int, str] = "auto",
        embed_dim: int = 512,
        ffn_expansion_factor: float = 2.0,
        prompt_delta: bool = True,
        prompt_B: bool = True,
        prompt_C: bool = True,
        heb: bool = True,
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
        self.norm1 = LayerNorm2d(dim)
        self.ssm = DPSSM(
            dim,
            d_state=d_state,
            expand=expand,
            dt_rank=dt_rank,
            embed_dim=embed_dim,
            prompt_delta=prompt_delta,
            prompt_B=prompt_B,
            prompt_C=prompt_C,
            scan=scan,
            insertion=insertion,
            prompt_hidden=prompt_hidden,
            scan_backend=scan_backend,
            d_conv=d_conv,
            scan_chunk=scan_chunk,
            scan_segment=scan_segment,
            fusion_dim=fusion_dim,
        )
        self.skip_scale1 = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.norm2 = LayerNorm2d(dim)
        self.ffn = FeedForward(dim, ffn_expansion_factor)
        self.heb = HEB(dim) if heb else None
        self.skip_scale2 = nn.Parameter(torch.ones(1, dim, 1, 1))
        for scale in (self.skip_scale1, self.skip_scale2):  # gains around 1: weight decay would pull them to 0
            scale._no_weight_decay = True  # type: ignore[attr-defined]

    @property
    def uses_embedding(self) -> bool:
        return self.ssm.uses_embedding

    def forward(self, x: Tensor, embedding: Optional[Tensor] = None) -> Tensor:
        x = self.skip_scale1 * x + self.ssm(self.norm1(x), embedding)
        y = self.ffn(self.norm2(x))
        if self.heb is not None:
            y = self.heb(y)
        return self.skip_scale2 * x + y
