"""Numerical operators. The selective scan imports nothing of ours but utils."""

from .scan_cuda import cuda_scan_available
from .selective_scan import BACKENDS, check_backend, resolve_backend, selective_scan, validate_scan_args

__all__ = [
    "BACKENDS",
    "check_backend",
    "cuda_scan_available",
    "resolve_backend",
    "selective_scan",
    "validate_scan_args",
]
