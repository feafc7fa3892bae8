"""SyntheticDegradationDataset: fixed validation sets, seeded training samples, labels, parameters."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dpmambair.data import TASKS, DatasetError, build_dataset
from dpmambair.data.degradations import apply_params


def clean_folder(root: Path, n: int = 3, size=(40, 52)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        coarse = rng.random((5, 5, 3)).astype(np.float32)
        img = cv2.resize(coarse, (size[1], size[0]), interpolation=cv2.INTER_CUBIC).clip(0, 1)
        cv2.imwrite(str(root / f"img{i}.png"), (img * 255).round().astype(np.uint8))
    return root


def synthetic(root: Path, phase: str, **kw) -> object:
    opt = {"type": "SyntheticDegradationDataset", "phase": phase, "dataroot_gt": str(root), **kw}
    if phase == "train":
        opt.setdefault("gt_size", 32)
    return build_dataset(opt, f"o.yml: datasets.{phase}")


def test_validation_set_identical_across_runs(tmp_path: Path) -> None:
    root = clean_folder(tmp_path / "clean")
    a = synthetic(root, "val", severities=[0.3, 0.8])
    b = synthetic(root, "val", severities=[0.3, 0.8])
    b.reseed(12345)  # per-sample seeding by a trainer must not change a validation set
    assert len(a) == 3 * 7 * 2
    order = list(range(len(a)))[::-1]  # and neither may the order of reading
    got_b = {i: b[i] for i in order}
    for i in range(len(a)):
        sa, sb = a[i], got_b[i]
        assert torch.equal(sa["lq"], sb["lq"]) and torch.equal(sa["gt"], sb["gt"])
        assert sa["params"] == sb["params"] and sa["lq_path"] == sb["lq_path"]
    c = synthetic(root, "val", severities=[0.3, 0.8], seed=1)
    assert not torch.equal(a[0]["lq"], c[0]["lq"])  # the seed option selects another fixed set


def test_labels_params_and_whole_images(tmp_path: Path) -> None:
    root = clean_folder(tmp_path / "clean")
    ds = synthetic(root, "val", severities=[0.5])
    names = Counter()
    for i in range(len(ds)):
        s = ds[i]
        assert s["task_name"] == TASKS[s["task"]] == s["degradation"]
        assert s["gt"].shape == (3, 40, 52)
        params = json.loads(s["params"])
        lq = apply_params(s["gt"].numpy().transpose(1, 2, 0), params)
        assert np.allclose(lq.transpose(2, 0, 1), s["lq"].numpy(), atol=1e-6)
        names[s["task_name"]] += 1
        assert Path(s["lq_path"]).name == f"{Path(s['gt_path']).stem}_{s['task_name']}_s050.png"
    assert names == dict.fromkeys(TASKS, 3)


def test_training_samples_are_seeded_and_cover_every_type(tmp_path: Path) -> None:
    root = clean_folder(tmp_path / "clean")
    ds = synthetic(root, "train", use_hflip=True, use_vflip=True, cache_images=True)
    assert len(ds) == 3 * 7
    assert Counter(ds[i]["task_name"] for i in range(len(ds))) == dict.fromkeys(TASKS, 3)
    ds.reseed(9)
    first = ds[4]
    ds.reseed(9)
    again = ds[4]
    assert torch.equal(first["lq"], again["lq"]) and first["params"] == again["params"]
    assert first["lq"].shape == (3, 32, 32)
    severities = [json.loads(ds[i]["params"])[0]["severity"] for i in range(21)]
    assert len(set(severities)) > 15 and 0 <= min(severities) and max(severities) <= 1


def test_repeat_weights_the_tasks_of_a_training_epoch(tmp_path: Path) -> None:
    root = clean_folder(tmp_path / "clean", n=4)
    ds = synthetic(root, "train", repeat={"jpeg": 2, "motion-blurry": 3, "noise": 0.5})
    counts = Counter(ds[i]["task_name"] for i in range(len(ds)))
    assert counts == {"lowlight": 4, "snow": 4, "rain": 4, "fog": 4, "jpeg": 8, "noise": 2, "blur": 12}
    assert len(ds) == 38 and ds.task_counts() == counts
    # each task still cycles through every image
    assert {Path(ds[i]["gt_path"]).name for i in range(len(ds)) if ds[i]["task_name"] == "noise"} == {
        "img0.png",
        "img1.png",
    }
    assert Counter(Path(ds[i]["gt_path"]).name for i in range(len(ds)) if ds[i]["task_name"] == "blur") == {
        f"img{k}.png": 3 for k in range(4)
    }
    assert len(synthetic(root, "train", repeat={"rain": 0.01})) == 4 * 6 + 1  # at least one slot per task
    assert len(synthetic(root, "val", severities=[0.5], repeat={"rain": 3})) == 4 * 7  # training only
    with pytest.raises(DatasetError, match="'repeat' names task 'snow'"):
        synthetic(root, "train", degradations=["rain", "noise"], repeat={"snow": 2})
    with pytest.raises(DatasetError, match="repeat factor for 'rain' must be a positive number"):
        synthetic(root, "train", repeat={"rain": 0})
    with pytest.raises(DatasetError, match="'repeat' must map task names to factors"):
        synthetic(root, "train", repeat=[2, 1])


def test_compound_and_options(tmp_path: Path) -> None:
    root = clean_folder(tmp_path / "clean", n=1)
    ds = synthetic(
        root,
        "val",
        degradations=["rain+fog", "noise"],
        severities=[0.5],
        degradation_opts={"noise": {"sigma": [0.5, 0.5]}},
    )
    s0, s1 = ds[0], ds[1]
    assert s0["degradation"] == "fog+rain" and s0["task_name"] == "rain"  # label: the first part as written
    assert [p["type"] for p in json.loads(s0["params"])] == ["fog", "rain"]
    assert json.loads(s1["params"])[0]["sigma"] == 0.5
    tr = synthetic(root, "train", degradations=["rain"], compound_prob=1.0)
    tr.reseed(0)
    assert all("rain" in tr[0]["degradation"] for _ in range(5))
    assert any("+" in tr[0]["degradation"] for _ in range(10))
    with pytest.raises(DatasetError, match="unknown parameter 'sigmaa'"):
        synthetic(root, "val", degradation_opts={"noise": {"sigmaa": [0, 1]}})
    with pytest.raises(DatasetError, match="unknown degradation 'smog'"):
        synthetic(root, "val", degradations=["smog"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"no images in dataroot_gt folder .*empty"):
        synthetic(tmp_path / "empty", "val")
    (root / "broken.png").write_text("nope")
    with pytest.raises(DatasetError, match=r"not decodable images: .*broken.png"):
        synthetic(root, "val")


def test_degrade_size_degrades_a_region_then_crops_on_the_jpeg_grid(tmp_path: Path, monkeypatch) -> None:
    import dpmambair.data.synthetic_degradation_dataset as module

    root = clean_folder(tmp_path / "clean", size=(80, 96))
    seen = []

    def recording_apply(img, params):
        out = apply_params(img, params)
        seen.append((img.copy(), out))
        return out

    monkeypatch.setattr(module, "apply_params", recording_apply)
    ds = synthetic(root, "train", gt_size=24, degrade_size=56, degradations=["blur", "jpeg", "fog"])
    ds.reseed(3)
    offsets = set()
    for i in range(len(ds)):
        s = ds[i]
        region, degraded = seen[-1]
        assert region.shape[:2] == (56, 56)  # the larger region was degraded, not the crop
        gt, lq = (s[k].numpy().transpose(1, 2, 0) for k in ("gt", "lq"))
        assert gt.shape == lq.shape == (24, 24, 3)
        hits = [
            (y, x) for y in range(0, 33) for x in range(0, 33) if np.array_equal(region[y : y + 24, x : x + 24], gt)
        ]
        assert hits, "gt is not a crop of the degraded region"
        y, x = hits[0]
        assert y % 8 == 0 and x % 8 == 0  # JPEG blocks stay aligned as in a whole test image
        assert np.allclose(degraded[y : y + 24, x : x + 24], lq, atol=1e-6)  # lq: the same crop of the degraded region
        offsets.add((y, x))
    assert len(offsets) > 1
    small = synthetic(root, "train", gt_size=24, degrade_size=16)  # never below the crop: the crop is degraded
    small.reseed(0)
    small[0]
    assert seen[-1][0].shape[:2] == (24, 24)
    with pytest.raises(DatasetError, match="'degrade_size' must be a positive int"):
        synthetic(root, "train", gt_size=24, degrade_size="large")
