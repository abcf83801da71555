"""Benchmark: the atlas map with a big user layer, against GeoDataFrame.explore().

Run:  python benchmarks/bench_map.py [--points 50000 200000] [--repeat 3] [--explore-repeat 1]

For each size, three pages: the atlas map with the points passed as
``extra_layers``; the atlas map with the same points imported from a CSV
(``atlas.import_layer``: name, lat, lon, category, value; the import adds its
own columns, as a user's import does); and ``GeoDataFrame.explore()`` of the
points. Printed per page: file size, time to write it, time to interactive in
headless Chromium (``performance.now()`` when the page's own script has run,
its user layers are decoded and two animation frames have been painted, i.e.
the main thread is free), and the time a pan/zoom (``setView`` to zoom 9)
takes to paint once the page is up.

The points are synthetic (uniform random inside a box over the DPRK, seeded),
written to a temporary folder only. ``explore()`` loads Leaflet, jQuery,
Bootstrap and Font Awesome from CDNs; there is no network here, so its Leaflet
requests are answered from the same ``xstatic-leaflet`` files the atlas
inlines and its other CDN requests are aborted (none is needed to draw).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

import atlas
from atlas import _assets, _browser

READY_MS = ("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() =>"
            " r(performance.now()))))")
PAN_MS = ("() => new Promise(r => { const m = window.__benchMap; const t = performance.now();"
          " m.setView([40.6, 127.8], 9, {animate: false});"
          " requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now() - t))); })")


def synthetic_points(n: int, seed: int = 50_000) -> gpd.GeoDataFrame:
    """``n`` synthetic points over the DPRK with a few attributes."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(124.3, 130.6, n)
    lat = rng.uniform(37.8, 42.9, n)
    return gpd.GeoDataFrame(
        {"synthetic_id": np.arange(n), "name": [f"synthetic site {i}" for i in range(n)],
         "value": np.round(rng.random(n) * 100, 2)},
        geometry=gpd.points_from_xy(lon, lat), crs=4326)


CATEGORIES = ("mine entrance", "spoil heap", "guard post", "housing block", "rail siding",
              "conveyor", "pond", "unknown")


def synthetic_csv(pts: gpd.GeoDataFrame, path: Path, seed: int = 17) -> Path:
    """The points as a CSV a user might bring: name, lat, lon, category, value."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"name": pts["name"], "lat": pts.geometry.y.round(6), "lon": pts.geometry.x.round(6),
                          "category": np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), len(pts))],
                          "value": pts["value"]})
    frame.to_csv(path, index=False)
    return path


def _serve_leaflet(route) -> None:
    url = route.request.url
    if "leaflet" in url and url.endswith("leaflet.js") and "awesome" not in url:
        route.fulfill(body=_assets.leaflet_js(), content_type="application/javascript")
    elif "leaflet" in url and url.endswith("leaflet.css") and "awesome" not in url:
        route.fulfill(body=_assets.leaflet_css(), content_type="text/css")
    else:
        route.abort()


def measure(browser, path: Path, ready_js: str | None, map_js: str, cdn: bool) -> dict:
    """Open the page once; return time to interactive, pan time and error counts."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        url = path.resolve().as_uri()
        context.route("**/*", lambda r: r.continue_() if r.request.url == url else
                      (_serve_leaflet(r) if cdn else r.abort()))
        t0 = time.perf_counter()
        page.goto(url, wait_until="load", timeout=300_000)
        if ready_js:
            page.wait_for_function(f"() => ({ready_js})", timeout=300_000)  # (no eval under the CSP)
        tti = page.evaluate(READY_MS)
        wall = time.perf_counter() - t0
        page.evaluate(f"() => {{ window.__benchMap = {map_js}; }}")
        pan = page.evaluate(PAN_MS)
        drawn = page.evaluate("document.querySelectorAll('path.leaflet-interactive').length + "
                              "document.querySelectorAll('canvas').length")
        return {"tti_ms": tti, "wall_s": wall, "pan_ms": pan, "errors": len(errors), "drawn": drawn}
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--repeat", type=int, default=3, help="page loads per atlas page (median)")
    parser.add_argument("--explore-repeat", type=int, default=1,
                        help="page loads per explore() page (0: skip explore())")
    parser.add_argument("--gpkg", type=Path, default=None, help="atlas GeoPackage (default: build one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-map-") as tmp:
        tmp = Path(tmp)
        gpkg = args.gpkg or (atlas.default_gpkg() if atlas.default_gpkg().is_file()
                             else atlas.build(tmp / "atlas.gpkg", products=()))
        base = atlas.write_map(tmp / "atlas_base.html", gpkg=gpkg, density=False, chips=False)
        pages = [("atlas map, no user layer", base, None, "atlas", args.repeat)]
        for n in args.points:
            pts = synthetic_points(n)
            t = time.perf_counter()
            ours = atlas.write_map(tmp / f"atlas_{n}.html", gpkg=gpkg, extra_layers={"Synthetic points": pts},
                                   density=False, chips=False)
            pages.append((f"atlas map + {n:,} points", ours, time.perf_counter() - t, "atlas", args.repeat))
            copy = tmp / f"atlas_{n}.gpkg"
            shutil.copyfile(gpkg, copy)
            csv_path = synthetic_csv(pts, tmp / f"synthetic_{n}.csv")
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # points at sea or in China: kept and flagged
                atlas.import_layer(csv_path, "synthetic_sites", gpkg=copy)
            t_import = time.perf_counter() - t
            t = time.perf_counter()
            imported = atlas.write_map(tmp / f"atlas_{n}_csv.html", gpkg=copy, density=False, chips=False)
            pages.append((f"atlas map + {n:,} imported from CSV (import {t_import:.1f} s)", imported,
                          time.perf_counter() - t, "atlas", args.repeat))
            if args.explore_repeat:
                t = time.perf_counter()
                explore = tmp / f"explore_{n}.html"
                pts.explore().save(str(explore))
                pages.append((f"GeoDataFrame.explore(), {n:,} points", explore, time.perf_counter() - t,
                              "explore", args.explore_repeat))
        rows = []
        with _browser.chromium() as browser:
            for label, path, t_write, kind, repeat in pages:
                if kind == "atlas":
                    runs = [measure(browser, path, "window.atlasReady === true", "window.atlas.map", False)
                            for _ in range(repeat)]
                else:
                    runs = [measure(browser, path, None, "Object.values(window).find(v => v instanceof L.Map)",
                                    True) for _ in range(repeat)]
                rows.append((label, path.stat().st_size, t_write, runs))
                print(f"measured: {label}", file=sys.stderr, flush=True)
        print(f"{'page':<52} {'size MB':>8} {'write s':>8} {'interactive s':>14} {'pan+paint ms':>13} "
              f"{'errors':>6} {'SVG paths/canvases':>18}")
        for label, size, t_write, runs in rows:
            tti = statistics.median(r["tti_ms"] for r in runs) / 1000
            pan = statistics.median(r["pan_ms"] for r in runs)
            errs = max(r["errors"] for r in runs)
            tw = f"{t_write:8.1f}" if t_write is not None else f"{'':>8}"
            print(f"{label:<52} {size / 1e6:8.2f} {tw} {tti:14.2f} {pan:13.0f} {errs:>6} {runs[0]['drawn']:>18}")
        print(f"(median of {args.repeat} runs per atlas page, {args.explore_repeat} per explore() page; "
              f"headless Chromium {_browser.CHROMIUM}; explore() served Leaflet locally, other CDN files aborted)")


if __name__ == "__main__":
    main()
