"""Memory and speed of ``atlas compare``: two 10,000 x 10,000 four-band scenes compared in windows.

Run: ``python benchmarks/bench_imagery.py [GPKG] [--side N]`` (default ``output/atlas.gpkg``; run
``atlas build`` first). Prints figures, asserts nothing. Two synthetic scenes (named as such) are
written, strip by strip, in a temporary folder beside a copy of the atlas: 0.5 m pixels in UTM 52N
around camp 15, the second with a rectangle of new "buildings". They are registered, then compared
over a buffer that takes in the whole scene (the grid is the scene's size) in a child process,
whose peak resident memory (``ru_maxrss``) is reported: the target is under 500 MB. Then
``atlas compare --all`` runs and its progress lines are shown. Everything is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import Affine
from rasterio.windows import Window

import atlas
from atlas.scenes import add_scene

TARGET_MB = 500


def synthetic_scene(path: Path, side: int, res: float, centre, buildings: bool, seed: int) -> Path:
    """A synthetic four-band uint8 scene in EPSG:32652, written in strips of 512 rows (bounded memory).

    Four bands of multispectral data (PHOTOMETRIC=MINISBLACK): GDAL would otherwise read the fourth band
    of a four-band 8-bit TIFF as alpha."""
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32652", always_xy=True).transform(*centre)
    west, north = x - side * res / 2, y + side * res / 2
    t = Affine(res, 0, west, 0, -res, north)
    rng = np.random.default_rng(seed)
    profile = {"driver": "GTiff", "width": side, "height": side, "count": 4, "dtype": "uint8", "crs": "EPSG:32652",
               "transform": t, "photometric": "MINISBLACK", "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
               "BIGTIFF": "IF_SAFER"}
    cols = np.arange(side) * res
    with rasterio.open(path, "w", **profile) as dst:
        dst.update_tags(TIFFTAG_DATETIME="2012:05:04 10:00:00" if not buildings else "2016:09:30 10:00:00")
        for row in range(0, side, 512):
            h = min(512, side - row)
            ys = (row + np.arange(h))[:, None] * res
            v = 90 + 40 * np.sin(cols[None, :] / 70.0) * np.cos(ys / 90.0) + rng.uniform(-3, 3, (h, side))
            if buildings:
                inside = (np.abs(cols[None, :] - side * res / 2 - 40) < 100) & (np.abs(ys - side * res / 2 + 20) < 75)
                v = np.where(inside, 250, v)
            data = np.stack([v * (1 - 0.1 * b) for b in range(4)]).clip(0, 255).astype("uint8")
            dst.write(data, window=Window(0, row, side, h))
    return path


#: The comparison, in a process of its own. Its peak is VmHWM of /proc/self/status: a process's own high-water
#: mark (``ru_maxrss`` is carried over from the parent across fork and exec on Linux, so it would count the
#: memory this script used to write the scenes).
CHILD = """
import json, sys, time
import atlas
from atlas.compare import compare

def hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))

start = time.perf_counter()
imported = hwm()
c = compare("KLS-15", "2012", "2016-12-31", out=sys.argv[2], buffer_m=float(sys.argv[3]), gpkg=sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": hwm(), "imported_mb": imported,
                  "grid": round(2 * c.buffer_m / c.resolution_m), "changed_m2": c.changed_m2, "compared_m2": c.compared_m2}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("gpkg", nargs="?", default=str(atlas.default_gpkg()))
    ap.add_argument("--side", type=int, default=10_000, help="scene side in pixels (default 10,000)")
    args = ap.parse_args()
    res = 0.5
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gpkg = tmp / "atlas" / "atlas.gpkg"
        gpkg.parent.mkdir()
        shutil.copyfile(args.gpkg, gpkg)
        (tmp / "atlas-private").mkdir()  # the register's folder, made here (no notice)
        site = atlas.resolve("KLS-15", gpkg).geometry
        start = time.perf_counter()
        before = synthetic_scene(tmp / "synthetic_before.tif", args.side, res, (site.x, site.y), False, 1)
        after = synthetic_scene(tmp / "synthetic_after.tif", args.side, res, (site.x, site.y), True, 2)
        print(f"two synthetic {args.side:,} x {args.side:,} four-band scenes written in "
              f"{time.perf_counter() - start:.1f} s ({(before.stat().st_size + after.stat().st_size) / 2**20:.0f} MiB)")
        for p in (before, after):
            start = time.perf_counter()
            add_scene(p, gpkg=gpkg)
            print(f"  registered {p.name} (sha256 read) in {time.perf_counter() - start:.1f} s")
        buffer_m = args.side * res / 2
        out = subprocess.run([sys.executable, "-c", CHILD, str(gpkg), str(tmp / "cmp"), str(buffer_m)],
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"compare failed: {out.stderr.strip()[-2000:]}")
        got = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"compare over a {got['grid']:,} x {got['grid']:,} grid (buffer {buffer_m:g} m at {res} m): "
              f"{got['seconds']:.1f} s, peak RSS {got['peak_mb']:.0f} MB (of which {got['imported_mb']:.0f} MB "
              f"with atlas imported; target < {TARGET_MB} MB: {'met' if got['peak_mb'] < TARGET_MB else 'NOT met'})")
        print(f"  changed {got['changed_m2']:,.0f} m² of {got['compared_m2']:,.0f} m² (drawn: 30,000 m²)")
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "atlas", "compare", "--all", "--before", "2012",
                              "--after", "2016-12-31", "--buffer-m", "500", "--out", str(tmp / "all"),
                              "--gpkg", str(gpkg)], capture_output=True, text=True)
        print(f"compare --all (buffer 500 m): exit {run.returncode}, {time.perf_counter() - start:.1f} s; progress:")
        for line in run.stderr.splitlines():
            print(f"  {line}")


if __name__ == "__main__":
    main()
