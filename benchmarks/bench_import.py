"""Benchmark: `atlas import` memory and time against the naive path, and `atlas near` before and after.

Run ``python benchmarks/bench_import.py [--points 1000000] [--near-points 300000] [--gpkg PATH]``.

Two questions, each answered by commands run in subprocesses (peak resident memory from
``wait4``'s rusage, wall time from the parent):

1. **Lean imports** (issue 17). One synthetic CSV of ``--points`` rows (``name,lat,lon``,
   uniform in the DPRK's bounding box, written to a temporary folder) is imported by
   ``atlas import``, and read the naive way in the same run: pandas reads the CSV,
   geopandas makes the points, :func:`atlas.assign_admin` joins them. Target: the import's
   peak at most 3/4 of the naive path's.
2. **Queries do not slow down with unused user layers** (issue 11). ``atlas near KLS-14``
   (median of ``--repeat`` runs) on a fresh atlas, then after importing ``--near-points``
   synthetic points, then (once) on the
   same atlas with the name keys removed (every name read into memory, as before the keys
   existed) for comparison.

Nothing is written under ``output/`` or ``geodata/``: the atlas is copied (or built) into
a temporary folder.
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

DPRK_BBOX = (124.2, 37.6, 130.7, 43.0)

NAIVE = """
import sys, pandas as pd, geopandas as gpd, pyogrio
df = pd.read_csv(sys.argv[1])
gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")
counties = gpd.read_file(sys.argv[2], layer="counties", columns=["county_id", "name_ko", "name_en", "province"])
out = gpd.sjoin(gdf, counties.to_crs("EPSG:4326"), how="left", predicate="within").drop(columns="index_right")
pyogrio.write_dataframe(out, sys.argv[3], layer="naive", driver="GPKG", use_arrow=True)
print(len(out), out["province"].notna().sum())
"""


def run(args: list[str], env: dict | None = None) -> tuple[float, float, str, str]:
    """Run a command; return (seconds, peak RSS in MB, stdout, stderr)."""
    t = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, **(env or {})})
    out, err = p.stdout.read(), p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(args)} failed ({code}):\n{err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024.0, out, err


def synthetic_csv(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w") as f:
        f.write("name,lat,lon\n")
        for start in range(0, n, 100_000):
            k = min(100_000, n - start)
            lat = rng.uniform(DPRK_BBOX[1], DPRK_BBOX[3], k)
            lon = rng.uniform(DPRK_BBOX[0], DPRK_BBOX[2], k)
            f.writelines(f"synthetic {start + i},{lat[i]:.6f},{lon[i]:.6f}\n" for i in range(k))
    return path


def atlas_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "atlas", *args]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--near-points", type=int, default=300_000)
    ap.add_argument("--gpkg", type=Path, default=None, help="a built atlas (default: build one)")
    ap.add_argument("--skip-import", action="store_true", help="only the near() benchmark")
    ap.add_argument("--skip-near", action="store_true", help="only the import benchmark")
    ap.add_argument("--repeat", type=int, default=5, help="near() runs per figure (median)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="atlas-bench-") as tmp:
        tmp = Path(tmp)
        base = tmp / "base.gpkg"
        if a.gpkg:
            shutil.copyfile(a.gpkg, base)
        else:
            run(atlas_cmd("-q", "build", "--out", str(base)))
        if not a.skip_import:
            csv = synthetic_csv(tmp / "synthetic_points.csv", a.points, 17)
            print(f"1. import of {a.points:,} synthetic points ({csv.stat().st_size / 1e6:.0f} MB CSV)")
            gpkg = tmp / "import.gpkg"
            shutil.copyfile(base, gpkg)
            t_naive, m_naive, out, _ = run([sys.executable, "-c", NAIVE, str(csv), str(base), str(tmp / "naive.gpkg")])
            print(f"   naive (read_csv + points_from_xy + sjoin to counties + pyogrio write): {t_naive:6.1f} s, "
                  f"peak {m_naive:6.0f} MB"
                  f"  [{out.strip()}]")
            t_imp, m_imp, out, _ = run(atlas_cmd("import", str(csv), "--as", "bench", "--gpkg", str(gpkg)))
            print(f"   atlas import (streamed, validated, written):     {t_imp:6.1f} s, peak {m_imp:6.0f} MB"
                  f"  [{out.strip()}]")
            print(f"   peak ratio import/naive: {m_imp / m_naive:.2f} (target <= 0.5); "
                  f"time ratio {t_imp / t_naive:.1f} (target <= 3)")
        if not a.skip_near:
            print(f"2. atlas near KLS-14, before and after importing {a.near_points:,} synthetic points")
            gpkg = tmp / "near.gpkg"
            shutil.copyfile(base, gpkg)
            near = atlas_cmd("near", "KLS-14", "--gpkg", str(gpkg))

            def median_run(k: int = a.repeat) -> tuple[float, float]:
                runs = sorted(run(near)[:2] for _ in range(k))  # (seconds, MB), by time
                return runs[k // 2]

            run(near)  # warm the file cache
            t0, m0 = median_run()
            print(f"   before:                        {t0:6.2f} s, peak {m0:6.0f} MB (median of {a.repeat} runs)")
            csv = synthetic_csv(tmp / "synthetic_near.csv", a.near_points, 18)
            t_i, m_i, _, _ = run(atlas_cmd("import", str(csv), "--as", "big", "--gpkg", str(gpkg)))
            print(f"   (import of {a.near_points:,} points: {t_i:.1f} s, peak {m_i:.0f} MB)")
            run(near)
            t1, m1 = median_run()
            print(f"   after (names keyed at import): {t1:6.2f} s, peak {m1:6.0f} MB  "
                  f"(x{t1 / t0:.2f} time, x{m1 / m0:.2f} memory)")
            with sqlite3.connect(gpkg) as con:
                con.execute("DROP TABLE atlas_name_keys")
                con.execute("DROP TABLE atlas_name_layers")
            t2, m2 = median_run(1)
            print(f"   after, names read into memory at every query (no keys): {t2:6.2f} s, "
                  f"peak {m2:6.0f} MB")


if __name__ == "__main__":
    main()
