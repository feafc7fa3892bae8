"""Training entry point: `python train.py -opt options/allinone.yml [--auto_resume] [--debug] [--force_yml k=v ...]`.

Multi-GPU: `torchrun --nproc_per_node=N train.py -opt ... --launcher pytorch` (NCCL on GPUs, Gloo on CPU).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import yaml

from dpmambair.utils.checkpoint import CheckpointError, load_file
from dpmambair.utils.cuda_math import apply_cuda_math
from dpmambair.utils.dist import get_dist_info, init_dist
from dpmambair.utils.errors import DPMambaIRError
from dpmambair.utils.logger import (
    LOGGER_NAME,
    ProgressLine,
    get_logger,
    held_records,
    init_tb_logger,
    replay_into_files,
)
from dpmambair.utils.misc import archive_if_exists
from dpmambair.utils.options import OptionError, parse_options
from dpmambair.utils.preemption import PreemptionHandler
from dpmambair.utils.rng import set_random_seed
from dpmambair.utils.sampler import ResumableSampler, SeededDataset


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a dpmambair model from an option file.")
    parser.add_argument("-opt", required=True, help="path to the option YAML file")
    parser.add_argument("--launcher", choices=["none", "pytorch"], default="none", help="'pytorch' under torchrun")
    parser.add_argument(
        "--auto_resume", action="store_true", help="resume from the latest training state of this experiment"
    )
    parser.add_argument(
        "--debug", action="store_true", help="debug_ prefix, validate/save every 8 iterations, print every one"
    )
    parser.add_argument("--force_yml", nargs="+", default=[], help="override options: train:total_iter=1000 ...")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ---- experiment folders ----------------------------------------------------------------------------
def experiment_paths(opt: Dict[str, Any]) -> None:
    """Fill opt['path'] with experiments/<name>/{models,training_states,visualization} and tb_logger/<name>."""
    path = opt["path"]
    root = Path(path.get("experiments_root") or Path(path.get("root", ".")) / "experiments" / opt["name"])
    path["experiments_root"] = str(root)
    path["models"] = str(root / "models")
    path["training_states"] = str(root / "training_states")
    path["visualization"] = str(root / "visualization")
    path["log"] = str(root)
    path.setdefault("tb_logger", str(Path(path.get("root", ".")) / "tb_logger" / opt["name"]))


def make_experiment_dirs(opt: Dict[str, Any], resuming: bool) -> None:
    path = opt["path"]
    if get_dist_info()[0] == 0:
        if not resuming:
            for key in ("experiments_root", "tb_logger"):
                moved = archive_if_exists(Path(path[key]))
                if moved:
                    print(f"existing {path[key]} renamed to {moved}")
        try:
            for key in ("models", "training_states", "visualization"):
                Path(path[key]).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OptionError(
                f"{opt['opt_path']}: cannot create the experiment folder {path['experiments_root']} ({err.strerror})"
            ) from None
    if get_dist_info()[1] > 1:
        torch.distributed.barrier()


def check_metric_types(opt: Dict[str, Any]) -> None:
    """A misspelt `val.metrics.<name>.type` must stop the run at start-up, not at its first validation."""
    from dpmambair.metrics import get_metric

    for name, mopt in ((opt.get("val") or {}).get("metrics") or {}).items():
        if mopt is not None:
            get_metric(str((mopt or {}).get("type")), f"{opt['opt_path']}: val.metrics.{name}")


def latest_training_state(opt: Dict[str, Any]) -> Optional[Path]:
    folder = Path(opt["path"]["training_states"])
    states = [p for p in folder.glob("*.state") if p.stem.isdigit()] if folder.is_dir() else []
    return max(states, key=lambda p: int(p.stem)) if states else None


# ---- data ------------------------------------------------------------------------------------------
def val_shard(dataset) -> Optional[range]:
    """Under DDP each rank validates the images rank, rank + world, ...: every image exactly once (a
    DistributedSampler would pad an uneven set with repeats); None on one process."""
    rank, world = get_dist_info()
    return range(rank, len(dataset), world) if world > 1 else None


# ---- main ------------------------------------------------------------------------------------------
def train(
    opt: Dict[str, Any], args: argparse.Namespace, preemption: Optional[PreemptionHandler] = None
) -> Dict[str, Any]:
    """Train; with `preemption` (an active handler) a SIGTERM/SIGUSR1 ends the run after the current step
    with a resumable checkpoint."""
    import dpmambair.data as data_pkg
    import dpmambair.models as models_pkg

    rank, world = init_dist(args.launcher, (opt.get("dist_params") or {}).get("backend"))
    opt["rank"], opt["world_size"] = rank, world
    if args.debug:
        opt["name"] = opt["name"] if opt["name"].startswith("debug_") else f"debug_{opt['name']}"
        opt.setdefault("val", {})["val_freq"] = 8
        opt.setdefault("logger", {}).update(print_freq=1, save_checkpoint_freq=8)
    experiment_paths(opt)
    state_path = None
    if args.auto_resume:
        state_path = latest_training_state(opt)
    elif opt["path"].get("resume_state"):
        state_path = Path(opt["path"]["resume_state"])
    if opt.get("deterministic", False):
        torch.use_deterministic_algorithms(True)
    cuda_math = apply_cuda_math(opt)
    seed = int(opt.get("manual_seed", 0))
    set_random_seed(seed)

    # Lines logged before the experiment folder exists (the scan backend, the loaded extractor) show on the
    # console now and are replayed into the log file once it is made, so the file tells the whole run.
    with held_records(logging.getLogger(LOGGER_NAME)) as startup_records:
        train_opt = opt.get("train", {}) or {}
        log_opt = opt.get("logger", {}) or {}
        total_iter = int(train_opt.get("total_iter", 1))
        dsets = opt.get("datasets", {}) or {}
        if "train" not in dsets:
            raise OptionError(f"{opt['opt_path']}: datasets.train is missing")
        train_set = data_pkg.build_dataset(dsets["train"], f"{opt['opt_path']}: datasets.train")
        val_sets = [
            (k, v, data_pkg.build_dataset(v, f"{opt['opt_path']}: datasets.{k}"))
            for k, v in dsets.items()
            if k.startswith("val")
        ]
        val_loaders = {
            k: data_pkg.build_dataloader(vset, dict(v, phase="val"), sampler=val_shard(vset)) for k, v, vset in val_sets
        }
        check_metric_types(opt)
        bs = int(dsets["train"].get("batch_size_per_gpu", 1))
        sampler = ResumableSampler(
            len(train_set),
            bs,
            seed,
            rank,
            world,
            shuffle=dsets["train"].get("use_shuffle", True),
            enlarge_ratio=dsets["train"].get("dataset_enlarge_ratio", 1),
        )
        # one loader for the whole run: each epoch re-iterates it after sampler.set_epoch (the sampler runs in this
        # process, so persistent workers see the new order); SeededDataset makes each sample a function of its seed
        loader = data_pkg.build_dataloader(
            SeededDataset(train_set),
            dict(dsets["train"], phase="train"),
            dist=True,
            sampler=sampler,
            seed=seed,
            rank=rank,
        )

        model_type = opt["model_type"]
        cls = models_pkg.MODEL_REGISTRY.find(model_type)
        if cls is None:
            raise OptionError(
                f"{opt['opt_path']}: unknown model_type '{model_type}'; "
                f"registered: {', '.join(models_pkg.MODEL_REGISTRY.keys())}"
            )
        model = cls(opt)  # networks, extractor, losses, optimizer: every option mistake stops the run here

    # Only now, with the options, data and networks checked, is any folder created or an earlier one renamed.
    make_experiment_dirs(opt, resuming=state_path is not None)
    root = Path(opt["path"]["experiments_root"])
    logger = get_logger(root / f"train_{opt['name']}.log")
    replay_into_files(logger, startup_records)
    if rank == 0:
        shutil.copy(opt["opt_path"], root / Path(opt["opt_path"]).name) if not state_path else None
        # after the model filled in its defaults (the paper's losses), so the file says what is trained
        (root / "options_resolved.yml").write_text(yaml.safe_dump(opt, sort_keys=False))
    logger.info(
        f"train set {dsets['train'].get('name', 'train')}: {len(train_set)} samples, {sampler.batches_per_epoch} "
        f"iterations per epoch (batch {bs} x {world} ranks); total {total_iter} iterations"
    )
    logger.info(f"device {model.device}; mixed precision {train_opt.get('use_amp') or 'off'}; {cuda_math}")

    start_iter, epoch, start_batch = 0, 0, 0
    if state_path is not None:
        state = load_file(state_path)
        try:
            model.resume_training(state)
        except (ValueError, RuntimeError, KeyError) as err:  # torch's own messages, e.g. other parameter groups
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(
                f"{state_path}: this training state does not fit the model of {opt['opt_path']} "
                f"({reason}); resume with the options it was written with, or start a new run "
                "from its weights (path.pretrain_network_g)"
            ) from None
        start_iter, epoch, start_batch = state["iter"], state["epoch"], state["batch_in_epoch"]
        if start_batch >= sampler.batches_per_epoch:
            epoch, start_batch = epoch + 1, 0
        logger.info(f"resumed from {state_path} at iteration {start_iter} (epoch {epoch}, batch {start_batch})")
    tb_logger = init_tb_logger(opt["path"]["tb_logger"]) if log_opt.get("use_tb_logger", True) else None
    record = open(root / "train_log.jsonl", "a") if rank == 0 else None

    print_freq = int(log_opt.get("print_freq", 100))
    save_freq = int(log_opt.get("save_checkpoint_freq", 5000))
    val_opt = opt.get("val", {}) or {}
    val_freq = int(val_opt.get("val_freq", 0) or 0)
    progress = ProgressLine(total_iter, start_iter)
    current_iter = start_iter
    data_time = step_time = 0.0
    schedule = data_pkg.ProgressiveSchedule.from_options(dsets["train"], f"{opt['opt_path']}: datasets.train")
    show_bar = rank == 0 and log_opt.get("progress_bar", False)
    bar = None
    if show_bar:
        from tqdm import tqdm

        bar = tqdm(total=total_iter, initial=start_iter, desc=opt["name"], unit="it", dynamic_ncols=True)
    results: Dict[str, Any] = {}
    saved_at = -1
    stopped_by: Optional[str] = None
    while current_iter < total_iter and stopped_by is None:
        sampler.set_epoch(epoch, start_batch)
        batch_idx = start_batch
        tick = time.time()
        for data in loader:
            data_time = time.time() - tick
            current_iter += 1
            batch_idx += 1
            if schedule is not None:  # Restormer's progressive patches; `random` is part of the training state
                data = data_pkg.crop_batch(data, *schedule.at(current_iter), rng=random)
            model.feed_data(data)
            lr = model.current_lr()  # the rate this iteration uses
            t0 = time.time()
            losses = model.optimize_parameters(current_iter)
            model.update_learning_rate()
            step_time = time.time() - t0
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses.get('total', 0):.4f}")
            if rank == 0 and (current_iter % print_freq == 0 or current_iter == total_iter):
                if not show_bar:
                    logger.info(progress.format(current_iter, epoch, lr, losses, data_time, step_time))
                record.write(
                    json.dumps(
                        {
                            "iter": current_iter,
                            "epoch": epoch,
                            "lr": lr,
                            "losses": losses,
                            "data_time": data_time,
                            "step_time": step_time,
                        }
                    )
                    + "\n"
                )
                record.flush()
                if tb_logger is not None:
                    for k, v in losses.items():
                        tb_logger.add_scalar(f"losses/{k}", v, current_iter)
                    tb_logger.add_scalar("lr", lr, current_iter)
                    tb_logger.add_scalar("time/data", data_time, current_iter)
                    tb_logger.add_scalar("time/step", step_time, current_iter)
            if current_iter % save_freq == 0 or current_iter == total_iter:
                if rank == 0:
                    model.save(current_iter)
                    model.save_training_state(current_iter, epoch, batch_idx)
                    logger.info(f"saved models and training state at iteration {current_iter}")
                saved_at = current_iter
            if val_sets and val_freq and (current_iter % val_freq == 0 or current_iter == total_iter):
                for key, vopt, _ in val_sets:
                    name = vopt.get("name", key)
                    results[name] = model.validation(
                        val_loaders[key], name, current_iter, tb_logger, bool(val_opt.get("save_img", False))
                    )
            if current_iter >= total_iter:
                break
            if preemption is not None and preemption.should_stop(model.device):
                stopped_by = preemption.received or "a stop signal to another rank"
                if rank == 0 and saved_at != current_iter:
                    model.save(current_iter)
                    model.save_training_state(current_iter, epoch, batch_idx)
                if world > 1:  # the other ranks wait until rank 0's checkpoint is complete
                    torch.distributed.barrier()
                break
            tick = time.time()
        epoch, start_batch = epoch + 1, 0
    if bar is not None:
        bar.close()
    if world > 1:
        _log_weight_agreement(model, logger)
    if record is not None:
        record.close()
    if tb_logger is not None:
        tb_logger.close()
    if stopped_by is not None:
        logger.info(
            f"stopped by {stopped_by} at iteration {current_iter}: saved a resumable training state in "
            f"{opt['path']['training_states']}; continue with --auto_resume"
        )
    else:
        logger.info(f"training done: {current_iter} iterations; models in {opt['path']['models']}")
    if world > 1:
        # every rank reaches the end before any tears its process group down: a gloo rank that exits while a
        # peer is still closing its logs can abort ("terminate called without an active exception")
        torch.distributed.barrier()
    return results


def _log_weight_agreement(model, logger) -> None:
    """After DDP training every rank must hold the same weights; log each rank's checksum to prove it."""
    import torch.distributed as dist

    from dpmambair.utils.checkpoint import unwrap

    total = torch.zeros(1, dtype=torch.float64)
    for net in model.trainable.values():
        for p in unwrap(net).parameters():
            total += p.detach().double().cpu().abs().sum() + p.detach().double().cpu().sum() * 1e-3
    sums: List[Any] = [None] * get_dist_info()[1]
    dist.all_gather_object(sums, float(total.item()))
    same = all(s == sums[0] for s in sums)
    logger.info(f"final weight checksums per rank: {sums}; identical across ranks: {same}")


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        opt = parse_options(args.opt, is_train=True, overrides=args.force_yml)
        with PreemptionHandler() as preemption:
            train(opt, args, preemption)
    except DPMambaIRError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
