"""Source protection: private layers, --replace, --drop, --coarsen-km.

Fixtures are synthetic (names made up for the test, points taken from the
atlas's own camps so that they are real places) and live in temporary folders.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod

import atlas
from atlas.protect import coarsen, shared_layers

from .conftest import run_cli, sha256

SECRET = "Synthetic witness house Zq7"  # a name that must never reach a shared product
GEOD = Geod(ellps="WGS84")


def _csv(tmp_path: Path, layers, name: str = SECRET, n: int = 3, fname: str = "synthetic_interviews.csv") -> Path:
    camps = layers["camps"]
    pts = camps[~camps.geometry.is_empty & camps.geometry.notna()].head(n)
    # ~1.5 km from each camp point: real places, but not the atlas's own coordinates
    lines = ["name,lat,lon,note"] + [f"{name} {i},{p.y + 0.012345:.6f},{p.x + 0.012345:.6f},interview {i}"
                                     for i, p in enumerate(pts.geometry)]
    path = tmp_path / fname
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_reimport_needs_replace_and_replace_leaves_no_old_rows(atlas_copy, layers, tmp_path):
    first = _csv(tmp_path, layers, name="Old synthetic name Kx3")
    assert run_cli("import", str(first), "--as", "talks", "--gpkg", str(atlas_copy)).returncode == 0
    before = sha256(atlas_copy)
    again = run_cli("import", str(first), "--as", "talks", "--gpkg", str(atlas_copy))
    assert again.returncode == 2 and "--replace" in again.stderr and "Traceback" not in again.stderr
    assert sha256(atlas_copy) == before  # nothing replaced, nothing touched
    second = _csv(tmp_path, layers, name="New synthetic name Pw8", n=2)
    done = run_cli("import", str(second), "--as", "talks", "--replace", "--gpkg", str(atlas_copy))
    assert done.returncode == 0, done.stderr
    names = set(atlas.read_layer("user_talks", atlas_copy)["name"])
    assert names == {"New synthetic name Pw8 0", "New synthetic name Pw8 1"}
    assert b"Old synthetic name Kx3" not in atlas_copy.read_bytes()  # not even in free pages


def test_drop_removes_a_user_layer_and_every_trace_of_it(atlas_copy, layers, tmp_path):
    path = _csv(tmp_path, layers)
    assert run_cli("import", str(path), "--as", "gone", "--gpkg", str(atlas_copy)).returncode == 0
    listed = run_cli("layers", "--gpkg", str(atlas_copy))
    assert "user_gone" in listed.stdout
    result = run_cli("layers", "--drop", "gone", "--gpkg", str(atlas_copy))
    assert result.returncode == 0 and "user_gone: removed" in result.stdout, result.stderr
    assert "user_gone" not in {n for n, _ in atlas.list_layers(atlas_copy)}
    raw = atlas_copy.read_bytes()
    assert SECRET.encode() not in raw and b"user_gone" not in raw and path.name.encode() not in raw
    atlas.validate(atlas_copy)  # still a sound atlas
    before = sha256(atlas_copy)
    for bad in ("gone", "camps", "user_nothing"):
        refused = run_cli("layers", "--drop", bad, "--gpkg", str(atlas_copy))
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, bad
    assert sha256(atlas_copy) == before


def test_private_flag_is_stored_listed_and_shared_only_when_asked(atlas_copy, layers, tmp_path):
    path = _csv(tmp_path, layers)
    result = run_cli("import", str(path), "--as", "witnesses", "--private", "--gpkg", str(atlas_copy))
    assert result.returncode == 0 and "(private)" in result.stdout, result.stderr
    atlas.import_layer(_csv(tmp_path, layers, name="Public synthetic site"), "public", gpkg=atlas_copy)
    listed = run_cli("layers", "--gpkg", str(atlas_copy)).stdout
    assert "user_witnesses (private)" in listed and "user_public (private)" not in listed
    assert atlas.user_layers(atlas_copy, include_private=False) == ["user_public"]
    assert set(atlas.user_layers(atlas_copy)) == {"user_public", "user_witnesses"}
    shared, records = shared_layers(atlas_copy)
    assert list(shared) == ["user_public"] and [r["private"] for r in records] == [False]
    shared, records = shared_layers(atlas_copy, include_private=True)
    assert {r["layer"]: r["private"] for r in records} == {"user_public": False, "user_witnesses": True}
    atlas.validate(atlas_copy)


@pytest.mark.slow
def test_rebuild_keeps_the_private_flag(atlas_copy, layers, tmp_path, monkeypatch):
    atlas.import_layer(_csv(tmp_path, layers), "kept_private", gpkg=atlas_copy, private=True)
    atlas.build(atlas_copy, products=())
    assert atlas.user_layers(atlas_copy, include_private=False) == []
    assert bool(atlas.read_layer("user_kept_private", atlas_copy)["private"].all())


def test_coarsen_snaps_points_to_grid_centres_and_drops_coordinate_copies(gpkg, layers):
    camps = layers["camps"]
    pts = camps[~camps.geometry.is_empty & camps.geometry.notna()][["site_id", "name", "geometry"]].copy()
    pts["lat"] = [f"{g.y:.6f}" for g in pts.geometry]
    pts["where"] = [f"{g.y:.4f}, {g.x:.4f}" for g in pts.geometry]
    pts = pts.join(atlas.assign_admin(pts[["geometry"]], gpkg)[["province", "county"]])
    for km in (1, 5, 10):
        out = coarsen(pts, km, gpkg=gpkg)
        assert out.attrs["coarsened"]["columns_dropped"] == ["lat", "where"]
        assert {"site_id", "name"} <= set(out.columns)
        planar = out.geometry.to_crs("EPSG:5179")
        size = km * 1000.0
        for v in (planar.x.to_numpy(), planar.y.to_numpy()):  # every point on a cell centre (±0.5 m)
            cells = (v - size / 2) / size
            assert (np.abs(cells - np.round(cells)) * size < 0.5).all()
        _, _, moved = GEOD.inv(pts.geometry.x, pts.geometry.y, out.geometry.x, out.geometry.y)
        assert (np.asarray(moved) <= km * 1000 * np.sqrt(2) / 2 + 1).all()
        assert (np.asarray(moved) > 0).any()
        again = atlas.assign_admin(out[["geometry"]], gpkg)
        assert list(out["county"]) == list(again["county"])  # admin columns follow the snapped point
    with pytest.raises(atlas.InputError):
        coarsen(pts, 0)
    with pytest.raises(atlas.InputError):
        coarsen(gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)], crs=4326), 5)


def _qgs(project: Path) -> str:
    import zipfile

    with zipfile.ZipFile(project) as z:
        return z.read("atlas.qgs").decode("utf-8")


@pytest.mark.slow
def test_private_layer_absent_from_the_map_and_the_qgis_export(atlas_copy, layers, tmp_path):
    secret = _csv(tmp_path, layers)
    assert run_cli("import", str(secret), "--as", "witnesses", "--private",
                   "--gpkg", str(atlas_copy)).returncode == 0
    public_csv = _csv(tmp_path, layers, name="Public synthetic site", fname="synthetic_public.csv")
    assert run_cli("import", str(public_csv), "--as", "public", "--gpkg", str(atlas_copy)).returncode == 0
    html = tmp_path / "map.html"
    assert run_cli("map", "--out", str(html), "--gpkg", str(atlas_copy)).returncode == 0
    out = tmp_path / "qgis"
    assert run_cli("export", "--qgis", "--out", str(out), "--gpkg", str(atlas_copy)).returncode == 0
    leaks = [SECRET.encode(), b"user_witnesses", secret.name.encode(), sha256(secret).encode()]
    for product in (html, out / "atlas.gpkg", out / "atlas.qgz"):
        raw = product.read_bytes() if product.suffix != ".qgz" else _qgs(product).encode()
        assert not [s for s in leaks if s in raw], product
        assert b"Public synthetic site" in raw or product.suffix == ".qgz"
    site = tmp_path / "site"  # the website, its downloads (GeoPackage, GeoJSON, CSV, KMZ, QGIS) included
    result = run_cli("site", "--out", str(site), "--gpkg", str(atlas_copy))
    assert result.returncode == 0, result.stderr
    files = [p for p in site.rglob("*") if p.is_file()]
    assert len(files) > 20
    for f in files:
        raw = f.read_bytes()
        if f.suffix in (".qgz", ".kmz", ".zip"):
            import zipfile

            with zipfile.ZipFile(f) as z:
                raw = b"".join(z.read(n) for n in z.namelist())
        elif f.suffix == ".parquet":  # compressed pages: read the table itself
            import pyarrow.parquet as pq

            raw = str(pq.read_table(f).to_pylist()).encode() + raw
        assert not [s for s in leaks if s in raw], f
    # every product lists the user layers it holds, and says nothing of a private one (not even a count)
    abstract = _qgs(out / "atlas.qgz")
    assert "user_public: 3 features from synthetic_public.csv" in abstract
    assert "private layer" not in abstract.lower() and "PRIVATE" not in abstract
    page = html.read_text(encoding="utf-8")
    assert '"layer":"user_public"' in page and "left_out" not in page and "Private layers left out" not in page
    # asked for, it is included (and says so)
    assert run_cli("map", "--out", str(html), "--include-private", "--gpkg", str(atlas_copy)).returncode == 0
    assert SECRET in html.read_text(encoding="utf-8")
    assert run_cli("export", "--qgis", "--out", str(out), "--include-private",
                   "--gpkg", str(atlas_copy)).returncode == 0
    assert "user_witnesses" in {n for n, _ in atlas.list_layers(out / "atlas.gpkg")}
    assert "PRIVATE (included on request)" in _qgs(out / "atlas.qgz")


@pytest.mark.slow
def test_coarsened_export_holds_no_exact_point(atlas_copy, layers, tmp_path):
    path = _csv(tmp_path, layers)
    atlas.import_layer(path, "places", gpkg=atlas_copy)
    exact = atlas.read_layer("user_places", atlas_copy)
    out = tmp_path / "qgis"
    result = run_cli("export", "--qgis", "--coarsen-km", "5", "--out", str(out), "--gpkg", str(atlas_copy))
    assert result.returncode == 0, result.stderr
    shared = atlas.read_layer("user_places", out / "atlas.gpkg")
    assert "lat" not in shared.columns and "lon" not in shared.columns
    _, _, moved = GEOD.inv(exact.geometry.x, exact.geometry.y, shared.geometry.x, shared.geometry.y)
    assert (np.asarray(moved) > 1).all() and (np.asarray(moved) <= 5000 * np.sqrt(2) / 2 + 1).all()
    raw = (out / "atlas.gpkg").read_bytes()
    for g in exact.geometry:  # neither the coordinates as text nor the exact doubles remain
        assert f"{g.y:.6f}".encode() not in raw
        assert np.float64(g.x).tobytes() not in raw
    assert "points snapped to the centres of a 5 km grid" in _qgs(out / "atlas.qgz")
    html = atlas.write_map(tmp_path / "coarse.html", gpkg=atlas_copy, coarsen_km=5)
    page = html.read_text(encoding="utf-8")
    assert '"coarsen_km":5' in page
    assert not any(f"{g.y:.6f}" in page for g in exact.geometry)


@pytest.mark.slow
def test_summary_leaves_private_layers_out_unless_asked(atlas_copy, layers, tmp_path):
    """A summary is pasted into reports: a private layer's name and counts stay out of it."""
    atlas.import_layer(_csv(tmp_path, layers), "witnesses_zq7", gpkg=atlas_copy, private=True)
    atlas.import_layer(_csv(tmp_path, layers, name="Public synthetic site", n=2), "public", gpkg=atlas_copy)
    for by in ("province", "county"):
        for fmt in ("table", "csv", "json", "markdown"):
            out = run_cli("summary", "--by", by, "--format", fmt, "--gpkg", str(atlas_copy))
            assert out.returncode == 0, out.stderr
            text = out.stdout + out.stderr
            assert "witnesses_zq7" not in text and SECRET not in text, (by, fmt)
            assert "user_public" in out.stdout, (by, fmt)
    table = atlas.summary(gpkg=atlas_copy)
    assert "user_witnesses_zq7" not in table.columns and int(table.iloc[-1]["user_public"]) == 2
    asked = atlas.summary(by="county", gpkg=atlas_copy, include_private=True)
    assert int(asked.iloc[-1]["user_witnesses_zq7"]) == 3
    out = run_cli("summary", "--include-private", "--format", "csv", "--gpkg", str(atlas_copy))
    assert out.returncode == 0 and "user_witnesses_zq7" in out.stdout, out.stderr


def test_coarsened_format_exports_hold_no_exact_point_and_say_so(atlas_copy, layers, tmp_path):
    path = _csv(tmp_path, layers)
    atlas.import_layer(path, "places", gpkg=atlas_copy)
    exact = atlas.read_layer("user_places", atlas_copy)
    out = tmp_path / "geojson"
    result = run_cli("export", "--format", "geojson", "--layers", "user_places", "--coarsen-km", "5",
                     "--out", str(out), "--gpkg", str(atlas_copy))
    assert result.returncode == 0, result.stderr
    text = (out / "user_places.geojson").read_text(encoding="utf-8")
    meta = json.loads(text)["atlas"]
    assert meta["coarsened"]["coarsen_km"] == 5
    shared = gpd.read_file(out / "user_places.geojson")
    _, _, moved = GEOD.inv(exact.geometry.x, exact.geometry.y, shared.geometry.x, shared.geometry.y)
    assert (np.asarray(moved) > 1).all() and (np.asarray(moved) <= 5000 * np.sqrt(2) / 2 + 1).all()
    assert not any(f"{g.y:.6f}" in text or f"{g.x:.6f}" in text for g in exact.geometry)
    refused = run_cli("export", "--postgis", "postgresql://nobody@/x", "--coarsen-km", "5",
                      "--gpkg", str(atlas_copy))
    assert refused.returncode == 2 and "--coarsen-km" in refused.stderr and "Traceback" not in refused.stderr
