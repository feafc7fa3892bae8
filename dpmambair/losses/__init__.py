"""Losses: every `*_loss.py` here registers itself in LOSS_REGISTRY when this package is imported."""
from dpmambair.utils.misc import import_modules_with_suffix
from dpmambair.utils.registry import LOSS_REGISTRY

_modules = import_modules_with_suffix(__file__, __name__, "_loss")

__all__ = ["LOSS_REGISTRY"]
