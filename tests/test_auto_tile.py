"""`tile: auto`: a tile from the free memory, the whole image when it fits, a smaller tile after an
out-of-memory error, and the same output as a fixed tile."""

from __future__ import annotations

import logging

import pytest
import torch
from inference_helpers import smooth_image, tiny_nets

import dpmambair.inference.auto_tile as auto_tile
import dpmambair.inference.restorer as restorer_mod
from dpmambair.inference.restorer import RestoreError, Restorer


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.from_numpy(smooth_image(150, 200, seed=5).transpose(2, 0, 1).copy())[None]


def make(tile, overlap: int = 16) -> Restorer:
    net_g, net_de = tiny_nets(1)
    return Restorer(net_g, net_de, tile=tile, tile_overlap=overlap)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).pow(2).mean()))


def test_choose_tile_follows_free_memory():
    kib = 1024.0
    assert auto_tile.choose_tile(kib, 2**40, 3000, 4000) is None  # plenty: whole image
    tile = auto_tile.choose_tile(kib, 2**30, 3000, 4000)  # 0.5 GiB budget / 1 KiB per pixel → 724 → 720
    assert tile == 720
    assert auto_tile.choose_tile(kib, 2**20, 3000, 4000) == auto_tile.MIN_TILE  # never below the minimum
    assert auto_tile.smaller_tile(720, 3000, 4000) == 360 and auto_tile.smaller_tile(None, 300, 400) == 200
    assert auto_tile.smaller_tile(64, 3000, 4000) is None
    assert auto_tile.free_memory_bytes(torch.device("cpu")) > 0


def test_bytes_per_pixel_counts_every_module_output():
    layer = torch.nn.Conv2d(3, 5, 3, padding=1)
    like = torch.zeros(1, 3, 1, 1)
    assert auto_tile.bytes_per_pixel(layer, layer, like) == 5 * 4  # one map of 5 float32 channels
    net, _ = tiny_nets(0)
    emb = {"embedding": torch.zeros(1, 32)}
    per_pixel = auto_tile.bytes_per_pixel(net, lambda t: net(t, **emb), like)
    assert per_pixel > 10 * 8 * 4  # many full-resolution maps of dim 8 in float32
    assert not any(m._forward_hooks for m in net.modules())  # the probe leaves no hook behind


def test_auto_uses_the_free_memory_and_matches_a_fixed_tile(image, monkeypatch, caplog):
    whole = make(None)(image)
    r = make("auto")
    assert torch.equal(r(image), whole) and r.last_tile is None  # this machine has room for 150×200
    monkeypatch.setattr(restorer_mod, "free_memory_bytes", lambda device: 4 * 2**20)  # a tiny device
    with caplog.at_level(logging.INFO, logger="dpmambair"):
        out = r(image)
    assert r.last_tile is not None and 64 <= r.last_tile < 200 and r.last_tile % 8 == 0
    assert "tile auto:" in caplog.text
    fixed = make(r.last_tile)(image)
    assert torch.allclose(out, fixed, atol=1e-6)
    assert abs(psnr(out, image) - psnr(fixed, image)) < 0.1


def test_an_out_of_memory_error_halves_the_tile_and_says_so(image, monkeypatch, caplog):
    r = make("auto")
    monkeypatch.setattr(restorer_mod, "free_memory_bytes", lambda device: 2**40)  # believes it all fits
    real = restorer_mod.tiled_forward
    calls = []

    def whole_image_runs_out(fn, x, tile, overlap=32):
        calls.append(tile)
        return real(fn, x, tile, overlap)

    monkeypatch.setattr(restorer_mod, "tiled_forward", whole_image_runs_out)
    real_pad = restorer_mod.pad_to_multiple

    def pad_then_fail(x, multiple=8):  # the whole-image path: fail as an allocator would
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99999999999 bytes")

    monkeypatch.setattr(restorer_mod, "pad_to_multiple", pad_then_fail)
    with caplog.at_level(logging.INFO, logger="dpmambair"):
        out = r(image)
    assert r.last_tile == 96 and calls and calls[0] == 96  # 200 // 2 → 96 (a multiple of 8)
    assert "out of memory with tile off (whole image); retrying with tile 96" in caplog.text
    monkeypatch.setattr(restorer_mod, "pad_to_multiple", real_pad)
    assert torch.allclose(out, make(96)(image), atol=1e-6)


def test_running_out_at_the_smallest_tile_is_a_clear_error(image, monkeypatch):
    r = make("auto")
    monkeypatch.setattr(restorer_mod, "free_memory_bytes", lambda device: 1)

    def fail(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(restorer_mod, "tiled_forward", fail)
    with pytest.raises(RestoreError, match="out of memory on cpu even with 64-pixel tiles"):
        r(image)
    with pytest.raises(RestoreError, match="tile auto: \\[0, 56\\]"):
        make("auto", overlap=60)
    with pytest.raises(RestoreError, match="'auto', or 0/null"):
        make("big")
