"""YAML option files with BasicSR's key names.

One schema for everything: `name, model_type, num_gpu, manual_seed, datasets, network_g, network_de,
path, train, val, logger, dist_params`. Errors name the file and the key, so a typo is found before a
GPU hour is spent.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Iterable, Optional

import yaml

from dpmambair.utils.errors import DPMambaIRError

TOP_LEVEL_KEYS = frozenset(
    {
        "name",
        "model_type",
        "scale",
        "num_gpu",
        "manual_seed",
        "is_train",
        "datasets",
        "network_g",
        "network_de",
        "network_r",
        "path",
        "train",
        "val",
        "logger",
        "dist_params",
        "dist",
        "tile",
        "tile_overlap",
        "self_ensemble",
        "precision",
        "deterministic",
        "find_unused_parameters",
        "opt_path",
        "inherit",
        "tf32",
        "cudnn_benchmark",
    }
)
REQUIRED_KEYS = ("name", "model_type")


class OptionError(DPMambaIRError, ValueError):
    """A problem in an option file; the message names the file and the key."""


def _yaml_loader() -> type:
    """A SafeLoader that also reads `1e-4` as a float (plain YAML 1.1 reads it as a string)."""
    import re

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)$"),
        list("-+0123456789."),
    )
    return Loader


def load_yaml(path: str | Path) -> Dict[str, Any]:
    """Read a YAML mapping; a missing file or a syntax error is one clear line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise OptionError(f"{path}: option file not found")
    try:
        data = yaml.load(path.read_text(), Loader=_yaml_loader())
    except yaml.YAMLError as err:
        raise OptionError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise OptionError(f"{path}: the top level must be a mapping of option keys")
    return data


def merge_dicts(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else in `override` (also `~`, null) replaces `base`."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_dicts(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_with_inheritance(path: str | Path, _seen: Optional[tuple] = None) -> Dict[str, Any]:
    """Load an option file; `inherit: other.yml` (relative to this file) is loaded first and overridden.

    Ablation and test files state only what differs from the configuration they derive from,
    instead of being copy-pasted variants of it.
    """
    path = Path(path)
    seen = _seen or ()
    if path.resolve() in seen:
        raise OptionError(f"{path}: 'inherit' forms a cycle ({' -> '.join(str(p) for p in seen)})")
    opt = load_yaml(path)
    parent = opt.pop("inherit", None)
    if parent is None:
        return opt
    if not isinstance(parent, str):
        raise OptionError(f"{path}: 'inherit' must be the path of another option file")
    parent_path = (path.parent / parent) if not Path(parent).is_absolute() else Path(parent)
    if not parent_path.is_file():
        raise OptionError(f"{path}: 'inherit' names {parent_path}, which does not exist")
    return merge_dicts(load_with_inheritance(parent_path, seen + (path.resolve(),)), opt)


def _parse_value(text: str) -> Any:
    return yaml.load(text, Loader=_yaml_loader())


def apply_overrides(opt: Dict[str, Any], overrides: Iterable[str], source: str = "--force_yml") -> None:
    """Apply `a:b:c=value` overrides in place (BasicSR's `--force_yml` syntax; `.` also separates levels)."""
    for item in overrides:
        if "=" not in item:
            raise OptionError(f"{source}: expected key=value, got '{item}'")
        key, value = item.split("=", 1)
        parts = [p for p in key.replace(".", ":").split(":") if p]
        if not parts:
            raise OptionError(f"{source}: expected key=value, got '{item}'")
        node = opt
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = _parse_value(value)


def check_options(opt: Dict[str, Any], source: str) -> None:
    """Required and unknown top-level keys; the message names the key and the file."""
    for key in REQUIRED_KEYS:
        if key not in opt:
            raise OptionError(f"{source}: missing required key '{key}'")
    unknown = sorted(set(opt) - TOP_LEVEL_KEYS)
    if unknown:
        raise OptionError(
            f"{source}: unknown top-level key '{unknown[0]}' (known keys: {', '.join(sorted(TOP_LEVEL_KEYS))})"
        )
    for net_key in ("network_g", "network_de", "network_r"):
        if net_key in opt and opt[net_key] is not None:
            net = opt[net_key]
            if not isinstance(net, dict) or "type" not in net:
                raise OptionError(f"{source}: '{net_key}' needs a 'type' key naming a registered network")


def parse_options(path: str | Path, is_train: bool = True, overrides: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """Load (following `inherit`), override, validate and fill defaults; `opt_path` records the file."""
    opt = load_with_inheritance(path)
    if overrides:
        apply_overrides(opt, overrides)
    check_options(opt, str(path))
    opt = copy.deepcopy(opt)
    opt["opt_path"] = str(path)
    opt["is_train"] = is_train
    opt.setdefault("num_gpu", "auto")  # as every shipped file says: a GPU when PyTorch sees one
    opt.setdefault("manual_seed", 0)
    opt.setdefault("path", {})
    opt.setdefault("datasets", {})
    return opt
