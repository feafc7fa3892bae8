"""JPEG compression: I = Q(J), the real codec (cv2.imencode / imdecode) at a severity-driven quality.

Using the codec itself, rather than an imitation of blocking, gives exactly the artefacts a JPEG test set
(LIVE1, Classic5) contains, chroma subsampling included.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Degradation, Params


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode an RGB float image as JPEG at `quality` (1–100) and decode it back to float RGB."""
    u8 = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("cv2.imencode failed to write JPEG")
    dec = cv2.cvtColor(cv2.imdecode(enc, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return dec.astype(np.float32) * np.float32(1.0 / 255.0)


class Jpeg(Degradation):
    name = "jpeg"
    ranges = {"quality": (60.0, 10.0)}

    def apply(self, img: np.ndarray, params: Params) -> np.ndarray:
        return jpeg_roundtrip(img, int(round(params["quality"])))
