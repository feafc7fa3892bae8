"""Metrics: every `*_metric.py` here registers itself in METRIC_REGISTRY when this package is imported."""
from dpmambair.utils.misc import import_modules_with_suffix
from dpmambair.utils.registry import METRIC_REGISTRY

_modules = import_modules_with_suffix(__file__, __name__, "_metric")

__all__ = ["METRIC_REGISTRY"]
