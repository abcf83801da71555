"""Every door, not only import: an output folder the user already uses, an atlas someone sends you,
a raster that is not one, a password in a URL, a link planted in an output folder.

Each fixture is synthetic and built here, in the test's temporary folder: a user's own files
in an output folder, a GDAL virtual dataset (VRT) named ``atlas.gpkg`` or ``scene.tif`` that
would read a local "secret" file, a GeoPackage copy whose camp id and layer name are paths.
Each case asserts the exit code, the message, no traceback, nothing written outside the output
folder and the user's files untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path

import pyogrio
import pytest
import shapely

import atlas
from atlas.database import Database
from atlas.errors import InputError, OutputError
from atlas.owned import MANIFEST, Stage, safe_name
from atlas.redact import mask_url

from .conftest import run_cli, sha256, spawn_cli

_SECRET = "synthetic-secret-line"


def _no_traceback(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout


# --- 3. the atlas never deletes or replaces what it did not write ------------------------------


@pytest.fixture
def users_folder(tmp_path) -> Path:
    """An output folder the user already uses: their notes among the names the site writes."""
    out = tmp_path / "output"
    (out / "dossiers").mkdir(parents=True)
    (out / "downloads").mkdir()
    (out / "dossiers" / "notes.txt").write_text("my interview notes")
    (out / "dossiers" / "KLS-14.html").write_text("my own page on Camp 14")
    (out / "downloads" / "readme.txt").write_text("mine")
    return out


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow  # writes the whole site (over 5 s)
def test_site_into_a_users_folder_stops_and_deletes_nothing(gpkg, users_folder):
    before = _tree(users_folder)
    res = run_cli("site", "--out", str(users_folder), "--gpkg", str(gpkg), "--no-downloads")
    assert res.returncode == 2, res.stderr
    _no_traceback(res)
    assert "KLS-14.html" in res.stderr and "--overwrite" in res.stderr
    assert _tree(users_folder) == before  # nothing written, nothing deleted
    assert [p.name for p in users_folder.rglob(".atlas-*")] == []


@pytest.mark.slow  # writes the whole site (over 5 s)
def test_overwrite_replaces_only_the_names_it_writes_and_keeps_the_rest(gpkg, users_folder):
    res = run_cli("site", "--out", str(users_folder), "--gpkg", str(gpkg), "--no-downloads",
                  "--overwrite")
    assert res.returncode == 0, res.stderr
    assert (users_folder / "dossiers" / "notes.txt").read_text() == "my interview notes"
    assert (users_folder / "downloads" / "readme.txt").read_text() == "mine"
    assert "Camp 14" in (users_folder / "dossiers" / "KLS-14.html").read_text(encoding="utf-8")
    manifest = json.loads((users_folder / "dossiers" / MANIFEST).read_text())
    assert "KLS-14.html" in manifest["files"] and "notes.txt" not in manifest["files"]
    # its own files, unchanged, are replaced without --overwrite the next time
    again = run_cli("site", "--out", str(users_folder), "--gpkg", str(gpkg), "--no-downloads")
    assert again.returncode == 0, again.stderr
    assert (users_folder / "dossiers" / "notes.txt").exists()


@pytest.mark.slow  # writes the whole site (over 5 s)
def test_a_page_the_user_changed_is_not_replaced(gpkg, tmp_path):
    out = tmp_path / "site"
    assert run_cli("site", "--out", str(out), "--gpkg", str(gpkg), "--no-downloads").returncode == 0
    page = out / "about.html"
    page.write_text(page.read_text(encoding="utf-8") + "<!-- my edit -->", encoding="utf-8")
    edited = sha256(page)
    res = run_cli("site", "--out", str(out), "--gpkg", str(gpkg), "--no-downloads")
    assert res.returncode == 2 and "about.html" in res.stderr
    assert sha256(page) == edited


def test_stale_pages_are_removed_only_when_the_atlas_wrote_them(tmp_path):
    out = tmp_path / "product"
    with Stage(out, prune=["pages"]) as stage:
        stage.path("pages/A.html").write_text("a")
        stage.path("pages/B.html").write_text("b")
    (out / "pages" / "mine.html").write_text("the user's")
    with Stage(out, prune=["pages"]) as stage:
        stage.path("pages/A.html").write_text("a2")
    assert sorted(p.name for p in (out / "pages").glob("*.html")) == ["A.html", "mine.html"]


def test_exports_into_an_existing_folder_add_files_and_refuse_foreign_ones(gpkg, tmp_path):
    desktop = tmp_path / "Desktop"
    desktop.mkdir()
    (desktop / "holiday.jpg").write_bytes(b"\xff\xd8 not ours")
    res = run_cli("export", "--format", "csv", "--layers", "camps", "--out", str(desktop), "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    assert (desktop / "camps.csv").exists() and (desktop / "holiday.jpg").read_bytes() == b"\xff\xd8 not ours"
    (desktop / "mines.csv").write_text("my own table")
    res = run_cli("export", "--format", "csv", "--layers", "camps,mines", "--out", str(desktop),
                  "--gpkg", str(gpkg))
    assert res.returncode == 2 and "mines.csv" in res.stderr
    assert (desktop / "mines.csv").read_text() == "my own table"


def test_map_out_refuses_a_users_file(gpkg, tmp_path):
    mine = tmp_path / "report.html"
    mine.write_text("<p>my draft</p>")
    res = run_cli("map", "--out", str(mine), "--gpkg", str(gpkg))
    assert res.returncode == 2 and "--overwrite" in res.stderr
    _no_traceback(res)
    assert mine.read_text() == "<p>my draft</p>"


# --- 2. nothing read from data becomes a path unchecked ----------------------------------------


def test_safe_name_refuses_paths_and_tricks():
    for bad in ("../../x", "/etc/x", "a/b", "a\\b", "..", ".hidden", "x\u202egpj.exe", "NUL", "x\n", ""):
        assert safe_name(bad) is None, bad
    assert safe_name("KLS-14") == "KLS-14"


@pytest.fixture
def crafted(gpkg, tmp_path) -> Path:
    """An atlas GeoPackage copy whose camp id and a layer name are paths (as someone might send you)."""
    dest = tmp_path / "sent" / "atlas.gpkg"
    dest.parent.mkdir()
    shutil.copyfile(gpkg, dest)
    camps = pyogrio.read_dataframe(dest, layer="camps")
    camps.loc[camps["site_id"] == "KLS-25", "site_id"] = "../../escaped-camp"
    pyogrio.write_dataframe(camps, dest, layer="camps", driver="GPKG")
    name = "../../escaped-layer"  # GDAL refuses to create it: written as raw SQL, as a crafted file would be
    point = b"GP\x00\x01" + struct.pack("<i", 4326) + shapely.to_wkb(shapely.Point(126, 39.5), byte_order=1)
    with sqlite3.connect(dest) as con:
        con.execute(f'CREATE TABLE "{name}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT, name TEXT)')
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                    "VALUES (?, 'features', ?, 4326)", (name, name))
        con.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'POINT', 4326, 0, 0)", (name,))
        con.execute(f'INSERT INTO "{name}" (geom, name) VALUES (?, ?)', (point, "x"))
    assert name in [n for n, _ in pyogrio.list_layers(dest)]
    return dest


@pytest.mark.slow  # writes the whole site (over 5 s)
def test_a_crafted_geopackage_writes_nothing_outside_out(crafted, tmp_path):
    out = tmp_path / "deep" / "er" / "out"
    before = {p for p in tmp_path.rglob("*")}
    site = run_cli("site", "--out", str(out / "site"), "--gpkg", str(crafted), "--no-downloads")
    assert site.returncode == 0, site.stderr
    assert "'../../escaped-camp'" in site.stderr  # reported, not written
    for fmt in ("csv", "geojson", "geoparquet"):
        res = run_cli("export", "--format", fmt, "--out", str(out / fmt), "--gpkg", str(crafted))
        assert res.returncode == 0, res.stderr
        assert "escaped-layer" in res.stderr
        _no_traceback(res)
    new = {p for p in tmp_path.rglob("*")} - before
    assert all(out in p.parents or p == out or p in out.parents for p in new), sorted(map(str, new))
    assert not any("escaped" in p.name for p in tmp_path.rglob("*"))


# --- 1. every file the atlas reads is admitted first: a VRT is never opened ----------------------


def _secret(tmp_path: Path) -> Path:
    f = tmp_path / "secret" / "passwd.csv"
    f.parent.mkdir(exist_ok=True)
    f.write_text("who,x,y\n" + "".join(f"{_SECRET}-{i},126.0,39.5\n" for i in range(3)))
    return f


@pytest.fixture
def vrt_gpkg(tmp_path) -> Path:
    secret = _secret(tmp_path)
    f = tmp_path / "sent" / "atlas.gpkg"
    f.parent.mkdir()
    f.write_text(f'<OGRVRTDataSource><OGRVRTLayer name="camps"><SrcDataSource>CSV:{secret}</SrcDataSource>'
                 '<SrcLayer>passwd</SrcLayer><GeometryType>wkbPoint</GeometryType>'
                 '<GeometryField encoding="PointFromColumns" x="x" y="y"/>'
                 '<Field name="site_id" src="who"/><Field name="name" src="who"/></OGRVRTLayer></OGRVRTDataSource>')
    assert _SECRET in pyogrio.read_dataframe(f, layer="camps")["name"].iloc[0]  # GDAL would read it
    return f


@pytest.mark.parametrize("args", [
    ("export", "--format", "csv"), ("find", "x"), ("near", "x"), ("show", "x"), ("layers",), ("validate",),
    ("status",), ("summary",), ("map",), ("dossier", "x"),
])
def test_a_vrt_named_atlas_gpkg_is_refused_by_every_reader(vrt_gpkg, tmp_path, args):
    out = tmp_path / "out"
    extra = ["--out", str(out / "x.html")] if args[0] in ("map",) else \
        ["--out", str(out)] if args[0] in ("export", "dossier") else []
    where = [str(vrt_gpkg)] if args[0] == "validate" else ["--gpkg", str(vrt_gpkg)]
    res = run_cli(*args, *where, *extra)
    assert res.returncode == 2, (res.stdout, res.stderr)
    _no_traceback(res)
    assert "not a GeoPackage" in res.stderr
    assert _SECRET not in res.stdout + res.stderr
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_a_plain_sqlite_file_is_not_a_geopackage(tmp_path):
    f = tmp_path / "atlas.gpkg"
    with sqlite3.connect(f) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(InputError, match="application id"):
        atlas.read_layer("camps", f)


def test_chips_refuse_a_vrt_posing_as_a_tif(gpkg, tmp_path):
    secret = _secret(tmp_path)
    scene = tmp_path / "scene.tif"
    scene.write_text(f'<VRTDataset rasterXSize="64" rasterYSize="1"><SRS>EPSG:4326</SRS>'
                     '<GeoTransform>126,0.01,0,40,0,-0.01</GeoTransform>'
                     f'<VRTRasterBand dataType="Byte" band="1" subClass="VRTRawRasterBand">'
                     f'<SourceFilename relativetoVRT="0">{secret}</SourceFilename></VRTRasterBand></VRTDataset>')
    out = tmp_path / "chips"
    res = run_cli("chips", str(scene), "--out", str(out), "--gpkg", str(gpkg))
    assert res.returncode == 2, res.stderr
    _no_traceback(res)
    assert "not a GeoTIFF or JPEG 2000" in res.stderr
    assert not list(out.glob("*.tif"))


# --- 4. secrets never travel ----------------------------------------------------------------


def test_every_form_of_password_is_masked():
    for url in ("postgresql://me:s3cr3t@db/gis", "postgresql://me@db/gis?password=s3cr3t",
                "postgresql://me@db/gis?sslpassword=s3cr3t&sslkey=/home/me/s3cr3t.key",
                "postgresql://me@db/gis?passfile=/home/me/s3cr3t&schema=atlas"):
        assert "s3cr3t" not in mask_url(url), url
        assert "s3cr3t" not in Database.parse(url).shown


def test_a_password_in_the_query_never_reaches_a_message(tmp_path):
    url = f"postgresql://nobody@/nodb?host={tmp_path}&port=1&password=s3cr3t-query"
    for args in (("find", "Yodok", "--source", url), ("validate", url), ("layers", "--source", url)):
        res = run_cli(*args)
        assert res.returncode == 2, res.stderr
        _no_traceback(res)
        assert "s3cr3t" not in res.stdout + res.stderr


# --- 7. links planted in an output folder are never followed -----------------------------------


def test_a_planted_lock_link_is_refused_and_its_target_untouched(atlas_copy, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, atlas_copy.with_name("atlas.gpkg.lock"))
    csv = tmp_path / "p.csv"
    csv.write_text("name,lat,lon\nA point,39.57,126.05\n")
    res = run_cli("import", str(csv), "--as", "pts", "--gpkg", str(atlas_copy))
    assert res.returncode == 2 and "symbolic link" in res.stderr
    assert victim.read_text() == "precious"


@pytest.mark.slow  # writes the whole site (over 5 s)
def test_a_planted_page_link_is_not_followed(gpkg, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    victim = tmp_path / "victim.html"
    victim.write_text("precious")
    os.symlink(victim, out / "about.html")
    res = run_cli("site", "--out", str(out), "--gpkg", str(gpkg), "--no-downloads")
    assert res.returncode == 2 and "about.html" in res.stderr
    res = run_cli("site", "--out", str(out), "--gpkg", str(gpkg), "--no-downloads", "--overwrite")
    assert res.returncode == 0, res.stderr
    assert victim.read_text() == "precious"
    assert not (out / "about.html").is_symlink()


def test_lock_wait_is_validated(atlas_copy, tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("name,lat,lon\nA point,39.57,126.05\n")
    for value in ("abc", "nan", "-1", "inf"):
        res = run_cli("import", str(csv), "--as", "pts", "--gpkg", str(atlas_copy),
                      env={"ATLAS_LOCK_WAIT": value})
        assert res.returncode == 2, (value, res.stderr)
        _no_traceback(res)
        assert "ATLAS_LOCK_WAIT" in res.stderr


def test_output_error_is_the_class_of_a_refused_replace(tmp_path):
    (tmp_path / "x.txt").write_text("mine")
    with pytest.raises(OutputError, match="--overwrite"), Stage(tmp_path) as stage:
        stage.path("x.txt").write_text("atlas")
    assert (tmp_path / "x.txt").read_text() == "mine"


# --- 5. output safe for every medium: terminal, XML, JSON, CSV ---------------------------------

#: Names as a hostile file might hold them: an OSC that sets the window title, a vertical tab
#: (illegal in XML), a right-to-left override that shows ``evil\u202egpj.exe`` as ``evilexe.jpg``.
_HOSTILE_NAMES = ["Title \x1b]0;owned-title\x07 A", "Vertical\x0btab B", "Gate \u202egpj.exe C"]
_RAW = ("\x1b", "\x07", "\x0b", "\u202e")


@pytest.fixture
def hostile_atlas(atlas_copy, tmp_path) -> Path:
    """The atlas with a user layer whose names, a note and the source file's name hold controls."""
    csv = tmp_path / "field\x0bnotes\u202e.csv"  # a control and an override in the file's name too
    rows = "".join(f'"{n}",{39.57 + i / 1000},126.05,"note \x1b[2J {i}"\n' for i, n in enumerate(_HOSTILE_NAMES))
    csv.write_text("name,lat,lon,note\n" + rows, encoding="utf-8")
    res = run_cli("import", str(csv), "--as", "hostile", "--gpkg", str(atlas_copy))
    assert res.returncode == 0, res.stderr
    return atlas_copy


def _no_raw_controls(text: str) -> None:
    assert not [c for c in _RAW if c in text], [c for c in _RAW if c in text]


@pytest.mark.parametrize(("args", "expected"), [
    (("find", "Title"), "Title \\x1b]0;owned-title\\x07 A"),
    (("near", "KLS-14", "--km", "25", "--layer", "user_hostile"), "field\\x0bnotes\\u202e.csv"),
    (("show", "U000003", "--site-layer", "user_hostile"), "Gate \\u202egpj.exe C"),
    (("show", "U000002", "--site-layer", "user_hostile"), "note \\x1b[2J 1"),
    (("layers", "--details"), "field\\x0bnotes\\u202e.csv"),
    (("find", "Gate \u202e\x1b]0;x\x07 nothing like it"), "'Gate \\u202e\\x1b]0;x\\x07 nothing like it'"),
])
def test_terminal_output_shows_controls_escaped(hostile_atlas, args, expected):
    res = run_cli(*args, "--gpkg", str(hostile_atlas))
    _no_traceback(res)
    _no_raw_controls(res.stdout + res.stderr)
    assert expected in res.stdout + res.stderr
    assert res.returncode == (2 if "nothing like it" in args[1] else 0), res.stderr


def test_data_formats_keep_the_data_exact(hostile_atlas):
    as_json = run_cli("find", "Title", "--format", "json", "--gpkg", str(hostile_atlas))
    assert as_json.returncode == 0, as_json.stderr
    _no_raw_controls(as_json.stdout)  # JSON's own escapes ...
    assert json.loads(as_json.stdout)["rows"][0]["name"] == _HOSTILE_NAMES[0]  # ... the same data
    gate = run_cli("show", "U000003", "--site-layer", "user_hostile", "--format", "json", "--gpkg", str(hostile_atlas))
    assert "\u202e" not in gate.stdout and json.loads(gate.stdout)["name"] == _HOSTILE_NAMES[2]
    as_csv = run_cli("find", "Title", "--format", "csv", "--gpkg", str(hostile_atlas))  # to a pipe: exact
    assert as_csv.returncode == 0 and _HOSTILE_NAMES[0] in as_csv.stdout


def test_xml_products_stay_valid_whatever_the_data(hostile_atlas, tmp_path):
    import xml.etree.ElementTree as ET
    import zipfile

    out = tmp_path / "out"
    res = run_cli("export", "--format", "kmz", "--out", str(out), "--gpkg", str(hostile_atlas))
    assert res.returncode == 0, res.stderr
    kml = zipfile.ZipFile(out / "atlas.kmz").read("doc.kml").decode("utf-8")
    names = [e.text for e in ET.fromstring(kml).iter("{http://www.opengis.net/kml/2.2}name")]
    assert "Vertical\ufffdtab B" in names and "Title \ufffd]0;owned-title\ufffd A" in names
    assert "Gate \u202egpj.exe C" in names  # legal in XML: the data as it is
    res = run_cli("export", "--qgis", "--out", str(out / "qgis"), "--gpkg", str(hostile_atlas))
    assert res.returncode == 0, res.stderr
    qgs = zipfile.ZipFile(out / "qgis" / "atlas.qgz").read("atlas.qgs").decode("utf-8")
    root = ET.fromstring(qgs.split("\n", 1)[1])  # after the DOCTYPE
    assert any("field\ufffdnotes" in (e.text or "") for e in root.iter())
    with sqlite3.connect(out / "qgis" / "atlas.gpkg") as con:
        for (qml,) in con.execute("SELECT styleQML FROM layer_styles"):
            ET.fromstring(qml.split("\n", 1)[1])


def test_a_dossier_page_writes_out_bidi_controls(hostile_atlas, tmp_path):
    res = run_cli("dossier", "KLS-14", "--out", str(tmp_path / "d"), "--gpkg", str(hostile_atlas))
    assert res.returncode == 0, res.stderr
    page = (tmp_path / "d" / "KLS-14.html").read_text(encoding="utf-8")
    assert "Gate \\u202egpj.exe C" in page and "\u202e" not in page


def test_the_map_writes_out_bidi_controls_in_popups_and_tooltips(hostile_atlas, tmp_path):
    """The map's data (popups, tooltips, legends, search) shows a bidi override written out, as a dossier
    page does: the page holds no U+202E, and the name reaches the popup as ``Gate \\u202egpj.exe C``."""
    import atlas
    from atlas._packing import unpack_section
    from atlas.webmap import build_map

    spec = build_map(hostile_atlas).atlas_spec
    text = json.dumps(spec, ensure_ascii=False)
    assert "\u202e" not in text
    [user] = [layer for layer in spec["layers"] if layer["id"].startswith("user:")]
    names = dict(user["consts"])
    assert names["source_file"] == "field\x0bnotes\\u202e.csv"  # the source file's name, written out
    [packed] = [c for c in user["cols"] if "name" in c["names"]]  # the names, packed (zlib) as the page has them
    texts = [v for sec in packed.values() if isinstance(sec, dict) and sec.get("t") == "json"
             for v in unpack_section(sec)]
    assert "Gate \\u202egpj.exe C" in texts and "Title \x1b]0;owned-title\x07 A" in texts  # only the bidi control
    page = atlas.write_map(tmp_path / "map.html", hostile_atlas).read_text(encoding="utf-8")
    assert "\u202e" not in page and "notes\\\\u202e.csv" in page  # the file's name in the about box, written out


def test_a_file_name_that_is_not_utf8_imports_and_shows(atlas_copy, tmp_path):
    csv = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.csv"))
    csv.write_text("name,lat,lon\nA point,39.57,126.05\n")
    res = run_cli("import", str(csv), "--as", "cafe", "--gpkg", str(atlas_copy))
    assert res.returncode == 0, res.stderr
    _no_traceback(res)
    assert "caf\\xe9.csv" in res.stderr
    shown = run_cli("show", "U000001", "--site-layer", "user_cafe", "--gpkg", str(atlas_copy))
    assert shown.returncode == 0 and "caf\\xe9.csv" in shown.stdout


# --- 7. zero tracebacks ----------------------------------------------------------------------


def _geoparquet_with(tmp_path: Path, label: str, geo: bytes) -> Path:
    import geopandas as gpd
    import pyarrow.parquet as pq

    f = tmp_path / f"{label}.parquet"
    gpd.GeoDataFrame({"name": ["A point"]}, geometry=[shapely.Point(126.05, 39.57)], crs=4326).to_parquet(f)
    table = pq.read_table(f)
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"geo": geo}), f)
    return f


@pytest.mark.parametrize(("label", "geo", "message"), [
    ("not-json", b"{not json", "cannot be read as Parquet"),
    ("a-list", b"[1, 2]", "without GeoParquet metadata"),
    ("no-column", json.dumps({"primary_column": "nope", "columns": {}}).encode(), "without GeoParquet metadata"),
    ("entry-not-object", json.dumps({"primary_column": "geometry", "columns": {"geometry": 3}}).encode(),
     "malformed GeoParquet metadata"),
    ("bad-encoding", json.dumps({"primary_column": "geometry", "columns": {"geometry": {"encoding": ["x"]}}}).encode(),
     "only WKB is read"),
    ("bad-crs", json.dumps({"primary_column": "geometry", "columns": {"geometry": {"crs": {"bogus": 1}}}}).encode(),
     "CRS in its GeoParquet metadata cannot be read"),
    ("crs-text", json.dumps({"primary_column": "geometry", "columns": {"geometry": {"crs": "no such"}}}).encode(),
     "CRS in its GeoParquet metadata cannot be read"),
])
def test_malformed_geoparquet_metadata_is_refused_with_a_message(atlas_copy, tmp_path, label, geo, message):
    before = sha256(atlas_copy)
    res = run_cli("import", str(_geoparquet_with(tmp_path, label, geo)), "--as", "gp", "--gpkg", str(atlas_copy))
    assert res.returncode == 2, res.stderr
    _no_traceback(res)
    assert message in res.stderr and f"{label}.parquet" in res.stderr
    assert sha256(atlas_copy) == before


def test_a_screenshot_without_chromium_is_said_before_anything_is_written(gpkg, tmp_path):
    out = tmp_path / "map"
    res = run_cli("map", "--out", str(out / "atlas.html"), "--screenshot", str(out / "map.png"),
                  "--gpkg", str(gpkg), env={"ATLAS_CHROMIUM": str(tmp_path / "no-chromium")})
    assert res.returncode == 2, res.stderr
    _no_traceback(res)
    assert "needs Chromium" in res.stderr and "ATLAS_CHROMIUM" in res.stderr
    assert not out.exists()


def test_postgis_without_its_extra_is_a_message(gpkg, monkeypatch):
    import sys

    for module in ("sqlalchemy", "psycopg"):
        with monkeypatch.context() as m:
            m.setitem(sys.modules, module, None)  # as if not installed
            res = run_cli("export", "--postgis", "postgresql://me:s3cret@/db?host=/nonexistent", "--gpkg", str(gpkg))
        assert res.returncode == 2, res.stderr
        _no_traceback(res)
        assert "gulag-inc-atlas[postgis]" in res.stderr and "s3cret" not in res.stderr


@pytest.mark.parametrize("content", [b"", b"hello, not a database\n", b"SQLite format 3\x00" + b"\x00" * 84])
def test_a_gpkg_that_is_not_sqlite_is_refused(tmp_path, content):
    f = tmp_path / "atlas.gpkg"
    f.write_bytes(content)
    for args in (("find", "Yodok"), ("export", "--format", "csv", "--out", str(tmp_path / "out")), ("layers",)):
        res = run_cli(*args, "--gpkg", str(f))
        assert res.returncode == 2, res.stderr
        _no_traceback(res)
        assert "not a GeoPackage" in res.stderr
    assert not (tmp_path / "out").exists()


def test_chips_refuse_a_huge_declared_raster_before_reading(gpkg, tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    scene = tmp_path / "sparse.tif"  # 120,000 x 120,000 x 3 bytes declared (43 GB), a few hundred kB on disk
    with rasterio.open(scene, "w", driver="GTiff", width=120_000, height=120_000, count=3, dtype="uint8",
                       crs="EPSG:4326", transform=from_origin(126.0, 39.62, 1e-6, 1e-6), tiled=True,
                       blockxsize=512, blockysize=512, sparse_ok=True, compress="deflate"):
        pass
    assert scene.stat().st_size < 2_000_000
    out = tmp_path / "chips"
    res = run_cli("chips", str(scene), "--out", str(out), "--gpkg", str(gpkg), "--resolution-m", "20")
    assert res.returncode == 2, res.stderr
    _no_traceback(res)
    assert "GiB" in res.stderr and "limit 512 MiB" in res.stderr and "nothing written" in res.stderr
    assert not out.exists() or not list(out.rglob("*.tif"))


def test_planted_links_in_an_output_folder_are_never_followed(gpkg, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / "camps.csv")
    os.symlink(victim, out / "atlas.kmz")
    for args in (("--format", "csv", "--layers", "camps"), ("--format", "kmz")):
        res = run_cli("export", *args, "--out", str(out), "--gpkg", str(gpkg))
        assert res.returncode == 2 and "--overwrite" in res.stderr, res.stderr
        res = run_cli("export", *args, "--out", str(out), "--gpkg", str(gpkg), "--overwrite")
        assert res.returncode == 0, res.stderr
    assert not (out / "camps.csv").is_symlink() and not (out / "atlas.kmz").is_symlink()
    assert victim.read_text() == "precious"


# --- 6. bounded work: every import path has row, column and size limits -----------------------


def test_a_recursive_view_is_refused_before_it_is_read(atlas_copy, tmp_path):
    """A GeoPackage of 96 kB whose layer is a recursive view (it would yield rows for ever)."""
    import geopandas as gpd

    f = tmp_path / "synthetic_view.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"name": ["A"]}, geometry=[shapely.Point(126.05, 39.57)], crs=4326),
                            f, layer="pts", driver="GPKG")
    with sqlite3.connect(f) as con:
        con.execute("CREATE VIEW boom AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                    "SELECT i AS fid, (SELECT geom FROM pts) AS geom, 'x' || i AS name FROM n")
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                    "VALUES ('boom', 'features', 'boom', 4326)")
        con.execute("INSERT INTO gpkg_geometry_columns VALUES ('boom', 'geom', 'POINT', 4326, 0, 0)")
    before = sha256(atlas_copy)
    res = spawn_cli("import", str(f), "--as", "boom", "--gpkg", str(atlas_copy), env={"ATLAS_LOCK_WAIT": "5"})
    assert res.returncode == 2, res.stderr
    _no_traceback(res)
    assert "'boom'" in res.stderr and "SQL views" in res.stderr
    assert sha256(atlas_copy) == before


def test_a_wide_csv_is_refused_before_its_rows_are_parsed(atlas_copy, tmp_path):
    f = tmp_path / "synthetic_wide.csv"  # one row, a million columns, ~10 MB
    n = 1_000_000
    f.write_text(",".join(["name", "lat", "lon", *(f"c{i}" for i in range(n))]) + "\n"
                 + ",".join(["A", "39.57", "126.05", *("1" for _ in range(n))]) + "\n")
    res = run_cli("import", str(f), "--as", "wide", "--gpkg", str(atlas_copy))
    assert res.returncode == 2, res.stderr
    _no_traceback(res)
    assert "1,000,003 columns" in res.stderr and "ATLAS_MAX_COLUMNS" in res.stderr
    assert len(res.stderr) < 1000  # the columns are not listed


def test_the_feature_limit_is_enforced_and_overridable(atlas_copy, tmp_path):
    f = tmp_path / "synthetic_rows.csv"
    f.write_text("name,lat,lon\n" + "".join(f"P{i},{39.5 + i / 1000},126.05\n" for i in range(30)))
    before = sha256(atlas_copy)
    res = run_cli("import", str(f), "--as", "rows", "--gpkg", str(atlas_copy), env={"ATLAS_MAX_FEATURES": "20"})
    assert res.returncode == 2 and "more than 20 features" in res.stderr, res.stderr
    assert sha256(atlas_copy) == before
    for bad in ("many", "0", "-5"):
        res = run_cli("import", str(f), "--as", "rows", "--gpkg", str(atlas_copy), env={"ATLAS_MAX_FEATURES": bad})
        assert res.returncode == 2 and "ATLAS_MAX_FEATURES" in res.stderr, res.stderr
        _no_traceback(res)
    res = run_cli("import", str(f), "--as", "rows", "--gpkg", str(atlas_copy), env={"ATLAS_MAX_FEATURES": "30"})
    assert res.returncode == 0 and "30 features" in res.stdout, res.stderr


def _points_csv(tmp_path: Path, n: int, name: str = "synthetic_points.csv") -> Path:
    """``n`` synthetic points within a few km of KLS-14's point (39.57 N, 126.05 E)."""
    f = tmp_path / name
    f.write_text("name,lat,lon\n" + "".join(f"Synthetic point {i},{39.55 + (i % 40) / 1000},"
                                            f"{126.03 + (i // 40) / 1000}\n" for i in range(1, n + 1)))
    return f


def test_a_dossier_lists_the_nearest_user_features_and_says_what_it_left_out(atlas_copy, tmp_path, monkeypatch):
    import importlib

    assert run_cli("import", str(_points_csv(tmp_path, 60)), "--as", "many", "--gpkg", str(atlas_copy)).returncode == 0
    monkeypatch.setattr(importlib.import_module("atlas.dossier"), "MAX_USER_LISTED", 25)
    res = run_cli("dossier", "KLS-14", "--out", str(tmp_path / "d"), "--gpkg", str(atlas_copy))
    assert res.returncode == 0, res.stderr
    page = (tmp_path / "d" / "KLS-14.html").read_text(encoding="utf-8")
    assert page.count("<td>user_many</td>") == 25
    assert "Left out: 35 more feature(s) of user_many" in page and "60 in all" in page


def test_a_large_layer_is_exported_a_chunk_at_a_time_and_complete(atlas_copy, tmp_path, monkeypatch):
    """The streamed exports of a large user layer (here: more than 20 features, 16 a chunk) hold what the
    whole-layer exports hold: every row, the same columns; GeoParquet in the same Hilbert order."""
    import geopandas as gpd
    import pandas as pd
    import pyarrow.parquet as pq

    import atlas.export

    assert run_cli("import", str(_points_csv(tmp_path, 90)), "--as", "many", "--gpkg", str(atlas_copy)).returncode == 0
    whole = {fmt: getattr(atlas, f"export_{fmt}")(tmp_path / "whole", ["user_many"], atlas_copy)[0]
             for fmt in ("geoparquet", "csv", "geojson")}
    monkeypatch.setattr(atlas.export, "LARGE_LAYER", 20)
    monkeypatch.setattr(atlas.export, "LAYER_CHUNK", 16)
    monkeypatch.setitem(atlas.export.CHUNK_ROWS, "csv", 16)
    monkeypatch.setitem(atlas.export.CHUNK_ROWS, "geojson", 16)
    parts = {fmt: getattr(atlas, f"export_{fmt}")(tmp_path / "parts", ["user_many"], atlas_copy)[0]
             for fmt in ("geoparquet", "csv", "geojson")}
    assert pq.ParquetFile(parts["geoparquet"]).metadata.num_row_groups == 6  # 90 rows, 16 a group
    schemas = [pq.read_schema(whole["geoparquet"]), pq.read_schema(parts["geoparquet"])]
    assert schemas[0].names == schemas[1].names and "bbox" in schemas[1].names
    geo = [json.loads(sc.metadata[b"geo"])["columns"]["geometry"] for sc in schemas]
    assert geo[0]["covering"] == geo[1]["covering"] and geo[0]["geometry_types"] == geo[1]["geometry_types"]
    assert geo[0]["bbox"] == pytest.approx(geo[1]["bbox"])
    a, b = gpd.read_parquet(whole["geoparquet"]), gpd.read_parquet(parts["geoparquet"])
    assert list(a.columns) == list(b.columns) and a["user_id"].tolist() == b["user_id"].tolist()
    assert a.geometry.geom_equals(b.geometry).all() and len(b) == 90
    assert a.drop(columns="geometry").astype(str).equals(b.drop(columns="geometry").astype(str))
    assert pd.read_csv(whole["csv"]).equals(pd.read_csv(parts["csv"]))
    meta = json.loads(parts["csv"].with_name("user_many.csv-metadata.json").read_text(encoding="utf-8"))
    assert [c["name"] for c in meta["tableSchema"]["columns"]] == list(pd.read_csv(parts["csv"]).columns)
    features = [json.loads(p.read_text(encoding="utf-8"))["features"] for p in (whole["geojson"], parts["geojson"])]
    assert features[0] == features[1] and len(features[1]) == 90


def test_an_id_repeated_in_another_chunk_of_a_layer_is_found(atlas_copy, tmp_path):
    """Checked a chunk at a time (16 features here), a layer still shows an id given twice, chunks apart."""
    from atlas.io import check_layer_chunks
    from atlas.store import open_atlas

    assert run_cli("import", str(_points_csv(tmp_path, 60)), "--as", "many", "--gpkg", str(atlas_copy)).returncode == 0
    assert not check_layer_chunks(open_atlas(atlas_copy), "user_many", size=16)
    layer = pyogrio.read_dataframe(atlas_copy, layer="user_many")
    layer.loc[layer["user_id"] == "U000050", "user_id"] = "U000005"  # the 5th and the 50th: chunks 1 and 4
    pyogrio.write_dataframe(layer, atlas_copy, layer="user_many", driver="GPKG", layer_options={"OVERWRITE": "YES"})
    problems = check_layer_chunks(open_atlas(atlas_copy), "user_many", size=16)
    assert [(p.feature, p.message) for p in problems] == [("U000005", "id repeated in another part of the layer")]


def test_find_does_not_read_every_feature_a_common_word_names(atlas_copy, tmp_path, monkeypatch):
    import atlas.search

    assert run_cli("import", str(_points_csv(tmp_path, 60)), "--as", "many", "--gpkg", str(atlas_copy)).returncode == 0
    monkeypatch.setattr(atlas.search, "MAX_KEY_MATCHES", 20)
    read = []
    original = atlas.search._read_fids
    monkeypatch.setattr(atlas.search, "_read_fids", lambda a, layer, fids: read.append(len(fids)) or original(a, layer, fids))
    res = run_cli("find", "Synthetic point 37", "--gpkg", str(atlas_copy))  # the whole name: one feature read
    assert res.returncode == 0, res.stderr
    assert "Synthetic point 37" in res.stdout and read == [1]
    res = run_cli("find", "point", "--gpkg", str(atlas_copy))  # a word of all 60 names: not read
    _no_traceback(res)
    assert "'point'" in res.stderr and "more than 20 names" in res.stderr
    assert max(read) <= 20


def test_csv_is_escaped_on_a_terminal_and_exact_in_a_pipe(hostile_atlas):
    """The one path where data meets a terminal as data: ``--format csv`` to a pty shows the controls
    escaped, as a table does; to a pipe it is the data, byte for byte (a process each, as a user runs it)."""
    import pty
    import sys

    args = [sys.executable, "-m", "atlas", "find", "Title", "--format", "csv", "--gpkg", str(hostile_atlas)]
    piped = subprocess.run(args, capture_output=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert b"\x1b]0;owned-title\x07" in piped.stdout  # exact in a pipe
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(args, stdout=follower, stderr=subprocess.PIPE, close_fds=True)
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        assert proc.wait(timeout=300) == 0
    finally:
        os.close(leader)
    text = shown.decode("utf-8")
    _no_raw_controls(text.replace("\r\n", "\n"))
    assert "Title \\x1b]0;owned-title\\x07 A" in text
