"""Line and polygon user layers: every format in, repaired or refused, admin units by share, exports.

Every fixture is synthetic, written into pytest's temporary folders: squares and
lines drawn around the atlas's own camp and mine points (real places), a bow tie
(an invalid polygon), a polygon of a million vertices, a file mixing families.
"""

from __future__ import annotations

import itertools
import warnings
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import atlas
from atlas.errors import InputError

from .conftest import sha256


@pytest.fixture(scope="module")
def synthetic_shapes(layers) -> dict[str, gpd.GeoDataFrame]:
    """Synthetic polygons (squares of ~1 km around camp points, one across a county line) and lines."""
    camps = layers["camps"]
    pts = camps[camps.geometry.notna() & ~camps.geometry.is_empty].geometry.head(6).to_numpy()
    squares = [shapely.box(p.x - 0.006, p.y - 0.005, p.x + 0.006, p.y + 0.005) for p in pts]
    counties = layers["counties"].to_crs(4326)
    border = shapely.get_coordinates(counties.geometry.iloc[10].exterior if counties.geometry.iloc[10].geom_type
                                     == "Polygon" else counties.geometry.iloc[10].geoms[0].exterior)[0]
    squares.append(shapely.box(border[0] - 0.02, border[1] - 0.01, border[0] + 0.03, border[1] + 0.02))
    polygons = gpd.GeoDataFrame({"name": [f"synthetic block {i}" for i in range(len(squares))],
                                 "storeys": np.arange(len(squares))}, geometry=squares, crs=4326)
    mines = layers["mines"]
    mp = mines[mines.geometry.notna()].geometry.head(5).to_numpy()
    lines = [shapely.LineString([(a.x, a.y), (b.x, b.y)]) for a, b in itertools.pairwise(mp)]
    lines.append(shapely.MultiLineString([[(126.0, 39.0), (126.05, 39.02)], [(126.1, 39.0), (126.1, 39.1)]]))
    lines = gpd.GeoDataFrame({"name": [f"synthetic track {i}" for i in range(len(lines))]},
                             geometry=lines, crs=4326)
    return {"polygons": polygons, "lines": lines}


def _write(gdf: gpd.GeoDataFrame, fmt: str, folder) -> object:
    """The synthetic layer written in one format the importer reads."""
    if fmt == "gpkg":
        path = folder / "synthetic.gpkg"
        gdf.to_file(path, driver="GPKG")
    elif fmt == "geojson":
        path = folder / "synthetic.geojson"
        gdf.to_file(path, driver="GeoJSON")
    elif fmt in ("kml", "kmz"):
        kml = folder / "synthetic.kml"
        pyogrio.write_dataframe(gdf, kml, driver="KML")
        path = kml
        if fmt == "kmz":
            path = folder / "synthetic.kmz"
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
                z.write(kml, "doc.kml")
    elif fmt == "shp-zip":
        shp = folder / "shp" / "synthetic.shp"
        shp.parent.mkdir()
        gdf.to_file(shp)
        path = folder / "synthetic_shp.zip"
        with zipfile.ZipFile(path, "w") as z:
            for part in shp.parent.iterdir():
                z.write(part, part.name)
    elif fmt == "parquet":
        path = folder / "synthetic.parquet"
        gdf.to_parquet(path)
    else:  # csv with a WKT column
        path = folder / "synthetic.csv"
        pd.DataFrame({"name": gdf["name"], "wkt": gdf.geometry.to_wkt(rounding_precision=-1)}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("family", ["polygons", "lines"])
@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "csv", "kml", "kmz", "shp-zip", "parquet"])
def test_every_format_imports_lines_and_polygons(atlas_copy, synthetic_shapes, tmp_path, fmt, family):
    given = synthetic_shapes[family]
    path = _write(given, fmt, tmp_path)
    out = atlas.import_layer(path, f"syn_{family}", gpkg=atlas_copy).sort_values("source_row")
    assert len(out) == len(given)
    assert set(out.geom_type) == {"MultiPolygon" if family == "polygons" else "MultiLineString"}
    assert out["name"].tolist() == given["name"].tolist()
    # the same shapes (to a millimetre; a Shapefile turns rings clockwise), whatever the format
    multi = shapely.multipolygons if family == "polygons" else shapely.multilinestrings
    same = [shapely.normalize(a).equals_exact(shapely.normalize(shapely.force_2d(
                b if b.geom_type.startswith("Multi") else multi([b]))), 1e-8)
            for a, b in zip(out.geometry, given.geometry)]
    assert all(same)
    assert out["province"].notna().all() and (out["outside_dprk_km"] == 0).all()


def _oracle_admin(gdf: gpd.GeoDataFrame, units: gpd.GeoDataFrame, key: str, measure: str) -> list:
    """A plain geopandas overlay: the unit holding the largest area (or length) of each feature."""
    left = gdf.assign(_row=np.arange(len(gdf)))[["_row", "geometry"]].to_crs(5179)
    pieces = gpd.overlay(left, units[[key, "geometry"]].to_crs(5179), how="intersection", keep_geom_type=True)
    pieces["m"] = pieces.area if measure == "area" else pieces.length
    best = pieces.sort_values(["_row", "m"], ascending=[True, False]).drop_duplicates("_row").set_index("_row")
    return [best[key].get(i) for i in range(len(gdf))]


@pytest.mark.parametrize("family", ["polygons", "lines"])
def test_admin_units_by_largest_share_equal_a_geopandas_overlay(atlas_copy, synthetic_shapes, layers, tmp_path,
                                                                family):
    given = synthetic_shapes[family]
    out = atlas.import_layer(_write(given, "gpkg", tmp_path), "shares", gpkg=atlas_copy).sort_values("source_row")
    measure = "area" if family == "polygons" else "length"
    assert out["county_id"].tolist() == _oracle_admin(given, layers["counties"], "county_id", measure)
    assert out["province"].tolist() == _oracle_admin(given, layers["provinces"], "name_en", measure)
    if family == "polygons":  # the square drawn across a county line: counted where most of it lies
        assert out["admin_method"].iloc[-1] == "within"


def test_county_summary_counts_polygons_where_the_import_put_them(atlas_copy, synthetic_shapes, tmp_path):
    atlas.import_layer(_write(synthetic_shapes["polygons"], "gpkg", tmp_path), "blocks", gpkg=atlas_copy)
    stored = atlas.read_layer("user_blocks", atlas_copy)["county_id"].value_counts()
    summary = atlas.county_summary(atlas_copy)
    counted = summary[summary["county_id"].astype(str) != ""].set_index("county_id")["user_blocks"]
    counted = counted[counted > 0]
    assert counted.sort_index().to_dict() == stored.sort_index().to_dict()


def test_invalid_polygon_repaired_and_reported(atlas_copy, synthetic_shapes, tmp_path):
    gdf = synthetic_shapes["polygons"].head(3).copy()
    x, y = gdf.geometry.iloc[1].centroid.coords[0]
    bowtie = shapely.Polygon([(x - .01, y - .01), (x + .01, y + .01), (x + .01, y - .01), (x - .01, y + .01)])
    gdf.loc[gdf.index[1], "geometry"] = bowtie
    assert not bowtie.is_valid
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = atlas.import_layer(_write(gdf, "geojson", tmp_path), "repaired", gpkg=atlas_copy)
    text = " ".join(str(w.message) for w in caught)
    assert "1 invalid polygon(s) repaired with shapely.make_valid (rows 2)" in text
    fixed = out.sort_values("source_row").geometry.iloc[1]
    assert fixed.is_valid and len(fixed.geoms) == 2
    assert fixed.area == pytest.approx(shapely.make_valid(bowtie).area)


def test_polygon_collapsed_to_a_line_is_refused(atlas_copy, tmp_path):
    flat = shapely.Polygon([(126.0, 39.5), (126.01, 39.5), (126.02, 39.5)])
    gdf = gpd.GeoDataFrame({"name": ["synthetic flat"]}, geometry=[flat], crs=4326)
    before = sha256(atlas_copy)
    with pytest.raises(InputError, match=r"row 2: an invalid polygon .* leaves no polygon once repaired"):
        atlas.import_layer(_write(gdf, "csv", tmp_path), "flat", gpkg=atlas_copy)
    assert sha256(atlas_copy) == before


def test_mixed_families_refused(atlas_copy, tmp_path):
    gdf = gpd.GeoDataFrame({"name": ["synthetic pt", "synthetic area"]},
                           geometry=[shapely.Point(126, 39.5), shapely.box(126, 39.5, 126.01, 39.51)], crs=4326)
    before = sha256(atlas_copy)
    with pytest.raises(InputError, match=r"one geometry family .* mixes Point, Polygon"):
        atlas.import_layer(_write(gdf, "geojson", tmp_path), "mixed", gpkg=atlas_copy)
    assert sha256(atlas_copy) == before


def test_families_mixed_across_chunks_refused(atlas_copy, tmp_path, monkeypatch):
    monkeypatch.setattr(atlas.importer, "CHUNK_ROWS", 2)
    rows = ["name,wkt"] + [f"synthetic {i},\"POLYGON ((126 39.5, 126.01 39.5, 126.01 39.51, 126 39.5))\""
                           for i in range(3)] + ["synthetic line,\"LINESTRING (126 39.5, 126.1 39.6)\""]
    path = tmp_path / "synthetic_chunks.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError, match="mixes LineString, Polygon"):
        atlas.import_layer(path, "chunks", gpkg=atlas_copy)


def test_million_vertex_polygon_refused_before_work(atlas_copy, tmp_path):
    t = np.linspace(0, 2 * np.pi, 1_000_000, endpoint=False)
    ring = np.column_stack([126.5 + 0.1 * np.cos(t), 39.5 + 0.1 * np.sin(t)])
    gdf = gpd.GeoDataFrame({"name": ["synthetic huge"]}, geometry=[shapely.Polygon(ring)], crs=4326)
    path = tmp_path / "synthetic_huge.gpkg"
    gdf.to_file(path)
    before = sha256(atlas_copy)
    with pytest.raises(InputError, match=r"row 1: a feature of 1,000,001 vertices, more than the limit of "
                                         r"100,000 \(ATLAS_MAX_VERTICES\)"):
        atlas.import_layer(path, "huge", gpkg=atlas_copy)
    assert sha256(atlas_copy) == before


def test_csv_wkt_errors_name_the_row(atlas_copy, tmp_path):
    path = tmp_path / "synthetic_bad_wkt.csv"
    path.write_text("name,wkt\nsynthetic ok,\"POLYGON ((126 39.5, 126.01 39.5, 126.01 39.51, 126 39.5))\"\n"
                    "synthetic bad,\"POLYGON ((126 39.5, 126.01\"\n")
    with pytest.raises(InputError, match=r"row 3, field 'wkt': not WKT"):
        atlas.import_layer(path, "badwkt", gpkg=atlas_copy)


def test_multipoint_refused_with_a_clear_message(atlas_copy, tmp_path):
    gdf = gpd.GeoDataFrame({"name": ["synthetic pair"]},
                           geometry=[shapely.MultiPoint([(126, 39.5), (126.1, 39.6)])], crs=4326)
    with pytest.raises(InputError, match="MultiPoint features cannot be imported"):
        atlas.import_layer(_write(gdf, "geojson", tmp_path), "multi", gpkg=atlas_copy)


@pytest.mark.parametrize("fmt", ["csv", "geojson", "geoparquet", "kmz"])
def test_exports_carry_lines_and_polygons(atlas_copy, synthetic_shapes, tmp_path, fmt):
    given = synthetic_shapes["polygons"]
    atlas.import_layer(_write(given, "gpkg", tmp_path), "blocks", gpkg=atlas_copy)
    writer = {"csv": atlas.export_csv, "geojson": atlas.export_geojson, "geoparquet": atlas.export_geoparquet,
              "kmz": atlas.export_kmz}[fmt]
    [path] = writer(tmp_path / "out", layers=["user_blocks"], gpkg=atlas_copy)
    if fmt == "csv":
        back = pd.read_csv(path, encoding="utf-8-sig")
        geoms = shapely.from_wkt(back["wkt"].to_numpy())
    elif fmt == "kmz":
        with zipfile.ZipFile(path) as z:
            kml = z.read("doc.kml").decode()
        assert kml.count("<Polygon>") == len(given)
        return
    else:
        geoms = gpd.read_file(path).geometry.to_numpy() if fmt == "geojson" else \
            gpd.read_parquet(path).geometry.to_numpy()
    stored = atlas.read_layer("user_blocks", atlas_copy)
    by_name = dict(zip(stored["name"], stored.geometry))
    names = back["name"] if fmt == "csv" else (gpd.read_file(path) if fmt == "geojson" else
                                                gpd.read_parquet(path))["name"]
    assert len(geoms) == len(given)
    assert all(g.equals_exact(by_name[n], 1e-9) for g, n in zip(geoms, names))


# --- near and nearest: geodesic distance to the nearest edge, 0 inside ----------------------------------


def _geodesic_oracle(site: shapely.Point, geom) -> float:
    """Brute force: 0 when the site is in or on the feature, else the least WGS 84 distance to the feature's
    edges densified to ~1 m (straight in lon/lat, as stored), by pyproj.Geod."""
    from pyproj import Geod

    if geom.intersects(site):
        return 0.0
    xy = shapely.get_coordinates(shapely.segmentize(geom, 1e-5))
    _, _, d = Geod(ellps="WGS84").inv(np.full(len(xy), site.x), np.full(len(xy), site.y), xy[:, 0], xy[:, 1])
    return float(d.min())


def _random_shapes(rng, n: int) -> gpd.GeoDataFrame:
    """Synthetic lines and polygons from building-sized (30 m) to concession-sized (40 km) in the DPRK."""
    geoms = []
    for i in range(n):
        cx, cy = rng.uniform(125.0, 129.5), rng.uniform(38.3, 42.0)
        size = 10 ** rng.uniform(-3.5, -0.5)
        if i % 2:
            t = np.sort(rng.uniform(0, 2 * np.pi, 7))
            geoms.append(shapely.Polygon(np.column_stack([cx + size * np.cos(t), cy + size * np.sin(t)])))
        else:
            geoms.append(shapely.LineString(np.column_stack([cx + rng.uniform(-size, size, 4),
                                                             cy + rng.uniform(-size, size, 4)])))
    return gpd.GeoDataFrame({"name": [f"synthetic shape {i}" for i in range(n)]}, geometry=geoms, crs=4326)


@pytest.mark.filterwarnings("ignore:.*outside the DPRK:UserWarning")
def test_near_and_nearest_to_lines_and_polygons_equal_a_geodesic_oracle(atlas_copy, tmp_path):
    rng = np.random.default_rng(27)
    polys = _random_shapes(rng, 40).iloc[1::2].reset_index(drop=True)
    lines = _random_shapes(rng, 40).iloc[::2].reset_index(drop=True)
    for name, given in (("rpolys", polys), ("rlines", lines)):
        path = tmp_path / f"synthetic_{name}.gpkg"
        given.to_file(path)
        atlas.import_layer(path, name, gpkg=atlas_copy)
        stored = atlas.read_layer(f"user_{name}", atlas_copy).set_index("user_id")
        sites = [shapely.Point(rng.uniform(125.0, 129.5), rng.uniform(38.3, 42.0)) for _ in range(6)]
        # and sites inside or just beside a feature
        sites += [given.geometry.iloc[3].representative_point(), shapely.Point(
            given.geometry.iloc[5].bounds[0] - 0.002, given.geometry.iloc[5].bounds[1])]
        for site in sites:
            truth = pd.Series({uid: _geodesic_oracle(site, g) for uid, g in stored.geometry.items()})
            km = float(np.quantile(truth, 0.4)) / 1000.0 + 0.5
            got = atlas.near(site, km=km, layer=name, gpkg=atlas_copy).set_index("id")
            clear = truth[(truth - km * 1000).abs() > 1.0]  # not within a metre of the radius
            assert set(got.index) & set(clear.index) == set(clear[clear <= km * 1000].index)
            assert np.abs(got["distance_km"] * 1000 - truth[got.index]).max() < 1.0
            top = atlas.nearest(site, name, k=3, gpkg=atlas_copy)
            assert np.allclose(top["distance_km"] * 1000, np.sort(truth.to_numpy())[:3], atol=1.0)
        inside = atlas.near(sites[6], km=0.001, layer=name, gpkg=atlas_copy)
        assert inside["distance_km"].iloc[0] == 0.0
        # every site at once: the same counts as the oracle
        where = gpd.GeoDataFrame(geometry=sites, crs=4326, index=[f"s{i}" for i in range(len(sites))])
        counts = atlas.count_near(name, km=60.0, sites=where, gpkg=atlas_copy)
        for sid, site in where.geometry.items():
            truth = np.array([_geodesic_oracle(site, g) for g in stored.geometry])
            assert abs(counts[sid] - (truth <= 60_000).sum()) <= (np.abs(truth - 60_000) < 1.0).sum()
        assert counts.sum() > 0


# --- what lies inside a polygon ---------------------------------------------------------------------------


@pytest.fixture
def perimeters(atlas_copy, layers, tmp_path) -> gpd.GeoDataFrame:
    """Synthetic perimeters: irregular polygons of 2–30 km around camps and mines, imported as user_perims."""
    rng = np.random.default_rng(5)
    camps = layers["camps"]
    centres = list(camps[camps.geometry.notna() & ~camps.geometry.is_empty].geometry.head(8))
    centres += list(layers["mines"].geometry.dropna().iloc[::10].head(8))
    shapes = []
    for c in centres:
        t = np.sort(rng.uniform(0, 2 * np.pi, 9))
        r = rng.uniform(0.02, 0.3, 9)
        shapes.append(shapely.Polygon(np.column_stack([c.x + r * np.cos(t), c.y + 0.8 * r * np.sin(t)])))
    gdf = gpd.GeoDataFrame({"name": [f"synthetic perimeter {i}" for i in range(len(shapes))]},
                           geometry=shapes, crs=4326)
    path = tmp_path / "synthetic_perimeters.geojson"
    gdf.to_file(path)
    atlas.import_layer(path, "perims", gpkg=atlas_copy)
    return atlas.read_layer("user_perims", atlas_copy)


def test_inside_equals_a_geopandas_oracle(atlas_copy, layers, perimeters):
    got = atlas.inside("perims", ["camps", "mines", "named_mines"], gpkg=atlas_copy)
    for layer in ("camps", "mines", "named_mines"):
        feats = layers[layer][layers[layer].geometry.notna()].to_crs(4326)
        pairs = gpd.sjoin(perimeters[["user_id", "geometry"]], feats, predicate="intersects")
        oracle = pairs.groupby("user_id").size()
        mine = got[got["layer"] == layer].groupby("area_id").size()
        assert mine.reindex(perimeters["user_id"], fill_value=0).tolist() == \
            oracle.reindex(perimeters["user_id"], fill_value=0).tolist()
    assert len(got) > 0
    counts = atlas.count_inside("perims", "mines", gpkg=atlas_copy)
    assert counts.tolist() == got[got["layer"] == "mines"].groupby("area_id").size().reindex(
        perimeters["user_id"], fill_value=0).tolist()
    # findings: those of the camps and mines found inside, each counted on its row
    findings = got.attrs["findings"]
    assert set(findings["site_id"]) <= set(got["id"])
    for row in got[got["findings"] > 0].itertuples():
        assert row.findings == (findings["site_id"] == row.id).sum()


def test_inside_one_feature_by_name_and_the_cli(atlas_copy, perimeters):
    one = atlas.inside("perims:synthetic perimeter 0", gpkg=atlas_copy)
    assert set(one["area_id"]) <= {perimeters["user_id"].iloc[0]}
    camp = atlas.read_layer("camps", atlas_copy)
    camp = camp[camp.geometry.notna() & ~camp.geometry.is_empty].iloc[0]
    assert camp["site_id"] in set(one["id"])  # the perimeter drawn around it
    from .conftest import run_cli

    res = run_cli("inside", "perims:synthetic perimeter 0", "--format", "csv", "--gpkg", str(atlas_copy))
    assert res.returncode == 0, res.stderr
    assert camp["site_id"] in res.stdout
    res = run_cli("inside", "perims:no such perimeter", "--gpkg", str(atlas_copy))
    assert res.returncode != 0 and "no feature 'no such perimeter' in user_perims" in res.stderr
    with pytest.raises(InputError, match="an area must be polygons"):
        atlas.inside("camps:KLS-14", gpkg=atlas_copy)


# --- the map ---------------------------------------------------------------------------------------------


def test_map_draws_polygons_and_lines_that_answer_a_click(browser, gpkg, synthetic_shapes, tmp_path):
    from atlas import _browser

    polys, lines = synthetic_shapes["polygons"], synthetic_shapes["lines"]
    out = atlas.write_map(tmp_path / "synthetic_shapes.html", gpkg=gpkg,
                          extra_layers={"Synthetic blocks": polys, "Synthetic tracks": lines})
    with _browser.open_page(out, browser=browser,
                            wait_for="window.atlasReady === true || window.atlasError !== undefined") as s:
        page = s.page
        assert page.evaluate("window.atlasError === undefined")
        ids = page.evaluate("Object.keys(window.atlasLayers).filter(k => k.startsWith('user:'))")
        counts = page.evaluate(f"{json_list(ids)}.map(k => window.atlasLayers[k].atlasCount())")
        assert sorted(counts) == sorted([len(polys), len(lines)])
        # the drawn rings are the polygons' own, to the map's 1e-6° grid
        drawn = page.evaluate(f"window.atlasLayers[{json_list(ids)}.find(k => window.atlasLayers[k]"
                              f".atlasCount() === {len(polys)})].atlasShapes.rings(0)[0].map(p => [p[1], p[0]])")
        ring = shapely.get_coordinates(polys.geometry.iloc[0].exterior)
        assert np.allclose(np.array(drawn), ring, atol=1.5e-6)
        drawn_count = page.evaluate(f"window.atlasLayers[{json_list(ids)}.find(k => window.atlasLayers[k]"
                                    f".atlasCount() === {len(polys)})].atlasShapes.drawnCount")
        assert drawn_count >= 1  # on the canvas, in view
        centre = polys.geometry.iloc[0].representative_point()
        page.evaluate(f"() => {{ window.atlas.map.setView([{centre.y}, {centre.x}], 15, {{animate: false}}); }}")
        box = page.locator(".leaflet-container").bounding_box()
        p = page.evaluate(f"(() => window.atlas.map.latLngToContainerPoint([{centre.y}, {centre.x}]))()")
        page.mouse.click(box["x"] + p["x"] + 40, box["y"] + p["y"] + 30)  # inside the square, off the camp
        page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
        assert "synthetic block 0" in page.inner_text(".leaflet-popup-content")
        mid = lines.geometry.iloc[0].interpolate(0.5, normalized=True)
        page.evaluate(f"() => {{ window.atlas.map.closePopup(); window.atlas.map.setView([{mid.y}, {mid.x}], 14, "
                      "{animate: false}); }")
        page.wait_for_selector(".leaflet-popup-content", state="detached", timeout=10_000)
        p = page.evaluate(f"(() => window.atlas.map.latLngToContainerPoint([{mid.y}, {mid.x}]))()")
        page.mouse.click(box["x"] + p["x"] + 1, box["y"] + p["y"] + 2)  # within 4 px of the line
        page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
        assert "synthetic track 0" in page.inner_text(".leaflet-popup-content")
        assert s.page_errors == [] and s.console_errors == []


def json_list(values) -> str:
    import json

    return json.dumps(list(values))
