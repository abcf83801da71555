"""Source protection end to end (issue 23): private data kept apart, shared products that cite what they
hold and betray nothing, products made with private data that say so, one gate, the old layout migrated.

Every fixture is synthetic, named as such, and lives in a temporary folder: a copy of the session's
atlas, a public layer ``user_synthpublic`` and a private layer ``user_zqvillages`` whose names, notes,
coordinates and file name are made up for the test (points ~1.4 km from real camps).
"""

from __future__ import annotations

import base64
import inspect
import json
import re
import shutil
import sqlite3
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pyogrio
import pytest

import atlas
from atlas import database, export, userlayers
from atlas.store import private_store

from .conftest import run_cli, sha256
from .test_postgis import cluster, url  # noqa: F401  (the PostgreSQL 15 + PostGIS cluster, reused)

LAYER_WORD = "zqvillages"  # the word of the private layer's name: in no shared product
SECRET_NAME = "Synthetic interviewee Qx9"
SECRET_NOTE = "synthetic note Vb4 about the visit"
SECRET_FILE = "synthetic_interviews_qx9.csv"
PUBLIC_NAME = "Synthetic public site Pk2"
PUBLIC_FILE = "synthetic_public_pk2.csv"


def _points(layers: dict, n: int, dx: float, dy: float) -> list[tuple[float, float]]:
    camps = layers["camps"]
    pts = camps[~camps.geometry.is_empty & camps.geometry.notna()].head(n)
    return [(round(p.x + dx, 6), round(p.y + dy, 6)) for p in pts.geometry]


def _write_csv(path: Path, name: str, note: str, points: list[tuple[float, float]]) -> Path:
    lines = ["name,lat,lon,note"] + [f"{name} {i},{lat:.6f},{lon:.6f},{note} {i}"
                                     for i, (lon, lat) in enumerate(points)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def secret_points(layers) -> list[tuple[float, float]]:
    return _points(layers, 3, 0.012346, 0.011113)


@pytest.fixture(scope="module")
def public_points(layers) -> list[tuple[float, float]]:
    return _points(layers, 2, -0.021357, 0.017771)


def _folder(base: Path, gpkg: Path) -> Path:
    """A copy of the session's atlas in ``base/output/atlas.gpkg`` (its private store: ``base/output-private``)."""
    out = base / "output" / "atlas.gpkg"
    out.parent.mkdir(parents=True)
    shutil.copyfile(gpkg, out)
    return out


def _needles(secret_csv: Path, points: list[tuple[float, float]], store: Path | None = None) -> list[bytes]:
    """Every byte string of the private layer a shared product must not hold."""
    out = [SECRET_NAME.encode(), SECRET_NOTE.encode(), LAYER_WORD.encode(), SECRET_FILE.encode(),
           sha256(secret_csv).encode()]
    for lon, lat in points:
        out += [f"{lat:.6f}".encode(), f"{lon:.6f}".encode(), f"{lat:.5f}".encode(), f"{lon:.5f}".encode(),
                np.float64(lon).tobytes(), np.float64(lat).tobytes()]
    if store is not None and store.is_file():
        out.append(sha256(store).encode())
    return out


def _map_sections(text: str) -> tuple[bytes, set[tuple[int, int]]]:
    """The map page's packed data, unpacked: every deflated section's bytes, and every packed point
    as micro-degree integers (as atlas._packing writes them: offsets from the layer's corner)."""
    found = re.search(r"atlasInit\(map_\w+, (\{.*\})\);\n", text)  # the spec: one line of JSON
    assert found, "no spec in the page"
    spec = json.loads(found.group(1))
    blobs, points = [], set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("z"), str):
                blobs.append(zlib.decompress(base64.b64decode(node["z"])))
            xy = node.get("xy")
            if isinstance(xy, dict) and {"x0", "y0", "x", "y"} <= set(xy):
                from atlas._packing import unpack_section

                xs = xy["x0"] + unpack_section(xy["x"]).astype(np.int64)
                ys = xy["y0"] + unpack_section(xy["y"]).astype(np.int64)
                points.update(zip(xs.tolist(), ys.tolist()))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec)
    return b"\n".join(blobs), points


def _micro(points) -> set[tuple[int, int]]:
    return {(round(lon * 1_000_000), round(lat * 1_000_000)) for lon, lat in points}


def _contents(path: Path) -> bytes:
    """A file's bytes and what is inside it: zip members (nested too), a Parquet table, a map's data."""
    raw = path.read_bytes()
    parts = [raw]
    if raw[:2] == b"PK":
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                member = z.read(name)
                parts.append(member)
                if member[:2] == b"PK":
                    inner = path.with_name(f".inner-{path.name}")
                    inner.write_bytes(member)
                    parts.append(_contents(inner))
                    inner.unlink()
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        parts += [str(table.to_pylist()).encode(), json.dumps({k.decode(): v.decode() for k, v in
                                                               (table.schema.metadata or {}).items()}).encode()]
    if path.suffix == ".html" and b"atlasInit(map_" in raw:
        blobs, _ = _map_sections(raw.decode("utf-8"))
        parts.append(blobs)
    return b"\n".join(parts)


def _leaks(root: Path, needles: list[bytes]) -> list[str]:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return [f"{p.name}: {n[:40]!r}" for p in files for n in needles if n in _contents(p)]


# --- the products, made the same way before and after a private layer is imported -------------------


def _products(gpkg: Path, out: Path, monkeypatch) -> dict[str, Path]:
    """Every shared product of the atlas, by the public API, into ``out`` (fixed export times)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # the exports' "exported_at": no clock
    made = {"map": atlas.write_map(out / "atlas.html", gpkg=gpkg),
            "dossier": atlas.dossier("KLS-14", out=out / "dossiers", gpkg=gpkg),
            "site": atlas.build_site(out / "site", gpkg=gpkg).parent,
            "qgis": atlas.export_qgis(out / "qgis", gpkg).parent}
    for fmt, write in (("geojson", atlas.export_geojson), ("csv", atlas.export_csv),
                       ("geoparquet", atlas.export_geoparquet)):
        write(out / fmt, gpkg=gpkg)
        made[fmt] = out / fmt
    made["kmz"] = atlas.export_kmz(out / "kmz", gpkg=gpkg)[0]
    return made


def _files(root: Path) -> dict[str, bytes]:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {(p.relative_to(root).as_posix() if root.is_dir() else p.name): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def lab(gpkg, layers, secret_points, public_points, tmp_path_factory):
    """An atlas with a public user layer; every product made before and after importing a private one."""
    base = tmp_path_factory.mktemp("synthetic_lab")
    target = _folder(base, gpkg)
    public_csv = _write_csv(base / PUBLIC_FILE, PUBLIC_NAME, "synthetic public note", public_points)
    atlas.import_layer(public_csv, "synthpublic", gpkg=target)
    public_sha = sha256(target)
    with pytest.MonkeyPatch.context() as mp:
        before = _products(target, base / "before", mp)
        secret_csv = _write_csv(base / SECRET_FILE, SECRET_NAME, SECRET_NOTE, secret_points)
        result = run_cli("import", str(secret_csv), "--as", LAYER_WORD, "--private", "--gpkg", str(target))
        assert result.returncode == 0, result.stderr
        after = _products(target, base / "after", mp)
    return {"gpkg": target, "base": base, "before": before, "after": after, "public_sha": public_sha,
            "secret_csv": secret_csv, "store": private_store(target)}


# --- 1. private data lives apart -------------------------------------------------------------------


@pytest.mark.slow  # the synthetic atlas and its products (tens of seconds)
def test_a_private_layer_lives_apart_and_never_changes_the_public_geopackage(gpkg, layers, secret_points,
                                                                             tmp_path):
    target = _folder(tmp_path, gpkg)
    clean = sha256(target)
    secret_csv = _write_csv(tmp_path / SECRET_FILE, SECRET_NAME, SECRET_NOTE, secret_points)
    result = run_cli("import", str(secret_csv), "--as", LAYER_WORD, "--private", "--gpkg", str(target))
    assert result.returncode == 0, result.stderr
    assert f"user_{LAYER_WORD}: 3 features (private)" in result.stdout
    store = tmp_path / "output-private" / "atlas-private.gpkg"
    assert private_store(target) == store and store.is_file() and str(store) in result.stderr
    assert sha256(target) == clean  # the public GeoPackage: not a byte changed
    assert not [n for n in _needles(secret_csv, secret_points, store) if n in target.read_bytes()]
    assert "README.txt" in {p.name for p in store.parent.iterdir()}
    assert not list((tmp_path / "output").glob("*private*"))  # output/ can be zipped and sent as it is
    # the one record per user layer, stored in one table (not derived from rows)
    with sqlite3.connect(store) as con:
        rows = con.execute("SELECT layer, private, source_file, source_sha256, features FROM atlas_user_layers").fetchall()
    assert rows == [(f"user_{LAYER_WORD}", 1, SECRET_FILE, sha256(secret_csv), 3)]
    # changed (re-imported) and dropped: the public GeoPackage still unchanged
    moved = _write_csv(tmp_path / SECRET_FILE, SECRET_NAME + " again", SECRET_NOTE, secret_points[:2])
    assert run_cli("import", str(moved), "--as", LAYER_WORD, "--private", "--replace",
                   "--gpkg", str(target)).returncode == 0
    assert len(atlas.read_layer(f"user_{LAYER_WORD}", target)) == 2 and sha256(target) == clean
    assert run_cli("layers", "--drop", LAYER_WORD, "--gpkg", str(target)).returncode == 0
    assert sha256(target) == clean and f"user_{LAYER_WORD}" not in atlas.user_layers(target)
    assert SECRET_NAME.encode() not in store.read_bytes()  # dropped from its store, vacuumed
    # with no public user layer, `atlas build` writes the very same bytes: anyone can rebuild what is cited
    again = atlas.build(tmp_path / "rebuilt" / "atlas.gpkg", products=())
    assert sha256(again) == clean == sha256(gpkg)
    assert sha256(atlas.build(target, products=())) == clean


def test_the_same_rule_for_any_geopackage_and_for_the_folder_of_products(tmp_path):
    assert private_store(tmp_path / "maps" / "other.gpkg") == tmp_path / "maps-private" / "other-private.gpkg"
    assert atlas.io.private_folder(tmp_path / "output") == tmp_path / "output-private"
    with pytest.raises(atlas.InputError):
        atlas.io.private_folder("/")


# --- 2 and 3. every shared product cites the public file, and betrays nothing ------------------------


@pytest.mark.slow  # the synthetic atlas and its products (tens of seconds)
def test_no_shared_product_holds_a_byte_of_the_private_layer(lab, secret_points):
    needles = _needles(lab["secret_csv"], secret_points, lab["store"])
    for name, path in lab["after"].items():
        assert _leaks(path, needles) == [], name
    # the packed points of the map: the public layer's are there (so this would see them), the private not
    text = lab["after"]["map"].read_text(encoding="utf-8")
    _, packed = _map_sections(text)
    public = atlas.read_layer("user_synthpublic", lab["gpkg"])
    assert _micro(zip(public.geometry.x, public.geometry.y)) <= packed
    assert not _micro(secret_points) & packed
    assert '"private_left_out"' not in text and "Private layers left out" not in text


@pytest.mark.slow  # the synthetic atlas and its products (tens of seconds)
def test_shared_products_are_the_same_bytes_with_and_without_the_private_layer(lab):
    """The strongest form of "betrays nothing" and "the citation never changes": not a byte differs."""
    for name in lab["before"]:
        before, after = _files(lab["before"][name]), _files(lab["after"][name])
        assert sorted(before) == sorted(after), name
        assert [k for k in before if before[k] != after[k]] == [], name
    assert sha256(lab["gpkg"]) == lab["public_sha"]


@pytest.mark.slow  # the synthetic atlas and its products (tens of seconds)
def test_every_shared_product_cites_the_public_geopackage_it_ships(lab):
    cited = sha256(lab["gpkg"])
    made = lab["after"]
    page = made["map"].read_text(encoding="utf-8")
    assert f'"gpkg_sha256":"{cited}"' in page
    assert f"(sha256 {cited})" in made["dossier"].read_text(encoding="utf-8")
    site = made["site"]
    assert sha256(site / "downloads" / "atlas.gpkg") == cited  # the site ships that very file
    assert f"{cited}  atlas.gpkg" in (site / "downloads" / "SHA256SUMS").read_text(encoding="utf-8")
    for page_path in site.rglob("*.html"):
        assert cited in page_path.read_text(encoding="utf-8"), page_path.name
    for geojson in made["geojson"].glob("*.geojson"):
        assert json.loads(geojson.read_text(encoding="utf-8"))["atlas"]["exported_from_sha256"] == cited
    import pyarrow.parquet as pq

    for parquet in made["geoparquet"].glob("*.parquet"):
        assert json.loads(pq.read_schema(parquet).metadata[b"atlas"])["exported_from_sha256"] == cited
    csvs = sorted(made["csv"].glob("*.csv"))
    assert csvs
    for csv in csvs:  # a CSV cites in its CSV on the Web description beside it
        doc = json.loads(csv.with_name(csv.name + "-metadata.json").read_text(encoding="utf-8"))
        assert doc["url"] == csv.name and doc["notes"][0]["atlas:provenance"]["exported_from_sha256"] == cited
    with zipfile.ZipFile(made["kmz"]) as z:
        assert f"sha256 {cited}" in z.read("doc.kml").decode("utf-8")
    with zipfile.ZipFile(made["qgis"] / "atlas.qgz") as z:
        assert f"(sha256 {cited})" in z.read("atlas.qgs").decode("utf-8")


# --- 4. a product made with private data says so on its face ----------------------------------------


@pytest.mark.slow  # the synthetic atlas and its products (tens of seconds)
def test_include_private_products_carry_the_banner_and_cite_the_private_store_apart(lab, tmp_path):
    import pypdf

    banner = f"CONTAINS PRIVATE LAYER {LAYER_WORD} \u2014 do not share"
    gpkg, store = lab["gpkg"], lab["store"]
    private_sha = sha256(store)
    page = atlas.write_map(tmp_path / "m.html", gpkg=gpkg, include_private=True).read_text(encoding="utf-8")
    assert f'<p class="atlas-private-banner" role="alert">{banner}</p>' in page
    assert f"<title>{banner}" in page and f'"private_gpkg_sha256":"{private_sha}"' in page
    assert SECRET_NAME in page and SECRET_NOTE in page  # asked for: there (numbered texts: a prefix in JSON)
    html = atlas.dossier("KLS-14", out=tmp_path / "d", gpkg=gpkg, pdf=True, include_private=True)
    text = html.read_text(encoding="utf-8")
    assert f'<p class="private-banner" role="alert">{banner}</p>' in text and "@top-center" in text
    assert f"sha256 {private_sha}" in text and f"sha256 {sha256(gpkg)}" in text  # both, apart
    pages = pypdf.PdfReader(html.with_suffix(".pdf")).pages
    assert len(pages) >= 1
    for number, pdf_page in enumerate(pages, 1):  # every printed page
        assert banner.replace("\u2014", "") in pdf_page.extract_text().replace("\u2014", ""), number
    site = atlas.build_site(tmp_path / "site", gpkg=gpkg, include_private=True).parent
    for page_path in site.rglob("*.html"):
        assert banner in page_path.read_text(encoding="utf-8"), page_path.name
    assert sha256(site / "downloads" / "atlas-private.gpkg") == private_sha
    assert sha256(site / "downloads" / "atlas.gpkg") == sha256(gpkg)
    # data files: in their name and in their metadata
    [geojson] = atlas.export_geojson(tmp_path / "g", layers=[f"user_{LAYER_WORD}"], gpkg=gpkg,
                                     include_private=True)
    assert geojson.name == f"user_{LAYER_WORD}.PRIVATE.geojson"
    meta = json.loads(geojson.read_text(encoding="utf-8"))["atlas"]
    assert meta["banner"] == banner and meta["private_gpkg_sha256"] == private_sha
    assert meta["exported_from_sha256"] == sha256(gpkg)
    [parquet] = atlas.export_geoparquet(tmp_path / "p", layers=[f"user_{LAYER_WORD}"], gpkg=gpkg,
                                        include_private=True)
    import pyarrow.parquet as pq

    assert parquet.name.endswith(".PRIVATE.parquet")
    assert json.loads(pq.read_schema(parquet).metadata[b"atlas"])["banner"] == banner
    [kmz] = atlas.export_kmz(tmp_path / "k", gpkg=gpkg, include_private=True)
    assert kmz.name == "atlas.PRIVATE.kmz"
    with zipfile.ZipFile(kmz) as z:
        assert re.search(rf"<(\w+:)?name>{re.escape(banner)}", z.read("doc.kml").decode("utf-8"))
    [csv] = atlas.export_csv(tmp_path / "c", layers=[f"user_{LAYER_WORD}"], gpkg=gpkg, include_private=True)
    assert csv.name == f"user_{LAYER_WORD}.PRIVATE.csv"
    described = json.loads(csv.with_name(csv.name + "-metadata.json").read_text(encoding="utf-8"))
    assert described["notes"][0]["atlas:provenance"]["banner"] == banner
    assert described["notes"][0]["atlas:provenance"]["private_gpkg_sha256"] == private_sha
    named = atlas.export_csv(tmp_path / "mine.csv", layers=[f"user_{LAYER_WORD}"], gpkg=gpkg, include_private=True)
    assert named == [tmp_path / "mine.csv"]  # --out names the file: as named
    with zipfile.ZipFile(atlas.export_qgis(tmp_path / "q", gpkg, include_private=True)) as z:
        qgs = z.read("atlas.qgs").decode("utf-8")
    assert banner in qgs and f"sha256 {private_sha}" in qgs
    # a summary (pasted into reports) counted with it says so above the table, and only then
    counted = run_cli("summary", "--include-private", "--gpkg", str(gpkg))
    assert counted.returncode == 0 and counted.stdout.startswith(banner), counted.stderr
    assert "PRIVATE" not in run_cli("summary", "--gpkg", str(gpkg)).stdout


def test_the_private_maps_banner_shows_on_screen_and_on_every_printed_page(lab, browser, tmp_path):
    """The map made with --include-private, in headless Chromium: the banner on top of the map at a
    desktop's and a phone's size (nothing covers it), and on every page Chromium prints."""
    import io as _io

    import pypdf

    from atlas import _browser

    banner = f"CONTAINS PRIVATE LAYER {LAYER_WORD} \u2014 do not share"
    page_path = atlas.write_map(tmp_path / "m.html", gpkg=lab["gpkg"], include_private=True)
    for size in ((1200, 800), (375, 667)):
        with _browser.open_page(page_path, browser=browser, size=size) as s:
            box = s.page.locator(".atlas-private-banner").bounding_box()
            assert box is not None and box["y"] <= 1 and box["width"] >= size[0] - 2, (size, box)
            on_top = s.page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y).closest('.atlas-private-banner') !== null",
                [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
            assert on_top, size  # no control drawn over it
            for control in s.page.locator(".leaflet-top .leaflet-control").all():
                below = control.bounding_box()  # and it covers no control
                assert below is None or below["y"] >= box["y"] + box["height"] - 1, (size, box, below)
            assert s.page.locator(".atlas-private-banner").inner_text().strip() == banner
            if size[0] == 1200:
                pdf = pypdf.PdfReader(_io.BytesIO(s.page.pdf(format="A4", landscape=True, print_background=True)))
                assert len(pdf.pages) >= 1
                for number, printed in enumerate(pdf.pages, 1):
                    text = printed.extract_text().replace("\u2014", "")
                    assert banner.replace("\u2014", "") in text, number


@pytest.mark.slow  # the synthetic atlas and its products (tens of seconds)
def test_include_private_products_go_outside_output_by_default(lab, tmp_path):
    env = {"ATLAS_OUTPUT": str(tmp_path / "output")}
    gpkg = str(lab["gpkg"])
    for args in (("map", "--include-private"), ("dossier", "KLS-14", "--include-private"),
                 ("export", "--format", "csv", "--layers", f"user_{LAYER_WORD}", "--include-private"),
                 ("export", "--qgis", "--include-private")):
        result = run_cli(*args, "--gpkg", gpkg, env=env, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        assert all(Path(line).is_relative_to(tmp_path / "output-private") for line in result.stdout.split()), args
    assert (tmp_path / "output-private" / "csv" / f"user_{LAYER_WORD}.PRIVATE.csv").is_file()
    assert not (tmp_path / "output").exists()


# --- 4 and 6. answers on this machine: private rows marked; quiet listings --------------------------


@pytest.mark.slow  # the synthetic atlas and its products (tens of seconds)
def test_local_answers_use_private_layers_and_mark_them(lab):
    gpkg = str(lab["gpkg"])
    found = run_cli("find", f"{SECRET_NAME} 1", "--gpkg", gpkg)
    assert found.returncode == 0, found.stderr
    assert re.search(rf"user_{LAYER_WORD}\s+PRIVATE\s+U000002", found.stdout) and "private layers" in found.stdout
    near = run_cli("near", "KLS-14", "--layer", LAYER_WORD, "--km", "25", "--gpkg", gpkg)
    assert near.returncode == 0 and near.stdout.count("PRIVATE  U0") >= 1, near.stderr
    as_json = json.loads(run_cli("near", "KLS-14", "--layer", LAYER_WORD, "--format", "json",
                                 "--gpkg", gpkg).stdout)
    assert {r["private"] for r in as_json["rows"]} == {"PRIVATE"}
    assert as_json["meta"]["private_gpkg_sha256"] == sha256(lab["store"])
    assert as_json["meta"]["gpkg_sha256"] == sha256(lab["gpkg"])
    shown = run_cli("show", f"{SECRET_NAME} 0", "--gpkg", gpkg)
    assert shown.returncode == 0 and shown.stdout.startswith("PRIVATE:"), shown.stderr
    public = run_cli("near", "KLS-14", "--layer", "synthpublic", "--km", "25", "--gpkg", gpkg).stdout
    assert "PRIVATE" not in public
    listed = run_cli("layers", "--gpkg", gpkg).stdout
    assert f"user_{LAYER_WORD} (private)" in listed and SECRET_FILE not in listed
    assert PUBLIC_FILE in listed  # a public layer's file is named as before
    assert SECRET_FILE in run_cli("layers", "--details", "--gpkg", gpkg).stdout
    assert SECRET_FILE not in run_cli("layers", "--format", "json", "--gpkg", gpkg).stdout


# --- 5. one gate ----------------------------------------------------------------------------------


def test_the_flag_is_keyword_only_everywhere():
    import importlib

    from atlas import postgis, protect, summaries, webmap, website

    dossier = importlib.import_module("atlas.dossier")  # the module (atlas.dossier is the function)

    functions = [atlas.write_map, atlas.build_map, atlas.dossier, dossier.dossier_record, atlas.build_site,
                 atlas.export_csv, atlas.export_geojson, atlas.export_geoparquet, atlas.export_kmz,
                 atlas.export_qgis, postgis.export_postgis, atlas.summary, summaries.province_summary,
                 summaries.county_summary, export.select_layers, protect.shared_layers, userlayers.gate,
                 userlayers.user_layers, userlayers.user_layer_records, atlas.open_atlas, webmap.write_map,
                 website.build_site]
    for fn in functions:
        params = inspect.signature(fn).parameters
        if "include_private" in params:
            assert params["include_private"].kind is inspect.Parameter.KEYWORD_ONLY, fn.__qualname__
    assert {f.__qualname__ for f in functions if "include_private" not in inspect.signature(f).parameters} \
        == {"write_map"}  # it passes **kwargs to build_map


def test_every_product_asks_the_one_gate():
    """Each product module decides through atlas.userlayers.gate; none reads a private flag itself."""
    root = Path(atlas.__file__).parent
    for module in ("webmap", "dossier", "website", "export", "qgis", "postgis", "summaries", "densities",
                   "imagery"):
        text = (root / f"{module}.py").read_text(encoding="utf-8")
        assert "gate(" in text or "Product(" in text, module
        assert not re.search(r"\[\s*[\"']private[\"']\s*\]\s*\.(astype|any|all|fillna)", text), module
    with pytest.raises(ValueError):
        userlayers.gate(None, "no such product")
    assert userlayers.admits({"private": True}, "scenes") is False  # an imagery register's scenes: the same rule
    assert userlayers.admits({"private": True}, "manifest", include_private=True) is True


@pytest.mark.slow  # the synthetic atlas and its products (tens of seconds)
def test_products_made_to_be_shared_refuse_a_private_layer_by_name(lab, tmp_path):
    gpkg = lab["gpkg"]
    with pytest.raises(atlas.InputError, match="--include-private"):
        atlas.export_geojson(tmp_path / "x", layers=[LAYER_WORD], gpkg=gpkg)
    with pytest.raises(atlas.InputError, match="never from a private layer"):
        atlas.density(layer=f"user_{LAYER_WORD}", gpkg=gpkg, out=tmp_path / "d.tif")
    assert not list(tmp_path.iterdir())


# --- the old layout -------------------------------------------------------------------------------


def _old_layout(gpkg: Path, folder: Path, points) -> tuple[Path, Path]:
    """An atlas GeoPackage made the old way: the private layer inside it, flagged in its rows only."""
    target = _folder(folder, gpkg)
    secret_csv = _write_csv(folder / SECRET_FILE, SECRET_NAME, SECRET_NOTE, points)
    atlas.import_layer(secret_csv, LAYER_WORD, gpkg=target)  # stored as public, then made old
    df = pyogrio.read_dataframe(target, layer=f"user_{LAYER_WORD}")
    df["private"] = True
    pyogrio.write_dataframe(df, target, layer=f"user_{LAYER_WORD}", layer_options={"OVERWRITE": "YES"})
    with sqlite3.connect(target) as con:
        con.execute("DROP TABLE atlas_user_layers")  # no records before this layout
    return target, secret_csv


@pytest.mark.slow  # the synthetic atlas and its products (tens of seconds)
def test_an_atlas_laid_out_the_old_way_moves_once_on_the_next_command_that_writes(gpkg, secret_points,
                                                                                 tmp_path):
    target, secret_csv = _old_layout(gpkg, tmp_path, secret_points)
    store = private_store(target)
    old = sha256(target)
    assert SECRET_NAME.encode() in target.read_bytes() and not store.exists()
    # a command that only reads: nothing moves, the layer is private already
    listed = run_cli("layers", "--gpkg", str(target))
    assert f"user_{LAYER_WORD} (private)" in listed.stdout and sha256(target) == old
    assert atlas.user_layers(target, include_private=False) == []
    # the next command that writes moves it, once, and says so
    first = run_cli("map", "--out", str(tmp_path / "m.html"), "--gpkg", str(target))
    assert first.returncode == 0, first.stderr
    assert f"moved 1 private layer(s) (user_{LAYER_WORD})" in first.stderr and str(store) in first.stderr
    assert store.is_file() and sha256(target) != old
    assert not [n for n in _needles(secret_csv, secret_points) if n in target.read_bytes()]
    assert _leaks(tmp_path / "m.html", _needles(secret_csv, secret_points, store)) == []
    cited = sha256(target)
    assert f'"gpkg_sha256":"{cited}"' in (tmp_path / "m.html").read_text(encoding="utf-8")
    with sqlite3.connect(store) as con:
        assert con.execute("SELECT layer, private, source_file FROM atlas_user_layers").fetchall() == [
            (f"user_{LAYER_WORD}", 1, SECRET_FILE)]
    found = run_cli("find", f"{SECRET_NAME} 2", "--gpkg", str(target))  # still answered here, marked
    assert "PRIVATE" in found.stdout and "U000003" in found.stdout, found.stderr
    # once: the next command that writes finds nothing to move and changes nothing
    store_sha = sha256(store)
    second = run_cli("map", "--out", str(tmp_path / "m2.html"), "--gpkg", str(target))
    assert second.returncode == 0 and "moved" not in second.stderr
    assert (sha256(target), sha256(store)) == (cited, store_sha)
    # and a build makes the public file what a clean build makes, the private layer left where it is
    assert sha256(atlas.build(target, products=())) == sha256(gpkg)
    assert len(atlas.read_layer(f"user_{LAYER_WORD}", target)) == 3


# --- PostGIS and GeoPackage agree -----------------------------------------------------------------


def test_postgis_and_geopackage_sources_agree_on_every_products_layer_list(lab, url):  # noqa: F811
    gpkg = lab["gpkg"]
    # exported without the private layer: the schema holds no trace of it
    atlas.export_postgis(url, gpkg)
    stamp = json.dumps(database.export_stamp(url))
    assert LAYER_WORD not in stamp and SECRET_FILE not in stamp
    assert f"user_{LAYER_WORD}" not in dict(atlas.list_layers(url))
    assert atlas.open_atlas(url).sha256 == sha256(gpkg)
    # exported with it (asked for): marked private in the schema's records, left out unless asked again
    atlas.export_postgis(url, gpkg, include_private=True)
    for include_private in (False, True):
        for product in sorted(userlayers.SHARED | userlayers.LOCAL):
            a = userlayers.gate(gpkg, product, include_private=include_private)
            b = userlayers.gate(url, product, include_private=include_private)
            assert (a.names, a.private) == (b.names, b.private), (product, include_private)
        columns = [
            [c for c in atlas.summary(gpkg=src, include_private=include_private).columns if c.startswith("user_")]
            for src in (gpkg, url)]
        assert columns[0] == columns[1], include_private
        exported = [[n for n in export.select_layers(src, None, include_private=include_private)
                     if n.startswith("user_")] for src in (gpkg, url)]
        assert exported[0] == exported[1], include_private
        mapped = [[t for t in atlas.build_map(src, include_private=include_private).atlas_layers.values()
                   if t.startswith("Your layer")] for src in (gpkg, url)]
        assert mapped[0] == mapped[1], include_private
        dossiers = [atlas.dossier_record("KLS-14", src, include_private=include_private)["user_layers"]
                    for src in (gpkg, url)]
        assert dossiers[0] == dossiers[1], include_private
        assert (f"user_{LAYER_WORD}" in columns[0]) is include_private
        assert "user_synthpublic" in columns[0]
    assert atlas.near("KLS-14", km=25, layer=LAYER_WORD, gpkg=url)["id"].tolist() == \
        atlas.near("KLS-14", km=25, layer=LAYER_WORD, gpkg=gpkg)["id"].tolist()


def test_a_manifest_names_only_files_still_in_its_folder(tmp_path):
    """A product with private layers written into a shared folder by mistake, then deleted: its name
    leaves the folder's manifest (.written-by-atlas.json) at the next write there."""
    from atlas import owned

    slip = tmp_path / f"user_{LAYER_WORD}.PRIVATE.csv"
    slip.write_text("x\n", encoding="utf-8")
    owned.record([slip])
    assert LAYER_WORD in (tmp_path / owned.MANIFEST).read_text(encoding="utf-8")
    slip.unlink()
    kept = tmp_path / "camps.csv"
    kept.write_text("y\n", encoding="utf-8")
    owned.record([kept])
    manifest = (tmp_path / owned.MANIFEST).read_text(encoding="utf-8")
    assert LAYER_WORD not in manifest and "camps.csv" in manifest
