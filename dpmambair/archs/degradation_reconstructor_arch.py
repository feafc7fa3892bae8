"""Reconstructor R(O, D) → Î_D: re-degrades a clean image from the degradation embedding (paper section 3.4).

Only used to pretrain the degradation extractor (stage 1): if R can rebuild the degraded image from the
clean one and D alone, D must hold the degradation's type and strength.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from dpmambair.utils.registry import ARCH_REGISTRY

from .common import ConditionedSequence, check_embedding, check_features, pad_to_multiple


class FiLM(nn.Module):
    """Feature-wise modulation h·(1 + γ(D)) + β(D), per channel and per image.

    The projection is zero-initialised, so the block starts unconditioned and D's influence is learnt.
    """

    def __init__(self, embed_dim: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(embed_dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, embedding: Tensor) -> Tensor:
        gamma, beta = self.proj(embedding)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + gamma) + beta


class FiLMResBlock(nn.Module):
    """conv → FiLM → LeakyReLU → conv, plus the input."""

    def __init__(self, channels: int, embed_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.film = FiLM(embed_dim, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor, embedding: Tensor) -> Tensor:
        return x + self.conv2(F.leaky_relu(self.film(self.conv1(x), embedding), 0.2))


@ARCH_REGISTRY.register()
class DegradationReconstructor(nn.Module):
    """forward(clean (b, 3, H, W), embedding (b, embed_dim)) → reconstructed degraded image (b, 3, H, W).

    A small two-level U-Net of FiLM residual blocks (width, 2·width, 4·width) with a global residual
    (degraded ≈ clean + predicted change); the 1/4-resolution level gives the receptive field that
    blur, haze and low light need.
    """

    def __init__(self, in_channels: int = 3, embed_dim: int = 512, width: int = 32, num_blocks: int = 2) -> None:
        super().__init__()
        self.in_channels, self.embed_dim = in_channels, embed_dim
        w = width
        self.conv_in = nn.Conv2d(in_channels, w, 3, padding=1)
        self.enc1 = ConditionedSequence([FiLMResBlock(w, embed_dim) for _ in range(num_blocks)])
        self.down1 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)
        self.enc2 = ConditionedSequence([FiLMResBlock(2 * w, embed_dim) for _ in range(num_blocks)])
        self.down2 = nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1)
        self.bottleneck = ConditionedSequence([FiLMResBlock(4 * w, embed_dim) for _ in range(num_blocks)])
        self.up2 = nn.Sequential(nn.Conv2d(4 * w, 8 * w, 1), nn.PixelShuffle(2))
        self.dec2 = ConditionedSequence([FiLMResBlock(2 * w, embed_dim) for _ in range(num_blocks)])
        self.up1 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 1), nn.PixelShuffle(2))
        self.dec1 = ConditionedSequence([FiLMResBlock(w, embed_dim) for _ in range(num_blocks)])
        self.conv_out = nn.Conv2d(w, in_channels, 3, padding=1)

    def forward(self, clean: Tensor, embedding: Tensor) -> Tensor:
        check_features(clean, self.in_channels, "DegradationReconstructor", name="clean")
        check_embedding(embedding, clean.shape[0], self.embed_dim, "DegradationReconstructor")
        x, (h, w) = pad_to_multiple(clean, 4)
        e1 = self.enc1(self.conv_in(x), embedding)
        e2 = self.enc2(self.down1(e1), embedding)
        b = self.bottleneck(self.down2(e2), embedding)
        d2 = self.dec2(self.up2(b) + e2, embedding)
        d1 = self.dec1(self.up1(d2) + e1, embedding)
        return (self.conv_out(d1) + x)[:, :, :h, :w]
