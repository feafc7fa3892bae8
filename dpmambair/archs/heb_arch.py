"""HEB: the high-frequency enhancement block (paper section 3.5, Eq. 10, Fig. 4b)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dpmambair.utils.registry import ARCH_REGISTRY

from .common import check_features


@ARCH_REGISTRY.register()
class HEB(nn.Module):
    """F_enhanced = F + α·(F − GAP(F)), α learnable per channel, shape (1, C, 1, 1).

    GAP(F) is each channel's mean, i.e. its lowest-frequency (DC) part, so F − GAP(F) is what is left of
    the high frequencies; α re-weights them against the low-frequency bias of all-in-one training.
    α starts at 0 so an untrained HEB is the identity: the block cannot amplify noise before it has
    learnt how much high-frequency detail each channel should get, and a model with HEB starts from
    exactly the same function as one without it (fair ablation, Table 3).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.zeros(1, dim, 1, 1))
        self.alpha._no_weight_decay = True  # type: ignore[attr-defined]  # a gate, not a kernel

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.dim, "HEB")
        return x + self.alpha * (x - x.mean(dim=(2, 3), keepdim=True))
