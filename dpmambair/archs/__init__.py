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
    """Build a registered network from its option dict.

    Every mistake (no or unknown `type`, an unknown or missing key, a value the network rejects) is one
    OptionError line naming `source` (e.g. 'options/x.yml: network_g'), so entry points report it like any
    other option mistake.
    """
    if not isinstance(opt, dict) or "type" not in opt:
        raise OptionError(
            f"{source}: needs a 'type' key naming a registered network ({', '.join(ARCH_REGISTRY.keys())})"
        )
    opt = copy.deepcopy(opt)
    name = opt.pop("type")
    cls = ARCH_REGISTRY.find(name)
    if cls is None:
        raise OptionError(f"{source}: unknown network type '{name}'; registered: {', '.join(ARCH_REGISTRY.keys())}")
    params = inspect.signature(cls).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        unknown = [k for k in opt if k not in params]
        if unknown:
            raise OptionError(
                f"{source}: unknown key '{unknown[0]}' for {cls.__name__} (accepted: {', '.join(params)})"
            )
    missing = [
        k
        for k, p in params.items()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and k not in opt
    ]
    if missing:
        raise OptionError(f"{source}: missing required key '{missing[0]}' for {cls.__name__}")
    try:
        return cls(**opt)
    except ValueError as err:  # a value the network's own checks reject
        raise OptionError(f"{source}: {err}") from None


def needs_extractor(net: nn.Module) -> bool:
    """Whether `net` reads the frozen degradation extractor's embedding: the one answer that training, inference
    and the ablation runner use. A network says so itself: `uses_embedding` (DPMambaIR: whether any of its
    DP-SSM layers reads the embedding) and `prompt_source` ("classes" reads task labels instead)."""
    return getattr(net, "prompt_source", "extractor") == "extractor" and bool(getattr(net, "uses_embedding", False))


__all__ = ["ARCH_REGISTRY", "build_network", "needs_extractor"]
