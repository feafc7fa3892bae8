#!/usr/bin/env python
"""Pack a trained restorer into the shipped-weights format (tensors + plain options; `weights_only=True` loads it).

    python scripts/pack_weights.py [--experiment experiments/compact_stage2_dpmambair]
        [--output weights/dpmambair_compact.pth]

Reads `<experiment>/models/net_g_latest.pth` (EMA weights when present), the resolved options of stage 2 and of
the stage-1 run its extractor came from, and the wall time of both from their logs. The file is written
atomically and read back with `torch.load(..., weights_only=True)` before the script reports success.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")


def log_wall_seconds(folder: Path) -> Optional[float]:
    """Seconds between the first and the last time stamp of the run's train_*.log files (None if there are none)."""
    stamps: List[datetime] = []
    for log in sorted(folder.glob("train_*.log")):
        for line in log.read_text(errors="replace").splitlines():
            m = STAMP.match(line)
            if m:
                stamps.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
    return (max(stamps) - min(stamps)).total_seconds() if stamps else None


def git_commit(repo: Path) -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiment", default="experiments/compact_stage2_dpmambair", help="stage-2 experiment folder")
    p.add_argument("--output", default="weights/dpmambair_compact.pth", help="file to write")
    args = p.parse_args(argv)

    import torch

    from dpmambair.archs import build_network
    from dpmambair.inference.weights import pack_weights, save_weights
    from dpmambair.utils.errors import DPMambaIRError
    from dpmambair.utils.options import load_yaml

    exp = Path(args.experiment)
    try:
        ckpt = exp / "models" / "net_g_latest.pth"
        if not ckpt.is_file():
            raise DPMambaIRError(f"--experiment {exp}: no models/net_g_latest.pth (train stage 2 first)")
        opt2 = load_yaml(exp / "options_resolved.yml")
        de_path = Path(str((opt2.get("path") or {}).get("pretrain_network_de") or ""))
        exp1 = de_path.parent.parent if de_path.name else None
        opt1 = load_yaml(exp1 / "options_resolved.yml") if exp1 and (exp1 / "options_resolved.yml").is_file() else {}
        wall = {"stage1": log_wall_seconds(exp1) if exp1 else None, "stage2": log_wall_seconds(exp)}
        meta: Dict[str, Any] = {
            "commit": git_commit(Path(__file__).resolve().parents[1]),
            "packed": datetime.now().isoformat(timespec="seconds"),
            "wall_seconds": wall,
            "experiments": {"stage1": str(exp1) if exp1 else None, "stage2": str(exp)},
        }
        obj = pack_weights(ckpt, {"stage1": opt1, "stage2": opt2}, meta)
        counts = {
            "restorer": sum(q.numel() for q in build_network(dict(obj["network_g"])).parameters()),
            "extractor": sum(q.numel() for q in build_network(dict(obj["network_de"])).parameters())
            if obj["params_de"]
            else 0,
        }
        obj["meta"]["parameters"] = counts
        out = save_weights(obj, args.output)
    except DPMambaIRError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    size = out.stat().st_size / 2**20
    print(
        f"wrote {out}: {size:.2f} MiB, restorer {counts['restorer'] / 1e6:.3f} M parameters, extractor "
        f"{counts['extractor'] / 1e6:.3f} M, iteration {obj['meta']['iter']} ({obj['meta']['weights_from']}); "
        f"read back with torch.load(weights_only=True): ok (torch {torch.__version__})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
