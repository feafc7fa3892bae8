"""Mixed-precision inference (`precision: bf16 | fp16`): close to fp32, scan and normalisations in float32, and
an fp16 overflow is a clear error instead of a black image."""

from __future__ import annotations

import pytest
import torch
from conftest import load_script
from inference_helpers import save_checkpoint, smooth_image, tiny_nets

from dpmambair.archs.common import FP32LayerNorm, LayerNorm2d
from dpmambair.data.image_io import write_image
from dpmambair.inference.restorer import RestoreError, Restorer


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.from_numpy(smooth_image(40, 48, seed=3).transpose(2, 0, 1).copy())[None]


def restorer(precision: str, seed: int = 0) -> Restorer:
    net_g, net_de = tiny_nets(seed)
    return Restorer(net_g, net_de, precision=precision)


@pytest.mark.parametrize("precision, tol", [("bf16", 0.03), ("fp16", 0.005)])
def test_half_precisions_stay_close_to_fp32(image, precision, tol):
    ref = restorer("fp32")(image)
    out = restorer(precision)(image)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    diff = (out - ref).abs().max().item()
    assert 0 < diff < tol, diff  # not identical (the convolutions did run in half precision), but close


def test_the_scan_and_the_normalisations_run_in_float32_under_autocast(image, monkeypatch):
    import dpmambair.archs.dpssm_arch as dpssm

    seen = []
    real = dpssm.selective_scan

    def spy(u, delta, A, B, C, *args, **kwargs):
        out = real(u, delta, A, B, C, *args, **kwargs)
        seen.append((u.dtype, out.dtype, torch.is_autocast_enabled("cpu")))
        return out

    monkeypatch.setattr(dpssm, "selective_scan", spy)
    restorer("bf16")(image)
    assert seen and all(flag for _, _, flag in seen)  # the restorer ran under autocast
    # the scan gets and returns float32: its output, a sum of states, may pass fp16's 65504 (it did, on real photos)
    assert all(u == out == torch.float32 for u, out, _ in seen)
    x = torch.randn(2, 8, 5, 5, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert LayerNorm2d(8)(x).dtype == torch.float32
        assert FP32LayerNorm(8)(x.permute(0, 2, 3, 1)).dtype == torch.float32
        assert torch.nn.LayerNorm(8)(x.permute(0, 2, 3, 1)).dtype == torch.bfloat16  # what it guards against
    # in float32 both equal the plain computation
    x32 = torch.randn(2, 5, 5, 8)
    ln = FP32LayerNorm(8)
    assert torch.equal(ln(x32), torch.nn.functional.layer_norm(x32, (8,), ln.weight, ln.bias, ln.eps))


def test_an_fp16_overflow_is_an_error_not_a_black_image(image):
    net_g, net_de = tiny_nets(0)
    with torch.no_grad():
        for m in net_g.modules():  # features far beyond fp16's 65504
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(1e6)
                break
    r = Restorer(net_g, net_de, precision="fp32")
    assert torch.isfinite(r(image)).all()  # fp32 copes
    r.precision = "fp16"
    with pytest.raises(RestoreError, match="fp16 overflowed on this image.*fp32 or bf16"):
        r(image)


def test_an_unknown_precision_is_a_one_line_error():
    net_g, net_de = tiny_nets(0)
    with pytest.raises(RestoreError, match="'precision' must be one of fp32, bf16, fp16, got 'fp8'"):
        Restorer(net_g, net_de, precision="fp8")


def test_restore_and_test_scripts_take_precision(tmp_path, image, capsys):
    ckpt = save_checkpoint(tmp_path / "net_g.pth")
    write_image(tmp_path / "in" / "a.png", (image[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8"))
    argv = ["--weights", str(ckpt), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]
    assert load_script("restore").main(argv + ["--precision", "bf16", "--device", "cpu"]) == 0
    assert "in bf16" in capsys.readouterr().out and (tmp_path / "out" / "a.png").is_file()
    assert Restorer.from_checkpoint(ckpt, opt={"precision": "fp16"}).precision == "fp16"
    assert Restorer.from_checkpoint(ckpt).precision == "fp32"


def test_bench_precision_prints_the_difference_and_speed_of_each_precision(tmp_path, capsys):
    from dpmambair.data.demo import load_photo
    from dpmambair.data.image_io import to_uint8

    photo = to_uint8(load_photo("coffee")[100:164, 200:264])
    write_image(tmp_path / "data" / "CBSD68" / "a.png", photo)
    ckpt = save_checkpoint(tmp_path / "net_g.pth")
    bench = load_script("bench_precision")
    argv = ["--weights", str(ckpt), "--data", str(tmp_path / "data"), "--sets", "noise", "--limit", "1"]
    assert bench.main(argv + ["--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "| set | fp32 PSNR | bf16 − fp32 (dB) | fp16 − fp32 (dB) |" in out
    assert "| CBSD68 noise σ=25 |" in out and "× fp32)" in out and "largest |PSNR difference|" in out
    with pytest.raises(SystemExit):
        bench.main(argv + ["--precisions", "bf16"])  # fp32 is the reference: it must be there
