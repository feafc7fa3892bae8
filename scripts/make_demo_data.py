#!/usr/bin/env python
"""Build the small demo dataset from the photographs bundled with scikit-image (offline, deterministic).

    python scripts/make_demo_data.py [--output datasets/demo] [--train-size 256] [--eval-size 128]

Layout and split: see the README.md written into the output folder, or dpmambair/data/demo.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="datasets/demo", help="output folder (default datasets/demo)")
    parser.add_argument("--train-size", type=int, default=256, help="short side of training photos (default 256)")
    parser.add_argument("--eval-size", type=int, default=128, help="short side of val/test photos (default 128)")
    parser.add_argument("--severities", default="0.3,0.6,0.9", help="val/test severities (default 0.3,0.6,0.9)")
    parser.add_argument("--overwrite", action="store_true", help="rebuild an existing demo folder")
    args = parser.parse_args(argv)

    from dpmambair.data.demo import build_demo
    from dpmambair.utils.errors import DPMambaIRError

    try:
        sev = [float(v) for v in args.severities.split(",") if v.strip()]
        summary = build_demo(args.output, args.train_size, args.eval_size, sev, overwrite=args.overwrite)
    except (DPMambaIRError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    splits = summary["splits"]
    print(
        f"demo data in {summary['output']}: train {len(splits['train'])} clean photos, "
        f"val {summary['val_pairs']} pairs, test {summary['test_pairs']} pairs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
