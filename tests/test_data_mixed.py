"""MixedDegradationDataset: task labels from the fixed TASKS list, DA-CLIP aliases, repeat/balanced sampling."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Dict

import cv2
import numpy as np
import pytest

from dpmambair.data import TASKS, DatasetError, build_dataset, task_index
from dpmambair.data.tasks import DACLIP_FOLDERS

SRC = "opt.yml: datasets.train"


def universal(root: Path, counts: Dict[str, int], lq: str = "LQ", gt: str = "GT") -> Path:
    """`<root>/<folder>/{LQ,GT}` with `counts[folder]` pairs; the pixel value encodes the folder's index."""
    for k, (folder, n) in enumerate(counts.items()):
        for sub in (lq, gt):
            (root / folder / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = np.full((20, 22, 3), 10 * k + i, np.uint8)
            cv2.imwrite(str(root / folder / gt / f"{i:03d}.png"), img)
            cv2.imwrite(str(root / folder / lq / f"{i:03d}.png"), img)
    return root


def mixed(**kw) -> object:
    opt = {"type": "MixedDegradationDataset", "phase": "train", "gt_size": 16, **kw}
    return build_dataset(opt, SRC)


def test_tasks_list_is_fixed() -> None:
    assert TASKS == ("lowlight", "snow", "rain", "fog", "jpeg", "noise", "blur")
    for task, folder in DACLIP_FOLDERS.items():
        assert task_index(folder) == TASKS.index(task)
    assert task_index("blurry") == task_index("motion-blurry") == 6


def test_labels_follow_tasks_not_option_order(tmp_path: Path) -> None:
    """Every DA-CLIP folder, listed in a scrambled order, gets the label of its task in TASKS."""
    names = list(DACLIP_FOLDERS.values())
    root = universal(tmp_path / "u", {n: 2 + i for i, n in enumerate(names)})
    scrambled = names[::-1]
    for order in (names, scrambled):
        ds = mixed(dataroot=str(root), degradations=order)
        assert len(ds) == sum(2 + i for i in range(7))
        for i in range(len(ds)):
            s = ds[i]
            folder = Path(s["lq_path"]).parts[-3]
            assert s["task"] == task_index(folder) and s["task_name"] == TASKS[s["task"]], folder
            assert Path(s["lq_path"]).parent.name == "LQ" and Path(s["gt_path"]).parent.name == "GT"
    counts = mixed(dataroot=str(root), degradations=scrambled).task_counts()
    assert counts == {TASKS[task_index(n)]: 2 + i for i, n in enumerate(names)}


def test_canonical_names_and_lowercase_folders(tmp_path: Path) -> None:
    root = universal(tmp_path / "u", {"rain": 2, "noise": 3}, lq="lq", gt="gt")
    ds = mixed(dataroot=str(root), degradations=["rainy", "noise"], phase="val")
    assert sorted({ds[i]["task_name"] for i in range(len(ds))}) == ["noise", "rain"]
    assert ds[0]["lq"].shape == (3, 20, 22)  # validation: whole images


def test_list_form_with_repeat_and_balanced(tmp_path: Path) -> None:
    root = universal(tmp_path / "u", {"a": 2, "b": 6})
    parts = [
        {"task": "snow", "dataroot_lq": str(root / "a" / "LQ"), "dataroot_gt": str(root / "a" / "GT"), "repeat": 3},
        {"task": "jpeg", "dataroot_lq": str(root / "b" / "LQ"), "dataroot_gt": str(root / "b" / "GT")},
    ]
    ds = mixed(datasets=parts)
    tasks = Counter(ds[i]["task_name"] for i in range(len(ds)))
    assert tasks == {"snow": 6, "jpeg": 6}
    files = Counter(ds[i]["lq_path"] for i in range(len(ds)))
    assert all(v == 3 for k, v in files.items() if "/a/" in k)  # every snow image three times
    bal = mixed(datasets=[dict(p, repeat=1) for p in parts], sampling="balanced")
    assert Counter(bal[i]["task_name"] for i in range(len(bal))) == {"snow": 6, "jpeg": 6}
    weighted = mixed(datasets=[dict(p, repeat=1) for p in parts], repeat={"jpeg": 0.5})
    assert Counter(weighted[i]["task_name"] for i in range(len(weighted))) == {"snow": 2, "jpeg": 3}
    val = mixed(datasets=parts, phase="val")
    assert len(val) == 8  # validation sees every image once, whatever the repeat factors


def test_mixed_bad_input(tmp_path: Path) -> None:
    root = universal(tmp_path / "u", {"rainy": 2, "hazy": 2})
    with pytest.raises(DatasetError, match=r"no folder for degradation 'snowy' in .*u \(looked for snowy, snow"):
        mixed(dataroot=str(root), degradations=["rainy", "snowy"])
    with pytest.raises(DatasetError, match=r"dataroot folder not found: .*missing"):
        mixed(dataroot=str(tmp_path / "missing"))
    with pytest.raises(DatasetError, match="unknown degradation 'shadowed'"):
        mixed(dataroot=str(root), degradations=["rainy", "shadowed"])
    with pytest.raises(DatasetError, match="repeats"):
        mixed(dataroot=str(root), degradations=["rainy", "rain"])
    (root / "hazy" / "GT" / "001.png").unlink()
    with pytest.raises(DatasetError, match=r"\[hazy\]: lq images without a gt image .*001.png"):
        mixed(dataroot=str(root), degradations=["rainy", "hazy"])
    with pytest.raises(DatasetError, match=r"datasets\[0\]: needs 'task'"):
        mixed(datasets=[{"dataroot_lq": str(root / "rainy" / "LQ"), "dataroot_gt": str(root / "rainy" / "GT")}])


def test_real_and_synthetic_parts_collate_together(tmp_path: Path) -> None:
    from torch.utils.data import default_collate

    root = universal(tmp_path / "u", {"rainy": 2})
    parts = [
        {"task": "rain", "dataroot_lq": str(root / "rainy" / "LQ"), "dataroot_gt": str(root / "rainy" / "GT")},
        {"type": "SyntheticDegradationDataset", "dataroot_gt": str(root / "rainy" / "GT"), "degradations": ["noise"]},
    ]
    ds = mixed(datasets=parts)
    batch = default_collate([ds[i] for i in range(len(ds))])
    assert batch["task_name"] == ["rain", "rain", "noise", "noise"] and batch["lq"].shape == (4, 3, 16, 16)
