"""Losses: every `*_loss.py` here registers itself in LOSS_REGISTRY when this package is imported."""

from __future__ import annotations

import copy
import inspect
from typing import Any, Dict

from torch import nn

from dpmambair.utils.misc import import_modules_with_suffix
from dpmambair.utils.options import OptionError
from dpmambair.utils.registry import LOSS_REGISTRY

_modules = import_modules_with_suffix(__file__, __name__, "_loss")


def build_loss(opt: Dict[str, Any], source: str) -> nn.Module:
    """Build the loss an option block describes (`type` + keyword arguments), e.g. `{type: L1Loss, loss_weight: 1}`.

    `source` names where the block came from (e.g. 'options/x.yml: train.pixel_opt'); every error
    is one line that starts with it, so a typo points at the file and key.
    """
    if not isinstance(opt, dict) or not opt.get("type"):
        raise OptionError(f"{source}: a loss needs a 'type' key naming one of: {', '.join(LOSS_REGISTRY.keys())}")
    kwargs = copy.deepcopy(opt)
    name = str(kwargs.pop("type"))
    cls = LOSS_REGISTRY.find(name)
    if cls is None:
        raise OptionError(f"{source}: unknown loss type '{name}'; known types: {', '.join(LOSS_REGISTRY.keys())}")
    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(k for k in kwargs if k not in params)
    if unknown:
        accepted = ", ".join(p for p in params if p != "self")
        raise OptionError(f"{source}: {cls.__name__} has no argument '{unknown[0]}' (it accepts: {accepted})")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise OptionError(f"{source}: {err}") from None


__all__ = ["LOSS_REGISTRY", "build_loss"]
