"""test.py end to end on tiny generated sets with a tiny checkpoint: images, CSV/JSON, archiving, errors."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Dict, List

import cv2
import numpy as np
import pytest
import torch
import yaml
from inference_helpers import TASK_NAMES, save_checkpoint, write_pairs

import dpmambair.test as test_mod

MIXED = "mixed"
PLAIN = "plain"


class FolderPairs(torch.utils.data.Dataset):
    """Stand-in for the data package: `<dataroot>/{lq,gt}` or, with `tasks`, `<dataroot>/<task>/{lq,gt}`."""

    def __init__(self, opt: Dict[str, Any]) -> None:
        root = Path(opt["dataroot"])
        self.items: List[tuple] = []
        tasks = opt.get("tasks")
        for t, name in enumerate(tasks or [None]):
            folder = root / name if name else root
            for lq in sorted((folder / "lq").glob("*.png")):
                self.items.append((lq, folder / "gt" / lq.name, t, name))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        lq, gt, t, name = self.items[i]

        def load(p: Path) -> torch.Tensor:
            img = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
            return torch.from_numpy(img).permute(2, 0, 1).contiguous()

        out = {"lq": load(lq), "gt": load(gt), "lq_path": str(lq), "gt_path": str(gt)}
        if name:
            out.update(task=t, task_name=name)
        return out


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A mixed two-task set with odd sizes, a plain set, a self-contained checkpoint and an option file."""
    for t, name in enumerate(TASK_NAMES):
        write_pairs(tmp_path / "data" / MIXED / name, [(24, 31), (33, 20)], seed=t)
    write_pairs(tmp_path / "data" / PLAIN, [(30, 27), (16, 16)], seed=9)
    ckpt = save_checkpoint(tmp_path / "experiments" / "tiny" / "models" / "net_g_latest.pth")
    monkeypatch.setattr(test_mod, "build_test_set", lambda dopt, source: FolderPairs(dopt))
    monkeypatch.chdir(tmp_path)
    opt = {
        "name": "tiny_test",
        "model_type": "DPMambaIRModel",
        "num_gpu": 0,
        "datasets": {
            "test_1": {
                "name": MIXED,
                "type": "FolderPairs",
                "dataroot": str(tmp_path / "data" / MIXED),
                "tasks": TASK_NAMES,
            },
            "test_2": {"name": PLAIN, "type": "FolderPairs", "dataroot": str(tmp_path / "data" / PLAIN)},
        },
        "path": {"pretrain_network_g": str(ckpt), "strict_load_g": True, "results_root": str(tmp_path / "results")},
        "val": {
            "save_img": True,
            "metrics": {
                "psnr": {"type": "calculate_psnr", "crop_border": 0, "test_y_channel": False},
                "ssim": {"type": "calculate_ssim", "crop_border": 0, "test_y_channel": True},
            },
        },
        "tile": 16,
        "tile_overlap": 8,
    }
    return tmp_path, opt, ckpt


def write_opt(tmp: Path, opt: Dict[str, Any], name: str = "test_tiny.yml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return path


def run_main(args: List[str], capsys) -> tuple:
    with pytest.raises(SystemExit) as info:
        test_mod.main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return info.value.code or 0, out.out, out.err


def check_metrics_against_the_saved_images(summary: Dict[str, Any], csv_rows: List[Dict[str, str]]) -> None:
    """Recompute every image's PSNR (RGB) and SSIM (Y) from the PNG written and its target, with the metric
    functions called directly; they must equal metrics.json's per-image values, whose means are the set's
    values and the CSV's."""
    from dpmambair.metrics import calculate_psnr, calculate_ssim

    checked = 0
    for set_name, result in summary["sets"].items():
        for row in result["images"]:
            out = cv2.imread(row["output"])
            gt = cv2.imread(row["image"].replace(f"{os.sep}lq{os.sep}", f"{os.sep}gt{os.sep}"))
            assert out is not None and gt is not None and out.shape == gt.shape, row
            psnr = calculate_psnr(out, gt, crop_border=0, test_y_channel=False, channel_order="BGR")
            ssim = calculate_ssim(out, gt, crop_border=0, test_y_channel=True, channel_order="BGR")
            assert row["psnr"] == pytest.approx(psnr, abs=1e-9) and row["ssim"] == pytest.approx(ssim, abs=1e-9), (
                row,
                psnr,
                ssim,
            )
            checked += 1
        for metric in ("psnr", "ssim"):
            assert result["metrics"][metric] == pytest.approx(np.mean([r[metric] for r in result["images"]]), abs=1e-9)
            csv_all = next(r for r in csv_rows if r["set"] == set_name and r["task"] == "all")
            assert float(csv_all[metric]) == pytest.approx(result["metrics"][metric], abs=1e-4)
    assert checked == 6


def test_end_to_end_writes_images_csv_json_and_never_overwrites(setup, capsys):
    tmp, opt, _ = setup
    opt_path = write_opt(tmp, opt)
    code, out, err = run_main(["-opt", str(opt_path)], capsys)
    assert code == 0, err
    root = tmp / "results" / "tiny_test"
    for name in TASK_NAMES:
        imgs = sorted((root / MIXED / name).glob("*.png"))
        assert [p.name for p in imgs] == ["000.png", "001.png"]
    plain = root / PLAIN / "000.png"
    assert cv2.imread(str(plain)).shape == (30, 27, 3)  # odd size restored at its own size

    with open(root / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["set"], r["task"], r["count"]) for r in rows] == [
        (MIXED, TASK_NAMES[0], "2"),
        (MIXED, TASK_NAMES[1], "2"),
        (MIXED, "average", "2"),
        (MIXED, "all", "4"),
        (PLAIN, "all", "2"),
    ]
    summary = json.loads((root / "metrics.json").read_text())
    check_metrics_against_the_saved_images(summary, rows)
    mixed = summary["sets"][MIXED]
    per_task = [mixed["tasks"][t]["metrics"]["psnr"] for t in TASK_NAMES]
    assert mixed["average"]["psnr"] == pytest.approx(sum(per_task) / 2)
    assert len(mixed["images"]) == 4 and summary["tile"] == 16
    assert "average" in out and "psnr" in out  # the printed table

    first = (root / "metrics.csv").read_text()
    code, _, err = run_main(["-opt", str(opt_path), "--force_yml", "val:suffix=second"], capsys)
    assert code == 0, err
    archived = [p for p in (tmp / "results").iterdir() if p.name.startswith("tiny_test_archived_")]
    assert len(archived) == 1
    assert (archived[0] / "metrics.csv").read_text() == first
    assert (archived[0] / PLAIN / "000.png").is_file()
    assert (root / PLAIN / "000_second.png").is_file()


def test_tiled_and_whole_results_agree(setup, capsys):
    tmp, opt, _ = setup
    code, _, err = run_main(["-opt", str(write_opt(tmp, opt)), "--force_yml", "name=tiled"], capsys)
    assert code == 0, err
    code, _, err = run_main(["-opt", str(write_opt(tmp, opt)), "--force_yml", "name=whole", "tile=~"], capsys)
    assert code == 0, err
    tiled = json.loads((tmp / "results" / "tiled" / "metrics.json").read_text())["sets"][PLAIN]["metrics"]["psnr"]
    whole = json.loads((tmp / "results" / "whole" / "metrics.json").read_text())["sets"][PLAIN]["metrics"]["psnr"]
    # tiles of 16 px with an 8 px overlap on 27-30 px images (untrained weights): tiling must have run (the
    # results differ) and cost little; its accuracy near a realistic target is tested in test_inference.py
    assert tiled != whole and abs(tiled - whole) < 0.1, (tiled, whole)


def one_line_error(setup, capsys, overrides: List[str], *needles: str) -> str:
    tmp, opt, _ = setup
    code, _, err = run_main(["-opt", str(write_opt(tmp, opt)), "--force_yml", *overrides], capsys)
    assert code == 2
    line = err.strip()
    assert "\n" not in line and line.startswith("error:"), err
    for needle in needles:
        assert needle in line, line
    return line


def test_missing_pretrain_network_g(setup, capsys):
    one_line_error(setup, capsys, ["path:pretrain_network_g=~"], "path.pretrain_network_g")


def test_missing_checkpoint_file(setup, capsys):
    one_line_error(setup, capsys, ["path:pretrain_network_g=nowhere/net_g.pth"], "nowhere/net_g.pth", "not found")


def test_unknown_metric_type(setup, capsys):
    one_line_error(setup, capsys, ["val:metrics:psnr:type=calculate_psnrr"], "val.metrics.psnr", "calculate_psnrr")
    assert not (setup[0] / "results" / "tiny_test").exists()  # nothing started


def test_mismatched_checkpoint_strict(setup, capsys):
    tmp, opt, ckpt = setup
    obj = torch.load(ckpt, weights_only=False)
    obj["params"].pop("output.weight")
    torch.save(obj, ckpt)
    one_line_error(setup, capsys, ["name=strict"], str(ckpt), "output.weight")
    code, _, err = run_main(["-opt", str(write_opt(tmp, opt)), "--force_yml", "path:strict_load_g=false"], capsys)
    assert code == 0, err


def test_results_folder_under_a_file(setup, capsys):
    blocker = setup[0] / "blocker"
    blocker.write_text("a file, not a folder")
    one_line_error(setup, capsys, [f"path:results_root={blocker}"], "cannot write the results folder", str(blocker))


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX permissions or a read-only sysfs")
def test_unwritable_results_folder(setup, capsys):
    """A folder the user may not write: a chmod 500 folder, or (root ignores modes, as in CI) read-only /sys."""
    tmp = setup[0]
    if os.geteuid() != 0:
        locked = tmp / "locked"
        locked.mkdir()
        locked.chmod(0o500)
    else:
        locked = Path("/sys")
        assert locked.is_dir(), "running as root needs Linux's /sys, where even root cannot create folders"
    try:
        one_line_error(setup, capsys, [f"path:results_root={locked}"], "cannot write the results folder", str(locked))
    finally:
        if locked != Path("/sys"):
            locked.chmod(0o700)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_gpu_requested_on_cpu_falls_back_with_a_warning(setup, capsys):
    tmp, opt, _ = setup
    opt = dict(opt, num_gpu=1, datasets={"test_2": opt["datasets"]["test_2"]})
    code, out, err = run_main(["-opt", str(write_opt(tmp, opt))], capsys)
    assert code == 0, err
    assert "no CUDA device" in out + err and "CPU" in out + err


def test_no_test_sets(setup, capsys):
    tmp, opt, _ = setup
    opt = dict(opt, datasets={"train": opt["datasets"]["test_2"]})
    code, _, err = run_main(["-opt", str(write_opt(tmp, opt))], capsys)
    assert code == 2 and "datasets.test_1" in err


def test_with_the_data_package(tmp_path, monkeypatch, capsys):
    """test.py with the real dataset registry and PairedImageDataset (no stand-in)."""
    import dpmambair.data  # noqa: F401  (importing registers the datasets)
    from dpmambair.utils.registry import DATASET_REGISTRY

    assert DATASET_REGISTRY.find("PairedImageDataset") is not None, "PairedImageDataset is not registered"
    write_pairs(tmp_path / "pairs", [(20, 28), (19, 24)])
    ckpt = save_checkpoint(tmp_path / "net_g.pth")
    monkeypatch.chdir(tmp_path)
    opt = {
        "name": "real_data",
        "model_type": "DPMambaIRModel",
        "num_gpu": 0,
        "datasets": {
            "test_1": {
                "name": "pairs",
                "type": "PairedImageDataset",
                "phase": "test",
                "dataroot_lq": str(tmp_path / "pairs" / "lq"),
                "dataroot_gt": str(tmp_path / "pairs" / "gt"),
                "io_backend": {"type": "disk"},
            }
        },
        "path": {"pretrain_network_g": str(ckpt)},
    }
    code, _, err = run_main(["-opt", str(write_opt(tmp_path, opt))], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "results" / "real_data" / "pairs").glob("*.png"))) == 2


def test_colliding_file_names_get_their_folders_as_prefix(tmp_path):
    used: set = set()
    names = [
        test_mod._image_path(tmp_path, p, "", used).name
        for p in [
            "d/GOPR1/blur/000001.png",
            "d/GOPR2/blur/000001.png",
            "d/GOPR2/blur/000002.png",
            "d/GOPR1/blur/000001.png",
        ]
    ]
    assert names == ["000001.png", "blur_000001.png", "000002.png", "GOPR1_blur_000001.png"]


def test_score_input_reports_the_degraded_inputs_scores(setup, capsys):
    """val.score_input adds input_<metric> columns equal to the metric of the untouched input."""
    from dpmambair.metrics import calculate_psnr

    tmp, opt, _ = setup
    opt["val"]["score_input"] = True
    code, out, err = run_main(["-opt", str(write_opt(tmp, opt))], capsys)
    assert code == 0, err
    root = tmp / "results" / "tiny_test"
    with open(root / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert all(r["input_psnr"] and r["input_ssim"] for r in rows)
    images = json.loads((root / "metrics.json").read_text())["sets"][PLAIN]["images"]
    for row in images:
        lq_path = Path(row["image"])
        lq = cv2.imread(str(lq_path))
        gt = cv2.imread(str(lq_path.parent.parent / "gt" / lq_path.name))
        assert row["input_psnr"] == pytest.approx(calculate_psnr(lq, gt), abs=1e-6)
        assert row["input_psnr"] != pytest.approx(row["psnr"])  # the restorer changed the image
    assert "input_psnr" in out


def test_metric_conventions_are_scored_and_recorded(setup, capsys):
    """`convention: skimage` scores the unrounded output (PromptIR/AdaIR); metrics.json says which convention
    produced each number; a wrong convention is a one-line error before anything runs."""
    tmp, opt, _ = setup
    opt["val"]["score_input"] = True
    opt["val"]["metrics"] = {
        "psnr": {"type": "calculate_psnr"},
        "psnr_sk": {"type": "calculate_psnr", "convention": "skimage"},
        "ssim": {"type": "calculate_ssim"},
        "ssim_sk": {"type": "calculate_ssim", "convention": "skimage"},
    }
    code, _, err = run_main(["-opt", str(write_opt(tmp, opt))], capsys)
    assert code == 0, err
    summary = json.loads((tmp / "results" / "tiny_test" / "metrics.json").read_text())
    assert summary["conventions"]["psnr"].startswith("basicsr:")
    assert summary["conventions"]["psnr_sk"].startswith("skimage:")
    for row in summary["sets"][PLAIN]["images"]:
        # the inputs are 8-bit already: both PSNR conventions agree on them, and differ on the float output
        assert row["input_psnr_sk"] == pytest.approx(row["input_psnr"], abs=1e-5)
        assert row["psnr_sk"] != pytest.approx(row["psnr"], abs=1e-6)
        assert abs(row["psnr_sk"] - row["psnr"]) < 0.5
        assert row["ssim_sk"] != pytest.approx(row["ssim"], abs=1e-4)
    one_line_error(setup, capsys, ["val:metrics:psnr:convention=matlab"], "val.metrics.psnr", "basicsr, skimage")


def test_precision_flag_reaches_the_restorer_and_metrics_json(setup, capsys):
    tmp, opt, _ = setup
    code, out, err = run_main(["-opt", str(write_opt(tmp, opt)), "--precision", "bf16"], capsys)
    assert code == 0, err
    summary = json.loads((tmp / "results" / "tiny_test" / "metrics.json").read_text())
    assert summary["precision"] == "bf16"
    one_line_error(setup, capsys, ["precision=fp8"], "'precision' must be one of fp32, bf16, fp16")
