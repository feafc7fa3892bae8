"""scripts/restore.py: any size and image format in, PNG out, the closest degradation printed, one-line errors."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from inference_helpers import TASK_NAMES, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("restore_script", ROOT / "scripts" / "restore.py")
restore = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(restore)  # type: ignore[union-attr]


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "in"
    d.mkdir()
    cv2.imwrite(str(d / "rgb.png"), (rng.random((21, 33, 3)) * 255).astype(np.uint8))
    cv2.imwrite(str(d / "gray.png"), (rng.random((17, 18)) * 255).astype(np.uint8))
    cv2.imwrite(str(d / "rgba.png"), (rng.random((16, 20, 4)) * 255).astype(np.uint8))
    cv2.imwrite(str(d / "deep.png"), (rng.random((19, 25, 3)) * 65535).astype(np.uint16))
    cv2.imwrite(str(d / "rgb.jpg"), (rng.random((9, 40, 3)) * 255).astype(np.uint8))
    (d / "notes.txt").write_text("not an image, skipped")
    return d


def test_restores_a_folder_of_mixed_formats(tmp_path, folder, capsys):
    ckpt = save_checkpoint(tmp_path / "net_g.pth")
    code = restore.main(
        [
            "--weights",
            str(ckpt),
            "--input",
            str(folder),
            "--output",
            str(tmp_path / "out"),
            "--tile",
            "16",
            "--tile_overlap",
            "8",
            "--device",
            "cpu",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    expected = {
        "rgb_png.png": ((21, 33, 3), np.uint8),
        "rgb_jpg.png": ((9, 40, 3), np.uint8),
        "gray.png": ((17, 18, 3), np.uint8),
        "rgba.png": ((16, 20, 4), np.uint8),
        "deep.png": ((19, 25, 3), np.uint16),
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(expected)
    for name, (shape, dtype) in expected.items():
        img = cv2.imread(str(tmp_path / "out" / name), cv2.IMREAD_UNCHANGED)
        assert img.shape == shape and img.dtype == dtype, name
    rgba_in = cv2.imread(str(folder / "rgba.png"), cv2.IMREAD_UNCHANGED)
    rgba_out = cv2.imread(str(tmp_path / "out" / "rgba.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(rgba_in[..., 3], rgba_out[..., 3])  # alpha put back unchanged
    lines = [line for line in out.splitlines() if "closest degradation" in line]
    assert len(lines) == 5 and all(any(t in line for t in TASK_NAMES) for line in lines)


def test_single_file_and_no_prototypes(tmp_path, folder, capsys):
    ckpt = save_checkpoint(tmp_path / "net_g.pth", prototypes=False)
    code = restore.main(["--weights", str(ckpt), "--input", str(folder / "rgb.png"), "--output", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 0 and (tmp_path / "o" / "rgb.png").is_file()
    assert "no degradation prototypes" in out and "closest degradation" not in out


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err, err
    return err


def test_missing_weights_input_and_unreadable_image(tmp_path, folder, capsys):
    ckpt = save_checkpoint(tmp_path / "net_g.pth")
    assert (
        restore.main(["--weights", str(tmp_path / "none.pth"), "--input", str(folder), "--output", str(tmp_path / "o")])
        == 2
    )
    assert str(tmp_path / "none.pth") in one_line(capsys)
    assert (
        restore.main(["--weights", str(ckpt), "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o")])
        == 2
    )
    assert "missing" in one_line(capsys)
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    assert restore.main(["--weights", str(ckpt), "--input", str(bad), "--output", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error:") and str(bad) in err[0] and "cannot read" in err[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_cpu_machine(tmp_path, folder, capsys):
    ckpt = save_checkpoint(tmp_path / "net_g.pth")
    assert (
        restore.main(
            ["--weights", str(ckpt), "--input", str(folder), "--output", str(tmp_path / "o"), "--device", "cuda"]
        )
        == 2
    )
    assert "no CUDA device" in one_line(capsys)


def test_command_line(tmp_path, folder):
    """The script as users run it: no PYTHONPATH, another working directory."""
    ckpt = save_checkpoint(tmp_path / "net_g.pth")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "restore.py"),
            "--weights",
            str(ckpt),
            "--input",
            str(folder / "gray.png"),
            "--output",
            "restored",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "restored" / "gray.png").is_file() and "closest degradation" in res.stdout


def test_report_lists_similarities_and_min_confidence_leaves_unrecognised_images_alone(tmp_path, folder, capsys):
    import json

    ckpt = save_checkpoint(tmp_path / "net_g.pth")
    args = ["--weights", str(ckpt), "--input", str(folder / "rgb.png"), "--device", "cpu"]
    assert restore.main(args + ["--output", str(tmp_path / "a"), "--report", str(tmp_path / "a.json")]) == 0
    first = json.loads((tmp_path / "a.json").read_text())["images"][0]
    assert set(first["similarities"]) == set(TASK_NAMES) and first["restored"] is True
    assert first["confidence"] == max(first["similarities"].values())
    assert first["nearest"] == max(first["similarities"], key=first["similarities"].get)
    restored = cv2.imread(str(tmp_path / "a" / "rgb.png"))
    assert not np.array_equal(restored, cv2.imread(str(folder / "rgb.png")))

    # a threshold above the image's confidence: the output is the input, and the report and the log say so
    above = min(1.0, first["confidence"] + 0.01)
    code = restore.main(
        args + ["--output", str(tmp_path / "b"), "--report", str(tmp_path / "b.json"), "--min-confidence", str(above)]
    )
    assert code == 0
    assert "left unchanged" in capsys.readouterr().out
    second = json.loads((tmp_path / "b.json").read_text())
    assert second["min_confidence"] == above and second["images"][0]["restored"] is False
    assert np.array_equal(cv2.imread(str(tmp_path / "b" / "rgb.png")), cv2.imread(str(folder / "rgb.png")))
    # below it: restored as without the threshold
    below = str(first["confidence"] - 0.01)
    assert restore.main(args + ["--output", str(tmp_path / "c"), "--min-confidence", below]) == 0
    assert np.array_equal(cv2.imread(str(tmp_path / "c" / "rgb.png")), restored)


def test_report_needs_prototypes_and_the_threshold_is_a_cosine(tmp_path, folder, capsys):
    ckpt = save_checkpoint(tmp_path / "net_g.pth", prototypes=False)
    args = ["--weights", str(ckpt), "--input", str(folder), "--output", str(tmp_path / "o")]
    assert restore.main(args + ["--report", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--report" in err and "no degradation prototypes" in err
    assert not (tmp_path / "r.json").exists()
    with pytest.raises(SystemExit):
        restore.parse_args(args + ["--min-confidence", "1.5"])
    assert "--min-confidence must lie in [-1, 1]" in capsys.readouterr().err
