"""Say once per run which selective-scan backend the restorer uses.

Why: `scan_backend: auto` falls back to the pure-PyTorch scan when mamba_ssm does not import, which on a
GPU is much slower (each scan step is a kernel launch); a run must say so at its start, not leave it to be
guessed from the speed.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import torch

from dpmambair.utils.options import OptionError

from .selective_scan import check_backend


def log_scan_backend(net_opt: Mapping[str, Any], device: torch.device, logger: logging.Logger, source: str) -> str:
    """Log the resolved backend (and warn when `auto` on a GPU lacks the kernel); returns the backend.

    `scan_backend: cuda` that cannot run here is an OptionError naming the key.
    """
    try:
        name, line, warning = check_backend(
            str(net_opt.get("scan_backend", "auto")), device, net_opt.get("scan_chunk"), net_opt.get("scan_segment")
        )
    except ValueError as err:
        raise OptionError(f"{source}.{err}") from None
    logger.info(line)
    if warning:
        logger.warning(warning)
    return name
