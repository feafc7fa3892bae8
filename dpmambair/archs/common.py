"""Unregistered building blocks shared by the networks (Restormer-style helpers and input checks)."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dpmambair.utils.misc import describe_shape


def check_features(x: object, channels: int, who: str, name: str = "x") -> None:
    """Raise ValueError unless `x` is a (b, channels, H, W) tensor; the message names the argument."""
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{who}: '{name}' must have shape (b, {channels}, H, W), got {describe_shape(x)}")


def check_embedding(embedding: object, batch: int, embed_dim: int, who: str, name: str = "embedding") -> None:
    """Raise ValueError unless `embedding` is a (batch, embed_dim) floating tensor."""
    if embedding is None:
        raise ValueError(f"{who}: '{name}' is required, expected shape ({batch}, {embed_dim})")
    if (
        not isinstance(embedding, Tensor)
        or embedding.dim() != 2
        or tuple(embedding.shape) != (batch, embed_dim)
        or not embedding.is_floating_point()
    ):
        raise ValueError(
            f"{who}: '{name}' must be a float tensor of shape ({batch}, {embed_dim}), got {describe_shape(embedding)}"
        )


class ConditionedSequence(nn.ModuleList):
    """Blocks applied in turn, each given the same per-image embedding: `block(x, embedding)`."""

    def forward(self, x: Tensor, embedding: Optional[Tensor]) -> Tensor:  # type: ignore[override]
        for block in self:
            x = block(x, embedding)
        return x


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (b, C, H, W) map, with weight and bias (Restormer's WithBias_LayerNorm).

    Normalising each pixel on its own keeps images of a batch independent (unlike BatchNorm), which the
    all-in-one setting needs: one batch mixes several degradations.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        # at least float32, also under bf16/fp16 autocast (a variance of half floats is coarse); the result stays
        # float32 there, as CUDA autocast's layer_norm returns it, and the next convolution casts it down
        x = x.to(torch.promote_types(x.dtype, torch.float32))
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        x = (x - mu) / torch.sqrt(var + self.eps)
        return x * self.weight[:, None, None].to(x.dtype) + self.bias[:, None, None].to(x.dtype)


class FP32LayerNorm(nn.LayerNorm):
    """nn.LayerNorm that computes (and returns) at least float32 whatever its input's dtype.

    Why: CPU autocast runs layer_norm in bf16/fp16 while CUDA autocast keeps it in float32; the normalisations
    must not lose precision in a mixed-precision forward on either. Same parameters and state-dict keys as
    nn.LayerNorm; in float32 or float64 it is nn.LayerNorm.
    """

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        wide = x.to(torch.promote_types(x.dtype, torch.float32))
        weight = None if self.weight is None else self.weight.to(wide.dtype)
        bias = None if self.bias is None else self.bias.to(wide.dtype)
        return F.layer_norm(wide, self.normalized_shape, weight, bias, self.eps)


class FeedForward(nn.Module):
    """Restormer's gated depthwise-conv feed-forward network (GDFN).

    1×1 expansion to two branches, 3×3 depthwise conv for local context, GELU gate, 1×1 projection back.
    The depthwise conv supplies the local mixing that a 1-D scan lacks.
    """

    def __init__(self, dim: int, ffn_expansion_factor: float = 2.66, bias: bool = False) -> None:
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, kernel_size=3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class Downsample(nn.Module):
    """3×3 conv halving the channels, then PixelUnshuffle(2): H/2, W/2, 2C (Restormer)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """3×3 conv doubling the channels, then PixelShuffle(2): 2H, 2W, C/2 (Restormer)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels * 2, 3, padding=1, bias=False), nn.PixelShuffle(2))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def pad_to_multiple(x: Tensor, multiple: int = 8) -> Tuple[Tensor, Tuple[int, int]]:
    """Pad H and W at the bottom/right up to a multiple of `multiple`; returns (padded, (h, w)) to crop back.

    The one padding of the package: the networks pad their input with it and inference pads whole images.
    Reflect padding continues the image content (zero padding would add edges the network would try to
    "restore"); images too small to reflect (pad ≥ size) fall back to replicate padding.
    """
    if not isinstance(x, Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"pad_to_multiple: 'x' must be a float tensor of shape (b, c, H, W), got {describe_shape(x)}")
    if not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"pad_to_multiple: 'multiple' must be a positive int, got {multiple!r}")
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def zero_last_linear(module: nn.Module) -> None:
    """Zero the weight and bias of the last nn.Linear in `module` (an untrained mapping outputs 0)."""
    last: Optional[nn.Linear] = None
    for m in module.modules():
        if isinstance(m, nn.Linear):
            last = m
    if last is not None:
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)
