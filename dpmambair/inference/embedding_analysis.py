"""Does the pretrained degradation extractor tell degradation types apart on scenes it never saw?

Embeds labelled degraded crops (`dpmambair.data.degraded_crops`) with a frozen extractor loaded from a
self-contained checkpoint and scores type identification with `dpmambair.metrics.clustering`:

- leave-one-out 1-NN accuracy among held-out embeddings (is each image's closest neighbour of its type?),
- nearest-centroid accuracy with centroids from *training* photographs (do type prototypes transfer to
  new scenes? — what `Restorer.nearest_degradation` relies on),
- silhouette by type (are the types compact, separate clusters?),

all with cosine distance, plus a 2-D projection (PCA, or t-SNE when scikit-learn is installed) to plot.
Used by scripts/plot_embeddings.py; lives here because it joins data (crops) and networks (the extractor).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from dpmambair.archs import build_network
from dpmambair.data.degraded_crops import DegradedCrops
from dpmambair.data.tasks import TASKS
from dpmambair.metrics.clustering import (
    class_centroids,
    loo_nearest_neighbour_predict,
    nearest_centroid_predict,
    per_class_accuracy,
    silhouette_score,
)
from dpmambair.utils.checkpoint import CheckpointError, freeze, load_file, load_network
from dpmambair.utils.options import OptionError

PROJECTIONS = ("pca", "tsne")


def load_extractor(
    path: Union[str, Path], device: Union[str, torch.device] = "cpu"
) -> Tuple[nn.Module, Dict[str, Any]]:
    """The frozen extractor and its options from a stage-1 file (`net_de_*.pth`: params + network_de) or a
    stage-2 restorer file (`net_g_*.pth`: params_de + network_de); CheckpointError naming the file otherwise."""
    path = Path(path)
    ckpt = load_file(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("network_de"), dict):
        raise CheckpointError(
            f"{path}: not a degradation-extractor checkpoint (no 'network_de' options); expected "
            "experiments/<stage-1 name>/models/net_de_latest.pth or a restorer file that holds its extractor"
        )
    key = "params_de" if ckpt.get("params_de") is not None else "params"
    try:
        net = build_network(dict(ckpt["network_de"]), f"{path}: network_de")
    except OptionError as err:  # the options stored in the file are at fault, not an option file
        raise CheckpointError(str(err)) from None
    load_network(net, path, strict=True, param_key=key)
    return freeze(net.to(device)), dict(ckpt["network_de"])


@torch.no_grad()
def embed_images(net: nn.Module, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(n, h, w, 3) float RGB in [0, 1] → (n, d) float32 embeddings, `batch_size` images at a time."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (n, h, w, 3) RGB, got shape {images.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size}")
    device = next(net.parameters()).device
    out = []
    for start in range(0, images.shape[0], batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).permute(0, 3, 1, 2)
        out.append(net(batch.to(device, torch.float32)).float().cpu().numpy())
    return np.concatenate(out, axis=0)


def check_projection(method: str) -> None:
    """Fail early (before any embedding is computed) on an unknown method or a t-SNE without scikit-learn."""
    if method not in PROJECTIONS:
        raise ValueError(f"method must be one of {', '.join(PROJECTIONS)}, got {method!r}")
    if method == "tsne":
        try:
            import sklearn.manifold  # noqa: F401
        except ImportError:
            raise ValueError(
                "--method tsne needs scikit-learn (pip install scikit-learn); "
                "use --method pca, which needs nothing else"
            ) from None


def project_2d(emb: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(n, 2) coordinates: PCA of the centred embeddings (NumPy), or t-SNE (cosine) via scikit-learn."""
    check_projection(method)
    emb = np.asarray(emb, dtype=np.float64)
    if method == "pca":
        centred = emb - emb.mean(axis=0, keepdims=True)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        vt = vt[:2]
        big = vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)]
        vt = vt * np.where(big < 0, -1.0, 1.0)[:, None]  # fix SVD's arbitrary sign: the same picture every run
        coords = centred @ vt.T
        if coords.shape[1] < 2:  # 1-D embeddings: pad so the plot still has two axes
            coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        return coords
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (emb.shape[0] - 1) / 3)))
    return TSNE(n_components=2, metric="cosine", init="pca", perplexity=perplexity, random_state=seed).fit_transform(
        emb
    )


def type_identification(
    heldout_emb: np.ndarray,
    heldout_labels: np.ndarray,
    train_emb: Optional[np.ndarray] = None,
    train_labels: Optional[np.ndarray] = None,
    names: Sequence[str] = TASKS,
    metric: str = "cosine",
) -> Dict[str, Any]:
    """The three scores (and per-type accuracies) of embeddings labelled with positions in `names`."""
    heldout_labels = np.asarray(heldout_labels).reshape(-1)
    nn_pred = loo_nearest_neighbour_predict(heldout_emb, heldout_labels, metric)
    result: Dict[str, Any] = {
        "distance": metric,
        "loo_1nn_accuracy": float(np.mean(nn_pred == heldout_labels)),
        "loo_1nn_accuracy_per_type": per_class_accuracy(nn_pred, heldout_labels, names),
        "silhouette": silhouette_score(heldout_emb, heldout_labels, metric),
        "chance_accuracy": 1.0 / len(np.unique(heldout_labels)),
    }
    if train_emb is not None and train_labels is not None:
        pred = nearest_centroid_predict(heldout_emb, class_centroids(train_emb, train_labels), metric)
        result["train_centroid_accuracy"] = float(np.mean(pred == heldout_labels))
        result["train_centroid_accuracy_per_type"] = per_class_accuracy(pred, heldout_labels, names)
    return result


def analyse_extractor(
    net: nn.Module,
    heldout: DegradedCrops,
    train: Optional[DegradedCrops] = None,
    batch_size: int = 32,
    method: str = "pca",
    seed: int = 0,
) -> Dict[str, Any]:
    """Embed both sets, score type identification and project the held-out embeddings to 2-D.

    Returns {'metrics': ..., 'embeddings': (n, d), 'coords': (n, 2), 'train_embeddings': (m, d) or None}.
    """
    check_projection(method)  # fail before the (slow) embedding pass
    emb = embed_images(net, heldout.images, batch_size)
    train_emb = embed_images(net, train.images, batch_size) if train is not None else None
    metrics = type_identification(emb, heldout.labels(), train_emb, train.labels() if train is not None else None)
    return {
        "metrics": metrics,
        "embeddings": emb,
        "coords": project_2d(emb, method, seed),
        "train_embeddings": train_emb,
    }


__all__ = [
    "PROJECTIONS",
    "analyse_extractor",
    "check_projection",
    "embed_images",
    "load_extractor",
    "project_2d",
    "type_identification",
]
