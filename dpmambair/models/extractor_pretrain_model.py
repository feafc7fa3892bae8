"""Stage 1: pretrain the degradation extractor E by reconstructing the degraded image, R(clean, E(degraded)).

The reconstruction pretext (paper §3.4, loss L1 + LPIPS) forces the embedding to carry the type and
severity of the degradation. `train.pretext: classification` instead trains E with cross-entropy
on the task labels (the "classification-style extractor" row of Table 4).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Dict, Tuple

import torch
from torch import nn

from dpmambair.archs import build_network
from dpmambair.utils.checkpoint import unwrap
from dpmambair.utils.dist import get_dist_info, reduce_sum
from dpmambair.utils.options import OptionError
from dpmambair.utils.registry import MODEL_REGISTRY

from .base_model import BaseModel, has_losses
from .validation import BestTracker, log_validation, run_validation

PAPER_LOSSES = {
    "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0},
    "perceptual_opt": {"type": "LPIPSLoss", "loss_weight": 1.0},
}
DEFAULT_RECONSTRUCTOR = {"type": "DegradationReconstructor"}
PRETEXTS = ("reconstruction", "classification")


@MODEL_REGISTRY.register()
class ExtractorPretrainModel(BaseModel):
    """Owns `net_de` (the extractor) and `net_r` (the reconstructor, or a linear task head)."""

    def __init__(self, opt: Dict[str, Any]) -> None:
        super().__init__(opt)
        if "network_de" not in opt:
            raise OptionError(f"{self.source}: missing required key 'network_de'")
        train_opt = opt.setdefault("train", {}) if self.is_train else (opt.get("train") or {})
        if "optim_g" in train_opt:
            raise OptionError(
                f"{self.source}: train.optim_g: stage 1 has no net_g; its optimizer (net_de and net_r) "
                "is train.optim_de"
            )
        self.pretext = train_opt.get("pretext", "reconstruction")
        if self.pretext not in PRETEXTS:
            raise OptionError(
                f"{self.source}: train.pretext must be one of {', '.join(PRETEXTS)}, got {self.pretext!r}"
            )
        self.net_de = build_network(opt["network_de"], f"{self.source}: network_de").to(self.device)
        embed_dim = int(opt["network_de"].get("embed_dim", 512))
        if self.pretext == "reconstruction":
            r_opt = dict(opt.get("network_r") or DEFAULT_RECONSTRUCTOR)
            r_opt.setdefault("embed_dim", embed_dim)
            self.net_r = build_network(r_opt, f"{self.source}: network_r").to(self.device)
        else:
            self.net_r = nn.Linear(embed_dim, int(train_opt.get("num_tasks", 7))).to(self.device)
        self.load_pretrained(self.net_de, "network_de")
        self.tracker = BestTracker()
        self.prototypes = None
        if self.is_train:
            self.trainable["net_de"] = self.net_de = self.model_to_device(self.net_de.train())
            self.trainable["net_r"] = self.net_r = self.model_to_device(self.net_r.train())
            if self.pretext == "reconstruction":
                if not has_losses(train_opt):  # written into options_resolved.yml
                    train_opt.update(PAPER_LOSSES)
                self.losses = self.build_losses()
            else:
                self.losses = {"ce": nn.CrossEntropyLoss()}
            self.build_optimizer(self.trainable, "optim_de")
            self.build_schedulers()

    def feed_data(self, data: Dict[str, Any]) -> None:
        self.lq = data["lq"].to(self.device, non_blocking=True)
        self.gt = data["gt"].to(self.device, non_blocking=True)
        self.task = data["task"].to(self.device) if "task" in data else None

    def optimize_parameters(self, current_iter: int) -> Dict[str, float]:
        with self.autocast():
            emb = self.net_de(self.lq)
            if self.pretext == "reconstruction":
                out = self.net_r(self.gt, emb).float()
                parts = {name: loss(out, self.lq) for name, loss in self.losses.items()}
            else:
                if self.task is None:
                    raise ValueError(f"{self.source}: train.pretext: classification needs task labels in the dataset")
                parts = {"ce": self.losses["ce"](self.net_r(emb).float(), self.task)}
        total = sum(parts.values())
        parts["total"] = total
        self.step(total, _Pair(self.net_de, self.net_r))
        return self.reduce_log(parts)

    @torch.no_grad()
    def predict(self, data: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction of the degraded image (compared with the degraded input)."""
        de, r = unwrap(self.net_de), unwrap(self.net_r)
        modes = de.training, r.training
        de.eval(), r.eval()
        lq, gt = data["lq"].to(self.device), data["gt"].to(self.device)
        emb = de(lq)
        self._collect(emb, data)
        if self.pretext == "reconstruction":
            out = r(gt, emb).float().clamp_(0, 1)
        else:
            out = lq  # nothing to reconstruct; metrics then compare lq with itself
        de.train(modes[0]), r.train(modes[1])
        return out.cpu(), data["lq"]

    def _collect(self, emb: torch.Tensor, data: Dict[str, Any]) -> None:
        names = data.get("task_name")
        if not isinstance(names, (list, tuple)):
            return
        for i, name in enumerate(names):
            self._emb_sum[name] = self._emb_sum[name] + emb[i].detach().float().cpu()
            self._emb_count[name] += 1

    def validation(self, dataloader, set_name: str, current_iter: int, tb_logger, save_img: bool) -> Dict[str, float]:
        """Reconstruction PSNR/SSIM, plus per-task mean embeddings (prototypes) for restore.py's
        'closest degradation type' and the nearest-prototype accuracy of type identification."""
        self._emb_sum: Dict[str, torch.Tensor] = defaultdict(lambda: 0)  # type: ignore[assignment]
        self._emb_count: Dict[str, int] = defaultdict(int)
        val_opt = self.opt.get("val", {}) or {}
        metrics_opt = val_opt.get("metrics") or {"psnr": {"type": "calculate_psnr"}}
        if self.pretext == "classification":
            metrics_opt = {}
        save_dir = self.experiment_path("visualization") if save_img else None
        results, grids = run_validation(
            self.predict, dataloader, set_name, metrics_opt, self.source, current_iter, save_dir, device=self.device
        )
        self._update_prototypes()
        log_validation(results, set_name, current_iter, tb_logger, grids, self.tracker, metrics_opt, self.logger)
        return results

    def _update_prototypes(self) -> None:
        names = sorted(self._emb_count)
        if get_dist_info()[1] > 1:  # every rank must reduce the same list of names
            import torch.distributed as dist

            gathered: list = [None] * get_dist_info()[1]
            dist.all_gather_object(gathered, names)
            names = sorted({n for part in gathered for n in part})
        if not names:
            return
        dim = int(self.opt["network_de"].get("embed_dim", 512))
        sums = torch.stack([self._emb_sum[n] if self._emb_count.get(n) else torch.zeros(dim) for n in names])
        counts = torch.tensor([float(self._emb_count.get(n, 0)) for n in names])
        # reduced on the model's device: an NCCL group only reduces CUDA tensors
        sums, counts = (
            reduce_sum(sums.to(self.device, torch.float64)),
            reduce_sum(counts.to(self.device, torch.float64)),
        )
        keep = counts > 0
        if keep.any():
            self.prototypes = {
                "names": [n for n, k in zip(names, keep.tolist()) if k],
                "embeddings": (sums[keep] / counts[keep, None]).float().cpu(),
            }

    def save(self, current_iter: int) -> None:
        """net_de files carry their options and prototypes, so stage 2 and restore.py need nothing else."""
        self.save_file(
            {
                "params": unwrap(self.net_de).state_dict(),
                "network_de": self.opt["network_de"],
                "prototypes": self.prototypes,
                "iter": current_iter,
            },
            "net_de",
            current_iter,
        )
        self.save_file({"params": unwrap(self.net_r).state_dict(), "pretext": self.pretext}, "net_r", current_iter)


class _Pair(nn.Module):
    """Both trained networks seen as one module, for gradient clipping over all their parameters."""

    def __init__(self, a: nn.Module, b: nn.Module) -> None:
        super().__init__()
        self.a, self.b = a, b
