"""scripts/bench_peer.py: both rows and their ratios against a peer loaded by path, the JSON report, one-line errors.

Behaviour only (tiny networks, tiny inputs); the figures themselves are in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(ROOT / "scripts" / "bench_peer.py")
sys.path.insert(0, str(ROOT / "scripts"))
import bench_peer

sys.path.pop(0)

# A peer the script knows nothing about: a plain module with its own constructor arguments. `calls` counts
# forwards in training mode and in inference mode, so a test can see that both rows really ran the peer.
PEER = textwrap.dedent(
    """
    import torch
    from torch import nn

    CALLS = {"train": 0, "infer": 0}


    class TinyPeer(nn.Module):
        def __init__(self, width=4, log=None):
            super().__init__()
            self.log = log
            self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.GELU(), nn.Conv2d(width, 3, 3, padding=1))

        def forward(self, x):
            key = "train" if torch.is_grad_enabled() else "infer"
            CALLS[key] += 1
            if self.log:
                with open(self.log, "a") as f:
                    f.write(f"{key} {tuple(x.shape)}\\n")
            return x + self.body(x)
    """
)

# allinone.yml's restorer, made tiny (the file inherits everything else: model_type, network types, ...)
TINY_OPT = textwrap.dedent(
    f"""
    inherit: {ROOT / "options" / "allinone.yml"}
    name: tiny_peer_bench
    network_g:
      dim: 8
      num_blocks: [1, 1, 1, 1]
      num_refinement_blocks: 0
      d_state: 4
      embed_dim: 16
      prompt_hidden: 8
      prompt_source: extractor
    network_de:
      embed_dim: 16
    """
)

SMALL = ["--infer-size", "40", "--train-size", "16", "--train-batch", "2", "--repeats", "2", "--threads", "1"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def in_process():
    """main() sets torch's thread count; give the rest of the session back the count it had."""
    threads = torch.get_num_threads()
    yield bench_peer.main
    torch.set_num_threads(threads)


@pytest.fixture
def setup(tmp_path):
    peer = tmp_path / "peer_model.py"
    peer.write_text(PEER)
    opt = tmp_path / "tiny.yml"
    opt.write_text(TINY_OPT)
    return peer, opt


def test_both_rows_ratios_and_json(setup, tmp_path):
    peer, opt = setup
    log = tmp_path / "calls.log"
    out_json = tmp_path / "peer.json"
    res = run(
        "-opt",
        str(opt),
        "--peer-file",
        str(peer),
        "--peer-class",
        "TinyPeer",
        "--peer-kwargs",
        json.dumps({"width": 6, "log": str(log)}),
        "--json",
        str(out_json),
        *SMALL,
    )
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "1 threads, 2 repeats interleaved" in out, out
    assert "extractor not timed" in out and "TinyPeer(**" in out
    rows = {}
    for label in ("forward, 1x3x40x40, inference mode", "training step, 2x3x16x16, L1, forward+backward"):
        m = re.search(rf"^{re.escape(label)}\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x", out, re.M)
        assert m, out
        rows[label] = tuple(map(float, m.groups()))
    report = json.loads(out_json.read_text())
    assert report["threads"] == 1 and report["repeats"] == 2 and report["dtype"] == "float32"
    assert report["peer"]["class"] == "TinyPeer" and report["peer"]["kwargs"]["width"] == 6
    # the peer's parameter count follows its kwargs (width 6): 3*6*9+6 + 6*3*9+3
    assert report["peer"]["params_m"] == pytest.approx((3 * 6 * 9 + 6 + 6 * 3 * 9 + 3) / 1e6)
    assert report["ours"]["extractor_timed"] is False and report["ours"]["params_m"] > 0
    assert set(report["rows"]) == {"infer", "train"}
    for row in report["rows"].values():
        for side in ("ours_s", "peer_s"):
            assert len(row[side]["all"]) == 2 and row[side]["best"] == min(row[side]["all"]) > 0
        assert row["ratio_best"] == pytest.approx(row["ours_s"]["best"] / row["peer_s"]["best"])
        assert row["ratio_median"] == pytest.approx(row["ours_s"]["median"] / row["peer_s"]["median"])
    # the printed table is the JSON's figures
    printed = rows["forward, 1x3x40x40, inference mode"]
    assert printed[2] == pytest.approx(report["rows"]["infer"]["ratio_best"], abs=0.006)
    # the peer ran at the requested shapes, in inference mode and with autograd: one warm-up of each, then 2 timed
    calls = log.read_text().splitlines()
    assert calls.count("infer (1, 3, 40, 40)") == 3 and calls.count("train (2, 3, 16, 16)") == 3, calls
    assert len(calls) == 6, calls


def test_optimizer_step_moves_the_weights_and_is_labelled(setup, tmp_path, in_process, capsys):
    peer, opt = setup
    out_json = tmp_path / "p.json"
    in_process(
        [
            "-opt",
            str(opt),
            "--peer-file",
            str(peer),
            "--peer-class",
            "TinyPeer",
            "--rows",
            "train",
            "--optimizer-step",
            "--json",
            str(out_json),
            *SMALL,
        ]
    )
    assert "forward+backward+AdamW step" in capsys.readouterr().out
    assert set(json.loads(out_json.read_text())["rows"]) == {"train"}

    net = bench_peer.build_peer(str(peer), "TinyPeer", "{}")
    x = torch.rand(2, 3, 8, 8)
    for step, moves in ((False, False), (True, True)):
        before = [p.detach().clone() for p in net.parameters()]
        bench_peer.train_work(net, net, x, torch.zeros_like(x), optimizer_step=step)()
        changed = any(not torch.equal(b, p) for b, p in zip(before, net.parameters()))
        assert changed is moves


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing_file", r"--peer-file: no such file '.*nowhere\.py'"),
        ("missing_class", r"--peer-class: '.*peer_model\.py' defines no class 'PromptIR'"),
        ("import_fails", r"--peer-file: '.*broken\.py' failed to import: ModuleNotFoundError: .*not_a_real_dep"),
        ("bad_kwargs", r"--peer-kwargs: not valid JSON"),
        ("ctor_fails", r"--peer-class: TinyPeer\(\*\*\{'depth': 3\}\) failed: TypeError"),
        ("bad_opt", r"bad\.yml: network_g: unknown network type 'NoSuchNet'"),
    ],
)
def test_one_line_errors(setup, tmp_path, in_process, capsys, case, expected):
    peer, opt = setup
    cls, kwargs = "TinyPeer", "{}"
    if case == "missing_file":
        peer = tmp_path / "nowhere.py"
    elif case == "missing_class":
        cls = "PromptIR"
    elif case == "import_fails":
        peer = tmp_path / "broken.py"
        peer.write_text("import not_a_real_dep\n")
    elif case == "bad_kwargs":
        kwargs = "{decoder: true"
    elif case == "ctor_fails":
        kwargs = '{"depth": 3}'
    elif case == "bad_opt":
        opt = tmp_path / "bad.yml"
        opt.write_text(TINY_OPT.replace("dim: 8", "dim: 8\n  type: NoSuchNet"))
    with pytest.raises(SystemExit) as exit_:
        in_process(["-opt", str(opt), "--peer-file", str(peer), "--peer-class", cls, "--peer-kwargs", kwargs, *SMALL])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench_peer.py: "), err
    assert re.search(expected, lines[0]), lines[0]


def test_one_line_error_from_the_command_line(tmp_path):
    """The same as a user sees it: exit status 2, one line on stderr, no traceback."""
    res = run("--peer-file", str(tmp_path / "nowhere.py"), "--peer-class", "PromptIR", *SMALL)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.strip().splitlines() == [f"bench_peer.py: --peer-file: no such file '{tmp_path / 'nowhere.py'}'"]
