"""Export to QGIS: a styled GeoPackage and a project, opened in a real headless QGIS.

The QGIS side runs as a subprocess of Debian's ``/usr/bin/python3`` (the only
Python that imports ``qgis.core``) through ``tests/qgis_probe.py``, which
prints what QGIS sees as JSON. Expected values come from the atlas layers
themselves (the values present, the counts, the sources table), never from
the export. Synthetic rasters are made in pytest's temporary folders only.
"""

from __future__ import annotations

import html
import json
import math
import shutil
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import Affine

import atlas
from atlas import qgis
from atlas.errors import NotFoundError, ValidationError
from atlas.qml import USER_COLOUR

from .conftest import REPO, run_cli

SPATIAL = ("provinces", "counties", "mines", "named_mines", "mineral_deposits", "camps",
           "coordinate_candidates", "steel_plants", "dprk_outline", "basemap_countries",
           "geonames_places")
GROUPS = {
    "Reference": {"provinces", "counties", "dprk_outline", "basemap_countries", "geonames_places"},
    "Mining": {"mines", "named_mines", "steel_plants", "mineral_deposits"},
    "Penal system": {"camps", "coordinate_candidates"},
    "Tables": {"camp_findings", "mine_findings", "report_table_1", "report_table_2", "report_table_3",
               "report_table_4", "report_table_5", "report_discrepancies", "report_passages",
               "gem_records", "sanctions_measures", "sources"},
}


def lightness(hex_colour: str) -> float:
    """HSL lightness (0-255) of '#rrggbb', as QColor.lightness() computes it."""
    h = hex_colour.lstrip("#")
    rgb = [int(h[i:i + 2], 16) for i in (0, 2, 4)]
    return (max(rgb) + min(rgb)) / 2


def by_source(layers: dict) -> dict:
    """Project layers keyed by GeoPackage table name (rasters by file name)."""
    out = {}
    for d in layers.values():
        key = d["source"].split("layername=")[-1] if "layername=" in d["source"] else \
            Path(d["source"]).name
        out[key] = d
    return out


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def export_dir(gpkg, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("qgis_export") / "qgis"
    project = atlas.export_qgis(out, gpkg)
    assert project == out / "atlas.qgz"
    return out


@pytest.fixture(scope="module")
def qgs(export_dir) -> ET.Element:
    with zipfile.ZipFile(export_dir / "atlas.qgz") as z:
        return ET.fromstring(z.read("atlas.qgs").decode("utf-8").split("\n", 1)[1])


@pytest.fixture(scope="module")
def gpkg_probe(export_dir, tmp_path_factory, qgis) -> tuple[dict, str]:
    return qgis(tmp_path_factory.mktemp("probe_gpkg"), "gpkg", str(export_dir / "atlas.gpkg"))


@pytest.fixture(scope="module")
def project_probe(export_dir, tmp_path_factory, qgis) -> dict:
    tmp = tmp_path_factory.mktemp("probe_project")
    result, _ = qgis(tmp, "project", str(export_dir / "atlas.qgz"), "--render",
                      str(tmp / "render.png"))
    return result


# --- the files, without QGIS -------------------------------------------------------------------


def test_export_writes_a_geopackage_1_3_and_a_zipped_project(export_dir):
    with sqlite3.connect(export_dir / "atlas.gpkg") as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10300
    with zipfile.ZipFile(export_dir / "atlas.qgz") as z:
        assert "atlas.qgs" in z.namelist()
    assert not list(export_dir.glob(".export-*")), "temporary folder left behind"


def test_project_references_the_geopackage_by_relative_path(qgs, export_dir):
    text = ET.tostring(qgs, encoding="unicode")
    assert str(export_dir) not in text and str(export_dir.parent) not in text
    sources = [e.text for e in qgs.iter("datasource")]
    assert sources and all(s.startswith("./") for s in sources)
    assert qgs.find("properties/Paths/Absolute").text == "false"


def test_project_layer_ids_are_long_and_unique_and_crs_is_complete(qgs):
    ids = [m.find("id").text for m in qgs.iter("maplayer")]
    assert len(ids) == len(set(ids)) and all(len(i) > 10 for i in ids)
    tree_ids = {n.get("id") for n in qgs.iter("layer-tree-layer")}
    assert tree_ids == set(ids)
    srs = qgs.find("projectCrs/spatialrefsys")
    assert srs.find("authid").text == "EPSG:5179"
    assert 'ID["EPSG",5179]' in srs.find("wkt").text and "+proj=tmerc" in srs.find("proj4").text
    assert qgs.find("properties/SpatialRefSys/ProjectionsEnabled").text == "1"
    for m in qgs.iter("maplayer"):  # a project never applies layer_styles: each has its own
        if m.get("type") == "vector" and m.get("geometry") != "No geometry":
            assert m.find("renderer-v2") is not None, m.find("datasource").text


def test_layer_styles_table_holds_a_default_style_per_layer(export_dir, layers):
    path = export_dir / "atlas.gpkg"
    with sqlite3.connect(path) as con:
        kind = con.execute("SELECT data_type FROM gpkg_contents WHERE table_name = "
                           "'layer_styles'").fetchone()
        rows = con.execute("SELECT f_table_name, f_geometry_column, styleQML, useAsDefault, "
                           "update_time FROM layer_styles").fetchall()
        geom_cols = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
    assert kind == ("attributes",)
    assert sorted(r[0] for r in rows) == sorted(layers)
    for name, geom_col, qml, default, when in rows:
        assert default == 1
        assert geom_col == geom_cols.get(name, "")
        assert when.endswith("Z")
        root = ET.fromstring(qml.split("\n", 1)[1])
        assert root.tag == "qgis"
        if name in SPATIAL:
            assert root.find("renderer-v2") is not None


def test_round_trip_keeps_every_feature_field_and_value(export_dir, gpkg, layers):
    exported = atlas.read_layers(export_dir / "atlas.gpkg")
    assert set(exported) == set(layers) | {"layer_styles"}
    hangul = 0
    for name, original in layers.items():
        back = exported[name]
        assert list(back.columns) == list(original.columns), name
        assert len(back) == len(original), name
        attrs = [c for c in original.columns if c != "geometry"]
        pd.testing.assert_frame_equal(pd.DataFrame(back[attrs]), pd.DataFrame(original[attrs]),
                                      check_exact=True, obj=name)
        if isinstance(original, gpd.GeoDataFrame):
            assert back.crs == original.crs
            same = [(a is None and b is None) or (a is not None and b is not None
                                                  and a.equals_exact(b, 0))
                    for a, b in zip(back.geometry, original.geometry)]
            assert all(same), name
        for col in attrs:
            hangul += int(original[col].astype(str).str.contains("[\uac00-\ud7a3]").sum())
    assert hangul > 100  # the comparison above covered Hangul text


def test_atlas_validate_passes_on_the_export(export_dir):
    atlas.validate(export_dir / "atlas.gpkg")
    res = run_cli("validate", str(export_dir / "atlas.gpkg"))
    assert res.returncode == 0, res.stderr
    assert "valid" in res.stdout


def test_project_metadata_attributes_every_source(qgs, layers):
    md = qgs.find("projectMetadata")
    abstract = md.find("abstract").text
    assert "Gulag, Inc." in md.find("title").text
    for _, row in layers["sources"].iterrows():
        for part in str(row["attribution"]).split(";"):
            assert part.strip() in abstract, part
        for part in str(row["licence"]).split(";"):
            assert part.strip() in abstract, part
        assert row["path"] in abstract


def test_camps_form_lists_findings_through_a_relation(qgs):
    rel = [r for r in qgs.iter("relation") if r.get("id") == "camps_camp_findings_site_id"]
    assert rel
    pair = rel[0].find("fieldRef")
    assert (pair.get("referencedField"), pair.get("referencingField")) == ("site_id", "site_id")
    camps = next(m for m in qgs.iter("maplayer")
                 if m.find("datasource").text.endswith("layername=camps"))
    widgets = [w.get("relation") for w in camps.iter("attributeEditorRelation")]
    assert "camps_camp_findings_site_id" in widgets


@pytest.mark.slow
def test_a_failed_export_leaves_the_earlier_one_intact(gpkg, tmp_path, monkeypatch):
    out = tmp_path / "qgis"
    atlas.export_qgis(out, gpkg)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def broken(*args, **kwargs):
        raise RuntimeError("synthetic failure while writing the project")

    monkeypatch.setattr(qgis, "_project_xml", broken)
    with pytest.raises(RuntimeError):
        atlas.export_qgis(out, gpkg)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert not list(out.glob(".export-*"))


@pytest.mark.slow
def test_re_exporting_the_same_geopackage_gives_the_same_bytes(gpkg, tmp_path, monkeypatch):
    """No clock in the export: styles and project carry the GeoPackage's build date."""
    from datetime import datetime, timedelta, timezone

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    ticks = iter(range(1000))  # a clock that moves a day per reading, as real exports minutes apart
    monkeypatch.setattr(qgis, "creation_time",
                        lambda: datetime(2030, 1, 1, tzinfo=timezone.utc) + timedelta(days=next(ticks)))
    first, second = tmp_path / "first", tmp_path / "second"
    atlas.export_qgis(first, gpkg)
    atlas.export_qgis(second, gpkg)
    for name in ("atlas.gpkg", "atlas.qgz"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    built = atlas.provenance.build_date(gpkg)
    with sqlite3.connect(first / "atlas.gpkg") as con:
        stamps = {r[0] for r in con.execute("SELECT update_time FROM layer_styles")}
    assert stamps == {datetime.fromisoformat(built.replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    with zipfile.ZipFile(first / "atlas.qgz") as z:
        assert z.getinfo("atlas.qgs").date_time[:3] == tuple(int(v) for v in built[:10].split("-"))


def test_an_invalid_geopackage_is_not_exported(gpkg, tmp_path):
    bad = tmp_path / "synthetic_bad.gpkg"
    shutil.copy(gpkg, bad)
    with sqlite3.connect(bad) as con:
        con.execute("UPDATE camp_findings SET site_id = 'SYNTHETIC-NONE' WHERE fid = 1")
    out = tmp_path / "qgis"
    with pytest.raises(ValidationError):
        atlas.export_qgis(out, bad)
    assert not (out / "atlas.gpkg").exists() and not (out / "atlas.qgz").exists()


def test_missing_geopackage_is_a_clear_error(tmp_path):
    with pytest.raises(NotFoundError):
        atlas.export_qgis(tmp_path / "qgis", tmp_path / "none.gpkg")
    res = run_cli("export", "--qgis", "--gpkg", str(tmp_path / "none.gpkg"),
                  "--out", str(tmp_path / "qgis"))
    assert res.returncode == 2 and "no GeoPackage" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("export", "--gpkg", str(tmp_path / "none.gpkg"))
    assert res.returncode == 2 and "--qgis" in res.stderr


def test_cli_export_writes_the_folder(gpkg, tmp_path):
    res = run_cli("export", "--qgis", "--gpkg", str(gpkg), "--out", str(tmp_path / "q"))
    assert res.returncode == 0, res.stderr
    printed = res.stdout.split()
    assert printed == [str(tmp_path / "q" / "atlas.gpkg"), str(tmp_path / "q" / "atlas.qgz")]
    assert all(Path(p).is_file() for p in printed)


def test_build_registers_the_qgis_product():
    from atlas import builder

    assert "qgis" in builder.PRODUCTS


# --- the GeoPackage alone in QGIS --------------------------------------------------------------


def _categories(layer: dict) -> list[str]:
    return [c["value"] for c in layer["renderer"]["categories"]]


def _drawn_once(layer: dict) -> None:
    """Every feature is drawn with exactly one legend entry of the style."""
    feats = layer["renderer"]["features"]
    assert feats and all(len(keys) == 1 for keys in feats.values()), layer["name"]


def check_styles(found: dict, layers: dict) -> None:
    """The styles the export wrote, as QGIS applied them (not its random default)."""
    prov = found["provinces"]["renderer"]
    assert prov["type"] == "graduatedSymbol" and prov["attribute"] == "reported_mines"
    _drawn_once(found["provinces"])
    light = [lightness(r["symbol"]["color"]) for r in prov["ranges"]]
    assert light == sorted(light, reverse=True) and light[0] > light[-1]
    lows = [r["lower"] for r in prov["ranges"]]
    assert lows == sorted(lows) and prov["ranges"][-1]["upper"] >= layers["provinces"][
        "reported_mines"].max()
    assert found["provinces"]["labels_enabled"]
    assert "name_en" in found["provinces"]["label_expression"]

    counties = found["counties"]["renderer"]
    assert counties["type"] == "singleSymbol"
    assert counties["symbol"]["layers"][0]["style"] == "no"  # outline only: not QGIS's default

    mines = found["mines"]["renderer"]
    m = layers["mines"]
    assert mines["type"] == "categorizedSymbol"
    assert set(_categories(found["mines"])) == {f"{c} | {p}" for c, p in
                                                zip(m["commodity_class"], m["precision"])}
    _drawn_once(found["mines"])
    by_value = {c["value"]: c for c in mines["categories"]}
    for cls in set(m["commodity_class"]):
        shapes = {p: json.dumps(by_value[f"{cls} | {p}"]["symbol"]["layers"], sort_keys=True)
                  for p in set(m.loc[m["commodity_class"] == cls, "precision"])}
        assert len(set(shapes.values())) == len(shapes), f"{cls}: precisions look alike"
    colours = {c: by_value[next(v for v in by_value if v.startswith(c + " |"))]["symbol"]["color"]
               for c in set(m["commodity_class"])}
    assert len(set(colours.values())) == len(colours), "commodity classes look alike"

    named = found["named_mines"]
    assert named["renderer"]["type"] == "categorizedSymbol"
    _drawn_once(named)
    nm = layers["named_mines"].set_index("named_id")
    assert set(named["renderer"]["features"]) == set(nm.index)
    for named_id, labels in named["renderer"]["features"].items():
        is_proxy = bool(nm.loc[named_id, "is_town_proxy"])
        assert ("town proxy" in labels[0]) == is_proxy, (named_id, labels)
    assert nm["is_town_proxy"].any() and (~nm["is_town_proxy"]).any()

    camps = found["camps"]
    c = layers["camps"]
    assert camps["renderer"]["type"] == "categorizedSymbol"
    assert set(_categories(camps)) == {f"{k} | {s}" for k, s in zip(c["kind"], c["status_class"])}
    _drawn_once(camps)
    cats = {x["value"]: x["symbol"] for x in camps["renderer"]["categories"]}
    shape_of_kind = {}
    colour_of_status = {}
    for value, sym in cats.items():
        kind, status = value.split(" | ")
        shape_of_kind.setdefault(kind, set()).add(sym["layers"][0]["name"])
        colour_of_status.setdefault(status, set()).add(sym["color"])
    assert all(len(s) == 1 for s in shape_of_kind.values())
    assert len({next(iter(s)) for s in shape_of_kind.values()}) == len(shape_of_kind)
    assert all(len(s) == 1 for s in colour_of_status.values())
    assert len({next(iter(s)) for s in colour_of_status.values()}) == len(colour_of_status)
    assert camps["labels_enabled"] and not camps.get("label_error")
    camp_rows = c.set_index("site_id")
    for site_id, label in camps["labels"].items():
        row = camp_rows.loc[site_id]
        assert label and row["name"] in label
        if row["number"]:
            assert row["number"] in label

    plants = found["steel_plants"]  # processing, not mines: squares, not the mines' circles
    assert plants["renderer"]["type"] == "categorizedSymbol"
    _drawn_once(plants)
    assert {c["symbol"]["layers"][0]["name"] for c in plants["renderer"]["categories"]} == {"square"}
    st = layers["steel_plants"].set_index("plant_id")["status"]
    for plant_id, labels in plants["renderer"]["features"].items():
        assert ("cancelled" in labels[0]) == (st.get(plant_id, "operating") != "operating"), labels

    dep = found["mineral_deposits"]
    assert dep["renderer"]["type"] == "categorizedSymbol"
    assert dep["renderer"]["attribute"] == "commodity"
    assert set(_categories(dep)) == set(layers["mineral_deposits"]["commodity"])
    _drawn_once(dep)


def test_qgis_opens_every_layer_of_the_geopackage_alone(gpkg_probe, layers):
    result, stderr = gpkg_probe
    found = result["layers"]
    assert set(found) == set(layers) | {"layer_styles"}
    for name, df in layers.items():
        assert found[name]["valid"], name
        assert found[name]["features"] == len(df), name
        assert found[name]["spatial"] == (name in SPATIAL), name
        assert set(df.columns) - {"geometry"} <= set(found[name]["fields"]), name
    assert "partially supported" not in stderr and "user_version" not in stderr


def test_qgis_applies_the_default_styles_from_the_geopackage(gpkg_probe, layers):
    check_styles(gpkg_probe[0]["layers"], layers)


def escaped(text: str) -> str:
    return html.escape(str(text), quote=False).replace('"', "&quot;")


def test_map_tips_and_forms_show_source_and_precision(gpkg_probe, layers):
    found = gpkg_probe[0]["layers"]
    ampersands = 0
    for name in ("mines", "named_mines", "camps", "coordinate_candidates"):
        id_field = atlas.SCHEMAS[name].id_field
        rows = layers[name].set_index(id_field)
        tips = found[name]["map_tips"]
        assert set(tips) == set(rows.index), name
        for fid, tip in tips.items():
            for field in ("precision", "source"):
                value = rows.loc[fid, field]
                assert escaped(value) in tip, (name, fid, field)
                ampersands += "&" in str(value)
            assert "<script" not in tip.lower()
        form = found[name]["form"]
        assert form["layout"] == 1  # tabs
        assert {"precision", "source"} <= set(form["fields"]), name
    assert ampersands  # some values needed escaping, and were escaped


def test_a_broken_style_is_detected_not_trusted(export_dir, tmp_path, qgis):
    """QGIS reports a broken QML as loaded and draws a random symbol: the checks must see it."""
    broken = tmp_path / "synthetic_broken.gpkg"
    shutil.copy(export_dir / "atlas.gpkg", broken)
    with sqlite3.connect(broken) as con:
        con.execute("UPDATE layer_styles SET styleQML = replace(styleQML, "
                    "'categorizedSymbol', 'categorisedSymbol') WHERE f_table_name = 'camps'")
    result, _ = qgis(tmp_path, "gpkg", str(broken))
    assert result["layers"]["camps"]["valid"]
    assert result["layers"]["camps"]["renderer"]["type"] != "categorizedSymbol"


def test_a_geopackage_1_4_warns_in_qgis_but_the_export_does_not(tmp_path, layers, qgis):
    v14 = tmp_path / "synthetic_v14.gpkg"
    for name, df in layers.items():
        opts = {} if v14.exists() else {"dataset_options": {"VERSION": "1.4"}}
        pyogrio.write_dataframe(df, v14, layer=name, promote_to_multi=False, **opts)
    _, stderr = qgis(tmp_path, "gpkg", str(v14))
    assert "partially supported" in stderr  # the check below can fail
    out = atlas.export_qgis(tmp_path / "qgis", v14)
    with sqlite3.connect(out.parent / "atlas.gpkg") as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10300


# --- the project in QGIS -----------------------------------------------------------------------


def test_qgis_reads_the_project_in_epsg_5179(project_probe):
    assert project_probe["read"]
    assert project_probe["crs"] == "EPSG:5179" and project_probe["crs_valid"]
    assert "Gulag, Inc." in project_probe["metadata"]["title"]


def test_layer_tree_resolves_every_layer_and_group(project_probe, layers):
    tree = project_probe["tree"]
    layer_ids = {d["id"]: d for d in project_probe["layers"].values()}
    groups = {}
    for g in tree["children"]:
        assert "group" in g
        groups[g["group"]] = g
        for node in g["children"]:
            assert node["resolved"] and node["valid"], node
            assert node["id"] in layer_ids
    for gname, members in GROUPS.items():
        assert gname in groups
        names = {by_id["source"].split("layername=")[-1]
                 for by_id in (layer_ids[n["id"]] for n in groups[gname]["children"])}
        assert members <= names, (gname, members - names)
    found = by_source(project_probe["layers"])
    for name, df in layers.items():
        assert found[name]["valid"] and found[name]["features"] == len(df), name


def test_project_carries_the_same_styles_as_the_geopackage(project_probe, gpkg_probe, layers):
    found = by_source(project_probe["layers"])
    check_styles(found, layers)
    alone = gpkg_probe[0]["layers"]
    for name in SPATIAL:
        a, b = alone[name]["renderer"], found[name]["renderer"]
        assert a["type"] == b["type"], name
        for key in ("categories", "ranges", "symbol"):
            assert json.dumps(a.get(key), sort_keys=True) == json.dumps(b.get(key),
                                                                        sort_keys=True), name


def test_project_relation_lists_each_camps_findings(project_probe, layers):
    rel = {r["id"]: r for r in project_probe["relations"]}
    r = rel["camps_camp_findings_site_id"]
    assert r["valid"] and r["pairs"] == [["site_id", "site_id"]]
    found = by_source(project_probe["layers"])
    assert r["referenced"] == found["camps"]["id"]
    assert r["referencing"] == found["camp_findings"]["id"]
    expected = layers["camp_findings"]["site_id"].value_counts().to_dict()
    counts = project_probe["related_counts"]["camps_camp_findings_site_id"]
    assert counts == {s: expected.get(s, 0) for s in layers["camps"]["site_id"]}
    form = found["camps"]["form"]
    assert any(w["id"] == r["id"] and w["valid"] for w in form["relations"])


def test_project_layers_carry_licences(project_probe, layers):
    found = by_source(project_probe["layers"])
    for name in ("mines", "counties", "provinces"):
        lic = found[name]["metadata"]["licenses"]
        assert lic and set(lic) <= {x.strip() for v in layers[name]["licence"]
                                    for x in str(v).split(";")}
    keywords = project_probe["metadata"]["keywords"]
    assert set(keywords["licences"]) == {x.strip() for v in layers["sources"]["licence"]
                                         for x in str(v).split(";")}


def test_project_renders_a_map_that_is_not_blank(project_probe):
    render = project_probe["render"]
    assert not render["errors"]
    assert render["layers_drawn"] >= 5
    assert render["non_background"] > 0.2 * render["pixels"]
    assert render["colours"] > 50
    keep = REPO / "output" / "qgis_render.png"  # kept for a person to look at (output/ is not in git)
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(render["png"], keep)


# --- rasters -------------------------------------------------------------------------------------


def synthetic_density(path: Path, centre_lonlat: tuple[float, float]) -> float:
    """A synthetic single-band EPSG:5179 surface peaking at ``centre_lonlat``; returns its max."""
    cx, cy = Transformer.from_crs(4326, 5179, always_xy=True).transform(*centre_lonlat)
    res, n = 5000.0, 60
    west, north = cx - n / 2 * res, cy + n / 2 * res
    rows, cols = np.mgrid[0:n, 0:n]
    x = west + (cols + 0.5) * res
    y = north - (rows + 0.5) * res
    surface = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 50_000.0 ** 2)).astype("float32")
    surface[:2, :2] = -9999.0
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs="EPSG:5179", transform=Affine(res, 0, west, 0, -res, north),
                       nodata=-9999.0) as dst:
        dst.write(surface, 1)
        dst.set_band_description(1, "synthetic density")
    return float(surface[surface > -9999].max())


def synthetic_chip(path: Path) -> None:
    rgb = np.stack([np.full((40, 40), v, "uint8") for v in (40, 120, 200)])
    rgb[:, :20] = 250
    with rasterio.open(path, "w", driver="GTiff", width=40, height=40, count=3, dtype="uint8",
                       crs="EPSG:32652", transform=Affine(50, 0, 400000, 0, -50, 4380000)) as dst:
        dst.write(rgb)


@pytest.fixture(scope="module")
def raster_export(gpkg, tmp_path_factory) -> tuple[Path, float, tuple[float, float]]:
    tmp = tmp_path_factory.mktemp("synthetic_rasters")
    shutil.copy(gpkg, tmp / "atlas.gpkg")
    centre = (126.8, 40.2)
    top = synthetic_density(tmp / "mine_density.tif", centre)
    (tmp / "chips").mkdir()
    synthetic_chip(tmp / "chips" / "SYNTHETIC-1.tif")
    csv = tmp / "synthetic_sites.csv"
    csv.write_text("name,lat,lon\nsynthetic site A,40.1,127.2\nsynthetic site B,39.2,125.9\n")
    atlas.import_layer(csv, "synthetic_sites", gpkg=tmp / "atlas.gpkg")
    atlas.export_qgis(tmp / "qgis", tmp / "atlas.gpkg")
    return tmp / "qgis", top, centre


def test_rasters_are_copied_with_sidecar_styles(raster_export):
    out, _, _ = raster_export
    for rel in ("rasters/mine_density.tif", "rasters/mine_density.qml",
                "rasters/chips/SYNTHETIC-1.tif", "rasters/chips/SYNTHETIC-1.qml"):
        assert (out / rel).is_file(), rel
    with zipfile.ZipFile(out / "atlas.qgz") as z:
        text = z.read("atlas.qgs").decode()
    assert "./rasters/mine_density.tif" in text and "./rasters/chips/SYNTHETIC-1.tif" in text


def test_density_has_a_pseudocolour_ramp_darkest_at_the_highest_value(raster_export, tmp_path, qgis):
    out, top, centre = raster_export
    result, _ = qgis(tmp_path, "project", str(out / "atlas.qgz"))
    found = by_source(result["layers"])
    dens = found["mine_density.tif"]
    assert dens["valid"] and dens["crs"] == "EPSG:5179"
    r = dens["renderer"]
    assert r["type"] == "singlebandpseudocolor"
    assert math.isclose(r["max"], top, rel_tol=1e-6)
    items = r["items"]
    assert math.isclose(items[-1]["value"], top, rel_tol=1e-6)
    assert items[-1]["lightness"] == min(i["lightness"] for i in items)
    assert items[0]["alpha"] == 0 and items[-1]["alpha"] == 255
    chip = found["SYNTHETIC-1.tif"]
    assert chip["valid"] and chip["bands"] == 3 and chip["renderer"]["type"] == "multibandcolor"
    mining = next(g for g in result["tree"]["children"] if g["group"] == "Mining")
    assert any(n["id"] == dens["id"] for n in mining["children"])
    # A user's imported layer comes along, in its own group, with a style of its own.
    user = found["user_synthetic_sites"]
    assert user["valid"] and user["features"] == 2
    assert user["renderer"]["type"] == "singleSymbol"
    assert user["renderer"]["symbol"]["color"] == USER_COLOUR
    yours = next(g for g in result["tree"]["children"] if g["group"] == "Your data")
    assert [n["id"] for n in yours["children"]] == [user["id"]]

    # The raster alone (its sidecar .qml): the peak is drawn dark, the rim near white.
    edge = (centre[0] + 1.2, centre[1] + 1.0)
    alone, _ = qgis(tmp_path, "raster", str(out / "rasters" / "mine_density.tif"), "--render",
                     str(tmp_path / "density.png"), "--samples", json.dumps([centre, edge]))
    assert alone["raster"]["renderer"]["type"] == "singlebandpseudocolor"
    peak, rim = (s["rgb"] for s in alone["render"]["samples"])
    assert sum(peak) < 0.5 * sum(rim), (peak, rim)
    assert peak[0] > peak[1] and peak[0] > peak[2]  # red, not a grey stretch


def test_line_and_polygon_user_layers_open_in_qgis_styled_by_their_family(gpkg, tmp_path, qgis):
    """Synthetic squares and tracks (built here), imported, exported with --qgis, opened by QGIS."""
    import shapely

    copy = tmp_path / "atlas.gpkg"
    shutil.copy(gpkg, copy)
    squares = gpd.GeoDataFrame({"name": ["synthetic square a", "synthetic square b"]}, crs=4326,
                               geometry=[shapely.box(126.0, 39.5, 126.02, 39.52), shapely.box(127.0, 40.0, 127.01, 40.01)])
    tracks = gpd.GeoDataFrame({"name": ["synthetic track"]}, crs=4326,
                              geometry=[shapely.LineString([(126.0, 39.5), (126.3, 39.7), (126.5, 39.6)])])
    squares.to_file(tmp_path / "synthetic_squares.gpkg")
    tracks.to_file(tmp_path / "synthetic_tracks.geojson")
    atlas.import_layer(tmp_path / "synthetic_squares.gpkg", "squares", gpkg=copy)
    atlas.import_layer(tmp_path / "synthetic_tracks.geojson", "tracks", gpkg=copy)
    atlas.export_qgis(tmp_path / "qgis", copy)
    result, _ = qgis(tmp_path, "project", str(tmp_path / "qgis" / "atlas.qgz"))
    found = by_source(result["layers"])
    sq, tr = found["user_squares"], found["user_tracks"]
    assert sq["valid"] and sq["features"] == 2 and sq["geometry"].startswith("MultiPolygon")
    assert tr["valid"] and tr["features"] == 1 and tr["geometry"].startswith("MultiLineString")
    assert sq["renderer"]["type"] == tr["renderer"]["type"] == "singleSymbol"
