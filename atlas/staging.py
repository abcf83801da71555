"""Is a user's file what it says it is? A private copy holding only what its format needs.

A file given to ``atlas import`` is recognised by its content, not trusted from
its extension (:func:`sniff`), copied into a private folder with only what its
format needs (the one KML of a KMZ, the parts of a Shapefile: :func:`stage_file`,
:func:`stage_zip`), its bytes checked to be what the format says (the root
element of a KML, the signatures of a Shapefile; no GDAL virtual dataset
anywhere: :func:`check_content`), and opened only when the GDAL driver that
claims it is the format's own (:data:`ALLOWED_DRIVERS`, :func:`open_layers`).
Archives are refused before they inflate past :data:`MAX_INFLATED_BYTES` or a
ratio of :data:`MAX_ZIP_RATIO`, limits checked from the archive's directory and
enforced again while inflating.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import xml.parsers.expat
import zipfile
from collections.abc import Callable
from pathlib import Path

import pyogrio

from .errors import InputError
from .io import file_sha256

__all__ = ["ALLOWED_DRIVERS", "MAX_COLUMNS", "MAX_FEATURES", "MAX_IMPORT_BYTES", "MAX_INFLATED_BYTES", "MAX_VERTICES",
           "MAX_ZIP_RATIO",
           "check_columns", "check_content", "check_extension", "limit", "open_layers", "sniff", "stage_file", "stage_zip"]

#: Largest file :func:`atlas.importer.import_layer` accepts (bytes). Larger files are refused before reading.
MAX_IMPORT_BYTES = 100 * 1024 * 1024
#: Most bytes the members read from one archive (KMZ, zipped Shapefile) may inflate to.
MAX_INFLATED_BYTES = 200 * 1024 * 1024
#: Highest compression ratio accepted for an archive member larger than 1 MB.
MAX_ZIP_RATIO = 200
#: Most features one import reads (``$ATLAS_MAX_FEATURES`` overrides): ten million points.
MAX_FEATURES = 10_000_000
#: Most vertices one line or polygon may have (``$ATLAS_MAX_VERTICES`` overrides); see :mod:`atlas.shapes`.
MAX_VERTICES = 100_000
#: Most columns a file to import may have (``$ATLAS_MAX_COLUMNS`` overrides; SQLite's own limit is 2,000).
MAX_COLUMNS = 1_000


def limit(name: str) -> int:
    """A bound on the work of one import: ``$ATLAS_<NAME>`` (a whole number ≥ 1) or its default.

    Parameters
    ----------
    name : {"MAX_FEATURES", "MAX_COLUMNS", "MAX_VERTICES"}

    Raises
    ------
    InputError
        The variable is set to something else than a whole number ≥ 1.

    Examples
    --------
    >>> import os
    >>> limit("MAX_FEATURES")
    10000000
    >>> os.environ["ATLAS_MAX_COLUMNS"] = "lots"
    >>> try:
    ...     limit("MAX_COLUMNS")
    ... except InputError as exc:
    ...     print(exc)
    ATLAS_MAX_COLUMNS='lots': give a whole number of at least 1 (default 1000)
    >>> del os.environ["ATLAS_MAX_COLUMNS"]
    """
    default = {"MAX_FEATURES": MAX_FEATURES, "MAX_COLUMNS": MAX_COLUMNS, "MAX_VERTICES": MAX_VERTICES}[name]
    text = os.environ.get(f"ATLAS_{name}", "").strip().replace("_", "")
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"ATLAS_{name}={os.environ[f'ATLAS_{name}']!r}: give a whole number of at least 1 "
                         f"(default {default})")
    return int(text)


# --- format detection -----------------------------------------------------------------


def sniff(path: Path) -> str:
    """The file's format from its content: csv, geojson, kml, kmz, gpkg, shp, shp-zip or parquet."""
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                names = [n.lower() for n in z.namelist()]
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"{path}: looks like a zip archive but cannot be read ({exc})") from exc
        if any(n.endswith(".kml") for n in names):
            return "kmz"
        if any(n.endswith(".shp") for n in names):
            return "shp-zip"
        raise InputError(f"{path}: a zip archive with no .kml or .shp inside")
    if head[:4] == _SHP_MAGIC:
        return "shp"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{") or text.startswith(b"["):
        return "geojson"
    if text.startswith(b"<"):
        if b"<kml" in head or b"opengis.net/kml" in head:
            return "kml"
        raise InputError(f"{path}: an XML/HTML file, not KML")
    if b"\x00" in head:
        raise InputError(f"{path}: a binary file of no supported format "
                         "(CSV, GeoJSON, KML, KMZ, GeoPackage, Shapefile, GeoParquet)")
    return "csv"


_EXTENSIONS = {
    "csv": {".csv", ".txt", ".tsv"}, "geojson": {".geojson", ".json"}, "kml": {".kml"},
    "kmz": {".kmz", ".zip"}, "gpkg": {".gpkg"}, "shp": {".shp"}, "shp-zip": {".zip"},
    "parquet": {".parquet", ".geoparquet"},
}
#: The only GDAL driver allowed to open each format (CSV and GeoParquet never reach GDAL).
ALLOWED_DRIVERS = {
    "geojson": {"GeoJSON"}, "kml": {"KML", "LIBKML"}, "kmz": {"KML", "LIBKML"}, "gpkg": {"GPKG"},
    "shp": {"ESRI Shapefile"}, "shp-zip": {"ESRI Shapefile"},
}
_SHP_MAGIC = b"\x00\x00\x27\x0a"
_DBF_VERSIONS = {0x02, 0x03, 0x04, 0x05, 0x30, 0x31, 0x32, 0x43, 0x63, 0x83, 0x8B, 0x8E, 0xCB, 0xE5,
                 0xF5, 0xFB}
_SHP_SIDECARS = (".shx", ".dbf", ".prj", ".cpg")
_VRT_MARK = b"<ogrvrtdatasource"


def check_extension(path: Path, fmt: str) -> None:
    ext = path.suffix.lower()
    if ext not in _EXTENSIONS[fmt]:
        expected = ", ".join(sorted(_EXTENSIONS[fmt]))
        raise InputError(f"{path}: the content is {fmt.upper()} but the extension is "
                         f"{ext or '(none)'} (expected {expected}); rename the file if this is intended")


# --- staging: a private copy holding only what the format needs ---------------------------


def _copy(src, dest: Path, limit: int, what: str, digest=None) -> int:
    """Copy a stream in 1 MB blocks, refusing past ``limit`` bytes; memory stays bounded."""
    n = 0
    with dest.open("wb") as out:
        while block := src.read(1 << 20):
            n += len(block)
            if n > limit:
                raise InputError(f"{what} inflates past {limit / 1e6:.0f} MB; refused (a zip bomb, or "
                                 "a file too large to import)")
            if digest is not None:
                digest.update(block)
            out.write(block)
    return n


def stage_file(path: Path, fmt: str, tmp: Path) -> tuple[Path, str]:
    """Copy the given file (and a Shapefile's sidecars) into ``tmp``; return it and its sha256."""
    digest = hashlib.sha256()
    staged = tmp / f"input{path.suffix.lower()}"
    with path.open("rb") as src:
        _copy(src, staged, MAX_IMPORT_BYTES, str(path), digest)
    if fmt == "shp":
        for ext in _SHP_SIDECARS:
            for cand in (path.with_suffix(ext), path.with_suffix(ext.upper())):
                if cand.is_file():
                    with cand.open("rb") as src:
                        _copy(src, staged.with_suffix(ext), MAX_IMPORT_BYTES, str(cand))
                    break
    return staged, digest.hexdigest()


def stage_zip(path: Path, fmt: str, tmp: Path, warn: Callable[[str], None]) -> tuple[Path, str]:
    """Extract the one KML (or Shapefile) an archive is read for, within the stated limits.

    The sizes and ratios in the archive's directory are checked before anything is
    inflated; the limits are enforced again while inflating (a directory may lie).
    """
    digest = file_sha256(path)
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: looks like a zip archive but cannot be read ({exc})") from exc
    with z:
        infos = [i for i in z.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX")]
        by_ext = lambda ext: [i for i in infos if i.filename.lower().endswith(ext)]  # noqa: E731
        if fmt == "kmz":
            kmls = by_ext(".kml")
            root = [i for i in kmls if "/" not in i.filename.strip("/")]
            chosen = next((i for i in root if i.filename.lower() == "doc.kml"), None)
            chosen = chosen or (root[0] if root else kmls[0])
            skipped = [i.filename for i in kmls if i is not chosen]
            if skipped:
                warn(f"{path}: the KMZ holds {len(kmls)} KML files; read {chosen.filename}, skipped "
                     f"{', '.join(skipped[:5])}{', ...' if len(skipped) > 5 else ''}")
            members = [(chosen, tmp / "input.kml")]
        else:
            shps = by_ext(".shp")
            chosen = shps[0]
            if len(shps) > 1:
                warn(f"{path}: the archive holds {len(shps)} Shapefiles; read {chosen.filename}, "
                     f"skipped {', '.join(i.filename for i in shps[1:5])}")
            stem = chosen.filename[:-4]
            members = [(chosen, tmp / "input.shp")]
            for ext in _SHP_SIDECARS:
                side = next((i for i in infos if i.filename[:-4] == stem
                             and i.filename[-4:].lower() == ext), None)
                if side is not None:
                    members.append((side, tmp / f"input{ext}"))
        total = sum(i.file_size for i, _ in members)
        if total > MAX_INFLATED_BYTES:
            raise InputError(f"{path}: {chosen.filename} would inflate to {total / 1e6:.0f} MB, more than "
                             f"the limit of {MAX_INFLATED_BYTES / 1e6:.0f} MB; refused before inflating")
        for info, _ in members:
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > (1 << 20) and ratio > MAX_ZIP_RATIO:
                raise InputError(f"{path}: {info.filename} is compressed {ratio:.0f} to 1 (limit "
                                 f"{MAX_ZIP_RATIO} to 1): a zip bomb? refused before inflating")
        budget = MAX_INFLATED_BYTES
        for info, dest in members:
            try:
                with z.open(info) as src:
                    budget -= _copy(src, dest, min(budget, info.file_size),
                                    f"{path}: {info.filename}")
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError) as exc:
                raise InputError(f"{path}: {info.filename} cannot be extracted ({exc})") from exc
    return members[0][1], digest


# --- content checks: what each format's bytes must look like before GDAL sees them ----------


class _Root(Exception):
    pass


def _scan_for_vrt(staged: Path, path: Path) -> None:
    """Refuse a file that holds a GDAL VRT, which would make GDAL read other files."""
    tail = b""
    with staged.open("rb") as f:
        while block := f.read(1 << 20):
            if _VRT_MARK in (tail + block).lower():
                raise InputError(f"{path}: holds a GDAL virtual dataset (<OGRVRTDataSource>), which "
                                 "would read other files; refused")
            tail = block[-len(_VRT_MARK):]


def _check_kml(staged: Path, path: Path) -> None:
    """A KML file: well-formed XML, no DTD, whose root element is ``kml``."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")

    def doctype(*_args):
        raise InputError(f"{path}: a KML file with a DOCTYPE (entities, external files); refused")

    def start(name, _attrs):
        raise _Root(name.rsplit(" ", 1)[-1])

    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = start
    root = None
    try:
        with staged.open("rb") as f:
            while block := f.read(65536):
                parser.Parse(block, False)
            parser.Parse(b"", True)
    except _Root as r:
        root = str(r)
    except xml.parsers.expat.ExpatError as exc:
        raise InputError(f"{path}: not well-formed XML ({exc})") from None
    if root != "kml":
        raise InputError(f"{path}: the root element is <{root}>, not <kml>: not a KML file; refused")
    _scan_for_vrt(staged, path)


def check_columns(n: int, path: Path) -> None:
    """Refuse a file of more than :data:`MAX_COLUMNS` columns, before its rows are read."""
    most = limit("MAX_COLUMNS")
    if n > most:
        raise InputError(f"{path}: {n:,} columns, more than the limit of {most:,} (ATLAS_MAX_COLUMNS); "
                         "keep the columns you need; refused before reading the rows")


def _check_gpkg_tables(staged: Path, path: Path) -> None:
    """Refuse a GeoPackage whose layers are views: rows computed when read (a recursive one never ends)."""
    try:
        con = sqlite3.connect(f"{staged.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InputError(f"{path}: cannot be read as GPKG ({exc})") from None
    try:
        steps = [0]

        def _budget() -> int:  # the check itself is bounded: no query of it may run away
            steps[0] += 1
            return 1 if steps[0] > 10_000 else 0

        con.set_progress_handler(_budget, 1000)
        views = [name for (name,) in con.execute(
            "SELECT c.table_name FROM gpkg_contents c JOIN sqlite_master m ON m.name = c.table_name "
            "WHERE m.type = 'view' ORDER BY 1")]
    except sqlite3.Error as exc:
        raise InputError(f"{path}: cannot be read as GPKG ({exc})") from None
    finally:
        con.close()
    if views:
        raise InputError(f"{path}: layer(s) {', '.join(map(repr, views))} are SQL views, whose rows are computed "
                         "when read (a recursive view never ends); save them as tables first; refused")


def check_content(staged: Path, fmt: str, path: Path) -> None:
    """Refuse bytes that another GDAL driver than the format's own could claim, and layers that are views."""
    if fmt == "gpkg":
        _check_gpkg_tables(staged, path)
    if fmt in ("kml", "kmz"):
        _check_kml(staged, path)
    elif fmt == "geojson":
        _scan_for_vrt(staged, path)
    elif fmt in ("shp", "shp-zip"):
        for ext in (".shx", ".dbf"):
            if not staged.with_suffix(ext).exists():
                raise InputError(f"{path}: Shapefile without its {ext} file")
        with staged.open("rb") as f1, staged.with_suffix(".shx").open("rb") as f2, \
                staged.with_suffix(".dbf").open("rb") as f3:
            heads = f1.read(4), f2.read(4), f3.read(1)
        if heads[0] != _SHP_MAGIC or heads[1] != _SHP_MAGIC or not heads[2] or heads[2][0] not in _DBF_VERSIONS:
            raise InputError(f"{path}: the .shp, .shx or .dbf is not what its name says (wrong file "
                             "signature); refused")


def open_layers(staged: Path, fmt: str, path: Path) -> list[tuple[str, dict]]:
    """The layers with geometry and their metadata, once GDAL's driver is the format's own."""
    try:
        layers = pyogrio.list_layers(staged)
        infos = [(str(n), pyogrio.read_info(staged, layer=str(n))) for n, g in layers if g is not None]
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as {fmt.upper()} ({exc})") from exc
    for _, info in infos:
        if info["driver"] not in ALLOWED_DRIVERS[fmt]:
            raise InputError(f"{path}: accepted as {fmt.upper()} but GDAL would read it with its "
                             f"{info['driver']} driver; refused")
    if not infos:
        raise InputError(f"{path}: no layer with geometry")
    return infos
