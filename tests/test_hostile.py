"""Hostile files and careless paths: each is refused with one message, the atlas unchanged.

Every fixture is synthetic, written by the test into its temporary folder: GDAL
virtual datasets (VRT) disguised as each accepted format, zip bombs, CSV files
with names a GeoPackage cannot hold. The points are real atlas camps.
"""

from __future__ import annotations

import os
import resource
import signal
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

import atlas
from atlas import importer, staging
from atlas.errors import InputError, OutputError

from .conftest import REPO, run_cli, sha256, spawn_cli


@pytest.fixture
def points(layers) -> gpd.GeoDataFrame:
    camps = layers["camps"]
    return camps[camps.geometry.notna() & ~camps.geometry.is_empty].head(5)[["site_id", "name", "geometry"]]


def _csv(path: Path, points, extra_header: str = "", extra: str = "") -> Path:
    lines = [f"name,lat,lon{extra_header}"]
    lines += [f"site {i},{p.y},{p.x}{extra.format(i=i)}" for i, p in enumerate(points.geometry)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _refused(path: Path, gpkg: Path, words: str, cls=InputError) -> str:
    """Refused by the API and the command line (exit 2, no traceback); the GeoPackage unchanged."""
    before = sha256(gpkg)
    with pytest.raises(cls, match=words):
        atlas.import_layer(path, "hostile", gpkg=gpkg)
    assert sha256(gpkg) == before
    result = run_cli("import", str(path), "--as", "hostile", "--gpkg", str(gpkg))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "atlas: error:" in result.stderr
    assert sha256(gpkg) == before
    leftovers = [p.name for p in gpkg.parent.iterdir() if p.name.startswith(".atlas")]
    assert leftovers == []
    return result.stderr


# --- 1. a file is opened only by the driver of its format ----------------------------------------

_SECRET = "synthetic-secret-line-{i}"


def _secret_csv(tmp_path: Path) -> Path:
    """A local file that an import must never read (a stand-in for /etc/passwd)."""
    f = tmp_path / "secret" / "passwd.csv"
    f.parent.mkdir()
    f.write_text("who,x,y\n" + "".join(f"{_SECRET.format(i=i)},126.0,39.5\n" for i in range(3)))
    return f


def _vrt(source: Path, disguise: str = "<!-- <kml> -->") -> str:
    return (f'<OGRVRTDataSource>{disguise}<OGRVRTLayer name="sites">'
            f"<SrcDataSource>CSV:{source}</SrcDataSource><SrcLayer>passwd</SrcLayer>"
            '<GeometryType>wkbPoint</GeometryType><LayerSRS>EPSG:4326</LayerSRS>'
            '<GeometryField encoding="PointFromColumns" x="x" y="y"/>'
            '<Field name="name" src="who"/></OGRVRTLayer></OGRVRTDataSource>')


def test_the_vrt_fixture_is_really_hostile(tmp_path):
    """GDAL itself, left to choose, reads the secret through the disguised file."""
    vrt = tmp_path / "synthetic_vrt.kml"
    vrt.write_text(_vrt(_secret_csv(tmp_path)))
    df = pyogrio.read_dataframe(vrt)
    assert pyogrio.read_info(vrt)["driver"] == "OGR_VRT"
    assert _SECRET.format(i=0) in set(df["name"])


def _kml_with_vrt_comment(source: Path) -> str:
    return ('<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><!-- '
            + _vrt(source).replace("--", "") + " --><Document><Placemark><name>x</name><Point>"
            "<coordinates>126.0,39.5</coordinates></Point></Placemark></Document></kml>")


@pytest.mark.parametrize("ext", [".kml", ".csv", ".txt", ".tsv", ".geojson", ".json", ".kmz", ".zip",
                                 ".gpkg", ".shp", ".parquet", ".geoparquet"])
def test_a_vrt_with_any_accepted_extension_is_refused(atlas_copy, tmp_path, ext):
    secret = _secret_csv(tmp_path)
    path = tmp_path / f"synthetic_vrt{ext}"
    path.write_text(_vrt(secret))
    stderr = _refused(path, atlas_copy, r"not <kml>|extension|not KML|zip|XML")
    assert _SECRET.format(i=0) not in stderr


@pytest.mark.parametrize("way", ["kml root is kml", "geojson string", "kmz member", "kmz member named doc.kml",
                                 "zipped shapefile member", "shapefile"])
def test_each_way_in_for_a_vrt_is_refused(atlas_copy, tmp_path, way, points):
    secret = _secret_csv(tmp_path)
    if way == "kml root is kml":  # a real <kml> root, the VRT in a comment GDAL would still notice
        path = tmp_path / "synthetic.kml"
        path.write_text(_kml_with_vrt_comment(secret))
        words = "virtual dataset"
    elif way == "geojson string":
        path = tmp_path / "synthetic.geojson"
        path.write_text('{"type": "FeatureCollection", "note": "' + _vrt(secret).replace('"', "'")
                        + '", "features": []}')
        words = "virtual dataset"
    elif way.startswith("kmz"):
        path = tmp_path / "synthetic.kmz"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("doc.kml" if "doc.kml" in way else "files/places.kml", _vrt(secret))
        words = "not <kml>"
    else:
        shp = tmp_path / "real" / "synthetic.shp"
        shp.parent.mkdir()
        points.to_file(shp)
        if way == "shapefile":  # the .shp signature, then a VRT: GDAL's Shapefile driver or nothing
            shp.write_bytes(b"\x00\x00\x27\x0a" + _vrt(secret).encode())
            path, words = shp, "no feature has a geometry|cannot be read as SHP"
        else:  # the .shp replaced by a VRT, its .shx and .dbf genuine
            shp.write_text(_vrt(secret))
            words = "signature"
            path = tmp_path / "synthetic_shapefile.zip"
            with zipfile.ZipFile(path, "w") as z:
                for part in shp.parent.iterdir():
                    z.write(part, part.name)
    stderr = _refused(path, atlas_copy, words)
    assert _SECRET.format(i=0) not in stderr


def test_driver_allow_list_is_checked_after_opening(tmp_path, monkeypatch):
    """Were a content check ever to miss, the driver GDAL picked is still refused before reading."""
    secret = _secret_csv(tmp_path)
    vrt = tmp_path / "input.kml"
    vrt.write_text(_vrt(secret))
    with pytest.raises(InputError, match="OGR_VRT driver"):
        staging.open_layers(vrt, "kml", tmp_path / "synthetic.kml")


# --- 2. writers serialised --------------------------------------------------------------------------


@pytest.mark.slow
def test_two_concurrent_imports_ten_rounds_keep_both_layers(atlas_copy, tmp_path, points):
    a = _csv(tmp_path / "synthetic_a.csv", points)
    b = _csv(tmp_path / "synthetic_b.csv", points.iloc[::-1])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    waited = 0
    for round_ in range(10):
        procs = [subprocess.Popen([sys.executable, "-m", "atlas", "import", str(f), "--as", name,
                                   "--gpkg", str(atlas_copy)], cwd=REPO, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for f, name in ((a, f"one_{round_}"), (b, f"two_{round_}"))]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        waited += any("waiting for another atlas command" in err for _, err in outs)
        names = {n for n, _ in atlas.list_layers(atlas_copy)}
        assert {f"user_one_{round_}", f"user_two_{round_}"} <= names, (round_, outs)
    assert len([n for n in names if n.startswith("user_")]) == 20
    atlas.validate(atlas_copy)
    print(f"rounds in which one import waited for the other: {waited} of 10")


def _big_csv(path: Path, points, n: int) -> Path:
    p = points.geometry.iloc[0]
    with path.open("w") as f:
        f.write("name,lat,lon\n")
        for i in range(n):
            f.write(f"synthetic {i},{p.y + (i % 100) * 1e-4},{p.x}\n")
    return path


@pytest.mark.slow
def test_build_during_an_import_keeps_the_import(atlas_copy, tmp_path, points):
    big = _big_csv(tmp_path / "synthetic_big.csv", points, 150_000)
    lock = atlas_copy.with_name(atlas_copy.name + ".lock")
    imp = subprocess.Popen([sys.executable, "-m", "atlas", "import", str(big), "--as", "during",
                            "--gpkg", str(atlas_copy)], cwd=REPO, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while imp.poll() is None and not lock.exists():
        time.sleep(0.05)  # until the import holds the lock
    build = run_cli("build", "--out", str(atlas_copy))
    out, err = imp.communicate(timeout=600)
    assert imp.returncode == 0, err
    assert build.returncode == 0, build.stderr
    assert "user_during: 150000 features" in out
    assert len(atlas.read_layer("user_during", atlas_copy)) == 150_000
    assert "keeping 1 user layer(s) from the previous build: user_during" in build.stderr
    print("the build waited for the import" if "waiting for another" in build.stderr
          else "the import had finished before the build took the lock")


def test_a_writer_refuses_after_waiting(atlas_copy, tmp_path, points):
    before = sha256(atlas_copy)
    with atlas.io.writer_lock(atlas_copy):
        holder = atlas_copy.with_name(atlas_copy.name + ".lock").read_text()
        # another process: within one, the lock is re-entrant and would not make it wait
        result = spawn_cli("import", str(_csv(tmp_path / "synthetic.csv", points)), "--as", "late",
                         "--gpkg", str(atlas_copy), env={"ATLAS_LOCK_WAIT": "1"})
    assert holder.startswith(f"pid {os.getpid()}")
    assert result.returncode == 2 and "being written by another atlas command" in result.stderr
    assert "waiting for another atlas command" in result.stderr
    assert sha256(atlas_copy) == before


# --- 3. archives: limits from the directory, enforced while inflating -------------------------------


def _kml(points) -> str:
    marks = "".join(f"<Placemark><name>{r['name']}</name><Point><coordinates>{r.geometry.x},"
                    f"{r.geometry.y}</coordinates></Point></Placemark>" for _, r in points.iterrows())
    return f'<kml xmlns="http://www.opengis.net/kml/2.2"><Document>{marks}</Document></kml>'


def test_zip_bomb_is_refused_from_the_directory(atlas_copy, tmp_path, points):
    path = tmp_path / "synthetic_bomb.kmz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("doc.kml", "w", force_zip64=True) as f:
        f.write(_kml(points).replace("</Document>", "<!--").encode())
        block = b" " * (1 << 20)
        for _ in range(staging.MAX_INFLATED_BYTES // len(block) + 10):
            f.write(block)
        f.write(b"--></Document></kml>")
    assert path.stat().st_size < 2_000_000
    _refused(path, atlas_copy, "refused before inflating")


def test_a_lying_directory_is_caught_while_inflating(atlas_copy, tmp_path, points):
    """The directory says 2 kB; the member inflates to 20 MB: reading stops at 2 kB, memory bounded."""
    path = tmp_path / "synthetic_liar.kmz"
    body = _kml(points).replace("</Document>", "<!--" + " " * 20_000_000 + "--></Document>").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("doc.kml", body)
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24: central + 28] = struct.pack("<I", 2048)  # uncompressed size in the directory
    path.write_bytes(bytes(data))
    stderr = _refused(path, atlas_copy, "cannot be extracted")
    assert "doc.kml" in stderr
    # the refusal's own peak memory, from its own process (RUSAGE_CHILDREN keeps any earlier child's),
    # started by a small new interpreter: a child's peak counts the memory of the process that
    # forked it, and this test process holds the whole suite's
    code = ("import os, subprocess, sys\n"
            "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "_, status, usage = os.wait4(p.pid, 0)\n"
            "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n")
    res = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "atlas", "import", str(path),
                          "--as", "hostile", "--gpkg", str(atlas_copy)], capture_output=True, text=True,
                         cwd=REPO, timeout=300, check=True)
    returncode, maxrss = map(int, res.stdout.split())
    assert returncode == 2
    assert maxrss / 1024 < 1024, f"peak {maxrss / 1024:.0f} MB"  # KiB on Linux


# --- 5. one clear message, or a rename said out loud ------------------------------------------------


def test_columns_the_geopackage_cannot_hold_are_renamed_and_said(atlas_copy, tmp_path, points):
    path = _csv(tmp_path / "synthetic_arcgis.csv", points, ",FID,fid_,geom,Type,TYPE",
                ",{i},x{i},g{i},a{i},b{i}")
    result = run_cli("import", str(path), "--as", "arcgis", "--gpkg", str(atlas_copy))
    assert result.returncode == 0, result.stderr
    assert "renamed" in result.stderr and "'FID' -> 'attr_FID'" in result.stderr
    assert "'TYPE' -> 'TYPE_2'" in result.stderr and "'geom' -> 'attr_geom'" in result.stderr
    stored = atlas.read_layer("user_arcgis", atlas_copy)
    assert list(stored["attr_FID"]) == [str(i) for i in range(len(points))]
    assert list(stored["Type"]) == [f"a{i}" for i in range(len(points))]
    assert list(stored["TYPE_2"]) == [f"b{i}" for i in range(len(points))]
    for lower in ("fid", "FID_"):
        path = _csv(tmp_path / f"synthetic_{lower}.csv", points, f",{lower}", ",{i}")
        result = run_cli("import", str(path), "--as", f"c_{lower.lower()}", "--gpkg", str(atlas_copy))
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


def test_a_cell_over_the_csv_limit_is_one_message(atlas_copy, tmp_path, points):
    path = _csv(tmp_path / "synthetic_long.csv", points, ",notes", ",short")
    with path.open("a") as f:
        f.write(f'long,{points.geometry.iloc[0].y},{points.geometry.iloc[0].x},"{"x" * 131_073}"\n')
    stderr = _refused(path, atlas_copy, "longer than 131,072 characters")
    assert "row 7" in stderr


def test_full_disk_is_one_message(atlas_copy, tmp_path, points):
    """A full disk, simulated by a file-size limit: the write fails, the atlas is untouched."""
    path = _csv(tmp_path / "synthetic.csv", points)
    before = sha256(atlas_copy)

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

    result = subprocess.run([sys.executable, "-m", "atlas", "import", str(path), "--as", "full",
                             "--gpkg", str(atlas_copy)], cwd=REPO, capture_output=True, text=True,
                            preexec_fn=limit, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "cannot write" in result.stderr and "was not replaced" in result.stderr
    assert sha256(atlas_copy) == before
    assert [p.name for p in atlas_copy.parent.iterdir() if p.name.startswith(".atlas")] == []


def test_no_space_left_is_one_message(atlas_copy, tmp_path, points, monkeypatch):
    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(importer.pyogrio.raw, "write_arrow", full)
    before = sha256(atlas_copy)
    with pytest.raises(OutputError, match=r"No space left on device.*was not replaced"):
        atlas.import_layer(_csv(tmp_path / "synthetic.csv", points), "full", gpkg=atlas_copy)
    assert sha256(atlas_copy) == before


@pytest.fixture
def read_only(tmp_path):
    """Make a folder read-only for this process, even as root (immutable attribute)."""
    made = []

    def make(folder: Path) -> Path:
        if os.geteuid() == 0:
            if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
                pytest.skip("running as root where chattr +i is not available")
        else:
            folder.chmod(0o555)
        made.append(folder)
        return folder

    yield make
    for folder in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        else:
            folder.chmod(0o755)


def test_read_only_folder_is_one_message(atlas_copy, tmp_path, points, read_only):
    path = _csv(tmp_path / "synthetic.csv", points)
    before = sha256(atlas_copy)
    read_only(atlas_copy.parent)
    result = run_cli("import", str(path), "--as", "ro", "--gpkg", str(atlas_copy))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot write in {atlas_copy.parent}" in result.stderr
    assert sha256(atlas_copy) == before
    result = run_cli("map", "--out", str(atlas_copy.parent / "map.html"), "--gpkg", str(atlas_copy))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot write in {atlas_copy.parent}" in result.stderr


@pytest.mark.parametrize("case", ["existing dir", "empty", "device", "read-only file"])
def test_map_out_refuses_what_is_not_a_writable_file(atlas_copy, tmp_path, case):
    target = {"existing dir": str(tmp_path), "empty": "", "device": "/dev/null",
              "read-only file": str(tmp_path / "ro.html")}[case]
    if case == "read-only file":
        Path(target).write_text("keep me")
        Path(target).chmod(0o444)
    result = run_cli("map", "--out", target, "--gpkg", str(atlas_copy))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    words = {"existing dir": "is a directory", "empty": "is empty", "device": "not a regular file",
             "read-only file": "read-only"}[case]
    assert words in result.stderr
    if case == "read-only file":
        assert Path(target).read_text() == "keep me"


def test_out_says_when_it_creates_folders(atlas_copy, tmp_path):
    target = tmp_path / "new" / "deeper" / "map.html"
    result = run_cli("map", "--out", str(target), "--gpkg", str(atlas_copy))
    assert result.returncode == 0, result.stderr
    assert f"created the folder {target.parent}" in result.stderr and target.is_file()


def test_kmz_reads_doc_kml_and_says_what_it_skipped(atlas_copy, tmp_path, points):
    path = tmp_path / "synthetic_two.kmz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("aaa_first.kml", _kml(points.iloc[:1]))
        z.writestr("doc.kml", _kml(points))
        z.writestr("files/other.kml", _kml(points.iloc[:2]))
    with pytest.warns(UserWarning, match=r"read doc.kml, skipped aaa_first.kml, files/other.kml"):
        out = atlas.import_layer(path, "two", gpkg=atlas_copy)
    assert sorted(out["name"]) == sorted(points["name"])
    path2 = tmp_path / "synthetic_nodoc.kmz"
    with zipfile.ZipFile(path2, "w") as z:
        z.writestr("files/deep.kml", _kml(points.iloc[:2]))
        z.writestr("first.kml", _kml(points.iloc[:1]))
        z.writestr("second.kml", _kml(points.iloc[:3]))
    with pytest.warns(UserWarning, match="read first.kml"):
        out = atlas.import_layer(path2, "nodoc", gpkg=atlas_copy)
    assert list(out["name"]) == [points["name"].iloc[0]]


def test_stale_temporaries_of_a_killed_import_are_removed_by_the_next_write(atlas_copy, tmp_path, points):
    big = _big_csv(tmp_path / "synthetic_big.csv", points, 300_000)
    proc = subprocess.Popen([sys.executable, "-m", "atlas", "import", str(big), "--as", "killed",
                             "--gpkg", str(atlas_copy)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stale: list[Path] = []
    while proc.poll() is None and not stale:
        time.sleep(0.05)
        stale = [p for p in atlas_copy.parent.glob(f".atlas-{proc.pid}-*.gpkg") if p.stat().st_size > 0]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert stale and stale[0].exists(), "the import finished before it could be killed"
    result = run_cli("import", str(_csv(tmp_path / "synthetic.csv", points)), "--as", "next",
                     "--gpkg", str(atlas_copy))
    assert result.returncode == 0, result.stderr
    assert not stale[0].exists()
    assert [p.name for p in atlas_copy.parent.iterdir() if p.name.startswith(".atlas")] == []


@pytest.mark.slow
def test_an_interrupted_build_says_what_was_replaced(tmp_path):
    out = tmp_path / "b" / "atlas.gpkg"
    proc = subprocess.Popen([sys.executable, "-m", "atlas", "build", "--out", str(out)], cwd=REPO,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "mine density" in line:  # the GeoPackage is written; the products are being made
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=300)[1]
    assert proc.returncode == 130, "".join(lines) + rest
    assert f"interrupted after replacing {out}" in rest and "nothing was replaced" not in rest


@pytest.mark.parametrize("name", ["name\n", "na\tme", "name\x00", "Name", ""])
def test_layer_names_refuse_control_characters(atlas_copy, tmp_path, points, name):
    path = _csv(tmp_path / "synthetic.csv", points)
    before = sha256(atlas_copy)
    with pytest.raises(InputError, match="layer name"):
        atlas.import_layer(path, name, gpkg=atlas_copy)
    if "\x00" not in name:  # a NUL cannot be an argument of a process
        result = run_cli("import", str(path), "--as", name, "--gpkg", str(atlas_copy))
        assert result.returncode == 2 and "layer name" in result.stderr
    assert sha256(atlas_copy) == before


def test_validate_names_the_path_it_checked(atlas_copy):
    result = run_cli("validate", str(atlas_copy))
    assert result.returncode == 0 and result.stdout.strip() == f"{atlas_copy}: valid"


def test_folder_outputs_refuse_files_and_say_what_they_create(atlas_copy, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    result = run_cli("export", "--qgis", "--out", str(a_file), "--gpkg", str(atlas_copy))
    assert result.returncode == 2 and "not a folder" in result.stderr and "Traceback" not in result.stderr
    assert a_file.read_text() == "keep me"
    result = run_cli("export", "--qgis", "--out", "", "--gpkg", str(atlas_copy))
    assert result.returncode == 2 and "--out is empty" in result.stderr
    new = tmp_path / "new" / "qgis"
    result = run_cli("export", "--qgis", "--out", str(new), "--gpkg", str(atlas_copy))
    assert result.returncode == 0, result.stderr
    assert f"created the folder {new}" in result.stderr and (new / "atlas.qgz").is_file()
