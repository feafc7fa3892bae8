"""Training: both stages run, exact resume after kill -9, DDP on CPU, TensorBoard, bad options."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from train_helpers import ROOT, run_train, tiny_options, write_options


def read_losses(log: Path) -> dict:
    """iteration → losses; a resumed run re-logs iterations after its state, the last record wins."""
    out = {}
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        out[rec["iter"]] = rec["losses"]
    return out


def test_stage2_classes_trains_validates_and_writes_tensorboard(tmp_path):
    opt = tiny_options(tmp_path, "stage2_classes", total_iter=6)
    from dpmambair.train import main

    main(["-opt", str(write_options(opt, tmp_path / "o.yml"))])
    exp = tmp_path / "experiments" / "stage2_classes"
    assert (exp / "models" / "net_g_6.pth").is_file() and (exp / "models" / "net_g_latest.pth").is_file()
    assert (exp / "training_states" / "4.state").is_file()
    losses = read_losses(exp / "train_log.jsonl")
    assert sorted(losses) == list(range(1, 7)) and all(v["total"] > 0 for v in losses.values())
    ckpt = torch.load(exp / "models" / "net_g_latest.pth", weights_only=False)
    assert ckpt["network_g"]["type"] == "DPMambaIR" and "params" in ckpt

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tb_logger" / "stage2_classes"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    for tag in ("losses/total", "losses/pixel", "lr", "time/data", "time/step", "val_tinyval/psnr", "val_tinyval/ssim"):
        assert tag in tags["scalars"], tag
    assert len(acc.Scalars("losses/total")) == 6
    assert any(t.startswith("val_tinyval/lq_output_gt") for t in tags["images"])


def test_stage1_then_stage2_with_frozen_extractor(tmp_path):
    from dpmambair.train import main

    opt1 = tiny_options(tmp_path, "stage1", model_type="ExtractorPretrainModel", total_iter=4,
                        network_r={"type": "DegradationReconstructor", "embed_dim": 32})
    opt1.pop("network_g")
    opt1["train"] = {"total_iter": 4, "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0}}
    main(["-opt", str(write_options(opt1, tmp_path / "s1.yml"))])
    de_file = tmp_path / "experiments" / "stage1" / "models" / "net_de_latest.pth"
    assert torch.load(de_file, weights_only=False)["network_de"]["type"] == "DegradationExtractor"

    opt2 = tiny_options(tmp_path, "stage2", total_iter=3)
    opt2["network_g"]["prompt_source"] = "extractor"
    opt2["path"]["pretrain_network_de"] = str(de_file)
    from dpmambair.models.dpmambair_model import DPMambaIRModel
    from dpmambair.utils.options import parse_options
    from dpmambair.train import experiment_paths

    parsed = parse_options(write_options(opt2, tmp_path / "s2.yml"))
    experiment_paths(parsed)
    model = DPMambaIRModel(parsed)
    before = {k: v.clone() for k, v in model.net_de.state_dict().items()}
    assert not model.net_de.training and all(not p.requires_grad for p in model.net_de.parameters())
    opt_params = {id(p) for o in model.optimizers for g in o.param_groups for p in g["params"]}
    assert not opt_params & {id(p) for p in model.net_de.parameters()}
    batch = {"lq": torch.rand(2, 3, 16, 16), "gt": torch.rand(2, 3, 16, 16)}
    model.feed_data(batch)
    model.optimize_parameters(1)
    assert all(torch.equal(before[k], v) for k, v in model.net_de.state_dict().items())
    state = model.training_state(1, 0, 1)
    assert list(state["trainable"]) == ["net_g"]


def test_stage2_extractor_without_pretrained_file_stops_at_startup(tmp_path):
    opt = tiny_options(tmp_path, "nope", total_iter=2)
    opt["network_g"]["prompt_source"] = "extractor"
    res = run_train(write_options(opt, tmp_path / "o.yml"), check=False)
    assert res.returncode == 2
    assert "pretrain_network_de" in res.stderr and "o.yml" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_existing_experiment_folder_is_renamed_not_overwritten(tmp_path):
    opt = tiny_options(tmp_path, "twice", total_iter=2)
    path = write_options(opt, tmp_path / "o.yml")
    from dpmambair.train import main

    main(["-opt", str(path)])
    marker = tmp_path / "experiments" / "twice" / "marker.txt"
    marker.write_text("first run")
    main(["-opt", str(path)])
    archived = [p for p in (tmp_path / "experiments").iterdir() if p.name.startswith("twice_archived_")]
    assert len(archived) == 1 and (archived[0] / "marker.txt").read_text() == "first run"
    assert not marker.exists()


def test_kill_9_then_auto_resume_reproduces_the_uninterrupted_losses(tmp_path):
    total = 14
    ref_opt = tiny_options(tmp_path, "uninterrupted", total_iter=total)
    run_train(write_options(ref_opt, tmp_path / "ref.yml"))
    ref = read_losses(tmp_path / "experiments" / "uninterrupted" / "train_log.jsonl")

    opt = tiny_options(tmp_path, "interrupted", total_iter=total)
    path = write_options(opt, tmp_path / "run.yml")
    env = dict(__import__("os").environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "-opt", str(path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "experiments" / "interrupted" / "training_states" / "4.state"
    log = tmp_path / "experiments" / "interrupted" / "train_log.jsonl"

    def logged() -> int:
        try:
            return max(read_losses(log), default=0)
        except (OSError, ValueError):  # the file may be mid-write
            return 0

    deadline = time.time() + 180
    # kill between checkpoints: after iteration 6 (state 4 exists, state 8 does not yet)
    while (not state.exists() or logged() < 6) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state.exists(), "the run ended before its first checkpoint"
    killed_at = logged()
    assert 4 < killed_at < total, f"killed at iteration {killed_at}"

    run_train(path, "--auto_resume")
    resumed = read_losses(log)
    assert sorted(resumed) == list(range(1, total + 1))
    for it in range(1, total + 1):
        for key, value in ref[it].items():
            assert resumed[it][key] == pytest.approx(value, rel=1e-5, abs=1e-7), (it, key)
    a = torch.load(tmp_path / "experiments" / "uninterrupted" / "models" / "net_g_latest.pth", weights_only=False)["params"]
    b = torch.load(tmp_path / "experiments" / "interrupted" / "models" / "net_g_latest.pth", weights_only=False)["params"]
    assert all(torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6) for k in a)


def test_torchrun_two_cpu_processes_keep_identical_weights(tmp_path):
    opt = tiny_options(tmp_path, "ddp", total_iter=3)
    opt["logger"]["save_checkpoint_freq"] = 100
    opt["dist_params"] = {"backend": "gloo"}
    res = run_train(write_options(opt, tmp_path / "ddp.yml"), torchrun=2, timeout=300)
    log = (tmp_path / "experiments" / "ddp" / "train_ddp.log").read_text()
    line = next(x for x in log.splitlines() if "final weight checksums per rank" in x)
    assert "identical across ranks: True" in line, line
    sums = json.loads(line.split("per rank: ")[1].split(";")[0])
    assert len(sums) == 2 and sums[0] == sums[1]
    assert res.returncode == 0


def test_nonfinite_losses_skip_the_step_then_stop(tmp_path):
    from dpmambair.models.dpmambair_model import DPMambaIRModel
    from dpmambair.train import experiment_paths
    from dpmambair.utils.options import parse_options

    opt = tiny_options(tmp_path, "nan", total_iter=3)
    opt["train"]["max_nonfinite_steps"] = 3
    parsed = parse_options(write_options(opt, tmp_path / "o.yml"))
    experiment_paths(parsed)
    model = DPMambaIRModel(parsed)
    before = [p.clone() for p in model.net_g.parameters()]
    loss = sum(p.sum() for p in model.net_g.parameters()) * float("nan")
    assert model.step(loss, model.net_g) is False
    assert all(torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))
    model.step(loss, model.net_g)
    with pytest.raises(RuntimeError, match="3 non-finite losses in a row"):
        model.step(loss, model.net_g)
