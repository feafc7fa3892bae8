"""Command-line scripts: synthesize.py, make_demo_data.py, check_dataset.py, prepare_gopro.py, bench_data.py."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

from dpmambair.data import TASKS, build_dataset
from dpmambair.data.degradations import apply_params
from dpmambair.data.image_io import read_image

ROOT = Path(__file__).resolve().parents[1]


def script(name: str):
    """Import scripts/<name>.py as a module (its main(argv) runs in-process: no interpreter start-up)."""
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def clean_images(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        img = cv2.resize(rng.random((4, 4, 3)).astype(np.float32), (40, 32), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"c{i}.png"), (img.clip(0, 1) * 255).round().astype(np.uint8))
    return folder


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_synthesize_cli_writes_a_reproducible_paired_dataset(tmp_path: Path) -> None:
    src = clean_images(tmp_path / "clean")
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "synthesize.py"),
        "--input",
        str(src),
        "--output",
        str(out),
        "--types",
        "rain,fog,noise+jpeg",
        "--seed",
        "0",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert res.returncode == 0, res.stderr
    assert "6 pairs from 2 images" in res.stdout
    lq = sorted(p.name for p in (out / "lq").iterdir())
    assert lq == sorted(p.name for p in (out / "gt").iterdir()) and len(lq) == 6
    records = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert {r["degradation"] for r in records} == {"rain", "fog", "jpeg+noise"}
    for r in records:  # the recorded parameters regenerate every lq (up to 8-bit rounding)
        regen = apply_params(read_image(out / r["gt"]), r["params"])
        assert np.abs(regen - read_image(out / r["lq"])).max() <= 0.5 / 255 + 1e-6
    ds = build_dataset(
        {"type": "PairedImageDataset", "dataroot_lq": str(out / "lq"), "dataroot_gt": str(out / "gt")},
        "o.yml: datasets.val",
    )
    assert len(ds) == 6
    first = tree_digest(out)
    main = script("synthesize").main
    assert (
        main(["--input", str(src), "--output", str(out), "--types", "rain,fog,noise+jpeg", "--seed", "0"]) == 2
    )  # no overwrite
    assert (
        main(
            ["--input", str(src), "--output", str(out), "--types", "rain,fog,noise+jpeg", "--seed", "0", "--overwrite"]
        )
        == 0
    )
    assert tree_digest(out) == first
    assert main(["--input", str(src), "--output", str(tmp_path / "o2"), "--types", "smog"]) == 2


def test_make_demo_data_small(tmp_path: Path, capsys) -> None:
    main = script("make_demo_data").main
    args = ["--train-size", "48", "--eval-size", "32", "--severities", "0.4,0.8"]
    assert main(["--output", str(tmp_path / "a"), *args]) == 0
    assert main(["--output", str(tmp_path / "b"), *args]) == 0
    a = tmp_path / "a"
    assert tree_digest(a) == tree_digest(tmp_path / "b")  # val/test identical across runs
    splits = json.loads((a / "splits.json").read_text())["splits"]
    assert not set(splits["train"]) & (set(splits["val"]) | set(splits["test"]))
    assert not set(splits["val"]) & set(splits["test"])
    assert sorted(p.stem for p in (a / "train" / "clean").iterdir()) == sorted(splits["train"])
    for split in ("val", "test"):
        ds = build_dataset({"type": "MixedDegradationDataset", "dataroot": str(a / split)}, f"o.yml: datasets.{split}")
        assert ds.task_counts() == {t: 2 * len(splits[split]) for t in TASKS}
        s = ds[0]
        assert min(s["gt"].shape[1:]) == 32
        assert all(Path(ds[i]["gt_path"]).stem.split("_s")[0] in splits[split] for i in range(len(ds)))
    train = build_dataset(
        {"type": "SyntheticDegradationDataset", "dataroot_gt": str(a / "train" / "clean"), "gt_size": 32},
        "o.yml: datasets.train",
    )
    assert len(train) == len(splits["train"]) * 7
    assert main(["--output", str(a), *args]) == 2  # refuses to overwrite without --overwrite
    assert main(["--output", str(a), "--overwrite", *args]) == 0


def test_check_dataset_reports_broken_and_passes_good(tmp_path: Path, capsys) -> None:
    good = clean_images(tmp_path / "good" / "gt")
    (tmp_path / "good" / "lq").mkdir()
    for f in good.iterdir():
        (tmp_path / "good" / "lq" / f.name).write_bytes(f.read_bytes())
    bad_root = tmp_path / "bad"
    for side in ("lq", "gt"):
        (bad_root / side).mkdir(parents=True)
        for f in good.iterdir():
            (bad_root / side / f.name).write_bytes(f.read_bytes())
    (bad_root / "lq" / "orphan.png").write_bytes((good / "c0.png").read_bytes())
    cv2.imwrite(str(bad_root / "gt" / "c1.png"), np.zeros((10, 10, 3), np.uint8))
    opt = {
        "name": "t",
        "model_type": "DPMambaIRModel",
        "datasets": {
            "train": {"type": "SyntheticDegradationDataset", "dataroot_gt": str(good), "gt_size": 16},
            "val": {
                "type": "PairedImageDataset",
                "dataroot_lq": str(tmp_path / "good" / "lq"),
                "dataroot_gt": str(tmp_path / "good" / "gt"),
                "task": "noise",
            },
            "val_2": {
                "type": "PairedImageDataset",
                "dataroot_lq": str(bad_root / "lq"),
                "dataroot_gt": str(bad_root / "gt"),
            },
            "val_3": {"type": "MixedDegradationDataset", "dataroot": str(tmp_path / "nowhere")},
        },
    }
    path = tmp_path / "o.yml"
    path.write_text(yaml.safe_dump(opt))
    main = script("check_dataset").main
    assert main(["-opt", str(path)]) == 1
    out = capsys.readouterr().out
    assert "[OK] datasets.train" in out and "[OK] datasets.val (" in out and "noise" in out
    assert "[1 PROBLEM(S)] datasets.val_3" in out and "[2 PROBLEM(S)] datasets.val_2" in out
    assert "lq images without a gt image" in out and "orphan.png" in out
    assert "sizes differ" in out and "gt/c1.png is 10x10" in out
    assert "dataroot folder not found" in out and "nowhere" in out
    assert "3 datasets OK" not in out and "2 of 4 datasets OK" in out
    del opt["datasets"]["val_2"], opt["datasets"]["val_3"]
    path.write_text(yaml.safe_dump(opt))
    assert main(["-opt", str(path)]) == 0


def test_check_dataset_lists_every_problem(tmp_path: Path, capsys) -> None:
    """Construction stops at the first problem; the checker lists them all (unpaired and size mismatch here)."""
    good = clean_images(tmp_path / "gt", n=3)
    (tmp_path / "lq").mkdir()
    for f in good.iterdir():
        (tmp_path / "lq" / f.name).write_bytes(f.read_bytes())
    cv2.imwrite(str(tmp_path / "lq" / "c1.png"), np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "lq" / "c2.png").rename(tmp_path / "lq" / "zz.png")
    path = tmp_path / "o.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "model_type": "M",
                "datasets": {
                    "test_1": {
                        "type": "PairedImageDataset",
                        "dataroot_lq": str(tmp_path / "lq"),
                        "dataroot_gt": str(tmp_path / "gt"),
                    }
                },
            }
        )
    )
    assert script("check_dataset").main(["-opt", str(path), "--quick"]) == 1
    out = capsys.readouterr().out
    assert "zz.png" in out and "c2.png" in out


def test_prepare_gopro(tmp_path: Path) -> None:
    root = tmp_path / "GoPro"
    for seq in ("GOPR0001_11_00", "GOPR0002_11_00"):
        for sub in ("blur", "sharp"):
            clean_images(root / "test" / seq / sub, n=2)
    main = script("prepare_gopro").main
    assert main(["--root", str(root), "--splits", "test", "--flat"]) == 0
    meta = root / "meta_info_test.txt"
    assert meta.read_text().splitlines()[0] == "GOPR0001_11_00/blur/c0.png GOPR0001_11_00/sharp/c0.png"
    ds = build_dataset(
        {
            "type": "PairedImageDataset",
            "dataroot_lq": str(root / "test"),
            "dataroot_gt": str(root / "test"),
            "meta_info_file": str(meta),
            "task": "blur",
        },
        "o.yml: datasets.test_1",
    )
    assert len(ds) == 4
    flat = build_dataset(
        {
            "type": "PairedImageDataset",
            "dataroot_lq": str(root / "test_flat" / "input"),
            "dataroot_gt": str(root / "test_flat" / "target"),
        },
        "o.yml: datasets.test_1",
    )
    assert len(flat) == 4 and flat.pairs[0].key == "GOPR0001_11_00_c0"
    (root / "test" / "GOPR0002_11_00" / "sharp" / "c1.png").unlink()
    assert main(["--root", str(root), "--splits", "test"]) == 2


def test_bench_data_runs(tmp_path: Path, capsys) -> None:
    src = clean_images(tmp_path / "clean", n=2)
    path = tmp_path / "o.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "model_type": "M",
                "datasets": {
                    "train": {
                        "type": "SyntheticDegradationDataset",
                        "dataroot_gt": str(src),
                        "gt_size": 24,
                        "batch_size_per_gpu": 2,
                        "num_worker_per_gpu": 0,
                    }
                },
            }
        )
    )
    assert (
        script("bench_data").main(
            ["-opt", str(path), "--patch", "24", "--samples", "2", "--workers", "1", "--batches", "2", "--no-step"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert all(t in out for t in TASKS) and "samples/s/worker" in out and "DataLoader, 1 workers" in out
