"""Test entry point: `python test.py -opt options/test_gopro.yml [--force_yml key=value ...]`.

Restores every image of every `datasets.test_*` set with the restorer in `path.pretrain_network_g`
(tiled and/or self-ensembled when the option file says so), writes the images under
`<results_root>/<name>/<set>/` (per task in a sub-folder for mixed sets), and reports PSNR/SSIM per set,
per task (when the samples carry `task_name`) and their average (with `val.score_input: true` also the
degraded input's scores, `input_psnr` ...), printed as a table and written as
`<results_root>/<name>/metrics.csv` and `metrics.json`. An existing results folder of the same name is
renamed with a timestamp first, never overwritten.

Device (`dpmambair.utils.device.resolve_device`): `num_gpu: 0` runs on CPU; `num_gpu: auto` (or ≥ 1) uses the
GPU when PyTorch sees one. Asking for a GPU on a CPU-only machine falls back to the CPU with one warning line
instead of failing: testing gives the same numbers on either device, only slower (training, where a silent
fallback would cost days, errors).
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import sys
import time
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from dpmambair.data import build_dataloader
from dpmambair.data.image_io import tensor_to_uint8
from dpmambair.utils.checkpoint import CheckpointError
from dpmambair.utils.device import resolve_device
from dpmambair.utils.errors import DPMambaIRError
from dpmambair.utils.logger import get_logger
from dpmambair.utils.misc import archive_if_exists
from dpmambair.utils.options import OptionError, parse_options

DEFAULT_METRICS = {
    "psnr": {"type": "calculate_psnr", "crop_border": 0, "test_y_channel": False},
    "ssim": {"type": "calculate_ssim", "crop_border": 0, "test_y_channel": False},
}
ALL, AVERAGE = "all", "average"  # CSV task column: mean over the set's images / mean over its tasks (papers' tables)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Test a dpmambair restorer on the test sets of an option file.")
    parser.add_argument("-opt", required=True, help="path to the option YAML file")
    parser.add_argument(
        "--force_yml", nargs="+", default=[], help="override options: path:pretrain_network_g=x.pth tile=512 ..."
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        default=None,
        help="restorer arithmetic (the option file's `precision`, default fp32); scan and normalisations stay fp32",
    )
    return parser.parse_args(argv)


# ---- set-up ------------------------------------------------------------------------------------------
def check_metrics(metrics_opt: Dict[str, Any], source: str) -> Dict[str, Callable[..., float]]:
    """Fail before any image is restored on an unknown metric type or argument; returns name → scorer."""
    from dpmambair.metrics import calculate_metric, get_metric
    from dpmambair.metrics.conventions import convention_of, metric_images

    scorers: Dict[str, Callable[..., float]] = OrderedDict()
    for name, mopt in metrics_opt.items():
        where = f"{source}: val.metrics.{name}"
        if not isinstance(mopt, dict) or not mopt.get("type"):
            raise OptionError(f"{where}: needs a 'type' key naming a metric (e.g. calculate_psnr)")
        try:
            fn = get_metric(str(mopt["type"]), where)
        except ValueError as err:
            raise OptionError(str(err)) from None
        params = inspect.signature(fn).parameters
        unknown = [k for k in mopt if k not in ("type", "better") and k not in params]
        if unknown:
            raise OptionError(
                f"{where}: {fn.__name__} has no argument '{unknown[0]}' (it accepts: {', '.join(params)})"
            )
        try:
            convention_of(mopt)
        except ValueError as err:
            raise OptionError(f"{where}: {err}") from None
        rgb = {"channel_order": "RGB"} if "channel_order" in params else {}

        def score(
            out: torch.Tensor,
            ref: torch.Tensor,
            _m: Dict[str, Any] = mopt,
            _rgb: Dict[str, str] = rgb,
            _where: str = where,
        ) -> float:
            a, b = metric_images(_m, out, ref)
            return calculate_metric({"img": a, "img2": b, **_rgb}, _m, _where)

        scorers[name] = score
    return scorers


def prepare_results_dir(opt: Dict[str, Any]) -> Tuple[Path, Optional[Path]]:
    """Create `<results_root>/<name>`, archiving an earlier one; unwritable → one line naming the folder."""
    root = Path((opt.get("path") or {}).get("results_root") or "results") / str(opt["name"])
    try:
        moved = archive_if_exists(root)
        root.mkdir(parents=True, exist_ok=False)
        probe = root / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise OptionError(
            f"{opt['opt_path']}: cannot write the results folder {root} ({err.strerror or err})"
        ) from None
    return root, moved


def build_test_set(dataset_opt: Dict[str, Any], source: str):
    """A `datasets.test_*` block through the dataset registry (`dpmambair.data.build_dataset`), in phase `test`."""
    from dpmambair.data import build_dataset

    try:
        return build_dataset(dict(dataset_opt, phase=dataset_opt.get("phase", "test")), source)
    except (ValueError, KeyError, FileNotFoundError) as err:
        raise OptionError(str(err).strip("'\"")) from None


def list_test_sets(opt: Dict[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
    """(key, options) of every `datasets.test*` entry, in file order.

    Train/val sets of an inherited file are skipped.
    """
    sets = [(k, v) for k, v in (opt.get("datasets") or {}).items() if str(k).startswith("test")]
    if not sets:
        raise OptionError(f"{opt['opt_path']}: no test sets: add datasets.test_1 (and test_2, ...) entries")
    for key, value in sets:
        if not isinstance(value, dict) or "type" not in value:
            raise OptionError(f"{opt['opt_path']}: datasets.{key} needs a 'type' naming a dataset")
    return sets


# ---- images ------------------------------------------------------------------------------------------
def _first(value: Any) -> Any:
    """Batch-of-one collation wraps strings in lists and ints in tensors; unwrap them."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    if isinstance(value, torch.Tensor):
        return value.reshape(-1)[0].item() if value.numel() else None
    return value


def _image_path(folder: Path, src: str, suffix: str, used: set) -> Path:
    """`<stem>[_<suffix>].png`; when two inputs of one set share a stem (GoPro: SEQ/blur/000001.png), the later
    one is prefixed with its parent folders (`SEQ_blur_000001`), then numbered if still not unique."""
    p = Path(src)
    parents = [x for x in p.parent.parts if x not in ("/", "")]
    candidates = [p.stem] + ["_".join(parents[-k:] + [p.stem]) for k in range(1, len(parents) + 1)]
    for n in range(2, 10_000):
        candidates.append(f"{p.stem}_{n}")
    for base in candidates:
        path = folder / (f"{base}_{suffix}.png" if suffix else f"{base}.png")
        if path not in used:
            used.add(path)
            return path
    raise OptionError(f"{folder}: cannot find a free file name for {src}")


# ---- one test set ------------------------------------------------------------------------------------
def evaluate_set(
    restorer,
    loader: DataLoader,
    set_name: str,
    out_dir: Optional[Path],
    suffix: str,
    scorers: Dict[str, Callable[..., float]],
    logger,
    score_input: bool = False,
) -> Dict[str, Any]:
    """Restore and score one set; returns {'count', 'metrics', 'tasks', 'average', 'images', 'seconds'}.

    With `score_input` every metric is also computed on the degraded input (as `input_<metric>`), so a
    table shows what the restorer gained over doing nothing.
    """
    per_image: List[Dict[str, Any]] = []
    used: set = set()
    seconds = 0.0
    for data in loader:
        lq = data["lq"]
        task = data.get("task")
        t0 = time.perf_counter()
        out = restorer(lq, task=task).cpu()
        seconds += time.perf_counter() - t0
        out_img = tensor_to_uint8(out[0])
        lq_path = _first(data.get("lq_path"))
        stem = Path(lq_path).stem if lq_path else f"{len(per_image):05d}"
        task_name = _first(data.get("task_name"))
        row: Dict[str, Any] = {"image": str(lq_path or stem), "task": task_name}
        if out_dir is not None:
            folder = out_dir / set_name / str(task_name) if task_name else out_dir / set_name
            folder.mkdir(parents=True, exist_ok=True)
            path = _image_path(folder, str(lq_path or stem), suffix, used)
            if not cv2.imwrite(str(path), cv2.cvtColor(out_img, cv2.COLOR_RGB2BGR)):
                raise OptionError(f"cannot write {path}")
            row["output"] = str(path)
        if "gt" in data and scorers:
            gt_img = tensor_to_uint8(data["gt"][0])
            if gt_img.shape != out_img.shape:
                raise OptionError(
                    f"{set_name}: {lq_path}: restored size {out_img.shape[:2]} differs from the ground "
                    f"truth's {gt_img.shape[:2]}"
                )
            lq_img = tensor_to_uint8(lq[0]) if score_input else None
            if lq_img is not None and lq_img.shape != gt_img.shape:
                raise OptionError(
                    f"{set_name}: {lq_path}: input size {lq_img.shape[:2]} differs from the ground truth's "
                    f"{gt_img.shape[:2]}; val.score_input needs aligned pairs"
                )
            for name, score in scorers.items():  # each scorer rounds to 8 bits or not, by its convention
                row[name] = score(out[0], data["gt"][0])
                if lq_img is not None:
                    row[f"input_{name}"] = score(lq[0], data["gt"][0])
        per_image.append(row)
        logger.info(
            f"{set_name} [{len(per_image)}/{len(loader)}] {stem}"
            + "".join(f" {k} {row[k]:.4f}" for k in scorers if k in row)
        )
    names = list(scorers) + ([f"input_{n}" for n in scorers] if score_input else [])
    return summarise(per_image, names, seconds)


def summarise(rows: List[Dict[str, Any]], metric_names: List[str], seconds: float = 0.0) -> Dict[str, Any]:
    """Means over the set's images, per task, and the mean of the per-task means (the papers' 'Average')."""

    def mean(items: List[Dict[str, Any]]) -> Dict[str, float]:
        return {m: float(np.mean([r[m] for r in items])) for m in metric_names if items and all(m in r for r in items)}

    by_task: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get("task"):
            by_task[str(r["task"])].append(r)
    tasks = OrderedDict((t, {"count": len(v), "metrics": mean(v)}) for t, v in by_task.items())
    average = (
        {
            m: float(np.mean([t["metrics"][m] for t in tasks.values()]))
            for m in metric_names
            if all(m in t["metrics"] for t in tasks.values())
        }
        if tasks
        else {}
    )
    return {
        "count": len(rows),
        "metrics": mean(rows),
        "tasks": tasks,
        "average": average,
        "images": rows,
        "seconds_per_image": seconds / max(len(rows), 1),
    }


def result_rows(results: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Flat rows (set, task, count, metrics...): per task, the average over tasks, then all images."""
    rows = []
    for set_name, res in results.items():
        for task, t in res["tasks"].items():
            rows.append({"set": set_name, "task": task, "count": t["count"], **t["metrics"]})
        if len(res["tasks"]) > 1:
            rows.append({"set": set_name, "task": AVERAGE, "count": len(res["tasks"]), **res["average"]})
        rows.append({"set": set_name, "task": ALL, "count": res["count"], **res["metrics"]})
    return rows


def format_table(rows: List[Dict[str, Any]], metric_names: List[str]) -> str:
    cols = ["set", "task", "count"] + metric_names
    widths = {c: max([len(c)] + [len(_fmt(r.get(c))) for r in rows]) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) if i < 2 else c.rjust(widths[c]) for i, c in enumerate(cols))]
    lines.append("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        lines.append(
            "  ".join(
                _fmt(r.get(c)).ljust(widths[c]) if i < 2 else _fmt(r.get(c)).rjust(widths[c])
                for i, c in enumerate(cols)
            )
        )
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def write_reports(root: Path, rows: List[Dict[str, Any]], metric_names: List[str], summary: Dict[str, Any]) -> None:
    with open(root / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["set", "task", "count"] + metric_names, restval="")
        writer.writeheader()
        writer.writerows(rows)
    (root / "metrics.json").write_text(json.dumps(summary, indent=2))


# ---- main --------------------------------------------------------------------------------------------
def run_test(opt: Dict[str, Any]) -> Dict[str, Any]:
    """The whole pipeline for one parsed option dict; returns the summary written to metrics.json."""
    from dpmambair.inference.restorer import Restorer

    source = opt["opt_path"]
    path_opt = opt.get("path") or {}
    ckpt = path_opt.get("pretrain_network_g")
    if not ckpt:
        raise OptionError(
            f"{source}: path.pretrain_network_g is not set; give the restorer checkpoint to test "
            "(e.g. --force_yml path:pretrain_network_g=experiments/<name>/models/net_g_latest.pth)"
        )
    if not Path(ckpt).is_file():
        raise CheckpointError(f"{ckpt}: checkpoint not found (path.pretrain_network_g in {source})")
    val_opt = opt.get("val") or {}
    metrics_opt = val_opt.get("metrics", DEFAULT_METRICS) or {}
    scorers = check_metrics(metrics_opt, source)
    sets = list_test_sets(opt)
    device, warning = resolve_device(opt.get("num_gpu", "auto"), f"{source}: num_gpu", fallback=True)
    datasets = [(key, dopt, build_test_set(dopt, f"{source}: datasets.{key}")) for key, dopt in sets]

    logger = get_logger()
    restorer = Restorer.from_checkpoint(ckpt, opt=opt, device=device, logger=logger)
    root, moved = prepare_results_dir(opt)  # only once everything loaded: a failed start leaves old results alone
    log_file = root / f"test_{opt['name']}.log"
    logger = get_logger(log_file)
    try:
        return _run_sets(opt, restorer, datasets, scorers, metrics_opt, root, moved, warning, logger)
    finally:  # the package logger outlives this run: do not leave it writing into this results folder
        for h in [h for h in logger.handlers if getattr(h, "baseFilename", None) == str(log_file.resolve())]:
            logger.removeHandler(h)
            h.close()


def _run_sets(
    opt: Dict[str, Any],
    restorer,
    datasets: List[tuple],
    scorers: Dict[str, Callable[..., float]],
    metrics_opt: Dict[str, Any],
    root: Path,
    moved: Optional[Path],
    warning: Optional[str],
    logger,
) -> Dict[str, Any]:
    from dpmambair.metrics.conventions import describe

    source, ckpt = opt["opt_path"], opt["path"]["pretrain_network_g"]
    val_opt = opt.get("val") or {}
    if moved:
        logger.info(f"existing results folder renamed to {moved}")
    if warning:
        logger.warning(warning)
    logger.info(
        f"restorer {ckpt} on {restorer.device} in {restorer.precision}; tile {restorer.tile or 'off'}"
        f"{f' (overlap {restorer.tile_overlap})' if restorer.tile else ''}, self-ensemble "
        f"{'on' if restorer.self_ensemble else 'off'}"
    )
    save_img = bool(val_opt.get("save_img", True))
    score_input = bool(val_opt.get("score_input", False))
    suffix = str(val_opt.get("suffix") or "")
    results: Dict[str, Dict[str, Any]] = OrderedDict()
    for key, dopt, dataset in datasets:
        set_name = str(dopt.get("name", key))
        if set_name in results:
            raise OptionError(f"{source}: two test sets are named '{set_name}'; give them different 'name' keys")
        loader = build_dataloader(dataset, dict(dopt, phase="test"))
        logger.info(f"testing {set_name}: {len(dataset)} images")
        results[set_name] = evaluate_set(
            restorer, loader, set_name, root if save_img else None, suffix, scorers, logger, score_input
        )

    names = list(scorers) + ([f"input_{n}" for n in scorers] if score_input else [])
    rows = result_rows(results)
    summary = {
        "name": opt["name"],
        "opt_path": source,
        "checkpoint": str(ckpt),
        "device": str(restorer.device),
        "tile": restorer.tile,
        "tile_overlap": restorer.tile_overlap,
        "self_ensemble": restorer.self_ensemble,
        "precision": restorer.precision,
        "metrics": {k: dict(v) for k, v in metrics_opt.items()},
        "conventions": describe(metrics_opt),
        "rows": rows,
        "sets": results,
    }
    write_reports(root, rows, names, summary)
    logger.info(
        f"results of {opt['name']}:\n{format_table(rows, names)}\nwritten to {root}/metrics.csv and metrics.json"
    )
    return summary


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        overrides = list(args.force_yml) + ([f"precision={args.precision}"] if args.precision else [])
        opt = parse_options(args.opt, is_train=False, overrides=overrides)
        run_test(opt)
    except DPMambaIRError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
