"""MAC counting against hand-computed numbers, and scripts/model_stats.py end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from dpmambair.archs.dpssm_arch import DPSSM
from dpmambair.utils.complexity import count_macs, count_params

ROOT = Path(__file__).resolve().parents[1]


def test_count_macs_of_plain_layers():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
            self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)
            self.fc = nn.Linear(2, 6)

        def forward(self, x):
            return self.fc(self.up(self.dw(self.conv(x))).permute(0, 2, 3, 1))

    macs = count_macs(Net(), torch.rand(1, 3, 5, 5))
    conv = 4 * 25 * 27 + 4 * 25 * 9 + (4 * 25) * (2 * 4)  # conv, depthwise conv, transposed conv
    linear = (10 * 10 * 6) * 2  # 100 positions × 6 outputs × 2 inputs
    assert macs["conv"] == conv and macs["linear"] == linear
    assert macs["total"] == conv + linear and macs["scan"] == 0


def test_count_macs_of_a_dpssm_layer_reports_the_scan_apart():
    # C=8, n=4, d_inner=16, dt_rank=1, embed 32, prompt_hidden 8; input (2, 8, 5, 6): b=2, l=30
    layer = DPSSM(8, d_state=4, embed_dim=32, prompt_hidden=8)
    macs = count_macs(layer, torch.rand(2, 8, 5, 6), torch.randn(2, 32))
    b, length, c, d, n, r, e, h = 2, 30, 8, 16, 4, 1, 32, 8
    linear = (
        b * length * 2 * d * c  # in_proj
        + b * length * (r + 2 * n) * d  # x_proj
        + b * length * d * r  # dt_proj
        + b * length * c * d  # out_proj
        + (b * h * e + b * d * h)
        + 2 * (b * h * e + b * n * h)
    )  # M_Δ, M_B, M_C
    conv = b * d * length * 9  # depthwise 3×3
    assert macs["linear"] == linear and macs["conv"] == conv
    assert macs["scan"] == 9 * b * length * d * n + b * d * length
    assert macs["total"] == linear + conv


def test_count_params_counts_shared_tensors_once():
    lin = nn.Linear(3, 4)
    assert count_params(nn.Sequential(lin, lin)) == 16


def _run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "model_stats.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_model_stats_script_prints_the_lines():
    """Every printed figure equals the library's count for the same option file, at the printed precision."""
    import re

    from dpmambair.archs import build_network
    from dpmambair.utils.options import parse_options

    size = 64
    res = _run_script("-opt", "tests/data/model_stats_tiny.yml", "--size", str(size))
    assert res.returncode == 0, res.stderr
    printed = {}
    for line in res.stdout.splitlines():
        m = re.match(r"^(.*?):\s*([0-9.]+)(?: M| ms)?(?: \(\d+ threads\))?$", line)
        if m:
            printed[m.group(1)] = m.group(2)
    opt = parse_options(ROOT / "tests" / "data" / "model_stats_tiny.yml", is_train=False)
    torch.manual_seed(0)
    net_g, net_de = build_network(opt["network_g"]).eval(), build_network(opt["network_de"]).eval()
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        macs_de = count_macs(net_de, x)
        macs_g = count_macs(net_g, x, embedding=net_de(x), task=torch.zeros(1, dtype=torch.long))
    at = f"@1x3x{size}x{size}"
    expected = {
        "network_g parameters": f"{count_params(net_g) / 1e6:.2f}",
        "network_de parameters": f"{count_params(net_de) / 1e6:.2f}",
        f"network_g GMACs {at} (scan excluded)": f"{macs_g['total'] / 1e9:.2f}",
        f"network_g scan GMACs {at} (9*b*l*d*n + b*d*l)": f"{macs_g['scan'] / 1e9:.2f}",
        f"network_de GMACs {at}": f"{macs_de['total'] / 1e9:.2f}",
    }
    assert macs_g["scan"] >= 0.01e9 and macs_g["total"] > macs_g["scan"], "the size must make every figure visible"
    for label, value in expected.items():
        assert printed.get(label) == value, (
            f"{label}: printed {printed.get(label)}, the library counts {value}\n{res.stdout}"
        )
    latency = {k: float(v) for k, v in printed.items() if "CPU latency" in k}
    assert len(latency) == 2 and all(v > 0 for v in latency.values()), res.stdout


def test_model_stats_script_errors_are_one_line():
    res = _run_script("-opt", "options/does_not_exist.yml")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "does_not_exist.yml" in lines[0]
