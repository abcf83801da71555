"""PostGIS export and PostGIS as a source, against a real PostgreSQL 15 + PostGIS 3.

The module starts its own cluster (Debian's ``postgresql-15-postgis-3``) in a
temporary folder, listening only on a Unix socket there, as the ``postgres``
user when the tests run as root (``initdb`` refuses root), and stops it at
the end. Expected values come from the atlas GeoPackage.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

import atlas
from atlas import database, io
from atlas.errors import AtlasError, InputError

from .conftest import require_tool, run_cli

PG_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture(scope="module")
def cluster():
    """A throwaway PostgreSQL 15 cluster with PostGIS; yields (socket folder, port)."""
    require_tool((PG_BIN / "initdb").exists() and POSTGIS_CONTROL.exists(),
                 "PostgreSQL 15 + PostGIS 3 (postgresql-15-postgis-3)")
    folder = Path(tempfile.mkdtemp(prefix="atlas-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port = folder / "pg", _free_port()
    started = time.perf_counter()
    subprocess.run(_as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                "-E", "UTF8", "--locale=C.UTF-8"), check=True, capture_output=True)
    subprocess.run(_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
                                "-o", f"-p {port} -k {folder} -c listen_addresses=", "start"),
                   check=True, capture_output=True)
    print(f"\ncluster up in {time.perf_counter() - started:.1f} s")
    try:
        yield folder, port
    finally:
        subprocess.run(_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"),
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _psql(cluster, sql: str, db: str = "postgres") -> str:
    folder, port = cluster
    res = subprocess.run(["psql", "-h", str(folder), "-p", str(port), "-U", "postgres", "-d", db,
                          "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


@pytest.fixture
def url(cluster, request) -> str:
    """A new, empty database (PostGIS not yet enabled: the export enables it)."""
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    _psql(cluster, f"DROP DATABASE IF EXISTS {name}")
    _psql(cluster, f"CREATE DATABASE {name}")
    folder, port = cluster
    return f"postgresql://postgres@/{name}?host={folder}&port={port}&schema=atlas"


def _db(url: str) -> str:
    return url.split("/")[3].split("?")[0]


def _snapshot(cluster, url: str) -> dict:
    """What the database holds: tables with row counts and a digest of their rows, styles, comment."""
    db = _db(url)
    tables = _psql(cluster, "SELECT table_name FROM information_schema.tables WHERE table_schema='atlas' "
                            "ORDER BY 1", db).split()
    out = {"tables": {}}
    for t in tables:
        out["tables"][t] = _psql(cluster, f'SELECT count(*), md5(string_agg(t::text, \'|\' ORDER BY fid)) '
                                          f'FROM atlas."{t}" t', db)
    out["styles"] = _psql(cluster, "SELECT count(*) FROM public.layer_styles WHERE f_table_schema='atlas'",
                          db) if "layer_styles" in _psql(
        cluster, "SELECT string_agg(table_name, ' ') FROM information_schema.tables "
                 "WHERE table_schema='public'", db) else "none"
    out["comment"] = _psql(cluster, "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace "
                                    "WHERE nspname='atlas'", db)
    return out


def test_round_trip_keys_indexes_styles(cluster, url, gpkg, layers):
    started = time.perf_counter()
    result = atlas.export_postgis(url, gpkg)
    print(f"export of {len(layers)} layers: {time.perf_counter() - started:.2f} s")
    assert result["postgis"].startswith("3.")
    assert [w["name"] for w in result["layers"]] == list(layers)
    # every layer reads back equal: same columns, dtypes, values, row order, geometries, CRS
    assert atlas.list_layers(url) == atlas.list_layers(gpkg)
    for name, df in layers.items():
        got = atlas.read_layer(name, url)
        assert type(got) is type(df), name
        if isinstance(df, gpd.GeoDataFrame):
            assert got.crs.to_epsg() == 4326
            a, b = df.geometry, got.geometry
            assert (a.geom_equals_exact(b, 0) | ((a.isna() | a.is_empty) & b.isna())).all(), name
            df, got = pd.DataFrame(df.drop(columns="geometry")), pd.DataFrame(got.drop(columns="geometry"))
        pd.testing.assert_frame_equal(df, got, obj=name)
    db = _db(url)
    # geometry columns in SRID 4326 with the declared types, each with a GiST index
    geoms = dict(r.split("|", 1) for r in _psql(
        cluster, "SELECT f_table_name, type || ' ' || srid FROM geometry_columns "
                 "WHERE f_table_schema='atlas'", db).splitlines())
    for name, gtype in atlas.list_layers(gpkg):
        if gtype is not None:
            assert geoms[name] == f"{gtype.upper()} 4326"
    gist = _psql(cluster, "SELECT tablename FROM pg_indexes WHERE schemaname='atlas' "
                          "AND indexdef LIKE '%USING gist%'", db).split()
    assert sorted(gist) == sorted(geoms)
    # a primary key on every table; each layer's own id unique and not null
    pks = _psql(cluster, "SELECT tc.table_name FROM information_schema.table_constraints tc "
                         "WHERE tc.table_schema='atlas' AND constraint_type='PRIMARY KEY'", db).split()
    assert sorted(pks) == sorted(layers)
    uniques = set(_psql(cluster, "SELECT tc.table_name || '.' || kcu.column_name FROM "
                                 "information_schema.table_constraints tc JOIN "
                                 "information_schema.key_column_usage kcu USING (constraint_name, "
                                 "table_schema) WHERE tc.table_schema='atlas' AND "
                                 "constraint_type='UNIQUE'", db).split())
    assert {"camps.site_id", "mines.mine_id", "camp_findings.finding_id", "sources.path"} <= uniques
    fks = _psql(cluster, "SELECT conrelid::regclass || ' -> ' || confrelid::regclass FROM pg_constraint "
                         "WHERE contype='f' AND connamespace='atlas'::regnamespace ORDER BY 1", db)
    assert "atlas.camp_findings -> atlas.camps" in fks.splitlines()
    # provenance tables and descriptions
    assert int(_psql(cluster, "SELECT count(*) FROM atlas.sources", db)) == len(layers["sources"])
    assert _psql(cluster, "SELECT obj_description('atlas.camps'::regclass)", db) == \
        atlas.SCHEMAS["camps"].description
    stamp = json.loads(_snapshot(cluster, url)["comment"].split(" ", 2)[2])
    assert stamp["source"] == gpkg.name and len(stamp["sha256"]) == 64
    # one default QGIS style per geometry layer, valid XML holding a renderer
    styles = _psql(cluster, "SELECT f_table_name || ' ' || useasdefault || ' ' || "
                            "(xpath('count(//renderer-v2)', styleqml))[1]::text FROM public.layer_styles "
                            "WHERE f_table_schema='atlas' ORDER BY 1", db).splitlines()
    assert styles == [f"{n} true 1" for n in sorted(geoms)]


def test_failure_rolls_back_everything(cluster, url, gpkg, tmp_path):
    atlas.export_postgis(url, gpkg)
    before = _snapshot(cluster, url)
    # a GeoPackage whose findings point at a camp that does not exist: the foreign key, added
    # after every table is written, fails, and the whole export must roll back
    broken = tmp_path / "synthetic_broken.gpkg"
    shutil.copyfile(gpkg, broken)
    layers = atlas.read_layers(broken)
    findings = layers["camp_findings"].copy()
    findings.loc[0, "site_id"] = "KLS-NOPE"
    layers["camp_findings"] = findings
    layers["mines"] = layers["mines"].iloc[:3]  # a change that would show if anything stayed
    broken.unlink()
    io.write_layers(layers, broken)
    res = run_cli("export", "--postgis", url, "--gpkg", str(broken))
    assert res.returncode == 1
    assert "nothing was changed" in res.stderr and "foreign key" in res.stderr
    assert "Traceback" not in res.stderr
    assert _snapshot(cluster, url) == before
    # and into an empty database: nothing at all is left behind
    _psql(cluster, "DROP SCHEMA atlas CASCADE; DELETE FROM public.layer_styles", _db(url))
    with pytest.raises(AtlasError, match="foreign key"):
        atlas.export_postgis(url, broken)
    assert _psql(cluster, "SELECT count(*) FROM pg_namespace WHERE nspname='atlas'", _db(url)) == "0"
    assert _psql(cluster, "SELECT count(*) FROM public.layer_styles", _db(url)) == "0"


def test_rerun_replaces_the_schema_idempotently(cluster, url, gpkg):
    atlas.export_postgis(url, gpkg)
    first = _snapshot(cluster, url)
    started = time.perf_counter()
    res = run_cli("export", "--postgis", url, "--gpkg", str(gpkg))
    print(f"second export (CLI): {time.perf_counter() - started:.2f} s")
    assert res.returncode == 0, res.stderr
    second = _snapshot(cluster, url)
    n_geometry = sum(1 for _, g in atlas.list_layers(gpkg) if g is not None)
    assert second["tables"] == first["tables"] and second["styles"] == first["styles"] == str(n_geometry)
    assert second["comment"] != first["comment"]  # a new export stamp
    # a table a user left in the schema goes with it (the schema is the atlas's), styles not doubled
    _psql(cluster, "CREATE TABLE atlas.scratch (x int)", _db(url))
    atlas.export_postgis(url, gpkg)
    assert "scratch" not in _snapshot(cluster, url)["tables"]


def test_schema_not_written_by_the_atlas_is_never_touched(cluster, url, gpkg):
    db = _db(url)
    _psql(cluster, "CREATE SCHEMA theirs; CREATE TABLE theirs.notes (x int); INSERT INTO theirs.notes VALUES (1)",
          db)
    res = run_cli("export", "--postgis", url.replace("schema=atlas", "schema=theirs"), "--gpkg", str(gpkg))
    assert res.returncode == 2 and "not written by the atlas" in res.stderr
    assert _psql(cluster, "SELECT count(*) FROM theirs.notes", db) == "1"
    for bad in ("public", "pg_catalog", "Bad-Name"):
        with pytest.raises(InputError):
            database.Database.parse(url.replace("schema=atlas", f"schema={bad}"))


def test_queries_read_the_database_as_a_source(cluster, url, gpkg, tmp_path):
    atlas.export_postgis(url, gpkg)
    for args in (["near", "KLS-14", "--km", "30"], ["nearest", "Yodok", "--site-layer", "camps", "-k", "3"],
                 ["find", "개천", "--format", "csv"], ["summary", "--format", "csv"], ["layers"],
                 ["show", "KLS-15"], ["status", "--as-of", "2014-06", "--format", "csv"]):
        from_db = run_cli(*args, "--source", url)
        from_file = run_cli(*args, "--gpkg", str(gpkg))
        assert from_db.returncode == 0, from_db.stderr
        assert from_db.stdout == from_file.stdout, args
    for fmt in ("csv", "json"):  # every column of the layer, read from the database
        from_db = run_cli("near", "KLS-14", "--km", "30", "--format", fmt, "--source", url)
        from_file = run_cli("near", "KLS-14", "--km", "30", "--format", fmt, "--gpkg", str(gpkg))
        assert from_db.returncode == 0, from_db.stderr
        if fmt == "csv":
            assert from_db.stdout == from_file.stdout
        else:  # the same features; the metadata names each source
            assert json.loads(from_db.stdout)["rows"] == json.loads(from_file.stdout)["rows"]
    missing = run_cli("near", "KLS-14", "--source", url.replace("schema=atlas", "schema=nothing_here"))
    assert missing.returncode == 2 and "atlas export --postgis" in missing.stderr
    # the map reads the database like any source (one atlas object, two back-ends) ...
    res = run_cli("map", "--out", str(tmp_path / "from-db.html"), "--source", url)
    assert res.returncode == 0, res.stderr
    assert "Yodok (Camp 15)" in (tmp_path / "from-db.html").read_text(encoding="utf-8")
    # ... and a command that needs the file itself says so, in one line
    res = run_cli("export", "--qgis", "--out", str(tmp_path / "qgis"), "--source", url)
    assert res.returncode == 2 and "give --gpkg FILE" in res.stderr and "Traceback" not in res.stderr


def test_unreachable_database_is_a_clear_error(tmp_path, gpkg):
    url = f"postgresql://nobody@/nodb?host={tmp_path}&port=1"
    res = run_cli("export", "--postgis", url, "--gpkg", str(gpkg))
    assert res.returncode == 2 and "cannot use the database" in res.stderr
    assert "Traceback" not in res.stderr
    res = run_cli("near", "KLS-14", "--source", url)
    assert res.returncode == 2 and "cannot use the database" in res.stderr


def test_qgis_opens_the_tables_styled(cluster, url, gpkg, layers, tmp_path, qgis):
    atlas.export_postgis(url, gpkg)
    folder, port = cluster
    spec = []
    for name, gtype in atlas.list_layers(gpkg):
        geom = " (geometry)" if gtype else ""
        spec.append([name, f"dbname='{_db(url)}' host={folder} port={port} user='postgres' key='fid' "
                           f'table="atlas"."{name}"{geom}', "postgres"])
    seen, _ = qgis(tmp_path, "layers", json.dumps(spec))
    from_gpkg, _ = qgis(tmp_path, "gpkg", str(Path(atlas.export_qgis(tmp_path / "q", gpkg)).parent / "atlas.gpkg"))
    for name, df in layers.items():
        lyr = seen["layers"][name]
        assert lyr["valid"], name
        assert lyr["features"] == len(df)
        if isinstance(df, gpd.GeoDataFrame):
            assert lyr["crs"] == "EPSG:4326"
            ref = from_gpkg["layers"][name]["renderer"]
            # the style QGIS found in public.layer_styles is the export's, not a random single symbol
            assert lyr["renderer"]["type"] == ref["type"], name
            if name in ("provinces", "mines", "camps"):
                assert ref["type"] in ("categorizedSymbol", "graduatedSymbol")
            assert lyr["renderer"].get("attribute") == ref.get("attribute")
            assert len(lyr["renderer"].get("categories") or []) == len(ref.get("categories") or [])


def test_private_layers_stay_on_this_machine(cluster, url, gpkg, layers, tmp_path):
    copy = tmp_path / "atlas.gpkg"
    shutil.copyfile(gpkg, copy)
    camp = layers["camps"].set_index("site_id").loc["KLS-15"].geometry
    src = tmp_path / "synthetic_witnesses.csv"
    src.write_text(f"name,lat,lon\nwitness house,{camp.y:.5f},{camp.x:.5f}\n", encoding="utf-8")
    atlas.import_layer(src, "witnesses", gpkg=copy, private=True)
    result = atlas.export_postgis(url, copy)
    assert "private_left_out" not in result  # the schema, and what the export says of it, hold no trace
    assert "user_witnesses" not in dict(atlas.list_layers(url))
    assert _psql(cluster, "SELECT count(*) FROM information_schema.tables WHERE table_name='user_witnesses'",
                 _db(url)) == "0"
    atlas.export_postgis(url, copy, include_private=True)
    assert len(atlas.read_layer("user_witnesses", url)) == 1


def test_column_names_postgresql_cannot_hold_are_renamed(cluster, url, gpkg, tmp_path):
    """A user layer with columns named as PostgreSQL's system columns, and two long names alike in
    their first 63 bytes (synthetic, built here): exported, each column kept under a safe, unique name."""
    copy = tmp_path / "atlas" / "atlas.gpkg"
    copy.parent.mkdir()
    shutil.copyfile(gpkg, copy)
    long = "interview_transcript_reference_number_as_given_by_the_archive__"  # 63 bytes
    csv = tmp_path / "synthetic_columns.csv"
    csv.write_text(f"name,lat,lon,xmin,xmax,ctid,{long}first,{long}second\n"
                   "A point,39.57,126.05,1,2,3,alpha,beta\n")
    assert run_cli("import", str(csv), "--as", "cols", "--gpkg", str(copy)).returncode == 0
    res = run_cli("export", "--postgis", url, "--gpkg", str(copy))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "renamed for PostgreSQL" in res.stderr
    cols = _psql(cluster, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM "
                          "information_schema.columns WHERE table_schema='atlas' AND table_name='user_cols'",
                 _db(url)).split(",")
    assert {"attr_xmin", "attr_xmax", "attr_ctid", long, long[:61] + "_2"} <= set(cols)
    assert _psql(cluster, f'SELECT attr_xmin::text || attr_ctid::text || "{long}" || "{long[:61]}_2" FROM atlas.user_cols',
                 _db(url)) == "13alphabeta"


def test_a_polygon_layer_goes_to_postgis_as_multipolygons(cluster, url, gpkg, layers, tmp_path):
    """A user layer of synthetic polygons (squares around camp points, built here) exported and read back."""
    copy = tmp_path / "atlas.gpkg"
    shutil.copyfile(gpkg, copy)
    camps = layers["camps"][layers["camps"].geometry.notna() & ~layers["camps"].geometry.is_empty].head(3)
    squares = [shapely.box(p.x - 0.01, p.y - 0.01, p.x + 0.01, p.y + 0.01) for p in camps.geometry]
    src = tmp_path / "synthetic_squares.geojson"
    gpd.GeoDataFrame({"name": [f"synthetic square {i}" for i in range(3)]}, geometry=squares,
                     crs=4326).to_file(src)
    atlas.import_layer(src, "squares", gpkg=copy)
    atlas.export_postgis(url, copy)
    assert _psql(cluster, "SELECT type FROM geometry_columns WHERE f_table_name = 'user_squares'",
                 _db(url)) == "MULTIPOLYGON"
    back = atlas.read_layer("user_squares", url).sort_values("name")
    assert all(shapely.normalize(a).equals_exact(shapely.normalize(shapely.multipolygons([b])), 1e-9)
               for a, b in zip(back.geometry, squares))
    assert atlas.count_inside("user_squares", "camps", gpkg=url).tolist() == [1, 1, 1]
