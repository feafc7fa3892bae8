#!/usr/bin/env python
"""GoPro (GOPRO_Large): per-sequence blur/sharp folders → a meta-info file, or flat paired folders.

    python scripts/prepare_gopro.py --root datasets/GoPro            # writes datasets/GoPro/meta_info_{train,test}.txt
    python scripts/prepare_gopro.py --root datasets/GoPro --flat     # also datasets/GoPro/{train,test}_flat/
                                                                     # {input,target} (symlinks)

Expects `<root>/{train,test}/<sequence>/{blur,sharp}/<frame>.png` as distributed (GOPRO_Large.zip).
Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", default="datasets/GoPro", help="folder holding train/ and test/ (default datasets/GoPro)"
    )
    parser.add_argument("--splits", default="train,test", help="comma-separated splits (default train,test)")
    parser.add_argument("--blur", default="blur", help="input folder name: blur (default) or blur_gamma")
    parser.add_argument("--flat", action="store_true", help="also make <split>_flat/{input,target} with links")
    parser.add_argument("--copy", action="store_true", help="with --flat: copy files instead of linking")
    args = parser.parse_args(argv)

    from dpmambair.data.prepare import gopro_pairs, link_flat, write_meta_info
    from dpmambair.utils.errors import DPMambaIRError

    root = Path(args.root)
    try:
        for split in [s for s in args.splits.split(",") if s]:
            pairs = gopro_pairs(root / split, blur_folder=args.blur)
            meta = write_meta_info(pairs, root / f"meta_info_{split}.txt")
            print(f"{split}: {len(pairs)} pairs -> {meta}")
            if args.flat:
                lq, gt = link_flat(pairs, root / split, root / f"{split}_flat", copy=args.copy)
                print(f"{split}: flat folders {lq} and {gt}")
    except (DPMambaIRError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
