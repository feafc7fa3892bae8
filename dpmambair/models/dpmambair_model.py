"""Stage 2: train the DPMambaIR restorer with the pretrained degradation extractor frozen."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch

from dpmambair.archs import build_network, needs_extractor
from dpmambair.ops.backend_log import log_scan_backend
from dpmambair.utils.checkpoint import freeze, load_file, unwrap
from dpmambair.utils.options import OptionError
from dpmambair.utils.registry import MODEL_REGISTRY

from .base_model import BaseModel, has_losses
from .validation import BestTracker, log_validation, run_validation

PAPER_LOSSES = {
    "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0},
    "mse_opt": {"type": "MSELoss", "loss_weight": 0.5},
    "fft_opt": {"type": "FFTLoss", "loss_weight": 0.001},
}


@MODEL_REGISTRY.register()
class DPMambaIRModel(BaseModel):
    """Owns `net_g` (trained) and `net_de` (frozen: eval mode, no gradients, not in the optimizer, not in
    training states); the embedding of each degraded input conditions the restorer."""

    def __init__(self, opt: Dict[str, Any]) -> None:
        super().__init__(opt)
        if "network_g" not in opt:
            raise OptionError(f"{self.source}: missing required key 'network_g'")
        self.net_opt = opt["network_g"]
        self.prompt_source = self.net_opt.get("prompt_source", "extractor")
        self.net_g = build_network(self.net_opt, f"{self.source}: network_g").to(self.device)
        self.scan_backend = log_scan_backend(self.net_opt, self.device, self.logger, f"{self.source}: network_g")
        self.net_de = None
        self.prototypes = None
        if needs_extractor(self.net_g):
            self._load_extractor()
        self.load_pretrained(self.net_g, "network_g")
        self.tracker = BestTracker()
        if self.is_train:
            self.net_g.train()
            self.trainable["net_g"] = self.net_g = self.model_to_device(self.net_g)
            train_opt = opt.setdefault("train", {})
            if not has_losses(train_opt):  # written into options_resolved.yml: the file says what was trained
                train_opt.update(PAPER_LOSSES)
            self.losses = self.build_losses()
            self.build_optimizer(self.trainable, "optim_g")
            self.build_schedulers()
            self.setup_ema(self.net_g)

    def _load_extractor(self) -> None:
        path = (self.opt.get("path", {}) or {}).get("pretrain_network_de")
        if not path:
            raise OptionError(
                f"{self.source}: network_g uses degradation embeddings (prompt_source: extractor) but "
                "path.pretrain_network_de is not set; pretrain the extractor first (stage 1) "
                "or use prompt_source: classes"
            )
        if "network_de" not in self.opt:
            raise OptionError(
                f"{self.source}: path.pretrain_network_de is set but network_de (the extractor's options) is missing"
            )
        self.net_de = build_network(self.opt["network_de"], f"{self.source}: network_de")
        self.load_pretrained(self.net_de, "network_de")
        self.net_de = freeze(self.net_de.to(self.device))
        ckpt = load_file(path)
        self.prototypes = ckpt.get("prototypes") if isinstance(ckpt, dict) else None

    # ---- data and conditioning ------------------------------------------------------------------
    def feed_data(self, data: Dict[str, Any]) -> None:
        self.lq = data["lq"].to(self.device, non_blocking=True)
        self.gt = data["gt"].to(self.device, non_blocking=True) if "gt" in data else None
        self.task = data["task"].to(self.device) if "task" in data else None

    def condition(self, lq: torch.Tensor, task: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Keyword arguments for net_g: the frozen extractor's embedding, or the task labels."""
        if self.prompt_source == "classes":
            if task is None:
                raise ValueError(
                    f"{self.source}: prompt_source: classes needs task labels, but the dataset gives no 'task'"
                )
            return {"task": task}
        if self.net_de is None:
            return {}
        with torch.no_grad():
            return {"embedding": self.net_de(lq).float()}

    def optimize_parameters(self, current_iter: int) -> Dict[str, float]:
        cond = self.condition(self.lq, self.task)
        with self.autocast():
            self.output = self.net_g(self.lq, **cond)
        out = self.output.float()
        parts = {name: loss(out, self.gt) for name, loss in self.losses.items()}
        total = sum(parts.values())
        parts["total"] = total
        self.step(total, self.net_g)
        return self.reduce_log(parts)

    # ---- inference and validation ---------------------------------------------------------------
    def eval_net(self) -> torch.nn.Module:
        return self.ema.net if self.ema is not None else unwrap(self.net_g)

    @torch.no_grad()
    def predict(self, data: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor]:
        net = self.eval_net()
        was_training = net.training
        net.eval()
        lq = data["lq"].to(self.device)
        task = data["task"].to(self.device) if "task" in data else None
        out = net(lq, **self.condition(lq, task)).float().clamp_(0, 1)
        net.train(was_training)
        return out.cpu(), data["gt"]

    def validation(self, dataloader, set_name: str, current_iter: int, tb_logger, save_img: bool) -> Dict[str, float]:
        val_opt = self.opt.get("val", {}) or {}
        metrics_opt = val_opt.get("metrics") or {"psnr": {"type": "calculate_psnr"}, "ssim": {"type": "calculate_ssim"}}
        save_dir = self.experiment_path("visualization") if save_img else None
        results, grids = run_validation(
            self.predict, dataloader, set_name, metrics_opt, self.source, current_iter, save_dir, device=self.device
        )
        log_validation(results, set_name, current_iter, tb_logger, grids, self.tracker, metrics_opt, self.logger)
        return results

    # ---- checkpoints ----------------------------------------------------------------------------
    def save(self, current_iter: int) -> None:
        """A self-contained restorer file: weights, EMA weights, both networks' options and the frozen extractor."""
        obj: Dict[str, Any] = {
            "params": unwrap(self.net_g).state_dict(),
            "network_g": self.net_opt,
            "network_de": self.opt.get("network_de") if self.net_de is not None else None,
            "params_de": self.net_de.state_dict() if self.net_de is not None else None,
            "prototypes": self.prototypes,
            "iter": current_iter,
        }
        if self.ema is not None:
            obj["params_ema"] = self.ema.net.state_dict()
        self.save_file(obj, "net_g", current_iter)

    def training_state(self, current_iter: int, epoch: int, batch_in_epoch: int) -> Dict[str, Any]:
        state = super().training_state(current_iter, epoch, batch_in_epoch)
        state["best"] = self.tracker.state_dict()
        return state

    def resume_training(self, state: Dict[str, Any]) -> None:
        super().resume_training(state)
        self.tracker.load_state_dict(state.get("best", {}))
