"""The paper's ablation tables (3, 4, 5) at any scale: train every row with one budget and seed, test, tabulate.

A row is an ablation option file (`options/ablation/table*_*.yml`); only its `network_g`, `network_de` and
`path` keys are read (not what it inherits), and applied over a base stage-2 option file (e.g. the CPU demo's
`options/demo/stage2.yml`), so the rows differ from each other exactly as in the paper-scale files while
sizes, data and schedule come from the base. Every row is trained through the normal entry point
(`dpmambair.train.main`) with the base's seed and the same number of iterations, then tested with
`dpmambair.test.run_test` on the test sets of a test option file; PSNR/SSIM are the mean over the test
set's degradation types (the papers' "Average"); parameters and MACs are the restorer's at one
1×3×S×S input, scan excluded (`dpmambair.utils.complexity`, as scripts/model_stats.py reports).

A row may name its own stage-1 file (Table 4's "OneRestore*": `options/ablation/stage1/table4_onerestore.yml`):
its `train` keys are applied over the stage-1 options (`--stage1-opt`), that stage 1 is trained (or reused) as
`<prefix>_stage1_<file>` with its own budget, and the row's stage 2 freezes the extractor it writes. The full
model, a row of every table, is trained before the other rows.

Experiments are named after their configuration (rows with identical settings — the full model appears
in every table — share one) and the budget. A finished experiment with the same name, options, budget and
extractor weights is reused; an interrupted one with the same options is resumed; anything else is
trained again, and the trainer renames the old folder with a timestamp (never overwritten).

Entry-point level (like train.py and test.py): used by scripts/run_ablation.py.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import yaml

from dpmambair.utils.checkpoint import CheckpointError, load_file
from dpmambair.utils.errors import DPMambaIRError
from dpmambair.utils.options import OptionError, load_with_inheritance, load_yaml, merge_dicts, parse_options

ROW_KEYS = ("network_g", "network_de", "path")  # what an ablation file contributes; all else comes from the base
STAGE1_KEYS = ("train",)  # what a row's own stage-1 file contributes over --stage1-opt (e.g. train.pretext)
RUNTIME_KEYS = ("opt_path", "is_train")  # added by parse_options; not part of an option file
PROMPT_COLUMNS = (("P_Δ", "prompt_delta"), ("P_B", "prompt_B"), ("P_C", "prompt_C"), ("HEB", "heb"))

Log = Callable[[str], None]


class AblationError(DPMambaIRError, RuntimeError):
    """A row that cannot be trained or tested; one line naming the row and the cause."""


@dataclass(frozen=True)
class Row:
    """One line of a table: its label, the ablation file (stem) it reads, and its group in the paper's layout.

    `stage1` names a row's own stage-1 file (stem under the ablation folder) when the row needs an extractor
    trained differently from the shared one (Table 4's "OneRestore*": `train.pretext: classification`).
    """

    label: str
    file: str
    group: str = ""
    stage1: str = ""


@dataclass(frozen=True)
class Table:
    number: int
    title: str
    rows: Tuple[Row, ...]
    flags: bool = False  # Table 3: ✓/✗ columns for the prompts and HEB, read from each row's network_g


TABLES: Dict[int, Table] = {
    3: Table(
        3,
        "Ablation of the core modules (paper Table 3)",
        (
            Row("Baseline", "table3_baseline"),
            Row("(a)", "table3_a_prompt_delta_B"),
            Row("(b)", "table3_b_prompt_delta_B_C"),
            Row("DPMambaIR", "table3_full"),
        ),
        flags=True,
    ),
    4: Table(
        4,
        "Degradation extraction and insertion (paper Table 4)",
        (
            Row("Classes", "table4_classes", "Degradation extraction"),
            Row(
                "OneRestore* (classification extractor)",
                "table4_onerestore",
                "Degradation extraction",
                stage1="stage1/table4_onerestore",
            ),
            Row("Reconstruction extractor (ours)", "table4_modulate", "Degradation extraction"),
            Row("Concat", "table4_concat", "Degradation insertion"),
            Row("Attention", "table4_attention", "Degradation insertion"),
            Row("Modulation (ours)", "table4_modulate", "Degradation insertion"),
        ),
    ),
    5: Table(
        5,
        "Global information supplementation (paper Table 5)",
        (
            Row("Bi-direction scan", "table5_bidirectional"),
            Row("Prompt matrix C", "table5_prompt_C"),
        ),
    ),
}


# ---- options -------------------------------------------------------------------------------------------
def read_row_overrides(path: Path) -> Dict[str, Any]:
    """The `network_g`, `network_de` and `path` keys written in an ablation file itself (not inherited)."""
    raw = load_yaml(path)
    for key in ROW_KEYS:
        if key in raw and not isinstance(raw[key], dict) and not (key == "network_de" and raw[key] is None):
            raise OptionError(
                f"{path}: '{key}' must be a mapping{' or ~ (no extractor)' if key == 'network_de' else ''}"
            )
    return {k: copy.deepcopy(raw[k]) for k in ROW_KEYS if k in raw}


def read_stage1_overrides(path: Path) -> Dict[str, Any]:
    """The `train` keys written in a row's own stage-1 file itself (not inherited), e.g. {'train': {'pretext': ...}}."""
    raw = load_yaml(path)
    for key in STAGE1_KEYS:
        if key in raw and not isinstance(raw[key], dict):
            raise OptionError(f"{path}: '{key}' must be a mapping")
    return {k: copy.deepcopy(raw[k]) for k in STAGE1_KEYS if k in raw}


def load_base(path: Path) -> Dict[str, Any]:
    """The base stage-2 options with `inherit` resolved, validated like any option file."""
    parse_options(path, is_train=True)  # the same checks and one-line errors as train.py
    return load_with_inheritance(path)


def uses_extractor(opt: Dict[str, Any]) -> bool:
    """Whether the restorer of these options reads the frozen extractor's embedding (stage 1 needed).

    The network answers for itself (`dpmambair.archs.needs_extractor`); it is built on the meta device, so this
    costs no memory and no random numbers.
    """
    import torch

    from dpmambair.archs import build_network, needs_extractor

    if not opt.get("network_g"):
        return False
    with torch.device("meta"):
        return needs_extractor(build_network(opt["network_g"], f"{opt.get('opt_path', 'options')}: network_g"))


def row_options(base: Dict[str, Any], overrides: Dict[str, Any], name: str, iters: int) -> Dict[str, Any]:
    """Base options with the row's overrides, its experiment name, and the table's budget (cosine to the end)."""
    opt = merge_dicts(base, overrides)
    for key in RUNTIME_KEYS:
        opt.pop(key, None)
    opt["name"] = name
    train = opt.setdefault("train", {}) or {}
    opt["train"] = train
    train["total_iter"] = int(iters)
    sched = train.get("scheduler")
    if isinstance(sched, dict) and str(sched.get("type", "CosineAnnealingLR")).lower() == "cosineannealinglr":
        sched["T_max"] = int(iters)
    return opt


def network_fingerprint(opt: Dict[str, Any]) -> Dict[str, Any]:
    """What makes two rows the same experiment: the restorer, the extractor it reads, and where that comes from."""
    ext = uses_extractor(opt)
    return {
        "network_g": opt.get("network_g"),
        "network_de": opt.get("network_de") if ext else None,
        "pretrain_network_de": (opt.get("path") or {}).get("pretrain_network_de") if ext else None,
    }


def config_key(row: Row, opt: Dict[str, Any], base: Dict[str, Any]) -> str:
    """'full' when the row is the base configuration itself (shared by every table), else the ablation file's stem."""
    return "full" if network_fingerprint(opt) == network_fingerprint(base) else row.file


def experiment_name(prefix: str, key: str, iters: int) -> str:
    """<prefix>_<configuration>_it<budget>: one experiment per configuration and budget, shared across tables."""
    return f"{prefix}_{key}_it{iters}"


def experiment_root(opt: Dict[str, Any]) -> Path:
    """experiments/<name> as the trainer will lay it out (honouring path.root / path.experiments_root)."""
    from dpmambair.train import experiment_paths

    probe = copy.deepcopy(opt)
    probe["path"] = dict(probe.get("path") or {})
    experiment_paths(probe)
    return Path(probe["path"]["experiments_root"])


# ---- reuse ---------------------------------------------------------------------------------------------
COMPARED = ("manual_seed", "datasets", "train", "network_g", "network_de")


def _same_extractor(ckpt: Dict[str, Any], opt: Dict[str, Any]) -> bool:
    if not uses_extractor(opt):
        return True
    import torch

    path = Path((opt.get("path") or {}).get("pretrain_network_de") or "")
    current = load_file(path).get("params") if path.is_file() else None
    stored = ckpt.get("params_de")
    if not isinstance(current, dict) or not isinstance(stored, dict) or current.keys() != stored.keys():
        return False
    return all(torch.equal(current[k], stored[k]) for k in current)


def experiment_status(opt: Dict[str, Any], model: str = "net_g") -> Tuple[str, str]:
    """('finished' | 'resume' | 'train', why): reuse, continue or (re)train the experiment of these options.

    `model` is the network whose models/<model>_latest.pth marks a finished run (net_de for a stage-1 run).
    """
    root = experiment_root(opt)
    if not root.exists():
        return "train", "no experiment yet"
    resolved = root / "options_resolved.yml"
    try:
        stored = yaml.safe_load(resolved.read_text()) if resolved.is_file() else None
    except yaml.YAMLError:
        stored = None
    if not isinstance(stored, dict):
        return "train", f"{resolved} is missing or unreadable"
    for key in COMPARED:
        if stored.get(key) != opt.get(key):
            return "train", f"{root} was trained with different '{key}' options"
    if (stored.get("path") or {}).get("pretrain_network_de") != (opt.get("path") or {}).get("pretrain_network_de"):
        return "train", f"{root} was trained with a different path.pretrain_network_de"
    ckpt_path = root / "models" / f"{model}_latest.pth"
    total = int(opt["train"]["total_iter"])
    if ckpt_path.is_file():
        try:
            ckpt = load_file(ckpt_path)
        except CheckpointError as err:
            return "train", str(err)
        if not _same_extractor(ckpt, opt):
            return "train", f"{ckpt_path} holds other extractor weights than {opt['path'].get('pretrain_network_de')}"
        if int(ckpt.get("iter", -1)) >= total:
            return "finished", f"{ckpt_path} is finished ({total} iterations, same options)"
    states = [p for p in (root / "training_states").glob("*.state") if p.stem.isdigit()]
    if states:
        return "resume", f"{root} stopped at iteration {max(int(p.stem) for p in states)} of {total}"
    return "train", f"{root} has no finished checkpoint and no training state"


# ---- stages --------------------------------------------------------------------------------------------
def run_training(opt_file: Path, what: str, resume: bool = False) -> None:
    """dpmambair.train.main in this process; its exit on a bad option becomes an AblationError naming the row."""
    from dpmambair.train import main as train_main

    argv = ["-opt", str(opt_file)] + (["--auto_resume"] if resume else [])
    try:
        train_main(argv)
    except SystemExit as err:
        if err.code not in (0, None):
            raise AblationError(f"{what}: training failed (exit code {err.code}; the error is printed above)") from None


def ensure_extractor(base: Dict[str, Any], base_path: Path, stage1_path: Optional[Path], log: Log) -> Path:
    """The stage-1 extractor all rows share: reused when the file exists, else trained with the stage-1 options."""
    de_file = (base.get("path") or {}).get("pretrain_network_de")
    if not de_file:
        raise OptionError(
            f"{base_path}: path.pretrain_network_de is not set; the extractor rows need the stage-1 extractor"
        )
    de_path = Path(de_file)
    if de_path.is_file():
        log(f"stage 1: reusing the extractor {de_path}")
        return de_path
    if stage1_path is None:
        raise CheckpointError(
            f"{de_path}: extractor not found (path.pretrain_network_de in {base_path}) and no stage-1 "
            "option file given; run stage 1 first (python train.py -opt options/demo/stage1.yml)"
        )
    opt1 = load_with_inheritance(stage1_path)
    produced = experiment_root(opt1) / "models" / "net_de_latest.pth"
    if produced.resolve() != de_path.resolve():
        raise OptionError(
            f"{stage1_path} writes its extractor to {produced}, but {base_path} reads "
            f"path.pretrain_network_de {de_path}; make them agree"
        )
    log(f"stage 1: {de_path} not found; training it with {stage1_path}")
    run_training(stage1_path, f"stage 1 ({stage1_path})")
    if not de_path.is_file():
        raise AblationError(f"stage 1 ({stage1_path}) finished but {de_path} was not written")
    return de_path


def row_stage1_options(stage1: Dict[str, Any], file: Path, name: str) -> Dict[str, Any]:
    """--stage1-opt's options with a row's own stage-1 overrides (its `train` keys) and an experiment name."""
    opt = merge_dicts(stage1, read_stage1_overrides(file))
    for key in RUNTIME_KEYS:
        opt.pop(key, None)
    opt["name"] = name
    return opt


def ensure_row_extractor(opt: Dict[str, Any], opt_dir: Path, what: str, log: Log) -> Path:
    """A row's own stage-1 extractor: reused when finished with the same options, else trained (or resumed)."""
    status, why = experiment_status(opt, model="net_de")
    de_path = experiment_root(opt) / "models" / "net_de_latest.pth"
    if status == "finished":
        log(f"{what}: reusing its stage-1 extractor {de_path} ({why})")
        return de_path
    opt_dir.mkdir(parents=True, exist_ok=True)
    opt_file = opt_dir / f"{opt['name']}.yml"
    opt_file.write_text(f"# generated by run_ablation: stage 1 of {what}\n" + yaml.safe_dump(opt, sort_keys=False))
    log(f"{what}: {'resuming' if status == 'resume' else 'training'} its stage-1 extractor {opt['name']} ({why})")
    run_training(opt_file, f"{what}: stage 1", resume=status == "resume")
    if not de_path.is_file():
        raise AblationError(f"{what}: stage 1 finished but {de_path} was not written")
    return de_path


def model_cost(network_g: Dict[str, Any], size: int) -> Dict[str, float]:
    """Parameters (M) and GMACs of the restorer at 1×3×size×size, selective scan excluded."""
    from dpmambair.archs import build_network
    from dpmambair.utils.complexity import restorer_stats

    stats = restorer_stats(build_network(dict(network_g), "network_g"), None, size=size, latency=False)
    return {
        "params_m": stats["params_g"] / 1e6,
        "gmacs": stats["macs_g"] / 1e9,
        "scan_gmacs": stats["scan_macs_g"] / 1e9,
    }


def evaluate(test_path: Path, opt: Dict[str, Any], ckpt: Path, results_root: Path, save_img: bool) -> Dict[str, Any]:
    """run_test on the test option file's sets with this row's restorer; the first set's averages."""
    from dpmambair.test import run_test

    topt = parse_options(test_path, is_train=False)
    topt["name"] = opt["name"]
    topt["network_g"] = copy.deepcopy(opt.get("network_g"))
    topt["network_de"] = copy.deepcopy(opt.get("network_de"))
    path = topt.setdefault("path", {}) or {}
    topt["path"] = path
    path.update(
        pretrain_network_g=str(ckpt),
        pretrain_network_de=(opt.get("path") or {}).get("pretrain_network_de"),
        results_root=str(results_root),
    )
    val = topt.setdefault("val", {}) or {}
    topt["val"] = val
    val["save_img"] = bool(save_img)
    val["score_input"] = True
    summary = run_test(topt)
    set_name, res = next(iter(summary["sets"].items()))
    avg = res["average"] or res["metrics"]
    if "psnr" not in avg or "ssim" not in avg:
        raise AblationError(f"{test_path}: the test metrics must include psnr and ssim (val.metrics)")
    return {
        "set": set_name,
        "count": res["count"],
        "psnr": avg["psnr"],
        "ssim": avg["ssim"],
        "input_psnr": avg.get("input_psnr"),
        "input_ssim": avg.get("input_ssim"),
        "tasks": {t: v["metrics"] for t, v in res["tasks"].items()},
        "results": str(results_root / opt["name"]),
    }


# ---- the table -----------------------------------------------------------------------------------------
Plan = Tuple[Row, Path, Dict[str, Any], Dict[str, Any]]


def plan_stage1(
    table: Table, stage1_path: Optional[Path], ablation_dir: Path, prefix: str
) -> Dict[str, Dict[str, Any]]:
    """{row.stage1: stage-1 options} for the rows of `table` that need their own extractor."""
    needed = sorted({row.stage1 for row in table.rows if row.stage1})
    if needed and stage1_path is None:
        raise OptionError(
            f"Table {table.number}: the rows with their own stage 1 ({', '.join(needed)}) need --stage1-opt"
        )
    base1 = load_with_inheritance(stage1_path) if needed else {}
    return {
        stem: row_stage1_options(base1, ablation_dir / f"{stem}.yml", f"{prefix}_{stem.replace('/', '_')}")
        for stem in needed
    }


def plan_rows(
    table: Table,
    base: Dict[str, Any],
    ablation_dir: Path,
    iters: int,
    prefix: str,
    extractors: Optional[Dict[str, Path]] = None,
) -> List[Plan]:
    """(row, ablation file, its overrides, the row's full training options) for every row, in table order.

    A row with its own stage 1 reads the extractor that stage writes (`extractors[row.stage1]`) instead of
    the path in its ablation file (the paper-scale one).
    """
    plans: List[Plan] = []
    for row in table.rows:
        file = ablation_dir / f"{row.file}.yml"
        overrides = read_row_overrides(file)
        if row.stage1:
            if not extractors or row.stage1 not in extractors:
                raise OptionError(f"{file}: row '{row.label}' needs the extractor of its stage 1 ({row.stage1})")
            overrides["path"] = {**(overrides.get("path") or {}), "pretrain_network_de": str(extractors[row.stage1])}
        probe = row_options(base, overrides, "probe", iters)
        name = experiment_name(prefix, config_key(row, probe, base), iters)
        plans.append((row, file, overrides, row_options(base, overrides, name, iters)))
    return plans


def run_table(
    number: int,
    base_path: Path,
    test_path: Path,
    ablation_dir: Path,
    output: Path,
    iters: Optional[int] = None,
    stage1_path: Optional[Path] = None,
    stats_size: int = 256,
    prefix: Optional[str] = None,
    save_img: bool = False,
    log: Log = print,
) -> Dict[str, Any]:
    """Train (or reuse), test and measure every row of Table `number`; write table<N>.md/.json under `output`."""
    if number not in TABLES:
        raise OptionError(f"--table must be one of {', '.join(map(str, TABLES))}, got {number}")
    if stats_size < 8:
        raise OptionError(f"--stats-size must be at least 8, got {stats_size}")
    table = TABLES[number]
    base = load_base(base_path)
    iters = int(iters if iters is not None else (base.get("train") or {}).get("total_iter", 0))
    if iters < 1:
        raise OptionError(f"--iters must be a positive int, got {iters}")
    prefix = prefix or f"{base['name']}_abl"
    parse_options(test_path, is_train=False)  # a broken test file fails before hours of training

    stage1_plans = plan_stage1(table, stage1_path, ablation_dir, prefix)
    extractors = {stem: experiment_root(opt1) / "models" / "net_de_latest.pth" for stem, opt1 in stage1_plans.items()}
    plans = plan_rows(table, base, ablation_dir, iters, prefix, extractors)
    if any(uses_extractor(opt) and not row.stage1 for row, *_, opt in plans):
        ensure_extractor(base, base_path, stage1_path, log)
    opt_dir = output / "options"
    opt_dir.mkdir(parents=True, exist_ok=True)
    for stem, opt1 in stage1_plans.items():
        ensure_row_extractor(opt1, opt_dir, next(r.label for r in table.rows if r.stage1 == stem), log)
    done: Dict[str, Dict[str, Any]] = {}
    # the base configuration (the full model, a row of every table) is trained first, the others in table order
    full = experiment_name(prefix, "full", iters)
    for row, file, _overrides, opt in sorted(plans, key=lambda plan: plan[3]["name"] != full):
        name = opt["name"]
        if name in done:
            continue
        status, why = experiment_status(opt)
        if status == "finished":
            log(f"{row.label}: reusing {name} ({why})")
        else:
            opt_file = opt_dir / f"{name}.yml"
            opt_file.write_text(
                f"# generated by run_ablation: {base_path} + {file} (network_g/network_de/path), "
                f"{iters} iterations\n" + yaml.safe_dump(opt, sort_keys=False)
            )
            log(f"{row.label}: {'resuming' if status == 'resume' else 'training'} {name} ({why})")
            run_training(opt_file, f"{row.label} ({file})", resume=status == "resume")
        ckpt = experiment_root(opt) / "models" / "net_g_latest.pth"
        if not ckpt.is_file():
            raise AblationError(f"{row.label} ({file}): training finished but {ckpt} is missing")
        log(f"{row.label}: testing {name} with {test_path}")
        result = evaluate(test_path, opt, ckpt, output, save_img)
        result.update(
            model_cost(opt["network_g"], stats_size), experiment=name, checkpoint=str(ckpt), reused=status == "finished"
        )
        done[name] = result

    rows = []
    for row, file, overrides, opt in plans:
        res = done[opt["name"]]
        entry: Dict[str, Any] = {
            "label": row.label,
            "group": row.group,
            "ablation_file": str(file),
            "overrides": overrides,
            **res,
        }
        if table.flags:
            g = opt.get("network_g") or {}
            entry["flags"] = {col: bool(g.get(key, True)) for col, key in PROMPT_COLUMNS}
        rows.append(entry)
    first = next(iter(done.values()))
    base_train = (base.get("datasets") or {}).get("train") or {}
    report = {
        "table": number,
        "title": table.title,
        "iterations": iters,
        "seed": base.get("manual_seed", 0),
        "base_options": str(base_path),
        "test_options": str(test_path),
        "test_set": first["set"],
        "test_images": first["count"],
        "batch_size": base_train.get("batch_size_per_gpu"),
        "patch_size": base_train.get("gt_size"),
        "stats_size": stats_size,
        "input": {"psnr": first["input_psnr"], "ssim": first["input_ssim"]},
        "rows": rows,
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / f"table{number}.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = format_markdown(report)
    (output / f"table{number}.md").write_text(markdown)
    return report


def _mark(flag: bool) -> str:
    return "✓" if flag else "✗"


def format_markdown(report: Dict[str, Any]) -> str:
    """The table in the paper's layout, with the budget and the test set in its header."""
    number, size = report["table"], report["stats_size"]
    flags = any("flags" in r for r in report["rows"])
    grouped = any(r["group"] for r in report["rows"])
    head = (["Comparison"] if grouped else []) + ["Method"] + ([c for c, _ in PROMPT_COLUMNS] if flags else [])
    head += ["PSNR", "SSIM", "Params (M)", f"GMACs @{size}"]
    lines = [
        f"### Table {number}: {report['title']} — {report['iterations']} iterations per row",
        "",
        f"Every row trained for **{report['iterations']} iterations** (seed {report['seed']}, batch "
        f"{report['batch_size']}, {report['patch_size']}-px patches) from `{report['base_options']}`; PSNR/SSIM: "
        f"mean over the degradation types of `{report['test_set']}` ({report['test_images']} images, "
        f"`{report['test_options']}`); parameters and GMACs of the restorer at 1×3×{size}×{size}, scan excluded.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * (len(head) - 4) + ["---:"] * 4) + "|",
    ]
    previous = None
    for r in report["rows"]:
        cells = []
        if grouped:
            cells.append(r["group"] if r["group"] != previous else "")
            previous = r["group"]
        cells.append(r["label"])
        if flags:
            cells += [_mark(r["flags"][c]) for c, _ in PROMPT_COLUMNS]
        cells += [f"{r['psnr']:.2f}", f"{r['ssim']:.3f}", f"{r['params_m']:.3f}", f"{r['gmacs']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    inp = report.get("input") or {}
    if inp.get("psnr") is not None:
        lines += ["", f"Degraded input (no restoration): PSNR {inp['psnr']:.2f}, SSIM {inp['ssim']:.3f}."]
    lines += ["", "Experiments (rows with identical settings share one):"]
    lines += [f"- {r['label']}: `{r['experiment']}`{' (reused)' if r.get('reused') else ''}" for r in report["rows"]]
    return "\n".join(lines) + "\n"


__all__ = [
    "AblationError",
    "Row",
    "TABLES",
    "Table",
    "config_key",
    "experiment_status",
    "format_markdown",
    "plan_rows",
    "plan_stage1",
    "read_row_overrides",
    "read_stage1_overrides",
    "row_options",
    "run_table",
]
