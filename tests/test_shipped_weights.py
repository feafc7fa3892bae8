"""The shipped compact model (weights/dpmambair_compact.pth): a safe-loadable file that restores real photos.

These tests run real images through the real weights; they fail (never skip) when the file is missing or corrupt.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from conftest import load_script

from dpmambair.data.benchmark_sets import add_gaussian_noise, synth_u8
from dpmambair.data.demo import load_photo
from dpmambair.data.image_io import to_uint8, write_image
from dpmambair.inference.restorer import Restorer
from dpmambair.inference.weights import FORMAT, SHIPPED_WEIGHTS, read_weights, shipped_weights
from dpmambair.metrics.psnr_ssim_metric import calculate_psnr
from dpmambair.utils.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def restorer():
    return Restorer.from_checkpoint(shipped_weights())


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 160×160 crop of the held-out demo photo (skimage's chelsea; never in any training set), 8-bit."""
    return to_uint8(load_photo("chelsea")[60:220, 150:310])


def restore(restorer, lq: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(lq.transpose(2, 0, 1).copy()).float().div(255)[None]
    return to_uint8(restorer(x)[0].permute(1, 2, 0).numpy())


def test_the_shipped_file_is_small_safe_to_load_and_complete():
    assert SHIPPED_WEIGHTS.is_file(), f"{SHIPPED_WEIGHTS} is missing: the repository ships it"
    assert SHIPPED_WEIGHTS.stat().st_size <= 25 * 2**20
    obj = torch.load(SHIPPED_WEIGHTS, map_location="cpu", weights_only=True)  # tensors and plain data only
    assert obj["format"] == FORMAT
    assert obj["network_g"]["type"] == "DPMambaIR" and obj["network_de"]["type"] == "DegradationExtractor"
    assert set(obj["prototypes"]["names"]) == {"lowlight", "snow", "rain", "fog", "jpeg", "noise", "blur"}
    # the options of both stages travel with the weights, as plain data
    assert obj["options"]["stage2"]["datasets"]["train"]["meta_info_file"].endswith("CBSD432_train.txt")
    assert obj["options"]["stage1"]["model_type"] == "ExtractorPretrainModel"
    assert obj["meta"]["iter"] == obj["options"]["stage2"]["train"]["total_iter"]


@pytest.mark.parametrize(
    "kind, make, min_gain",
    [
        ("noise σ25", lambda gt: add_gaussian_noise(gt, 25, seed=1), 3.0),
        ("low light", lambda gt: synth_u8(gt, "lowlight", 0.6, seed=2), 3.0),
        ("rain", lambda gt: synth_u8(gt, "rain", 0.6, seed=3), 1.0),
    ],
)
def test_the_shipped_model_restores_a_real_photo_it_never_saw(restorer, photo, kind, make, min_gain):
    lq = make(photo)
    out = restore(restorer, lq)
    gain = calculate_psnr(out, photo) - calculate_psnr(lq, photo)
    assert gain > min_gain, f"{kind}: {gain:+.2f} dB"


def test_the_shipped_model_names_the_degradation_of_a_real_photo(restorer, photo):
    noisy = torch.from_numpy(add_gaussian_noise(photo, 50, seed=4).transpose(2, 0, 1).copy()).float().div(255)[None]
    dark = torch.from_numpy(synth_u8(photo, "lowlight", 0.8, seed=5).transpose(2, 0, 1).copy()).float().div(255)[None]
    assert [name for name, _ in restorer.nearest_degradation(torch.cat([noisy, dark]))] == ["noise", "lowlight"]


def test_a_corrupt_or_foreign_weights_file_is_a_one_line_error(tmp_path):
    cut = tmp_path / "cut.pth"
    cut.write_bytes(SHIPPED_WEIGHTS.read_bytes()[:4096])
    with pytest.raises(CheckpointError, match="cut.pth: not a readable weights file"):
        read_weights(cut)
    with pytest.raises(CheckpointError, match="cut.pth: not a readable PyTorch checkpoint"):
        Restorer.from_checkpoint(cut)
    foreign = tmp_path / "foreign.pth"
    torch.save({"params": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a DPMambaIR weights file"):
        read_weights(foreign)
    with pytest.raises(CheckpointError, match="missing.pth: weights not found"):
        read_weights(tmp_path / "missing.pth")


def test_restore_script_uses_the_shipped_weights_when_none_are_given(tmp_path, photo, capsys):
    noisy = add_gaussian_noise(photo, 25, seed=6)
    write_image(tmp_path / "in" / "cat.png", noisy)
    assert load_script("restore").main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "dpmambair_compact.pth" in out and "noise" in out
    from dpmambair.data.image_io import read_image

    restored = to_uint8(read_image(tmp_path / "out" / "cat.png"))
    assert calculate_psnr(restored, photo) > calculate_psnr(noisy, photo) + 3.0


def test_a_missing_shipped_file_says_how_to_get_it_back(tmp_path, monkeypatch):
    import dpmambair.inference.weights as weights

    monkeypatch.setattr(weights, "SHIPPED_WEIGHTS", tmp_path / "weights" / "dpmambair_compact.pth")
    with pytest.raises(CheckpointError, match="git checkout -- weights/"):
        weights.shipped_weights()
    shutil.rmtree(tmp_path / "weights", ignore_errors=True)
