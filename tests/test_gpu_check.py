"""scripts/gpu_check.py: the parts that run without a GPU (the whole `--dry-run` takes about a minute and is
run by hand; these check its sections in-process)."""

from __future__ import annotations

import pytest
import torch
from conftest import load_script


@pytest.fixture(scope="module")
def gpu_check():
    return load_script("gpu_check")


@pytest.fixture
def restore_backends():
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


def test_parity_compares_the_output_and_every_gradient_including_the_prompt_scalings(gpu_check, one_thread):
    r = gpu_check.parity(dry=True)
    assert r["ok"] and r["compared"] == "chunked vs reference"
    expected = {"out", "du", "ddelta", "dA", "dB", "dC", "dD", "dz", "ddelta_bias", "da_delta", "da_B", "da_C"}
    assert set(r["max_rel_error"]) == expected
    assert all(v < 1e-5 for v in r["max_rel_error"].values())  # float32 against the plain loop


def test_training_worker_runs_allinone_with_bf16_and_reports_speed(gpu_check, one_thread, restore_backends):
    r = gpu_check.train_worker("chunked", dry=True, iters=2)
    assert r["resolved_backend"] == "chunked" and r["use_amp"] == "bf16" and r["device"] == "cpu"
    assert r["timed_iterations"] == 1 and r["it_per_s"] > 0 and r["finite_losses"]
    assert "TF32 matmuls on" in r["cuda_math"] and "cudnn.benchmark on" in r["cuda_math"]


def test_a_failing_section_is_recorded_and_does_not_stop_the_others(gpu_check, capsys):
    r = gpu_check.run_section("parity", lambda: 1 / 0)
    assert r["ok"] is False and r["error"].startswith("ZeroDivisionError")
    assert "[parity] FAILED: ZeroDivisionError" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_a_gpu_the_full_check_asks_for_dry_run(gpu_check, capsys):
    assert gpu_check.main(["--out", "unused.json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        "gpu_check.py: no CUDA device is visible to PyTorch; on a CPU machine run it with --dry-run"
    ]
