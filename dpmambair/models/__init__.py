"""Models: every `*_model.py` here registers itself in MODEL_REGISTRY when this package is imported."""

from dpmambair.utils.misc import import_modules_with_suffix
from dpmambair.utils.registry import MODEL_REGISTRY

_modules = import_modules_with_suffix(__file__, __name__, "_model")

__all__ = ["MODEL_REGISTRY"]
