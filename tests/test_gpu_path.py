"""The GPU path's collectives, checked without a GPU.

An NCCL process group reduces only CUDA tensors, so every tensor handed to a collective must live on the
model's device. A fake NCCL `all_reduce` enforces that here: the model's device is CUDA where one exists,
else the meta device (a device that is not the CPU, which is what the CPU-only Gloo test cannot tell apart).
"""

from __future__ import annotations

from typing import List

import pytest
import torch
import torch.distributed as dist

import dpmambair.models.extractor_pretrain_model as stage1_module
import dpmambair.models.validation as validation_module
import dpmambair.utils.dist as dist_utils
from dpmambair.models.dpmambair_model import DPMambaIRModel
from dpmambair.models.extractor_pretrain_model import ExtractorPretrainModel
from dpmambair.models.validation import BestTracker
from dpmambair.utils.logger import get_logger

MODEL_DEVICE = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("meta")


class ReachedCollective(Exception):
    """Raised by the fake all_reduce once it has checked a tensor (a meta tensor holds no values to go on with)."""


@pytest.fixture
def fake_nccl(monkeypatch) -> List[torch.device]:
    """Two ranks whose all_reduce, like NCCL's, refuses tensors that are not on the model's device."""
    seen: List[torch.device] = []

    def all_reduce(tensor, op=None, group=None, async_op=False):
        if tensor.device != MODEL_DEVICE:
            raise RuntimeError(
                f"fake NCCL: all_reduce got a tensor on {tensor.device}, but the model is on "
                f"{MODEL_DEVICE} (NCCL reduces only CUDA tensors)"
            )
        seen.append(tensor.device)
        if tensor.device.type == "meta":
            raise ReachedCollective
        tensor.mul_(2)  # two identical ranks

    def all_gather_object(out, obj, group=None):
        out[:] = [obj] * len(out)

    for module in (dist_utils, validation_module, stage1_module):
        monkeypatch.setattr(module, "get_dist_info", lambda: (0, 2))
    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    monkeypatch.setattr(dist, "all_gather_object", all_gather_object)
    return seen


def _batch() -> dict:
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(1, 3, 8, 8, generator=gen)
    return {"lq": gt * 0.5, "gt": gt, "task_name": ["noise"]}


def _stub(cls, **attrs):
    model = cls.__new__(cls)
    model.source, model.device, model.tracker, model.logger = "stub.yml", MODEL_DEVICE, BestTracker(), get_logger()
    for key, value in attrs.items():
        setattr(model, key, value)
    return model


def _validate(model) -> None:
    try:
        model.validation([_batch()], "val", 6, None, False)
    except ReachedCollective:
        pass


def test_stage2_validation_reduces_its_totals_on_the_model_device(fake_nccl):
    model = _stub(
        DPMambaIRModel,
        opt={"val": {"metrics": {"psnr": {"type": "calculate_psnr"}}}},
        predict=lambda data: (data["lq"], data["gt"]),
    )
    _validate(model)
    assert fake_nccl == [MODEL_DEVICE]


def test_stage1_validation_reduces_its_totals_on_the_model_device(fake_nccl):
    model = _stub(
        ExtractorPretrainModel,
        opt={"network_de": {"embed_dim": 4}, "val": {}},
        pretext="reconstruction",
        predict=lambda data: (data["lq"], data["lq"]),
    )
    _validate(model)
    assert fake_nccl == [MODEL_DEVICE]


def test_stage1_prototypes_are_reduced_on_the_model_device(fake_nccl):
    model = _stub(
        ExtractorPretrainModel,
        opt={"network_de": {"embed_dim": 4}},
        prototypes=None,
        _emb_sum={"noise": torch.ones(4)},
        _emb_count={"noise": 1},
    )
    try:
        model._update_prototypes()
    except ReachedCollective:
        pass
    assert fake_nccl and all(d == MODEL_DEVICE for d in fake_nccl)
    if MODEL_DEVICE.type == "cuda":  # pragma: no cover - GPU machines only
        assert model.prototypes["embeddings"].device.type == "cpu"
