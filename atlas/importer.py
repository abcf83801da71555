"""Bring your own data: validate a user's file and store it as a layer of the atlas.

:func:`import_layer` reads CSV (decimal or degrees-minutes-seconds
coordinates), GeoJSON, KML, KMZ (Google Earth folders kept as a ``folder``
column), GeoPackage, Shapefile and GeoParquet, in any CRS, in chunks. The
format is recognised from the file's content, not trusted from its extension,
and the file is opened only by the reader of that format: a private copy
holds only what the format needs (the one KML of a KMZ, the parts of a
Shapefile), its bytes are checked to be what the format says (the root
element of a KML, the signatures of a Shapefile; no GDAL virtual dataset
anywhere) and the GDAL driver that opens it must be the format's own
(:data:`ALLOWED_DRIVERS`). Archives are refused before they inflate past
:data:`MAX_INFLATED_BYTES` or a ratio of :data:`MAX_ZIP_RATIO`, limits checked
from the archive's directory and enforced again while inflating.

The layer is validated with the same machinery as the atlas layers
(:mod:`atlas.schema`), gets its province and county by spatial join, and is
written as ``user_<name>`` into the atlas GeoPackage atomically, under the
GeoPackage's writer lock: on any error the GeoPackage is unchanged.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import json
import re
import shutil
import sqlite3
import tempfile
import warnings
import xml.parsers.expat
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely

from . import io, schema, search
from .admin import TOLERANCE_KM, AdminUnits
from .errors import InputError, NotFoundError, OutputError

__all__ = [
    "ALLOWED_DRIVERS",
    "CHUNK_ROWS",
    "MAX_IMPORT_BYTES",
    "MAX_INFLATED_BYTES",
    "MAX_ZIP_RATIO",
    "USER_PREFIX",
    "drop_layer",
    "import_layer",
    "layer_name",
    "parse_coordinate",
    "store_layer",
    "user_layer_records",
    "user_layers",
]

#: Largest file :func:`import_layer` accepts (bytes). Larger files are refused before reading.
MAX_IMPORT_BYTES = 100 * 1024 * 1024
#: Most bytes the members read from one archive (KMZ, zipped Shapefile) may inflate to.
MAX_INFLATED_BYTES = 200 * 1024 * 1024
#: Highest compression ratio accepted for an archive member larger than 1 MB.
MAX_ZIP_RATIO = 200
#: Rows read, checked and written at a time: memory is bounded by a chunk, not the file.
CHUNK_ROWS = 20_000
#: Prefix of user layers inside the atlas GeoPackage.
USER_PREFIX = "user_"
#: Bounding box of the region a point may lie in before it is called an outlier (lon/lat).
REGION_BBOX = (123.5, 37.5, 131.0, 43.2)

_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_LAT_NAMES = ("lat", "latitude", "y", "위도", "lat_dd", "latitude_dd")
_LON_NAMES = ("lon", "lng", "long", "longitude", "x", "경도", "lon_dd", "longitude_dd")
_COORD_NAMES = ("coordinates", "coordinate", "coords", "location", "position", "좌표")
_LABEL_NAMES = ("name", "title", "label", "site", "site_name", "placemark", "이름", "명칭")
_ID_NAMES = ("id", "site_id", "uid", "feature_id", "fid_user")
_DMS = re.compile(
    r"""^\s*(?P<h1>[NSEW])?\s*(?P<deg>[-+]?\d+(?:\.\d+)?)\s*(?:°|º|d|\s)\s*
        (?:(?P<min>\d+(?:\.\d+)?)\s*(?:′|'|’|m|\s|(?=[NSEW]?\s*$))\s*)?
        (?:(?P<sec>\d+(?:\.\d+)?)\s*(?:″|"|”|''|s)?\s*)?
        (?P<h2>[NSEW])?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)


def parse_coordinate(text: str) -> tuple[float, str | None]:
    """Parse one coordinate: decimal degrees or degrees-minutes-seconds.

    Parameters
    ----------
    text : str
        ``"39.5711"``, ``"39°34′N"``, ``"126°03'30\\"E"``, ``"N 39 34 15"``.

    Returns
    -------
    tuple of (float, str or None)
        Decimal degrees (negative for S/W) and the hemisphere letter if given.

    Raises
    ------
    ValueError
        If the text is not a coordinate.

    Examples
    --------
    >>> parse_coordinate("39°34′N")
    (39.56666666666667, 'N')
    >>> parse_coordinate("126.05")
    (126.05, None)
    """
    s = str(text).strip()
    try:
        return float(s), None
    except ValueError:
        pass
    m = _DMS.match(s)
    if not m or (m.group("h1") and m.group("h2")):
        raise ValueError(f"{text!r} is not a coordinate")
    value = float(m.group("deg"))
    minutes = float(m.group("min") or 0)
    seconds = float(m.group("sec") or 0)
    if minutes >= 60 or seconds >= 60:
        raise ValueError(f"{text!r}: minutes and seconds must be below 60")
    value = abs(value) + minutes / 60 + seconds / 3600
    hemi = (m.group("h1") or m.group("h2") or "").upper() or None
    if hemi in ("S", "W") or str(m.group("deg")).startswith("-"):
        value = -value
    return value, hemi


def _split_pair(text: str) -> tuple[str, str]:
    """Split ``"39°34′N 126°03′E"`` or ``"39.57, 126.05"`` into its two halves."""
    s = str(text).strip()
    m = re.match(r"^(.*?[NS])[\s,;/]+(.*?[EW])$", s, re.IGNORECASE)
    if m:
        return m.group(1), m.group(2)
    parts = [p for p in re.split(r"[,;/]\s*|\s+(?=[-+]?\d)", s) if p.strip()]
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a latitude/longitude pair")
    return parts[0], parts[1]


# --- format detection -----------------------------------------------------------------


def _sniff(path: Path) -> str:
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


def _check_extension(path: Path, fmt: str) -> None:
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


def _stage_file(path: Path, fmt: str, tmp: Path) -> tuple[Path, str]:
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


def _stage_zip(path: Path, fmt: str, tmp: Path, warn: Callable[[str], None]) -> tuple[Path, str]:
    """Extract the one KML (or Shapefile) an archive is read for, within the stated limits.

    The sizes and ratios in the archive's directory are checked before anything is
    inflated; the limits are enforced again while inflating (a directory may lie).
    """
    digest = io.file_sha256(path)
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


def _check_content(staged: Path, fmt: str, path: Path) -> None:
    """Refuse bytes that another GDAL driver than the format's own could claim."""
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


def _open_layers(staged: Path, fmt: str, path: Path) -> list[tuple[str, dict]]:
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


# --- readers: chunks of (GeoDataFrame, source rows) ------------------------------------------


def _find_column(columns, wanted, given: str | None, what: str, path: Path) -> str | None:
    if given:
        if given not in columns:
            raise InputError(f"{path}: no column {given!r} for {what}; columns are: {', '.join(columns)}")
        return given
    lower = {c.strip().lower(): c for c in columns}
    for name in wanted:
        if name in lower:
            return lower[name]
    return None


def _utf8_error(path: Path, staged: Path) -> InputError:
    """Where the first invalid UTF-8 byte is, read in blocks."""
    dec = codecs.getincrementaldecoder("utf-8")()
    lines = 1
    with staged.open("rb") as f:
        while block := f.read(1 << 20):
            try:
                dec.decode(block)
            except UnicodeDecodeError as exc:
                bad = block[exc.start] if exc.start < len(block) else block[-1]
                lines += block[: exc.start].count(b"\n")
                return InputError(f"{path}: not UTF-8 text (invalid byte 0x{bad:02x} on line {lines}); "
                                  "save the file as UTF-8")
            lines += block.count(b"\n")
    return InputError(f"{path}: not UTF-8 text; save the file as UTF-8")


class _CsvReader:
    """A CSV file read in chunks of rows, coordinates parsed (decimal or DMS)."""

    def __init__(self, staged: Path, path: Path, lat, lon, crs):
        self.staged, self.path, self.crs = staged, path, crs or "EPSG:4326"
        try:
            with staged.open(encoding="utf-8-sig", newline="") as f:
                sample = f.read(8192)
            try:
                self.dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
            except csv.Error:
                self.dialect = csv.excel
            with staged.open(encoding="utf-8-sig", newline="") as f:
                header = next(csv.reader(f, self.dialect), None)
        except UnicodeDecodeError:
            raise _utf8_error(path, staged) from None
        except csv.Error as exc:
            raise InputError(f"{path}: row 1: {_csv_message(exc)}") from None
        if not header:
            raise InputError(f"{path}: the file is empty")
        self.header = [h.strip() for h in header]
        if len(set(self.header)) != len(self.header):
            raise InputError(f"{path}: repeated column names in the header: {self.header}")
        self.lat = _find_column(self.header, _LAT_NAMES, lat, "latitude", path)
        self.lon = _find_column(self.header, _LON_NAMES, lon, "longitude", path)
        self.pair = None
        if not (self.lat and self.lon):
            self.pair = _find_column(self.header, _COORD_NAMES, None, "coordinates", path)
            if self.pair is None:
                raise InputError(f"{path}: no coordinate columns found (looked for lat/latitude/y and "
                                 f"lon/longitude/x, or a 'coordinates' column); name them with "
                                 f"--lat COL --lon COL. Columns are: {', '.join(self.header)}")
        self.columns = list(self.header)

    def chunks(self, size: int):
        path, width = self.path, len(self.header)
        rows, linenos = [], []
        try:
            with self.staged.open(encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f, self.dialect)
                next(reader)
                lineno = reader.line_num
                for row in reader:
                    lineno, start = reader.line_num, lineno + 1
                    if not any(cell.strip() for cell in row):
                        continue
                    if len(row) != width:
                        raise InputError(f"{path}: row {start} has {len(row)} fields, the header has "
                                         f"{width} (malformed CSV: check quotes and delimiters)")
                    rows.append(row)
                    linenos.append(start)
                    if len(rows) == size:
                        yield self._frame(rows, linenos)
                        rows, linenos = [], []
        except UnicodeDecodeError:
            raise _utf8_error(path, self.staged) from None
        except csv.Error as exc:
            raise InputError(f"{path}: row {reader.line_num}: {_csv_message(exc)}") from None
        if rows:
            yield self._frame(rows, linenos)

    def _frame(self, rows: list, linenos: list) -> gpd.GeoDataFrame:
        df = pd.DataFrame(rows, columns=self.header, dtype=object)
        del rows[:]
        n = len(df)
        if self.pair:
            halves = [_split_or_fail(v, ln, self.pair, self.path) for v, ln in zip(df[self.pair], linenos)]
            a_text = pd.Series([h[0] for h in halves], dtype=object)
            b_text = pd.Series([h[1] for h in halves], dtype=object)
            fields = (self.pair, self.pair)
        else:
            a_text, b_text = df[self.lat], df[self.lon]
            fields = (self.lat, self.lon)
        ys = pd.to_numeric(a_text, errors="coerce").to_numpy(dtype=float, copy=True)
        xs = pd.to_numeric(b_text, errors="coerce").to_numpy(dtype=float, copy=True)
        for i in np.flatnonzero(np.isnan(ys) | np.isnan(xs)):  # DMS text, or an error
            try:
                va, ha = parse_coordinate(a_text.iat[i])
            except ValueError as exc:
                raise InputError(f"{self.path}: row {linenos[i]}, field {fields[0]!r}: {exc}") from None
            try:
                vb, hb = parse_coordinate(b_text.iat[i])
            except ValueError as exc:
                raise InputError(f"{self.path}: row {linenos[i]}, field {fields[1]!r}: {exc}") from None
            if ha in ("E", "W") or hb in ("N", "S"):  # hemisphere letters say the order is lon, lat
                va, vb = vb, va
            ys[i], xs[i] = va, vb
        gdf = gpd.GeoDataFrame(df, geometry=shapely.points(xs, ys), crs=self.crs)
        gdf.index = pd.RangeIndex(n)
        return gdf, np.asarray(linenos)


def _csv_message(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return (f"a field is longer than {csv.field_size_limit():,} characters, more than a "
                "GeoPackage cell should hold; shorten it")
    return f"malformed CSV ({text})"


def _split_or_fail(text, lineno: int, field: str, path: Path) -> tuple[str, str]:
    try:
        return _split_pair(text)
    except ValueError as exc:
        raise InputError(f"{path}: row {lineno}, field {field!r}: {exc}") from None


class _VectorReader:
    """A GDAL-readable file (its driver checked), streamed as Arrow batches layer by layer."""

    def __init__(self, staged: Path, fmt: str, path: Path, crs):
        self.staged, self.fmt, self.path = staged, fmt, path
        self.infos = _open_layers(staged, fmt, path)
        file_crs = next((i["crs"] for _, i in self.infos if i["crs"]), None)
        if file_crs is None and crs is None:
            raise InputError(f"{path}: the file states no CRS; pass --crs EPSG")
        self.crs = file_crs or crs
        cols: list[str] = []
        for _, info in self.infos:
            cols += [str(c) for c in info["fields"] if str(c) not in cols]
        if fmt in ("kml", "kmz"):
            cols.append("folder")
        self.columns = cols

    def chunks(self, size: int):
        row = 0
        for name, info in self.infos:
            try:
                with warnings.catch_warnings(), pyogrio.raw.open_arrow(
                        self.staged, layer=name, batch_size=size, use_pyarrow=True) as (meta, reader):
                    warnings.simplefilter("ignore")
                    geom_col = meta["geometry_name"] or "wkb_geometry"
                    for batch in reader:
                        geoms = shapely.from_wkb(batch.column(geom_col).to_numpy(zero_copy_only=False))
                        df = batch.drop_columns([geom_col]).to_pandas()
                        if self.fmt in ("kml", "kmz"):
                            df["folder"] = name
                        df = df.reindex(columns=self.columns)
                        crs = info["crs"] or self.crs
                        gdf = gpd.GeoDataFrame(df, geometry=geoms, crs=crs)
                        if crs != self.crs:
                            gdf = gdf.to_crs(self.crs)
                        yield gdf, np.arange(row + 1, row + len(gdf) + 1)
                        row += len(gdf)
            except InputError:
                raise
            except Exception as exc:
                raise InputError(f"{self.path}: layer {name!r} cannot be read ({exc})") from exc


class _ParquetReader:
    """A GeoParquet file (WKB geometry), read in row batches with pyarrow; no GDAL."""

    def __init__(self, staged: Path, path: Path, crs):
        import pyarrow.parquet as pq

        self.path = path
        try:
            self.file = pq.ParquetFile(staged)
            geo = json.loads((self.file.schema_arrow.metadata or {}).get(b"geo", b"null"))
        except Exception as exc:
            raise InputError(f"{path}: cannot be read as Parquet ({exc})") from exc
        if not geo or geo.get("primary_column") not in geo.get("columns", {}):
            raise InputError(f"{path}: a Parquet file without GeoParquet metadata (no geometry column)")
        self.geom_col = geo["primary_column"]
        meta = geo["columns"][self.geom_col]
        if meta.get("encoding", "WKB").upper() != "WKB":
            raise InputError(f"{path}: GeoParquet geometry encoded as {meta['encoding']}; only WKB is read")
        file_crs = meta["crs"] if "crs" in meta else "OGC:CRS84"
        if file_crs is None and crs is None:
            raise InputError(f"{path}: the file states no CRS; pass --crs EPSG")
        from pyproj import CRS

        self.crs = crs if file_crs is None else CRS.from_user_input(file_crs)
        self.columns = [c for c in self.file.schema_arrow.names if c != self.geom_col]

    def chunks(self, size: int):
        row = 0
        try:
            for batch in self.file.iter_batches(batch_size=size):
                geoms = shapely.from_wkb(batch.column(self.geom_col).to_numpy(zero_copy_only=False))
                df = batch.drop_columns([self.geom_col]).to_pandas()
                yield gpd.GeoDataFrame(df, geometry=geoms, crs=self.crs), np.arange(row + 1, row + len(df) + 1)
                row += len(df)
        except Exception as exc:
            raise InputError(f"{self.path}: cannot be read as GeoParquet ({exc})") from exc


# --- columns ------------------------------------------------------------------------------


_FIXED = ("user_id", "name", "kind", "source_row", "outside_dprk_km", "source_file", "source_sha256",
          "imported_at", "source", "licence", "precision", "private", "province", "county", "county_ko",
          "county_id", "admin_method", "admin_distance_km")
#: Names the GeoPackage itself takes (the feature id and the geometry column).
_GPKG_NAMES = ("fid", "geom", "geometry")


def _stored_names(columns: list[str], label: str) -> tuple[dict[str, str], list[str]]:
    """The stored name of each attribute column, and a note per renamed one.

    A GeoPackage (SQLite) compares column names without case and reserves
    ``fid`` and ``geom``; the atlas adds its own columns. A column clashing
    with any of them is renamed (``attr_`` prefix, or a ``_2`` suffix).
    """
    fixed = {c.lower() for c in _FIXED} | set(_GPKG_NAMES)
    taken = set(fixed)
    mapping, notes = {}, []
    for c in columns:
        if c == label:
            continue
        new = re.sub(r"[\x00-\x1f\x7f]", "_", c).strip() or "column"
        why = "it has control characters" if new != c else ""
        if new.lower() in fixed:
            new, why = f"attr_{new}", why or "the GeoPackage or the atlas uses that name"
        base, k = new, 2
        while new.lower() in taken:
            new, why = f"{base}_{k}", why or "another column has the same name but for case"
            k += 1
        taken.add(new.lower())
        mapping[c] = new
        if new != c:
            notes.append(f"{c!r} -> {new!r} ({why})")
    return mapping, notes


# --- validation and assembly of one chunk -------------------------------------------------


class _Import:
    """The state of one streamed import: counts and checks that span chunks."""

    def __init__(self, path: Path, columns: list[str], name_field, kind: str, digest: str, target: Path,
                 private: bool = False):
        self.path, self.kind, self.digest, self.private = path, kind, digest, bool(private)
        attrs = [c for c in columns if c != "geometry"]
        self.label = _find_column(attrs, _LABEL_NAMES, name_field, "names", path)
        if self.label is None:
            raise InputError(f"{path}: no name column (looked for {', '.join(_LABEL_NAMES)}); "
                             "every imported feature needs a name: pass --name-field COL")
        self.id_col = _find_column(attrs, _ID_NAMES, None, "ids", path)
        self.names, self.renamed = _stored_names(attrs, self.label)
        # no classification grid (it would cost ~90 MB): chunks are small, memory is the point
        self.units = AdminUnits(io.read_layer("provinces", target), io.read_layer("counties", target),
                                 grid_from=1 << 62)
        self.outline = io.dprk_outline(target, "EPSG:5179")
        shapely.prepare(self.outline)
        self.imported_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        self.n = self.empty = self.valid = self.inside = self.swapped = 0
        self.outliers: list[int] = []
        self.n_outliers = 0

    def chunk(self, gdf: gpd.GeoDataFrame, rows: np.ndarray) -> gpd.GeoDataFrame:
        path = self.path
        geoms = gdf.geometry
        empty = (geoms.isna() | geoms.is_empty).to_numpy()
        types = set(geoms[~empty].geom_type)
        if types - {"Point"}:
            raise InputError(f"{path}: only point layers can be imported; found {', '.join(sorted(types))}")
        bad = ~empty & ~geoms.is_valid.to_numpy()
        if bad.any():
            raise InputError(f"{path}: row {rows[np.flatnonzero(bad)[0]]}: invalid geometry")
        wgs = geoms.to_crs("EPSG:4326") if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") else geoms
        x = np.where(empty, np.nan, shapely.get_x(wgs.to_numpy()))
        y = np.where(empty, np.nan, shapely.get_y(wgs.to_numpy()))
        w, s, e, n = REGION_BBOX
        inside = (x >= w) & (x <= e) & (y >= s) & (y <= n)
        swapped = (y >= w) & (y <= e) & (x >= s) & (x <= n)
        off = ~empty & ~swapped & ((np.abs(y) > 90) | (np.abs(x) > 180))
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise InputError(f"{path}: row {rows[i]}: coordinate ({y[i]}, {x[i]}) is not "
                             "a longitude/latitude in degrees; if the file is projected pass --crs EPSG")
        valid = ~empty
        self.n += len(gdf)
        self.empty += int(empty.sum())
        self.valid += int(valid.sum())
        self.inside += int(inside[valid].sum())
        self.swapped += int(swapped[valid].sum())
        dist = np.full(len(gdf), np.nan)
        keep = valid & ~((np.abs(y) > 90) | (np.abs(x) > 180))
        if keep.any():
            pts = gpd.GeoSeries(wgs.to_numpy()[keep], crs="EPSG:4326").to_crs("EPSG:5179").to_numpy()
            km = np.zeros(len(pts))
            out = ~shapely.contains_xy(self.outline, shapely.get_x(pts), shapely.get_y(pts))
            km[out] = shapely.distance(pts[out], self.outline) / 1000.0  # inside: 0, no measuring
            dist[keep] = km
        far = np.flatnonzero(dist > schema.INSIDE_TOLERANCE_KM)
        self.n_outliers += len(far)
        self.outliers += [int(rows[i]) for i in far[: max(0, 11 - len(self.outliers))]]
        names = gdf[self.label].astype(object)
        blank = (names.isna() | (names.astype(str).str.strip() == "")).to_numpy()
        if blank.any():
            where = ", ".join(str(r) for r in rows[blank][:5])
            raise InputError(f"{path}: row(s) {where}, field {self.label!r}: the name is empty")
        start = self.n - len(gdf)
        generated = np.array([f"U{i:06d}" for i in range(start + 1, self.n + 1)], dtype=object)
        if self.id_col is not None:
            raw = gdf[self.id_col].astype(object)
            missing = (raw.isna() | (raw.astype(str).str.strip() == "")).to_numpy()
            ids = np.where(missing, generated, raw.astype(str).str.strip().to_numpy(dtype=object))
        else:
            ids = generated
        attrs = {self.names[c]: gdf[c].to_numpy() for c in gdf.columns
                 if c not in ("geometry", self.label) and c in self.names}
        out = gpd.GeoDataFrame(
            {
                "user_id": ids, "name": names.astype(str).to_numpy(), "kind": self.kind, **attrs,
                "source_row": rows, "outside_dprk_km": np.round(dist, 3), "source_file": path.name,
                "source_sha256": self.digest, "imported_at": self.imported_at,
                "source": f"user import: {path.name}", "licence": "as supplied by the user",
                "precision": "as supplied by the user", "private": self.private,
            },
            geometry=wgs.to_numpy(), crs="EPSG:4326",
        )
        admin = self.units.join(out, TOLERANCE_KM)
        for col in admin.columns:
            out[col] = admin[col].to_numpy()
        problems = [p for p in schema.check_layers({f"{USER_PREFIX}x": out}, required=False)
                    if p.message != "id is not unique"]  # checked over the whole layer by _check_ids
        if problems:
            raise InputError(f"{path}: " + "; ".join(str(p) for p in problems[:10]))
        return out

    def finish(self) -> None:
        path = self.path
        if self.n == 0:
            raise InputError(f"{path}: no data rows")
        if self.valid == 0:
            raise InputError(f"{path}: no feature has a geometry")
        if self.inside / self.valid < 0.5 and self.swapped / self.valid > 0.5:
            raise InputError(
                f"{path}: the coordinates look swapped (latitude and longitude reversed): "
                f"{self.swapped} of {self.valid} points fall in the DPRK region only "
                "when swapped; name the columns with --lat COL --lon COL")


def _check_ids(tmp_gpkg: Path, layer: str, path: Path, id_col: str | None) -> None:
    """Refuse repeated ids, found by SQLite in the written layer (memory stays bounded)."""
    with contextlib.closing(sqlite3.connect(tmp_gpkg)) as db:
        dup = db.execute(f'SELECT user_id, COUNT(*) FROM "{layer}" GROUP BY user_id '
                         "HAVING COUNT(*) > 1 LIMIT 1").fetchone()
        if dup is None:
            return
        n = db.execute(f'SELECT COUNT(*) FROM (SELECT user_id FROM "{layer}" GROUP BY user_id '
                       "HAVING COUNT(*) > 1)").fetchone()[0]
        rows = [r for (r,) in db.execute(f'SELECT source_row FROM "{layer}" WHERE user_id = ? '
                                         "ORDER BY source_row LIMIT 10", (dup[0],))]
    raise InputError(f"{path}: field {id_col or 'user_id'!r}: id {dup[0]!r} is repeated (rows "
                     f"{', '.join(map(str, rows))}); {n} id(s) are not unique")


# --- the import -----------------------------------------------------------------------


def layer_name(name: str) -> str:
    """The stored name of a user layer: ``interviews`` and ``user_interviews`` are ``user_interviews``.

    Examples
    --------
    >>> layer_name("interviews"), layer_name("user_interviews")
    ('user_interviews', 'user_interviews')
    """
    name = str(name or "")
    return name if name.startswith(USER_PREFIX) else f"{USER_PREFIX}{name}"


def _private_flag(con: sqlite3.Connection, layer: str) -> bool:
    cols = {r[1] for r in con.execute(f'PRAGMA table_info("{layer.replace(chr(34), chr(34) * 2)}")')}
    if "private" not in cols:
        return False
    row = con.execute(f'SELECT max(private) FROM "{layer.replace(chr(34), chr(34) * 2)}"').fetchone()
    return bool(row and row[0])


def user_layer_records(gpkg: Path | None = None, include_private: bool = True) -> list[dict]:
    """One record per user layer: what a product that includes it says about it.

    Parameters
    ----------
    gpkg : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.
    include_private : bool, default True
        Also list the layers imported with ``private=True``.

    Returns
    -------
    list of dict
        ``layer``, ``features``, ``private``, ``kind``, ``source_file``,
        ``source_sha256`` and ``imported_at``, by layer name.

    Examples
    --------
    >>> import atlas
    >>> all(r["layer"].startswith("user_") for r in atlas.importer.user_layer_records())
    True
    """
    path = Path(gpkg or io.default_gpkg())
    names = [n for n, g in io.list_layers(path) if n.startswith(USER_PREFIX) and g is not None]
    out = []
    with io.read_only(path) as con:
        for name in sorted(names):
            q = name.replace('"', '""')
            cols = {r[1] for r in con.execute(f'PRAGMA table_info("{q}")')}
            wanted = [c for c in ("kind", "source_file", "source_sha256", "imported_at") if c in cols]
            first = con.execute(f'SELECT {", ".join(wanted) or "1"} FROM "{q}" LIMIT 1').fetchone() or ()
            rec = {"layer": name, "features": con.execute(f'SELECT count(*) FROM "{q}"').fetchone()[0],
                   "private": _private_flag(con, name),
                   **{c: (first[i] if i < len(first) else None) for i, c in enumerate(wanted)}}
            if include_private or not rec["private"]:
                out.append(rec)
    return out


def user_layers(gpkg: Path | None = None, include_private: bool = True) -> list[str]:
    """Names of the user layers in the atlas GeoPackage.

    Parameters
    ----------
    gpkg : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.
    include_private : bool, default True
        Also the layers imported with ``private=True`` (``atlas import
        --private``), which no map, export or site includes unless asked.

    Returns
    -------
    list of str
        Layer names, each starting with ``user_``.

    Examples
    --------
    >>> import atlas
    >>> all(name.startswith("user_") for name in atlas.user_layers())
    True
    """
    if include_private:
        return [n for n, g in io.list_layers(gpkg) if n.startswith(USER_PREFIX) and g is not None]
    return [r["layer"] for r in user_layer_records(gpkg, include_private=False)]


def drop_layer(name: str, gpkg: Path | None = None) -> str:
    """Remove a user layer from the atlas GeoPackage, atomically.

    The layer is removed from a copy, which is vacuumed (no row of the layer
    stays in the file's free pages) and checked, then swapped in: on any
    error the GeoPackage is unchanged.

    Parameters
    ----------
    name : str
        ``interviews`` or ``user_interviews``.
    gpkg : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.

    Returns
    -------
    str
        The name of the layer removed.

    Raises
    ------
    NotFoundError
        No such user layer.
    InputError
        The name is an atlas layer (only user layers can be dropped).

    Examples
    --------
    >>> import atlas, pathlib, tempfile
    >>> csv_path = pathlib.Path(tempfile.mkdtemp()) / "gone.csv"
    >>> _ = csv_path.write_text("name,lat,lon\\nA point,39.571086,126.055466\\n")
    >>> _ = atlas.import_layer(csv_path, "doctest_gone", replace=True)
    >>> atlas.drop_layer("doctest_gone")
    'user_doctest_gone'
    >>> "user_doctest_gone" in atlas.user_layers()
    False
    """
    target = Path(gpkg or io.default_gpkg())
    if name in schema.SCHEMAS:
        raise InputError(f"{name!r} is an atlas layer; only user layers (user_...) can be dropped")
    layer = layer_name(name)
    present = user_layers(target)
    if layer not in present:
        raise NotFoundError(f"no user layer {layer!r} in {target}", present[:5])
    with io.writer_lock(target), io.atomic_path(target) as tmp:
        shutil.copyfile(target, tmp)
        io.delete_layers(tmp, [layer])
        left = dict(io.list_layers(tmp))
        if layer in left or "camps" not in left:
            raise InputError(f"{target}: removing {layer} failed; the GeoPackage is unchanged")
    return layer


def import_layer(
    path: str | Path,
    name: str,
    kind: str = "sites",
    lat: str | None = None,
    lon: str | None = None,
    crs: str | int | None = None,
    name_field: str | None = None,
    gpkg: Path | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    private: bool = False,
    replace: bool = False,
) -> gpd.GeoDataFrame:
    """Import a user's file as a validated layer ``user_<name>`` of the atlas GeoPackage.

    The file is read in chunks of :data:`CHUNK_ROWS` rows (CSV by Python's
    ``csv``, GeoParquet by pyarrow, the other formats as Arrow batches through
    pyogrio), each chunk validated, joined to provinces and counties and
    appended to a temporary copy of the GeoPackage, so memory does not grow
    with the file. The copy replaces the GeoPackage only when every chunk has
    passed; meanwhile the GeoPackage's writer lock is held, so that two
    imports (or an import and a build) never lose each other's layers.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV, GeoJSON, KML, KMZ, GeoPackage, Shapefile (or a zipped
        Shapefile) or GeoParquet.
    name : str
        Layer name: lower-case letters, digits and ``_``, starting with a letter.
    kind : {"sites", "mines", "camps"}, default "sites"
        What the features are; recorded on every row.
    lat, lon : str, optional
        CSV columns holding latitude and longitude (decimal or DMS text);
        detected from their names when omitted.
    crs : str or int, optional
        CRS of the coordinates when the file does not say (CSV: default
        EPSG:4326); e.g. ``32652`` or ``"EPSG:32652"``.
    name_field : str, optional
        Column holding each feature's name; detected when omitted.
    gpkg : pathlib.Path, optional
        The atlas GeoPackage; defaults to ``output/atlas.gpkg``.
    progress : callable, optional
        Called with a message at each stage of a long import.
    private : bool, default False
        Mark the layer private (column ``private``): no map, export or site
        includes it unless asked (``include_private=True``,
        ``--include-private``). For sources that must not leave your machine.
    replace : bool, default False
        Replace an existing layer of that name (otherwise an error: a
        re-import never silently replaces a layer).

    Returns
    -------
    geopandas.GeoDataFrame
        The stored layer (EPSG:4326) with ``province``, ``county``,
        ``outside_dprk_km``, ``source_file``, ``source_sha256``, ``imported_at``
        and ``private``.

    Raises
    ------
    InputError
        Naming the file, row and field, for any bad input, or a layer of that
        name exists and ``replace`` is False; the GeoPackage is then unchanged.
    OutputError
        The GeoPackage cannot be written (a full disk, a read-only folder);
        it is then unchanged.

    Warns
    -----
    UserWarning
        Points far outside the DPRK (kept and flagged), renamed columns, and
        KML files of a KMZ that were skipped.

    Examples
    --------
    >>> import atlas, pathlib, tempfile
    >>> csv_path = pathlib.Path(tempfile.mkdtemp()) / "sites.csv"
    >>> _ = csv_path.write_text("name,lat,lon\\nKLS-14 (Wikipedia point),39.571086,126.055466\\n")
    >>> layer = atlas.import_layer(csv_path, "doctest_sites", replace=True)
    >>> layer[["name", "province", "county_ko"]].iloc[0].tolist()
    ['KLS-14 (Wikipedia point)', 'South Pyongan Province', '개천시']
    """
    layer = store_layer(path, name, kind, lat, lon, crs, name_field, gpkg, progress,
                        private=private, replace=replace)
    return io.read_layer(layer, Path(gpkg or io.default_gpkg()))


def store_layer(
    path: str | Path,
    name: str,
    kind: str = "sites",
    lat: str | None = None,
    lon: str | None = None,
    crs: str | int | None = None,
    name_field: str | None = None,
    gpkg: Path | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    private: bool = False,
    replace: bool = False,
) -> str:
    """:func:`import_layer` without reading the layer back: returns its name.

    The command line uses it, so that a big import never holds the layer in memory.
    """
    say = progress or (lambda _m: None)
    path = Path(path)
    size = _check_request(path, name, kind)
    target = Path(gpkg or io.default_gpkg())
    _refuse_existing(target, name, replace)
    if crs is not None:
        crs = _parse_crs(crs)
    fmt = _sniff(path)
    _check_extension(path, fmt)
    layer = f"{USER_PREFIX}{name}"

    def warn(msg: str) -> None:
        warnings.warn(msg, UserWarning, stacklevel=3)

    with tempfile.TemporaryDirectory(prefix="atlas-import-") as tmp:
        if fmt in ("kmz", "shp-zip"):
            staged, digest = _stage_zip(path, fmt, Path(tmp), warn)
        else:
            staged, digest = _stage_file(path, fmt, Path(tmp))
        _check_content(staged, fmt, path)
        reader = _reader(staged, fmt, path, lat, lon, crs)
        state = _Import(path, reader.columns, name_field, kind, digest, target, private)
        if state.renamed:
            warn(f"{path}: column(s) renamed for the GeoPackage: {'; '.join(state.renamed)}")
        say(f"reading {path.name} as {fmt.upper()} ({size / 1e6:.1f} MB) in chunks of {CHUNK_ROWS:,} rows")
        with io.writer_lock(target, say), io.atomic_path(target) as tmp_gpkg:
            _refuse_existing(target, name, replace)  # again: another import may have landed meanwhile
            shutil.copyfile(target, tmp_gpkg)
            if replace:  # the old layer's rows must not stay in the file's free pages
                io.delete_layers(tmp_gpkg, [layer])
            _write_chunks(reader, state, tmp_gpkg, layer, path, target, say)
            state.finish()
            _check_ids(tmp_gpkg, layer, path, state.id_col)
            say(f"keying the names of {state.n:,} features for atlas find")
            search.write_name_keys(tmp_gpkg, layer, say)
            written = pyogrio.read_info(tmp_gpkg, layer=layer)["features"]
            if written != state.n:
                raise OutputError(f"{target}: {written} of {state.n} features were written; "
                                  f"{target} was not replaced")
            say(f"replacing {target}")
    if state.n_outliers:
        _warn_outliers(path, state)
    say(f"imported {state.n:,} features ({state.empty} without geometry, "
        f"{state.n_outliers} outside the DPRK) as {layer}")
    return layer


def _check_request(path: Path, name: str, kind: str) -> int:
    """Refuse a bad layer name, an unknown kind, or a file that is missing, empty or too large; its size."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InputError(f"layer name {name!r}: use lower-case letters, digits and _ "
                         "(starting with a letter, at most 40 characters; no spaces or control characters)")
    if kind not in ("sites", "mines", "camps"):
        raise InputError(f"kind {kind!r}: use sites, mines or camps")
    if not path.is_file():
        raise NotFoundError(f"no file at {path}")
    size = path.stat().st_size
    if size > MAX_IMPORT_BYTES:
        raise InputError(f"{path}: {size / 1e6:.0f} MB is larger than the import limit of "
                         f"{MAX_IMPORT_BYTES / 1e6:.0f} MB; split the file or filter it to the DPRK first")
    if size == 0:
        raise InputError(f"{path}: the file is empty")
    return size


def _parse_crs(crs: str | int):
    """The :class:`pyproj.CRS` a user's ``--crs`` names (an EPSG code or any text pyproj reads)."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_user_input(int(crs) if str(crs).isdigit() else crs)
    except CRSError as exc:
        raise InputError(f"--crs {crs!r} is not a known CRS ({exc})") from exc


def _reader(staged: Path, fmt: str, path: Path, lat: str | None, lon: str | None, crs):
    """The chunked reader for a staged file's format: CSV, GeoParquet, or any other vector format."""
    if fmt == "csv":
        return _CsvReader(staged, path, lat, lon, crs)
    if fmt == "parquet":
        return _ParquetReader(staged, path, crs)
    return _VectorReader(staged, fmt, path, crs)


def _write_chunks(reader, state: _Import, tmp_gpkg: Path, layer: str, path: Path, target: Path,
                  say: Callable[[str], None]) -> None:
    """Check each chunk the reader gives and append it to the layer in the GeoPackage copy."""
    for gdf, rows in reader.chunks(CHUNK_ROWS):
        out = state.chunk(gdf, rows)
        del gdf
        try:
            pyogrio.write_dataframe(
                out, tmp_gpkg, layer=layer, driver="GPKG", append=state.n > len(out), use_arrow=True,
                geometry_type="Point", promote_to_multi=False,
                layer_options=({} if state.n > len(out) else
                               {"OVERWRITE": "YES", "DESCRIPTION": f"user import of {path.name}"}))
        except Exception as exc:
            raise _write_error(exc, target) from exc
        if state.n > CHUNK_ROWS:
            say(f"{state.n:,} features read, checked and written")


def _warn_outliers(path: Path, state: _Import) -> None:
    """Warn of the points kept and flagged far outside the DPRK, naming the first rows."""
    rows = ", ".join(str(r) for r in state.outliers[:10])
    warnings.warn(
        f"{path}: {state.n_outliers} point(s) lie more than {schema.INSIDE_TOLERANCE_KM} km outside "
        f"the DPRK (rows {rows}{', ...' if state.n_outliers > 10 else ''}); kept and flagged "
        "in outside_dprk_km", UserWarning, stacklevel=3)


def _write_error(exc: Exception, target: Path) -> OutputError:
    """A failed write (a full disk, a read-only folder) as one message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return OutputError(f"cannot write {target}: {text}; {target} was not replaced")


def _refuse_existing(target: Path, name: str, replace: bool) -> None:
    layer = f"{USER_PREFIX}{name}"
    existing = [n for n, _ in io.list_layers(target)]  # a clear error if the atlas has not been built
    if layer in existing and not replace:
        raise InputError(f"{target} already has a layer {layer}; pass --replace (replace=True) to "
                         f"replace it, or choose another name with --as")
