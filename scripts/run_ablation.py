#!/usr/bin/env python
"""Reproduce one of the paper's ablation tables (3, 4 or 5) at the scale of a base stage-2 option file.

    python scripts/run_ablation.py --table 3 [--iters N] [--opt options/demo/stage2.yml]
        [--test-opt options/demo/test.yml] [--output results/ablation_table3] [--stats-size 256]

Every row reads its network_g / network_de / path overrides from options/ablation/table<N>_*.yml and applies
them over --opt; all rows are trained with the same seed and --iters iterations (default: --opt's
train.total_iter) through the normal trainer, then tested on --test-opt's test sets. Prints the table in the
paper's layout (PSNR/SSIM: mean over the degradation types; parameters and GMACs of the restorer at
1x3x256x256, scan excluded) and writes it as table<N>.md and table<N>.json under --output, with each row's
generated option file (options/) and test results. The stage-1 extractor named by --opt's
path.pretrain_network_de is shared; it is trained first with --stage1-opt when the file is missing.
Experiments go to experiments/<name>: a finished one with the same options is reused, an interrupted one is
resumed, any other of the same name is renamed with a timestamp by the trainer before training again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=int, required=True, choices=(3, 4, 5), help="paper table to reproduce")
    parser.add_argument(
        "--iters", type=int, default=None, help="training iterations per row (default: --opt's total_iter)"
    )
    parser.add_argument(
        "--opt", default="options/demo/stage2.yml", help="base stage-2 option file (default: the CPU demo's)"
    )
    parser.add_argument("--test-opt", default="options/demo/test.yml", help="option file with the test sets")
    parser.add_argument(
        "--stage1-opt",
        default="options/demo/stage1.yml",
        help="stage-1 option file, used only when the extractor file is missing",
    )
    parser.add_argument(
        "--output", default=None, help="folder for the table and test results (default results/ablation_table<N>)"
    )
    parser.add_argument(
        "--ablation-dir", default=str(ROOT / "options" / "ablation"), help="folder of the table*_*.yml rows"
    )
    parser.add_argument(
        "--stats-size", type=int, default=256, help="side of the square input for params/GMACs (default 256)"
    )
    parser.add_argument("--prefix", default=None, help="experiment name prefix (default: <--opt name>_abl)")
    parser.add_argument("--save-img", action="store_true", help="also write the restored test images")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from dpmambair.ablation import format_markdown, run_table
    from dpmambair.utils.errors import DPMambaIRError

    output = Path(args.output) if args.output else Path("results") / f"ablation_table{args.table}"
    try:
        report = run_table(
            args.table,
            Path(args.opt),
            Path(args.test_opt),
            Path(args.ablation_dir),
            output,
            iters=args.iters,
            stage1_path=Path(args.stage1_opt) if args.stage1_opt else None,
            stats_size=args.stats_size,
            prefix=args.prefix,
            save_img=args.save_img,
        )
    except DPMambaIRError as err:
        print(f"run_ablation: error: {err}", file=sys.stderr)
        return 2
    print()
    print(format_markdown(report))
    print(f"wrote {output / f'table{args.table}.md'} and {output / f'table{args.table}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
