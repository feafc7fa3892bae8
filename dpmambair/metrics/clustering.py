"""How well embeddings separate labelled groups: nearest-neighbour and nearest-centroid accuracy, silhouette.

Pure NumPy functions of (n, d) embeddings and (n,) integer labels, used to judge a degradation extractor:
does an image's embedding tell its degradation type, also for scenes it never saw? Cosine distance is the
default everywhere because that is how the codebase compares embeddings (`Restorer.nearest_degradation`).
Not registered as image metrics (this module is deliberately not named `*_metric.py`).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

METRICS = ("cosine", "euclidean")


def _as_2d(emb: np.ndarray, name: str = "embeddings") -> np.ndarray:
    arr = np.asarray(emb, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) array, got shape {arr.shape}")
    return arr


def _as_labels(labels: np.ndarray, n: int, name: str = "labels") -> np.ndarray:
    arr = np.asarray(labels).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have one entry per embedding ({n}), got {arr.shape[0]}")
    return arr


def pairwise_distances(a: np.ndarray, b: Optional[np.ndarray] = None, metric: str = "cosine") -> np.ndarray:
    """(n, m) distances between the rows of `a` and of `b` (default `a`): cosine (1 − cos) or euclidean."""
    a = _as_2d(a, "a")
    b = a if b is None else _as_2d(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same dimension, got {a.shape[1]} and {b.shape[1]}")
    if metric == "cosine":
        an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return np.clip(1.0 - an @ bn.T, 0.0, 2.0)
    if metric == "euclidean":
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
        return np.sqrt(np.maximum(sq, 0.0))
    raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")


def loo_nearest_neighbour_accuracy(emb: np.ndarray, labels: np.ndarray, metric: str = "cosine") -> float:
    """Share of samples whose nearest *other* sample has the same label (leave-one-out 1-NN)."""
    labels = np.asarray(labels).reshape(-1)
    return float(np.mean(loo_nearest_neighbour_predict(emb, labels, metric) == labels))


def class_centroids(emb: np.ndarray, labels: np.ndarray) -> Dict[int, np.ndarray]:
    """Mean embedding of each label (label → (d,) vector)."""
    emb = _as_2d(emb)
    labels = _as_labels(labels, emb.shape[0])
    return {int(c): emb[labels == c].mean(axis=0) for c in np.unique(labels)}


def nearest_centroid_predict(emb: np.ndarray, centroids: Dict[int, np.ndarray], metric: str = "cosine") -> np.ndarray:
    """The label of the closest centroid for each row of `emb`."""
    if not centroids:
        raise ValueError("nearest-centroid classification needs at least one centroid")
    keys = sorted(centroids)
    dist = pairwise_distances(emb, np.stack([centroids[k] for k in keys]), metric=metric)
    return np.asarray(keys)[np.argmin(dist, axis=1)]


def nearest_centroid_accuracy(
    train_emb: np.ndarray,
    train_labels: np.ndarray,
    test_emb: np.ndarray,
    test_labels: np.ndarray,
    metric: str = "cosine",
) -> float:
    """Accuracy on (test_emb, test_labels) of the nearest-centroid classifier fitted on the training pair."""
    test_emb = _as_2d(test_emb, "test embeddings")
    test_labels = _as_labels(test_labels, test_emb.shape[0], "test labels")
    pred = nearest_centroid_predict(test_emb, class_centroids(train_emb, train_labels), metric)
    return float(np.mean(pred == test_labels))


def silhouette_samples(emb: np.ndarray, labels: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Per-sample silhouette s = (b − a) / max(a, b) (Rousseeuw 1987; 0 for a sample alone in its cluster).

    a = mean distance to the other members of its cluster, b = smallest mean distance to another cluster.
    """
    emb = _as_2d(emb)
    labels = _as_labels(labels, emb.shape[0])
    classes = np.unique(labels)
    if not 2 <= len(classes) <= emb.shape[0] - 1:
        raise ValueError(f"silhouette needs 2 to n-1 clusters, got {len(classes)} for {emb.shape[0]} samples")
    dist = pairwise_distances(emb, metric=metric)
    member = labels[None, :] == classes[:, None]  # (k, n)
    counts = member.sum(axis=1)  # (k,)
    sums = dist @ member.T.astype(np.float64)  # (n, k): summed distance of each sample to each cluster
    own = np.searchsorted(classes, labels)
    own_count = counts[own]
    a = np.where(own_count > 1, sums[np.arange(len(labels)), own] / np.maximum(own_count - 1, 1), 0.0)
    mean_to = sums / counts[None, :]
    mean_to[np.arange(len(labels)), own] = np.inf
    b = mean_to.min(axis=1)
    denom = np.maximum(a, b)
    s = np.where(denom > 0, (b - a) / np.where(denom > 0, denom, 1.0), 0.0)
    return np.where(own_count > 1, s, 0.0)


def silhouette_score(emb: np.ndarray, labels: np.ndarray, metric: str = "cosine") -> float:
    """Mean silhouette over all samples: near 1 for tight, well-separated clusters, near 0 for overlapping ones."""
    return float(np.mean(silhouette_samples(emb, labels, metric)))


def per_class_accuracy(pred: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> Dict[str, float]:
    """Accuracy within each label that occurs, keyed by `names[label]`."""
    pred, labels = np.asarray(pred).reshape(-1), np.asarray(labels).reshape(-1)
    return {str(names[int(c)]): float(np.mean(pred[labels == c] == c)) for c in np.unique(labels)}


def loo_nearest_neighbour_predict(emb: np.ndarray, labels: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """The label of each sample's nearest other sample (the predictions behind the leave-one-out accuracy)."""
    emb = _as_2d(emb)
    labels = _as_labels(labels, emb.shape[0])
    if emb.shape[0] < 2:
        raise ValueError("leave-one-out 1-NN needs at least 2 samples")
    dist = pairwise_distances(emb, metric=metric)
    np.fill_diagonal(dist, np.inf)
    return labels[np.argmin(dist, axis=1)]


__all__ = [
    "METRICS",
    "class_centroids",
    "loo_nearest_neighbour_accuracy",
    "loo_nearest_neighbour_predict",
    "nearest_centroid_accuracy",
    "nearest_centroid_predict",
    "pairwise_distances",
    "per_class_accuracy",
    "silhouette_samples",
    "silhouette_score",
]
