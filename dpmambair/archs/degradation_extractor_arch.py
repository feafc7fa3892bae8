"""Degradation extractor E: degraded image → 512-d degradation embedding D (paper section 3.4, Fig. 3b)."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dpmambair.utils.registry import ARCH_REGISTRY

from .common import check_features

# "large" is wider and deeper than "normal": base width, stride-2 stages per branch, convs per stage.
VERSIONS: Dict[str, Dict[str, int]] = {
    "normal": dict(width=32, stages=4, convs_per_stage=1),
    "large": dict(width=48, stages=4, convs_per_stage=2),
}
ARTIFACT_DILATIONS = (1, 2, 4)  # the three CDC groups: receptive fields for small, medium and large artifacts


class CentralDifferenceConv2d(nn.Module):
    """Central difference convolution: y = conv(x, w) − θ·x_center·Σw.

    Σ_k w_k (x_k − x_center) responds to local differences (edges, texture, blur, noise) rather than to
    the intensity level; θ blends it with the plain conv (θ = 0: plain conv). Implemented as a conv minus
    θ times a 1×1 conv with the kernel summed over its window. Replicate padding, because zero padding
    would make every image border look like a strong edge.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        theta: float = 0.7,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.theta = theta
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            dilation=dilation,
            padding=dilation * (kernel_size // 2),
            padding_mode="replicate",
            bias=bias,
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        if self.theta == 0:
            return out
        kernel_sum = self.conv.weight.sum(dim=(2, 3), keepdim=True)
        return out - self.theta * F.conv2d(x, kernel_sum, stride=self.conv.stride)

    def extra_macs(self, inputs: tuple, output: Tensor) -> Dict[str, int]:
        """The 1×1 central-difference conv, which the Conv2d hook does not see."""
        return {"conv": output.numel() * self.conv.in_channels if self.theta else 0}


def _plain_conv(in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1, theta: float = 0.0) -> nn.Module:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=dilation, dilation=dilation, bias=True)


def _cdc(in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1, theta: float = 0.7) -> nn.Module:
    return CentralDifferenceConv2d(in_ch, out_ch, 3, stride=stride, dilation=dilation, theta=theta)


class ExtractorBranch(nn.Module):
    """Conv stem at full resolution, then stride-2 stages (channels doubling up to 4× width), then GAP.

    The first conv of the stem sets the branch's kind (CDC or plain) and scale (dilation).
    """

    def __init__(
        self,
        in_channels: int,
        width: int,
        stages: int,
        convs_per_stage: int,
        conv: Callable[..., nn.Module],
        dilation: int = 1,
        theta: float = 0.7,
    ) -> None:
        super().__init__()
        layers: List[nn.Module] = [
            conv(in_channels, width, dilation=dilation, theta=theta),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        channels = width
        for i in range(stages):
            out = width * min(2 ** (i + 1), 4)
            layers += [conv(channels, out, stride=2, theta=theta), nn.LeakyReLU(0.2, inplace=True)]
            for _ in range(convs_per_stage - 1):
                layers += [conv(out, out, theta=theta), nn.LeakyReLU(0.2, inplace=True)]
            channels = out
        self.body = nn.Sequential(*layers)
        self.out_channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).mean(dim=(2, 3))


@ARCH_REGISTRY.register()
class DegradationExtractor(nn.Module):
    """Degraded image (b, 3, H, W), any H, W → degradation embedding D (b, embed_dim).

    Five branches after the imaging model of Eq. 6: a CDC branch for edge/texture cues (illumination,
    blur); three CDC groups at dilations 1, 2, 4 for artifacts of different sizes (rain streaks, snow,
    compression blocks); a plain conv branch for brightness, which a difference operator cannot see.
    Each branch downsamples with stride-2 convs and is globally average-pooled (so any image size
    works); the pooled vectors are concatenated and an MLP maps them to D. No batch normalisation:
    one batch mixes degradations and each image's embedding must depend on that image only.
    """

    def __init__(
        self,
        version: str = "normal",
        in_channels: int = 3,
        embed_dim: int = 512,
        theta: float = 0.7,
        width: Optional[int] = None,
    ) -> None:
        super().__init__()
        if version not in VERSIONS:
            raise ValueError(f"DegradationExtractor: 'version' must be one of {', '.join(VERSIONS)}, got '{version}'")
        cfg = dict(VERSIONS[version])
        if width is not None:  # the CPU demo's small extractor: the version's depth at a smaller base width
            if not isinstance(width, int) or isinstance(width, bool) or width < 1:
                raise ValueError(
                    f"DegradationExtractor: 'width' must be a positive int or null (the version's), got {width!r}"
                )
            cfg["width"] = width
        self.version, self.in_channels, self.embed_dim = version, in_channels, embed_dim

        def branch(conv: Callable[..., nn.Module], dilation: int = 1) -> ExtractorBranch:
            return ExtractorBranch(
                in_channels, cfg["width"], cfg["stages"], cfg["convs_per_stage"], conv, dilation=dilation, theta=theta
            )

        self.edge_branch = branch(_cdc)
        self.artifact_branches = nn.ModuleList([branch(_cdc, d) for d in ARTIFACT_DILATIONS])
        self.brightness_branch = branch(_plain_conv)
        total = self.edge_branch.out_channels * (2 + len(ARTIFACT_DILATIONS))
        self.mlp = nn.Sequential(nn.Linear(total, embed_dim), nn.GELU(), nn.Linear(embed_dim, embed_dim))

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_channels, "DegradationExtractor")
        feats = [self.edge_branch(x)] + [b(x) for b in self.artifact_branches] + [self.brightness_branch(x)]
        return self.mlp(torch.cat(feats, dim=1))
