"""Small helpers shared across the package."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import List


def import_modules_with_suffix(package_file: str, package_name: str, suffix: str) -> List[object]:
    """Import every module `<name><suffix>.py` beside `package_file`, so their registry decorators run.

    Sorted import order keeps registration deterministic.
    """
    folder = Path(package_file).resolve().parent
    names = sorted(p.stem for p in folder.glob(f"*{suffix}.py"))
    return [importlib.import_module(f"{package_name}.{name}") for name in names]
