"""A new user's mistakes in a training option file: one line on stderr, exit status 2, and the earlier experiment
of the same name left exactly as it was (no folder created, renamed or written). Options, data and networks are
all checked before train.py touches `experiments/`."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
import torch
import yaml
from train_helpers import tiny_options, write_options

from dpmambair import train as train_mod
from dpmambair.models.base_model import BaseModel


def _tree(root: Path) -> Dict[str, bytes]:
    """Every file and folder below `root`, with the bytes of each file."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>") for p in sorted(root.rglob("*"))}


def _earlier_experiment(tmp: Path, name: str) -> None:
    """What a user has from an earlier run of the same name: a trained model, a state and a log."""
    root = tmp / "experiments" / name
    (root / "models").mkdir(parents=True)
    (root / "training_states").mkdir()
    torch.save({"params": {"w": torch.arange(4.0)}}, root / "models" / "net_g_latest.pth")
    (root / "training_states" / "4.state").write_bytes(b"state of the earlier run")
    (root / f"train_{name}.log").write_text("the earlier run's log\n")
    (tmp / "tb_logger" / name).mkdir(parents=True)
    (tmp / "tb_logger" / name / "events.out").write_bytes(b"earlier scalars")


def _run_and_check(tmp: Path, opt: dict, capsys, expected: str) -> str:
    _earlier_experiment(tmp, opt["name"])
    before = {d: _tree(tmp / d) for d in ("experiments", "tb_logger")}
    path = write_options(opt, tmp / "mistake.yml")
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        train_mod.main(["-opt", str(path)])
    out, err = capsys.readouterr()
    assert info.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert "Traceback" not in out + err
    for d, tree in before.items():
        assert _tree(tmp / d) == tree, f"{d}/ changed although the option file was wrong"
    assert sorted(p.name for p in (tmp / "experiments").iterdir()) == [opt["name"]]  # nothing archived
    return lines[0]


def test_typo_in_a_network_g_key(tmp_path, capsys):
    opt = tiny_options(tmp_path, "mistake")
    opt["network_g"]["num_blokcs"] = opt["network_g"].pop("num_blocks")
    line = _run_and_check(tmp_path, opt, capsys, "unknown key 'num_blokcs' for DPMambaIR")
    assert "mistake.yml: network_g" in line


def test_missing_pretrain_network_de(tmp_path, capsys):
    opt = tiny_options(tmp_path, "mistake")
    opt["network_g"]["prompt_source"] = "extractor"  # reads the frozen extractor's embedding
    line = _run_and_check(tmp_path, opt, capsys, "path.pretrain_network_de is not set")
    assert "mistake.yml" in line


def test_wrong_network_type(tmp_path, capsys):
    opt = tiny_options(tmp_path, "mistake")
    opt["network_g"]["type"] = "DPMambaNet"
    line = _run_and_check(tmp_path, opt, capsys, "unknown network type 'DPMambaNet'")
    assert "mistake.yml: network_g" in line and "registered: " in line


def test_a_value_the_network_rejects_is_an_option_error(tmp_path, capsys):
    opt = tiny_options(tmp_path, "mistake")
    opt["network_g"]["scan"] = "diagonal"
    _run_and_check(tmp_path, opt, capsys, "network_g: DPSSM: 'scan' must be one of single, bidirectional")


def test_unknown_validation_metric_stops_at_start_up(tmp_path, capsys):
    """Not at the first validation, val_freq iterations into the run."""
    opt = tiny_options(tmp_path, "mistake")
    opt["val"]["metrics"]["psnr"]["type"] = "calculate_psrn"
    line = _run_and_check(tmp_path, opt, capsys, "val.metrics.psnr: unknown metric type 'calculate_psrn'")
    assert "mistake.yml" in line


def test_stage1_with_a_stage2_optimizer_key(tmp_path, capsys):
    opt = tiny_options(tmp_path, "mistake", model_type="ExtractorPretrainModel")
    _run_and_check(
        tmp_path, opt, capsys, "train.optim_g: stage 1 has no net_g; its optimizer (net_de and net_r) is train.optim_de"
    )


def test_options_resolved_holds_the_default_losses(tmp_path):
    """A file that names no loss trains with the paper's; options_resolved.yml must say so."""
    opt = tiny_options(tmp_path, "resolved", total_iter=1)
    for key in ("pixel_opt", "mse_opt", "fft_opt"):
        opt["train"].pop(key)
    opt["val"]["val_freq"] = 0
    train_mod.main(["-opt", str(write_options(opt, tmp_path / "resolved.yml"))])
    resolved = yaml.safe_load((tmp_path / "experiments" / "resolved" / "options_resolved.yml").read_text())
    assert resolved["train"]["pixel_opt"] == {"type": "L1Loss", "loss_weight": 1.0}
    assert resolved["train"]["mse_opt"] == {"type": "MSELoss", "loss_weight": 0.5}
    assert resolved["train"]["fft_opt"] == {"type": "FFTLoss", "loss_weight": 0.001}


def test_every_entry_point_error_is_one_family():
    from dpmambair.ablation import AblationError
    from dpmambair.data import DatasetError
    from dpmambair.data.tasks import UnknownTaskError
    from dpmambair.inference.restorer import RestoreError
    from dpmambair.utils.checkpoint import CheckpointError
    from dpmambair.utils.errors import DPMambaIRError
    from dpmambair.utils.lpips_weights import LPIPSWeightsError
    from dpmambair.utils.options import OptionError

    for cls in (
        AblationError,
        DatasetError,
        UnknownTaskError,
        RestoreError,
        CheckpointError,
        LPIPSWeightsError,
        OptionError,
    ):
        assert issubclass(cls, DPMambaIRError), cls
    assert not issubclass(BaseModel, DPMambaIRError)
