"""Bring your own data: every format in, every bad input refused cleanly.

All fixtures are synthetic and written into pytest's temporary folders. Their
points are taken from the atlas's own camp and mine layers (so they are real
places), or are deliberately wrong (swapped, at sea) to test the checks.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

import atlas
from atlas.coordinates import parse_coordinate
from atlas.errors import InputError
from atlas.importer import MAX_IMPORT_BYTES

from .conftest import run_cli, sha256


@pytest.fixture
def real_points(layers) -> gpd.GeoDataFrame:
    """Five real camp points from the atlas (id, name, lon/lat)."""
    camps = layers["camps"]
    return camps[~camps.geometry.is_empty & camps.geometry.notna()].head(5)[["site_id", "name", "geometry"]]


def _dms(value: float, pos: str, neg: str) -> str:
    hemi = pos if value >= 0 else neg
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    s = (value - d - m / 60) * 3600
    return f"{d}°{m:02d}′{s:05.2f}″{hemi}"


def test_parse_coordinate_forms():
    assert parse_coordinate("39°34′N") == pytest.approx((39 + 34 / 60, "N"))
    assert parse_coordinate("126°03'30\"E")[0] == pytest.approx(126 + 3 / 60 + 30 / 3600)
    assert parse_coordinate("S 10 30")[0] == pytest.approx(-10.5)
    assert parse_coordinate("-126.5") == (-126.5, None)
    for bad in ("abc", "39°75′N", "N 39 E"):
        with pytest.raises(ValueError):
            parse_coordinate(bad)


def test_csv_with_dms_text_keeps_points_and_assigns_admin(atlas_copy, real_points, tmp_path):
    lines = ["site,position,id"]
    for _, r in real_points.iterrows():
        lines.append(f'"{r["name"]}","{_dms(r.geometry.y, "N", "S")} {_dms(r.geometry.x, "E", "W")}",{r["site_id"]}')
    path = tmp_path / "synthetic_dms.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = atlas.import_layer(path, "dms_sites", gpkg=atlas_copy)
    stored = atlas.read_layer("user_dms_sites", atlas_copy).set_index("user_id")
    assert len(out) == len(real_points) == len(stored)
    for _, r in real_points.iterrows():
        got = stored.loc[r["site_id"], "geometry"]
        assert got.distance(r.geometry) < 1e-5
        assert stored.loc[r["site_id"], "name"] == r["name"]
    camps = atlas.read_layer("camps", atlas_copy).set_index("site_id")
    for site in stored.index:
        assert stored.loc[site, "province"] == camps.loc[site, "province"]
    assert (stored["source_sha256"] == sha256(path)).all()
    assert (stored["source_file"] == path.name).all()
    atlas.validate(atlas_copy)


def test_kmz_folders_become_a_column(atlas_copy, real_points, tmp_path):
    placemarks = {"Folder A": real_points.iloc[:2], "Folder B": real_points.iloc[2:]}
    body = []
    for folder, pts in placemarks.items():
        body.append(f"<Folder><name>{folder}</name>")
        for _, r in pts.iterrows():
            body.append(f"<Placemark><name>{r['name']}</name><Point><coordinates>"
                        f"{r.geometry.x},{r.geometry.y},0</coordinates></Point></Placemark>")
        body.append("</Folder>")
    kml = ('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
           f"<Document><name>synthetic</name>{''.join(body)}</Document></kml>")
    path = tmp_path / "synthetic_placemarks.kmz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("doc.kml", kml)
    out = atlas.import_layer(path, "kmz_sites", gpkg=atlas_copy)
    assert len(out) == len(real_points)
    assert sorted(out["folder"].unique()) == ["Folder A", "Folder B"]
    assert (out["folder"] == "Folder A").sum() == 2


def test_shapefile_in_utm_is_reprojected(atlas_copy, real_points, tmp_path):
    utm = real_points.rename(columns={"site_id": "id"}).to_crs("EPSG:32652")
    path = tmp_path / "synthetic_utm.shp"
    utm.to_file(path)
    out = atlas.import_layer(path, "utm_sites", gpkg=atlas_copy).set_index("user_id")
    for _, r in real_points.iterrows():
        assert out.loc[r["site_id"], "geometry"].distance(r.geometry) < 1e-6


@pytest.mark.parametrize("driver,ext", [("GeoJSON", ".geojson"), ("GPKG", ".gpkg")])
def test_geojson_and_geopackage(atlas_copy, real_points, tmp_path, driver, ext):
    path = tmp_path / f"synthetic{ext}"
    real_points.to_file(path, driver=driver)
    out = atlas.import_layer(path, f"in_{driver.lower()}", kind="camps", gpkg=atlas_copy)
    assert len(out) == len(real_points)
    assert (out["kind"] == "camps").all()


@pytest.mark.slow
def test_rebuild_keeps_user_layers(atlas_copy, real_points, tmp_path, monkeypatch):
    path = tmp_path / "synthetic.geojson"
    real_points.to_file(path, driver="GeoJSON")
    atlas.import_layer(path, "kept", gpkg=atlas_copy)
    atlas.build(atlas_copy, products=())
    assert len(atlas.read_layer("user_kept", atlas_copy)) == len(real_points)


def _bad_inputs(tmp_path: Path, real_points) -> dict[str, tuple[Path, str]]:
    """Synthetic bad files, each with the words its error must contain."""
    p = real_points.iloc[0].geometry
    cases = {}
    f = tmp_path / "synthetic_malformed.csv"
    f.write_text(f'name,lat,lon\n"A,{p.y},{p.x}\nB,{p.y},{p.x},extra\n', encoding="utf-8")
    cases["malformed"] = (f, "row")
    f = tmp_path / "synthetic_really_geojson.csv"
    real_points.to_file(tmp_path / "tmp.geojson", driver="GeoJSON")
    shutil.copyfile(tmp_path / "tmp.geojson", f)
    cases["wrong extension"] = (f, "extension")
    f = tmp_path / "synthetic_latin1.csv"
    f.write_bytes(f"name,lat,lon\nCaf\xe9 site,{p.y},{p.x}\n".encode("latin-1"))
    cases["non-utf8"] = (f, "UTF-8")
    f = tmp_path / "synthetic_nocoords.csv"
    f.write_text("name,place\nA,somewhere\n", encoding="utf-8")
    cases["no coordinates"] = (f, "no coordinate columns")
    f = tmp_path / "synthetic_swapped.csv"
    rows = "\n".join(f"{r['name']},{r.geometry.x},{r.geometry.y}" for _, r in real_points.iterrows())
    f.write_text("name,lat,lon\n" + rows + "\n", encoding="utf-8")
    cases["swapped"] = (f, "swapped")
    f = tmp_path / "synthetic_dupes.csv"
    f.write_text(f"id,name,lat,lon\nx1,A,{p.y},{p.x}\nx1,B,{p.y},{p.x}\n", encoding="utf-8")
    cases["duplicate ids"] = (f, "repeated")
    f = tmp_path / "synthetic_huge.csv"
    with f.open("wb") as fh:
        fh.truncate(MAX_IMPORT_BYTES * 2)  # sparse: 200 MB without writing them
    cases["too large"] = (f, "larger than the import limit")
    f = tmp_path / "synthetic_badcell.csv"
    f.write_text(f"name,lat,lon\nA,{p.y},{p.x}\nB,not-a-number,{p.x}\n", encoding="utf-8")
    cases["bad cell"] = (f, "row 3")
    f = tmp_path / "synthetic_noname.csv"
    f.write_text(f"name,lat,lon\n,{p.y},{p.x}\n", encoding="utf-8")
    cases["empty name"] = (f, "name is empty")
    return cases


@pytest.mark.parametrize("case", ["malformed", "wrong extension", "non-utf8", "no coordinates",
                                  "swapped", "duplicate ids", "too large", "bad cell", "empty name"])
def test_bad_input_is_refused_and_atlas_unchanged(atlas_copy, real_points, tmp_path, case):
    path, words = _bad_inputs(tmp_path, real_points)[case]
    before = sha256(atlas_copy)
    with pytest.raises(InputError, match=words) as err:
        atlas.import_layer(path, "bad", gpkg=atlas_copy)
    assert path.name in str(err.value)
    assert sha256(atlas_copy) == before
    result = run_cli("import", str(path), "--as", "bad", "--gpkg", str(atlas_copy))
    assert result.returncode == 2, result.stderr
    assert path.name in result.stderr and "Traceback" not in result.stderr
    assert sha256(atlas_copy) == before
    assert sorted(p.name for p in atlas_copy.parent.iterdir() if p.name.startswith(".atlas")) == []


def test_outliers_are_kept_and_reported(atlas_copy, real_points, tmp_path):
    p = real_points.iloc[0].geometry
    path = tmp_path / "synthetic_outlier.csv"
    path.write_text(f"name,lat,lon\nIn DPRK,{p.y},{p.x}\nIn the East Sea (synthetic),40.0,131.5\n",
                    encoding="utf-8")
    with pytest.warns(UserWarning, match="outside"):
        out = atlas.import_layer(path, "outliers", gpkg=atlas_copy)
    assert len(out) == 2
    assert out["outside_dprk_km"].iloc[1] > 50
    result = run_cli("import", str(path), "--as", "outliers2", "--gpkg", str(atlas_copy))
    assert result.returncode == 0 and "warning" in result.stderr


def test_strings_are_stored_as_given(atlas_copy, real_points, tmp_path):
    p = real_points.iloc[0].geometry
    nasty = '<script>alert("x")</script> {{ 7*7 }} `tick` 요덕'
    path = tmp_path / "synthetic_strings.geojson"
    gpd.GeoDataFrame({"name": [nasty]}, geometry=[shapely.Point(p.x, p.y)], crs=4326).to_file(path)
    atlas.import_layer(path, "strings", gpkg=atlas_copy)
    assert atlas.read_layer("user_strings", atlas_copy)["name"].iloc[0] == nasty


def test_bad_layer_name_and_missing_file(atlas_copy, tmp_path):
    with pytest.raises(InputError, match="layer name"):
        atlas.import_layer(tmp_path / "x.csv", "Bad Name!", gpkg=atlas_copy)
    result = run_cli("import", str(tmp_path / "missing.csv"), "--as", "x", "--gpkg", str(atlas_copy))
    assert result.returncode == 2 and "no file" in result.stderr


def test_imported_layer_flows_into_near_summary_map_and_export(browser, atlas_copy, real_points,
                                                              tmp_path):
    """An imported layer is found by near(), counted by the summary and drawn by the map."""
    path = tmp_path / "synthetic_flow.geojson"
    real_points.to_file(path, driver="GeoJSON")
    atlas.import_layer(path, "flow", gpkg=atlas_copy)
    first = real_points.iloc[0]
    hits = atlas.near(first["site_id"], km=1, layer="user_flow", gpkg=atlas_copy, site_layer="camps")
    assert list(hits["name"]) == [first["name"]]
    assert hits["distance_km"].iloc[0] < 0.001
    summary = atlas.province_summary(atlas_copy).set_index("province")
    expected = real_points.merge(atlas.read_layer("camps", atlas_copy)[["site_id", "province"]])
    for province, n in expected["province"].value_counts().items():
        assert summary.loc[province, "user_flow"] == n
    assert summary.loc["Total", "user_flow"] == len(real_points)
    result = run_cli("summary", "--format", "csv", "--gpkg", str(atlas_copy))
    assert result.returncode == 0 and "user_flow" in result.stdout.splitlines()[0]
    html = atlas.write_map(tmp_path / "map.html", gpkg=atlas_copy)
    from atlas import _browser

    with _browser.open_page(html, browser=browser) as page:
        titles = page.page.evaluate(
            "Object.entries(window.atlasLayers).map(([k, v]) => [k, v.atlasCount ? v.atlasCount() : "
            "v.getLayers().length])")
        popup = page.page.evaluate(
            "(() => { window.atlas.openUserRecord('user:0', 0);"
            " return document.querySelector('.leaflet-popup-content').textContent; })()")
        assert not page.blocked and not page.page_errors
    # the popup shows the feature's own values and the layer-wide ones (written once in the page)
    assert sha256(path) in popup and "source_file" in popup and real_points.iloc[0]["name"] in popup
    counts = dict(titles)
    user = [k for k in counts if k.startswith("user:")]
    assert len(user) == 1 and counts[user[0]] == len(real_points)
    qgz = atlas.export_qgis(tmp_path / "qgis", gpkg=atlas_copy)
    assert "user_flow" in {n for n, _ in atlas.list_layers(qgz.parent / "atlas.gpkg")}


def test_a_layer_imported_as_name_is_found_by_that_name(atlas_copy, real_points, tmp_path):
    """`--as NAME` stores user_NAME; `--layer NAME` finds it in every command (user_NAME too)."""
    path = tmp_path / "synthetic_named.csv"
    real_points.assign(id="S-" + real_points["site_id"], name="site near " + real_points["name"], lat=real_points.geometry.y, lon=real_points.geometry.x)[
        ["id", "name", "lat", "lon"]].to_csv(path, index=False)
    res = run_cli("import", str(path), "--as", "mysites", "--gpkg", str(atlas_copy))
    assert res.returncode == 0, res.stderr
    first = real_points.iloc[0]
    for name in ("mysites", "user_mysites"):
        for cmd in (["near", "KLS-14", "--km", "400", "--layer", name],
                    ["nearest", "KLS-14", "--layer", name, "--format", "csv"],
                    ["density", "--layer", name, "--out", str(tmp_path / f"{name}.tif")],
                    ["export", "--format", "geojson", "--layers", name, "--out", str(tmp_path / f"{name}_gj")]):
            out = run_cli(*cmd, "--gpkg", str(atlas_copy))
            assert out.returncode == 0, (cmd, out.stderr)
        found = atlas.find("site near " + first["name"], gpkg=atlas_copy, layers=[name])
        assert set(found["layer"]) == {"user_mysites"}
    assert atlas.near("KLS-14", 400, "mysites", gpkg=atlas_copy)["id"].isin("S-" + real_points["site_id"]).any()
