"""Saving and loading weights and training states without ever leaving a half-written file.

Checkpoints follow BasicSR: a network file is `{"params": state_dict}` (and `"params_ema"` when EMA
is on); a training state is a dict with the iteration, optimizer, scheduler and RNG states.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterable, Optional, Tuple

import torch
from torch import nn

from dpmambair.utils.errors import DPMambaIRError


class CheckpointError(DPMambaIRError, RuntimeError):
    """A checkpoint that is missing, unreadable or does not fit the network; the message names the file."""


class _RecordingFile:
    """A binary file whose first OSError is kept: torch.save reports a failed write (ENOSPC, EIO) as a
    RuntimeError from its zip writer, which no longer says which OS error it was."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.error: Optional[OSError] = None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as err:
            self.error = self.error or err
            raise

    def flush(self) -> None:
        self.f.flush()


def _open_for_write(path: Path) -> BinaryIO:
    """The temporary file's handle (a seam for the tests, which make it fail like a full disk)."""
    return open(path, "xb")


def save_atomic(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over `path`.

    A kill during saving leaves the previous file intact (rename is atomic on POSIX). A failed write
    (disk full, I/O error) removes the temporary file, leaves the previous `path` untouched, and raises
    CheckpointError naming `path` and the OS error.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():  # left by a process with our pid that was killed mid-write
            tmp.unlink()
        with _open_for_write(tmp) as f:
            out = _RecordingFile(f)
            try:
                torch.save(obj, out)
                out.flush()
            except RuntimeError as err:
                raise (out.error or err) from None
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp.exists():
            tmp.unlink()
        if isinstance(err, OSError):
            raise CheckpointError(
                f"{path}: cannot write the checkpoint ({err.strerror or err}); "
                "any previous file at this path is left as it was"
            ) from None
        raise


def load_file(path: str | Path) -> Any:
    """torch.load on CPU with a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # corrupt or not a torch file
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {err})") from None


def unwrap(net: nn.Module) -> nn.Module:
    """The bare network inside DataParallel/DistributedDataParallel wrappers."""
    return net.module if isinstance(net, (nn.DataParallel, nn.parallel.DistributedDataParallel)) else net


def freeze(net: nn.Module) -> nn.Module:
    """Eval mode and no gradients: a network that is used (the frozen extractor, an inference net), not trained."""
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _first(keys: Iterable[str], count: int = 5) -> str:
    keys = list(keys)
    more = f" (+{len(keys) - count} more)" if len(keys) > count else ""
    return ", ".join(keys[:count]) + more


def extract_state_dict(obj: Any, path: str | Path, param_key: Optional[str] = "params") -> Dict[str, torch.Tensor]:
    """The state dict inside a checkpoint: under `param_key` when present, else the dict itself."""
    if isinstance(obj, dict) and param_key and param_key in obj:
        obj = obj[param_key]
    elif isinstance(obj, dict) and "params" in obj and param_key != "params":
        obj = obj["params"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: holds no state dict (expected a 'params' entry of tensors)")
    return {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}


def load_network(
    net: nn.Module, path: str | Path, strict: bool = True, param_key: Optional[str] = "params"
) -> Tuple[list, list]:
    """Load weights into `net`. Strict: any missing/unexpected key or shape mismatch is an error naming
    the file and the first offending keys. Not strict: load what matches, return (missing, unexpected)."""
    state = extract_state_dict(load_file(path), path, param_key)
    net = unwrap(net)
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in state if k in own and state[k].shape != own[k].shape]
    if strict and (missing or unexpected or mismatched):
        parts = []
        if missing:
            parts.append(f"missing keys: {_first(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_first(unexpected)}")
        if mismatched:
            parts.append(
                f"shape mismatch: {_first(f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}' for k in mismatched)}"
            )
        raise CheckpointError(
            f"{path}: does not fit {type(net).__name__} ({'; '.join(parts)}); "
            "set strict_load: false to load only the matching weights"
        )
    loadable = {k: v for k, v in state.items() if k in own and k not in mismatched}
    net.load_state_dict(loadable, strict=False)
    return missing + mismatched, unexpected
