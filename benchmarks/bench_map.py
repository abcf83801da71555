"""Benchmark: the atlas map with a 50,000-point user layer, against GeoDataFrame.explore().

Run:  python benchmarks/bench_map.py [--points 50000] [--repeat 3]

Prints, for each page: file size, time to write it, and time to interactive in
headless Chromium (``performance.now()`` when the page's own script has run
and two animation frames have been painted, i.e. the main thread is free),
plus the time a pan/zoom takes to paint once the page is up.

The points are synthetic (uniform random inside a box over the DPRK, seeded),
written to a temporary folder only. ``explore()`` loads Leaflet, jQuery,
Bootstrap and Font Awesome from CDNs; there is no network here, so its Leaflet
requests are answered from the same ``xstatic-leaflet`` files the atlas
inlines and its other CDN requests are aborted (none is needed to draw).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

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
            page.wait_for_function(ready_js, timeout=300_000)
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
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gpkg", type=Path, default=None, help="atlas GeoPackage (default: build one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-map-") as tmp:
        tmp = Path(tmp)
        gpkg = args.gpkg or (atlas.default_gpkg() if atlas.default_gpkg().is_file()
                             else atlas.build(tmp / "atlas.gpkg", products=()))
        pts = synthetic_points(args.points)
        t = time.perf_counter()
        ours = atlas.write_map(tmp / "atlas_50k.html", gpkg=gpkg, extra_layers={"Synthetic points": pts},
                               density=False, chips=False)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        explore = tmp / "explore_50k.html"
        pts.explore().save(str(explore))
        t_explore = time.perf_counter() - t
        base = atlas.write_map(tmp / "atlas_base.html", gpkg=gpkg, density=False, chips=False)
        rows = []
        with _browser.chromium() as browser:
            for label, path, ready, map_js, cdn, t_write in (
                ("atlas map, no user layer", base, "window.atlasReady === true", "window.atlas.map", False, None),
                (f"atlas map + {args.points:,} points", ours, "window.atlasReady === true",
                 "window.atlas.map", False, t_ours),
                (f"GeoDataFrame.explore(), {args.points:,} points", explore, None,
                 "Object.values(window).find(v => v instanceof L.Map)", True, t_explore),
            ):
                runs = [measure(browser, path, ready, map_js, cdn) for _ in range(args.repeat)]
                rows.append((label, path.stat().st_size, t_write, runs))
        print(f"{'page':<38} {'size MB':>8} {'write s':>8} {'interactive s':>14} {'pan+paint ms':>13} "
              f"{'errors':>6} {'SVG paths/canvases':>18}")
        for label, size, t_write, runs in rows:
            tti = statistics.median(r["tti_ms"] for r in runs) / 1000
            pan = statistics.median(r["pan_ms"] for r in runs)
            errs = max(r["errors"] for r in runs)
            tw = f"{t_write:8.1f}" if t_write is not None else f"{'':>8}"
            print(f"{label:<38} {size / 1e6:8.2f} {tw} {tti:14.2f} {pan:13.0f} {errs:>6} {runs[0]['drawn']:>18}")
        print(f"(median of {args.repeat} runs each; headless Chromium {_browser.CHROMIUM}; "
              f"explore() served Leaflet locally, other CDN files aborted)")


if __name__ == "__main__":
    main()
