"""Networks. Every `*_arch.py` here registers its classes in ARCH_REGISTRY when this package is imported.

`build_network(opt)` turns the dict under `network_g` / `network_de` of an option file into a module:
`type` picks the class, the other keys are its constructor arguments.
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, Dict

from torch import nn

from dpmambair.utils.misc import import_modules_with_suffix
from dpmambair.utils.options import OptionError
from dpmambair.utils.registry import ARCH_REGISTRY

_arch_modules = import_modules_with_suffix(__file__, __name__, "_arch")


def build_network(opt: Dict[str, Any], source: str = "network options") -> nn.Module:
    """Build a registered network from its option dict; errors name `source` (e.g. 'options/x.yml: network_g').

    They are `OptionError`s (a ValueError) so that train.py and test.py report them as one line, not a traceback.
    """
    if not isinstance(opt, dict) or "type" not in opt:
        raise OptionError(f"{source}: needs a 'type' key naming a registered network ({', '.join(ARCH_REGISTRY.keys())})")
    opt = copy.deepcopy(opt)
    name = opt.pop("type")
    cls = ARCH_REGISTRY.find(name)
    if cls is None:
        raise OptionError(f"{source}: unknown network type '{name}'; registered: {', '.join(ARCH_REGISTRY.keys())}")
    params = inspect.signature(cls).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        unknown = [k for k in opt if k not in params]
        if unknown:
            raise OptionError(f"{source}: unknown key '{unknown[0]}' for {cls.__name__} (accepted: {', '.join(params)})")
    missing = [k for k, p in params.items() if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and k not in opt]
    if missing:
        raise OptionError(f"{source}: missing required key '{missing[0]}' for {cls.__name__}")
    return cls(**opt)


__all__ = ["ARCH_REGISTRY", "build_network"]
