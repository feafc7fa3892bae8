#!/usr/bin/env python
"""Check every dataset of an option file: folders, pairing, sizes, decoding; counts per task.

    python scripts/check_dataset.py -opt options/allinone.yml [--quick] [--workers 4]

Exit code 0 when every dataset is usable, 1 when a problem was found, 2 when the option file is unusable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-opt", required=True, help="option file (YAML) with a datasets section")
    parser.add_argument("--quick", action="store_true", help="headers only: skip decoding every image")
    parser.add_argument("--workers", type=int, default=2, help="decoding threads (default 2)")
    parser.add_argument("--sets", default=None, help="only blocks whose key starts with this, e.g. test or val")
    parser.add_argument("--max-problems", type=int, default=10, help="problems printed per dataset (default 10)")
    args = parser.parse_args(argv)

    from dpmambair.data.check import check_datasets, format_reports
    from dpmambair.utils.errors import DPMambaIRError
    from dpmambair.utils.options import parse_options

    try:
        opt = parse_options(args.opt, is_train=False)
        reports = check_datasets(opt, decode=not args.quick, workers=args.workers, only=args.sets)
    except DPMambaIRError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_reports(reports, args.max_problems))
    bad = [r for r in reports if not r.ok]
    print(
        f"{len(reports) - len(bad)} of {len(reports)} datasets OK"
        + (f"; problems in {', '.join(r.key for r in bad)}" if bad else "")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
