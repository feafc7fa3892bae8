"""Small helpers shared across the package."""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import List, Optional


def import_modules_with_suffix(package_file: str, package_name: str, suffix: str) -> List[object]:
    """Import every module `<name><suffix>.py` beside `package_file`, so their registry decorators run.

    Sorted import order keeps registration deterministic.
    """
    folder = Path(package_file).resolve().parent
    names = sorted(p.stem for p in folder.glob(f"*{suffix}.py"))
    return [importlib.import_module(f"{package_name}.{name}") for name in names]


def archive_if_exists(folder: Path) -> Optional[Path]:
    """Rename an existing folder to `<name>_archived_<timestamp>[_n]` (BasicSR's convention), so that nothing of an
    earlier run is overwritten; returns the new name, or None when there was nothing to move."""
    if not folder.exists():
        return None
    stamp = time.strftime("%Y%m%d_%H%M%S")
    target, n = folder.with_name(f"{folder.name}_archived_{stamp}"), 1
    while target.exists():
        target, n = folder.with_name(f"{folder.name}_archived_{stamp}_{n}"), n + 1
    folder.rename(target)
    return target


def describe_shape(value: object) -> str:
    """'(b, c, h, w)' for a tensor or array, else the type's name: what error messages print for a bad argument."""
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, type):
        return "(" + ", ".join(str(s) for s in shape) + ")"
    return type(value).__name__
