"""The scan backend a run uses is loud: logged once, `auto` without the kernel on a GPU warns, `cuda` without it
stops; the chunked scan's chunk sizes follow the device and the options."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from train_helpers import tiny_options, write_options

import dpmambair.ops.scan_cuda as scan_cuda

IMPORT_ERROR = "ModuleNotFoundError: No module named 'triton'"


@pytest.fixture
def no_kernel(monkeypatch):
    """mamba_ssm failed to import (as when its __init__ cannot import triton)."""
    monkeypatch.setattr(scan_cuda, "_KERNEL", None)
    monkeypatch.setattr(scan_cuda, "_IMPORT_ERROR", IMPORT_ERROR)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _log(net_opt, device):
    from dpmambair.ops.backend_log import log_scan_backend

    logger = logging.getLogger("test_scan_backend")
    logger.propagate, logger.level = False, logging.INFO
    handler = Records()
    logger.addHandler(handler)
    try:
        name = log_scan_backend(net_opt, device, logger, "run.yml: network_g")
    finally:
        logger.removeHandler(handler)
    return name, handler.records


def test_auto_on_cuda_without_the_kernel_warns_once_with_the_import_error_and_install_command(no_kernel):
    name, records = _log({"scan_backend": "auto"}, torch.device("cuda", 0))
    assert name == "chunked"
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert IMPORT_ERROR in warnings[0]
    assert "MAMBA_KEEP_CUDA_BUILD=TRUE pip install --no-build-isolation -r requirements-cuda.txt" in warnings[0]
    infos = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert infos == [
        "selective scan backend: chunked (pure PyTorch; scan_backend: auto; chunk auto, segment auto, cuda settings)"
    ]


def test_auto_on_cpu_logs_the_chunked_backend_without_a_warning(no_kernel):
    name, records = _log({"scan_backend": "auto", "scan_chunk": 256}, torch.device("cpu"))
    assert name == "chunked"
    assert [r.levelno for r in records] == [logging.INFO]
    assert "selective scan backend: chunked" in records[0].getMessage() and "chunk 256" in records[0].getMessage()


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_cuda_backend_without_the_kernel_is_a_one_line_error(no_kernel, device):
    from dpmambair.utils.options import OptionError

    with pytest.raises(OptionError) as info:
        _log({"scan_backend": "cuda"}, torch.device(device))
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("run.yml: network_g.scan_backend 'cuda': mamba_ssm's kernel did not import")
    assert IMPORT_ERROR in msg and "MAMBA_KEEP_CUDA_BUILD=TRUE" in msg


def test_training_with_cuda_backend_without_the_kernel_stops_with_one_line(tmp_path, capsys, no_kernel):
    from dpmambair.train import main

    opt = tiny_options(tmp_path, "cuda_backend", total_iter=2)
    opt["network_g"]["scan_backend"] = "cuda"
    with pytest.raises(SystemExit) as info:
        main(["-opt", str(write_options(opt, tmp_path / "run.yml"))])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "network_g.scan_backend 'cuda': mamba_ssm's kernel did not import" in err and IMPORT_ERROR in err


def test_a_training_run_logs_its_scan_backend_once(tmp_path):
    from dpmambair.train import main

    opt = tiny_options(tmp_path, "backend_logged", total_iter=2)
    opt["val"]["val_freq"] = 0
    main(["-opt", str(write_options(opt, tmp_path / "run.yml"))])
    log = Path(tmp_path / "experiments" / "backend_logged" / "train_backend_logged.log").read_text()
    lines = [line for line in log.splitlines() if "selective scan backend:" in line]
    assert len(lines) == 1, lines
    assert lines[0].endswith(
        "selective scan backend: chunked (pure PyTorch; scan_backend: auto; chunk auto, segment auto, cpu settings)"
    )


def test_chunk_sizes_depend_on_the_device():
    from dpmambair.ops.scan_chunked import auto_chunk

    cpu, cuda = auto_chunk(8, 96, 16, 16384, "cpu"), auto_chunk(8, 96, 16, 16384, "cuda")
    assert cpu == (128, 16)
    assert cuda == (16384, 128)  # one chunk, segments of √chunk: few sequential steps, few kernel launches
    assert auto_chunk(8, 96, 16, 16384, "meta") == cpu
    assert auto_chunk(8, 96, 16, 16384) == cpu  # the default stays the CPU's (CPU speed unchanged)


def test_cuda_settings_dispatch_at_least_10x_fewer_ops_per_scan():
    """The issue's size, the full-resolution scan of an 8x128² batch (about 20 s: 74k ops dispatched on meta)."""
    from conftest import load_script

    bench = load_script("bench_scan")
    cpu, cuda = bench.count_ops("8,96,16384,16", "cpu"), bench.count_ops("8,96,16384,16", "cuda")
    assert cuda["fwdbwd_ops"] * 10 <= cpu["fwdbwd_ops"], (cpu, cuda)


def test_chunk_and_segment_options_reach_the_scan(monkeypatch):
    import importlib

    from train_helpers import TINY_G

    from dpmambair.archs import build_network

    ss = importlib.import_module("dpmambair.ops.selective_scan")
    seen = []
    real = ss.scan_chunked

    def spy(*args, **kwargs):
        seen.append((kwargs["chunk_size"], kwargs["segment"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(ss, "scan_chunked", spy)
    net = build_network(dict(TINY_G, prompt_source="classes", scan_chunk=8, scan_segment=2))
    net(torch.rand(1, 3, 16, 16), task=torch.tensor([0]))
    assert seen and set(seen) == {(8, 2)}


@pytest.mark.parametrize("key,value", [("scan_chunk", 0), ("scan_segment", "big")])
def test_bad_chunk_options_name_the_key(key, value):
    from train_helpers import TINY_G

    from dpmambair.archs import build_network

    with pytest.raises(ValueError, match=f"'{key}' must be a positive int or null"):
        build_network(dict(TINY_G, prompt_source="classes", **{key: value}))
