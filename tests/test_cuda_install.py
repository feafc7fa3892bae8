"""The CUDA install is pinned and says how to build the kernel; the error hints give the same command."""

from __future__ import annotations

import re

from conftest import ROOT


def _requirements() -> list:
    lines = (ROOT / "requirements-cuda.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_requirements_cuda_pins_mamba_ssm_and_skips_causal_conv1d():
    reqs = _requirements()
    assert any(re.fullmatch(r"mamba-ssm==\d+\.\d+\.\d+(\.post\d+)?", r) for r in reqs), reqs
    assert not any(r.startswith("causal-conv1d") or r.startswith("causal_conv1d") for r in reqs), (
        "causal-conv1d is a slow nvcc build that no code uses"
    )
    assert not any(re.search(r"causal_conv1d|causal-conv1d", p.read_text()) for p in (ROOT / "dpmambair").rglob("*.py"))


def test_install_command_sets_mamba_keep_cuda_build_everywhere_it_is_given():
    from dpmambair.ops.scan_cuda import INSTALL_COMMAND

    assert INSTALL_COMMAND.startswith("MAMBA_KEEP_CUDA_BUILD=TRUE pip install --no-build-isolation")
    readme = (ROOT / "README.md").read_text()
    gpu = readme[readme.index("### GPU, with the optional CUDA kernels") : readme.index("## Data")]
    assert INSTALL_COMMAND in gpu
    assert "requirements-cuda.txt" in INSTALL_COMMAND
    assert "MAMBA_KEEP_CUDA_BUILD=TRUE" in (ROOT / "requirements-cuda.txt").read_text()
    commands = [line for line in gpu.splitlines() if "pip install" in line and "--no-build-isolation" in line]
    assert commands and all("MAMBA_KEEP_CUDA_BUILD=TRUE" in c for c in commands), commands
