"""The paper's GPU configurations train with bf16 autocast, TF32 and cudnn.benchmark, each switchable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import ROOT
from train_helpers import tiny_options, write_options

from dpmambair.utils.options import OptionError, parse_options

GPU_FILES = [
    "options/allinone.yml",
    "options/allinone_synthetic.yml",
    "options/stage1_extractor.yml",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "options" / "single").glob("*.yml")),
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "options" / "ablation").glob("*.yml")),
]


@pytest.mark.parametrize("path", GPU_FILES)
def test_gpu_configurations_use_bf16_tf32_and_cudnn_benchmark(path):
    opt = parse_options(ROOT / path)
    assert opt["train"]["use_amp"] == "bf16"
    assert opt["tf32"] is True and opt["cudnn_benchmark"] is True


@pytest.mark.parametrize("path", ["options/demo/stage1.yml", "options/demo/stage2.yml"])
def test_the_cpu_demo_trains_in_float32(path):
    assert parse_options(ROOT / path)["train"]["use_amp"] is False


@pytest.fixture
def restore_backends():
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


@pytest.mark.parametrize("flag", [True, False])
def test_training_sets_tf32_and_cudnn_benchmark_from_the_options(tmp_path, restore_backends, flag):
    from dpmambair.train import main

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not flag
    torch.backends.cudnn.benchmark = not flag
    opt = tiny_options(tmp_path, "cuda_math", total_iter=1, tf32=flag, cudnn_benchmark=flag, deterministic=False)
    opt["val"]["val_freq"] = 0
    main(["-opt", str(write_options(opt, tmp_path / "run.yml"))])
    assert torch.backends.cuda.matmul.allow_tf32 is flag and torch.backends.cudnn.allow_tf32 is flag
    assert torch.backends.cudnn.benchmark is flag
    log = Path(tmp_path / "experiments" / "cuda_math" / "train_cuda_math.log").read_text()
    state = "on" if flag else "off"
    assert f"TF32 matmuls {state}, TF32 convolutions {state}, cudnn.benchmark {state}" in log


def test_leaving_the_keys_out_keeps_pytorchs_defaults(restore_backends):
    from dpmambair.utils.cuda_math import apply_cuda_math

    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark = False, True
    apply_cuda_math({})
    assert torch.backends.cuda.matmul.allow_tf32 is False and torch.backends.cudnn.benchmark is True


@pytest.mark.parametrize(
    "opt,match",
    [
        ({"tf32": "yes"}, "run.yml: tf32 must be true, false or null, got 'yes'"),
        (
            {"cudnn_benchmark": True, "deterministic": True},
            "cudnn_benchmark: true and deterministic: true exclude each other",
        ),
    ],
)
def test_bad_cuda_math_options_are_one_line_errors(restore_backends, opt, match):
    from dpmambair.utils.cuda_math import apply_cuda_math

    with pytest.raises(OptionError, match=match):
        apply_cuda_math({"opt_path": "run.yml", **opt})
