"""Progressive patch training: the (batch, patch) schedule and the aligned batch crop."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from dpmambair.data import DatasetError, ProgressiveSchedule, crop_batch


def test_schedule_stages_like_restormer() -> None:
    s = ProgressiveSchedule((92000, 84000, 124000), (8, 5, 4), (128, 160, 192))
    assert s.at(1) == (8, 128) and s.at(92000) == (8, 128)
    assert s.at(92001) == (5, 160) and s.at(176000) == (5, 160)
    assert s.at(176001) == (4, 192) and s.at(300000) == (4, 192) and s.at(10**7) == (4, 192)
    opt = {"iters": [10, 20], "mini_batch_sizes": [4, 2], "gt_sizes": [48, 64], "gt_size": 64, "batch_size_per_gpu": 4}
    assert ProgressiveSchedule.from_options(opt).at(11) == (2, 64)
    assert ProgressiveSchedule.from_options({"gt_size": 64}) is None
    with pytest.raises(DatasetError, match="exceed gt_size"):
        ProgressiveSchedule.from_options(dict(opt, gt_size=32))
    with pytest.raises(DatasetError, match="one length"):
        ProgressiveSchedule.from_options(dict(opt, gt_sizes=[64]))


@pytest.mark.parametrize("rng", [random.Random(0), np.random.default_rng(0)])
def test_crop_batch_keeps_pairs_aligned_and_labels_with_samples(rng) -> None:
    n, size = 6, 32
    gt = torch.rand(n, 3, size, size)
    data = {
        "lq": gt * 0.5,
        "gt": gt.clone(),
        "task": torch.arange(n),
        "lq_path": [f"{i}.png" for i in range(n)],
        "task_name": [f"t{i}" for i in range(n)],
    }
    out = crop_batch(data, 4, 16, rng)
    assert out["lq"].shape == out["gt"].shape == (4, 3, 16, 16)
    assert torch.equal(out["lq"], out["gt"] * 0.5)  # same box for lq and gt
    kept = out["task"].tolist()
    assert out["lq_path"] == [f"{i}.png" for i in kept] and out["task_name"] == [f"t{i}" for i in kept]
    for j, i in enumerate(kept):  # the crop is a window of the sample it claims to be
        full = gt[i]
        hits = [
            (y, x) for y in range(17) for x in range(17) if torch.equal(full[:, y : y + 16, x : x + 16], out["gt"][j])
        ]
        assert hits
    same = crop_batch(data, 6, 32, rng)
    assert torch.equal(same["lq"], data["lq"])  # nothing to do at full size
