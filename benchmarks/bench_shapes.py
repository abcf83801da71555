"""Benchmark: a layer of 300,000 building footprints: import, counts around every camp, the map.

Run ``python benchmarks/bench_shapes.py [--footprints 300000] [--repeat 3] [--gpkg PATH] [--browser] [--explore]``.

A synthetic layer of ``--footprints`` building-sized polygons (rectangles of 6–30 m, turned at
random), clustered around the atlas's towns (GeoNames) and its camps, is written as a GeoPackage to
a temporary folder (named ``synthetic_footprints.gpkg``). Every side is measured in the same run:

1. **Import.** ``atlas import`` (a subprocess: wall time, peak memory) against the plain path in a
   subprocess of its own: ``geopandas.read_file`` + a geopandas ``sjoin`` to the counties
   (intersects) + ``pyogrio.write_dataframe`` of the joined layer, ``--repeat`` times each, in turn
   (on a shared machine the load changes from one minute to the next); the fastest of each is
   compared. Target: at most 3x.
2. **Counts for every camp.** How many footprints lie within 5 km of each camp's point
   (:func:`atlas.count_near`, geodesic to the nearest edge, as :func:`atlas.near` measures) and inside each camp's synthetic perimeter
   polygon (:func:`atlas.count_inside`), for every camp with a point, cold (the layer read and
   indexed) and warm. Target: under 1 s. The counts are checked against oracles in the same run:
   a geopandas ``sjoin`` for the perimeters, and for 5 km the footprints projected to an
   azimuthal equidistant CRS centred on each camp (exact geodesic distances from its centre).
3. **The map.** ``atlas map`` with the layer (the map holds its first
   :data:`atlas.webmap.MAX_MAP_FEATURES`): its size (target at most 25 MB); with ``--browser``,
   time to interactive and pan in headless Chromium (as ``bench_map.py``); with ``--explore``,
   ``GeoDataFrame.explore()`` of the same footprints the map holds, for comparison (Leaflet served to
   it locally, its other CDN files aborted, as ``bench_map.py`` does).

Nothing is written under ``output/`` or ``geodata/``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

import atlas

NAIVE = """
import sys, time, geopandas as gpd, pyogrio
t = time.perf_counter()
gdf = gpd.read_file(sys.argv[1])
counties = gpd.read_file(sys.argv[2], layer="counties").to_crs(gdf.crs)[["name_en", "county_id", "geometry"]]
joined = gpd.sjoin(gdf, counties, how="left", predicate="intersects")
joined = joined[~joined.index.duplicated()]
pyogrio.write_dataframe(joined, sys.argv[3], layer="footprints", driver="GPKG")
print(len(joined), joined["county_id"].notna().sum())
"""


#: Run in the child: its own peak (VmHWM, per address space: not the parent's pages a fork carries
#: into ru_maxrss), written to stderr at exit.
_PEAK = ("import atexit, sys; atexit.register(lambda: sys.stderr.write(next(l for l in open('/proc/self/status') "
         "if l.startswith('VmHWM')))); ")


def run(args: list[str]) -> tuple[float, float, str, str]:
    """Run a Python command (``[python, -c, code, ...]`` or ``[python, -m, module, ...]``); (seconds, peak RSS
    MB of the child itself, stdout, stderr)."""
    if args[1] == "-m":
        args = [args[0], "-c", _PEAK + f"import runpy; sys.argv = {[args[2], *args[3:]]!r}; "
                f"runpy.run_module({args[2]!r}, run_name='__main__')"]
    else:
        args = [args[0], "-c", _PEAK + args[2], *args[3:]]
    t = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    seconds = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{err[-2000:]}")
    peak = next((float(line.split()[1]) / 1024.0 for line in err.splitlines() if line.startswith("VmHWM")), float("nan"))
    return seconds, peak, out, err


def synthetic_footprints(gpkg: Path, n: int, seed: int = 300) -> gpd.GeoDataFrame:
    """Building-sized rectangles clustered around the atlas's towns and camps (synthetic)."""
    rng = np.random.default_rng(seed)
    towns = atlas.read_layer("geonames_places", gpkg).geometry
    camps = atlas.read_layer("camps", gpkg).geometry
    centres = [g for g in list(towns) + list(camps) if g is not None and not g.is_empty]
    cx = np.array([c.x for c in centres])
    cy = np.array([c.y for c in centres])
    which = rng.integers(0, len(centres), n)
    r_km = np.abs(rng.normal(0, 2.5, n))
    ang = rng.uniform(0, 2 * np.pi, n)
    x = cx[which] + r_km * np.cos(ang) / (111.32 * np.cos(np.radians(cy[which])))
    y = cy[which] + r_km * np.sin(ang) / 110.57
    w, h = rng.uniform(6, 30, n), rng.uniform(6, 20, n)
    turn = rng.uniform(0, np.pi, n)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float) / 2
    dx = corners[None, :, 0] * w[:, None]
    dy = corners[None, :, 1] * h[:, None]
    rx = dx * np.cos(turn)[:, None] - dy * np.sin(turn)[:, None]
    ry = dx * np.sin(turn)[:, None] + dy * np.cos(turn)[:, None]
    lon = x[:, None] + rx / (111_320 * np.cos(np.radians(y))[:, None])
    lat = y[:, None] + ry / 110_570
    rings = shapely.linearrings(np.stack([lon, lat], axis=-1))
    polys = shapely.polygons(rings)
    return gpd.GeoDataFrame({"name": [f"synthetic building {i}" for i in range(n)],
                             "storeys": rng.integers(1, 6, n)}, geometry=polys, crs=4326)


def synthetic_perimeters(camps: gpd.GeoDataFrame, seed: int = 16) -> gpd.GeoDataFrame:
    """An irregular perimeter of 2–8 km around each camp's point (synthetic)."""
    rng = np.random.default_rng(seed)
    shapes = []
    for p in camps.geometry:
        t = np.sort(rng.uniform(0, 2 * np.pi, 12))
        r = rng.uniform(0.02, 0.07, 12)
        shapes.append(shapely.Polygon(np.column_stack([p.x + r * np.cos(t) / np.cos(np.radians(p.y)),
                                                       p.y + r * np.sin(t)])))
    return gpd.GeoDataFrame({"name": [f"synthetic perimeter of {i}" for i in camps["site_id"]],
                             "site": camps["site_id"].to_numpy()}, geometry=shapes, crs=4326)


def aeqd_counts(fp: gpd.GeoDataFrame, camps: gpd.GeoDataFrame, km: float) -> tuple[list[int], list[int]]:
    """Oracle: per camp, footprints within ``km`` in an azimuthal equidistant CRS centred on the camp;
    and how many lie within 1 m of the radius (where two exact methods may differ)."""
    out, edge = [], []
    tree = shapely.STRtree(fp.geometry.values)
    for p in camps.geometry:
        box = shapely.box(p.x - 0.1, p.y - 0.08, p.x + 0.1, p.y + 0.08)
        near = fp.iloc[tree.query(box)]
        local = near.to_crs(f"+proj=aeqd +lat_0={p.y} +lon_0={p.x} +ellps=WGS84 +units=m")
        d = local.distance(shapely.Point(0, 0)).to_numpy()
        out.append(int((d <= km * 1000).sum()))
        edge.append(int((np.abs(d - km * 1000) < 1.0).sum()))
    return out, edge


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footprints", type=int, default=300_000)
    ap.add_argument("--gpkg", type=Path, default=None, help="atlas GeoPackage (default: build one)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each import and count (the fastest is shown)")
    ap.add_argument("--browser", action="store_true", help="also time the map in headless Chromium")
    ap.add_argument("--explore", action="store_true", help="also write GeoDataFrame.explore() of the layer")
    args = ap.parse_args()
    print(f"machine load (1, 5, 15 min): {os.getloadavg()}; {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-shapes-") as tmp:
        tmp = Path(tmp)
        gpkg = tmp / "atlas.gpkg"
        if args.gpkg:
            shutil.copyfile(args.gpkg, gpkg)
        else:
            atlas.build(gpkg, products=())
        t = time.perf_counter()
        fp = synthetic_footprints(gpkg, args.footprints)
        src = tmp / "synthetic_footprints.gpkg"
        pyogrio.write_dataframe(fp, src, layer="footprints", driver="GPKG")
        print(f"fixture: {len(fp):,} synthetic footprints, {src.stat().st_size / 1e6:.1f} MB "
              f"({time.perf_counter() - t:.1f} s to make)", flush=True)

        # 1. import against the plain path
        naive_runs, ours_runs = [], []
        for i in range(args.repeat):  # the two sides in turn, so that a change of load falls on both
            naive_runs.append(run([sys.executable, "-c", NAIVE, str(src), str(gpkg), str(tmp / "naive.gpkg")]))
            ours_runs.append(run([sys.executable, "-m", "atlas", "-v", "import", str(src), "--as", "footprints",
                                  "--gpkg", str(gpkg), *(["--replace"] if i else [])]))
        naive_s, naive_mb = min(r[0] for r in naive_runs), max(r[1] for r in naive_runs)
        ours_s, ours_mb, _, log = min(ours_runs, key=lambda r: r[0])
        ours_mb = max(r[1] for r in ours_runs)
        steps = {}
        for line in log.splitlines():  # "atlas: [  12.3 s] keying the names ..."
            if line.startswith("atlas: [") and "s]" in line:
                at, text = line[8:].split("s]", 1)
                steps.setdefault(text.strip().split(" ")[0], float(at))
        print(f"\n1. import of {len(fp):,} footprints (fastest of {args.repeat} runs of each side, taken in turn; "
              f"all runs: plain {', '.join(f'{r[0]:.1f}' for r in naive_runs)} s, atlas "
              f"{', '.join(f'{r[0]:.1f}' for r in ours_runs)} s)")
        print(f"   plain read_file + sjoin(counties) + pyogrio write: {naive_s:6.1f} s  peak {naive_mb:6.0f} MB")
        print(f"   atlas import (checks, repair, area-share admin, name keys): {ours_s:6.1f} s  peak {ours_mb:6.0f} MB")
        print(f"   ratio {ours_s / naive_s:.2f}x time (target <= 3x), {ours_mb / naive_mb:.2f}x memory")
        if {"reading", "keying", "replacing"} <= set(steps):
            keys = steps["replacing"] - steps["keying"]
            print(f"   steps: start-up and checks of the request {steps['reading']:.1f} s; read, check, repair, "
                  f"admin units, write {steps['keying'] - steps['reading']:.1f} s; name keys for atlas find "
                  f"{keys:.1f} s; the rest {ours_s - steps['replacing']:.1f} s")
            print(f"   ratio without the name keys: {(ours_s - keys) / naive_s:.2f}x")

        # 2. counts for every camp
        camps = atlas.read_layer("camps", gpkg)
        camps = camps[camps.geometry.notna() & ~camps.geometry.is_empty].reset_index(drop=True)
        perims = synthetic_perimeters(camps)
        perims.to_file(tmp / "synthetic_perimeters.gpkg")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atlas.import_layer(tmp / "synthetic_perimeters.gpkg", "perims", gpkg=gpkg)
        for label in ("cold", "warm"):
            a = atlas.open_atlas(gpkg) if label == "cold" else a  # noqa: F821 (bound on the cold pass)
            t_near = t_inside = float("inf")
            for _ in range(args.repeat if label == "warm" else 1):
                t = time.perf_counter()
                near = atlas.count_near("footprints", km=5, sites="camps", gpkg=a).reindex(camps["site_id"]).tolist()
                t_near = min(t_near, time.perf_counter() - t)
                t = time.perf_counter()
                inside = atlas.count_inside("perims", "footprints", gpkg=a)
                t_inside = min(t_inside, time.perf_counter() - t)
            if label == "warm":
                t = time.perf_counter()
                one_by_one = [len(atlas.near(p, km=5, layer="footprints", gpkg=a)) for p in camps.geometry]
                print(f"\n   (atlas.near camp by camp, every column of every feature: "
                      f"{time.perf_counter() - t:.2f} s; same counts: {one_by_one == near})")
            print(f"\n2. {label}: within 5 km of each of {len(camps)} camps: {t_near:.2f} s; "
                  f"inside each camp's perimeter: {t_inside:.2f} s (target < 1 s each)")
        oracle, edge = aeqd_counts(fp, camps, 5.0)
        differ = [i for i in range(len(camps)) if abs(near[i] - oracle[i]) > edge[i]]
        print(f"   5 km counts: {sum(near):,} footprints in all; equal to the AEQD oracle for "
              f"{len(camps) - len(differ)} of {len(camps)} camps (within the features < 1 m from the radius)")
        stored = atlas.read_layer("user_perims", gpkg)
        pairs = gpd.sjoin(stored[["user_id", "geometry"]], fp[["geometry"]], predicate="intersects")
        plain = pairs.groupby("user_id").size().reindex(stored["user_id"], fill_value=0)
        same = (plain.to_numpy() == inside.reindex(stored["user_id"]).to_numpy()).all()
        print(f"   perimeter counts: {int(inside.sum()):,} in all; equal to a geopandas sjoin: {bool(same)}")

        # 3. the map
        t = time.perf_counter()
        page = tmp / "atlas_footprints.html"
        run([sys.executable, "-m", "atlas", "-q", "map", "--out", str(page), "--gpkg", str(gpkg)])
        print(f"\n3. atlas map with the layer: {page.stat().st_size / 1e6:.1f} MB (target <= 25 MB), "
              f"written in {time.perf_counter() - t:.1f} s")
        pages = [("atlas map + footprints", page, "window.atlasReady === true", "window.atlas.map", False)]
        if args.explore:
            t = time.perf_counter()
            ex = tmp / "explore.html"
            from atlas.webmap import MAX_MAP_FEATURES

            fp.head(MAX_MAP_FEATURES).explore().save(str(ex))
            print(f"   GeoDataFrame.explore() of the same {min(len(fp), MAX_MAP_FEATURES):,} footprints the map holds: "
                  f"{ex.stat().st_size / 1e6:.1f} MB, written in {time.perf_counter() - t:.1f} s")
            pages.append(("explore()", ex, None, "Object.values(window).find(v => v instanceof L.Map)", True))
        if args.browser:
            sys.path.insert(0, str(Path(__file__).parent))
            from bench_map import measure

            from atlas import _browser

            with _browser.chromium() as browser:
                for label, path, ready, map_js, cdn in pages:
                    r = measure(browser, path, ready, map_js, cdn)
                    print(f"   {label}: interactive in {r['tti_ms'] / 1000:.2f} s, pan+paint {r['pan_ms']:.0f} ms, "
                          f"{r['errors']} page errors")
        pd.set_option("display.width", 120)


if __name__ == "__main__":
    main()
