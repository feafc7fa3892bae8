"""Reading dataset option blocks: BasicSR key names, typo detection, phase, booleans and sizes."""

from __future__ import annotations

import difflib
import re
from typing import Any, Callable, Dict, Iterable, Optional

from .errors import DatasetError

# keys any dataset block may carry (read by the loader builder or the trainer, not by the dataset)
LOADER_KEYS = frozenset(
    {
        "name",
        "type",
        "phase",
        "io_backend",
        "batch_size_per_gpu",
        "num_worker_per_gpu",
        "use_shuffle",
        "dataset_enlarge_ratio",
        "prefetch_mode",
        "prefetch_factor",
        "pin_memory",
        "persistent_workers",
        "mini_batch_sizes",
        "iters",
        "gt_sizes",
        "num_prefetch_queue",
        "scale",
        "color",
        "seed",
    }
)
AUGMENT_KEYS = frozenset({"gt_size", "use_hflip", "use_vflip", "use_rot", "use_flip"})


def check_keys(opt: Dict[str, Any], known: Iterable[str], source: str) -> None:
    """Reject a key that looks like a misspelt known key (`gt_szie`); other unknown keys are tolerated, as in
    BasicSR, so that keys read by other parts (the trainer, a logger) do not break dataset construction."""
    vocabulary = sorted(set(known) | LOADER_KEYS | AUGMENT_KEYS)
    for key, value in opt.items():
        if key in vocabulary or value is None:  # null = deliberately unset (e.g. cancelling an inherited key)
            continue
        close = difflib.get_close_matches(str(key), vocabulary, n=1, cutoff=0.8)
        if close:
            raise DatasetError(f"{source}: unknown key '{key}' (did you mean '{close[0]}'?)")


def phase_of(opt: Dict[str, Any], source: str) -> str:
    """'train', 'val' or 'test': the `phase` key, else derived from the block's name in `source`
    (`...: datasets.train` → train, `datasets.val_2` → val), as BasicSR's option parser does."""
    phase = opt.get("phase")
    if not phase:
        tail = source.rsplit("datasets.", 1)[-1] if "datasets." in source else ""
        phase = re.split(r"[_.\s\[]", tail)[0] if tail else "val"
    phase = str(phase).lower()
    if phase not in ("train", "val", "test"):
        raise DatasetError(f"{source}: phase must be train, val or test, got '{phase}'")
    return phase


def get_bool(opt: Dict[str, Any], key: str, default: bool, source: str) -> bool:
    value = opt.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise DatasetError(f"{source}: '{key}' must be true or false, got {value!r}")
    return value


def get_size(opt: Dict[str, Any], key: str, source: str, required: bool = False) -> Optional[int]:
    value = opt.get(key)
    if value is None:
        if required:
            raise DatasetError(f"{source}: '{key}' is required for training (the patch size in pixels)")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DatasetError(f"{source}: '{key}' must be a positive integer, got {value!r}")
    return int(value)


def check_io_backend(opt: Dict[str, Any], source: str) -> None:
    backend = opt.get("io_backend") or {"type": "disk"}
    kind = backend.get("type", "disk") if isinstance(backend, dict) else backend
    if kind != "disk":
        raise DatasetError(f"{source}: io_backend type '{kind}' is not supported; use 'disk' (image files in folders)")


def repeat_factors(
    value: Any, tasks: Iterable[Optional[str]], canonical: Callable[[Any], str], what: str
) -> Dict[str, float]:
    """The `repeat: {task: factor}` key as {canonical task: factor} ({} when unset); ValueError naming the problem.

    Why one parser: MixedDegradationDataset and SyntheticDegradationDataset accept the same key, so they check it
    the same way. `tasks` are the tasks the dataset has; `what` names them in the error ("parts", "degradations").
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("'repeat' must map task names to factors, e.g. {jpeg: 2, noise: 0.5}")
    known = {t for t in tasks if t}
    out: Dict[str, float] = {}
    for name, factor in value.items():
        task = canonical(name)
        if task not in known:
            raise ValueError(f"'repeat' names task '{name}', which is not among this dataset's {what}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 0:
            raise ValueError(f"repeat factor for '{name}' must be a positive number, got {factor!r}")
        out[task] = float(factor)
    return out
