"""The optimizer decays matrices and kernels only: A_log, D, biases, norms, skip scales and HEB's alpha are in the
no-decay group (the Mamba / nanoGPT convention), for both stages."""

from __future__ import annotations

import pytest
import torch
from train_helpers import tiny_options

from dpmambair.models.base_model import no_weight_decay
from dpmambair.models.dpmambair_model import DPMambaIRModel
from dpmambair.models.extractor_pretrain_model import ExtractorPretrainModel

NO_DECAY_SUFFIXES = (
    "A_log",
    "D",
    "bias",
    "skip_scale1",
    "skip_scale2",
    "alpha",
    "norm1.weight",
    "norm2.weight",
    "out_norm.weight",
)


def _model(tmp_path, model_type="DPMambaIRModel", **net_g):
    opt = tiny_options(tmp_path, "wd", model_type=model_type)
    opt["network_g"].update(net_g)
    key = "optim_g" if model_type == "DPMambaIRModel" else "optim_de"
    opt["train"].pop("optim_g")
    opt["train"][key] = {"type": "AdamW", "lr": 0.1, "weight_decay": 0.5}
    opt.update(opt_path="wd.yml", is_train=True)
    return DPMambaIRModel(opt) if model_type == "DPMambaIRModel" else ExtractorPretrainModel(opt)


def _decay_of_each_parameter(model):
    """name → weight decay of its group, taken from the optimizer itself (not from the grouping function)."""
    (optimizer,) = model.optimizers
    by_id = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    return {f"{n}.{k}": by_id[id(p)] for n, net in model.trainable.items() for k, p in net.named_parameters()}


def _step_with_zero_gradients(model):
    """One AdamW step with all gradients 0: Adam's update is 0, so only decoupled weight decay moves a parameter."""
    before = {f"{n}.{k}": p.detach().clone() for n, net in model.trainable.items() for k, p in net.named_parameters()}
    for net in model.trainable.values():
        for p in net.parameters():
            p.grad = torch.zeros_like(p)
    model.optimizers[0].step()
    after = {f"{n}.{k}": p.detach() for n, net in model.trainable.items() for k, p in net.named_parameters()}
    return {n: not torch.equal(before[n], after[n]) for n in before}


@pytest.mark.parametrize("scan", ["single", "bidirectional"])
def test_a_log_and_d_are_never_decayed(tmp_path, scan):
    model = _model(tmp_path, scan=scan)
    decay = _decay_of_each_parameter(model)
    moved = _step_with_zero_gradients(model)
    ssm = [n for n in decay if n.endswith(".A_log") or n.endswith(".D")]
    assert len(ssm) == (2 if scan == "single" else 4) * 8  # 3 encoder + 1 bottleneck + 3 decoder + 1 refinement blocks
    for name in ssm:
        assert decay[name] == 0.0, f"{name} is in a group with weight decay {decay[name]}"
        assert not moved[name], f"{name} changed under weight decay alone"


def test_groups_follow_the_convention(tmp_path):
    model = _model(tmp_path, prompt_source="classes")
    decay = _decay_of_each_parameter(model)
    zero_init = {f"{n}.{k}" for n, net in model.trainable.items() for k, p in net.named_parameters() if not p.any()}
    moved = _step_with_zero_gradients(model)
    for name, wd in decay.items():
        exempt = name.endswith(NO_DECAY_SUFFIXES)
        assert wd == (0.0 if exempt else 0.5), f"{name}: weight decay {wd}"
        zero = name in zero_init  # weight decay cannot move a parameter that is 0 (the prompt mappings' last layer)
        assert moved[name] == (not exempt and not zero), name
    decayed = [n for n, wd in decay.items() if wd]
    assert "net_g.patch_embed.weight" in decayed and "net_g.task_embedding.weight" in decayed
    assert any(n.endswith("ssm.in_proj.weight") for n in decayed) and any(
        n.endswith("ffn.dwconv.weight") for n in decayed
    )
    assert any(n.endswith("heb.alpha") for n in decay) and any(n.endswith("skip_scale1") for n in decay)


def test_stage1_groups_and_key(tmp_path):
    model = _model(tmp_path, model_type="ExtractorPretrainModel")
    decay = _decay_of_each_parameter(model)
    assert {n.split(".")[0] for n in decay} == {"net_de", "net_r"}
    for name, wd in decay.items():
        assert wd == (0.0 if name.endswith("bias") else 0.5), name


def test_marked_parameters_are_exempt_whatever_their_shape():
    p = torch.nn.Parameter(torch.zeros(4, 3))
    assert not no_weight_decay(p)
    p._no_weight_decay = True  # type: ignore[attr-defined]
    assert no_weight_decay(p)
    assert no_weight_decay(torch.nn.Parameter(torch.zeros(8)))  # a bias or a norm weight
    assert not no_weight_decay(torch.nn.Parameter(torch.zeros(8, 1)))  # a rank-1 matrix (dt_proj at dt_rank 1)
