#!/usr/bin/env python
"""Make a paired dataset from clean images with the degradation engine.

    python scripts/synthesize.py --input CLEAN_DIR --output OUT_DIR --types rain,fog --seed 0
    python scripts/synthesize.py --input CLEAN_DIR --output OUT_DIR --types rain+fog --severities 0.3,0.6,0.9

`--types`: comma-separated; each entry is one degradation or a compound joined with '+' (applied in the
imaging-model order). Writes OUT_DIR/lq/, OUT_DIR/gt/ (same file names) and OUT_DIR/metadata.jsonl with
every pair's parameters; `--layout per-task` writes OUT_DIR/<type>/{lq,gt}/ instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _floats(text: str) -> List[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="folder of clean images")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--types", required=True, help="e.g. rain,fog or lowlight,rain+fog (names or DA-CLIP aliases)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    parser.add_argument("--severities", type=_floats, default=None, help="fixed severities in [0,1], e.g. 0.3,0.6,0.9")
    parser.add_argument(
        "--severity-range", type=_floats, default=[0.0, 1.0], help="low,high when --severities is absent"
    )
    parser.add_argument(
        "--count", type=int, default=1, help="pairs per image and type with random severity (default 1)"
    )
    parser.add_argument("--layout", choices=["flat", "per-task"], default="flat")
    parser.add_argument("--max-side", type=int, default=None, help="shrink clean images to this longer side first")
    parser.add_argument(
        "--options", default=None, help="JSON {type: {param: [mild, severe]}} overriding parameter ranges"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace earlier output in OUT_DIR")
    args = parser.parse_args(argv)

    from dpmambair.data.errors import DatasetError
    from dpmambair.data.synthesis import synthesize_folder
    from dpmambair.utils.errors import DPMambaIRError

    try:
        if len(args.severity_range) != 2:
            raise DatasetError("--severity-range needs two values: low,high")
        ranges = json.loads(args.options) if args.options else None
        summary = synthesize_folder(
            args.input,
            args.output,
            [t for t in args.types.split(",") if t.strip()],
            seed=args.seed,
            severities=args.severities,
            severity_range=tuple(args.severity_range),
            count=args.count,
            layout=args.layout,
            ranges=ranges,
            max_side=args.max_side,
            overwrite=args.overwrite,
        )
    except (DPMambaIRError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"{summary['pairs']} pairs from {summary['images']} images -> {summary['output']} "
        f"(parameters in {summary['metadata']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
