"""Embedding analysis: the separability metrics on hand-made embeddings, the labelled degraded crops, and
scripts/plot_embeddings.py end to end with a tiny random extractor (PNG + JSON, one-line errors)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import load_script  # noqa: E402

from dpmambair.data.degraded_crops import make_degraded_crops, split_photos
from dpmambair.data.demo import SPLITS
from dpmambair.data.tasks import TASKS
from dpmambair.inference.embedding_analysis import check_projection, load_extractor, project_2d
from dpmambair.metrics.clustering import (
    loo_nearest_neighbour_accuracy,
    nearest_centroid_accuracy,
    pairwise_distances,
    silhouette_score,
)

ROOT = Path(__file__).resolve().parents[1]
TINY_DE = {"type": "DegradationExtractor", "version": "normal", "width": 8, "embed_dim": 16}
SMALL = ["--crops", "1", "--crop-size", "32", "--short-side", "40", "--severities", "0.3", "0.9", "--batch-size", "16"]


def _script():
    return load_script("plot_embeddings")


def _tiny_extractor(path: Path) -> Path:
    """A randomly initialised extractor in the self-contained format ExtractorPretrainModel.save writes."""
    from dpmambair.archs import build_network

    torch.manual_seed(0)
    net = build_network(dict(TINY_DE))
    torch.save({"params": net.state_dict(), "network_de": dict(TINY_DE), "prototypes": None, "iter": 0}, path)
    return path


def _clusters(k: int, per: int, dim: int, spread: float, seed: int, same_centre: bool = False):
    rng = np.random.default_rng(seed)
    centres = np.zeros((k, dim)) if same_centre else np.eye(k, dim) * 10.0
    emb = np.concatenate([centres[c] + rng.normal(0, spread, (per, dim)) for c in range(k)])
    if same_centre:  # one isotropic cloud around a common offset: labels carry no information
        emb += 5.0
    return emb, np.repeat(np.arange(k), per)


# ---- metrics --------------------------------------------------------------------------------------------
def test_separated_clusters_score_perfectly():
    emb, labels = _clusters(4, 20, 8, 0.05, seed=0)
    test_emb, test_labels = _clusters(4, 10, 8, 0.05, seed=1)
    assert loo_nearest_neighbour_accuracy(emb, labels) == 1.0
    assert nearest_centroid_accuracy(emb, labels, test_emb, test_labels) == 1.0
    assert silhouette_score(emb, labels) > 0.95
    assert silhouette_score(emb, labels, metric="euclidean") > 0.95


def test_identical_clusters_score_at_chance():
    emb, labels = _clusters(4, 60, 16, 1.0, seed=2, same_centre=True)
    labels = np.random.default_rng(3).permutation(labels)
    test_emb, test_labels = _clusters(4, 60, 16, 1.0, seed=4, same_centre=True)
    assert abs(loo_nearest_neighbour_accuracy(emb, labels) - 0.25) < 0.12
    assert abs(nearest_centroid_accuracy(emb, labels, test_emb, test_labels) - 0.25) < 0.12
    assert abs(silhouette_score(emb, labels)) < 0.05


def test_silhouette_matches_a_hand_computation():
    emb = np.array([[0.0], [1.0], [4.0], [6.0]])
    labels = np.array([0, 0, 1, 1])
    # a: 1, 1, 2, 2; b: mean distance to the other cluster: 5, 4, 3.5, 5.5
    expected = np.mean([(5 - 1) / 5, (4 - 1) / 4, (3.5 - 2) / 3.5, (5.5 - 2) / 5.5])
    assert silhouette_score(emb, labels, metric="euclidean") == pytest.approx(expected)
    # a sample alone in its cluster scores 0 (Rousseeuw's convention)
    single = silhouette_score(np.array([[0.0], [1.0], [4.0]]), np.array([0, 0, 1]), metric="euclidean")
    assert single == pytest.approx(np.mean([(4 - 1) / 4, (3 - 1) / 3, 0.0]))


def test_cosine_distance_and_argument_errors():
    d = pairwise_distances(np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]]))
    assert d[0, 1] == pytest.approx(1.0) and d[0, 2] == pytest.approx(2.0) and d[1, 1] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="metric"):
        pairwise_distances(np.ones((2, 2)), metric="manhattan")
    with pytest.raises(ValueError, match="2 to n-1 clusters"):
        silhouette_score(np.ones((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="one entry per embedding"):
        loo_nearest_neighbour_accuracy(np.ones((3, 2)), np.zeros(2))


def test_projection_pca_is_deterministic_and_tsne_needs_sklearn():
    emb, _ = _clusters(3, 5, 6, 0.1, seed=5)
    a, b = project_2d(emb), project_2d(emb.copy())
    assert a.shape == (15, 2) and np.allclose(a, b)
    with pytest.raises(ValueError, match="method"):
        check_projection("umap")
    if importlib.util.find_spec("sklearn") is None:
        with pytest.raises(ValueError, match="scikit-learn"):
            check_projection("tsne")


# ---- data -----------------------------------------------------------------------------------------------
def test_degraded_crops_are_balanced_deterministic_and_held_out():
    photos = split_photos(["val", "test"])
    assert photos == SPLITS["val"] + SPLITS["test"] and not set(photos) & set(SPLITS["train"])
    a = make_degraded_crops(photos, [0.2, 0.8], crops_per_photo=1, crop_size=16, short_side=24, seed=7)
    b = make_degraded_crops(photos, [0.2, 0.8], crops_per_photo=1, crop_size=16, short_side=24, seed=7)
    assert a.images.shape == (len(photos) * len(TASKS) * 2, 16, 16, 3) and np.array_equal(a.images, b.images)
    assert sorted(set(a.tasks)) == sorted(TASKS) and all(a.tasks.count(t) == len(photos) * 2 for t in TASKS)
    assert set(a.photos) == set(photos) and sorted(set(a.severities.tolist())) == pytest.approx([0.2, 0.8])
    assert a.labels().tolist()[:2] == [0, 0] and a.images.min() >= 0 and a.images.max() <= 1
    from dpmambair.data import DatasetError

    with pytest.raises(DatasetError, match="unknown demo split"):
        split_photos(["holdout"])
    with pytest.raises(DatasetError, match="crop_size"):
        make_degraded_crops(photos, [0.5], crop_size=64, short_side=32)


# ---- the script -----------------------------------------------------------------------------------------
def test_script_writes_png_and_json_from_an_option_file(tmp_path, capsys, one_thread):
    weights = _tiny_extractor(tmp_path / "net_de_latest.pth")
    opt = tmp_path / "stage2.yml"
    opt.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "model_type": "DPMambaIRModel",
                "network_de": TINY_DE,
                "path": {"pretrain_network_de": str(weights)},
            }
        )
    )
    out = tmp_path / "plots" / "emb.png"
    assert _script().main(["-opt", str(opt), "--output", str(out), "--seed", "3", *SMALL]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["weights"] == str(weights) and report["method"] == "pca" and report["seed"] == 3
    assert report["heldout_photos"] == list(SPLITS["val"] + SPLITS["test"])
    assert report["train_photos"] == list(SPLITS["train"])
    assert report["count_heldout"] == 2 * 7 * 2 and report["count_train"] == 4 * 7 * 2
    m = report["metrics"]
    for key in ("loo_1nn_accuracy", "train_centroid_accuracy"):
        assert 0.0 <= m[key] <= 1.0
    assert -1.0 <= m["silhouette"] <= 1.0 and m["distance"] == "cosine"
    assert sorted(m["loo_1nn_accuracy_per_type"]) == sorted(TASKS)
    printed = capsys.readouterr().out
    assert "(a) leave-one-out 1-NN" in printed and "(b) nearest-centroid" in printed and "(c) silhouette" in printed


def test_missing_weights_is_a_one_line_error(tmp_path, capsys):
    missing = tmp_path / "experiments" / "stage1" / "models" / "net_de_latest.pth"
    opt = tmp_path / "stage2.yml"
    opt.write_text(
        yaml.safe_dump({"name": "tiny", "model_type": "DPMambaIRModel", "path": {"pretrain_network_de": str(missing)}})
    )
    assert _script().main(["-opt", str(opt), "--output", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(missing) in err and "stage 1" in err and "make demo" in err
    assert not (tmp_path / "x.png").exists()

    assert _script().main(["--weights", str(tmp_path / "nope.pth")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.pth" in err and "--weights" in err


def test_a_checkpoint_without_extractor_options_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "weights_only.pth"
    torch.save({"params": {}}, bad)
    assert _script().main(["--weights", str(bad), "--output", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "weights_only.pth" in err and "network_de" in err


def test_load_extractor_reads_a_restorer_file_too(tmp_path):
    from dpmambair.archs import build_network

    de = build_network(dict(TINY_DE))
    path = tmp_path / "net_g_latest.pth"
    torch.save(
        {"params": {}, "network_g": {"type": "DPMambaIR"}, "network_de": dict(TINY_DE), "params_de": de.state_dict()},
        path,
    )
    net, opt = load_extractor(path)
    assert opt == TINY_DE and not net.training and all(not p.requires_grad for p in net.parameters())
    x = torch.rand(1, 3, 24, 24)
    assert torch.allclose(net(x), de.eval()(x))
