"""A million-point user layer in every command: each under 1 GB, its product complete or saying what
it left out (issue 20, item 6). Apart from tests/test_doors.py so that, run on several workers, this
long module (some minutes per command) runs beside the rest instead of after it."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pyogrio
import pytest

_PEAK = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = p.stderr.read()
_, status, usage = os.wait4(p.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss // 1024, err.decode()[-3000:].replace(chr(10), ' '))
"""


MILLION = 1_000_000


@pytest.fixture(scope="module")
def million(gpkg, tmp_path_factory) -> Path:
    """A copy of the atlas with a synthetic user layer ``user_big`` of 1,000,000 points, built once for the
    commands below (benchmarks/bench_doors.py builds it: some minutes)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_doors", Path(__file__).parents[1] / "benchmarks" / "bench_doors.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench.synthetic_atlas(tmp_path_factory.mktemp("million"), gpkg, MILLION)


def _lines(path: Path) -> int:
    """The lines of a file, counted a block at a time (the test's own memory stays small too)."""
    with path.open("rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 24), b""))


def _count(path: Path, needle: bytes) -> int:
    """The occurrences of ``needle`` in a file, read a block at a time (one split by a block's end counted too)."""
    n, tail = 0, b""
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            text = tail + block
            n += text.count(needle)
            tail = text[-(len(needle) - 1):]  # too short to hold a whole needle: never counted twice
    return n


def _check_csv(out: Path, err: str) -> None:
    assert _lines(out / "user_big.csv") == MILLION + 1  # every row, and the header


def _check_geojson(out: Path, err: str) -> None:
    assert _count(out / "user_big.geojson", b'"type": "Feature"') == MILLION


def _check_geoparquet(out: Path, err: str) -> None:
    import pyarrow.parquet as pq

    f = pq.ParquetFile(out / "user_big.parquet")
    geo = json.loads(f.schema_arrow.metadata[b"geo"])
    assert f.metadata.num_rows == MILLION and f.metadata.num_row_groups > 1  # streamed, complete
    assert geo["columns"]["geometry"]["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert json.loads(f.schema_arrow.metadata[b"atlas"])["rows"] == MILLION
    first = f.read_row_group(0, columns=["bbox"]).column("bbox").combine_chunks()
    last = f.read_row_group(f.metadata.num_row_groups - 1, columns=["bbox"]).column("bbox").combine_chunks()
    # rows in Hilbert order: the first and last row groups cover far parts of the layer's box
    assert max(first.field("xmin").to_numpy()) < min(last.field("xmin").to_numpy()) or \
        max(first.field("ymin").to_numpy()) < min(last.field("ymin").to_numpy())


def _check_kmz(out: Path, err: str) -> None:

    kml = zipfile.ZipFile(out / "atlas.kmz").read("doc.kml").decode("utf-8")
    assert "Left out:" in kml and f"of {MILLION:,} features" in kml
    assert "leaves out 990,000" in err


def _check_qgis(out: Path, err: str) -> None:
    assert pyogrio.read_info(out / "atlas.gpkg", layer="user_big")["features"] == MILLION
    assert (out / "atlas.qgz").stat().st_size > 0


def _check_map(out: Path, err: str) -> None:
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "Left out: 900,000 more features of this layer" in page and "leaves out 900,000" in err
    assert (out / "map.html").stat().st_size < 50_000_000


def _check_dossier(out: Path, err: str) -> None:
    page = out / "KLS-14.html"
    assert page.stat().st_size < 5_000_000
    assert "more feature(s) of user_big" in page.read_text(encoding="utf-8")


def _check_site(out: Path, err: str) -> None:
    _check_map(out, err)
    _check_dossier(out / "dossiers", err)
    downloads = out / "downloads"
    _check_csv(downloads / "csv", err)
    _check_geoparquet(downloads / "geoparquet", err)
    assert f"layer user_big: {MILLION} rows" in (out / "downloads.html").read_text(encoding="utf-8")


def _check_build(out: Path, err: str) -> None:
    assert pyogrio.read_info(out / "atlas.gpkg", layer="user_big")["features"] == MILLION  # kept by the rebuild


#: Each command with a million-point user layer present; what its product must hold (complete, or saying
#: what it left out). ``{out}`` is the command's folder.
_MILLION_COMMANDS = {
    "layers": (("layers",), None),
    "find": (("find", "Synthetic point 123456"), None),
    "show": (("show", "U0123456", "--site-layer", "user_big"), None),
    "near": (("near", "KLS-14", "--km", "10", "--layer", "user_big"), None),
    "dossier": (("dossier", "KLS-14", "--out", "{out}"), _check_dossier),
    "build": (("build", "--out", "{out}/atlas.gpkg", "--no-products"), _check_build),
    "map": (("map", "--out", "{out}/map.html"), _check_map),
    "site": (("site", "--out", "{out}"), _check_site),
    "export csv": (("export", "--format", "csv", "--out", "{out}"), _check_csv),
    "export geojson": (("export", "--format", "geojson", "--out", "{out}"), _check_geojson),
    "export geoparquet": (("export", "--format", "geoparquet", "--out", "{out}"), _check_geoparquet),
    "export kmz": (("export", "--format", "kmz", "--out", "{out}"), _check_kmz),
    "export qgis": (("export", "--qgis", "--out", "{out}"), _check_qgis),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(_MILLION_COMMANDS))
def test_a_million_point_layer_keeps_every_command_under_a_gigabyte(million, tmp_path, command):
    """Each command measured in its own process, started from a small one (a child's peak counts the
    memory of the process it was forked from): exit 0, a peak under 1 GB, its product complete or
    saying what it left out."""
    import sys

    args, check = _MILLION_COMMANDS[command]
    out = tmp_path / "out"
    source = ["--gpkg", str(million)]
    if command == "build":  # the build rewrites its GeoPackage: a copy of the big atlas, its user layer kept
        out.mkdir()
        shutil.copyfile(million, out / "atlas.gpkg")
        source = []
    argv = [a.format(out=out) for a in args]
    res = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m", "atlas", *argv, *source],
                         capture_output=True, text=True, timeout=3600)
    code, peak, err = res.stdout.split(" ", 2)
    assert code == "0", (command, err)
    assert int(peak) < 1024, (command, f"{peak} MB")
    if check is not None:
        check(out, err)
