"""Leaf utilities: registries, option parsing, helpers. Nothing here imports the rest of the package."""

from .registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY, Registry

__all__ = ["ARCH_REGISTRY", "DATASET_REGISTRY", "LOSS_REGISTRY", "METRIC_REGISTRY", "MODEL_REGISTRY", "Registry"]
