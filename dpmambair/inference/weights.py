"""The shipped weights: one small file that `torch.load(..., weights_only=True)` reads and `Restorer` restores with.

A training checkpoint (`net_g_*.pth`) is self-contained but holds both the raw and the EMA weights and is read
with pickle. The shipped file keeps only what inference needs, as tensors and plain data:

    format      "dpmambair-weights/1"
    params      the restorer's weights (the EMA weights when training kept them)
    params_de   the frozen degradation extractor's weights
    network_g, network_de   the two networks' options (what `build_network` takes)
    prototypes  {"names": [...], "embeddings": (k, d) tensor} for naming the degradation of an image
    options     the resolved training options of both stages (plain dicts, lists, strings and numbers)
    meta        iterations, commit, parameter counts, ... (what the model card quotes)

`Restorer.from_checkpoint` reads it like any restorer file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import torch

from dpmambair.utils.checkpoint import CheckpointError, load_file, save_atomic

FORMAT = "dpmambair-weights/1"
# <repo>/weights/dpmambair_compact.pth; present in a clone of the repository (see weights/README.md)
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "dpmambair_compact.pth"


def plain(value: Any) -> Any:
    """`value` as plain data (dict, list, str, int, float, bool, None): what a weights-only load accepts."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return str(value)


def _tensors(state: Any, source: str) -> Dict[str, torch.Tensor]:
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{source}: expected a state dict of tensors")
    return {str(k): v.detach().cpu().clone() for k, v in state.items()}


def pack_weights(
    checkpoint: Union[str, Path], options: Optional[Mapping[str, Any]] = None, meta: Optional[Mapping[str, Any]] = None
) -> Dict[str, Any]:
    """The shipped-weights dict made from a training restorer file (`net_g_*.pth` as DPMambaIRModel saves it)."""
    path = Path(checkpoint)
    ckpt = load_file(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("network_g"), dict):
        raise CheckpointError(f"{path}: not a self-contained restorer file (no 'network_g' options)")
    key = "params_ema" if ckpt.get("params_ema") is not None else "params"
    obj: Dict[str, Any] = {
        "format": FORMAT,
        "params": _tensors(ckpt.get(key), f"{path}: {key}"),
        "network_g": plain(ckpt["network_g"]),
        "network_de": plain(ckpt.get("network_de")),
        "params_de": _tensors(ckpt["params_de"], f"{path}: params_de") if ckpt.get("params_de") is not None else None,
        "prototypes": None,
        "options": plain(options or {}),
        "meta": plain({**dict(meta or {}), "iter": ckpt.get("iter"), "weights_from": key}),
    }
    protos = ckpt.get("prototypes")
    if isinstance(protos, dict) and isinstance(protos.get("embeddings"), torch.Tensor):
        obj["prototypes"] = {
            "names": [str(n) for n in protos.get("names", [])],
            "embeddings": protos["embeddings"].detach().float().cpu().clone(),
        }
    return obj


def save_weights(obj: Mapping[str, Any], path: Union[str, Path]) -> Path:
    """Write atomically, then read back with `weights_only=True` so a file that a safe load refuses never ships."""
    path = Path(path)
    check = path.with_name(f".{path.name}.check")
    save_atomic(dict(obj), check)
    try:
        read_weights(check)
    except CheckpointError:
        check.unlink()
        raise
    os.replace(check, path)  # an earlier file at `path` is replaced only by one that passed the check
    return path


def read_weights(path: Union[str, Path]) -> Dict[str, Any]:
    """`torch.load(path, weights_only=True)` of a shipped-weights file, with one-line errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: weights not found (the shipped ones are weights/dpmambair_compact.pth in a clone of the "
            "repository; or pass --weights with a file written by scripts/pack_weights.py)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt, truncated, or holding objects a safe load refuses
        raise CheckpointError(f"{path}: not a readable weights file ({type(err).__name__}: {err})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path}: not a DPMambaIR weights file (format {found!r}, expected {FORMAT!r})")
    return obj


def shipped_weights() -> Path:
    """The path of the shipped compact model, or an error saying where it should be."""
    if not SHIPPED_WEIGHTS.is_file():
        raise CheckpointError(
            f"{SHIPPED_WEIGHTS}: the shipped weights are missing. They come with a clone of the repository "
            "(weights/dpmambair_compact.pth); restore its copy with `git checkout -- weights/`, or pass --weights"
        )
    return SHIPPED_WEIGHTS


__all__ = ["FORMAT", "SHIPPED_WEIGHTS", "pack_weights", "plain", "read_weights", "save_weights", "shipped_weights"]
