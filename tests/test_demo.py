"""`make demo`'s pipeline (scripts/demo.py) at test size: data → stage 1 → stage 2 → test → table and figure."""

from __future__ import annotations

import json

import cv2
import pytest
from conftest import load_script


def load_demo():
    return load_script("demo")


def test_smoke_pipeline_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    demo = load_demo()
    assert demo.main(["--smoke", "--skip-embeddings"]) == 0
    out = capsys.readouterr().out

    from dpmambair.data import TASKS

    # both stages trained through train.py and left their models; the test used them
    assert (tmp_path / "experiments" / "demo_stage1_extractor" / "models" / "net_de_latest.pth").is_file()
    assert (tmp_path / "experiments" / "demo_stage2_dpmambair" / "models" / "net_g_latest.pth").is_file()
    assert list((tmp_path / "tb_logger" / "demo_stage2_dpmambair").glob("events.out.tfevents.*"))
    summary = json.loads((tmp_path / "results" / "demo" / "demo_summary.json").read_text())
    assert [r["task"] for r in summary["rows"]] == list(TASKS) + ["average"]
    for r in summary["rows"]:
        assert r["gain_psnr"] == pytest.approx(r["psnr"] - r["input_psnr"])
    avg = summary["rows"][-1]
    assert avg["psnr"] == pytest.approx(sum(r["psnr"] for r in summary["rows"][:-1]) / len(TASKS))
    # the printed report: every type, the TensorBoard command, where the figure is
    for task in TASKS:
        assert task in out
    assert "tensorboard --logdir" in out and "comparison.png" in out
    fig = cv2.imread(str(tmp_path / "results" / "demo" / "comparison.png"))
    assert fig is not None and fig.shape[0] > 7 * 32  # seven rows of tiles
    # the demo opens with the shipped model on the same held-out photo, through test.py, with its own table
    shipped = summary["shipped"]
    assert shipped["weights"].endswith("weights/dpmambair_compact.pth")
    assert [r["task"] for r in shipped["rows"]] == list(TASKS) + ["average"]
    assert out.index("the shipped model") < out.index("ten-minute toy") < out.index("stage 1: pretrain")
    assert cv2.imread(str(tmp_path / "results" / "demo" / "shipped_comparison.png")) is not None
    assert len(list((tmp_path / "results" / "demo_test_shipped" / "demo-test").rglob("*.png"))) == len(TASKS)
    # restored images of the held-out split were written by test.py
    assert len(list((tmp_path / "results" / "demo_test" / "demo-test").rglob("*.png"))) == len(TASKS)

    # a second demo never overwrites the first one's experiments: they are archived;
    # --stage2-iters sets the restorer's training length (checkpoints every third of it)
    assert demo.main(["--smoke", "--skip-embeddings", "--stage2-iters", "3"]) == 0
    assert list((tmp_path / "experiments").glob("demo_stage2_dpmambair_archived_*"))
    models = tmp_path / "experiments" / "demo_stage2_dpmambair" / "models"
    assert sorted(p.name for p in models.glob("net_g_[0-9]*.pth")) == ["net_g_1.pth", "net_g_2.pth", "net_g_3.pth"]


def test_stage2_iters_option():
    demo = load_demo()
    assert demo.iteration_overrides(2700) == [
        "train:total_iter=2700",
        "train:scheduler:T_max=2700",
        "val:val_freq=900",
        "logger:save_checkpoint_freq=900",
    ]
    assert demo.parse_args([]).stage2_iters is None
    with pytest.raises(SystemExit):
        demo.parse_args(["--stage2-iters", "0"])


def test_gain_table_formats_every_row():
    demo = load_demo()
    metrics = {"psnr": 20.0, "input_psnr": 15.0, "ssim": 0.8, "input_ssim": 0.6}
    summary = {"sets": {"demo-test": {"tasks": {"noise": {"metrics": metrics}}, "average": metrics}}}
    rows = demo.gain_table(summary)
    assert [r["task"] for r in rows] == ["noise", "average"]
    assert rows[0]["gain_psnr"] == pytest.approx(5.0) and rows[0]["gain_ssim"] == pytest.approx(0.2)
    text = demo.format_gain_table(rows)
    assert "+5.00" in text and "noise" in text
