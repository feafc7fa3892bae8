"""Image I/O: every stored format loads as float32 RGB in [0, 1]; hidden and non-image files are ignored."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dpmambair.data import build_dataset
from dpmambair.data.image_io import image_size, list_images, read_image, write_image


def _rgb(h: int = 12, w: int = 10, seed: int = 0) -> np.ndarray:
    """A smooth random colour image (JPEG-friendly), uint8 RGB."""
    coarse = np.random.default_rng(seed).random((3, 3, 3)).astype(np.float32)
    return (cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR) * 255).round().astype(np.uint8)


def test_formats_load_as_float_rgb(tmp_path: Path) -> None:
    rgb = _rgb()
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    gray = rgb[:, :, 0]
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([bgr, np.full(gray.shape, 77, np.uint8)]))
    cv2.imwrite(str(tmp_path / "deep.png"), bgr.astype(np.uint16) * 257)  # 16-bit, same values as 8-bit
    cv2.imwrite(str(tmp_path / "photo.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(tmp_path / "plain.bmp"), bgr)
    for name in ("gray.png", "rgba.png", "deep.png", "photo.jpg", "plain.bmp"):
        img = read_image(tmp_path / name)
        assert img.dtype == np.float32 and img.shape == (12, 10, 3), name
        assert 0.0 <= img.min() and img.max() <= 1.0, name
        assert image_size(tmp_path / name) == (12, 10), name
    ref = rgb.astype(np.float32) / 255.0
    assert np.allclose(read_image(tmp_path / "rgba.png"), ref)  # alpha dropped, colour order RGB
    assert np.allclose(read_image(tmp_path / "deep.png"), ref, atol=1e-6)  # 16-bit scaled to the 8-bit range
    assert np.allclose(read_image(tmp_path / "plain.bmp"), ref)
    g = read_image(tmp_path / "gray.png")
    assert np.allclose(g[:, :, 0], g[:, :, 1]) and np.allclose(g[:, :, 0], gray / 255.0)
    assert (
        np.abs(read_image(tmp_path / "photo.jpg") - ref).mean() < 0.06
    )  # chroma subsampling on a tiny image; a channel swap would be ~0.3


def test_red_stays_red(tmp_path: Path) -> None:
    red = np.zeros((4, 4, 3), np.float32)
    red[..., 0] = 1.0
    write_image(tmp_path / "red.png", red)
    back = read_image(tmp_path / "red.png")
    assert back[..., 0].min() == 1.0 and back[..., 1:].max() == 0.0


def test_hidden_and_non_image_files_are_ignored(tmp_path: Path) -> None:
    for side in ("lq", "gt"):
        d = tmp_path / side
        d.mkdir()
        for i in range(2):
            cv2.imwrite(str(d / f"{i}.png"), _rgb(seed=i))
        (d / ".hidden.png").write_text("not an image, but hidden")
        (d / ".DS_Store").write_bytes(b"\0\1")
        (d / "notes.txt").write_text("readme")
        (d / "Thumbs.db").write_bytes(b"\0")
        (d / "sub").mkdir()
        cv2.imwrite(str(d / "sub" / "9.png"), _rgb())
    assert [p.name for p in list_images(tmp_path / "lq")] == ["0.png", "1.png"]
    ds = build_dataset(
        {"type": "PairedImageDataset", "dataroot_lq": str(tmp_path / "lq"), "dataroot_gt": str(tmp_path / "gt")},
        "t: datasets.val",
    )
    assert len(ds) == 2


def test_mixed_formats_pair_as_rgb(tmp_path: Path) -> None:
    """A grayscale 16-bit lq and an 8-bit RGB JPEG gt of one size form a valid pair."""
    (tmp_path / "lq").mkdir()
    (tmp_path / "gt").mkdir()
    cv2.imwrite(str(tmp_path / "lq" / "a.png"), (_rgb()[:, :, 0].astype(np.uint16) * 257))
    cv2.imwrite(str(tmp_path / "gt" / "a.jpg"), _rgb())
    ds = build_dataset(
        {"type": "PairedImageDataset", "dataroot_lq": str(tmp_path / "lq"), "dataroot_gt": str(tmp_path / "gt")},
        "t: datasets.test_1",
    )
    s = ds[0]
    assert s["lq"].shape == s["gt"].shape == (3, 12, 10)
    assert str(s["lq"].dtype) == "torch.float32"


@pytest.mark.parametrize("content", [b"", b"this is text, not a PNG", b"\x89PNG\r\n\x1a\ntruncated"])
def test_undecodable_file_names_the_file(tmp_path: Path, content: bytes) -> None:
    from dpmambair.data import DatasetError

    bad = tmp_path / "broken.png"
    bad.write_bytes(content)
    with pytest.raises(DatasetError, match="broken.png"):
        read_image(bad)
