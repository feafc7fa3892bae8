"""scripts/run_ablation.py: rows read their overrides from options/ablation, identical rows share an experiment,
and a whole table runs end to end at a tiny scale (stage 1 trained on demand, reuse, archiving, Markdown/JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import load_script  # noqa: E402

from dpmambair.ablation import (
    TABLES,
    config_key,
    experiment_status,
    plan_rows,
    plan_stage1,
    read_row_overrides,
    read_stage1_overrides,
    row_options,
)
from dpmambair.utils.options import OptionError, load_with_inheritance

ROOT = Path(__file__).resolve().parents[1]
ABLATION = ROOT / "options" / "ablation"
TASKS7 = ["lowlight", "snow", "rain", "fog", "jpeg", "noise", "blur"]


def _script():
    return load_script("run_ablation")


def _base():
    """A stand-in base: the paper-scale options (what every ablation file inherits)."""
    return load_with_inheritance(ROOT / "options" / "allinone.yml")


# ---- rows ----------------------------------------------------------------------------------------------
def test_every_table_row_names_an_existing_ablation_file():
    for table in TABLES.values():
        for row in table.rows:
            assert (ABLATION / f"{row.file}.yml").is_file(), row.file
            assert not row.stage1 or (ABLATION / f"{row.stage1}.yml").is_file(), row.stage1


def test_table4_has_every_paper_row_with_an_option_file():
    """Paper Table 4: Classes, OneRestore*, concat, attention and ours, all run by --table 4 (issue 21)."""
    labels = [r.label for r in TABLES[4].rows]
    assert labels[:2] == ["Classes", "OneRestore* (classification extractor)"] and "Concat" in labels
    onerestore = next(r for r in TABLES[4].rows if r.label.startswith("OneRestore"))
    assert read_stage1_overrides(ABLATION / f"{onerestore.stage1}.yml") == {"train": {"pretext": "classification"}}
    full_scale = load_with_inheritance(ABLATION / f"{onerestore.stage1}.yml")
    assert full_scale["model_type"] == "ExtractorPretrainModel" and full_scale["train"]["pretext"] == "classification"
    # the paper-scale stage 2 reads what the paper-scale stage 1 writes
    stage2 = load_with_inheritance(ABLATION / f"{onerestore.file}.yml")
    assert stage2["path"]["pretrain_network_de"] == f"experiments/{full_scale['name']}/models/net_de_latest.pth"


def test_a_row_with_its_own_stage1_reads_that_stage_s_extractor(tmp_path):
    base = _base()
    stage1 = ROOT / "options" / "demo" / "stage1.yml"
    plans1 = plan_stage1(TABLES[4], stage1, ABLATION, "p")
    ((stem, opt1),) = plans1.items()
    assert opt1["name"] == "p_stage1_table4_onerestore" and opt1["train"]["pretext"] == "classification"
    assert (
        opt1["train"]["total_iter"] == load_with_inheritance(stage1)["train"]["total_iter"]
    )  # stage 1 keeps its budget
    ext = {stem: tmp_path / "cls.pth"}
    plans = {row.file: opt for row, _, _, opt in plan_rows(TABLES[4], base, ABLATION, 3, "p", ext)}
    assert plans["table4_onerestore"]["path"]["pretrain_network_de"] == str(tmp_path / "cls.pth")
    assert plans["table4_onerestore"]["name"] == "p_table4_onerestore_it3"
    assert plans["table4_modulate"]["path"]["pretrain_network_de"] == base["path"]["pretrain_network_de"]
    with pytest.raises(OptionError, match=r"stage1/table4_onerestore\) need --stage1-opt"):
        plan_stage1(TABLES[4], None, ABLATION, "p")
    with pytest.raises(OptionError, match="needs the extractor of its stage 1"):
        plan_rows(TABLES[4], base, ABLATION, 3, "p")


def test_row_overrides_are_read_from_the_ablation_files():
    baseline = read_row_overrides(ABLATION / "table3_baseline.yml")
    assert baseline["network_g"] == {"prompt_delta": False, "prompt_B": False, "prompt_C": False, "heb": False}
    assert "name" not in baseline and "train" not in baseline  # only network_g / network_de / path
    assert read_row_overrides(ABLATION / "table5_bidirectional.yml")["network_g"]["scan"] == "bidirectional"
    classes = read_row_overrides(ABLATION / "table4_classes.yml")
    assert classes["network_de"] is None and classes["path"] == {"pretrain_network_de": None}
    assert classes["network_g"]["prompt_source"] == "classes"
    assert read_row_overrides(ABLATION / "table3_full.yml") == {}  # the full model overrides nothing


def test_row_options_apply_overrides_over_the_base_with_the_tables_budget():
    base = _base()
    opt = row_options(base, read_row_overrides(ABLATION / "table3_baseline.yml"), "x_baseline", 7)
    g = opt["network_g"]
    assert (g["prompt_delta"], g["prompt_B"], g["prompt_C"], g["heb"]) == (False, False, False, False)
    assert g["dim"] == base["network_g"]["dim"] and g["num_blocks"] == base["network_g"]["num_blocks"]
    assert opt["name"] == "x_baseline" and opt["train"]["total_iter"] == 7 and opt["train"]["scheduler"]["T_max"] == 7
    assert opt["manual_seed"] == base["manual_seed"] and "inherit" not in opt
    bi = row_options(base, read_row_overrides(ABLATION / "table5_bidirectional.yml"), "x_bi", 7)
    assert bi["network_g"]["scan"] == "bidirectional" and bi["network_g"]["prompt_C"] is False
    assert base["network_g"]["scan"] == "single"  # the base itself is untouched


def test_identical_rows_share_one_experiment_key():
    base = _base()
    keys = {}
    for table in TABLES.values():
        for row in table.rows:
            opt = row_options(base, read_row_overrides(ABLATION / f"{row.file}.yml"), "probe", 1)
            keys[row.file] = config_key(row, opt, base)
    assert keys["table3_full"] == keys["table4_modulate"] == keys["table5_prompt_C"] == "full"
    assert keys["table3_baseline"] == "table3_baseline" and keys["table4_classes"] == "table4_classes"
    assert keys["table4_onerestore"] == "table4_onerestore"  # another extractor: never the full model's experiment
    assert len({keys[f] for f in keys if f not in ("table3_full", "table4_modulate", "table5_prompt_C")}) == 8


def test_the_plan_follows_the_files_not_a_copy_in_code(tmp_path):
    folder = tmp_path / "ablation"
    folder.mkdir()
    for f in ABLATION.glob("table3_*.yml"):
        (folder / f.name).write_text(f.read_text())
    edited = yaml.safe_load((folder / "table3_baseline.yml").read_text())
    edited["network_g"]["d_state"] = 5
    (folder / "table3_baseline.yml").write_text(yaml.safe_dump(edited))
    plans = plan_rows(TABLES[3], _base(), folder, 9, "p")
    assert [row.label for row, *_ in plans] == ["Baseline", "(a)", "(b)", "DPMambaIR"]
    baseline = plans[0][3]
    assert baseline["network_g"]["d_state"] == 5 and baseline["network_g"]["heb"] is False
    assert baseline["name"] == "p_table3_baseline_it9" and plans[3][3]["name"] == "p_full_it9"
    assert all(opt["network_g"]["d_state"] == 16 for *_, opt in plans[1:])


def test_a_bad_ablation_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "table9_x.yml"
    bad.write_text("network_g: [1, 2]\n")
    with pytest.raises(OptionError, match=r"table9_x.yml: 'network_g' must be a mapping"):
        read_row_overrides(bad)
    with pytest.raises(OptionError, match="option file not found"):
        read_row_overrides(tmp_path / "missing.yml")


# ---- end to end ----------------------------------------------------------------------------------------
def _write(path: Path, opt: dict) -> Path:
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return path


def _tiny_setup(tmp: Path) -> dict:
    """Tiny demo data and tiny stage-1 / stage-2 / test option files over the real demo ones."""
    from dpmambair.data.demo import build_demo

    demo = tmp / "demo"
    build_demo(demo, train_size=40, eval_size=32, severities=(0.5,))
    common = {
        "num_gpu": 0,
        "path": {"root": str(tmp)},
        "logger": {"print_freq": 1, "save_checkpoint_freq": 100, "use_tb_logger": False, "progress_bar": False},
    }
    train_data = {
        "dataroot_gt": str(demo / "train" / "clean"),
        "gt_size": 32,
        "batch_size_per_gpu": 2,
        "num_worker_per_gpu": 0,
        "dataset_enlarge_ratio": 1,
    }
    val_data = {"dataroot": str(demo / "val")}
    tiny_de = {"type": "DegradationExtractor", "version": "normal", "width": 8, "embed_dim": 32}
    stage1 = _write(
        tmp / "stage1.yml",
        {
            "inherit": str(ROOT / "options" / "demo" / "stage1.yml"),
            "name": "tiny_stage1",
            **common,
            "datasets": {"train": train_data, "val": val_data},
            "network_de": tiny_de,
            "network_r": {"type": "DegradationReconstructor", "embed_dim": 32, "width": 8, "num_blocks": 1},
            "train": {"total_iter": 2, "scheduler": {"T_max": 2}, "perceptual_opt": None},  # no LPIPS weights needed
        },
    )
    stage2 = _write(
        tmp / "stage2.yml",
        {
            "inherit": str(ROOT / "options" / "demo" / "stage2.yml"),
            "name": "tiny",
            **common,
            "path": {
                "root": str(tmp),
                "pretrain_network_de": str(tmp / "experiments" / "tiny_stage1" / "models" / "net_de_latest.pth"),
            },
            "datasets": {"train": train_data, "val": val_data},
            "network_g": {
                "dim": 8,
                "num_blocks": [1, 1, 1, 1],
                "num_refinement_blocks": 0,
                "d_state": 4,
                "embed_dim": 32,
                "prompt_hidden": 8,
                "ffn_expansion_factor": 1.0,
            },
            "network_de": tiny_de,
            "train": {"total_iter": 3, "scheduler": {"T_max": 3}},
        },
    )
    test = _write(
        tmp / "test.yml",
        {
            "inherit": "stage2.yml",
            "name": "tiny_test",
            "datasets": {
                "train": None,
                "val": None,
                "test_1": {
                    "name": "tiny-test",
                    "type": "MixedDegradationDataset",
                    "phase": "test",
                    "dataroot": str(demo / "test"),
                    "degradations": TASKS7,
                },
            },
            "val": {"save_img": False, "score_input": True},
        },
    )
    return {"stage1": stage1, "stage2": stage2, "test": test}


def test_tables_run_end_to_end_at_a_tiny_scale(tmp_path, capsys, one_thread):
    files = _tiny_setup(tmp_path)
    out5 = tmp_path / "out5"
    args = [
        "--iters",
        "2",
        "--opt",
        str(files["stage2"]),
        "--test-opt",
        str(files["test"]),
        "--stage1-opt",
        str(files["stage1"]),
        "--stats-size",
        "32",
    ]
    # an earlier run of the bidirectional row with other options: archived by the trainer, never overwritten
    stale = tmp_path / "experiments" / "tiny_abl_table5_bidirectional_it2"
    stale.mkdir(parents=True)
    (stale / "marker.txt").write_text("earlier run")

    assert _script().main(["--table", "5", "--output", str(out5), *args]) == 0
    printed = capsys.readouterr().out
    assert "stage 1: " in printed and "training it with" in printed  # the shared extractor was missing
    assert (tmp_path / "experiments" / "tiny_stage1" / "models" / "net_de_latest.pth").is_file()
    # the full model (a row of every table) is trained first, whatever its place in the table
    assert printed.index("training tiny_abl_full_it2") < printed.index("training tiny_abl_table5_bidirectional_it2")
    table = printed[printed.index("### Table 5") :]
    assert "2 iterations" in table and "| Bi-direction scan |" in table and "| Prompt matrix C |" in table
    report = json.loads((out5 / "table5.json").read_text())
    assert report["iterations"] == 2 and [r["label"] for r in report["rows"]] == [
        "Bi-direction scan",
        "Prompt matrix C",
    ]
    for r in report["rows"]:
        assert r["psnr"] > 5 and 0 < r["ssim"] <= 1 and r["params_m"] > 0 and r["gmacs"] > 0
        assert sorted(r["tasks"]) == sorted(TASKS7) and not r["reused"]
    bi, full = report["rows"]
    assert bi["experiment"] == "tiny_abl_table5_bidirectional_it2" and full["experiment"] == "tiny_abl_full_it2"
    assert bi["overrides"]["network_g"]["scan"] == "bidirectional" and bi["params_m"] != full["params_m"]
    assert (out5 / "table5.md").read_text().startswith("### Table 5")
    archived = [p for p in stale.parent.iterdir() if p.name.startswith(stale.name + "_archived_")]
    assert len(archived) == 1 and (archived[0] / "marker.txt").read_text() == "earlier run"
    assert yaml.safe_load((stale / "options_resolved.yml").read_text())["network_g"]["scan"] == "bidirectional"

    # Table 4: the full model (extractor + modulation) is reused from Table 5; the other rows are trained
    out4 = tmp_path / "out4"
    assert _script().main(["--table", "4", "--output", str(out4), *args]) == 0
    printed = capsys.readouterr().out
    assert "reusing the extractor" in printed and "reusing tiny_abl_full_it2" in printed
    report = json.loads((out4 / "table4.json").read_text())
    labels = [r["label"] for r in report["rows"]]
    assert labels == [r.label for r in TABLES[4].rows]
    by_label = {r["label"]: r for r in report["rows"]}
    assert (
        by_label["Modulation (ours)"]["experiment"]
        == by_label["Reconstruction extractor (ours)"]["experiment"]
        == "tiny_abl_full_it2"
    )
    assert by_label["Modulation (ours)"]["reused"] and not by_label["Classes"]["reused"]
    classes_ckpt = tmp_path / "experiments" / "tiny_abl_table4_classes_it2" / "models" / "net_g_latest.pth"
    import torch

    assert torch.load(classes_ckpt, weights_only=False)["params_de"] is None  # the classes row has no extractor
    # OneRestore*: its own stage 1 (classification, over --stage1-opt) and a stage 2 that froze that extractor
    cls_root = tmp_path / "experiments" / "tiny_abl_stage1_table4_onerestore"
    assert "training its stage-1 extractor tiny_abl_stage1_table4_onerestore" in printed
    assert yaml.safe_load((cls_root / "options_resolved.yml").read_text())["train"]["pretext"] == "classification"
    one = by_label["OneRestore* (classification extractor)"]
    assert one["experiment"] == "tiny_abl_table4_onerestore_it2" and not one["reused"]
    cls_de = torch.load(cls_root / "models" / "net_de_latest.pth", weights_only=False)["params"]
    used = torch.load(Path(one["checkpoint"]), weights_only=False)["params_de"]
    shared = torch.load(tmp_path / "experiments" / "tiny_stage1" / "models" / "net_de_latest.pth", weights_only=False)[
        "params"
    ]
    assert all(torch.equal(used[k], cls_de[k]) for k in cls_de) and not all(
        torch.equal(used[k], shared[k]) for k in shared
    )
    for label in labels:
        assert f"| {label} |" in printed
    assert "Degradation extraction" in printed and "Degradation insertion" in printed

    # reuse needs the same options and budget; an interrupted experiment with the same options is resumed
    base = load_with_inheritance(files["stage2"])
    assert experiment_status(row_options(base, {}, "tiny_abl_full_it2", 2))[0] == "finished"
    status, why = experiment_status(row_options(base, {}, "tiny_abl_full_it2", 5))
    assert status == "train" and "'train'" in why
    classes_opt = row_options(
        base, read_row_overrides(ABLATION / "table4_classes.yml"), "tiny_abl_table4_classes_it2", 2
    )
    classes_ckpt.unlink()
    assert experiment_status(classes_opt) == ("resume", f"{classes_ckpt.parents[1]} stopped at iteration 2 of 2")


def test_missing_extractor_without_stage1_options_is_a_one_line_error(tmp_path, capsys):
    opt = _write(
        tmp_path / "stage2.yml",
        {
            "inherit": str(ROOT / "options" / "demo" / "stage2.yml"),
            "name": "x",
            "path": {"pretrain_network_de": str(tmp_path / "none.pth")},
        },
    )
    assert (
        _script().main(
            [
                "--table",
                "5",
                "--opt",
                str(opt),
                "--test-opt",
                str(opt),
                "--stage1-opt",
                "",
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none.pth" in err and "stage 1" in err
