"""Spatial queries (issue 3): find by any name, near/nearest/within, summaries, assign_admin.

Distances are checked against a brute-force geodesic computation over every
feature; the admin join against a plain geopandas ``sjoin``/``sjoin_nearest``
written here; the summary against Table 2 as transcribed and against a
GeoPackage whose ``province`` columns were tampered with.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

import atlas
from atlas import distance, search, sources
from atlas.admin import join_admin
from atlas.errors import AmbiguousError, InputError, NoGeometryError, NotFoundError

from .conftest import run_cli

GEOD = Geod(ellps="WGS84")
DPRK_BBOX = (124.2, 37.6, 130.7, 43.0)


# --- helpers ----------------------------------------------------------------------------


def brute_force(lon: float, lat: float, gdf: gpd.GeoDataFrame, km: float) -> pd.DataFrame:
    """Geodesic distance and bearing from (lon, lat) to every point of gdf; those within km."""
    present = ~(gdf.geometry.isna() | gdf.geometry.is_empty)
    pts = gdf[present]
    n = len(pts)
    az, _, dist = GEOD.inv(np.full(n, lon), np.full(n, lat), pts.geometry.x.to_numpy(),
                           pts.geometry.y.to_numpy())
    out = pd.DataFrame({"pos": np.flatnonzero(present.to_numpy()), "dist_m": dist,
                        "bearing": np.mod(az, 360)})
    return out[out["dist_m"] <= km * 1000.0]


def angle_diff(a, b):
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


def reference_admin(gdf: gpd.GeoDataFrame, provinces, counties, tol_km: float = 5.0) -> pd.DataFrame:
    """The join as plain geopandas does it: sjoin 'within' in EPSG:5179, then sjoin_nearest."""
    pts = gpd.GeoDataFrame(geometry=gdf.geometry.to_crs(5179).to_numpy(), crs=5179)
    has = ~(pts.geometry.isna() | pts.geometry.is_empty).to_numpy()

    def locate(polys):
        polys = polys.to_crs(5179)[["geometry"]].reset_index(drop=True)
        sub = pts[has]
        idx = pd.Series(-1, index=pts.index)
        method = pd.Series(None, index=pts.index, dtype=object)
        dist = pd.Series(np.nan, index=pts.index)
        j = gpd.sjoin(sub, polys, how="left", predicate="within")
        j = j[~j.index.duplicated(keep="first")]
        ok = j["index_right"].notna()
        idx[j.index[ok]] = j.loc[ok, "index_right"].astype(int)
        method[j.index[ok]] = "within"
        dist[j.index[ok]] = 0.0
        rest = sub.loc[j.index[~ok]]
        method[rest.index] = "outside"
        if len(rest):
            n = gpd.sjoin_nearest(rest, polys, how="left", max_distance=tol_km * 1000,
                                  distance_col="d")
            n = n[~n.index.duplicated(keep="first")]
            ok = n["index_right"].notna()
            idx[n.index[ok]] = n.loc[ok, "index_right"].astype(int)
            method[n.index[ok]] = "nearest"
            dist[n.index[ok]] = n.loc[ok, "d"] / 1000.0
        return idx.to_numpy(), method.to_numpy(), dist.to_numpy()

    p_idx, p_method, p_dist = locate(provinces)
    c_idx, _, _ = locate(counties)
    names = provinces["name_en"].to_numpy(dtype=object)
    cids = counties["county_id"].to_numpy(dtype=object)
    return pd.DataFrame({
        "province": [names[i] if i >= 0 else None for i in p_idx],
        "county_id": [cids[i] if i >= 0 else None for i in c_idx],
        "admin_method": p_method,
        "admin_distance_km": np.round(p_dist.astype(float), 3),
    }, index=gdf.index)


def synthetic_points(n: int, seed: int, bbox=DPRK_BBOX) -> gpd.GeoDataFrame:
    """Synthetic random points (tests only, never written to geodata/ or output/)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(bbox[0], bbox[2], n)
    y = rng.uniform(bbox[1], bbox[3], n)
    return gpd.GeoDataFrame({"synthetic_id": np.arange(n)}, geometry=gpd.points_from_xy(x, y),
                            crs="EPSG:4326")


def assert_admin_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    for col in ("province", "county_id", "admin_method"):
        g = got[col].astype(object).where(got[col].notna(), None).tolist()
        w = want[col].astype(object).where(want[col].notna(), None).tolist()
        assert g == w, col
    np.testing.assert_array_equal(got["admin_distance_km"].to_numpy(dtype=float),
                                  want["admin_distance_km"].to_numpy(dtype=float))


# --- near(), nearest(), within() against brute force -------------------------------------


@pytest.mark.parametrize("km", [5.0, 25.0, 60.0, 150.0])
def test_near_equals_brute_force_for_every_camp_with_geometry(gpkg, layers, km):
    camps, mines = layers["camps"], layers["mines"]
    located = camps[~(camps.geometry.isna() | camps.geometry.is_empty)]
    assert len(located) >= 20
    for site_id, geom in zip(located["site_id"], located.geometry):
        got = atlas.near(site_id, km=km, layer="mines", gpkg=gpkg)
        want = brute_force(geom.x, geom.y, mines, km)
        want_ids = mines["mine_id"].to_numpy()[want["pos"]]
        assert set(got["id"]) == set(want_ids), site_id
        ref = dict(zip(want_ids, want["dist_m"]))
        bearing = dict(zip(want_ids, want["bearing"]))
        for mid, d, b in zip(got["id"], got["distance_km"], got["bearing_deg"]):
            assert abs(d * 1000.0 - ref[mid]) < 1.0, (site_id, mid)
            if d == 0.0:  # a feature at the site itself (OTH-DHR at the Taehung mine): no bearing
                assert math.isnan(b), (site_id, mid)
                continue
            assert angle_diff(b, bearing[mid]) < 1e-6
        assert got["distance_km"].is_monotonic_increasing
        assert (got["site_id"] == site_id).all()


@pytest.mark.slow
def test_near_finds_a_mine_exactly_at_the_radius(gpkg, layers):
    camps, mines = layers["camps"], layers["mines"]
    located = camps[~(camps.geometry.isna() | camps.geometry.is_empty)]
    for site_id, geom in zip(located["site_id"], located.geometry):
        every = brute_force(geom.x, geom.y, mines, 1e5).sort_values("dist_m")
        for pos, d in zip(every["pos"].head(5), every["dist_m"].head(5)):
            got = atlas.near(site_id, km=d / 1000.0 * (1 + 1e-12), layer="mines", gpkg=gpkg)
            assert mines["mine_id"].iloc[pos] in set(got["id"]), (site_id, d)


def test_nearest_equals_brute_force(gpkg, layers):
    camps, mines = layers["camps"], layers["mines"]
    located = camps[~(camps.geometry.isna() | camps.geometry.is_empty)]
    for site_id, geom in zip(located["site_id"], located.geometry):
        got = atlas.nearest(site_id, "mines", k=4, gpkg=gpkg)
        want = brute_force(geom.x, geom.y, mines, 1e5).sort_values("dist_m").head(4)
        np.testing.assert_allclose(got["distance_km"] * 1000.0, want["dist_m"], atol=1.0)
        assert list(got["id"]) == list(mines["mine_id"].to_numpy()[want["pos"]])


def test_near_in_its_own_layer_leaves_the_site_out(gpkg, layers):
    got = atlas.near("KLS-14", km=40, layer="camps", gpkg=gpkg)
    assert "KLS-14" not in set(got["id"])
    camps = layers["camps"]
    site = camps.set_index("site_id").geometry["KLS-14"]
    want = brute_force(site.x, site.y, camps, 40)
    want_ids = set(camps["site_id"].to_numpy()[want["pos"]]) - {"KLS-14"}
    assert set(got["id"]) == want_ids and want_ids  # OTH-CMB and KHS-01 are near Camp 14


def test_named_mines_near_reports_town_proxies(gpkg, layers):
    named = layers["named_mines"]
    proxy = named[named["is_town_proxy"].astype(bool) & ~named.geometry.is_empty & named.geometry.notna()]
    assert len(proxy)
    geom = proxy.geometry.iloc[0]
    got = atlas.near((geom.x, geom.y), km=1, layer="named_mines", gpkg=gpkg)
    row = got[got["id"] == proxy["named_id"].iloc[0]].iloc[0]
    assert row["distance_km"] < 1e-6 and row["precision"] == "town proxy"
    assert "town proxy" in row["kind"]
    assert got.attrs["features_without_geometry"] == int((named.geometry.isna() | named.geometry.is_empty).sum())


def test_within_keeps_the_layer_columns_and_agrees_with_near(gpkg):
    w = atlas.within("KHS-77", 40, "mines", gpkg=gpkg)
    n = atlas.near("KHS-77", km=40, layer="mines", gpkg=gpkg)
    assert {"mine_id", "commodity", "source", "province", "distance_km", "bearing_deg"} <= set(w.columns)
    assert list(w["mine_id"]) == list(n["id"])
    np.testing.assert_allclose(w["distance_km"], n["distance_km"])
    assert w.crs.to_epsg() == 4326


def test_polygon_distances_are_to_the_nearest_point_and_zero_inside(gpkg, layers):
    deposits = layers["mineral_deposits"].reset_index(drop=True)
    for site_id in ("KLS-15", "KHS-03", "KLS-22", "KHS-88"):
        site = layers["camps"].set_index("site_id").geometry[site_id]
        got = atlas.near(site_id, km=400, layer="mineral_deposits", gpkg=gpkg).set_index("id")
        for _, dep in deposits.iterrows():
            geom = dep.geometry
            inside = geom.contains(site)
            # brute force: the boundary densified to ~1 km, every vertex measured on the ellipsoid
            ring = shapely.segmentize(geom.boundary, 0.01)
            xy = shapely.get_coordinates(ring)
            _, _, d = GEOD.inv(np.full(len(xy), site.x), np.full(len(xy), site.y), xy[:, 0], xy[:, 1])
            ref_km = 0.0 if inside else d.min() / 1000.0
            if ref_km > 395:
                continue
            assert dep["region_id"] in got.index, (site_id, dep["region_id"])
            d_km = got.loc[dep["region_id"], "distance_km"]
            if inside:
                assert d_km == 0.0 and math.isnan(got.loc[dep["region_id"], "bearing_deg"])
            else:  # never more than the vertex minimum, and within the densification gap of it
                assert 0 < d_km <= ref_km + 1e-6 and ref_km - d_km < 1.0, (site_id, dep["region_id"])


def test_near_from_a_county_measures_from_its_boundary(gpkg, layers):
    counties = layers["counties"]
    yodok = counties[counties["name_ko"] == "요덕군"].iloc[0]
    got = atlas.near("Yodok County", km=15, layer="camps", gpkg=gpkg)
    camps = layers["camps"]
    inside = camps[camps.geometry.notna() & camps.within(yodok.geometry)]
    assert set(inside["site_id"]) <= set(got.loc[got["distance_km"] == 0, "id"])
    assert "KLS-15" in set(inside["site_id"])
    assert "area" in got.attrs["site"]


# --- properties on synthetic points (hypothesis) ---------------------------------------------


lon_st = st.floats(min_value=100.0, max_value=150.0, allow_nan=False)
lat_st = st.floats(min_value=20.0, max_value=55.0, allow_nan=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=st.lists(st.tuples(st.floats(123.0, 132.0), st.floats(36.5, 44.0)), min_size=1, max_size=80),
    far=st.lists(st.tuples(lon_st, lat_st), max_size=10),
    site=st.tuples(st.floats(123.0, 132.0), st.floats(36.5, 44.0)) | st.tuples(lon_st, lat_st),
    r1=st.floats(0.0, 800.0),
    r2=st.floats(0.0, 800.0),
)
def test_near_properties_on_synthetic_points(points, far, site, r1, r2):
    pts = points + far
    gdf = gpd.GeoDataFrame({"name": [f"synthetic {i}" for i in range(len(pts))]},
                           geometry=[shapely.Point(x, y) for x, y in pts], crs="EPSG:4326")
    index = distance.SpatialIndex(gdf)
    small, big = sorted((r1, r2))
    a = atlas.near(site, km=small, layer=index)
    b = atlas.near(site, km=big, layer=index)
    for res, km in ((a, small), (b, big)):
        assert res["distance_km"].is_monotonic_increasing  # sorted
        assert (res["distance_km"] <= km).all()  # nothing beyond the radius
        want = brute_force(site[0], site[1], gdf, km)  # nothing within it missed
        assert sorted(res["name"]) == sorted(gdf["name"].to_numpy()[want["pos"]])
    assert set(a["name"]) <= set(b["name"])  # monotone in the radius
    # a radius exactly as long as the distance to a point holds that point
    j = int(abs(r1) * 1000) % len(pts)
    _, _, d = GEOD.inv(site[0], site[1], pts[j][0], pts[j][1])
    edge = atlas.near(site, km=d / 1000.0 * (1 + 1e-12), layer=index)
    assert f"synthetic {j}" in set(edge["name"])
    k = min(3, len(gdf))
    top = atlas.nearest(site, index, k=k)
    every = brute_force(site[0], site[1], gdf, 1e6).sort_values("dist_m")
    np.testing.assert_allclose(top["distance_km"] * 1000, every["dist_m"].head(k), atol=1e-3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points=st.lists(st.tuples(st.floats(123.5, 131.5), st.floats(37.0, 43.5)), min_size=1, max_size=60),
       crs=st.sampled_from(["EPSG:4326", "EPSG:5179", "EPSG:32652", "EPSG:3857"]))
def test_assign_admin_equals_plain_geopandas_join_on_synthetic_points(gpkg, layers, points, crs):
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(x, y) for x, y in points], crs="EPSG:4326").to_crs(crs)
    got = atlas.assign_admin(gdf, gpkg)
    want = reference_admin(gdf, layers["provinces"], layers["counties"])
    assert_admin_equal(got, want)


@pytest.mark.parametrize("n, seed", [(3000, 1), pytest.param(120_000, 2, marks=pytest.mark.slow)])
def test_assign_admin_and_join_admin_equal_plain_geopandas_join_at_scale(gpkg, layers, n, seed):
    # 120,000 points take the grid path of assign_admin and include points equidistant
    # from two provinces (ties broken by sjoin_nearest itself)
    gdf = synthetic_points(n, seed, (123.8, 37.3, 131.0, 43.3))
    gdf.loc[gdf.index[::101], "geometry"] = None
    gdf.index = gdf.index * 7 + 3  # a non-default index is kept
    want = reference_admin(gdf, layers["provinces"], layers["counties"])
    assert set(want["admin_method"].dropna()) == {"within", "nearest", "outside"}
    got = atlas.assign_admin(gdf, gpkg)
    assert list(got.index) == list(gdf.index) and "synthetic_id" in got
    assert_admin_equal(got, want)
    direct = join_admin(gdf, layers["provinces"], layers["counties"])
    assert_admin_equal(direct, want)


def test_assign_admin_flags_nearest_and_outside_and_checks_input(gpkg, layers):
    prov = layers["provinces"].to_crs(5179)
    outline = prov.union_all().boundary
    # a coastal point of the outline moved 2 km and 40 km out to sea, due west
    p = shapely.Point(min(shapely.get_coordinates(outline), key=lambda c: c[0]))
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(p.x - 2000, p.y), shapely.Point(p.x - 40000, p.y)],
                           crs=5179)
    out = atlas.assign_admin(pts, gpkg)
    assert list(out["admin_method"]) == ["nearest", "outside"]
    assert 1.9 <= out["admin_distance_km"].iloc[0] <= 2.0 + 1e-9
    assert out["province"].iloc[0] in set(prov["name_en"]) and pd.isna(out["province"].iloc[1])
    assert "province" not in pts.columns  # the input is not modified
    with pytest.raises(InputError):
        atlas.assign_admin(gpd.GeoDataFrame(geometry=[shapely.Point(126, 39)]), gpkg)
    with pytest.raises(InputError):
        atlas.assign_admin(pd.DataFrame({"x": [1]}), gpkg)


def test_assign_admin_reproduces_the_build_columns(gpkg, layers):
    for name in ("mines", "camps", "named_mines"):
        layer = layers[name]
        out = atlas.assign_admin(layer[["geometry"]], gpkg)
        for col in ("province", "county_id", "admin_method"):
            a = out[col].astype(object).where(out[col].notna(), None).tolist()
            b = layer[col].astype(object).where(layer[col].notna(), None).tolist()
            assert a == b, (name, col)


# --- find() and resolve() --------------------------------------------------------------------


def test_ascii_fast_path_gives_the_general_keys(layers):
    """An ASCII name takes a shortcut; a combining accent sends the same name down the general path."""
    from atlas import names

    texts = set()
    for name in ("camps", "mines", "named_mines", "counties", "provinces"):
        for col in layers[name].columns:
            if layers[name][col].dtype == object or pd.api.types.is_string_dtype(layers[name][col]):
                texts |= {v for t in layers[name][col].dropna().astype(str) for v in search._variants(t)}
    assert len(texts) > 500
    texts = {t for t in texts if t.isascii()}
    assert len(texts) > 300
    for t in texts:
        assert names.normalize(t) == names.normalize(t + "\u0301"), t
        assert names.keys(t) == names.keys(t + "\u0301"), t


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=30))
def test_ascii_fast_path_gives_the_general_keys_on_any_text(text):
    from atlas import names

    assert names.normalize(text) == names.normalize(text + "\u0301")
    assert names.keys(text) == names.keys(text + "\u0301")



def _county_id(layers, name_ko: str) -> str:
    c = layers["counties"]
    return c.loc[c["name_ko"] == name_ko, "county_id"].iloc[0]


def _mine_id(layers, name: str) -> str:
    m = layers["mines"]
    return m.loc[m["name"] == name, "mine_id"].iloc[0]


@pytest.mark.parametrize("spelling", ["Kaechon", "Kaech'ŏn", "Kaech’ŏn", "Gaecheon", "KAECH-ON",
                                      "kaechon ", "개천"])
def test_every_romanization_of_kaechon_finds_county_camps_and_mine(gpkg, layers, spelling):
    found = atlas.find(spelling, gpkg)
    ids = set(found["id"])
    assert _county_id(layers, "개천시") in ids
    assert "KLS-14" in ids
    if spelling != "개천":  # the kyo-hwa-so and the mine have no Hangul name in the sources
        assert {"KHS-01", _mine_id(layers, "Gaecheon Coal Mine")} <= ids
    assert found["score"].is_monotonic_decreasing
    assert set(found["match"]) <= set(search.MATCH_SCORES) | {"fuzzy"}


@pytest.mark.parametrize("spelling", ["Yodok", "Yodŏk", "Yodeok", "요덕", "yo-dok"])
def test_every_romanization_of_yodok(gpkg, layers, spelling):
    ids = set(atlas.find(spelling, gpkg)["id"])
    assert {"KLS-15", _county_id(layers, "요덕군")} <= ids
    assert atlas.resolve(spelling, gpkg, layers=["camps"]).id == "KLS-15"
    with pytest.warns(UserWarning, match="Yodok County"):  # the camp, saying the county was a candidate
        assert atlas.resolve(spelling, gpkg).id == "KLS-15"


@pytest.mark.parametrize("spelling", ["Tanchon", "Dancheon", "Tanch'ŏn", "단천"])
def test_every_romanization_of_tanchon(gpkg, layers, spelling):
    ids = set(atlas.find(spelling, gpkg)["id"])
    assert _county_id(layers, "단천시") in ids
    if spelling != "단천":
        assert "KHS-77" in ids


@pytest.mark.parametrize("query", ["KLS-14", "kls 14", "kwan-li-so 14", "Kwalliso 14", "camp 14",
                                   "Camp No. 14", "14", "제14호 관리소", "Kaechon (Camp 14)"])
def test_camp_14_by_id_number_and_kind(gpkg, query):
    assert atlas.resolve(query, gpkg).id == "KLS-14"


def test_22_is_two_camps_and_never_a_silent_guess(gpkg, layers):
    found = atlas.find("22", gpkg)
    assert set(found["id"]) == {"KLS-22", "KHS-22"}
    with pytest.raises(AmbiguousError) as err:
        atlas.resolve("22", gpkg)
    assert {c["id"] for c in err.value.candidates} == {"KLS-22", "KHS-22"}
    assert "KLS-22" in str(err.value) and "KHS-22" in str(err.value)
    assert atlas.resolve("kwan-li-so 22", gpkg).id == "KLS-22"
    assert atlas.resolve("kyo-hwa-so 22", gpkg).id == "KHS-22"
    with pytest.raises(AmbiguousError):
        atlas.near("22", gpkg=gpkg)


def test_kaechon_is_ambiguous_and_lists_every_kind(gpkg, layers):
    with pytest.raises(AmbiguousError) as err:
        atlas.resolve("Kaechon", gpkg)
    ids = {c["id"] for c in err.value.candidates}
    assert {"KLS-14", "KHS-01", _county_id(layers, "개천시"), _mine_id(layers, "Gaecheon Coal Mine")} <= ids
    assert err.value.exit_code == 2


def test_a_suffix_picks_the_unit(gpkg, layers):
    assert atlas.resolve("Yodok County", gpkg).id == _county_id(layers, "요덕군")
    assert atlas.resolve("요덕군", gpkg).id == _county_id(layers, "요덕군")
    assert atlas.resolve("Kaechon-si", gpkg).id == _county_id(layers, "개천시")


def test_ids_of_every_layer_resolve(gpkg, layers):
    for layer, col in (("mines", "mine_id"), ("named_mines", "named_id"), ("camps", "site_id"),
                       ("provinces", "province_id"), ("counties", "county_id"),
                       ("mineral_deposits", "region_id")):
        for value in layers[layer][col].iloc[:3]:
            site = atlas.resolve(value, gpkg)
            assert (site.layer, site.id) == (layer, value)


def test_unknown_names_raise_with_suggestions(gpkg):
    with pytest.raises(NotFoundError) as err:
        atlas.find("Yodokk", gpkg, fuzzy=False)
    assert any("Yodok" in s for s in err.value.suggestions)
    fuzzy = atlas.find("Yodokk", gpkg)
    assert set(fuzzy["match"]) == {"fuzzy"} and "KLS-15" in set(fuzzy["id"])
    with pytest.raises(NotFoundError):
        atlas.resolve("Yodokk", gpkg)  # a spelling close to a name is no answer
    with pytest.raises(NotFoundError) as err:
        atlas.find("Qwxzv Plateau", gpkg)
    assert err.value.exit_code == 2
    with pytest.raises(InputError):
        atlas.find("  -- ", gpkg)


@pytest.mark.parametrize("site_id", ["KLS-18T"])
def test_a_site_without_geometry_says_so(gpkg, site_id):
    with pytest.raises(NoGeometryError) as err:
        atlas.near(site_id, km=20, gpkg=gpkg)
    assert site_id in str(err.value) and "no public coordinate" in str(err.value)
    assert atlas.find(site_id, gpkg).geometry.iloc[0] is None


def test_the_site_precision_is_stated(gpkg, layers):
    res = atlas.near("KLS-14", km=20, gpkg=gpkg)
    camps = layers["camps"].set_index("site_id")
    area = re.match(r"\s*(\d+)", camps.loc["KLS-14", "area_km2"]).group(1)
    assert res.attrs["site_precision"] == camps.loc["KLS-14", "precision"] == "camp-area"
    assert f"{area} km²" in res.attrs["site"] and "perimeter" in res.attrs["site"]
    kls = camps[(camps["kind"] == "kwan-li-so") & (camps["precision"] == "camp-area")]
    biggest = max(float(m) for t in kls["area_km2"] for m in re.findall(r"(?:^|; )(\d+) \(", t))
    assert f"{biggest:,.0f} km²" in res.attrs["site"]  # the range of camp areas
    site = atlas.resolve("KHS-11", gpkg)
    assert site.precision == "uncertain" and "uncertain" in site.note


def test_bad_arguments(gpkg):
    with pytest.raises(InputError):
        atlas.near("KLS-14", km=-1, gpkg=gpkg)
    with pytest.raises(NotFoundError):
        atlas.near("KLS-14", layer="no_such_layer", gpkg=gpkg)
    with pytest.raises(InputError):
        atlas.near("KLS-14", layer="report_table_2", gpkg=gpkg)
    with pytest.raises(InputError):
        atlas.nearest("KLS-14", "mines", k=0, gpkg=gpkg)
    with pytest.raises(InputError):
        atlas.near((500.0, 39.0), gpkg=gpkg)


# --- summaries -------------------------------------------------------------------------------


SUMMARY_COLUMNS = ["province", "reported_mines", "reported_share_pct", "geolocated_mines",
                   "geolocated_by_type", "kwan_li_so", "kyo_hwa_so", "named_mines"]


def test_province_summary_reproduces_table_2_in_order(gpkg):
    t = atlas.province_summary(gpkg)
    assert list(t.columns[: len(SUMMARY_COLUMNS) - 1]) == SUMMARY_COLUMNS[:-1]
    assert set(SUMMARY_COLUMNS) <= set(t.columns)
    t2 = pd.read_csv(sources.geodata_dir() / "report/table_2_mines_by_region.csv").sort_values("table_order")
    assert list(t["province"]) == list(t2["region"])
    assert list(t["reported_mines"]) == list(t2["mines"])
    assert list(t["reported_share_pct"]) == list(t2["share_pct_printed"])
    row = t.set_index("province").loc["South Pyongan Province"]
    assert (row["reported_mines"], row["reported_share_pct"]) == (82, 22.8)
    assert t["province"].iloc[-2:].tolist() == ["Unidentified or unknown", "Total"]
    assert t["reported_mines"].iloc[-1] == 360 == t["reported_mines"].iloc[:-1].sum()
    assert "Natural Earth" in t.attrs["boundary_source"]


def test_province_summary_counts_by_spatial_join(gpkg, layers):
    t = atlas.province_summary(gpkg).set_index("province")
    body = t.drop(index=["Total"])
    mines = layers["mines"]
    want = reference_admin(mines, layers["provinces"], layers["counties"])["province"].fillna(
        "Unidentified or unknown").value_counts()
    assert body["geolocated_mines"].to_dict() == {p: int(want.get(p, 0)) for p in body.index}
    assert t.loc["Total", "geolocated_mines"] == len(mines)
    camps = layers["camps"]
    assert t.loc["Total", "kyo_hwa_so"] == (camps["kind"] == "kyo-hwa-so").sum() == body["kyo_hwa_so"].sum()
    # kwan-li-so are camps, by number: the report's six, camp 18's original site and remnant one camp
    kls = camps[camps["kind"] == "kwan-li-so"]
    assert t.loc["Total", "kwan_li_so"] == kls["number"].nunique() == body["kwan_li_so"].sum() == 6
    assert t.loc["South Pyongan Province", "kwan_li_so"] == 2  # camps 14 and 18 (three sites)
    no_geom = camps[camps.geometry.isna() | camps.geometry.is_empty]
    # the report's own unknown row holds nothing of the atlas; a camp without a coordinate counts in
    # the province its sources give, flagged
    assert t.loc["Unidentified or unknown", "kwan_li_so"] == 0
    assert all(s in t.loc["Total", "counted_without_coordinate"] for s in no_geom["site_id"])
    assert t.loc["Total", "named_mines"] == len(layers["named_mines"])
    classes = mines["commodity_class"].value_counts()
    for part in t.loc["Total", "geolocated_by_type"].split("; "):
        cls, n = part.rsplit(" ", 1)
        assert classes[cls] == int(n)


@pytest.mark.slow
def test_summary_ignores_tampered_province_columns(gpkg, layers, tmp_path):
    """The geolocated columns come from the geometry, never from a stored column."""
    copy = tmp_path / "synthetic_tampered.gpkg"
    shutil.copyfile(gpkg, copy)
    for name in ("mines", "camps", "named_mines"):
        df = layers[name].copy()
        df["province"] = "Pyongyang City"
        df["county_id"] = "relation/0"
        pyogrio.write_dataframe(df, copy, layer=name, driver="GPKG", layer_options={"OVERWRITE": "YES"})
    a = atlas.province_summary(gpkg)
    b = atlas.province_summary(copy)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(atlas.county_summary(gpkg), atlas.county_summary(copy))


def test_county_summary_adds_up(gpkg, layers):
    c = atlas.county_summary(gpkg)
    p = atlas.province_summary(gpkg).set_index("province")
    assert c["county"].iloc[-1] == "Total" and c["county"].iloc[-2] == "Unidentified or unknown"
    for col in ("geolocated_mines", "kyo_hwa_so", "named_mines"):
        assert c[col].iloc[:-1].sum() == c[col].iloc[-1] == p.loc["Total", col]
    # a kwan-li-so whose two sites lie in two counties (camp 18: Pukchang, and Kaechon without a
    # coordinate) counts in each, and once in the total
    assert c["kwan_li_so"].iloc[:-1].sum() == c["kwan_li_so"].iloc[-1] + 1
    assert c["kwan_li_so"].iloc[-1] == p.loc["Total", "kwan_li_so"] == 6
    body = c.iloc[:-2]
    assert set(body["county_id"]) <= set(layers["counties"]["county_id"])
    kaechon = body.set_index("county_id").loc[_county_id(layers, "개천시")]
    assert kaechon["kwan_li_so"] >= 1 and kaechon["kyo_hwa_so"] >= 1
    everything = atlas.county_summary(gpkg, include_empty=True)
    assert len(everything) == len(layers["counties"]) + 2
    with pytest.raises(InputError):
        atlas.summary(by="village", gpkg=gpkg)


# --- the command line ------------------------------------------------------------------------


def test_cli_near_formats_parse_back(gpkg, tmp_path):
    api = atlas.near("KLS-14", km=30, gpkg=gpkg)
    common = ["near", "KLS-14", "--km", "30", "--gpkg", str(gpkg)]
    r = run_cli(*common, "--format", "csv")
    assert r.returncode == 0, r.stderr
    csv = pd.read_csv(io.StringIO(r.stdout))
    assert list(csv["id"]) == list(api["id"])
    np.testing.assert_allclose(csv["distance_km"], api["distance_km"], atol=1e-3)
    r = run_cli(*common, "--format", "json")
    data = json.loads(r.stdout)
    assert data["meta"]["site_id"] == "KLS-14" and "camp" in data["meta"]["site"]
    assert [row["id"] for row in data["rows"]] == list(api["id"])
    r = run_cli(*common, "--format", "geojson")
    path = tmp_path / "synthetic_near.geojson"
    path.write_text(r.stdout, encoding="utf-8")
    gj = gpd.read_file(path)
    assert list(gj["id"]) == list(api["id"]) and gj.crs.to_epsg() == 4326
    assert all(a.equals_exact(b, 1e-9) for a, b in zip(gj.geometry, api.geometry))
    r = run_cli(*common)
    text = " ".join(r.stdout.split())  # the site's paragraph is wrapped
    assert r.returncode == 0 and "camp-area" in text and "155 km²" in text
    assert all(i in r.stdout for i in api["id"])


def test_cli_nearest_find_and_summary_formats(gpkg, tmp_path):
    r = run_cli("nearest", "kwan-li-so 15", "--layer", "mines", "-k", "3", "--format", "json",
                "--gpkg", str(gpkg))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert [x["id"] for x in rows] == list(atlas.nearest("KLS-15", "mines", k=3, gpkg=gpkg)["id"])
    r = run_cli("find", "Yodŏk", "--format", "csv", "--gpkg", str(gpkg))
    found = pd.read_csv(io.StringIO(r.stdout))
    assert "KLS-15" in set(found["id"]) and {"match", "score", "layer"} <= set(found.columns)
    r = run_cli("summary", "--format", "csv", "--gpkg", str(gpkg))
    table = pd.read_csv(io.StringIO(r.stdout))
    assert list(table.columns[:7]) == SUMMARY_COLUMNS[:7] and table["reported_mines"].iloc[-1] == 360
    assert "vintage" in r.stderr.lower()
    r = run_cli("summary", "--format", "json", "--gpkg", str(gpkg))
    data = json.loads(r.stdout)
    assert data["rows"][-1]["province"] == "Total" and "OpenStreetMap 2020" in data["meta"]["boundary_vintage"]
    r = run_cli("summary", "--format", "markdown", "--gpkg", str(gpkg))
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Camps counted by status as of ")  # the day its camp statuses speak of
    assert lines[2].startswith("| province | reported_mines |") and "Boundary vintage" in r.stdout
    assert sum(1 for ln in lines if ln.startswith("| ")) == 1 + 12
    r = run_cli("summary", "--by", "county", "--gpkg", str(gpkg))
    assert r.returncode == 0 and "Kaechon" in r.stdout and "Boundary vintage" in r.stdout


@pytest.mark.parametrize("args, needle", [
    (["near", "Kaechon"], "KLS-14"),
    (["near", "22"], "KHS-22"),
    (["find", "Qwxzv Plateau"], "nothing in the atlas matches"),
    (["near", "KLS-18T"], "no geometry"),
    (["near", "KLS-14", "--km", "-3"], "radius"),
    (["near", "KLS-14", "--layer", "no_such_layer"], "no layer"),
])
def test_cli_errors_exit_2_with_a_message(gpkg, args, needle):
    r = run_cli(*args, "--gpkg", str(gpkg))
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_text_tables_leave_missing_values_blank():
    """Nullable integers and dates print nothing where a value is missing, never <NA> or NaT."""
    from atlas.formats import format_table

    frame = pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "day": [pd.Timestamp("2020-01-02"), pd.NaT],
                          "x": [1.5, float("nan")], "t": ["a", None]})
    for fmt in ("table", "markdown"):
        text = format_table(frame, fmt)
        assert "<NA>" not in text and "NaT" not in text and "nan" not in text.lower(), text
        assert "2020-01-02" in text and "1.5" in text
