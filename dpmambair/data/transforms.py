"""Aligned crops, flips and padding for lq/gt pairs (numpy, (H, W, C) arrays).

One random draw decides the box and the flips of both images of a pair, so lq and gt can never drift apart;
randomness comes only from the `numpy.random.Generator` passed in, so a sample is a function of its seed.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import cv2
import numpy as np


def pad_to_size(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pad at the bottom and right to at least (height, width).

    Used when a training patch is larger than an image: reflection (as Restormer does) keeps real image
    statistics at the border, unlike zero padding which teaches the network black frames.
    """
    h, w = img.shape[:2]
    ph, pw = max(height - h, 0), max(width - w, 0)
    if ph == 0 and pw == 0:
        return img
    out = img
    # cv2 reflects at most once per call; repeat for tiny images
    while out.shape[0] < height or out.shape[1] < width:
        add_h = min(height - out.shape[0], out.shape[0]) if out.shape[0] < height else 0
        add_w = min(width - out.shape[1], out.shape[1]) if out.shape[1] < width else 0
        out = cv2.copyMakeBorder(out, 0, max(add_h, 0), 0, max(add_w, 0), cv2.BORDER_REFLECT)
        if out.ndim == 2 and img.ndim == 3:
            out = out[:, :, None]
    return out


def random_crop_box(height: int, width: int, patch: int, rng: np.random.Generator, align: int = 1) -> Tuple[int, int]:
    """Top-left corner of a uniformly random patch×patch box inside height×width, on multiples of `align`."""
    top = align * int(rng.integers(0, (height - patch) // align + 1))
    left = align * int(rng.integers(0, (width - patch) // align + 1))
    return top, left


def paired_random_crop(
    lq: np.ndarray, gt: np.ndarray, patch: int, rng: np.random.Generator, align: int = 1
) -> Tuple[np.ndarray, np.ndarray]:
    """The same random patch×patch box from lq and gt (reflect-padded first when an image is smaller);
    `align` puts its corner on a grid (8: JPEG blocks keep their position relative to the box)."""
    if lq.shape[:2] != gt.shape[:2]:
        raise ValueError(f"lq {lq.shape[:2]} and gt {gt.shape[:2]} differ in size")
    if lq.shape[0] < patch or lq.shape[1] < patch:
        lq = pad_to_size(lq, patch, patch)
        gt = pad_to_size(gt, patch, patch)
    top, left = random_crop_box(lq.shape[0], lq.shape[1], patch, rng, align)
    return lq[top : top + patch, left : left + patch], gt[top : top + patch, left : left + patch]


def random_crop(img: np.ndarray, patch: int, rng: np.random.Generator) -> np.ndarray:
    """A random patch×patch crop of one image (reflect-padded first when smaller)."""
    if img.shape[0] < patch or img.shape[1] < patch:
        img = pad_to_size(img, patch, patch)
    top, left = random_crop_box(img.shape[0], img.shape[1], patch, rng)
    return img[top : top + patch, left : left + patch]


def augment(
    imgs: Sequence[np.ndarray], hflip: bool, vflip: bool, rot: bool, rng: np.random.Generator
) -> List[np.ndarray]:
    """The same random horizontal flip, vertical flip and transpose (90° rotation with a flip) for every image.

    Three draws are always made, whatever is enabled, so switching one flip off does not change the
    random stream of the others.
    """
    draws = rng.random(3)
    do_h, do_v, do_t = hflip and draws[0] < 0.5, vflip and draws[1] < 0.5, rot and draws[2] < 0.5
    out = []
    for img in imgs:
        if do_h:
            img = img[:, ::-1]
        if do_v:
            img = img[::-1]
        if do_t:
            img = img.transpose(1, 0, 2)
        out.append(np.ascontiguousarray(img))
    return out
