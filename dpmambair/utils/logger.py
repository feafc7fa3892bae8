"""Logging for training: a text log, a progress line, and TensorBoard, on rank 0 only."""

from __future__ import annotations

import datetime
import logging
import logging.handlers
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from .dist import get_dist_info

LOGGER_NAME = "dpmambair"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` is at the time of each record, not the one at creation.

    Why: the logger outlives a run; a program (or test harness, or notebook) that swaps sys.stdout
    between two runs in one process must still see the second run's lines.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the property ignores it
        pass


def get_logger(log_file: Optional[str | Path] = None, level: int = logging.INFO) -> logging.Logger:
    """The package logger: console and (on rank 0) a file; other ranks only log errors."""
    logger = logging.getLogger(LOGGER_NAME)
    rank, _ = get_dist_info()
    if not any(isinstance(h, logging.StreamHandler) and getattr(h, "_dpm", False) for h in logger.handlers):
        handler = _StdoutHandler()
        handler._dpm = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level if rank == 0 else logging.ERROR)
    if log_file is not None and rank == 0:
        for h in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
            logger.removeHandler(h)
            h.close()
        fh = logging.FileHandler(str(log_file), mode="a")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
        logger.addHandler(fh)
    return logger


class ProgressLine:
    """Formats the periodic progress line: iteration, learning rate, losses, speed and ETA."""

    def __init__(self, total_iter: int, start_iter: int) -> None:
        self.total_iter = total_iter
        self.start_iter = start_iter
        self.start_time = time.time()

    def format(
        self, current_iter: int, epoch: int, lr: float, losses: Dict[str, float], data_time: float, step_time: float
    ) -> str:
        done = max(current_iter - self.start_iter, 1)
        elapsed = time.time() - self.start_time
        its = done / max(elapsed, 1e-9)
        eta = datetime.timedelta(seconds=int((self.total_iter - current_iter) / max(its, 1e-9)))
        loss_text = " ".join(f"{k}: {v:.4e}" for k, v in losses.items())
        return (
            f"[epoch {epoch:3d}, iter {current_iter:8,d}/{self.total_iter:,d}, lr {lr:.3e}] {loss_text} "
            f"| {its:.2f} it/s, data {data_time:.3f}s step {step_time:.3f}s | eta {eta}"
        )


def init_tb_logger(log_dir: str | Path):
    """A TensorBoard SummaryWriter (rank 0 only; None elsewhere)."""
    if get_dist_info()[0] != 0:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir))


@contextmanager
def held_records(logger: logging.Logger) -> Iterator[List[logging.LogRecord]]:
    """Keep (besides showing) every record `logger` emits inside the block, to replay into a log file that
    does not exist yet: train.py checks options, data and networks before it creates the experiment folder."""
    handler = logging.handlers.BufferingHandler(capacity=100_000)
    logger.addHandler(handler)
    try:
        yield handler.buffer
    finally:
        logger.removeHandler(handler)


def replay_into_files(logger: logging.Logger, records: List[logging.LogRecord]) -> None:
    """Write held records into the logger's file handlers (the console showed them already)."""
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            for record in records:
                handler.handle(record)
