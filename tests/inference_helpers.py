"""Shared helpers for the inference tests: tiny networks, tiny checkpoints, tiny image folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import cv2
import numpy as np
import torch
from torch import nn

from dpmambair.archs import build_network

EMBED = 32
TINY_G: Dict[str, Any] = {
    "type": "DPMambaIR",
    "dim": 8,
    "num_blocks": [1, 1, 1, 1],
    "num_refinement_blocks": 1,
    "d_state": 4,
    "prompt_hidden": 8,
    "ffn_expansion_factor": 1.0,
    "embed_dim": EMBED,
}
TINY_DE: Dict[str, Any] = {"type": "DegradationExtractor", "version": "normal", "embed_dim": EMBED}
TASK_NAMES = ["rain", "noise"]


class CountingExtractor(nn.Module):
    """A stand-in extractor that counts its calls: the embedding must be computed once per image."""

    def __init__(self, dim: int = EMBED) -> None:
        super().__init__()
        self.proj = nn.Linear(3, dim)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.proj(x.mean(dim=(2, 3)))


class TinyConditionedNet(nn.Module):
    """A stand-in restorer: residual conv net modulated by the embedding; counts its calls."""

    uses_embedding = True
    prompt_source = "extractor"
    inp_channels = 3

    def __init__(self, dim: int = EMBED) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
        self.scale = nn.Linear(dim, 3)
        self.calls = 0
        self.sizes: List[tuple] = []

    def forward(
        self, x: torch.Tensor, embedding: Optional[torch.Tensor] = None, task: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        self.calls += 1
        self.sizes.append(tuple(x.shape[-2:]))
        assert embedding is not None and embedding.shape[0] == x.shape[0]
        return x + 0.1 * self.body(x) * torch.sigmoid(self.scale(embedding))[:, :, None, None]


def tiny_nets(seed: int = 0, g_opt: Optional[Dict[str, Any]] = None):
    torch.manual_seed(seed)
    net_g = build_network(dict(g_opt or TINY_G))
    net_de = build_network(dict(TINY_DE))
    return net_g, net_de


def save_checkpoint(
    path: Path, seed: int = 0, prototypes: bool = True, ema: bool = False, g_opt: Optional[Dict[str, Any]] = None
) -> Path:
    """A self-contained restorer file in the format the training side writes (net_g_<iter>.pth)."""
    net_g, net_de = tiny_nets(seed, g_opt)
    protos = None
    if prototypes:
        gen = torch.Generator().manual_seed(7)
        protos = {"names": list(TASK_NAMES), "embeddings": torch.randn(len(TASK_NAMES), EMBED, generator=gen)}
    obj = {
        "params": net_g.state_dict(),
        "network_g": dict(g_opt or TINY_G),
        "network_de": dict(TINY_DE),
        "params_de": net_de.state_dict(),
        "prototypes": protos,
        "iter": 4,
    }
    if ema:
        obj["params_ema"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in net_g.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB float image in [0, 1] (something a restorer can be judged on)."""
    rng = np.random.default_rng(seed)
    base = rng.random((5, 5, 3)).astype(np.float32)
    return cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def write_pairs(folder: Path, sizes: List[tuple], seed: int = 0, prefix: str = "") -> List[str]:
    """lq/ and gt/ PNG pairs (lq = darker, noisier gt); returns the stems."""
    rng = np.random.default_rng(seed)
    (folder / "lq").mkdir(parents=True, exist_ok=True)
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    stems = []
    for i, (h, w) in enumerate(sizes):
        gt = smooth_image(h, w, seed + i)
        lq = (gt * 0.6 + rng.normal(0, 0.03, gt.shape)).clip(0, 1)
        stem = f"{prefix}{i:03d}"
        cv2.imwrite(str(folder / "gt" / f"{stem}.png"), (gt * 255).round().astype(np.uint8))
        cv2.imwrite(str(folder / "lq" / f"{stem}.png"), (lq * 255).round().astype(np.uint8))
        stems.append(stem)
    return stems
