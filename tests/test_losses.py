"""Pixel/frequency losses and `build_loss` (LPIPSLoss is covered in test_lpips.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from dpmambair.losses import LOSS_REGISTRY, build_loss
from dpmambair.losses.basic_loss import FFTLoss, L1Loss, MSELoss
from dpmambair.utils.options import OptionError


@pytest.fixture()
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 16, 20, generator=gen, dtype=torch.float64), torch.rand(
        2, 3, 16, 20, generator=gen, dtype=torch.float64
    )


def test_registered_names() -> None:
    for name in ("L1Loss", "MSELoss", "FFTLoss", "LPIPSLoss"):
        assert name in LOSS_REGISTRY


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_l1_mse_weight_and_reduction(pair, reduction: str) -> None:
    pred, target = pair
    torch.testing.assert_close(L1Loss(2.0, reduction)(pred, target), 2.0 * F.l1_loss(pred, target, reduction=reduction))
    torch.testing.assert_close(
        MSELoss(0.5, reduction)(pred, target), 0.5 * F.mse_loss(pred, target, reduction=reduction)
    )


def test_fft_loss_is_l1_of_rfft2_real_and_imag(pair) -> None:
    pred, target = pair
    p, t = np.fft.rfft2(pred.float().numpy()), np.fft.rfft2(target.float().numpy())  # unnormalised, last two axes
    expected = np.mean(np.concatenate([np.abs(p.real - t.real).ravel(), np.abs(p.imag - t.imag).ravel()]))
    assert FFTLoss(loss_weight=1.0)(pred, target).item() == pytest.approx(expected, rel=1e-5)
    assert FFTLoss(loss_weight=0.001)(pred, target).item() == pytest.approx(0.001 * expected, rel=1e-5)
    assert FFTLoss(reduction="none")(pred, target).shape == (2, 3, 16, 11, 2)
    assert FFTLoss()(pred, pred).item() == 0.0


def test_losses_backpropagate_and_accept_bf16(pair) -> None:
    pred, target = (x.float() for x in pair)
    pred.requires_grad_(True)
    total = L1Loss(1.0)(pred, target) + MSELoss(0.5)(pred, target) + FFTLoss(0.001)(pred, target)
    total.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert torch.isfinite(FFTLoss()(pred.detach().bfloat16(), target.bfloat16()))


def test_build_loss_from_options_case_insensitive(pair) -> None:
    pred, target = pair
    stage2 = [
        build_loss({"type": "l1loss", "loss_weight": 1.0}, "x.yml: train.pixel_opt"),
        build_loss({"type": "MSELoss", "loss_weight": 0.5, "reduction": "mean"}, "x.yml: train.mse_opt"),
        build_loss({"type": "fftloss", "loss_weight": 0.001}, "x.yml: train.fft_opt"),
    ]
    assert [type(m) for m in stage2] == [L1Loss, MSELoss, FFTLoss]
    assert [m.loss_weight for m in stage2] == [1.0, 0.5, 0.001]
    assert torch.isfinite(sum(m(pred, target) for m in stage2))


def test_build_loss_errors_are_one_line_naming_the_source() -> None:
    src = "options/x.yml: train.pixel_opt"
    with pytest.raises(OptionError) as err:
        build_loss({"type": "L1Los", "loss_weight": 1}, src)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(src) and "L1Los" in msg
    assert all(name in msg for name in ("L1Loss", "MSELoss", "FFTLoss", "LPIPSLoss"))
    with pytest.raises(OptionError, match=r"options/x\.yml: train\.pixel_opt: a loss needs a 'type'"):
        build_loss({"loss_weight": 1}, src)
    with pytest.raises(OptionError, match="L1Loss has no argument 'los_weight'"):
        build_loss({"type": "L1Loss", "los_weight": 1}, src)
    with pytest.raises(OptionError, match="unsupported reduction 'avg'"):
        build_loss({"type": "MSELoss", "reduction": "avg"}, src)
