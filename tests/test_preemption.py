"""Cluster jobs lose no work: SIGTERM/SIGUSR1 end a run with a resumable checkpoint, and a checkpoint write
that fails part-way (disk full) leaves the previous checkpoint intact and stops the run with one line."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_helpers import ROOT, read_losses, run_train, tiny_options, write_options

import dpmambair.utils.checkpoint as checkpoint
from dpmambair.utils.checkpoint import CheckpointError, load_file, save_atomic

TOTAL = 14


def _leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("uninterrupted")
    run_train(write_options(tiny_options(tmp, "uninterrupted", total_iter=TOTAL), tmp / "ref.yml"))
    return read_losses(tmp / "experiments" / "uninterrupted" / "train_log.jsonl")


@pytest.mark.parametrize("sig,resume", [(signal.SIGTERM, True), (signal.SIGUSR1, False)], ids=["SIGTERM", "SIGUSR1"])
def test_stop_signal_at_an_arbitrary_iteration_then_auto_resume_gives_the_uninterrupted_losses(
    tmp_path, uninterrupted, sig, resume
):
    """SLURM's SIGTERM (or the SIGUSR1 of --signal=USR1@T): finish the step, checkpoint, exit 0; resuming then gives
    the uninterrupted run's losses (resumed for SIGTERM only: the checkpoint is the same for both signals)."""
    target = random.Random().randint(2, TOTAL - 4)  # any iteration, checkpoint or not
    opt = tiny_options(tmp_path, "preempted", total_iter=TOTAL)
    path = write_options(opt, tmp_path / "run.yml")
    exp = tmp_path / "experiments" / "preempted"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), "-opt", str(path)],
        env=env,
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def logged() -> int:
        try:
            return max(read_losses(exp / "train_log.jsonl"), default=0)
        except (OSError, ValueError):  # not there yet, or mid-write
            return 0

    deadline = time.time() + 180
    while logged() < target and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, f"stopped with {proc.returncode} (target iteration {target}):\n{err[-2000:]}"
    stopped = logged()
    assert target <= stopped < TOTAL, f"signal after iteration {target}, run stopped at {stopped}"
    log = (exp / "train_preempted.log").read_text()
    assert f"stopped by {signal.Signals(sig).name} at iteration {stopped}" in log
    state = load_file(exp / "training_states" / f"{stopped}.state")
    assert state["iter"] == stopped
    assert load_file(exp / "models" / "net_g_latest.pth")["iter"] == stopped
    assert _leftovers(exp) == []
    print(f"{signal.Signals(sig).name} after iteration {target}; the run stopped at iteration {stopped} with exit 0")
    if not resume:
        return
    run_train(path, "--auto_resume")
    resumed = read_losses(exp / "train_log.jsonl")
    assert sorted(resumed) == list(range(1, TOTAL + 1))
    for it in range(1, TOTAL + 1):
        for key, value in uninterrupted[it].items():
            assert resumed[it][key] == pytest.approx(value, rel=1e-5, abs=1e-7), (f"stopped at {stopped}", it, key)


class FullDisk:
    """A file on a disk that fills up after `room` bytes: the next write raises ENOSPC (part of it written)."""

    def __init__(self, f, room: int) -> None:
        self.f, self.room = f, room

    def write(self, data) -> int:
        if len(data) > self.room:
            self.f.write(bytes(data)[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_disk_full_during_a_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "models" / "net_g_latest.pth"
    save_atomic({"params": {"w": torch.ones(3)}, "iter": 4}, target)
    real_open = checkpoint._open_for_write
    monkeypatch.setattr(checkpoint, "_open_for_write", lambda p: FullDisk(real_open(p), room=300))
    with pytest.raises(CheckpointError) as info:
        save_atomic({"params": {"w": torch.zeros(1000)}, "iter": 8}, target)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{target}: cannot write the checkpoint (No space left on device)")
    old = load_file(target)
    assert old["iter"] == 4 and torch.equal(old["params"]["w"], torch.ones(3))
    assert _leftovers(tmp_path) == []


def test_torch_save_failing_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "7.state"
    save_atomic({"iter": 7}, target)
    real_save = torch.save

    def crash(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)  # a complete write...
        raise RuntimeError("simulated crash inside torch.save")  # ...that then fails

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        save_atomic({"iter": 8, "big": torch.zeros(1000)}, target)
    assert load_file(target) == {"iter": 7}
    assert _leftovers(tmp_path) == []


def test_disk_full_during_training_stops_with_one_line_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    """Iteration 4 checkpoints fine; the disk is full at iteration 8: the run stops, iteration 4 stays loadable."""
    from dpmambair.train import main

    opt = tiny_options(tmp_path, "disk_full", total_iter=12)
    opt["val"]["val_freq"] = 0
    exp = tmp_path / "experiments" / "disk_full"
    real_open = checkpoint._open_for_write
    written = []

    def open_on_a_filling_disk(path):
        written.append(path)
        return FullDisk(real_open(path), room=1 << 40 if len(written) <= 3 else 4096)  # 3 files at iteration 4

    monkeypatch.setattr(checkpoint, "_open_for_write", open_on_a_filling_disk)
    with pytest.raises(SystemExit) as info:
        main(["-opt", str(write_options(opt, tmp_path / "run.yml"))])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"error: {exp / 'models' / 'net_g_8.pth'}: cannot write the checkpoint "
        "(No space left on device); any previous file at this path is left as it was"
    ]
    assert load_file(exp / "models" / "net_g_latest.pth")["iter"] == 4
    assert load_file(exp / "training_states" / "4.state")["iter"] == 4
    assert not (exp / "models" / "net_g_8.pth").exists()
    assert _leftovers(exp) == []


@pytest.mark.parametrize("here,there,expected", [(None, None, False), (None, "SIGTERM", True), ("SIGUSR1", None, True)])
def test_every_rank_stops_when_any_rank_got_the_signal(monkeypatch, here, there, expected):
    """torchrun may forward the signal to one rank only: the flag is max-reduced (on the model's device) so that
    all ranks stop at the same iteration, and rank 0 can checkpoint while the others wait at the barrier."""
    import torch.distributed as dist

    import dpmambair.utils.preemption as preemption
    from dpmambair.utils.preemption import PreemptionHandler

    seen = []

    def all_reduce(tensor, op=None, group=None, async_op=False):
        seen.append((tensor.device, op))
        tensor.copy_(torch.maximum(tensor, torch.tensor([1.0 if there else 0.0])))

    monkeypatch.setattr(preemption, "get_dist_info", lambda: (0, 2))
    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    handler = PreemptionHandler()
    handler.received = here
    assert handler.should_stop(torch.device("cpu")) is expected
    assert seen == [(torch.device("cpu"), dist.ReduceOp.MAX)]


def test_the_handler_only_records_the_signal_and_restores_the_previous_handlers():
    from dpmambair.utils.preemption import PreemptionHandler

    before = signal.getsignal(signal.SIGTERM)
    with PreemptionHandler() as handler:
        os.kill(os.getpid(), signal.SIGTERM)  # would end this test process without the handler
        assert handler.received == "SIGTERM" and handler.should_stop(torch.device("cpu"))
    assert signal.getsignal(signal.SIGTERM) is before
