"""PairedImageDataset: pairing (templates, meta-info), aligned crops, whole-image validation, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Tuple

import cv2
import numpy as np
import pytest

from dpmambair.data import DatasetError, build_dataset

SRC = "opt.yml: datasets.train"


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """Random texture with structure at several scales (a clear correlation peak), uint8 RGB."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for cells in (4, 16, max(h, w)):
        img += cv2.resize(rng.random((cells, cells, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img -= img.min()
    return (img / img.max() * 255).round().astype(np.uint8)


def write_pairs(
    root: Path,
    names: Iterable[str],
    size: Tuple[int, int] = (40, 48),
    lq_names: Dict[str, str] = None,
    gt_names: Dict[str, str] = None,
    shift: int = 0,
) -> Dict[str, str]:
    """lq/ and gt/ folders; lq is gt shifted right by `shift` pixels (np.roll) when shift > 0."""
    lq_dir, gt_dir = root / "lq", root / "gt"
    lq_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        gt = texture(*size, seed=i)
        lq = np.roll(gt, shift, axis=1) if shift else (gt // 2)
        cv2.imwrite(str(gt_dir / (gt_names or {}).get(name, name)), gt)
        cv2.imwrite(str(lq_dir / (lq_names or {}).get(name, name)), lq)
    return {"dataroot_lq": str(lq_dir), "dataroot_gt": str(gt_dir)}


def paired(roots: Dict[str, str], phase: str = "train", **kw) -> object:
    opt = {"type": "PairedImageDataset", "phase": phase, **roots, **kw}
    if phase == "train":
        opt.setdefault("gt_size", 24)
    return build_dataset(opt, SRC)


def best_shift(lq: np.ndarray, gt: np.ndarray, r: int = 5) -> Tuple[int, int]:
    """(dy, dx) with lq[y, x] ≈ gt[y - dy, x - dx] over the overlap: the alignment error's minimum."""
    a, b = lq.mean(axis=0), gt.mean(axis=0)
    h, w = a.shape
    errs = {}
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            pa = a[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
            pb = b[max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
            errs[(dy, dx)] = float(np.mean((pa - pb) ** 2))
    return min(errs, key=errs.get)


def test_pairs_by_name_and_samples(tmp_path: Path) -> None:
    roots = write_pairs(tmp_path, ["b.png", "a.png", "c.png"])
    ds = paired(roots, task="rainy")
    assert len(ds) == 3 and [p.key for p in ds.pairs] == ["a", "b", "c"]
    s = ds[0]
    assert set(s) == {"lq", "gt", "lq_path", "gt_path", "task", "task_name"}
    assert s["lq"].shape == s["gt"].shape == (3, 24, 24) and str(s["lq"].dtype) == "torch.float32"
    assert 0 <= float(s["lq"].min()) and float(s["gt"].max()) <= 1
    assert Path(s["lq_path"]).name == Path(s["gt_path"]).name == "a.png"
    assert s["task"] == 2 and s["task_name"] == "rain"
    v = paired(roots, phase="val")
    assert v[1]["lq"].shape == (3, 40, 48) and "task" not in v[1]  # whole image; no task when none is known


def test_known_shift_is_recovered_from_crops(tmp_path: Path) -> None:
    """lq = gt shifted by 3 px: every random crop pair still shows exactly that shift (no crop misalignment)."""
    ds = paired(write_pairs(tmp_path, ["a.png", "b.png"], size=(64, 64), shift=3), gt_size=32)
    ds.reseed(0)
    for i in range(8):
        s = ds[i % 2]
        assert best_shift(s["lq"].numpy(), s["gt"].numpy()) == (0, 3)


def test_shift_survives_flips_and_rotation(tmp_path: Path) -> None:
    """With flips and transposes the shift can change direction, never size, and stays on one axis."""
    ds = paired(
        write_pairs(tmp_path, ["a.png"], size=(64, 64), shift=3),
        gt_size=32,
        use_hflip=True,
        use_vflip=True,
        use_rot=True,
    )
    ds.reseed(1)
    samples = [ds[0] for _ in range(24)]
    seen = {best_shift(s["lq"].numpy(), s["gt"].numpy()) for s in samples}
    assert seen <= {(0, 3), (0, -3), (3, 0), (-3, 0)} and len(seen) > 1


def test_identical_pairs_give_identical_crops(tmp_path: Path) -> None:
    lq_dir, gt_dir = tmp_path / "lq", tmp_path / "gt"
    lq_dir.mkdir()
    gt_dir.mkdir()
    for i in range(3):
        img = texture(50, 37, i)
        cv2.imwrite(str(lq_dir / f"{i}.png"), img)
        cv2.imwrite(str(gt_dir / f"{i}.png"), img)
    ds = paired(
        {"dataroot_lq": str(lq_dir), "dataroot_gt": str(gt_dir)},
        gt_size=16,
        use_hflip=True,
        use_vflip=True,
        use_rot=True,
    )
    crops = []
    for i in range(30):
        s = ds[i % 3]
        assert np.array_equal(s["lq"].numpy(), s["gt"].numpy())
        crops.append(s["gt"].numpy().tobytes())
    assert len(set(crops)) > 20  # crops and flips really vary


def test_same_seed_same_sample(tmp_path: Path) -> None:
    ds = paired(write_pairs(tmp_path, ["a.png"]), use_hflip=True)
    ds.reseed(5)
    first = ds[0]["lq"]
    ds.reseed(5)
    assert np.array_equal(first.numpy(), ds[0]["lq"].numpy())


def test_rain100h_style_names_in_one_or_two_folders(tmp_path: Path) -> None:
    names = ["001.png", "002.png"]
    roots = write_pairs(
        tmp_path / "two", names, lq_names={n: f"rain-{n}" for n in names}, gt_names={n: f"norain-{n}" for n in names}
    )
    tmpl = {"lq": "rain-{}", "gt": "norain-{}"}
    ds = paired(roots, phase="val", filename_tmpl=tmpl)
    assert [(p.lq.name, p.gt.name) for p in ds.pairs] == [
        ("rain-001.png", "norain-001.png"),
        ("rain-002.png", "norain-002.png"),
    ]
    one = tmp_path / "one"  # PReNet's copy keeps both in one folder
    one.mkdir()
    for f in list(Path(roots["dataroot_lq"]).iterdir()) + list(Path(roots["dataroot_gt"]).iterdir()):
        (one / f.name).write_bytes(f.read_bytes())
    ds1 = paired({"dataroot_lq": str(one), "dataroot_gt": str(one)}, phase="val", filename_tmpl=tmpl)
    assert [(p.lq.name, p.gt.name) for p in ds1.pairs] == [(a.lq.name, a.gt.name) for a in ds.pairs]
    # BasicSR's string form: lq stem = tmpl.format(gt stem)
    roots2 = write_pairs(tmp_path / "x4", names, lq_names={n: n.replace(".png", "x4.png") for n in names})
    assert len(paired(roots2, phase="val", filename_tmpl="{}x4")) == 2


def test_meta_info_file(tmp_path: Path) -> None:
    root = tmp_path / "gopro"
    for seq in ("S1", "S2"):
        for sub in ("blur", "sharp"):
            (root / seq / sub).mkdir(parents=True)
        for f in ("000001.png", "000002.png"):
            img = texture(20, 24, hash((seq, f)) % 100)
            cv2.imwrite(str(root / seq / "sharp" / f), img)
            cv2.imwrite(str(root / seq / "blur" / f), cv2.blur(img, (3, 3)))
    meta = tmp_path / "meta.txt"
    meta.write_text("# comment\nS1/blur/000001.png S1/sharp/000001.png\n\nS2/blur/000002.png\tS2/sharp/000002.png\n")
    ds = paired({"dataroot_lq": str(root), "dataroot_gt": str(root)}, phase="test", meta_info_file=str(meta))
    assert len(ds) == 2 and ds[1]["gt_path"].endswith("S2/sharp/000002.png")
    meta.write_text("S1/blur/000009.png S1/sharp/000009.png\n")
    with pytest.raises(DatasetError, match="000009.png"):
        paired({"dataroot_lq": str(root), "dataroot_gt": str(root)}, phase="test", meta_info_file=str(meta))


# ---- bad input: one clear line naming the file or folder, at construction ---------------------------
def test_missing_folder(tmp_path: Path) -> None:
    roots = write_pairs(tmp_path, ["a.png"])
    with pytest.raises(DatasetError) as err:
        paired({**roots, "dataroot_lq": str(tmp_path / "nope")})
    msg = str(err.value)
    assert "dataroot_lq" in msg and str(tmp_path / "nope") in msg and "\n" not in msg and msg.startswith(SRC)


def test_lq_without_gt_and_gt_without_lq(tmp_path: Path) -> None:
    roots = write_pairs(tmp_path, ["a.png", "b.png"])
    for i, name in enumerate(["extra1.png", "extra2.png"]):
        cv2.imwrite(str(Path(roots["dataroot_lq"]) / name), texture(40, 48, i))
    with pytest.raises(DatasetError, match=r"lq images without a gt image .*extra1.png, extra2.png \(2 in total\)"):
        paired(roots)
    for name in ["extra1.png", "extra2.png"]:
        (Path(roots["dataroot_lq"]) / name).unlink()
    (Path(roots["dataroot_lq"]) / "b.png").unlink()
    with pytest.raises(DatasetError, match=r"gt images without an lq image .*b.png"):
        paired(roots)


def test_size_mismatch_names_both_files(tmp_path: Path) -> None:
    roots = write_pairs(tmp_path, ["a.png", "b.png"])
    cv2.imwrite(str(Path(roots["dataroot_lq"]) / "b.png"), texture(40, 47, 0))
    with pytest.raises(DatasetError) as err:
        paired(roots, phase="val")
    msg = str(err.value)
    assert "sizes differ" in msg and "lq/b.png is 47x40" in msg and "gt/b.png is 48x40" in msg and "\n" not in msg


def test_undecodable_image(tmp_path: Path) -> None:
    roots = write_pairs(tmp_path, ["a.png", "b.png"])
    (Path(roots["dataroot_gt"]) / "b.png").write_text("definitely not a png")
    with pytest.raises(DatasetError, match=r"not decodable images: .*gt/b.png"):
        paired(roots)


def test_empty_folder(tmp_path: Path) -> None:
    roots = write_pairs(tmp_path, ["a.png"])
    for f in Path(roots["dataroot_lq"]).iterdir():
        f.unlink()
    (Path(roots["dataroot_lq"]) / ".DS_Store").write_text("x")
    (Path(roots["dataroot_lq"]) / "README.txt").write_text("x")
    with pytest.raises(DatasetError, match=f"no images in dataroot_lq folder {roots['dataroot_lq']}"):
        paired(roots)


def test_patch_larger_than_image_is_reflect_padded(tmp_path: Path) -> None:
    roots = write_pairs(tmp_path, ["a.png"], size=(20, 30), shift=2)
    with pytest.warns(UserWarning, match=r"smaller than gt_size 32 .*reflect-padded, e\.g\. .*a\.png"):
        ds = paired(roots, gt_size=32)
    s = ds[0]
    assert s["lq"].shape == s["gt"].shape == (3, 32, 32)
    gt = s["gt"].numpy()
    assert np.allclose(gt[:, 20:, :30], gt[:, 19:7:-1, :30])  # reflection of the bottom rows
    assert best_shift(s["lq"].numpy()[:, :20, :30], gt[:, :20, :30]) == (0, 2)


def test_option_errors(tmp_path: Path) -> None:
    roots = write_pairs(tmp_path, ["a.png"])
    with pytest.raises(DatasetError, match="'gt_size' is required"):
        build_dataset({"type": "PairedImageDataset", "phase": "train", **roots}, SRC)
    with pytest.raises(DatasetError, match=r"unknown key 'gt_szie' \(did you mean 'gt_size'\?\)"):
        paired(roots, gt_szie=8)
    with pytest.raises(DatasetError, match="io_backend type 'lmdb'"):
        paired(roots, io_backend={"type": "lmdb"})
    with pytest.raises(DatasetError, match="unknown dataset type 'NoSuchDataset'"):
        build_dataset({"type": "NoSuchDataset"}, SRC)
    with pytest.raises(DatasetError, match="unknown degradation 'smog'"):
        paired(roots, task="smog")
    with pytest.raises(DatasetError, match="exactly one"):
        paired(roots, filename_tmpl="{}_{}")


def test_phase_from_block_name(tmp_path: Path) -> None:
    roots = write_pairs(tmp_path, ["a.png"])
    assert build_dataset({"type": "PairedImageDataset", "gt_size": 8, **roots}, "o.yml: datasets.train").is_train
    assert build_dataset({"type": "PairedImageDataset", **roots}, "o.yml: datasets.val_2").phase == "val"
    assert build_dataset({"type": "PairedImageDataset", **roots}, "o.yml: datasets.test_1").phase == "test"
