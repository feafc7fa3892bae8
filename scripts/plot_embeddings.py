#!/usr/bin/env python
"""Plot the pretrained degradation extractor's embeddings of held-out degraded images, and score them.

    python scripts/plot_embeddings.py -opt options/demo/stage2.yml [--weights PATH] [--output PNG]
        [--method pca|tsne] [--seed N] [--crops 4] [--crop-size 96] [--severities 0.1 0.325 0.55 0.775 1.0]

The extractor is `path.pretrain_network_de` of the option file unless --weights names a checkpoint (a stage-1
`net_de_*.pth`, or a restorer `net_g_*.pth` that holds its extractor). Held-out images are crops of the demo's
val and test photographs (never a training photo), each degraded by all seven types at every severity with a
fixed seed. Writes a scatter of a 2-D projection (PCA; t-SNE with scikit-learn installed) coloured by type and
shaded by severity, and prints and stores next to it (same name, .json), all with cosine distance:
  (a) leave-one-out 1-NN accuracy of the type among held-out embeddings,
  (b) accuracy of nearest-class-centroid classification, centroids from degraded *training* photographs,
  (c) silhouette score of the held-out embeddings grouped by type.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

DEFAULT_SEVERITIES = [0.1, 0.325, 0.55, 0.775, 1.0]
HELDOUT_SPLITS = ("val", "test")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "-opt",
        default=None,
        help="option file whose path.pretrain_network_de is the extractor (e.g. options/demo/stage2.yml)",
    )
    parser.add_argument("--weights", default=None, help="extractor checkpoint; overrides the option file's")
    parser.add_argument(
        "--output",
        default=None,
        help="PNG to write (default results/embeddings/<experiment>_<method>.png); "
        "the metrics go to the same name with .json",
    )
    parser.add_argument(
        "--method", choices=("pca", "tsne"), default="pca", help="2-D projection (tsne needs scikit-learn)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of crops, degradation parameters and t-SNE (default 0)"
    )
    parser.add_argument("--crops", type=int, default=4, help="random crops per photograph (default 4)")
    parser.add_argument("--crop-size", type=int, default=96, help="side of each crop in pixels (default 96)")
    parser.add_argument(
        "--short-side",
        type=int,
        default=128,
        help="photographs are resized to this short side before cropping (default 128, the demo's eval size)",
    )
    parser.add_argument(
        "--severities",
        type=float,
        nargs="+",
        default=DEFAULT_SEVERITIES,
        help="severities in [0, 1] (default: 5 from 0.1 to 1.0)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="images per extractor forward pass (default 32)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    return parser.parse_args(argv)


def resolve_weights(args: argparse.Namespace) -> Path:
    """--weights, else the option file's path.pretrain_network_de; a missing file says how to make it."""
    from dpmambair.utils.checkpoint import CheckpointError
    from dpmambair.utils.options import OptionError, parse_options

    if args.weights:
        path, origin = Path(args.weights), "--weights"
    elif args.opt:
        opt = parse_options(args.opt, is_train=False)
        value = (opt.get("path") or {}).get("pretrain_network_de")
        if not value:
            raise OptionError(f"{args.opt}: path.pretrain_network_de is not set; give the extractor with --weights")
        path, origin = Path(value), f"path.pretrain_network_de in {args.opt}"
    else:
        raise OptionError(
            "give -opt OPTION_FILE (its path.pretrain_network_de is the extractor) or --weights CHECKPOINT"
        )
    if not path.is_file():
        raise CheckpointError(
            f"{path}: extractor checkpoint not found ({origin}); pretrain it first with stage 1 "
            "(python train.py -opt options/demo/stage1.yml, or make demo)"
        )
    return path


def default_output(weights: Path, method: str) -> Path:
    """results/embeddings/<experiment>_<method>.png, the experiment read from experiments/<name>/models/<file>."""
    name = (
        weights.parent.parent.name if weights.parent.name == "models" and weights.parent.parent.name else weights.stem
    )
    return Path("results") / "embeddings" / f"{name}_{method}.png"


def plot(
    coords: np.ndarray, tasks: List[str], severities: np.ndarray, names: List[str], title: str, path: Path, method: str
) -> None:
    """Scatter coloured by degradation type; opacity and marker size grow with severity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    cmap = plt.get_cmap("tab10")
    sev_levels = sorted({float(s) for s in severities})
    lo, hi = min(sev_levels), max(sev_levels)

    def shade(s: float) -> float:
        return 0.25 + 0.75 * ((s - lo) / (hi - lo) if hi > lo else 1.0)

    fig, ax = plt.subplots(figsize=(8.5, 6.5), dpi=120)
    for i, name in enumerate(names):
        idx = [j for j, t in enumerate(tasks) if t == name]
        if not idx:
            continue
        rgba = np.tile(np.asarray(cmap(i % 10)), (len(idx), 1))
        rgba[:, 3] = [shade(float(severities[j])) for j in idx]
        sizes = [12 + 36 * shade(float(severities[j])) for j in idx]
        ax.scatter(coords[idx, 0], coords[idx, 1], c=rgba, s=sizes, edgecolors="none")
    type_handles = [
        Line2D([], [], marker="o", linestyle="", color=cmap(i % 10), label=n) for i, n in enumerate(names) if n in tasks
    ]
    sev_handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            color="0.2",
            alpha=shade(s),
            markersize=(12 + 36 * shade(s)) ** 0.5,
            label=f"{s:g}",
        )
        for s in sev_levels
    ]
    first = ax.legend(
        handles=type_handles, title="degradation", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8
    )
    ax.add_artist(first)
    second = ax.legend(handles=sev_handles, title="severity", loc="lower left", bbox_to_anchor=(1.01, 0.0), fontsize=8)
    axis = "PC" if method == "pca" else "t-SNE "
    ax.set_xlabel(f"{axis}1")
    ax.set_ylabel(f"{axis}2")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", bbox_extra_artists=[first, second])  # legends sit outside the axes
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from dpmambair.data import TASKS
    from dpmambair.data.degraded_crops import make_degraded_crops, split_photos
    from dpmambair.inference.embedding_analysis import analyse_extractor, check_projection, load_extractor
    from dpmambair.utils.device import resolve_device
    from dpmambair.utils.errors import DPMambaIRError

    try:
        check_projection(args.method)
        for flag, value in (
            ("--batch-size", args.batch_size),
            ("--crops", args.crops),
            ("--crop-size", args.crop_size),
            ("--short-side", args.short_side),
        ):
            if value < 1:
                raise ValueError(f"{flag} must be a positive int, got {value}")
        if args.crop_size > args.short_side:
            raise ValueError(f"--crop-size ({args.crop_size}) must not exceed --short-side ({args.short_side})")
        if any(not 0.0 <= s <= 1.0 for s in args.severities):
            raise ValueError(f"--severities must lie in [0, 1], got {args.severities}")
        weights = resolve_weights(args)
        output = Path(args.output) if args.output else default_output(weights, args.method)
        if output.suffix.lower() != ".png":
            raise ValueError(f"--output {output}: must end in .png")
        net, net_opt = load_extractor(weights, resolve_device(args.device, "--device")[0])
        sample = dict(
            severities=args.severities,
            crops_per_photo=args.crops,
            crop_size=args.crop_size,
            short_side=args.short_side,
            seed=args.seed,
        )
        heldout_photos, train_photos = split_photos(HELDOUT_SPLITS), split_photos(["train"])
        heldout = make_degraded_crops(heldout_photos, **sample)
        train = make_degraded_crops(train_photos, **sample)
        print(
            f"extractor {weights}: embedding {len(heldout)} held-out images ({', '.join(heldout_photos)}) and "
            f"{len(train)} training images ({', '.join(train_photos)}); {args.crops} crops x {len(TASKS)} types x "
            f"{len(args.severities)} severities per photo"
        )
        result = analyse_extractor(net, heldout, train, batch_size=args.batch_size, method=args.method, seed=args.seed)
    except (DPMambaIRError, ValueError) as err:
        print(f"plot_embeddings: error: {err}", file=sys.stderr)
        return 2

    m = result["metrics"]
    lines = [
        f"(a) leave-one-out 1-NN type accuracy (held-out, cosine): {m['loo_1nn_accuracy']:.3f}",
        f"(b) nearest-centroid accuracy, centroids from training photos: {m['train_centroid_accuracy']:.3f}",
        f"(c) silhouette by type (held-out, cosine): {m['silhouette']:.3f}",
        f"chance accuracy: {m['chance_accuracy']:.3f}",
    ]
    title = (
        f"{weights}\n{args.method.upper()} of {len(heldout)} held-out embeddings; 1-NN {m['loo_1nn_accuracy']:.2f}, "
        f"train-centroid {m['train_centroid_accuracy']:.2f}, silhouette {m['silhouette']:.2f}"
    )
    report: Dict[str, Any] = {
        "weights": str(weights),
        "network_de": net_opt,
        "method": args.method,
        "seed": args.seed,
        "heldout_photos": list(heldout_photos),
        "train_photos": list(train_photos),
        "tasks": list(TASKS),
        "severities": [float(s) for s in args.severities],
        "crops_per_photo": args.crops,
        "crop_size": args.crop_size,
        "short_side": args.short_side,
        "count_heldout": len(heldout),
        "count_train": len(train),
        "metrics": m,
        "png": str(output),
    }
    try:
        plot(result["coords"], heldout.tasks, heldout.severities, list(TASKS), title, output, args.method)
        json_path = output.with_suffix(".json")
        json_path.write_text(json.dumps(report, indent=2) + "\n")
    except OSError as err:
        print(f"plot_embeddings: error: --output {output}: {err.strerror or err}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    print("per type (1-NN): " + ", ".join(f"{k} {v:.2f}" for k, v in m["loo_1nn_accuracy_per_type"].items()))
    print(f"wrote {output} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
