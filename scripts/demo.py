#!/usr/bin/env python
"""`make demo`: DPMambaIR end to end on the photographs bundled with scikit-image, on a CPU.

    python scripts/demo.py              # what `make demo` runs
                                        # (14-16 minutes on 2 cores with the install, 12-14 without)
    python scripts/demo.py --smoke      # the same pipeline at test size (under a minute; tests/test_demo.py)
    python scripts/demo.py --stage2-iters 2700   # 3x the restorer's training (about 28 minutes on 2 cores)

0. builds `datasets/demo/` (scripts/make_demo_data.py) unless it is there already;
1. the shipped compact model (weights/dpmambair_compact.pth, trained on 426 CBSD432 photos) restores the
   held-out test photo under every degradation: its table and `results/demo/shipped_comparison.png`;
   then, labelled as the ten-minute toy it is, the two-stage method from scratch on four photos:
2. stage 1: pretrains a small degradation extractor by reconstruction (options/demo/stage1.yml);
3. stage 2: trains a small DPMambaIR on the seven degradations with that extractor frozen
   (options/demo/stage2.yml);
4. restores the held-out test photo under every degradation (options/demo/test.yml) and prints, per
   degradation type, PSNR/SSIM of the degraded input, of the restored output, and the gain (the toy's table);
5. draws `results/demo/comparison.png` (degraded / restored / ground truth per type) and
   `results/demo/embeddings.png` (the extractor's embeddings of held-out images, 2-D projection).

Every step goes through the same entry points as a full-scale run (train.py, test.py); only the option
files differ. Paths are relative to the working directory, as in every option file. An earlier demo's
experiment and results folders are renamed with a timestamp, never overwritten.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OPTIONS = REPO / "options" / "demo"
DATA = Path("datasets/demo")
FIGURES = Path("results/demo")

# --smoke: the same pipeline at test size. Tiny networks and data, a few iterations; numbers mean nothing.
SMOKE_DATA = dict(train_size=48, eval_size=32, severities=(0.5,))
SMOKE_COMMON = [
    "datasets:train:gt_size=32",
    "datasets:train:batch_size_per_gpu=2",
    "datasets:train:num_worker_per_gpu=0",
    "val:val_freq=2",
    "logger:print_freq=1",
    "logger:save_checkpoint_freq=2",
    "logger:progress_bar=false",
]
SMOKE_DE = ["network_de:width=4"]
SMOKE_STAGE1 = SMOKE_COMMON + SMOKE_DE + ["train:total_iter=2", "train:scheduler:T_max=2", "network_r:width=4"]
SMOKE_STAGE2 = (
    SMOKE_COMMON
    + SMOKE_DE
    + [
        "datasets:train:degrade_size=48",
        "train:total_iter=2",
        "train:scheduler:T_max=2",
        "network_g:dim=8",
        "network_g:d_state=4",
        "network_g:prompt_hidden=4",
    ]
)
SMOKE_TEST = SMOKE_DE + ["network_g:dim=8", "network_g:d_state=4", "network_g:prompt_hidden=4"]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--smoke", action="store_true", help="the same pipeline at test size (under a minute)")
    parser.add_argument("--skip-embeddings", action="store_true", help="do not draw the embedding plot")
    parser.add_argument(
        "--stage2-iters",
        type=int,
        default=None,
        metavar="N",
        help="train the restorer for N iterations instead of options/demo/stage2.yml's (the cosine "
        "schedule, validations and checkpoints follow N)",
    )
    args = parser.parse_args(argv)
    if args.stage2_iters is not None and args.stage2_iters < 3:
        parser.error(f"--stage2-iters must be at least 3, got {args.stage2_iters}")
    return args


def iteration_overrides(iters: int) -> List[str]:
    """--force_yml overrides that retrain stage 2 for `iters` iterations: schedule, 3 validations, 3 checkpoints."""
    every = iters // 3
    return [
        f"train:total_iter={iters}",
        f"train:scheduler:T_max={iters}",
        f"val:val_freq={every}",
        f"logger:save_checkpoint_freq={every}",
    ]


def stage(title: str) -> float:
    print(f"\n=== {title} ===", flush=True)
    return time.perf_counter()


def build_data(smoke: bool) -> None:
    from dpmambair.data.demo import build_demo

    if (DATA / "splits.json").is_file():
        print(
            f"using the demo data already in {DATA} "
            "(delete it, or run scripts/make_demo_data.py --overwrite, to rebuild)"
        )
        return
    kwargs: Dict[str, Any] = dict(SMOKE_DATA) if smoke else {}
    summary = build_demo(DATA, **kwargs)
    print(
        f"demo data in {DATA}: {len(summary['splits']['train'])} training photos, {summary['val_pairs']} validation "
        f"and {summary['test_pairs']} test pairs (held-out photos: {', '.join(summary['splits']['test'])})"
    )


def train(opt_file: Path, overrides: List[str]) -> Dict[str, Any]:
    """One training stage through train.py's code path; returns the parsed options it ran with."""
    from dpmambair.train import experiment_paths
    from dpmambair.train import main as train_main
    from dpmambair.utils.options import parse_options

    train_main(["-opt", str(opt_file)] + (["--force_yml", *overrides] if overrides else []))
    opt = parse_options(opt_file, is_train=True, overrides=overrides)
    experiment_paths(opt)  # the folders train.py used: experiments/<name>/models, tb_logger/<name>
    return opt


def evaluate(overrides: List[str]) -> Dict[str, Any]:
    from dpmambair.test import run_test
    from dpmambair.utils.options import parse_options

    return run_test(parse_options(OPTIONS / "test.yml", is_train=False, overrides=overrides))


def evaluate_shipped(weights: Path) -> Dict[str, Any]:
    """The shipped model on the held-out test photo, through test.py's code path (the file's own options win)."""
    return evaluate([f"path:pretrain_network_g={weights}", "name=demo_test_shipped"])


def gain_table(summary: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Per task and on average: PSNR/SSIM of the degraded input, of the output, and the PSNR/SSIM gains."""
    from dpmambair.data import TASKS

    res = next(iter(summary["sets"].values()))
    rows = []
    for task in [t for t in TASKS if t in res["tasks"]] + ["average"]:
        m = res["average"] if task == "average" else res["tasks"][task]["metrics"]
        rows.append(
            {
                "task": task,
                "input_psnr": m["input_psnr"],
                "psnr": m["psnr"],
                "gain_psnr": m["psnr"] - m["input_psnr"],
                "input_ssim": m["input_ssim"],
                "ssim": m["ssim"],
                "gain_ssim": m["ssim"] - m["input_ssim"],
            }
        )
    return rows


def format_gain_table(rows: List[Dict[str, Any]]) -> str:
    head = (
        f"{'degradation':<12} {'input PSNR':>10} {'restored':>9} {'gain':>7}   "
        f"{'input SSIM':>10} {'restored':>9} {'gain':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["task"] == "average":
            lines.append("-" * len(head))
        lines.append(
            f"{r['task']:<12} {r['input_psnr']:10.2f} {r['psnr']:9.2f} {r['gain_psnr']:+7.2f}   "
            f"{r['input_ssim']:10.4f} {r['ssim']:9.4f} {r['gain_ssim']:+7.4f}"
        )
    return "\n".join(lines)


def draw_embeddings(extractor: Path, smoke: bool) -> Optional[Path]:
    """The embedding plot of the pretrained extractor; None (with the reason printed) when it cannot be drawn."""
    import subprocess

    script = REPO / "scripts" / "plot_embeddings.py"
    out = FIGURES / "embeddings.png"
    cmd = [sys.executable, str(script), "--weights", str(extractor), "--output", str(out)]
    if smoke:
        cmd += ["--crops", "1", "--crop-size", "24", "--short-side", "32", "--severities", "0.5", "1.0"]
    proc = subprocess.run(cmd, text=True)
    if proc.returncode != 0:
        print(f"embedding plot failed (exit {proc.returncode}); see the message above")
        return None
    return out


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning")
    from dpmambair.data import TASKS
    from dpmambair.inference.weights import shipped_weights
    from dpmambair.utils.comparison_figure import make_comparison_figure, pick_rows
    from dpmambair.utils.errors import DPMambaIRError

    smoke = args.smoke
    start = time.perf_counter()
    timings: Dict[str, float] = {}
    try:
        t = stage("0/5 demo data from scikit-image's bundled photos")
        build_data(smoke)
        timings["data"] = time.perf_counter() - t

        t = stage("1/5 the shipped compact model (weights/dpmambair_compact.pth) on the held-out test photo")
        shipped = shipped_weights()
        shipped_summary = evaluate_shipped(shipped)
        shipped_images = next(iter(shipped_summary["sets"].values()))["images"]
        shipped_figure = make_comparison_figure(
            pick_rows(shipped_images, TASKS, prefer="_s60"),
            FIGURES / "shipped_comparison.png",
            title="DPMambaIR compact (shipped weights), held-out photo: degraded | restored | ground truth",
        )
        shipped_rows = gain_table(shipped_summary)
        print(f"\n=== the shipped model: held-out photo, {len(shipped_images)} degraded images ===")
        print(format_gain_table(shipped_rows))
        print(f"comparison: {shipped_figure}")
        timings["shipped"] = time.perf_counter() - t
        print(
            "\nWhat follows is a ten-minute toy: the same two-stage method trained from scratch on four photos, "
            "to show the pipeline end to end (train.py, test.py, TensorBoard). Its numbers are a toy's."
        )

        t = stage("2/5 stage 1: pretrain the degradation extractor (reconstruction, L1 + LPIPS)")
        s1 = train(OPTIONS / "stage1.yml", SMOKE_STAGE1 if smoke else [])
        timings["stage1"] = time.perf_counter() - t
        extractor = Path(s1["path"]["models"]) / "net_de_latest.pth"

        t = stage("3/5 stage 2: train DPMambaIR on seven degradations, extractor frozen")
        s2_over = (SMOKE_STAGE2 if smoke else []) + [f"path:pretrain_network_de={extractor}"]
        if args.stage2_iters is not None:
            s2_over += iteration_overrides(args.stage2_iters)
        s2 = train(OPTIONS / "stage2.yml", s2_over)
        timings["stage2"] = time.perf_counter() - t
        restorer = Path(s2["path"]["models"]) / "net_g_latest.pth"

        t = stage("4/5 restore the held-out test photo")
        summary = evaluate(
            (SMOKE_TEST if smoke else [])
            + [f"path:pretrain_network_g={restorer}", f"path:pretrain_network_de={extractor}"]
        )
        timings["test"] = time.perf_counter() - t

        t = stage("5/5 figures")
        images = next(iter(summary["sets"].values()))["images"]
        figure = make_comparison_figure(
            pick_rows(images, TASKS, prefer="_s60"),
            FIGURES / "comparison.png",
            title="DPMambaIR demo, held-out photo: degraded | restored | ground truth",
        )
        embeddings = None if args.skip_embeddings else draw_embeddings(extractor, smoke)
        timings["figures"] = time.perf_counter() - t
    except DPMambaIRError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SystemExit as err:  # train.py's entry point reports its own errors and exits
        return int(err.code or 1)

    rows = gain_table(summary)
    FIGURES.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter() - start
    report = {
        "shipped": {"weights": str(shipped), "rows": shipped_rows, "figure": str(shipped_figure)},
        "rows": rows,
        "timings_s": timings,
        "total_s": total,
        "restorer": str(restorer),
        "extractor": str(extractor),
        "results": str(Path(summary["sets"] and (s2["path"].get("results_root") or "results")) / summary["name"]),
    }
    (FIGURES / "demo_summary.json").write_text(json.dumps(report, indent=2))
    tb_root = Path(s2["path"]["tb_logger"]).parent
    print(f"\n=== the shipped compact model ({shipped}): held-out photo, {len(shipped_images)} degraded images ===")
    print(format_gain_table(shipped_rows))
    print("\n=== the ten-minute toy (trained here on four photos): same held-out photo ===")
    print(format_gain_table(rows))
    print(f"\ntime: {total / 60:.1f} min (" + ", ".join(f"{k} {v / 60:.1f}" for k, v in timings.items()) + ")")
    print(f"models:      {restorer} (restorer), {extractor} (extractor)")
    print(f"comparison:  {shipped_figure} (shipped model), {figure} (toy)")
    if embeddings is not None:
        print(f"embeddings:  {embeddings}")
    print(f"table:       {FIGURES / 'demo_summary.json'} and {report['results']}/metrics.csv")
    print(f"TensorBoard: tensorboard --logdir {tb_root}   (then open http://localhost:6006)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
