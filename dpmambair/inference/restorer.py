"""The object that restores images: a trained restorer, its frozen degradation extractor, and how to run them.

`Restorer.from_checkpoint(path)` needs nothing but a self-contained restorer file as the training side
writes it (`net_g_*.pth`: weights, EMA weights, both networks' options, the frozen extractor and the
per-task prototype embeddings); plain BasicSR files (`{"params": ...}`) load when an option dict gives
`network_g` (and, when the restorer reads embeddings, `network_de` / `path.pretrain_network_de`).

Order of work for one batch: the extractor embeds the *whole* degraded image once; the restorer is then
called on the whole image or on overlapping tiles, optionally for the 8 flips/rotations, always with that
same embedding (the degradation type is a property of the image, not of a crop or an orientation).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dpmambair.archs import build_network, needs_extractor
from dpmambair.ops.backend_log import log_scan_backend
from dpmambair.utils.checkpoint import CheckpointError, freeze, load_file, load_network
from dpmambair.utils.device import resolve_device
from dpmambair.utils.errors import DPMambaIRError
from dpmambair.utils.logger import LOGGER_NAME

from .auto_tile import MIN_TILE, bytes_per_pixel, choose_tile, free_memory_bytes, is_out_of_memory, smaller_tile
from .tiling import pad_to_multiple, self_ensemble, tiled_forward

TaskLike = Union[None, int, Sequence[int], Tensor]
AUTO = "auto"  # tile: auto (see auto_tile.py)
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class RestoreError(DPMambaIRError, ValueError):
    """A usage problem at inference time (device, missing extractor/prototypes/task); one line naming the cause."""


def _build(opt: Mapping[str, Any], source: str) -> nn.Module:
    try:
        return build_network(dict(opt), source)
    except ValueError as err:  # bad network options stored in a checkpoint or an option file
        raise CheckpointError(str(err)) from None


def _check_prototypes(protos: Any, source: str) -> Optional[Dict[str, Any]]:
    """{'names': [k], 'embeddings': (k, d)} or None; anything else is an error naming the file."""
    if protos is None:
        return None
    names = protos.get("names") if isinstance(protos, dict) else None
    emb = protos.get("embeddings") if isinstance(protos, dict) else None
    if (
        not isinstance(names, (list, tuple))
        or not isinstance(emb, Tensor)
        or emb.dim() != 2
        or emb.shape[0] != len(names)
        or len(names) == 0
    ):
        raise CheckpointError(f"{source}: 'prototypes' must be {{'names': [k names], 'embeddings': (k, dim) tensor}}")
    return {"names": [str(n) for n in names], "embeddings": emb.detach().float().cpu()}


class Restorer:
    """Restores (b, 3, H, W) images in [0, 1] of any size with a restorer and its frozen degradation extractor."""

    def __init__(
        self,
        net_g: nn.Module,
        net_de: Optional[nn.Module] = None,
        prompt_source: str = "extractor",
        prototypes: Optional[Dict[str, Any]] = None,
        tile: Union[int, str, None] = None,
        tile_overlap: int = 32,
        self_ensemble: bool = False,
        device: Union[str, torch.device, None] = "cpu",
        source: str = "restorer",
        precision: str = "fp32",
    ) -> None:
        if precision not in PRECISIONS:
            raise RestoreError(f"{source}: 'precision' must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        tile = tile or None  # 0 / null / false: whole image
        if (
            tile != AUTO
            and tile is not None
            and (not isinstance(tile, int) or isinstance(tile, bool) or tile < 0 or tile % 8)
        ):
            raise RestoreError(
                f"{source}: 'tile' must be a positive multiple of 8, 'auto', or 0/null for the whole image, "
                f"got {tile!r}"
            )
        largest_overlap = None if tile is None else (MIN_TILE if tile == AUTO else tile) - 8
        if (
            not isinstance(tile_overlap, int)
            or tile_overlap < 0
            or (largest_overlap is not None and tile_overlap > largest_overlap)
        ):
            raise RestoreError(
                f"{source}: 'tile_overlap' must be an int in [0, tile - 8] (tile auto: [0, {MIN_TILE - 8}]), "
                f"got {tile_overlap!r} (tile {tile})"
            )
        if prompt_source not in ("extractor", "classes"):
            raise RestoreError(f"{source}: 'prompt_source' must be extractor or classes, got {prompt_source!r}")
        self.device, _ = resolve_device(device, f"{source}: device")
        self.net_g = freeze(net_g.to(self.device))
        self.net_de = freeze(net_de.to(self.device)) if net_de is not None else None
        self.prompt_source = prompt_source
        self.prototypes = _check_prototypes(prototypes, source)
        self.tile, self.tile_overlap, self.self_ensemble = tile, tile_overlap, bool(self_ensemble)
        self.source = source
        self.last_tile: Optional[int] = None if tile == AUTO else tile  # the tile the last call used
        self._per_pixel: Dict[Tuple[int, str], float] = {}  # tile auto: measured activation bytes per pixel
        self.load_report: Dict[str, Tuple[List[str], List[str]]] = {}
        if self.prompt_source == "extractor" and self.net_de is None and needs_extractor(net_g):
            raise RestoreError(
                f"{source}: the restorer reads degradation embeddings but no degradation extractor was given"
            )

    # ---- loading ------------------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(
        cls,
        path: Union[str, Path],
        opt: Optional[Mapping[str, Any]] = None,
        device: Union[str, torch.device, None] = "cpu",
        tile: Union[int, str, None] = None,
        tile_overlap: Optional[int] = None,
        self_ensemble: Optional[bool] = None,
        strict: Optional[bool] = None,
        param_key: Optional[str] = None,
        logger: Optional[logging.Logger] = None,
        precision: Optional[str] = None,
    ) -> "Restorer":
        """Build and load a restorer from `path`.

        The checkpoint's own `network_g` / `network_de` options win over `opt` (they are what the weights
        were trained with); `opt` supplies them for plain `{"params": ...}` files, plus `path.param_key_g`
        (default: `params_ema` when the file has it, else `params`), `path.strict_load_g`,
        `path.pretrain_network_de`, `path.strict_load_de`, and `tile`, `tile_overlap`, `self_ensemble`,
        `precision` unless given here. Non-strict loading loads what matches and records the rest in `load_report`.
        """
        log = logger or logging.getLogger(LOGGER_NAME)
        opt = dict(opt or {})
        path_opt = dict(opt.get("path") or {})
        opt_src = str(opt.get("opt_path", "options"))
        path = Path(path)
        ckpt = load_file(path)
        if not isinstance(ckpt, dict):
            raise CheckpointError(f"{path}: expected a dict checkpoint with 'params', got {type(ckpt).__name__}")
        strict_g = bool(path_opt.get("strict_load_g", True)) if strict is None else bool(strict)
        strict_de = bool(path_opt.get("strict_load_de", True)) if strict is None else bool(strict)

        net_opt = ckpt.get("network_g")
        if isinstance(net_opt, dict):
            src_g = f"{path}: network_g"
            given = opt.get("network_g")
            if isinstance(given, dict) and given != net_opt:
                diff = sorted(k for k in set(given) | set(net_opt) if given.get(k) != net_opt.get(k))
                log.warning(
                    f"{opt_src}: network_g differs from the options stored in {path} ({', '.join(diff[:5])}); "
                    "using the checkpoint's, which match its weights"
                )
        elif isinstance(opt.get("network_g"), dict):
            net_opt, src_g = opt["network_g"], f"{opt_src}: network_g"
        else:
            raise CheckpointError(
                f"{path}: holds weights only (no 'network_g' options); give an option file with network_g"
            )
        net_g = _build(net_opt, src_g)
        key_g = (
            param_key
            or path_opt.get("param_key_g")
            or ("params_ema" if ckpt.get("params_ema") is not None else "params")
        )
        report: Dict[str, Tuple[List[str], List[str]]] = {}
        report["network_g"] = load_network(net_g, path, strict=strict_g, param_key=key_g)

        net_de, protos, protos_src = None, ckpt.get("prototypes"), str(path)
        if needs_extractor(net_g):
            if ckpt.get("params_de") is not None:
                de_opt = ckpt.get("network_de") or opt.get("network_de")
                if not isinstance(de_opt, dict):
                    raise CheckpointError(f"{path}: has extractor weights 'params_de' but no 'network_de' options")
                net_de = _build(de_opt, f"{path}: network_de")
                report["network_de"] = load_network(net_de, path, strict=strict_de, param_key="params_de")
            elif path_opt.get("pretrain_network_de"):
                de_path = Path(path_opt["pretrain_network_de"])
                de_ckpt = load_file(de_path)
                de_opt = (de_ckpt.get("network_de") if isinstance(de_ckpt, dict) else None) or opt.get("network_de")
                if not isinstance(de_opt, dict):
                    raise CheckpointError(f"{de_path}: no 'network_de' options in the file or in {opt_src}")
                net_de = _build(de_opt, f"{de_path}: network_de")
                report["network_de"] = load_network(
                    net_de, de_path, strict=strict_de, param_key=path_opt.get("param_key_de", "params")
                )
                if protos is None and isinstance(de_ckpt, dict):
                    protos, protos_src = de_ckpt.get("prototypes"), str(de_path)
            else:
                raise CheckpointError(
                    f"{path}: the restorer reads degradation embeddings (prompt_source: extractor) but the "
                    f"file has no extractor ('params_de') and {opt_src} sets no path.pretrain_network_de"
                )
        del ckpt
        for name, (missing, unexpected) in report.items():
            if missing or unexpected:
                log.warning(
                    f"{path}: {name} loaded partially (strict_load off); not in the file: {missing[:10]}"
                    f"{' ...' if len(missing) > 10 else ''}; ignored from the file: {unexpected[:10]}"
                    f"{' ...' if len(unexpected) > 10 else ''}"
                )
        restorer = cls(
            net_g,
            net_de,
            prompt_source=str(net_opt.get("prompt_source", getattr(net_g, "prompt_source", "extractor"))),
            prototypes=_check_prototypes(protos, protos_src),
            device=device,
            tile=opt.get("tile") if tile is None else tile,
            tile_overlap=int(opt.get("tile_overlap", 32) if tile_overlap is None else tile_overlap),
            self_ensemble=bool(opt.get("self_ensemble", False) if self_ensemble is None else self_ensemble),
            source=str(path),
            precision=str(opt.get("precision", "fp32") if precision is None else precision),
        )
        restorer.load_report = report
        log_scan_backend(net_opt, restorer.device, log, src_g)
        return restorer

    # ---- inference ----------------------------------------------------------------------------------
    def _check(self, lq: Any) -> Tensor:
        channels = getattr(self.net_g, "inp_channels", 3)
        if not isinstance(lq, Tensor) or lq.dim() != 4 or lq.shape[1] != channels or not lq.is_floating_point():
            shape = tuple(lq.shape) if isinstance(lq, Tensor) else type(lq).__name__
            raise RestoreError(
                f"{self.source}: 'lq' must be a float tensor (b, {channels}, H, W) in [0, 1], got {shape}"
            )
        return lq.to(self.device, torch.float32)

    @torch.no_grad()
    def embed(self, lq: Tensor) -> Tensor:
        """The (b, dim) degradation embedding of each whole image (the frozen extractor's output)."""
        if self.net_de is None:
            raise RestoreError(
                f"{self.source}: this restorer has no degradation extractor (prompt_source: {self.prompt_source})"
            )
        return self.net_de(self._check(lq)).float()

    def _task(self, task: TaskLike, batch: int) -> Tensor:
        if task is None:
            raise RestoreError(f"{self.source}: prompt_source: classes needs the task label of each image (task=...)")
        t = torch.as_tensor(task, dtype=torch.long, device=self.device).reshape(-1)
        if t.numel() == 1 and batch > 1:
            t = t.expand(batch)
        if t.numel() != batch:
            raise RestoreError(f"{self.source}: 'task' must give one label per image ({batch}), got {t.numel()}")
        return t

    def condition(self, lq: Tensor, task: TaskLike = None, embedding: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Keyword arguments for net_g, computed once per batch of whole images."""
        if self.prompt_source == "classes":
            return {"task": self._task(task, lq.shape[0])}
        if self.net_de is None:
            return {}
        emb = self.embed(lq) if embedding is None else embedding.to(self.device, torch.float32)
        if emb.dim() != 2 or emb.shape[0] != lq.shape[0]:
            raise RestoreError(
                f"{self.source}: 'embedding' must have shape ({lq.shape[0]}, dim), got {tuple(emb.shape)}"
            )
        return {"embedding": emb}

    @torch.no_grad()
    def __call__(self, lq: Tensor, task: TaskLike = None, embedding: Optional[Tensor] = None) -> Tensor:
        """Restore `lq` (b, 3, H, W) in [0, 1] → (b, 3, H, W) in [0, 1], on `self.device`.

        `embedding` may be passed when the caller already computed it (e.g. for `nearest_degradation`).
        """
        lq = self._check(lq)
        cond = self.condition(lq, task, embedding)

        def net(t: Tensor) -> Tensor:
            with self._autocast():
                return self.net_g(t, **cond)

        def restore(tile: Optional[int]) -> Tensor:
            if tile:

                def run(t: Tensor) -> Tensor:
                    return tiled_forward(net, t, tile, self.tile_overlap)
            else:

                def run(t: Tensor) -> Tensor:
                    padded, (h, w) = pad_to_multiple(t, 8)
                    return net(padded)[..., :h, :w]

            return self_ensemble(run, lq) if self.self_ensemble else run(lq)

        out = self._restore_auto(lq, net, restore) if self.tile == AUTO else restore(self.tile)
        if self.precision != "fp32" and not bool(torch.isfinite(out).all()):
            # fp16 tops out at 65504: a feature beyond it becomes inf, then NaN, which an image writer turns
            # into black pixels (SwinIR#103). Say so instead of writing them.
            raise RestoreError(
                f"{self.source}: {self.precision} overflowed on this image (non-finite values inside the "
                "network); restore it with precision fp32 or bf16"
            )
        return out.float().clamp_(0, 1)

    def _restore_auto(self, lq: Tensor, net: Callable[[Tensor], Tensor], restore: Callable[[Optional[int]], Tensor]):
        """`tile: auto`: a tile from the free memory, halved and retried on an out-of-memory error (logged)."""
        log = logging.getLogger(LOGGER_NAME)
        h, w = lq.shape[-2:]
        key = (lq.shape[0], self.precision)  # the cost of a pixel depends on the batch and precision, not the image
        if key not in self._per_pixel:
            self._per_pixel[key] = bytes_per_pixel(self.net_g, net, lq[:, :, :1, :1])
        per_pixel = self._per_pixel[key]
        free = free_memory_bytes(self.device)
        tile = choose_tile(per_pixel, free, h, w)
        log.info(
            f"tile auto: {tile or 'off (whole image)'} for {w}x{h} ({per_pixel / 1024:.1f} KiB per pixel, "
            f"{free / 2**30:.1f} GiB free on {self.device})"
        )
        while True:
            try:
                out = restore(tile)
                self.last_tile = tile
                return out
            except RuntimeError as err:
                if not is_out_of_memory(err):
                    raise
                smaller = smaller_tile(tile, h, w)
                if smaller is None:
                    raise RestoreError(
                        f"{self.source}: out of memory on {self.device} even with {MIN_TILE}-pixel tiles"
                    ) from None
                log.warning(f"out of memory with tile {tile or 'off (whole image)'}; retrying with tile {smaller}")
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                tile = smaller

    def _autocast(self):
        """Mixed precision for the restorer's matmuls and convolutions (`precision` bf16 / fp16).

        Why autocast and not a cast of the weights: the scan (selective_scan turns autocast off and computes in
        float32) and the normalisations (LayerNorm2d, FP32LayerNorm) must stay in float32, and autocast lets
        them. The degradation extractor always runs in float32: its one embedding per image picks the prompt.
        """
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=PRECISIONS[self.precision])

    @torch.no_grad()
    def similarities(self, lq: Optional[Tensor] = None, embedding: Optional[Tensor] = None) -> Tensor:
        """(b, k) cosine similarity of each image's embedding to each task prototype (names in prototypes['names'])."""
        if self.prototypes is None:
            raise RestoreError(
                f"{self.source}: the checkpoint holds no degradation prototypes (they are computed during "
                "stage-1 validation on a set with task names), so the degradation type cannot be named"
            )
        emb = self.embed(lq) if embedding is None else embedding.float()
        protos = self.prototypes["embeddings"].to(emb.device)
        if emb.shape[-1] != protos.shape[-1]:
            raise RestoreError(
                f"{self.source}: prototypes have dimension {protos.shape[-1]}, embeddings {emb.shape[-1]}"
            )
        return F.cosine_similarity(emb[:, None, :], protos[None, :, :], dim=-1)

    def nearest_degradation(
        self, lq: Optional[Tensor] = None, embedding: Optional[Tensor] = None
    ) -> List[Tuple[str, float]]:
        """Per image, the task whose prototype embedding is closest (cosine) and that similarity."""
        sims = self.similarities(lq, embedding)
        best, idx = sims.max(dim=1)
        names = self.prototypes["names"]  # type: ignore[index]
        return [(names[int(i)], float(s)) for s, i in zip(best.tolist(), idx.tolist())]

    def degradation_report(
        self, lq: Optional[Tensor] = None, embedding: Optional[Tensor] = None
    ) -> List[Dict[str, Any]]:
        """Per image: the cosine similarity to every prototype, the nearest type, and a confidence.

        The confidence is the nearest prototype's cosine similarity: how much the image looks like a degradation
        the model was trained on. `restore.py --min-confidence` leaves an image alone below a threshold.
        """
        sims = self.similarities(lq, embedding)
        names = self.prototypes["names"]  # type: ignore[index]
        out = []
        for row in sims.tolist():
            best = max(range(len(row)), key=row.__getitem__)
            out.append(
                {
                    "similarities": {n: round(float(v), 4) for n, v in zip(names, row)},
                    "nearest": names[best],
                    "confidence": round(float(row[best]), 4),
                }
            )
        return out


__all__ = ["Restorer", "RestoreError"]
