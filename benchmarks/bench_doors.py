"""Benchmark: every command's peak memory with a million-point user layer present (issue 20, item 6).

Run ``python benchmarks/bench_doors.py [--points 1000000] [--gpkg PATH] [--keep DIR]``.

A synthetic user layer of ``--points`` points (uniform in a box inside the DPRK, names
``Synthetic point N``, written to a temporary folder, never under ``output/``) is put into a
copy of the atlas the way ``atlas import`` stores one: a small CSV is imported (the layer's
columns and its record), then the layer is rewritten with the million rows, its record's count
set and its names keyed for ``atlas find``. (Importing a million points takes minutes of
checks this benchmark is not about: ``bench_import.py`` measures those.)

Then each command runs in its own process; the peak resident memory comes from ``wait4``'s
rusage and the wall time from the parent. The dossier page's size is printed too. Target:
each command under 1 GB, a dossier page under 5 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BOX = (125.6, 38.9, 127.4, 40.4)  # inside the DPRK: near Pyongyang, Kaechon and Pukchang


def run(args: list[str], env: dict | None = None) -> tuple[float, float, int, str]:
    """Run a command; return (seconds, peak RSS in MB, exit code, the end of its stderr)."""
    t = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, **(env or {})})
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    return time.perf_counter() - t, usage.ru_maxrss / 1024.0, os.waitstatus_to_exitcode(status), err[-600:]


def synthetic_atlas(folder: Path, base: Path, n: int) -> Path:
    """A copy of the atlas with a user layer ``user_big`` of ``n`` synthetic points."""
    import geopandas as gpd
    import pyogrio
    import shapely

    from atlas import search

    gpkg = folder / "atlas" / "atlas.gpkg"
    gpkg.parent.mkdir(parents=True)
    shutil.copyfile(base, gpkg)
    seed = folder / "synthetic_big.csv"
    seed.write_text("name,lat,lon,note\nSynthetic point 0,39.6,126.0,synthetic\n")
    code = subprocess.run([sys.executable, "-m", "atlas", "import", str(seed), "--as", "big", "--gpkg", str(gpkg)],
                          capture_output=True, text=True)
    if code.returncode:
        sys.exit(code.stderr)
    one = pyogrio.read_dataframe(gpkg, layer="user_big")
    rng = np.random.default_rng(20)
    xs, ys = rng.uniform(BOX[0], BOX[2], n), rng.uniform(BOX[1], BOX[3], n)
    big = gpd.GeoDataFrame(one.drop(columns="geometry").loc[np.zeros(n, dtype=int)].reset_index(drop=True),
                           geometry=shapely.points(xs, ys), crs=4326)
    big["user_id"] = [f"U{i:07d}" for i in range(1, n + 1)]
    big["name"] = [f"Synthetic point {i}" for i in range(1, n + 1)]
    big["source_row"] = np.arange(2, n + 2)
    pyogrio.write_dataframe(big, gpkg, layer="user_big", driver="GPKG", layer_options={"OVERWRITE": "YES"})
    with sqlite3.connect(gpkg) as con:
        con.execute("UPDATE atlas_user_layers SET features = ? WHERE layer = 'user_big'", (n,))
        con.execute("DELETE FROM atlas_name_keys WHERE layer = 'user_big'")
    search.write_name_keys(gpkg, "user_big")
    return gpkg


COMMANDS = {
    "layers": ["layers"],
    "find": ["find", "Synthetic point 123456"],
    "near": ["near", "KLS-14", "--km", "10", "--layer", "user_big"],
    "show": ["show", "U0123456", "--layer", "user_big"],
    "dossier": ["dossier", "KLS-14", "--out", "{out}/dossier"],
    "site": ["site", "--out", "{out}/site", "--no-downloads"],
    "site downloads": ["site", "--out", "{out}/site-downloads"],
    "map": ["map", "--out", "{out}/map.html"],
    "export qgis": ["export", "--qgis", "--out", "{out}/qgis"],
    "export csv": ["export", "--format", "csv", "--out", "{out}/csv"],
    "export kmz": ["export", "--format", "kmz", "--out", "{out}/kmz"],
    "export geojson": ["export", "--format", "geojson", "--out", "{out}/geojson"],
    "export geoparquet": ["export", "--format", "geoparquet", "--out", "{out}/geoparquet"],
    "build": ["build", "--out", "{gpkg}", "--no-products"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--gpkg", type=Path, help="a built atlas to copy (default: build one)")
    parser.add_argument("--keep", type=Path, help="a folder to keep the synthetic atlas in (reused if there)")
    parser.add_argument("--only", nargs="*", help="run only these commands")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="atlas-bench-doors-"))
    folder = args.keep or tmp
    gpkg = folder / "atlas" / "atlas.gpkg"
    if not gpkg.exists():
        base = args.gpkg
        if base is None:
            import atlas

            base = atlas.build(tmp / "base" / "atlas.gpkg", products=())
        t = time.perf_counter()
        folder.mkdir(parents=True, exist_ok=True)
        synthetic_atlas(folder, base, args.points)
        print(f"synthetic atlas with {args.points:,} user points in {time.perf_counter() - t:.0f} s: {gpkg}")
    out = tmp / "out"
    print("| command | peak RSS (MB) | time (s) | exit |\n|---|---:|---:|---:|")
    for name, cmd in COMMANDS.items():
        if args.only and name not in args.only:
            continue
        argv = [a.format(out=out, gpkg=gpkg) for a in cmd]
        where = [] if name == "build" else ["--gpkg", str(gpkg)]
        seconds, peak, code, err = run([sys.executable, "-m", "atlas", *argv, *where])
        print(f"| `atlas {name}` | {peak:,.0f} | {seconds:.1f} "
              f"| {code} |", flush=True)
        if code:
            print("   ", err.strip().splitlines()[-1] if err.strip() else "")
    page = out / "dossier" / "KLS-14.html"
    if page.exists():
        print(f"dossier page: {page.stat().st_size / 1e6:.2f} MB")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
