#!/usr/bin/env python
"""Parameters, MACs and CPU latency of the networks of an option file.

    python scripts/model_stats.py -opt options/allinone.yml [--size 256] [--no-latency]

Prints the restorer's (network_g) and the extractor's (network_de) parameters separately, MACs at one
1x3xSIZExSIZE input with the selective scan's own operations on a separate line (convention in
dpmambair/utils/complexity.py), and the CPU time of one forward pass after a warm-up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-opt", required=True, help="option file (YAML) with network_g and optionally network_de")
    parser.add_argument("--size", type=int, default=256, help="side of the square test input (default 256)")
    parser.add_argument("--runs", type=int, default=1, help="timed forward passes after one warm-up (median)")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    args = parser.parse_args(argv)

    from dpmambair.archs import build_network
    from dpmambair.utils.complexity import format_stats, restorer_stats
    from dpmambair.utils.options import parse_options

    try:
        if args.size < 1:
            raise ValueError(f"--size must be a positive int, got {args.size}")
        opt = parse_options(args.opt, is_train=False)
        if not opt.get("network_g"):
            raise ValueError(f"{args.opt}: no 'network_g' section to measure")
        net_g = build_network(opt["network_g"], f"{args.opt}: network_g")
        net_de = build_network(opt["network_de"], f"{args.opt}: network_de") if opt.get("network_de") else None
        stats = restorer_stats(net_g, net_de, size=args.size, latency=not args.no_latency, runs=args.runs)
    except (ValueError, KeyError, OSError) as err:
        print(f"model_stats: error: {err}", file=sys.stderr)
        return 1
    print(f"option file: {args.opt}")
    for line in format_stats(stats, args.size):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
