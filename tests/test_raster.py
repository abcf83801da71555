"""Raster products: density surfaces, mines per province area, imagery chips.

Synthetic fixtures (point sets, GeoTIFFs) are generated in pytest's temporary
folders only and are named ``synthetic``; nothing synthetic reaches geodata/ or
output/. Expected values are computed independently (pyproj, shapely, the
kernel formula), never copied from an output.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
import shapely.ops
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer
from rasterio.transform import Affine

import atlas
from atlas import builder, densities, sources
from atlas.errors import InputError, NotFoundError

from .conftest import QGIS_PYTHON, run_cli

OUTLINE_4326 = sources.read_geojson("boundaries/ne10m_admin0_prk.geojson").union_all()
OUTLINE_5179 = sources.read_geojson("boundaries/ne10m_admin0_prk.geojson").to_crs(5179).union_all()
TO_5179 = Transformer.from_crs(4326, 5179, always_xy=True)
FROM_5179 = Transformer.from_crs(5179, 4326, always_xy=True)


def from_origin(west, north, xsize, ysize):
    """A north-up geotransform (rasterio's from_origin uses affine's deprecated ``*``)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def quartic(d_km, h_km):
    """The quartic kernel, written out independently of atlas.densities."""
    d_km = np.asarray(d_km, dtype=float)
    return np.where(d_km < h_km, 3.0 / (math.pi * h_km**2) * (1 - (d_km / h_km) ** 2) ** 2, 0.0)


def synthetic_gpkg(path: Path, xy_5179, atlas_gpkg: Path, weights=None, layer="synthetic_points") -> Path:
    """A GeoPackage with one synthetic point layer (coordinates given in EPSG:5179).

    The DPRK outline, which masks a density surface, is the atlas's own (a density reads
    nothing but the GeoPackage it is given).
    """
    pyogrio.write_dataframe(atlas.read_layer("dprk_outline", atlas_gpkg), path, layer="dprk_outline", driver="GPKG")
    xs, ys = zip(*xy_5179)
    lon, lat = FROM_5179.transform(xs, ys)
    data = {"site_id": [f"SYN-{i:03d}" for i in range(len(xs))],
            "name": [f"synthetic point {i}" for i in range(len(xs))]}
    if weights is not None:
        data["w"] = list(weights)
    gdf = gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG", append=True)
    return path


def read_surface(path: Path):
    with rasterio.open(path) as src:
        return src.read(1, masked=True), src.transform, src.profile, src.tags(), src


def cell_centre(transform, x, y):
    """Row, col of the cell holding (x, y), and the centre of that cell."""
    col, row = ~transform @ (x, y)
    col, row = int(col), int(row)
    cx, cy = transform @ (col + 0.5, row + 0.5)
    return row, col, cx, cy


# Interior places (EPSG:5179, snapped to the 5 km grid's cell centres, > 60 km from any coast
# or border) for synthetic points: near Tokchon and in Jagang's interior.
def _interior(lon, lat, cell=5000.0):
    x, y = TO_5179.transform(lon, lat)
    x = (math.floor(x / cell) + 0.5) * cell
    y = (math.floor(y / cell) + 0.5) * cell
    boundary = OUTLINE_5179.boundary
    assert boundary.distance(shapely.Point(x, y)) > 60_000, (lon, lat)
    return x, y


CLUSTER = _interior(126.3, 39.75)
LONE = _interior(126.95, 40.75)


# ------------------------------------------------------------------------ density, real mines


@pytest.fixture(scope="module")
def mine_density(gpkg, tmp_path_factory):
    return densities.density(gpkg=gpkg, out=tmp_path_factory.mktemp("density") / "mine_density.tif")


def test_real_mine_density_is_a_cog_in_5179_with_parameters_in_tags(mine_density, layers, gpkg):
    with rasterio.open(mine_density) as src:
        assert src.crs.to_epsg() == 5179
        assert src.res == (5000.0, 5000.0)
        assert src.dtypes[0] == "float32" and src.nodata == densities.DENSITY_NODATA
        structure = src.tags(ns="IMAGE_STRUCTURE")
        assert structure.get("LAYOUT") == "COG"
        assert structure.get("COMPRESSION") == "DEFLATE"
        assert "density" in src.descriptions[0] and src.units[0] == "points per km2"
        tags = src.tags()
    mines = layers["mines"]
    n = int((~(mines.geometry.isna() | mines.geometry.is_empty)).sum())
    assert tags["layer"] == "mines" and tags["n_points"] == str(n)
    assert tags["kernel"] == "quartic" and tags["bandwidth_km"] == "25" and tags["cell_km"] == "5"
    assert tags["source_gpkg"] == gpkg.name and tags["units"] == "points per km2"
    assert tags["created"][:4].isdigit() and tags["TIFFTAG_DATETIME"]
    assert mine_density.with_suffix(".qml").is_file()


def test_real_mine_density_integrates_to_the_number_of_mines(mine_density, layers):
    surface, transform, *_ = read_surface(mine_density)
    n = int((~(layers["mines"].geometry.isna() | layers["mines"].geometry.is_empty)).sum())
    integral = float(surface.sum()) * (transform.a / 1000) ** 2
    assert integral == pytest.approx(n, rel=1e-4)


def test_real_mine_density_is_masked_to_the_country(mine_density):
    surface, transform, *_ = read_surface(mine_density)
    outline = OUTLINE_5179
    # every cell whose centre is in the sea or in China is nodata; every cell inside has a value
    rows, cols = np.indices(surface.shape)
    xs, ys = transform @ (cols + 0.5, rows + 0.5)
    inside = shapely.contains_xy(outline, xs, ys)
    assert np.array_equal(~surface.mask, inside)
    # the valid cells cover the country's area (cell-centre discretisation)
    valid_km2 = inside.sum() * (transform.a / 1000) ** 2
    assert valid_km2 == pytest.approx(outline.area / 1e6, rel=0.02)


def test_real_mine_density_peaks_where_mines_cluster(mine_density, layers):
    surface, transform, *_ = read_surface(mine_density)
    pts = layers["mines"].dropna(subset=["geometry"]).to_crs(5179)
    xy = np.c_[pts.geometry.x, pts.geometry.y]
    neighbours = (np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) < 25_000).sum(1)
    row, col = np.unravel_index(np.argmax(surface.filled(-1)), surface.shape)
    px, py = transform @ (col + 0.5, row + 0.5)
    near_peak = int((np.hypot(xy[:, 0] - px, xy[:, 1] - py) < 25_000).sum())
    assert near_peak >= max(2, neighbours.max() - 1)
    densest = xy[np.argmax(neighbours)]
    r, c, *_ = cell_centre(transform, *densest)
    positive = surface.compressed()[surface.compressed() > 0]
    assert surface[r, c] >= np.percentile(positive, 90)
    # far from every mine (> h) the surface is exactly zero
    rows, cols = np.nonzero(~surface.mask)
    cx, cy = transform @ (cols + 0.5, rows + 0.5)
    far = np.min(np.hypot(cx[:, None] - xy[None, :, 0], cy[:, None] - xy[None, :, 1]), axis=1) > 26_000
    assert far.any() and np.all(surface[rows[far], cols[far]] == 0)


# ------------------------------------------------------------------------ density, synthetic


def test_synthetic_density_peaks_at_the_cluster_and_has_the_quartic_shape(gpkg, tmp_path):
    rng = np.random.default_rng(6)
    cluster = [(CLUSTER[0] + dx, CLUSTER[1] + dy) for dx, dy in rng.normal(0, 3000, (12, 2))]
    src = synthetic_gpkg(tmp_path / "synthetic.gpkg", [*cluster, LONE], gpkg)
    tif = densities.density("synthetic_points", gpkg=src, out=tmp_path / "synthetic_density.tif")
    surface, transform, _, tags, _ = read_surface(tif)
    assert tags["n_points"] == "13" and tags["points_not_represented"] == "0"
    assert float(surface.sum()) * 25 == pytest.approx(13, rel=1e-4)
    row, col = np.unravel_index(np.argmax(surface.filled(-1)), surface.shape)
    px, py = transform @ (col + 0.5, row + 0.5)
    assert math.hypot(px - CLUSTER[0], py - CLUSTER[1]) < 10_000
    # the lone interior point: its kernel is whole inside the country, so the surface around it
    # is the quartic kernel itself (up to the renormalisation of its sampled mass, < 1 %)
    r, c, cx, cy = cell_centre(transform, *LONE)
    assert (cx, cy) == pytest.approx(LONE)
    assert surface[r, c] == pytest.approx(quartic(0, 25), rel=0.01)
    for dc in (1, 2, 3, 4, 5, 6):
        d_km = dc * 5.0
        assert surface[r, c + dc] == pytest.approx(quartic(d_km, 25), rel=0.01, abs=1e-12)
        assert surface[r + dc, c] == pytest.approx(quartic(d_km, 25), rel=0.01, abs=1e-12)
    assert surface[r, c] < surface.max() / 3  # one point is far less dense than the cluster


def test_weighted_density_integrates_to_the_sum_of_weights(gpkg, tmp_path):
    src = synthetic_gpkg(tmp_path / "synthetic.gpkg", [CLUSTER, LONE], gpkg, weights=[3.0, 0.5])
    tif = densities.density("synthetic_points", weight="w", gpkg=src, out=tmp_path / "w.tif")
    surface, transform, _, tags, _ = read_surface(tif)
    assert tags["weight"] == "w" and tags["units"] == "w per km2"
    assert float(surface.sum()) * 25 == pytest.approx(3.5, rel=1e-4)
    r1, c1, *_ = cell_centre(transform, *CLUSTER)
    r2, c2, *_ = cell_centre(transform, *LONE)
    assert surface[r1, c1] / surface[r2, c2] == pytest.approx(6.0, rel=0.01)


def test_coastal_point_keeps_its_whole_mass_inside_the_mask(gpkg, tmp_path):
    # a synthetic point on the coast of the East Sea (Hamhung's shore): about half its kernel
    # would fall into the sea; the edge correction keeps its mass on land
    outline = OUTLINE_5179
    x, y = TO_5179.transform(127.55, 39.83)
    coast = shapely.ops.nearest_points(outline.boundary, shapely.Point(x, y))[0]
    src = synthetic_gpkg(tmp_path / "synthetic.gpkg", [(coast.x, coast.y)], gpkg)
    tif = densities.density("synthetic_points", gpkg=src, out=tmp_path / "coast.tif")
    surface, _, _, tags, _ = read_surface(tif)
    assert float(tags["kernel_mass_outside_mask_max"]) > 0.2
    assert float(surface.sum()) * 25 == pytest.approx(1.0, rel=1e-4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 25),
    cell_km=st.sampled_from([2.5, 4.0, 5.0, 10.0]),
    bandwidth_km=st.floats(3.0, 60.0),
    seed=st.integers(0, 2**16),
)
def test_density_integrates_to_n_for_any_points_inside(gpkg, tmp_path_factory, n, cell_km,
                                                       bandwidth_km, seed):
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = OUTLINE_4326.bounds
    pts = []
    while len(pts) < n:
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if OUTLINE_4326.contains(shapely.Point(lon, lat)):
            pts.append(TO_5179.transform(lon, lat))
    folder = tmp_path_factory.mktemp("synthetic_hypothesis")
    src = synthetic_gpkg(folder / "synthetic.gpkg", pts, gpkg)
    tif = densities.density("synthetic_points", cell_km=cell_km, bandwidth_km=bandwidth_km, gpkg=src,
                         out=folder / "d.tif")
    surface, transform, _, tags, _ = read_surface(tif)
    assert transform.a == cell_km * 1000
    assert tags["points_not_represented"] == "0"
    assert float(surface.sum()) * cell_km**2 == pytest.approx(n, rel=1e-4)
    assert surface.min() >= 0


def test_density_without_the_cog_driver_writes_a_tiled_gtiff_with_overviews(gpkg, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(densities, "_cog_available", lambda: False)
    tif = densities.density(cell_km=1, gpkg=gpkg, out=tmp_path / "fallback.tif")
    with rasterio.open(tif) as src:
        assert src.profile["tiled"] and src.profile["compress"] == "deflate"
        assert src.overviews(1) and src.tags()["kernel"] == "quartic"
        assert src.crs.to_epsg() == 5179
    assert not list(tmp_path.glob("*staging*"))


def test_density_bad_input_raises_and_writes_nothing(gpkg, tmp_path):
    out = tmp_path / "bad" / "d.tif"
    for kwargs in ({"cell_km": 0}, {"cell_km": -5}, {"bandwidth_km": 0}, {"bandwidth_km": -1},
                   {"bandwidth_km": float("nan")}, {"layer": "camp_findings"},
                   {"layer": "provinces"}, {"cell_km": 0.001}):
        with pytest.raises(InputError):
            densities.density(gpkg=gpkg, out=out, **kwargs)
    with pytest.raises(NotFoundError):
        densities.density(layer="no_such_layer", gpkg=gpkg, out=out)
    with pytest.raises(NotFoundError):
        densities.density(weight="no_such_field", gpkg=gpkg, out=out)
    with pytest.raises(InputError, match="not numeric or negative"):
        densities.density(weight="name", gpkg=gpkg, out=out)
    assert not out.parent.exists()


def test_density_cli_and_bad_input_exit_2_with_nothing_written(gpkg, tmp_path):
    out = tmp_path / "cli" / "mine_density.tif"
    ok = run_cli("density", "--gpkg", str(gpkg), "--out", str(out), "--bandwidth-km", "30")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == str(out)
    with rasterio.open(out) as src:
        assert src.tags()["bandwidth_km"] == "30"
    bad_out = tmp_path / "bad" / "d.tif"
    for args in (["--cell-km", "0"], ["--cell-km", "-5"], ["--bandwidth-km", "0"],
                 ["--bandwidth-km", "-25"], ["--layer", "camp_findings"], ["--weight", "nope"]):
        res = run_cli("density", "--gpkg", str(gpkg), "--out", str(bad_out), *args)
        assert res.returncode == 2, (args, res.stderr)
        assert res.stderr.startswith("atlas: error:") and "Traceback" not in res.stderr
    assert not bad_out.parent.exists()


def test_build_product_writes_density_style_and_province_layer(gpkg, tmp_path):
    copy = tmp_path / "atlas.gpkg"
    shutil.copy(gpkg, copy)
    assert next(iter(builder.PRODUCTS)) == "density"
    written = builder.build_products(copy, ["density"])
    assert [p.name for p in written] == ["mine_density.tif", "mine_density.qml",
                                        "province_mine_density.gpkg"]
    assert all(p.is_file() and p.parent == tmp_path for p in written)


# ------------------------------------------------------------------------ mines per province


def test_province_density_is_table_2_over_geodesic_area(gpkg, layers, tmp_path):
    out = tmp_path / "province_mine_density.gpkg"
    table = atlas.province_density(gpkg=gpkg, out=out)
    prov = layers["provinces"].set_index("province_id")
    assert len(table) == 10 and set(table["province_id"]) == set(prov.index)
    geod = Geod(ellps="WGS84")
    for row in table.itertuples():
        geodesic = abs(geod.geometry_area_perimeter(prov.loc[row.province_id, "geometry"])[0]) / 1e6
        assert row.area_km2 == pytest.approx(geodesic, rel=1e-4)
        assert row.reported_mines == prov.loc[row.province_id, "reported_mines"]
        assert row.mines_per_1000km2 == pytest.approx(row.reported_mines / geodesic * 1000, abs=2e-3)
    t2 = layers["report_table_2"]
    unidentified = int(t2.loc[t2["row_kind"] == "unidentified", "mines"].astype(int).sum())
    assert table["reported_mines"].sum() + unidentified == 360
    assert table["mines_per_1000km2"].is_monotonic_decreasing
    located = layers["mines"]["province"].value_counts()
    assert table["geolocated_mines"].sum() == located.sum()
    back = pyogrio.read_dataframe(out, layer="province_mine_density")
    assert back.crs.to_epsg() == 4326 and len(back) == 10
    assert set(back.geom_type) == {"MultiPolygon"}
    with sqlite3.connect(out) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10300


def test_province_density_cli_prints_the_table(gpkg):
    res = run_cli("province-density", "--gpkg", str(gpkg), "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert len(rows) == 10 and all(r["mines_per_1000km2"] > 0 for r in rows)


# ------------------------------------------------------------------------ QGIS


QGIS_SCRIPT = r"""
import json, os, sys
from qgis.core import QgsApplication, QgsRasterLayer, QgsMapSettings, QgsMapRendererParallelJob
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

app = QgsApplication([], False)
app.initQgis()
tif, bare, qml = sys.argv[1:4]
points = json.loads(sys.argv[4])
out = {}
plain = QgsRasterLayer(bare, "plain")
out["plain_valid"] = plain.isValid()
if plain.isValid():
    out["plain_renderer"] = plain.renderer().type()
lyr = QgsRasterLayer(tif, "density")
out["valid"] = lyr.isValid()
if lyr.isValid():
    out["crs"] = lyr.crs().authid()
    out["sidecar_renderer"] = lyr.renderer().type()
    msg, ok = lyr.loadNamedStyle(qml)
    out["style_loaded"] = ok
    out["renderer"] = lyr.renderer().type()
    ms = QgsMapSettings()
    ms.setLayers([lyr])
    ms.setDestinationCrs(lyr.crs())
    ms.setExtent(lyr.extent())
    ms.setOutputSize(QSize(550, 595))
    ms.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererParallelJob(ms)
    job.start()
    job.waitForFinished()
    img = job.renderedImage()
    out["rgb"] = {}
    for key, (x, y) in points.items():
        p = ms.mapToPixel().transform(x, y)
        c = QColor(img.pixel(int(p.x()), int(p.y())))
        out["rgb"][key] = [c.red(), c.green(), c.blue()]
print(json.dumps(out))
sys.stdout.flush()
os._exit(0)
"""


def test_qgis_opens_the_density_geotiff_with_its_pseudocolour_style(mine_density, tmp_path, qgis):
    surface, transform, *_ = read_surface(mine_density)
    row, col = np.unravel_index(np.argmax(surface.filled(-1)), surface.shape)
    zr, zc = np.argwhere(surface.filled(-1) == 0)[0]
    points = {"peak": transform @ (col + 0.5, row + 0.5), "zero": transform @ (zc + 0.5, zr + 0.5)}
    bare = tmp_path / "no_style.tif"
    shutil.copy(mine_density, bare)
    script = tmp_path / "qgis_check.py"
    script.write_text(QGIS_SCRIPT)
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(runtime),
           "HOME": str(tmp_path)}
    res = subprocess.run([QGIS_PYTHON, str(script), str(mine_density), str(bare),
                          str(mine_density.with_suffix(".qml")), json.dumps(points)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["valid"] and out["crs"] == "EPSG:5179"
    # without the style QGIS draws a grey stretch (densest white); the sidecar .qml replaces it
    assert out["plain_valid"] and out["plain_renderer"] == "singlebandgray"
    assert out["sidecar_renderer"] == "singlebandpseudocolor"
    assert out["style_loaded"] and out["renderer"] == "singlebandpseudocolor"
    peak, zero = out["rgb"]["peak"], out["rgb"]["zero"]
    assert sum(peak) < 300 and peak[0] > peak[2]  # dark red, the most visible colour
    assert zero == [255, 255, 255]  # zero density is transparent over the white background


# ------------------------------------------------------------------------ chips


SYN_W, SYN_H, SYN_RES = 1900, 2500, 20.0
SYN_ORIGIN = (222000.0, 4410000.0)  # EPSG:32652, upper-left corner
NODATA_BLOCK = (248500.0, 4383000.0, 252000.0, 4386000.0)  # x0, y0, x1, y1 in EPSG:32652
NODATA = 65535


@pytest.fixture(scope="module")
def synthetic_utm(tmp_path_factory) -> Path:
    """A 3-band uint16 GeoTIFF in EPSG:32652: band 1 = column, band 2 = row, band 3 = 7."""
    path = tmp_path_factory.mktemp("synthetic_imagery") / "synthetic_utm52.tif"
    cols, rows = np.meshgrid(np.arange(SYN_W), np.arange(SYN_H))
    data = np.stack([cols, rows, np.full_like(cols, 7)]).astype("uint16")
    transform = from_origin(*SYN_ORIGIN, SYN_RES, SYN_RES)
    (c0, r1), (c1, r0) = (~transform @ NODATA_BLOCK[:2]), (~transform @ NODATA_BLOCK[2:])
    data[:, int(r0):int(r1), int(c0):int(c1)] = NODATA
    with rasterio.open(path, "w", driver="GTiff", width=SYN_W, height=SYN_H, count=3,
                       dtype="uint16", crs="EPSG:32652", transform=transform, nodata=NODATA) as dst:
        dst.write(data)
        dst.update_tags(TIFFTAG_DATETIME="2015:04:02 10:30:00")
        for b, d in enumerate(("column", "row", "seven"), start=1):
            dst.set_band_description(b, d)
    return path


def expected_utm_values(chip_transform, width, height):
    """Source column, row (or nodata) for each chip pixel centre, via pyproj."""
    rows, cols = np.indices((height, width))
    xs, ys = chip_transform @ (cols + 0.5, rows + 0.5)
    ux, uy = Transformer.from_crs(5179, 32652, always_xy=True).transform(xs, ys)
    sc = np.floor((ux - SYN_ORIGIN[0]) / SYN_RES)
    sr = np.floor((SYN_ORIGIN[1] - uy) / SYN_RES)
    inside = (sc >= 0) & (sc < SYN_W) & (sr >= 0) & (sr < SYN_H)
    in_block = ((ux >= NODATA_BLOCK[0]) & (ux < NODATA_BLOCK[2]) & (uy > NODATA_BLOCK[1])
                & (uy <= NODATA_BLOCK[3]))
    valid = inside & ~in_block
    return np.where(valid, sc, NODATA), np.where(valid, sr, NODATA), valid


def test_chips_from_a_utm_geotiff_have_right_bounds_crs_size_and_values(gpkg, layers,
                                                                       synthetic_utm, tmp_path):
    out_dir = tmp_path / "chips"
    with pytest.warns(UserWarning, match="outside synthetic_utm52.tif"):
        result = atlas.chips(synthetic_utm, sites="camps", size_km=5, out_dir=out_dir, gpkg=gpkg)
    camps = layers["camps"]
    located = camps[~(camps.geometry.isna() | camps.geometry.is_empty)]
    ux, uy = Transformer.from_crs(4326, 32652, always_xy=True).transform(
        located.geometry.x.to_numpy(), located.geometry.y.to_numpy())
    on_data = ((ux > SYN_ORIGIN[0]) & (ux < SYN_ORIGIN[0] + SYN_W * SYN_RES)
               & (uy < SYN_ORIGIN[1]) & (uy > SYN_ORIGIN[1] - SYN_H * SYN_RES))
    expect_in = set(located["site_id"][on_data])
    assert len(expect_in) >= 4
    assert {c.site_id for c in result.written} == expect_in
    assert {s for s, _ in result.outside} == set(located["site_id"]) - expect_in
    assert {s for s, _ in result.no_geometry} == set(camps["site_id"]) - set(located["site_id"])
    assert sorted(p.name for p in out_dir.glob("*.tif")) == sorted(f"{s}.tif" for s in expect_in)
    assert list(result) == [c.path for c in result.written]

    partial = []
    for chip in result.written:
        site = located[located["site_id"] == chip.site_id].iloc[0]
        sx, sy = TO_5179.transform(site.geometry.x, site.geometry.y)
        with rasterio.open(chip.path) as src:
            assert chip.path.name == f"{chip.site_id}.tif"
            assert src.crs.to_epsg() == 5179 and src.count == 3 and src.dtypes[0] == "uint16"
            assert src.nodata == NODATA
            assert src.width == src.height == round(5000 / SYN_RES)
            b = src.bounds
            assert (b.right - b.left, b.top - b.bottom) == pytest.approx((5000.0, 5000.0))
            assert ((b.left + b.right) / 2, (b.top + b.bottom) / 2) == pytest.approx((sx, sy), abs=1e-6)
            tags = src.tags()
            assert tags["site_id"] == chip.site_id and tags["site_name"] == site["name"]
            assert tags["source_imagery"] == "synthetic_utm52.tif"
            assert tags["source_imagery_date"] == "2015:04:02 10:30:00"
            assert src.descriptions == ("column", "row", "seven")
            data = src.read()
            exp_col, exp_row, valid = expected_utm_values(src.transform, src.width, src.height)
        match = (data[0] == exp_col) & (data[1] == exp_row)
        assert match.mean() > 0.99, chip.site_id  # nearest neighbour; rounding at pixel edges
        assert np.all(data[2][valid & match] == 7)
        assert np.all(data[:, ~valid] == NODATA)  # beyond the scene and the nodata block
        assert chip.coverage == pytest.approx(valid.mean(), abs=0.01)
        if not valid.all():
            partial.append(chip.site_id)
    # KHS-SUN's chip crosses the scene's west edge; KLS-14's and KLS-18's the nodata block
    assert {"KHS-SUN", "KLS-14", "KLS-18"} <= set(partial)


def test_chips_from_a_geographic_raster_without_nodata_get_a_mask(gpkg, layers, tmp_path):
    """1 band float32 in EPSG:4326, no nodata: pixels beyond the scene are masked, not guessed."""
    site = layers["camps"].set_index("site_id").loc["KLS-15"].geometry
    res = 0.0002
    west = site.x - 0.01  # the scene starts ~850 m west of the site: the chip crosses its edge
    north = site.y + 0.05
    w, h = 500, 500
    values = np.arange(w * h, dtype="float32").reshape(h, w)
    path = tmp_path / "synthetic_geographic.tif"
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(west, north, res, res)) as dst:
        dst.write(values, 1)
        dst.update_tags(ACQUISITIONDATE="2014-09-30")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = atlas.chips(path, sites="camps", size_km=4, out_dir=tmp_path / "c", gpkg=gpkg)
    (chip,) = result.written
    assert chip.site_id == "KLS-15"
    with rasterio.open(chip.path) as src:
        assert src.crs.to_epsg() == 5179 and src.nodata is None
        assert src.tags()["source_imagery_date"] == "2014-09-30"
        assert src.width * src.res[0] == pytest.approx(4000)
        # the chip's pixel size is the scene's at the site (0.0002° of longitude, in metres)
        geod_m = Geod(ellps="WGS84").inv(site.x, site.y, site.x + res, site.y)[2]
        assert src.res[0] == pytest.approx(geod_m, rel=0.02)
        data, mask = src.read(1), src.dataset_mask()
        rows, cols = np.indices(data.shape)
        xs, ys = src.transform @ (cols + 0.5, rows + 0.5)
    lon, lat = FROM_5179.transform(xs, ys)
    sc, sr = np.floor((lon - west) / res), np.floor((north - lat) / res)
    inside = (sc >= 0) & (sc < w) & (sr >= 0) & (sr < h)
    assert 0.5 < inside.mean() < 1.0  # partial chip
    agree = (mask > 0) == inside
    assert agree.mean() > 0.99
    both = inside & (mask > 0)
    assert (data[both] == (sr * w + sc)[both]).mean() > 0.99
    assert chip.coverage == pytest.approx(inside.mean(), abs=0.01)


def test_chips_cli_lists_chips_and_reports_sites_outside(gpkg, synthetic_utm, tmp_path):
    out_dir = tmp_path / "chips"
    res = run_cli("chips", str(synthetic_utm), "--gpkg", str(gpkg), "--out", str(out_dir),
                  "--size-km", "2")
    assert res.returncode == 0, res.stderr
    printed = [Path(line) for line in res.stdout.split()]
    assert printed and all(p.parent == out_dir and p.is_file() for p in printed)
    assert "outside synthetic_utm52.tif" in res.stderr and "KLS-15" in res.stderr
    assert "no public coordinate" in res.stderr
    with rasterio.open(printed[0]) as src:
        assert src.width * src.res[0] == pytest.approx(2000)


def test_chips_bad_input_exit_2_and_nothing_written(gpkg, synthetic_utm, tmp_path):
    not_raster = tmp_path / "notes.tif"
    not_raster.write_text("this is not a raster\n")
    no_crs = tmp_path / "synthetic_no_crs.tif"
    with rasterio.open(no_crs, "w", driver="GTiff", width=10, height=10, count=1,
                       dtype="uint8") as dst:
        dst.write(np.ones((1, 10, 10), "uint8"))
    far_away = tmp_path / "synthetic_far.tif"  # a scene over the Alps: no site on it
    with rasterio.open(far_away, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8",
                       crs="EPSG:4326", transform=from_origin(7.0, 46.5, 0.01, 0.01)) as dst:
        dst.write(np.ones((1, 10, 10), "uint8"))
    out_dir = tmp_path / "chips"
    cases = [
        [str(not_raster)], [str(no_crs)], [str(far_away)], [str(tmp_path / "missing.tif")],
        [str(synthetic_utm), "--size-km", "0"], [str(synthetic_utm), "--size-km", "-5"],
        [str(synthetic_utm), "--resolution-m", "0"], [str(synthetic_utm), "--sites", "nope"],
        [str(synthetic_utm), "--sites", "camp_findings"],
    ]
    for args in cases:
        res = run_cli("chips", *args, "--gpkg", str(gpkg), "--out", str(out_dir))
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert res.stderr.startswith("atlas: error:") and "Traceback" not in res.stderr
        assert not out_dir.exists(), args
    for kwargs in ({"size_km": 0}, {"size_km": -1}, {"size_km": float("inf")}):
        with pytest.raises(InputError):
            atlas.chips(synthetic_utm, gpkg=gpkg, out_dir=out_dir, **kwargs)
    with pytest.raises(InputError, match="no CRS"):
        atlas.chips(no_crs, gpkg=gpkg, out_dir=out_dir)
    with pytest.raises(InputError, match="not a GeoTIFF or JPEG 2000"):
        atlas.chips(not_raster, gpkg=gpkg, out_dir=out_dir)
    assert not out_dir.exists()
