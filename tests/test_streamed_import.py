"""Imports are streamed in chunks: the result equals the whole-file import; GeoParquet is accepted.

Fixtures are synthetic (names made up, written into temporary folders); the points are
real atlas camps, nudged, or deliberately outside the DPRK to exercise the outlier path.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

import atlas
from atlas import importer

from .conftest import run_cli


@pytest.fixture
def points(layers) -> gpd.GeoDataFrame:
    camps = layers["camps"]
    camps = camps[camps.geometry.notna() & ~camps.geometry.is_empty]
    rows = []
    for i in range(23):
        p = camps.geometry.iloc[i % len(camps)]
        rows.append({"name": f"synthetic site {i}", "id": f"s{i}" if i % 5 else "",
                     "note": f"note {i}", "geometry": shapely.Point(p.x + i * 1e-4, p.y)})
    rows.append({"name": "synthetic at sea", "id": "sea", "note": "", "geometry": shapely.Point(131.5, 40.0)})
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def _stored(gpkg: Path, layer: str) -> pd.DataFrame:
    df = atlas.read_layer(layer, gpkg).drop(columns=["imported_at"])
    return pd.DataFrame(df.drop(columns="geometry")).assign(wkt=df.geometry.to_wkt().to_numpy())


def _both_ways(path: Path, gpkg: Path, monkeypatch, **kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    monkeypatch.setattr(importer, "CHUNK_ROWS", 4)
    with pytest.warns(UserWarning, match="outside"):
        atlas.import_layer(path, "streamed", gpkg=gpkg, **kw)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 10**6)
    with pytest.warns(UserWarning, match="outside"):
        atlas.import_layer(path, "whole", gpkg=gpkg, **kw)
    return _stored(gpkg, "user_streamed"), _stored(gpkg, "user_whole")


def _csv(points, path: Path) -> Path:
    lines = ["name,lat,lon,id,note"]
    for i, r in points.iterrows():
        lat = f"{r.geometry.y:.6f}" if i % 3 else f"{int(r.geometry.y)}°{(r.geometry.y % 1) * 60:.4f}′N"
        lines.append(f'"{r["name"]}",{lat},{r.geometry.x:.6f},{r["id"]},{r["note"]}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_streamed_csv_equals_whole_file_import(atlas_copy, points, tmp_path, monkeypatch):
    streamed, whole = _both_ways(_csv(points, tmp_path / "synthetic.csv"), atlas_copy, monkeypatch)
    assert len(streamed) == len(points)
    assert streamed["user_id"].iloc[0] == "U000001" and streamed["user_id"].iloc[1] == "s1"
    assert streamed["outside_dprk_km"].iloc[-1] > 50
    pd.testing.assert_frame_equal(streamed, whole)


@pytest.mark.parametrize("fmt", ["geojson", "kmz", "shp-zip", "gpkg"])
def test_streamed_vector_formats_equal_whole_file_import(atlas_copy, points, tmp_path, monkeypatch, fmt):
    if fmt == "geojson":
        path = tmp_path / "synthetic.geojson"
        points.to_file(path, driver="GeoJSON")
    elif fmt == "gpkg":
        path = tmp_path / "synthetic.gpkg"
        points.to_file(path, driver="GPKG")
    elif fmt == "shp-zip":
        shp = tmp_path / "shp" / "synthetic.shp"
        shp.parent.mkdir()
        points.to_file(shp)
        path = tmp_path / "synthetic_shp.zip"
        with zipfile.ZipFile(path, "w") as z:
            for part in shp.parent.iterdir():
                z.write(part, part.name)
    else:  # two folders, so two GDAL layers streamed one after the other
        marks = [f"<Placemark><name>{r['name']}</name><Point><coordinates>{r.geometry.x},{r.geometry.y}"
                 "</coordinates></Point></Placemark>" for _, r in points.iterrows()]
        kml = ('<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
               f"<Folder><name>A</name>{''.join(marks[:9])}</Folder>"
               f"<Folder><name>B</name>{''.join(marks[9:])}</Folder></Document></kml>")
        path = tmp_path / "synthetic.kmz"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("doc.kml", kml)
    streamed, whole = _both_ways(path, atlas_copy, monkeypatch)
    assert len(streamed) == len(points)
    assert list(streamed["name"]) == list(points["name"])
    pd.testing.assert_frame_equal(streamed, whole)
    if fmt == "kmz":
        assert list(streamed["folder"]) == ["A"] * 9 + ["B"] * (len(points) - 9)


def test_geoparquet_is_accepted_and_equals_geojson(atlas_copy, points, tmp_path):
    pq, gj = tmp_path / "synthetic.parquet", tmp_path / "synthetic.geojson"
    points.to_crs("EPSG:32652").to_parquet(pq)  # a projected CRS, stated in the file
    points.to_file(gj, driver="GeoJSON")
    with pytest.warns(UserWarning, match="outside"):
        atlas.import_layer(pq, "from_parquet", gpkg=atlas_copy)
    with pytest.warns(UserWarning, match="outside"):
        atlas.import_layer(gj, "from_geojson", gpkg=atlas_copy)
    a, b = (atlas.read_layer(n, atlas_copy) for n in ("user_from_parquet", "user_from_geojson"))
    assert list(a["name"]) == list(b["name"]) and list(a["province"]) == list(b["province"])
    assert (shapely.distance(a.geometry.to_numpy(), b.geometry.to_numpy()) < 1e-7).all()
    plain = tmp_path / "synthetic_plain.parquet"
    pd.DataFrame({"name": ["x"], "lat": [39.5], "lon": [126.0]}).to_parquet(plain)
    result = run_cli("import", str(plain), "--as", "plain", "--gpkg", str(atlas_copy))
    assert result.returncode == 2 and "without GeoParquet metadata" in result.stderr


@pytest.mark.slow
def test_progress_is_reported_per_chunk(atlas_copy, points, tmp_path):
    path = tmp_path / "synthetic_big.csv"
    p = points.geometry.iloc[0]
    n = importer.CHUNK_ROWS * 2 + 5
    path.write_text("name,lat,lon\n" + "".join(f"s{i},{p.y},{p.x}\n" for i in range(n)))
    result = run_cli("import", str(path), "--as", "progress", "--gpkg", str(atlas_copy))
    assert result.returncode == 0, result.stderr
    assert f"{importer.CHUNK_ROWS * 2:,} features read, checked and written" in result.stderr
    assert f"user_progress: {n} features" in result.stdout
