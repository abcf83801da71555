"""Bring your own data: validate a user's file and store it as a layer of the atlas.

:func:`import_layer` reads CSV (decimal or degrees-minutes-seconds
coordinates), GeoJSON, KML, KMZ (Google Earth folders kept as a ``folder``
column), GeoPackage and Shapefile, in any CRS. The format is recognised from
the file's content, not trusted from its extension. The layer is validated
with the same machinery as the atlas layers (:mod:`atlas.schema`), gets its
province and county by spatial join, and is written as ``user_<name>`` into
the atlas GeoPackage atomically: on any error the GeoPackage is unchanged.
"""

from __future__ import annotations

import csv
import hashlib
import io as _io
import re
import shutil
import sqlite3
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from . import io, schema, sources
from .admin import join_admin
from .errors import InputError, NotFoundError

__all__ = [
    "MAX_IMPORT_BYTES",
    "USER_PREFIX",
    "drop_layer",
    "import_layer",
    "layer_name",
    "parse_coordinate",
    "user_layer_records",
    "user_layers",
]

#: Largest file :func:`import_layer` accepts (bytes). Larger files are refused before reading.
MAX_IMPORT_BYTES = 100 * 1024 * 1024
#: Prefix of user layers inside the atlas GeoPackage.
USER_PREFIX = "user_"
#: Bounding box of the region a point may lie in before it is called an outlier (lon/lat).
REGION_BBOX = (123.5, 37.5, 131.0, 43.2)

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
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
    """The file's format from its content: csv, geojson, kml, kmz, gpkg or shp."""
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                names = [n.lower() for n in z.namelist()]
        except zipfile.BadZipFile as exc:
            raise InputError(f"{path}: looks like a zip archive but cannot be read ({exc})") from exc
        if any(n.endswith(".kml") for n in names):
            return "kmz"
        if any(n.endswith(".shp") for n in names):
            return "shp-zip"
        raise InputError(f"{path}: a zip archive with no .kml or .shp inside")
    if head[:4] == b"\x00\x00\x27\x0a":
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
                         "(CSV, GeoJSON, KML, KMZ, GeoPackage, Shapefile)")
    return "csv"


_EXTENSIONS = {
    "csv": {".csv", ".txt", ".tsv"}, "geojson": {".geojson", ".json"}, "kml": {".kml"},
    "kmz": {".kmz", ".zip"}, "gpkg": {".gpkg"}, "shp": {".shp"}, "shp-zip": {".zip"},
}


def _check_extension(path: Path, fmt: str) -> None:
    ext = path.suffix.lower()
    if ext not in _EXTENSIONS[fmt]:
        expected = ", ".join(sorted(_EXTENSIONS[fmt]))
        raise InputError(f"{path}: the content is {fmt.upper()} but the extension is "
                         f"{ext or '(none)'} (expected {expected}); rename the file if this is intended")


# --- readers ------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}: not UTF-8 text (invalid byte 0x{data[exc.start]:02x} on line "
                         f"{line}); save the file as UTF-8") from exc


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


def _read_csv(path: Path, lat: str | None, lon: str | None, crs, progress) -> gpd.GeoDataFrame:
    text = _read_text(path)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(_io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path}: the file is empty") from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        raise InputError(f"{path}: repeated column names in the header: {header}")
    rows = []
    for lineno, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InputError(f"{path}: row {lineno} has {len(row)} fields, the header has "
                             f"{len(header)} (malformed CSV: check quotes and delimiters)")
        rows.append((lineno, row))
        if progress and len(rows) % 100_000 == 0:
            progress(f"read {len(rows):,} rows")
    if not rows:
        raise InputError(f"{path}: no data rows")
    df = pd.DataFrame([r for _, r in rows], columns=header, dtype=object)
    linenos = [n for n, _ in rows]
    lat_col = _find_column(header, _LAT_NAMES, lat, "latitude", path)
    lon_col = _find_column(header, _LON_NAMES, lon, "longitude", path)
    pair_col = None
    if not (lat_col and lon_col):
        pair_col = _find_column(header, _COORD_NAMES, None, "coordinates", path)
        if pair_col is None:
            raise InputError(f"{path}: no coordinate columns found (looked for lat/latitude/y and "
                             f"lon/longitude/x, or a 'coordinates' column); name them with "
                             f"--lat COL --lon COL. Columns are: {', '.join(header)}")
    xs, ys = np.empty(len(df)), np.empty(len(df))
    for i, lineno in enumerate(linenos):
        try:
            if pair_col:
                a, b = _split_pair(df.iat[i, header.index(pair_col)])
                field = pair_col
            else:
                a, b = df.at[i, lat_col], df.at[i, lon_col]
            field = lat_col or pair_col
            va, ha = parse_coordinate(a)
            field = lon_col or pair_col
            vb, hb = parse_coordinate(b)
        except ValueError as exc:
            raise InputError(f"{path}: row {lineno}, field {field!r}: {exc}") from None
        if ha in ("E", "W") or hb in ("N", "S"):  # hemisphere letters say the order is lon, lat
            va, vb = vb, va
        ys[i], xs[i] = va, vb
    geoms = shapely.points(xs, ys)
    gdf = gpd.GeoDataFrame(df, geometry=geoms, crs=crs or "EPSG:4326")
    gdf["source_row"] = linenos
    return gdf


def _read_vector(path: Path, fmt: str, tmpdir: Path) -> gpd.GeoDataFrame:
    target = path
    if fmt in ("kmz", "shp-zip"):
        with zipfile.ZipFile(path) as z:
            members = [n for n in z.namelist() if not n.startswith("__MACOSX")]
            for member in members:
                dest = (tmpdir / member).resolve()
                if not str(dest).startswith(str(tmpdir.resolve())):
                    raise InputError(f"{path}: unsafe path {member!r} inside the archive")
            z.extractall(tmpdir, members)
        ext = ".kml" if fmt == "kmz" else ".shp"
        found = sorted(p for p in tmpdir.rglob(f"*{ext}"))
        if not found:
            raise InputError(f"{path}: no {ext} inside the archive")
        target = found[0]
    if fmt in ("shp", "shp-zip"):
        missing = [e for e in (".shx", ".dbf") if not target.with_suffix(e).exists()
                   and not target.with_suffix(e.upper()).exists()]
        if missing:
            raise InputError(f"{path}: Shapefile without its {' and '.join(missing)} file(s)")
    try:
        layers = pyogrio.list_layers(target)
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as {fmt.upper()} ({exc})") from exc
    frames = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, gtype in layers:
            if gtype is None:
                continue
            try:
                part = pyogrio.read_dataframe(target, layer=name)
            except Exception as exc:
                raise InputError(f"{path}: layer {name!r} cannot be read ({exc})") from exc
            if fmt in ("kml", "kmz"):
                part["folder"] = str(name)
            frames.append(part)
    if not frames:
        raise InputError(f"{path}: no layer with geometry")
    crs = next((f.crs for f in frames if f.crs is not None), None)
    frames = [f.to_crs(crs) if f.crs is not None and crs is not None else f for f in frames]
    gdf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)
    gdf["source_row"] = np.arange(1, len(gdf) + 1)
    return gdf


# --- validation -----------------------------------------------------------------------


def _check_points(gdf: gpd.GeoDataFrame, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Refuse non-point or invalid geometry; detect swapped lat/lon; measure outliers (km)."""
    geoms = gdf.geometry
    empty = (geoms.isna() | geoms.is_empty).to_numpy()
    if empty.all():
        raise InputError(f"{path}: no feature has a geometry")
    types = set(geoms[~empty].geom_type)
    if types - {"Point"}:
        raise InputError(f"{path}: only point layers can be imported; found {', '.join(sorted(types))}")
    bad = ~empty & ~geoms.is_valid.to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: row {gdf['source_row'].iloc[i]}: invalid geometry")
    wgs = geoms.to_crs("EPSG:4326")
    x = np.where(empty, np.nan, shapely.get_x(wgs.to_numpy()))
    y = np.where(empty, np.nan, shapely.get_y(wgs.to_numpy()))
    if (np.abs(y[~empty]) > 90).any() or (np.abs(x[~empty]) > 180).any():
        i = int(np.flatnonzero(~empty & ((np.abs(y) > 90) | (np.abs(x) > 180)))[0])
        raise InputError(f"{path}: row {gdf['source_row'].iloc[i]}: coordinate ({y[i]}, {x[i]}) is not "
                         "a longitude/latitude in degrees; if the file is projected pass --crs EPSG")
    w, s, e, n = REGION_BBOX
    inside = (x >= w) & (x <= e) & (y >= s) & (y <= n)
    swapped = (y >= w) & (y <= e) & (x >= s) & (x <= n)
    valid = ~empty
    if valid.any() and inside[valid].mean() < 0.5 and swapped[valid].mean() > 0.5:
        raise InputError(
            f"{path}: the coordinates look swapped (latitude and longitude reversed): "
            f"{int(swapped[valid].sum())} of {int(valid.sum())} points fall in the DPRK region only "
            "when swapped; name the columns with --lat COL --lon COL")
    pts = gpd.GeoSeries(wgs, crs="EPSG:4326")[valid].to_crs("EPSG:5179")
    dist = np.full(len(gdf), np.nan)
    dist[valid] = pts.distance(sources.dprk_outline("EPSG:5179")).to_numpy() / 1000.0
    return empty, dist


def _label_column(gdf: gpd.GeoDataFrame, given: str | None, path: Path) -> str:
    col = _find_column([c for c in gdf.columns if c != "geometry"], _LABEL_NAMES, given, "names", path)
    if col is None:
        raise InputError(f"{path}: no name column (looked for {', '.join(_LABEL_NAMES)}); "
                         "every imported feature needs a name: pass --name-field COL")
    names = gdf[col].astype(object)
    blank = names.isna() | (names.astype(str).str.strip() == "")
    if blank.any():
        rows = ", ".join(str(r) for r in gdf.loc[blank.to_numpy(), "source_row"].head(5))
        raise InputError(f"{path}: row(s) {rows}, field {col!r}: the name is empty")
    return col


def _id_column(gdf: gpd.GeoDataFrame, path: Path) -> pd.Series:
    generated = pd.Series([f"U{i:06d}" for i in range(1, len(gdf) + 1)], index=gdf.index)
    col = _find_column([c for c in gdf.columns if c != "geometry"], _ID_NAMES, None, "ids", path)
    if col is None:
        return generated
    raw = gdf[col].astype(object)
    blank = (raw.isna() | (raw.astype(str).str.strip() == "")).to_numpy()
    ids = raw.astype(str).str.strip().where(~blank, generated)
    dup = ids[~blank][ids[~blank].duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        rows = ", ".join(str(r) for r in gdf.loc[ids == first, "source_row"])
        raise InputError(f"{path}: field {col!r}: id {first!r} is repeated (rows {rows}); "
                         f"{dup.nunique()} id(s) are not unique")
    return ids


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
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
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
    finally:
        con.close()
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
    with io.atomic_path(target) as tmp:
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

    Parameters
    ----------
    path : str or pathlib.Path
        CSV, GeoJSON, KML, KMZ, GeoPackage or Shapefile (or a zipped Shapefile).
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

    Examples
    --------
    >>> import atlas, pathlib, tempfile
    >>> csv_path = pathlib.Path(tempfile.mkdtemp()) / "sites.csv"
    >>> _ = csv_path.write_text("name,lat,lon\\nKLS-14 (Wikipedia point),39.571086,126.055466\\n")
    >>> layer = atlas.import_layer(csv_path, "doctest_sites", replace=True)
    >>> layer[["name", "province", "county_ko"]].iloc[0].tolist()
    ['KLS-14 (Wikipedia point)', 'South Pyongan Province', '개천시']
    """
    say = progress or (lambda _m: None)
    path = Path(path)
    if not _NAME_RE.match(name or ""):
        raise InputError(f"layer name {name!r}: use lower-case letters, digits and _ "
                         "(starting with a letter, at most 40 characters)")
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
    target = Path(gpkg or io.default_gpkg())
    _refuse_existing(target, name, replace)
    if crs is not None:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            crs = CRS.from_user_input(int(crs) if str(crs).isdigit() else crs)
        except CRSError as exc:
            raise InputError(f"--crs {crs!r} is not a known CRS ({exc})") from exc
    fmt = _sniff(path)
    _check_extension(path, fmt)
    say(f"reading {path.name} as {fmt.upper()} ({size / 1e6:.1f} MB)")
    with tempfile.TemporaryDirectory() as tmp:
        if fmt == "csv":
            gdf = _read_csv(path, lat, lon, crs, say)
        else:
            gdf = _read_vector(path, fmt, Path(tmp))
            if gdf.crs is None:
                if crs is None:
                    raise InputError(f"{path}: the file states no CRS; pass --crs EPSG")
                gdf = gdf.set_crs(crs)
    say(f"validating {len(gdf):,} features")
    empty, outside_km = _check_points(gdf, path)
    label = _label_column(gdf, name_field, path)
    ids = _id_column(gdf, path)
    gdf = gdf.to_crs("EPSG:4326")
    outliers = np.flatnonzero(outside_km > schema.INSIDE_TOLERANCE_KM)
    if len(outliers):
        rows = ", ".join(str(gdf["source_row"].iloc[i]) for i in outliers[:10])
        warnings.warn(
            f"{path}: {len(outliers)} point(s) lie more than {schema.INSIDE_TOLERANCE_KM} km outside "
            f"the DPRK (rows {rows}{', ...' if len(outliers) > 10 else ''}); kept and flagged "
            "in outside_dprk_km", UserWarning, stacklevel=2)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    out = gpd.GeoDataFrame(
        {
            "user_id": ids.to_numpy(),
            "name": gdf[label].astype(str).to_numpy(),
            "kind": kind,
            **{f"attr_{c}" if c in _RESERVED else c: gdf[c].to_numpy()
               for c in gdf.columns if c not in ("geometry", label)},
            "outside_dprk_km": np.round(outside_km, 3),
            "source_file": path.name,
            "source_sha256": digest,
            "imported_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            "source": f"user import: {path.name}",
            "licence": "as supplied by the user",
            "precision": "as supplied by the user",
            "private": bool(private),
        },
        geometry=gdf.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    say("joining provinces and counties")
    layers = {n: io.read_layer(n, target) for n in ("provinces", "counties")}
    admin = join_admin(out, layers["provinces"], layers["counties"])
    for col in admin.columns:
        out[col] = admin[col].to_numpy()
    problems = schema.check_layers({f"{USER_PREFIX}{name}": out}, required=False)
    if problems:
        raise InputError(f"{path}: " + "; ".join(str(p) for p in problems[:10]))
    layer = f"{USER_PREFIX}{name}"
    say(f"writing layer {layer} into {target}")
    with io.atomic_path(target) as tmp_gpkg:
        _refuse_existing(target, name, replace)
        shutil.copyfile(target, tmp_gpkg)
        if replace:  # the old layer's rows must not stay in the file's free pages
            io.delete_layers(tmp_gpkg, [layer])
        pyogrio.write_dataframe(out, tmp_gpkg, layer=layer, driver="GPKG",
                                layer_options={"OVERWRITE": "YES",
                                               "DESCRIPTION": f"user import of {path.name}"})
        io.read_layer(layer, tmp_gpkg)
    say(f"imported {len(out):,} features ({int(empty.sum())} without geometry, "
        f"{len(outliers)} outside the DPRK) as {layer}")
    return out


def _refuse_existing(target: Path, name: str, replace: bool) -> None:
    layer = f"{USER_PREFIX}{name}"
    existing = [n for n, _ in io.list_layers(target)]  # a clear error if the atlas has not been built
    if layer in existing and not replace:
        raise InputError(f"{target} already has a layer {layer}; pass --replace (replace=True) to "
                         f"replace it, or choose another name with --as")


_RESERVED = {"user_id", "name", "kind", "outside_dprk_km", "source_file", "source_sha256",
             "imported_at", "source", "licence", "precision", "private", "province", "county", "county_ko",
             "county_id", "admin_method", "admin_distance_km"}
