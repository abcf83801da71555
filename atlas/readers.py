"""The rows of a user's staged file, in chunks: CSV, GeoParquet, and every format GDAL reads.

Each reader yields ``(GeoDataFrame, source rows)`` chunks of a bounded number of
rows, so memory does not grow with the file: :class:`CsvReader` (Python's
``csv`` module; coordinates in decimal degrees or degrees-minutes-seconds, in
two columns or one), :class:`ParquetReader` (pyarrow) and :class:`VectorReader`
(Arrow batches through pyogrio). :func:`reader_for` picks the one for a format.
"""

from __future__ import annotations

import codecs
import csv
import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely

from .coordinates import parse_coordinate, split_pair
from .errors import InputError
from .staging import check_columns, open_layers

__all__ = ["COORD_NAMES", "ID_NAMES", "LABEL_NAMES", "LAT_NAMES", "LON_NAMES", "WKT_NAMES", "CsvReader", "ParquetReader", "VectorReader", "find_column", "reader_for"]

LAT_NAMES = ("lat", "latitude", "y", "위도", "lat_dd", "latitude_dd")
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "경도", "lon_dd", "longitude_dd")
COORD_NAMES = ("coordinates", "coordinate", "coords", "location", "position", "좌표")
#: A CSV column holding each feature's geometry as WKT (lines and polygons, or points).
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "shape", "footprint")
LABEL_NAMES = ("name", "title", "label", "site", "site_name", "placemark", "이름", "명칭")
ID_NAMES = ("id", "site_id", "uid", "feature_id", "fid_user")


# --- readers: chunks of (GeoDataFrame, source rows) ------------------------------------------


def find_column(columns, wanted, given: str | None, what: str, path: Path) -> str | None:
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


class CsvReader:
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
        check_columns(len(header), path)
        self.header = [h.strip() for h in header]
        if len(set(self.header)) != len(self.header):
            raise InputError(f"{path}: repeated column names in the header: {self.header}")
        self.lat = find_column(self.header, LAT_NAMES, lat, "latitude", path)
        self.lon = find_column(self.header, LON_NAMES, lon, "longitude", path)
        self.pair = self.wkt = None
        if not (self.lat and self.lon):
            self.pair = find_column(self.header, COORD_NAMES, None, "coordinates", path)
            if self.pair is None:
                self.wkt = find_column(self.header, WKT_NAMES, None, "WKT geometry", path)
            if self.pair is None and self.wkt is None:
                raise InputError(f"{path}: no coordinate columns found (looked for lat/latitude/y and "
                                 f"lon/longitude/x, a 'coordinates' column, or a 'wkt' column of lines or "
                                 f"polygons); name them with --lat COL --lon COL. Columns are: "
                                 f"{', '.join(self.header)}")
        self.columns = [c for c in self.header if c != self.wkt]

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
        if self.wkt:
            return self._wkt_frame(df, linenos), np.asarray(linenos)
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


    def _wkt_frame(self, df: pd.DataFrame, linenos: list) -> gpd.GeoDataFrame:
        """A chunk whose geometry is a WKT column (an empty cell: no geometry)."""
        text = df.pop(self.wkt).fillna("").astype(str).str.strip()
        blank = (text == "").to_numpy()
        geoms = np.full(len(df), None, dtype=object)
        try:
            geoms[~blank] = shapely.from_wkt(text[~blank].to_numpy(dtype=object), on_invalid="raise")
        except shapely.errors.ShapelyError:
            for i in np.flatnonzero(~blank):  # the first row that does not parse, named
                try:
                    shapely.from_wkt(text.iat[i], on_invalid="raise")
                except shapely.errors.ShapelyError as exc:
                    reason = str(exc).splitlines()[0][:200]
                    raise InputError(f"{self.path}: row {linenos[i]}, field {self.wkt!r}: not WKT "
                                     f"({reason})") from None
            raise
        gdf = gpd.GeoDataFrame(df, geometry=geoms, crs=self.crs)
        gdf.index = pd.RangeIndex(len(df))
        return gdf


def _csv_message(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return (f"a field is longer than {csv.field_size_limit():,} characters, more than a "
                "GeoPackage cell should hold; shorten it")
    return f"malformed CSV ({text})"


def _split_or_fail(text, lineno: int, field: str, path: Path) -> tuple[str, str]:
    try:
        return split_pair(text)
    except ValueError as exc:
        raise InputError(f"{path}: row {lineno}, field {field!r}: {exc}") from None


class VectorReader:
    """A GDAL-readable file (its driver checked), streamed as Arrow batches layer by layer."""

    def __init__(self, staged: Path, fmt: str, path: Path, crs):
        self.staged, self.fmt, self.path = staged, fmt, path
        self.infos = open_layers(staged, fmt, path)
        file_crs = next((i["crs"] for _, i in self.infos if i["crs"]), None)
        if file_crs is None and crs is None:
            raise InputError(f"{path}: the file states no CRS; pass --crs EPSG")
        self.crs = file_crs or crs
        cols: list[str] = []
        for _, info in self.infos:
            cols += [str(c) for c in info["fields"] if str(c) not in cols]
        if fmt in ("kml", "kmz"):
            cols.append("folder")
        check_columns(len(cols), path)
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


class ParquetReader:
    """A GeoParquet file (WKB geometry), read in row batches with pyarrow; no GDAL."""

    def __init__(self, staged: Path, path: Path, crs):
        import pyarrow.parquet as pq

        self.path = path
        try:
            self.file = pq.ParquetFile(staged)
            check_columns(len(self.file.schema_arrow.names), path)
            geo = json.loads((self.file.schema_arrow.metadata or {}).get(b"geo", b"null"))
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{path}: cannot be read as Parquet ({exc})") from exc
        columns = geo.get("columns") if isinstance(geo, dict) else None
        primary = geo.get("primary_column") if isinstance(geo, dict) else None
        if not isinstance(columns, dict) or not isinstance(primary, str) or primary not in columns \
                or primary not in self.file.schema_arrow.names:
            raise InputError(f"{path}: a Parquet file without GeoParquet metadata (no geometry column)")
        self.geom_col = primary
        meta = columns[primary]
        if not isinstance(meta, dict):
            raise InputError(f"{path}: malformed GeoParquet metadata (the geometry column's entry is not an object)")
        encoding = meta.get("encoding", "WKB")
        if not isinstance(encoding, str) or encoding.upper() != "WKB":
            raise InputError(f"{path}: GeoParquet geometry encoded as {encoding!r}; only WKB is read")
        file_crs = meta["crs"] if "crs" in meta else "OGC:CRS84"
        if file_crs is None and crs is None:
            raise InputError(f"{path}: the file states no CRS; pass --crs EPSG")
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            self.crs = crs if file_crs is None else CRS.from_user_input(file_crs)
        except (CRSError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: the CRS in its GeoParquet metadata cannot be read ({exc})") from None
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


def reader_for(staged: Path, fmt: str, path: Path, lat: str | None, lon: str | None, crs):
    """The chunked reader for a staged file's format: CSV, GeoParquet, or any other vector format."""
    if fmt == "csv":
        return CsvReader(staged, path, lat, lon, crs)
    if fmt == "parquet":
        return ParquetReader(staged, path, crs)
    return VectorReader(staged, fmt, path, crs)
