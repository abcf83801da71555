"""Big user layers on the map (issue 17.2) and user layers that never block the layers under them
(issue 14, map): opened in a real headless Chromium.

Every layer here is synthetic (seeded random points, clearly named), written to temporary folders.
"""

from __future__ import annotations

import json
import math
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import atlas
from atlas import _browser, _packing

from .conftest import close_popup

HOSTILE = ("<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"
           "{{ 7*7 }} ${window.__pwned=3} `tick` 'single' \"double\" &amp; </div>")
READY = "window.atlasReady === true || window.atlasError !== undefined"


def _synthetic_points(n: int, seed: int, avoid: list[tuple[float, float]] = (),
                      avoid_km: float = 15.0) -> gpd.GeoDataFrame:
    """``n`` synthetic points over the DPRK, none within ``avoid_km`` of the (lon, lat) in ``avoid``."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(124.3, 130.6, 2 * n)
    lat = rng.uniform(37.8, 42.9, 2 * n)
    keep = np.ones(lon.size, bool)
    for x, y in avoid:
        dx = (lon - x) * 111.32 * math.cos(math.radians(y))
        dy = (lat - y) * 110.57
        keep &= np.hypot(dx, dy) > avoid_km
    lon, lat = lon[keep][:n], lat[keep][:n]
    return gpd.GeoDataFrame({"synthetic_id": np.arange(n), "name": [f"synthetic site {i}" for i in range(n)],
                             "value": np.round(rng.random(n) * 100, 2)},
                            geometry=gpd.points_from_xy(lon, lat), crs=4326)


def _container_point(page, lat: float, lon: float) -> tuple[float, float]:
    """Page coordinates of a latitude/longitude on the map."""
    box = page.locator(".leaflet-container").bounding_box()
    p = page.evaluate(f"(() => window.atlas.map.latLngToContainerPoint([{lat}, {lon}]))()")
    return box["x"] + p["x"], box["y"] + p["y"]


def _visible_tooltips(page) -> list[str]:
    """Texts of the hover tooltips shown (permanent name labels left out)."""
    return page.evaluate("Array.from(document.querySelectorAll('.leaflet-tooltip.atlas-tip'))"
                         ".filter(e => getComputedStyle(e).display !== 'none' && "
                         "getComputedStyle(e).visibility !== 'hidden' && getComputedStyle(e).opacity !== '0' && "
                         "e.offsetParent !== null)"
                         ".map(e => e.textContent)")


def _tooltips_once(page, text: str, timeout_s: float = 10.0) -> list[str]:
    """The visible tooltips once one holds ``text`` (or after ``timeout_s``).

    The renderer handles the pointer apart from script evaluation, so under load a
    fixed pause can read the page before the hover reaches it; poll instead.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        tips = _visible_tooltips(page)
        if any(text in t for t in tips) or time.monotonic() > deadline:
            return tips
        page.wait_for_timeout(50)


def _popup(page) -> str:
    page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
    return page.inner_text(".leaflet-popup-content")


# --- packing (Python side) ---------------------------------------------------------------------------


def test_packed_columns_round_trip_in_python():
    rng = np.random.default_rng(3)
    n = 3_000
    lon, lat = np.round(rng.uniform(124, 131, n), 6), np.round(rng.uniform(37.5, 43, n), 6)
    cols = {"code": [f"U{i:06d}" for i in range(n)],
            "county": [f"county {i % 40}" for i in range(n)],
            "county_ko": [f"군 {i % 40}" for i in range(n)],
            "score": np.round(rng.uniform(0, 1000, n), 2).tolist(),
            "lat": [_packing._js_text(v) for v in lat.tolist()]}
    packed, consts = _packing.pack_columns(cols, lon, lat)
    by_name = {name: c for c in packed for name in c["names"]}
    assert consts == []
    assert by_name["county"] is by_name["county_ko"] and by_name["county"]["enc"] == "dict"
    values, codes = (_packing.unpack_section(by_name["county"][k]) for k in ("values", "codes"))
    assert [values[0][c] for c in codes] == cols["county"] and [values[1][c] for c in codes] == cols["county_ko"]
    assert by_name["code"]["enc"] == "numbered" and by_name["lat"]["enc"] == "coord"
    score = by_name["score"]
    assert score["enc"] == "int" and score["decimals"] == 2
    assert (_packing.unpack_section(score["data"]) / 100).tolist() == cols["score"]
    xy = _packing.pack_points(lon, lat)
    assert ((xy["x0"] + _packing.unpack_section(xy["x"]).astype(np.int64)) / 1e6).tolist() == lon.tolist()
    # a text the browser would write differently is never stored as a number
    assert _packing._numbers(["12.0", "3"]) is None and _packing._numbers(["1e5", "2"]) is None
    assert _packing._numbers(["-0", "2"]) is None and _packing._numbers(["12", "3.25"])[1] is True


# --- the page --------------------------------------------------------------------------------------------


def test_every_encoding_reads_back_in_the_browser_and_hostile_text_stays_text(browser, gpkg, tmp_path):
    rng = np.random.default_rng(11)
    n = 2_000
    lon, lat = np.round(rng.uniform(124.5, 130.5, n), 6), np.round(rng.uniform(38, 42.5, n), 6)
    names = [HOSTILE if i == 5 else f"synthetic {rng.integers(1e9)}" for i in range(n)]
    frame = gpd.GeoDataFrame({
        "name": names,                                                  # JSON texts
        "user_id": [f"S{i:05d}" for i in range(n)],                     # prefix + number
        "category": [("pit", "adit", HOSTILE, None)[i % 4] for i in range(n)],  # dictionary
        "county": [f"synthetic county {i % 50}" for i in range(n)],
        "county_ko": [f"합성 {i % 50}" for i in range(n)],             # determined by county
        "score": np.round(rng.uniform(-500, 500, n), 3),                 # numbers, 3 decimals
        "lat": [_packing._js_text(v) for v in lat.tolist()],            # the coordinate, as text
        "flag": [bool(i % 3) for i in range(n)],
        "maybe": [float(i) / 7 if i % 5 else None for i in range(n)],   # floats and blanks
        "big": [2**40 + i for i in range(n)],                           # beyond 32 bits
        "when": pd.to_datetime(["2020-01-02", "2021-03-04"] * (n // 2)),
        "file": "synthetic.csv",                                        # one value on every row
    }, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    out = atlas.write_map(tmp_path / "synthetic_encodings.html", gpkg=gpkg,
                          extra_layers={f"Synthetic {HOSTILE}": frame})
    spec = next(la for la in atlas.build_map(gpkg, extra_layers={"x": frame}).atlas_spec["layers"]
                if la["id"].startswith("user:"))
    encs = {name: c["enc"] for c in spec["cols"] for name in c["names"]}
    assert {encs["name"], encs["user_id"], encs["category"], encs["county_ko"], encs["score"], encs["lat"],
            encs["big"]} == {"json", "numbered", "dict", "int", "coord"}
    assert [k for k, _ in spec["consts"]] == ["file"]
    with _browser.open_page(out, browser=browser, wait_for=READY) as s:
        page = s.page
        assert page.evaluate("window.atlasError === undefined")
        lid = page.evaluate("Object.keys(window.atlasLayers).find(k => k.startsWith('user:'))")
        rows = [0, 1, 5, 7, 1234, n - 1]
        got = page.evaluate(f"[{','.join(map(str, rows))}].map(i => window.atlasLayers['{lid}'].atlasPoints.record(i))")
        for i, rec in zip(rows, got):
            want = [[c, v] for c, v in ((c, _packing.json_values(frame[c].to_numpy())[i])
                                        for c in frame.columns if c not in ("geometry", "file"))
                    if v is not None and v != ""]
            assert [k for k, _ in rec] == [k for k, _ in want], i
            for (k, g), (_, w) in zip(rec, want):
                # a whole float comes back from the page as an int: compare the values then
                assert g == w and (type(g) is type(w) or isinstance(w, float)), (i, k, g, w)
        # the hostile row: hover and click show it as text, nothing runs
        page.evaluate(f"() => {{ window.atlas.map.setView([{lat[5]}, {lon[5]}], 16, {{animate: false}}); }}")
        x, y = _container_point(page, lat[5], lon[5])
        page.mouse.move(x, y)
        page.wait_for_selector(".atlas-user-tip", timeout=5_000)
        assert any(HOSTILE in t for t in _visible_tooltips(page))
        page.mouse.click(x, y)
        text = _popup(page)
        assert HOSTILE in text and "synthetic.csv" in text and f"Synthetic {HOSTILE}" in text
        assert page.locator(".leaflet-popup-content script, .leaflet-popup-content img, "
                            ".leaflet-tooltip script, .leaflet-tooltip img").count() == 0
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert s.blocked == [] and s.console_errors == [] and s.page_errors == []


def test_200000_point_page_loads_and_a_point_answers_hover_and_click(browser, gpkg, tmp_path):
    pts = _synthetic_points(200_000, seed=200)
    out = atlas.write_map(tmp_path / "synthetic_200k.html", gpkg=gpkg, extra_layers={"Synthetic points": pts},
                          density=False, chips=False)
    assert out.stat().st_size < 6_000_000  # the limit (the benchmark prints the figure)
    with _browser.open_page(out, browser=browser, wait_for=READY, timeout_ms=120_000) as s:
        page = s.page
        assert page.evaluate("window.atlasError === undefined")
        layer = "window.atlasLayers['user:0']"
        assert page.evaluate(f"{layer}.atlasCount()") == 200_000
        assert page.evaluate(f"{layer}.atlasPoints.drawnCount") > 150_000  # the whole layer in view
        assert page.locator("path.leaflet-interactive, .leaflet-marker-icon").count() < 500  # no object per point
        k = 123_456
        target = pts.iloc[k]
        got = page.evaluate(f"(() => {{ const ll = {layer}.atlasPoints.latLng({k}); return [ll.lat, ll.lng]; }})()")
        assert got == pytest.approx([target.geometry.y, target.geometry.x], abs=6e-7)
        page.evaluate(f"() => {{ window.atlas.map.setView([{target.geometry.y}, {target.geometry.x}], 17,"
                      " {animate: false}); }")
        # the canvas is painted in the layer's colour under the point
        px = page.evaluate(f"""(() => {{
            const c = document.querySelector('.atlas-points-canvas'), r = c.getBoundingClientRect();
            const p = window.atlas.map.latLngToContainerPoint([{target.geometry.y}, {target.geometry.x}]);
            const m = window.atlas.map.getContainer().getBoundingClientRect(), s = c.width / r.width;
            const d = c.getContext('2d').getImageData(Math.round((p.x + m.left - r.left) * s),
                                                      Math.round((p.y + m.top - r.top) * s), 1, 1).data;
            return Array.from(d); }})()""")
        assert px == [0x0b, 0x72, 0x85, 255]
        x, y = _container_point(page, target.geometry.y, target.geometry.x)
        page.mouse.move(x + 2, y + 1)
        page.wait_for_selector(".atlas-user-tip", timeout=5_000)
        assert any(f"synthetic site {k}" in t for t in _visible_tooltips(page))
        assert page.evaluate("document.querySelector('.leaflet-container').classList"
                             ".contains('atlas-on-user-point')")
        page.mouse.click(x + 2, y + 1)
        text = _popup(page)
        assert "Synthetic points" in text and f"synthetic site {k}" in text
        assert f"{target['value']:g}" in text and str(k) in text
        # away from every point: no tooltip, a click opens nothing of the layer
        close_popup(page)
        page.mouse.move(x + 200, y + 150)
        page.wait_for_selector(".atlas-user-tip", state="hidden", timeout=10_000)  # the hover has left
        assert not any("Synthetic points" in t for t in _visible_tooltips(page))
        assert s.blocked == [] and s.console_errors == [] and s.page_errors == []


def test_user_points_never_block_provinces_counties_camps_and_mines(browser, gpkg, layers, tmp_path):
    prov = layers["provinces"]
    hamgyong = prov[prov["name_en"].str.contains("South Hamgyong")].geometry.iloc[0]
    probe = hamgyong.representative_point()
    camps = layers["camps"][~(layers["camps"].geometry.isna() | layers["camps"].geometry.is_empty)]
    camp = camps[camps["site_id"] == "KLS-15"].iloc[0]
    mine = layers["mines"][~layers["mines"].geometry.is_empty].iloc[0]
    mine_pt = mine.geometry
    mine_p = probe.x + 0.6, probe.y - 0.3  # a user point of our own, away from the others
    avoid = [(probe.x, probe.y), (camp.geometry.x, camp.geometry.y), mine_p, (mine_pt.x, mine_pt.y)]
    pts = _synthetic_points(50_000, seed=14, avoid=avoid)
    mine_row = gpd.GeoDataFrame({"synthetic_id": [-1], "name": ["synthetic marked site"], "value": [1.0]},
                                geometry=[shapely.Point(*mine_p)], crs=4326)
    pts = pd.concat([pts, mine_row], ignore_index=True)
    out = atlas.write_map(tmp_path / "synthetic_50k_pointer.html", gpkg=gpkg,
                          extra_layers={"Synthetic points": pts}, density=False, chips=False)
    cnty = layers["counties"]
    county = cnty[cnty.geometry.contains(probe)]["name_en"].iloc[0]
    with _browser.open_page(out, browser=browser, wait_for=READY, timeout_ms=60_000) as s:
        page = s.page
        page.evaluate(f"() => {{ window.atlas.map.setView([{probe.y}, {probe.x}], 8, {{animate: false}}); }}")
        # the province: the element under the pointer is the province, not a canvas
        x, y = _container_point(page, probe.y, probe.x)
        under = page.evaluate(f"document.elementFromPoint({x}, {y}).tagName")
        assert under.lower() == "path"
        page.mouse.move(x, y)
        tips = _tooltips_once(page, "South Hamgyong")
        assert any("South Hamgyong" in t for t in tips), tips
        assert not any("Synthetic points" in t for t in tips)
        page.mouse.click(x, y)
        assert "South Hamgyong" in _popup(page)
        close_popup(page)
        # a county, drawn over the province: its own tooltip
        page.evaluate("() => { window.atlas.map.addLayer(window.atlasLayers.counties); }")
        page.mouse.move(0, 0)
        page.mouse.move(x, y)
        assert any(county in t for t in _tooltips_once(page, county)), county
        page.evaluate("() => { window.atlas.map.removeLayer(window.atlasLayers.counties); }")
        # a user point: its own tooltip (the province's hidden) and its own popup
        x, y = _container_point(page, mine_p[1], mine_p[0])
        page.mouse.move(x + 1, y)
        page.wait_for_selector(".atlas-user-tip", timeout=5_000)
        tips = _visible_tooltips(page)
        assert any("synthetic marked site" in t for t in tips), tips
        assert not any("mines reported" in t for t in tips)
        page.mouse.click(x + 1, y)
        text = _popup(page)
        assert "synthetic marked site" in text and "South Hamgyong" not in text
        close_popup(page)
        # a camp and a mine, drawn above the user points: theirs
        for lat, lon, name in ((camp.geometry.y, camp.geometry.x, camp["name"]),
                               (mine_pt.y, mine_pt.x, mine["name"])):
            page.evaluate(f"() => {{ window.atlas.map.setView([{lat}, {lon}], 9, {{animate: false}}); }}")
            page.mouse.move(0, 0)
            x, y = _container_point(page, lat, lon)
            page.mouse.move(x, y)
            tips = _tooltips_once(page, name)
            assert any(name in t for t in tips), (name, tips)
            page.mouse.click(x, y)
            assert name in _popup(page)
            close_popup(page)
        assert json.loads(json.dumps(s.page_errors)) == [] and s.console_errors == []


def test_a_browser_that_cannot_unpack_says_so_and_keeps_the_rest_of_the_map(browser, gpkg, tmp_path):
    pts = _synthetic_points(1_000, seed=9)
    out = atlas.write_map(tmp_path / "synthetic_old_browser.html", gpkg=gpkg, extra_layers={"Synthetic points": pts})
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script("delete window.DecompressionStream;")  # as in a browser from before 2023
        page.goto(out.resolve().as_uri())
        page.wait_for_function("() => window.atlasError !== undefined", timeout=30_000)
        assert "could not be unpacked in this browser" in page.inner_text(".atlas-legend")
        assert page.evaluate("window.atlasLayers.camps.getLayers().length") > 20  # the atlas's own layers
    finally:
        context.close()
