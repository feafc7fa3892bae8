"""Per-sample random generators without global state.

Datasets draw crops, flips and degradation parameters from a `numpy.random.Generator` they own. It is set by
`reseed(seed)` — called per sample by the trainer's `SeededDataset`, or per worker by `build_dataloader` — and
otherwise created lazily from `torch.initial_seed()`, which PyTorch makes distinct (and reproducible) for each
DataLoader worker. A generator copied into a new worker process is never reused: identical augmentation in
every worker is the classic silent bug this avoids.
"""

from __future__ import annotations

import hashlib
import os
from typing import Optional

import numpy as np
import torch


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any values, identical across runs and machines (unlike Python's salted `hash`)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


class SeedableMixin:
    """Gives a dataset `reseed(seed)` and `sample_rng()`; `base_seed` (option `seed`) offsets the lazy default."""

    base_seed: int = 0
    _rng: Optional[np.random.Generator] = None
    _rng_pid: int = -1

    def reseed(self, seed: int) -> None:
        """Make the following samples a function of `seed` (and of their index)."""
        self._rng = np.random.default_rng(int(seed) % 2**63)
        self._rng_pid = os.getpid()

    def sample_rng(self) -> np.random.Generator:
        """The generator for the next random draw, created from torch's per-worker seed when not yet set here."""
        if self._rng is None or self._rng_pid != os.getpid():
            self.reseed(stable_seed("lazy", self.base_seed, torch.initial_seed()))
        return self._rng  # type: ignore[return-value]
