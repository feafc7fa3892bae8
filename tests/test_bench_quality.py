"""The benchmark protocol (dpmambair.data.benchmark_sets), the classical baselines, and scripts/bench_quality.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import load_script

from dpmambair.data.benchmark_sets import (
    add_gaussian_noise,
    build_sets,
    jpeg_u8,
    pairs_in,
    read_u8,
    synth_u8,
)
from dpmambair.data.demo import load_photo
from dpmambair.data.image_io import to_uint8, write_image
from dpmambair.inference.baselines import dark_channel_prior, equalise_luma, nl_means
from dpmambair.metrics.psnr_ssim_metric import calculate_psnr

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return to_uint8(load_photo("coffee")[100:196, 200:328])  # 96×128, 8-bit RGB


def test_gaussian_noise_protocol_is_rounded_clipped_seeded_and_has_the_right_sigma(photo):
    a, b = add_gaussian_noise(photo, 25, seed=3), add_gaussian_noise(photo, 25, seed=3)
    assert a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, add_gaussian_noise(photo, 25, seed=4))
    mid = (photo > 60) & (photo < 195)  # away from the clipping ends
    assert np.std((a.astype(float) - photo)[mid]) == pytest.approx(25, rel=0.06)


def test_jpeg_protocol_matches_opencv_and_keeps_grey_images_grey(photo):
    q10, q40 = jpeg_u8(photo, 10, grey=False), jpeg_u8(photo, 40, grey=False)
    assert calculate_psnr(q10, photo) < calculate_psnr(q40, photo) < 99
    grey = np.repeat(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    g = jpeg_u8(grey, 10, grey=True)
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 1], g[..., 2])
    ok, enc = cv2.imencode(".jpg", grey[..., 0], [cv2.IMWRITE_JPEG_QUALITY, 10])
    assert np.array_equal(g[..., 0], cv2.imdecode(enc, cv2.IMREAD_UNCHANGED))


def test_seven_type_inputs_are_deterministic_and_degraded(photo):
    for task in ("lowlight", "rain", "blur"):
        a = synth_u8(photo, task, 0.6, seed=5)
        assert np.array_equal(a, synth_u8(photo, task, 0.6, seed=5))
        assert calculate_psnr(a, photo) < 35


def test_classical_baselines_restore_what_they_are_for(photo):
    noisy = add_gaussian_noise(photo, 25, seed=1)
    assert calculate_psnr(nl_means(noisy, 20), photo) > calculate_psnr(noisy, photo) + 3
    dark = synth_u8(photo, "lowlight", 0.6, seed=2)
    assert equalise_luma(dark).mean() > dark.mean() + 40
    hazy = synth_u8(photo, "fog", 0.6, seed=3)
    assert calculate_psnr(dark_channel_prior(hazy), photo) > calculate_psnr(hazy, photo)


def fake_root(root: Path, photo: np.ndarray) -> Path:
    """A data root with the benchmark layout, filled with small skimage crops (the real sets are research-only)."""
    write_image(root / "CBSD68" / "a.png", photo)
    write_image(root / "CBSD68" / "b.png", photo[::-1].copy())
    write_image(root / "benchmarks" / "LIVE1" / "c.png", photo[:, ::-1].copy())  # also found under benchmarks/
    pair = root / "real_pairs" / "low_light"
    write_image(pair / "gt" / "p.png", photo)
    write_image(pair / "lq" / "p.png", (photo * 0.15).astype(np.uint8))
    write_image(pair / "lq" / "unpaired.png", photo)
    return root


def test_build_sets_finds_the_layout_and_names_what_is_missing(tmp_path, photo):
    root = fake_root(tmp_path, photo)
    skipped = []
    sets = build_sets(root, ("noise", "jpeg", "types", "real"), limit=1, skipped=skipped)
    keys = [s.key for s in sets]
    assert keys[:3] == ["CBSD68 noise σ=15", "CBSD68 noise σ=25", "CBSD68 noise σ=50"]
    assert "LIVE1 JPEG q=10" in keys and "CBSD68 blur s=0.9" in keys and "LOL eval15 (real low light)" in keys
    assert len([k for k in keys if k.startswith("CBSD68 ") and " s=" in k]) == 21
    assert any(s.startswith("Classic5: not found") for s in skipped)
    assert any(s.startswith("real_pairs/rain: not found") for s in skipped)
    assert all(s.count == 1 for s in sets)  # --limit 1
    assert [p[0].name for p in pairs_in(root / "real_pairs" / "low_light")] == ["p.png"]
    case = next(sets[1].make())
    assert case.param == 25.0 and np.array_equal(case.gt, read_u8(root / "CBSD68" / "a.png")[0])
    again = next(build_sets(root, ("noise",), limit=1)[1].make())
    assert np.array_equal(case.lq, again.lq)  # the same noisy input in every run


def test_bench_quality_end_to_end_on_a_small_root(tmp_path, photo, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = fake_root(tmp_path / "data", photo)
    bench = load_script("bench_quality")
    code = bench.main(["--data", str(root), "--sets", "noise,jpeg,real", "--limit", "1", "--output", "out"])
    assert code == 0
    out = capsys.readouterr().out
    assert "skipped Classic5: not found" in out and "| CBSD68 noise σ=25 | 1 |" in out
    res = json.loads((tmp_path / "out" / "quality.json").read_text())
    rows = {r["set"]: r for r in res["results"]}
    assert set(rows) == {
        "CBSD68 noise σ=15",
        "CBSD68 noise σ=25",
        "CBSD68 noise σ=50",
        "LIVE1 JPEG q=10",
        "LIVE1 JPEG q=20",
        "LIVE1 JPEG q=30",
        "LIVE1 JPEG q=40",
        "LOL eval15 (real low light)",
    }
    for r in rows.values():
        assert r["gain_psnr"] == pytest.approx(r["ours"]["psnr"] - r["input"]["psnr"])
    noise = rows["CBSD68 noise σ=25"]
    assert noise["baseline"]["name"] == "OpenCV NL-means" and noise["baseline"]["psnr"] > noise["input"]["psnr"]
    assert noise["ours"]["psnr"] > noise["input"]["psnr"] + 3  # the shipped weights denoise
    assert [p["method"] for p in noise["published"]] == ["CBM3D", "DnCNN", "FFDNet", "PromptIR"]
    assert "baseline" not in rows["LIVE1 JPEG q=10"]  # no fair classical JPEG baseline
    assert rows["LOL eval15 (real low light)"]["baseline"]["name"] == "hist. equalisation (Y)"
    assert "| CBSD68 noise σ=25 |" in (tmp_path / "out" / "quality.md").read_text()


def test_bench_quality_bad_arguments(tmp_path, capsys):
    bench = load_script("bench_quality")
    with pytest.raises(SystemExit):
        bench.parse_args(["--sets", "noise,colour"])
    assert "--sets: unknown colour" in capsys.readouterr().err
    assert bench.main(["--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nowhere" in err
    assert bench.main(["--data", str(tmp_path)]) == 2
    assert "none of the benchmark sets was found" in capsys.readouterr().err


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"needs the benchmark copies in {SHARED} (CI has them)")
def test_bench_quality_reads_every_real_pair_folder_of_the_shared_data():
    skipped = []
    sets = build_sets(SHARED, ("real",), limit=1, skipped=skipped)
    assert skipped == [] and len(sets) == 8, skipped
    for s in sets:
        case = next(s.make())
        assert case.lq.shape == case.gt.shape and case.lq.dtype == np.uint8
    assert os.path.isdir(SHARED / "benchmarks" / "CBSD68")
