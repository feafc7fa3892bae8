"""The model base class: owns networks, optimizers, schedulers, EMA, mixed precision, save and resume.

Subclasses (`*_model.py`) say which networks exist, how a batch becomes a loss, and how to validate.
"""

from __future__ import annotations

import copy
import inspect
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dpmambair.losses import build_loss
from dpmambair.utils.checkpoint import load_network, save_atomic, unwrap
from dpmambair.utils.device import resolve_device
from dpmambair.utils.dist import get_dist_info, reduce_mean
from dpmambair.utils.logger import get_logger
from dpmambair.utils.options import OptionError
from dpmambair.utils.rng import get_rng_state, set_rng_state

LOSS_KEY_SUFFIX = "_opt"  # train.<name>_opt blocks are losses (BasicSR); optimizers are optim_<net>, not *_opt


def has_losses(train_opt: Dict[str, Any]) -> bool:
    """Whether the option file names any loss block; when it names none, the model uses the paper's losses."""
    return any(k.endswith(LOSS_KEY_SUFFIX) for k in train_opt)  # `<name>_opt: ~` counts: it removes an inherited loss


def no_weight_decay(param: nn.Parameter) -> bool:
    """The Mamba / nanoGPT convention: decay matrices and kernels only.

    Not decayed: parameters a module marks `_no_weight_decay` (the SSM's A_log and D, as in mamba_ssm; the DPSS
    block's skip scales and HEB's alpha) and, as in nanoGPT, every parameter with fewer than two dimensions
    (biases, norm weights). Decaying A_log would pull every state's decay rate towards one time scale, and
    decaying a gain pulls it towards zero instead of its identity value.
    """
    return bool(getattr(param, "_no_weight_decay", False)) or param.dim() < 2


def weight_decay_groups(named_params: Iterable[Tuple[str, nn.Parameter]], weight_decay: float) -> List[Dict[str, Any]]:
    """Two optimizer groups: {'params', 'names', 'weight_decay'} with decay, then the `no_weight_decay` ones at 0."""
    decay: Dict[str, nn.Parameter] = OrderedDict()
    keep: Dict[str, nn.Parameter] = OrderedDict()
    for name, p in named_params:
        if p.requires_grad:
            (keep if no_weight_decay(p) else decay)[name] = p
    groups = [
        {"params": list(decay.values()), "names": list(decay), "weight_decay": weight_decay},
        {"params": list(keep.values()), "names": list(keep), "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


class ModelEMA:
    """Exponential moving average of a network's parameters (and a copy of its buffers)."""

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.net = copy.deepcopy(unwrap(net)).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        src = unwrap(net).state_dict()
        for name, value in self.net.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(self.decay).add_(src[name].detach(), alpha=1 - self.decay)
            else:
                value.copy_(src[name])


class BaseModel:
    """Common machinery; subclasses set `self.trainable` (name → network) and implement the hooks."""

    def __init__(self, opt: Dict[str, Any]) -> None:
        self.opt = opt
        self.source = opt.get("opt_path", "options")
        self.is_train = bool(opt.get("is_train", False))
        self.device, _ = resolve_device(opt.get("num_gpu", "auto"), f"{self.source}: num_gpu", local_rank=True)
        self.logger = get_logger()
        self.trainable: Dict[str, nn.Module] = OrderedDict()
        self.optimizers: List[torch.optim.Optimizer] = []
        self.schedulers: List[Any] = []
        self.ema: Optional[ModelEMA] = None
        self.log_dict: Dict[str, float] = OrderedDict()
        self.nonfinite_in_a_row = 0
        train_opt = opt.get("train", {}) or {}
        amp = train_opt.get("use_amp", False)
        if amp not in (False, None, "bf16", "fp16"):
            raise OptionError(f"{self.source}: train.use_amp must be false, bf16 or fp16, got {amp!r}")
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp) if amp else None
        self.scaler = torch.amp.GradScaler("cuda") if amp == "fp16" and self.device.type == "cuda" else None

    # ---- networks -------------------------------------------------------------------------------
    def model_to_device(self, net: nn.Module, trainable: bool = True) -> nn.Module:
        net = net.to(self.device)
        if trainable and get_dist_info()[1] > 1:
            find_unused = bool(self.opt.get("find_unused_parameters", False))
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = DistributedDataParallel(net, device_ids=ids, find_unused_parameters=find_unused)
        return net

    def load_pretrained(self, net: nn.Module, key: str) -> None:
        """Load `path.pretrain_<key>` when set, honouring `strict_load_<short>` and `param_key_<short>`."""
        path_opt = self.opt.get("path", {}) or {}
        path = path_opt.get(f"pretrain_{key}")
        if not path:
            return
        short = key.replace("network_", "")
        strict = bool(path_opt.get(f"strict_load_{short}", True))
        param_key = path_opt.get(f"param_key_{short}", "params")
        missing, unexpected = load_network(net, path, strict=strict, param_key=param_key)
        self.logger.info(f"loaded {key} from {path}")
        if missing or unexpected:
            self.logger.warning(
                f"{path}: not loaded (missing in file): {missing[:10]}; ignored (not in network): {unexpected[:10]}"
            )

    # ---- optimisation ---------------------------------------------------------------------------
    def build_losses(self) -> Dict[str, nn.Module]:
        """Every `train.<name>_opt` block with a `type` (BasicSR's pixel_opt, perceptual_opt, ...)."""
        train_opt = self.opt.get("train", {}) or {}
        losses = OrderedDict()
        for key, value in train_opt.items():
            if key.endswith(LOSS_KEY_SUFFIX) and isinstance(value, dict):
                losses[key[: -len(LOSS_KEY_SUFFIX)]] = build_loss(value, f"{self.source}: train.{key}").to(self.device)
        return losses

    def build_optimizer(self, nets: Dict[str, nn.Module], key: str) -> torch.optim.Optimizer:
        """The optimizer of `train.<key>` over the trainable parameters of `nets` (name → network), in two groups:
        `weight_decay` applies to matrices and kernels only (see `no_weight_decay`; docs/options.md lists both)."""
        train_opt = self.opt.get("train", {}) or {}
        optim_opt = copy.deepcopy(
            train_opt.get(key) or {"type": "AdamW", "lr": 3e-4, "betas": [0.9, 0.999], "weight_decay": 1e-4}
        )
        name = optim_opt.pop("type", "AdamW")
        classes = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
        if str(name).lower() not in classes:
            raise OptionError(f"{self.source}: train.{key}.type '{name}' is not one of Adam, AdamW, SGD")
        cls = classes[str(name).lower()]
        decay = optim_opt.pop("weight_decay", inspect.signature(cls).parameters["weight_decay"].default)
        named = [(f"{net_name}.{k}", p) for net_name, net in nets.items() for k, p in unwrap(net).named_parameters()]
        params = weight_decay_groups(named, float(decay or 0.0))
        if "betas" in optim_opt:
            optim_opt["betas"] = tuple(optim_opt["betas"])
        try:
            optimizer = cls(params, **optim_opt)
        except TypeError as err:
            raise OptionError(f"{self.source}: train.{key}: {err}") from None
        self.optimizers.append(optimizer)
        return optimizer

    def build_schedulers(self) -> None:
        """Cosine annealing to `eta_min` stepped every iteration, after an optional linear warm-up."""
        train_opt = self.opt.get("train", {}) or {}
        sched = copy.deepcopy(train_opt.get("scheduler") or {"type": "CosineAnnealingLR"})
        name = str(sched.pop("type", "CosineAnnealingLR"))
        total = int(train_opt.get("total_iter", 1))
        warmup = max(int(train_opt.get("warmup_iter", -1) or -1), 0)
        for optimizer in self.optimizers:
            if name.lower() == "cosineannealinglr":
                t_max = int(sched.get("T_max", total)) - warmup
                main = torch.optim.lr_scheduler.CosineAnnealingLR(
                    optimizer, T_max=max(t_max, 1), eta_min=float(sched.get("eta_min", 1e-6))
                )
            elif name.lower() == "multisteplr":
                main = torch.optim.lr_scheduler.MultiStepLR(
                    optimizer, milestones=sched["milestones"], gamma=sched.get("gamma", 0.5)
                )
            elif name.lower() == "constantlr":
                main = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
            else:
                raise OptionError(
                    f"{self.source}: train.scheduler.type '{name}' is not one of "
                    "CosineAnnealingLR, MultiStepLR, ConstantLR"
                )
            if warmup:
                ramp = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0 / warmup, total_iters=warmup)
                main = torch.optim.lr_scheduler.SequentialLR(optimizer, [ramp, main], milestones=[warmup])
            self.schedulers.append(main)

    def setup_ema(self, net: nn.Module) -> None:
        decay = (self.opt.get("train", {}) or {}).get("ema_decay", 0)
        if decay:
            self.ema = ModelEMA(net, float(decay))

    def autocast(self):
        if self.amp_dtype is None:
            return torch.autocast(device_type=self.device.type, enabled=False)
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def step(self, loss: torch.Tensor, net: nn.Module) -> bool:
        """Backward, clip, optimizer step, EMA; a non-finite loss skips the step. Returns whether it stepped."""
        train_opt = self.opt.get("train", {}) or {}
        finite = torch.isfinite(loss.detach())
        finite = bool(reduce_mean(finite.float().view(1)).item() == 1.0)  # every rank agrees to skip
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        if not finite:
            self.nonfinite_in_a_row += 1
            limit = int(train_opt.get("max_nonfinite_steps", 5))
            self.logger.warning(f"non-finite loss ({loss.item()}); step skipped ({self.nonfinite_in_a_row} in a row)")
            if self.nonfinite_in_a_row >= limit:
                raise RuntimeError(
                    f"stopping: {self.nonfinite_in_a_row} non-finite losses in a row; lower the learning rate, "
                    "enable train.use_grad_clip, or check the data"
                )
            return False
        self.nonfinite_in_a_row = 0
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            for optimizer in self.optimizers:
                self.scaler.unscale_(optimizer)
        else:
            loss.backward()
        if train_opt.get("use_grad_clip", False):
            torch.nn.utils.clip_grad_norm_(net.parameters(), float(train_opt.get("grad_clip_norm", 0.01)))
        for optimizer in self.optimizers:
            if self.scaler is not None:
                self.scaler.step(optimizer)
            else:
                optimizer.step()
        if self.scaler is not None:
            self.scaler.update()
        if self.ema is not None:
            self.ema.update(net)
        return True

    def update_learning_rate(self) -> None:
        for scheduler in self.schedulers:
            scheduler.step()

    def current_lr(self) -> float:
        return self.optimizers[0].param_groups[0]["lr"] if self.optimizers else 0.0

    def reduce_log(self, losses: Dict[str, torch.Tensor]) -> Dict[str, float]:
        """Loss values averaged over ranks, for logging."""
        return OrderedDict((k, float(reduce_mean(v.detach().float().view(1)).item())) for k, v in losses.items())

    # ---- save / resume --------------------------------------------------------------------------
    def experiment_path(self, key: str) -> Path:
        return Path(self.opt["path"][key])

    def save_file(self, obj: Dict[str, Any], name: str, current_iter: int) -> None:
        """models/<name>_<iter>.pth and models/<name>_latest.pth, each written atomically."""
        folder = self.experiment_path("models")
        save_atomic(obj, folder / f"{name}_{current_iter}.pth")
        save_atomic(obj, folder / f"{name}_latest.pth")

    def training_state(self, current_iter: int, epoch: int, batch_in_epoch: int) -> Dict[str, Any]:
        state: Dict[str, Any] = {
            "iter": current_iter,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "optimizers": [o.state_dict() for o in self.optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers],
            "rng": get_rng_state(),
            "nonfinite_in_a_row": self.nonfinite_in_a_row,
            "trainable": {k: unwrap(v).state_dict() for k, v in self.trainable.items()},
        }
        if self.ema is not None:
            state["ema"] = self.ema.net.state_dict()
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def save_training_state(self, current_iter: int, epoch: int, batch_in_epoch: int) -> None:
        save_atomic(
            self.training_state(current_iter, epoch, batch_in_epoch),
            self.experiment_path("training_states") / f"{current_iter}.state",
        )

    def resume_training(self, state: Dict[str, Any]) -> None:
        """Restore everything the state holds: networks, optimizers, schedulers, EMA, RNGs."""
        for name, sd in state["trainable"].items():
            unwrap(self.trainable[name]).load_state_dict(sd)
        if len(state["optimizers"]) != len(self.optimizers):
            raise RuntimeError("resume: the training state has a different number of optimizers than this model")
        for o, sd in zip(self.optimizers, state["optimizers"]):
            o.load_state_dict(sd)
        for s, sd in zip(self.schedulers, state["schedulers"]):
            s.load_state_dict(sd)
        if self.ema is not None and "ema" in state:
            self.ema.net.load_state_dict(state["ema"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        self.nonfinite_in_a_row = state.get("nonfinite_in_a_row", 0)
        set_rng_state(state["rng"])

    # ---- hooks for subclasses ---------------------------------------------------------------------
    def feed_data(self, data: Dict[str, Any]) -> None:
        raise NotImplementedError

    def optimize_parameters(self, current_iter: int) -> Dict[str, float]:
        raise NotImplementedError

    def save(self, current_iter: int) -> None:
        raise NotImplementedError

    def validation(self, dataloader, set_name: str, current_iter: int, tb_logger, save_img: bool) -> Dict[str, float]:
        """Score one validation set (named `set_name`: the option block's `name`); docs/architecture.md says
        how this differs from BasicSR's `validation(dataloader, current_iter, tb_logger, save_img)`."""
        raise NotImplementedError
