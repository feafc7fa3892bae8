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
from train_helpers import ROOT, read_losses, run_train, tiny_options, write_options


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

    opt1 = tiny_options(
        tmp_path,
        "stage1",
        model_type="ExtractorPretrainModel",
        total_iter=4,
        network_r={"type": "DegradationReconstructor", "embed_dim": 32},
    )
    opt1.pop("network_g")
    opt1["train"] = {"total_iter": 4, "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0}}
    main(["-opt", str(write_options(opt1, tmp_path / "s1.yml"))])
    de_file = tmp_path / "experiments" / "stage1" / "models" / "net_de_latest.pth"
    assert torch.load(de_file, weights_only=False)["network_de"]["type"] == "DegradationExtractor"

    opt2 = tiny_options(tmp_path, "stage2", total_iter=3)
    opt2["network_g"]["prompt_source"] = "extractor"
    opt2["path"]["pretrain_network_de"] = str(de_file)
    from dpmambair.models.dpmambair_model import DPMambaIRModel
    from dpmambair.train import experiment_paths
    from dpmambair.utils.options import parse_options

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


RESUME_TOTAL = 14


def resume_options(tmp: Path, name: str, workers: int = 0) -> dict:
    """Checkpoints every 3 iterations with 4 batches per epoch (8 pairs, batch 2): states 3, 6 and 9 fall
    mid-epoch, so a resume starts the sampler at batch 3, 2 or 1. EMA on, progressive patches on."""
    opt = tiny_options(tmp, name, total_iter=RESUME_TOTAL)
    opt["logger"]["save_checkpoint_freq"] = 3
    opt["train"]["ema_decay"] = 0.9
    opt["datasets"]["train"]["num_worker_per_gpu"] = workers
    return opt


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """One reference run, shared by the resume variants."""
    tmp = tmp_path_factory.mktemp("reference")
    run_train(write_options(resume_options(tmp, "uninterrupted"), tmp / "ref.yml"))
    return tmp / "experiments" / "uninterrupted"


def json_records(log: Path) -> list:
    """Every complete record of train_log.jsonl, in file order (a resumed run appends, it never rewrites)."""
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:  # a line cut by the kill
            break
    return out


@pytest.mark.parametrize("workers", [0, 2])
def test_kill_9_then_auto_resume_reproduces_the_uninterrupted_losses(tmp_path, uninterrupted, workers):
    """kill -9 between checkpoints, then --auto_resume: the same losses, weights and EMA weights as a run that
    never stopped; with 2 loader workers too (the reference has none: augmentation must not depend on workers)."""
    import os
    import re

    ref = read_losses(uninterrupted / "train_log.jsonl")
    opt = resume_options(tmp_path, "interrupted", workers)
    path = write_options(opt, tmp_path / "run.yml")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), "-opt", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    exp = tmp_path / "experiments" / "interrupted"
    log = exp / "train_log.jsonl"

    def logged() -> int:
        try:
            return max((r["iter"] for r in json_records(log)), default=0)
        except OSError:
            return 0

    deadline = time.time() + 180
    # kill after iteration 4 is logged (state 3 exists: it is written before iteration 4 starts), before the end
    while logged() < 4 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = json_records(log)
    killed_at = before[-1]["iter"] if before else 0
    assert 4 <= killed_at < RESUME_TOTAL, f"killed at iteration {killed_at}"
    assert [r["iter"] for r in before] == list(range(1, killed_at + 1))

    run_train(path, "--auto_resume")
    text = (exp / "train_interrupted.log").read_text()
    m = re.search(r"resumed from (\S+)/(\d+)\.state at iteration (\d+) \(epoch (\d+), batch (\d+)\)", text)
    assert m, "the log does not say which training state was resumed:\n" + text[-2000:]
    state_iter, epoch, batch = int(m.group(3)), int(m.group(4)), int(m.group(5))
    assert int(m.group(2)) == state_iter and state_iter < killed_at and state_iter % 3 == 0
    assert 0 < batch < 4 and state_iter == epoch * 4 + batch, "the resume must start mid-epoch"
    assert not [p for p in exp.parent.iterdir() if "archived" in p.name], (
        "the resumed run archived the experiment folder"
    )

    records = json_records(log)
    assert len(records) == len(before) + RESUME_TOTAL - state_iter, "records: the killed run's, then the resumed run's"
    assert [r["iter"] for r in records[len(before) :]] == list(range(state_iter + 1, RESUME_TOTAL + 1))
    for rec in records:
        for key, value in ref[rec["iter"]].items():
            assert rec["losses"][key] == pytest.approx(value, rel=1e-5, abs=1e-7), (rec["iter"], key)
    a = torch.load(uninterrupted / "models" / "net_g_latest.pth", weights_only=False)
    b = torch.load(exp / "models" / "net_g_latest.pth", weights_only=False)
    for key in ("params", "params_ema"):
        assert a[key].keys() == b[key].keys()
        for k in a[key]:
            assert torch.allclose(a[key][k], b[key][k], rtol=1e-5, atol=1e-6), f"{key}.{k} differs after the resume"
    moved = max(float((a["params_ema"][k] - a["params"][k]).abs().max()) for k in a["params"])
    assert moved > 1e-4, "the EMA weights must differ from the weights, or comparing them proves nothing"


# ---- DDP -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,bs,world", [(8, 2, 2), (12, 2, 3), (11, 1, 2), (3, 2, 2)])
def test_rank_shards_are_disjoint_and_together_are_the_single_process_batches(n, bs, world):
    """Rank r's step-b batch ∪ the other ranks' = the 1-process step-b batch at world×bs, with the same
    augmentation seeds; no sample is seen by two ranks in an epoch (unless the set is smaller than one step)."""
    from dpmambair.utils.sampler import ResumableSampler

    for epoch in (0, 3):
        ranks = [ResumableSampler(n, bs, seed=5, rank=r, world_size=world) for r in range(world)]
        single = ResumableSampler(n, bs * world, seed=5)
        for s in (*ranks, single):
            s.set_epoch(epoch)
        shards, one = [list(s) for s in ranks], list(single)
        steps = ranks[0].batches_per_epoch
        assert steps == single.batches_per_epoch and all(len(sh) == steps * bs for sh in shards)
        for b in range(steps):
            union = sorted(item for sh in shards for item in sh[b * bs : (b + 1) * bs])
            assert union == sorted(one[b * bs * world : (b + 1) * bs * world]), (epoch, b)
        seeds = [seed for sh in shards for _, seed in sh]
        assert len(set(seeds)) == len(seeds)
        indices = [i for sh in shards for i, _ in sh]
        if n >= bs * world:
            assert len(set(indices)) == len(indices), "two ranks got the same sample"
        if n % (bs * world) == 0:
            assert sorted(indices) == list(range(n)), "the ranks together must cover the epoch's permutation"
        # a resume at batch k replays exactly the rest of the epoch
        ranks[0].set_epoch(epoch, start_batch=1)
        assert list(ranks[0]) == shards[0][bs:]


DDP_WRAPPER = """
import sys
from pathlib import Path

import torch

import dpmambair.train as train
from dpmambair.utils.checkpoint import unwrap
from dpmambair.utils.dist import get_dist_info

log_agreement = train._log_weight_agreement


def save_then_log(model, logger):
    # every rank writes its own final weights, so the test compares them tensor by tensor
    rank = get_dist_info()[0]
    torch.save({k: unwrap(v).state_dict() for k, v in model.trainable.items()}, Path(OUT) / f"rank{rank}.pth")
    log_agreement(model, logger)


train._log_weight_agreement = save_then_log
train.main()
"""


def test_torchrun_two_cpu_processes_equal_one_process_at_twice_the_batch(tmp_path):
    """2 gloo ranks at batch 2: both ranks end with the same tensors, equal (≈1e-5) to one process at batch 4
    on the same samples; the logged (rank-averaged) losses equal the 1-process losses."""
    opt = tiny_options(tmp_path, "ddp", total_iter=3)
    for key in ("mini_batch_sizes", "iters", "gt_sizes"):  # progressive crops draw from each rank's own RNG
        opt["datasets"]["train"].pop(key)
    opt["logger"]["save_checkpoint_freq"] = 100
    opt["dist_params"] = {"backend": "gloo"}
    # plain SGD: the weights are then linear in the summed gradients, so the two runs agree to float rounding
    # (Adam divides by sqrt(v) and amplifies rounding in near-zero gradients to ~1e-5 of its step)
    opt["train"]["optim_g"] = {"type": "SGD", "lr": 0.05}
    wrapper = tmp_path / "ddp_train.py"
    wrapper.write_text(DDP_WRAPPER.replace("OUT", repr(str(tmp_path))))
    res = run_train(write_options(opt, tmp_path / "ddp.yml"), torchrun=2, timeout=300, script=wrapper)
    assert res.returncode == 0
    log = (tmp_path / "experiments" / "ddp" / "train_ddp.log").read_text()
    line = next(x for x in log.splitlines() if "final weight checksums per rank" in x)
    assert "identical across ranks: True" in line, line
    r0 = torch.load(tmp_path / "rank0.pth", weights_only=False)["net_g"]
    r1 = torch.load(tmp_path / "rank1.pth", weights_only=False)["net_g"]
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks disagree on {k}"

    from dpmambair.train import main

    one = dict(opt, name="one")
    one["datasets"]["train"]["batch_size_per_gpu"] = 4
    one.pop("dist_params")
    main(["-opt", str(write_options(one, tmp_path / "one.yml"))])
    single = torch.load(tmp_path / "experiments" / "one" / "models" / "net_g_latest.pth", weights_only=False)["params"]
    worst = max(float((single[k] - r0[k]).abs().max()) for k in r0)
    assert worst < 1e-5, f"2 ranks x batch 2 vs 1 process x batch 4: weights differ by {worst}"
    ddp_losses = read_losses(tmp_path / "experiments" / "ddp" / "train_log.jsonl")
    one_losses = read_losses(tmp_path / "experiments" / "one" / "train_log.jsonl")
    assert sorted(ddp_losses) == sorted(one_losses) == [1, 2, 3]
    for it, losses in one_losses.items():
        for key, value in losses.items():
            assert ddp_losses[it][key] == pytest.approx(value, rel=1e-5, abs=1e-7), (it, key)


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


def test_nonfinite_loss_is_logged_with_its_value_and_count(tmp_path, capsys):
    """The warning a user sees when a step is skipped: the value and how many in a row."""
    from dpmambair.models.dpmambair_model import DPMambaIRModel
    from dpmambair.train import experiment_paths
    from dpmambair.utils.options import parse_options

    opt = tiny_options(tmp_path, "nan_log", total_iter=3)
    parsed = parse_options(write_options(opt, tmp_path / "o.yml"))
    experiment_paths(parsed)
    model = DPMambaIRModel(parsed)
    loss = sum(p.sum() for p in model.net_g.parameters()) * float("inf")
    capsys.readouterr()
    model.step(loss, model.net_g)
    model.step(loss, model.net_g)
    lines = [line for line in capsys.readouterr().out.splitlines() if "non-finite loss" in line]
    assert len(lines) == 2 and "WARNING" in lines[0], lines
    assert "(inf)" in lines[0] and "step skipped (1 in a row)" in lines[0] and "(2 in a row)" in lines[1], lines


# ---- EMA -------------------------------------------------------------------------------------------------
def test_ema_update_rule_on_parameters_and_buffers():
    """ema ← d·ema + (1-d)·weights for float tensors (BatchNorm statistics too); integer buffers are copied."""
    from torch import nn

    from dpmambair.models.base_model import ModelEMA

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = ModelEMA(net, 0.9)
    start = {k: v.clone() for k, v in ema.net.state_dict().items()}
    for _ in range(2):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn(p.shape))
        net.train()(torch.randn(5, 3))  # moves the running statistics and counts a batch
        before = {k: v.clone() for k, v in ema.net.state_dict().items()}
        ema.update(net)
        for k, v in ema.net.state_dict().items():
            src = net.state_dict()[k]
            expected = 0.9 * before[k] + 0.1 * src if v.is_floating_point() else src
            assert torch.allclose(v, expected, atol=1e-7), k
    assert int(ema.net.state_dict()["1.num_batches_tracked"]) == 2
    assert not torch.allclose(ema.net[0].weight, start["0.weight"]) and not ema.net.training
    assert all(not p.requires_grad for p in ema.net.parameters())


def test_ema_is_what_training_updates_validates_and_saves(tmp_path):
    """One optimisation step moves the EMA by (1-d) of the step; predict/validation use the EMA network;
    save() writes it as params_ema; a training state restores it."""
    from dpmambair.models.dpmambair_model import DPMambaIRModel
    from dpmambair.train import experiment_paths
    from dpmambair.utils.options import parse_options
    from dpmambair.utils.rng import set_random_seed

    opt = tiny_options(tmp_path, "ema", total_iter=3)
    opt["train"]["ema_decay"] = 0.75
    parsed = parse_options(write_options(opt, tmp_path / "o.yml"))
    experiment_paths(parsed)
    set_random_seed(0)
    model = DPMambaIRModel(parsed)
    init = {k: v.clone() for k, v in model.net_g.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    batch = {
        "lq": torch.rand(2, 3, 16, 16, generator=gen),
        "gt": torch.rand(2, 3, 16, 16, generator=gen),
        "task": torch.tensor([0, 1]),
    }
    model.feed_data(batch)
    model.optimize_parameters(1)
    after = model.net_g.state_dict()
    for k, v in model.ema.net.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, 0.75 * init[k] + 0.25 * after[k], atol=1e-7), k
    assert max(float((after[k] - init[k]).abs().max()) for k in init) > 1e-4

    out, _ = model.predict(batch)
    with torch.no_grad():
        ema_out = model.ema.net(batch["lq"], task=batch["task"]).clamp(0, 1)
        raw_out = model.net_g.eval()(batch["lq"], task=batch["task"]).clamp(0, 1)
    model.net_g.train()
    assert torch.allclose(out, ema_out, atol=1e-6), "predict() does not use the EMA weights"
    assert float((ema_out - raw_out).abs().max()) > 1e-4, (
        "EMA and raw outputs must differ for this test to mean anything"
    )

    from dpmambair.data.image_io import tensor_to_uint8
    from dpmambair.metrics import calculate_psnr

    loader = [{"lq": batch["lq"][:1], "gt": batch["gt"][:1], "lq_path": ["a.png"], "task": batch["task"][:1]}]
    res = model.validation(loader, "v", 1, None, False)
    expected = calculate_psnr(tensor_to_uint8(ema_out[0]), tensor_to_uint8(batch["gt"][0]), crop_border=0)
    assert res["psnr"] == pytest.approx(expected, abs=1e-6), "validation does not score the EMA network"

    model.save(1)
    ckpt = torch.load(tmp_path / "experiments" / "ema" / "models" / "net_g_1.pth", weights_only=False)
    for k, v in model.ema.net.state_dict().items():
        assert torch.equal(ckpt["params_ema"][k], v) and torch.equal(ckpt["params"][k], after[k])
    state = model.training_state(1, 0, 1)
    saved_ema = {k: v.clone() for k, v in model.ema.net.state_dict().items()}
    fresh = DPMambaIRModel(parsed)
    fresh.resume_training(state)
    for k, v in fresh.ema.net.state_dict().items():
        assert torch.equal(v, saved_ema[k]), f"the EMA weight {k} was not restored from the training state"


# ---- train.py: progressive patches and --debug ------------------------------------------------------------
def test_train_py_applies_the_progressive_patch_schedule(tmp_path, monkeypatch):
    """mini_batch_sizes [2, 1], gt_sizes [12, 16], iters [5, ...]: iterations 1-5 see 2 crops of 12², then 1 of 16²."""
    from dpmambair.models.dpmambair_model import DPMambaIRModel
    from dpmambair.train import main

    seen = []
    feed = DPMambaIRModel.feed_data

    def spy(self, data):
        seen.append((tuple(data["lq"].shape), tuple(data["gt"].shape)))
        feed(self, data)

    monkeypatch.setattr(DPMambaIRModel, "feed_data", spy)
    opt = tiny_options(tmp_path, "progressive", total_iter=7)
    opt["datasets"]["train"]["gt_size"] = 24  # the loader's crops are larger than either stage's patch
    opt["val"]["val_freq"] = 0
    opt["logger"].update(save_checkpoint_freq=100, use_tb_logger=False)
    main(["-opt", str(write_options(opt, tmp_path / "o.yml"))])
    assert seen == [((2, 3, 12, 12), (2, 3, 12, 12))] * 5 + [((1, 3, 16, 16), (1, 3, 16, 16))] * 2, seen


def test_debug_flag_prefixes_the_name_and_saves_and_validates_every_8_iterations(tmp_path):
    from dpmambair.train import main

    opt = tiny_options(tmp_path, "dbg", total_iter=9)  # its own choices: save every 4, validate every 6, print every 1
    opt["logger"]["print_freq"] = 5
    opt["logger"]["use_tb_logger"] = False
    main(["-opt", str(write_options(opt, tmp_path / "o.yml")), "--debug"])
    assert not (tmp_path / "experiments" / "dbg").exists()
    exp = tmp_path / "experiments" / "debug_dbg"
    assert sorted(p.name for p in (exp / "training_states").iterdir()) == ["8.state", "9.state"]
    assert sorted(read_losses(exp / "train_log.jsonl")) == list(range(1, 10))  # printed every iteration
    log = (exp / "train_debug_dbg.log").read_text()
    validated = [int(m) for m in __import__("re").findall(r"validation tinyval @ iter (\d+):", log)]
    assert validated == [8, 9], log[-1500:]


def test_resuming_a_state_that_does_not_fit_the_model_is_one_line(tmp_path, capsys):
    """A training state whose optimizer has other parameter groups (e.g. written before the weight-decay groups)
    stops --auto_resume with one line naming the state file, and leaves the experiment as it was."""
    from dpmambair.train import main

    opt = tiny_options(tmp_path, "misfit", total_iter=4)
    opt["val"]["val_freq"] = 0
    path = write_options(opt, tmp_path / "misfit.yml")
    main(["-opt", str(path)])
    state_file = tmp_path / "experiments" / "misfit" / "training_states" / "4.state"
    state = torch.load(state_file, weights_only=False)
    groups = state["optimizers"][0]["param_groups"]
    state["optimizers"][0]["param_groups"] = [dict(groups[0], params=[p for g in groups for p in g["params"]])]
    torch.save(state, state_file)
    before = state_file.read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["-opt", str(path), "--auto_resume"])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2
    assert len(err.splitlines()) == 1 and "4.state: this training state does not fit the model" in err, err
    assert state_file.read_bytes() == before
