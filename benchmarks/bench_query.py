"""Benchmark: near()/nearest() and assign_admin() on 10^4, 10^5 and 10^6 synthetic points.

Run ``python benchmarks/bench_query.py [--sizes 10000 100000 1000000] [--gpkg PATH]``.
The synthetic points are uniform in the DPRK bounding box and exist only in
memory (nothing is written under ``output/`` or ``geodata/``). Per size it
prints:

* ``SpatialIndex`` build time and memory (RSS growth; tracemalloc peak of the
  Python/numpy part);
* one ``atlas.near(site, km=25)`` query after indexing: median and 95th
  percentile over random sites, and the core index query alone;
* the same query as a brute-force geodesic scan (``pyproj.Geod.inv`` to every
  point), and as ``geopandas.sjoin(predicate="dwithin")`` with the sindex
  already built (planar, so not the same answer: a speed reference);
* ``atlas.nearest(site, k=1)`` against ``geopandas.sjoin_nearest``;
* ``atlas.assign_admin()`` (warm: boundaries cached; cold: first call) against
  a plain ``geopandas.sjoin(points, counties, predicate="within")`` in the same
  run, and against the previous sjoin-based implementation of ``join_admin``.

Targets (issue 3): one near() query over 10^6 points under 50 ms after
indexing; assign_admin(10^6) no slower than a plain geopandas.sjoin.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Geod

import atlas
import atlas.store
from atlas import admin, distance, io

DPRK_BBOX = (124.2, 37.6, 130.7, 43.0)
GEOD = Geod(ellps="WGS84")


def rss_mb() -> float:
    """Resident memory of this process (MB), from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def synthetic(n: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(DPRK_BBOX[0], DPRK_BBOX[2], n)
    y = rng.uniform(DPRK_BBOX[1], DPRK_BBOX[3], n)
    return gpd.GeoDataFrame({"synthetic_id": np.arange(n)}, geometry=gpd.points_from_xy(x, y),
                            crs="EPSG:4326")


def timed(func, repeat: int = 1) -> tuple[float, object]:
    """Median wall time (s) of ``repeat`` calls and the last result."""
    times, out = [], None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def bench_near(n: int, queries: int, km: float) -> dict:
    pts = synthetic(n, seed=n)
    rng = np.random.default_rng(7)
    sites = list(zip(rng.uniform(125.0, 129.5, queries), rng.uniform(38.5, 42.0, queries)))
    gc.collect()
    rss0 = rss_mb()
    tracemalloc.start()
    t = time.perf_counter()
    index = distance.SpatialIndex(pts)
    build = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_index = rss_mb() - rss0

    api, core, found = [], [], []
    for lon, lat in sites:
        t = time.perf_counter()
        res = atlas.near((lon, lat), km=km, layer=index)
        api.append(time.perf_counter() - t)
        found.append(len(res))
        t = time.perf_counter()
        index.query(shapely.Point(lon, lat), km)
        core.append(time.perf_counter() - t)

    # brute force: every point measured on the ellipsoid
    lon_all, lat_all = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
    brute = []
    for lon, lat in sites[: max(3, queries // 20)]:
        t = time.perf_counter()
        _, _, d = GEOD.inv(np.full(n, lon), np.full(n, lat), lon_all, lat_all)
        hits = np.flatnonzero(d <= km * 1000)
        hits[np.argsort(d[hits])]
        brute.append(time.perf_counter() - t)

    # geopandas: the same radius as a planar dwithin sjoin, sindex built beforehand
    planar = pts.to_crs(5179)
    t = time.perf_counter()
    planar.sindex  # noqa: B018 - builds the index
    gpd_build = time.perf_counter() - t
    gj, gn, an = [], [], []
    for lon, lat in sites[: max(5, queries // 4)]:
        site = gpd.GeoDataFrame(geometry=[shapely.Point(lon, lat)], crs=4326).to_crs(5179)
        t = time.perf_counter()
        gpd.sjoin(site, planar, predicate="dwithin", distance=km * 1000)
        gj.append(time.perf_counter() - t)
        t = time.perf_counter()
        gpd.sjoin_nearest(site, planar)
        gn.append(time.perf_counter() - t)
        t = time.perf_counter()
        atlas.nearest((lon, lat), index, k=1)
        an.append(time.perf_counter() - t)
    del index, planar
    gc.collect()
    med = statistics.median
    return {
        "n": n, "build": build, "rss_mb": rss_index, "tracemalloc_mb": peak / 2**20,
        "near_median": med(api), "near_p95": float(np.percentile(api, 95)),
        "core_median": med(core), "found_median": med(found),
        "brute_median": med(brute), "gpd_build": gpd_build, "sjoin_dwithin_median": med(gj),
        "sjoin_nearest_median": med(gn), "nearest_median": med(an), "queries": len(api),
    }


def bench_admin(n: int, gpkg: Path, repeat: int, old: bool) -> dict:
    pts = synthetic(n, seed=n + 1)
    counties = atlas.read_layer("counties", gpkg)
    provinces = atlas.read_layer("provinces", gpkg)
    atlas.store._OPEN.clear()  # cold: the atlas opened anew, its admin units not yet built
    cold, _ = timed(lambda: atlas.assign_admin(pts, gpkg), 1)
    warm, plain = [], []
    for _ in range(repeat):  # interleaved, so both see the same machine load
        warm.append(timed(lambda: atlas.assign_admin(pts, gpkg))[0])
        plain.append(timed(lambda: gpd.sjoin(pts, counties[["geometry"]], predicate="within",
                                             how="left"))[0])
    plain_prov = timed(lambda: gpd.sjoin(pts, provinces[["geometry"]], predicate="within",
                                         how="left"), repeat)[0]
    row = {"n": n, "cold": cold, "warm": statistics.median(warm), "sjoin": statistics.median(plain),
           "sjoin_provinces": plain_prov, "old": float("nan")}
    if old:  # the previous join_admin: sjoin 'within', then sjoin_nearest, in EPSG:5179
        def previous():
            p = gpd.GeoSeries(pts.geometry.to_crs(admin.PLANAR_CRS).to_numpy(), crs=admin.PLANAR_CRS)
            admin._nearest_index(p, provinces.to_crs(admin.PLANAR_CRS), admin.TOLERANCE_KM)
            admin._nearest_index(p, counties.to_crs(admin.PLANAR_CRS), admin.TOLERANCE_KM)

        row["old"] = timed(previous, 1)[0]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200, help="near() queries per size")
    ap.add_argument("--km", type=float, default=25.0)
    ap.add_argument("--repeat", type=int, default=5, help="assign_admin/sjoin repetitions")
    ap.add_argument("--no-old", action="store_true", help="skip the previous join_admin (slow)")
    ap.add_argument("--gpkg", type=Path, default=None)
    args = ap.parse_args(argv)
    gpkg = Path(args.gpkg or io.default_gpkg())
    atlas.list_layers(gpkg)  # a clear error when the atlas is not built

    print(f"# bench_query: {sys.version.split()[0]}, geopandas {gpd.__version__}, "
          f"shapely {shapely.__version__} (GEOS {shapely.geos_version_string}), "
          f"numpy {np.__version__}; radius {args.km:g} km\n")
    near_rows = []
    for n in args.sizes:
        r = bench_near(n, args.queries, args.km)
        near_rows.append(r)
        print(f"near n={n:,}: build {ms(r['build'])}, near() median {ms(r['near_median'])} "
              f"(p95 {ms(r['near_p95'])}), brute {ms(r['brute_median'])}", flush=True)
    admin_rows = []
    for n in args.sizes:
        r = bench_admin(n, gpkg, args.repeat, old=not args.no_old)
        admin_rows.append(r)
        print(f"assign_admin n={n:,}: warm {ms(r['warm'])}, cold {ms(r['cold'])}, "
              f"plain sjoin {ms(r['sjoin'])}", flush=True)

    print("\n## near(): one query, after indexing\n")
    print("| points | index build | index memory (RSS) | near() median | near() p95 | "
          "features found (median) | brute-force geodesic scan | ratio brute/near | "
          "geopandas sjoin dwithin (planar) | nearest(k=1) | geopandas sjoin_nearest |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in near_rows:
        print(f"| {r['n']:,} | {ms(r['build'])} | {r['rss_mb']:,.0f} MB | {ms(r['near_median'])} | "
              f"{ms(r['near_p95'])} | {r['found_median']:,.0f} | {ms(r['brute_median'])} | "
              f"{r['brute_median'] / r['near_median']:,.0f}x | {ms(r['sjoin_dwithin_median'])} | "
              f"{ms(r['nearest_median'])} | {ms(r['sjoin_nearest_median'])} |")
    print("\n## assign_admin(): province and county of every point\n")
    print("| points | assign_admin (boundaries cached) | assign_admin (first call) | "
          "plain geopandas.sjoin to counties | ratio sjoin/assign_admin | "
          "plain sjoin to provinces | previous join_admin (sjoin + sjoin_nearest) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in admin_rows:
        old = "" if np.isnan(r["old"]) else ms(r["old"])
        print(f"| {r['n']:,} | {ms(r['warm'])} | {ms(r['cold'])} | {ms(r['sjoin'])} | "
              f"{r['sjoin'] / r['warm']:.2f}x | {ms(r['sjoin_provinces'])} | {old} |")

    big = [r for r in near_rows if r["n"] >= 1_000_000]
    big_a = [r for r in admin_rows if r["n"] >= 1_000_000]
    print()
    if big:
        ok = big[-1]["near_median"] < 0.050
        print(f"target near() over 10^6 points < 50 ms: {'met' if ok else 'NOT met'} "
              f"({ms(big[-1]['near_median'])})")
    if big_a:
        ok = big_a[-1]["warm"] <= big_a[-1]["sjoin"]
        print(f"target assign_admin(10^6) no slower than plain sjoin: {'met' if ok else 'NOT met'} "
              f"({ms(big_a[-1]['warm'])} vs {ms(big_a[-1]['sjoin'])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
