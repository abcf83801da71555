"""Benchmark: how long ``atlas --help`` takes, beside the floor of ``python -c "import click"``.

Run ``python benchmarks/bench_cli.py [--runs 15]``. Each command runs in a new
process, ``--runs`` times after one warm-up (so the disk cache is warm); the
script prints the median and the fastest wall time of each, and what
``atlas --help`` costs beyond importing click. Target (issue 21): under 0.3 s
for ``atlas --help``, which imports neither geopandas nor pandas (a test
checks that; this script only measures).

Also times the fast test loop when asked (``--tests``), both ways in one run::

    pytest -m "not (browser or qgis or postgis or install or slow)"
    pytest -n auto --dist loadfile -m "not (browser or qgis or postgis or install or slow)"

and prints each wall time, the count pytest reports and their ratio (target,
issue 21: the parallel loop under 2 minutes). Speed depends on what else the
machine runs: the script prints the load average beside the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAST = "not (browser or qgis or postgis or install or slow)"


def timed(cmd: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` runs of ``cmd`` (after one warm-up run), each checked to succeed."""
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--tests", action="store_true", help="also time the fast test loop once")
    args = parser.parse_args()
    py = sys.executable
    script = Path(py).with_name("atlas")
    cases = {
        'python -c "import click"': [py, "-c", "import click"],
        "python -m atlas --help": [py, "-m", "atlas", "--help"],
        "python -m atlas near --help": [py, "-m", "atlas", "near", "--help"],
    }
    if script.exists():
        cases["atlas --help (console script)"] = [str(script), "--help"]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.runs} runs each")
    floor = None
    for label, cmd in cases.items():
        t = timed(cmd, args.runs)
        med = statistics.median(t)
        floor = med if floor is None else floor
        print(f"{label:<32} median {med:6.3f} s  fastest {min(t):6.3f} s  (+{med - floor:5.3f} s over import click)")
    if args.tests:
        walls = {}
        for label, extra in (("one process", []), ("-n auto", ["-n", "auto", "--dist", "loadfile"])):
            with tempfile.TemporaryDirectory(prefix="bench-cli-") as base:  # its own basetemp
                start = time.perf_counter()
                res = subprocess.run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, "-m", FAST,
                                      f"--basetemp={base}/t"], cwd=REPO, capture_output=True, text=True)
                walls[label] = time.perf_counter() - start
            print(f"fast tests, {label:<11}: {walls[label]:5.0f} s wall; {res.stdout.strip().splitlines()[-1]}")
        print(f"fast tests, -n auto / one process: {walls['-n auto'] / walls['one process']:.2f} "
              f"(load average now {os.getloadavg()[0]:.2f})")

if __name__ == "__main__":
    main()
