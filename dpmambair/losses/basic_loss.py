"""Pixel and frequency losses of the paper's stage-2 objective: 1·L1 + 0.5·L2 + 0.001·L_fft (section 3.6).

Every loss takes `loss_weight` and `reduction` ('mean' | 'sum' | 'none') as BasicSR's do, so option
files written for BasicSR/Restormer/AdaIR read the same here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dpmambair.utils.registry import LOSS_REGISTRY

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: str, loss_name: str) -> str:
    """Validate `reduction` once at construction, so a typo fails before training starts."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{loss_name}: unsupported reduction '{reduction}'; choose one of: {', '.join(REDUCTIONS)}")
    return reduction


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    """Apply 'none' | 'mean' | 'sum' to an element-wise loss tensor."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class _WeightedLoss(nn.Module):
    """Common `loss_weight` / `reduction` handling."""

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.reduction = check_reduction(reduction, type(self).__name__)

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}, reduction='{self.reduction}'"


@LOSS_REGISTRY.register()
class L1Loss(_WeightedLoss):
    """Mean absolute error (the paper's L1 term; λ1 = 1)."""

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.loss_weight * F.l1_loss(pred, target, reduction=self.reduction)


@LOSS_REGISTRY.register()
class MSELoss(_WeightedLoss):
    """Mean squared error (the paper's L2 term; λ2 = 0.5)."""

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.loss_weight * F.mse_loss(pred, target, reduction=self.reduction)


@LOSS_REGISTRY.register()
class FFTLoss(_WeightedLoss):
    """Frequency loss (the paper's L_fft; λ3 = 0.001), in the convention of Restormer-family/AdaIR code.

    L1 between the stacked real and imaginary parts of `torch.fft.rfft2(x)` over the last two
    (spatial) dimensions, unnormalised (norm='backward'), averaged over every real number — so
    with 'mean' the value is mean(|Re ΔX|, |Im ΔX|) over B×C×H×(W//2+1)×2 entries. The
    unnormalised spectrum is why the paper's weight is as small as 0.001. The transform runs in
    float32 even under autocast (half-precision FFTs only take power-of-two sizes).
    """

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"FFTLoss: pred shape {tuple(pred.shape)} differs from target shape {tuple(target.shape)}")
        pred_f = torch.fft.rfft2(pred.float(), dim=(-2, -1), norm="backward")
        target_f = torch.fft.rfft2(target.float(), dim=(-2, -1), norm="backward")
        diff = torch.view_as_real(pred_f) - torch.view_as_real(target_f)
        return self.loss_weight * reduce_loss(diff.abs(), self.reduction)
