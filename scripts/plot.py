#!/usr/bin/env python3
"""Figures for muxbench results: a thin front end to `loadgen report`.

Every figure of the project is drawn by one implementation, in Rust
(src/report/svg/): `loadgen report DIR/runs.csv` writes REPORT.md, REPORT.html
(one self-contained page: findings, figures with captions, sortable tables,
machine, command, method) and figures/*.svg beside the CSV. A sweep writes
them itself as it goes. This script only runs that command for each CSV
given, so older instructions that call it keep working:

    cargo build --release
    python3 scripts/plot.py results/reference/runs.csv [more/runs.csv ...]

The baseline is the one the sweep was run with (its command.txt), unless
--baseline names another. Needs only Python 3 and the built loadgen.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def loadgen_binary():
    """The built loadgen: $LOADGEN, else target/release/loadgen."""
    exe = os.environ.get("LOADGEN") or str(ROOT / "target" / "release" / "loadgen")
    if not os.path.isfile(exe):
        sys.exit(f"plot.py: {exe} not found: run `cargo build --release` first (or set LOADGEN)")
    return exe


def main():
    parser = argparse.ArgumentParser(
        description="Regenerate REPORT.md, REPORT.html and figures/*.svg for each runs.csv "
        "(by calling `loadgen report`, which draws every figure).")
    parser.add_argument("csvs", nargs="+", metavar="runs.csv", help="a sweep's runs.csv")
    parser.add_argument("--baseline", help="the arm ratios refer to (default: the sweep's own)")
    args = parser.parse_args()
    exe = loadgen_binary()
    for csv in args.csvs:
        cmd = [exe, "report", csv]
        if args.baseline:
            cmd += ["--baseline", args.baseline]
        r = subprocess.run(cmd)
        if r.returncode != 0:
            # loadgen said why (one line); its status is ours.
            return r.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
