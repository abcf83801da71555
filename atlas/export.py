"""File exports for other tools: GeoParquet, GeoJSON, CSV and KMZ, one call per format.

Every export reads the atlas GeoPackage (or an atlas in PostGIS), writes WGS 84
(EPSG:4326) in UTF-8, carries each layer's provenance (its sources and
licences, the public GeoPackage's name and sha256, the atlas version), and
replaces earlier files only once every file is written. Which user layers it
may hold is decided by :func:`atlas.userlayers.gate`: a private layer only with
``include_private=True``, and then the file says so in its name
(``user_interviews.PRIVATE.csv``, unless ``out`` names the file) and in its
metadata (``banner``, the private store's sha256 apart), and the export goes to
``output-private/`` by default, outside the folder you share.

- **GeoParquet** 1.1: one ``<layer>.parquet`` per layer, zstd, rows in Hilbert
  order of their geometry, the ``bbox`` covering column, the provenance as
  JSON under the file metadata key ``atlas``. Attribute tables (findings,
  the report's tables, sources) are plain Parquet with the same metadata.
- **GeoJSON** (RFC 7946): one ``<layer>.geojson`` per layer, the provenance as
  the foreign member ``atlas``.
- **CSV**: one ``<layer>.csv`` per layer, point coordinates as ``lon``/``lat``
  columns, every text cell passed through :func:`atlas.formats.csv_text`
  (formula injection neutralised), the provenance beside it in a CSV on the
  Web description, ``<layer>.csv-metadata.json``.
- **KMZ** for Google Earth: see :func:`export_kmz`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import io, schema
from .distance import LARGE_LAYER
from .errors import InputError, NotFoundError
from .formats import csv_text
from .io import LAYER_CHUNK
from .owned import Stage, safe_name
from .protect import coarsen
from .store import USER_PREFIX, Atlas
from .userlayers import banner, gate, marked

__all__ = ["FORMATS", "export_csv", "export_geojson", "export_geoparquet", "export_kmz",
           "provenance", "select_layers"]

#: File formats of ``atlas export --format`` and their file suffix.
FORMATS = {"geoparquet": ".parquet", "geojson": ".geojson", "csv": ".csv", "kmz": ".kmz"}
#: Metadata key (Parquet) and foreign member (GeoJSON) holding a layer's provenance.
META_KEY = "atlas"


def _version() -> str:
    try:
        return metadata.version("gulag-inc-atlas")
    except metadata.PackageNotFoundError:  # pragma: no cover - a bare checkout
        return "unknown"


def _now() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return when.isoformat(timespec="seconds")


def _distinct(df: pd.DataFrame, column: str) -> list[str]:
    if column not in df.columns:
        return []
    values = df[column].dropna().astype(str).str.strip()
    return sorted(v for v in values.unique() if v)


def provenance(name: str, df: pd.DataFrame, sources: pd.DataFrame | None,
               source: Path | str, sha256: str | None) -> dict:
    """What an exported layer carries about where it comes from.

    Parameters
    ----------
    name : str
        Layer name.
    df : (Geo)DataFrame
        The layer.
    sources : DataFrame, optional
        The atlas's ``sources`` table (every source file: origin, licence,
        attribution, sha256).
    source : pathlib.Path or str
        The GeoPackage (or database) the layer was read from.
    sha256 : str, optional
        The GeoPackage's sha256.

    Returns
    -------
    dict
        ``layer``, ``description``, ``rows``, ``crs``, ``sources`` and
        ``licences`` (the distinct values of the layer's own columns),
        ``source_files`` (the sources table), ``atlas_version``,
        ``exported_from``, ``exported_from_sha256``, ``exported_at``.

    Examples
    --------
    >>> import pandas as pd
    >>> p = provenance("x", pd.DataFrame({"source": ["A", "B", "A"], "licence": ["CC BY 4.0"] * 3}),
    ...                None, "atlas.gpkg", None)
    >>> p["sources"], p["licences"]
    (['A', 'B'], ['CC BY 4.0'])
    """
    spec = schema.schema_for(name)
    src_cols = ("source", "source_report", "report_ref", "origin")
    return {
        "layer": name,
        "description": spec.description if spec is not None else "",
        "rows": len(df),
        "crs": "EPSG:4326",
        "sources": sorted({v for c in src_cols for v in _distinct(df, c)}),
        "licences": _distinct(df, "licence"),
        "source_files": [] if sources is None else json.loads(
            sources.drop(columns="geometry", errors="ignore").to_json(orient="records", force_ascii=False)),
        "atlas_version": _version(),
        "exported_from": Path(source).name if isinstance(source, Path) else str(source),
        "exported_from_sha256": sha256,
        "exported_at": _now(),
    }


def select_layers(source: Atlas | Path | str, layers: Iterable[str] | None, *, include_private: bool = False,
                  spatial_only: bool = False, product: str = "geojson") -> list[str]:
    """The layers an export writes: those asked for, or every one; private layers only when asked.

    Raises
    ------
    NotFoundError
        A layer asked for is not in the atlas.
    InputError
        A private layer asked for by name without ``include_private``.
    """
    allowed = gate(source, product, include_private=include_private)
    atlas = allowed.atlas
    available = atlas.layers()
    available.pop("layer_styles", None)
    wanted = [n if n in available or f"user_{n}" not in available else f"user_{n}"
              for n in ([layers] if isinstance(layers, str) else layers or [])]  # --as NAME: user_NAME
    allowed.refuse(wanted)
    for name in wanted:
        if name not in available:
            close = [n for n in available if name.lower() in n or n in name.lower()]
            raise NotFoundError(f"no layer {name!r} in {atlas.shown}", close or sorted(available)[:5])
    if not wanted:
        wanted = [n for n, g in available.items() if g is not None or not spatial_only]
    return wanted


class _Selection:
    """The layers an export writes, read once, with their provenance."""

    def __init__(self, layers: Iterable[str] | None, gpkg, spatial_only: bool, include_private: bool,
                 coarsen_km: float | None = None, product: str = "geojson"):
        allowed = gate(gpkg, product, include_private=include_private)
        self.source = atlas = allowed.atlas
        shown = atlas.path if atlas.path is not None else atlas.shown  # a file's name, or the masked URL
        available = atlas.layers()
        wanted = select_layers(atlas, layers, include_private=include_private, spatial_only=spatial_only,
                               product=product)
        self.names = wanted
        self.geometry = {n: available[n] for n in wanted}
        sources = atlas.layer("sources") if "sources" in available else None
        #: Large user layers of a GeoPackage, never read whole: written a chunk at a time (CSV, GeoJSON),
        #: or their first :data:`MAX_KMZ_FEATURES` (KMZ).
        self.large = {n for n in wanted if coarsen_km is None and n.startswith(USER_PREFIX)
                      and atlas.store_of(n).path is not None and atlas.tally(n, "")[0] > LARGE_LAYER}
        self.frames = {n: atlas.read(n, max_features=MAX_KMZ_FEATURES) if product == "kmz" and n in self.large
                       else atlas.read(n) for n in wanted if product == "kmz" or n not in self.large}
        coarsened = {}
        if coarsen_km is not None:  # user layers' points snapped to a grid (atlas.protect.coarsen)
            for n in [n for n in wanted if n.startswith(USER_PREFIX) and self.geometry[n] is not None]:
                self.frames[n] = coarsen(self.frames[n], coarsen_km, gpkg=atlas)
                coarsened[n] = self.frames[n].attrs["coarsened"]
        # the public GeoPackage's sha256 (for PostGIS, the one its export copied): what every file cites
        self.meta = {n: provenance(n, df, sources, shown, atlas.sha256) for n, df in self.frames.items()
                     if n not in self.large}
        for n in self.large:  # from the store's counts (SQL), not from the rows
            rows, _, found = atlas.tally(n, "source")
            values = pd.DataFrame({"source": pd.Series(list(found), dtype=object)})
            values["licence"] = pd.Series(list(atlas.tally(n, "licence")[2]), dtype=object)
            self.meta[n] = {**provenance(n, values, sources, shown, atlas.sha256), "rows": rows}
            if product == "kmz" and rows > MAX_KMZ_FEATURES:
                self.meta[n]["left_out"] = (f"the first {MAX_KMZ_FEATURES:,} of {rows:,} features; "
                                            "the CSV, GeoJSON and GeoParquet exports hold them all")
                warnings.warn(f"the KMZ holds the first {MAX_KMZ_FEATURES:,} features of {n} and leaves out "
                              f"{rows - MAX_KMZ_FEATURES:,} (at most {MAX_KMZ_FEATURES:,} a layer); the CSV, GeoJSON "
                              "and GeoParquet exports hold them all", stacklevel=3)
        for n, how in coarsened.items():
            self.meta[n]["coarsened"] = how
        #: The private layers among them: their files say so (name, metadata) and cite the private store apart.
        self.private = [r for r in allowed.records if r["private"] and r["layer"] in self.frames]
        cited = (atlas.private_citation() or {}) if self.private else {}
        for rec in self.private:
            self.meta[rec["layer"]].update(banner=banner([rec]), private=True,
                                           private_gpkg=cited.get("gpkg", ""),
                                           private_gpkg_sha256=cited.get("gpkg_sha256", ""))

    def is_private(self, name: str) -> bool:
        return any(r["layer"] == name for r in self.private)


#: Most features of one large user layer in a KMZ (Google Earth slows to a crawl well before a million);
#: the layer's folder says how many it left out.
MAX_KMZ_FEATURES = 10_000


def _located(df: pd.DataFrame) -> np.ndarray:
    geom = df.geometry
    return (~(geom.isna() | geom.is_empty)).to_numpy()


def hilbert_order(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Row positions in Hilbert-curve order of the geometries' centres (rows without geometry last).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame(geometry=[shapely.Point(1, 1), None, shapely.Point(0, 0)], crs=4326)
    >>> hilbert_order(g).tolist()
    [2, 0, 1]
    """
    located = _located(gdf)
    keys = np.full(len(gdf), np.iinfo(np.int64).max, dtype=np.int64)
    if located.any():
        part = gdf.geometry[located]
        keys[located] = part.hilbert_distance(total_bounds=part.total_bounds).to_numpy()
    return np.argsort(keys, kind="stable")


def _targets(out: Path | None, names: list[str], fmt: str, sel: _Selection,
             include_private: bool) -> dict[str, Path]:
    """One file per layer in a folder (a private layer's name marked: ``user_x.PRIVATE.csv``), or the
    file itself when one layer goes to a path with the suffix."""
    suffix = FORMATS[fmt]
    out = Path(out) if out else io.output_dir(private=include_private) / fmt
    if out.suffix.lower() == suffix:
        if len(names) != 1:
            raise InputError(f"{out} is one file, but {len(names)} layers were asked for: "
                             "give a folder, or one layer with --layers")
        return {names[0]: out}
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    return {n: marked(out / f"{n}{suffix}") if sel.is_private(n) else out / f"{n}{suffix}" for n in names}


def _plain_names(names: list[str]) -> list[str]:
    """The layers whose names can be file names; the others are reported (a crafted GeoPackage)."""
    refused = [n for n in names if safe_name(n) is None]
    if refused:
        warnings.warn(f"{len(refused)} layer name(s) cannot be file names and were not exported: "
                      + ", ".join(repr(n) for n in refused[:5]), stacklevel=3)
    return [n for n in names if n not in refused]


def _export(fmt: str, out, layers, gpkg, progress, write, spatial_only: bool,
            include_private: bool, coarsen_km: float | None = None) -> list[Path]:
    say = progress or (lambda _msg: None)
    sel = _Selection(layers, gpkg, spatial_only, include_private, coarsen_km, product=fmt)
    names = _plain_names(sel.names)
    if not names:
        raise InputError("no layer to export")
    targets = _targets(out, names, fmt, sel, include_private)
    folder = next(iter(targets.values())).parent
    with Stage(folder) as stage:
        for name in names:
            if name in sel.large and fmt in CHUNKED:  # a chunk at a time: memory bounded by a chunk
                say(f"{fmt}: writing {name} ({sel.meta[name]['rows']:,} rows, {CHUNK_ROWS[fmt]:,} at a time)")
                CHUNKED[fmt](io.layer_chunks(sel.source, name, CHUNK_ROWS[fmt]), stage.path(targets[name].name),
                             sel.meta[name])
                continue
            if name in sel.large and fmt == "geoparquet":  # ordered by a pass over the bounds, then by fid
                say(f"{fmt}: writing {name} ({sel.meta[name]['rows']:,} rows, {LAYER_CHUNK:,} at a time)")
                _parquet_stream(sel.source, name, stage.path(targets[name].name), sel.meta[name])
                continue
            frame = sel.frames[name] if name in sel.frames else sel.source.read(name)
            say(f"{fmt}: writing {name} ({len(frame)} rows)")
            write(frame, stage.path(targets[name].name), sel.meta[name])
            del frame
    return list(targets.values())


def _csv_chunks(chunks, path: Path, meta: dict) -> None:
    """A CSV written a chunk at a time (the header once), as :func:`_write_csv` writes a whole layer."""
    from .formats import csv_text

    columns: list = []
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        for i, part in enumerate(chunks):
            table = _coordinate_columns(part, _wkt_wanted(meta))
            columns = columns or list(table.columns)
            text = csv_text(table)
            f.write(text if i == 0 else text.split("\r\n", 1)[1])
    _write_csv_metadata(path, columns, meta)


def _geojson_chunks(chunks, path: Path, meta: dict) -> None:
    """A GeoJSON FeatureCollection written a chunk of features at a time, as :func:`_write_geojson` writes one."""
    with path.open("w", encoding="utf-8") as f:
        f.write('{"type": "FeatureCollection", "features": [')
        first = True
        for part in chunks:
            for feature in json.loads(_to_wgs84(part).to_json(na="null", drop_id=True))["features"]:
                f.write(("" if first else ", ") + json.dumps(feature, ensure_ascii=False))
                first = False
        f.write(f'], "{META_KEY}": {json.dumps(meta, ensure_ascii=False)}}}')


def _parquet_stream(atlas, name: str, path: Path, meta: dict, size: int | None = None) -> None:
    """A large user layer of a GeoPackage as GeoParquet 1.1, as :func:`_write_parquet` writes a layer (rows
    in Hilbert order, bbox covering column, zstd), never read whole: one pass reads the geometries' bounds
    (32 bytes a row) and orders the rows; then ``size`` rows at a time are read by fid in that order,
    through Arrow (the layer's own field types: every chunk the same schema), and written as a row group."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyogrio
    import shapely
    from geopandas.io.arrow import _geopandas_to_arrow
    from geopandas.tools.hilbert_curve import _continuous_to_discrete_coords, _encode

    size = size or LAYER_CHUNK
    src = atlas.store_of(name).path
    fids, bounds, kinds, start = [], [], set(), 0
    while True:  # the bounds of every geometry, a chunk at a time
        _, table = pyogrio.read_arrow(src, layer=name, columns=[], skip_features=start, max_features=size,
                                      return_fids=True)
        geoms = shapely.from_wkb(table.column(table.num_columns - 1).to_numpy(zero_copy_only=False))
        fids.append(table.column(0).to_numpy())
        bounds.append(shapely.bounds(geoms))
        kinds |= {t for t in shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist()}
        start += table.num_rows
        if table.num_rows < size:
            break
    fid, box = np.concatenate(fids), np.concatenate(bounds)
    located = ~np.isnan(box).any(axis=1)
    keys = np.full(len(fid), np.iinfo(np.int64).max, dtype=np.int64)
    total = (box[located, 0].min(), box[located, 1].min(), box[located, 2].max(), box[located, 3].max()) \
        if located.any() else (0.0, 0.0, 0.0, 0.0)
    if located.any():  # as GeoSeries.hilbert_distance: the bounds' midpoints on a level-16 curve
        keys[located] = _encode(16, *_continuous_to_discrete_coords(box[located], 16, total))
    fid = fid[np.argsort(keys, kind="stable")]
    del box, keys, bounds, fids
    # the file's "geo" metadata as geopandas writes it (one row), its bbox and types those of every row
    geo = json.loads(_geopandas_to_arrow(atlas.read(name, max_features=1), index=False, schema_version="1.1.0",
                                         write_covering_bbox=True).schema.metadata[b"geo"])
    column = geo["columns"][geo["primary_column"]]
    column["bbox"] = [float(v) for v in total]
    names = {0: "Point", 1: "LineString", 2: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
             6: "MultiPolygon", 7: "GeometryCollection"}  # shapely's type ids
    column["geometry_types"] = sorted({names[k] for k in kinds if k in names})
    extra = {b"geo": json.dumps(geo).encode("utf-8"),
             META_KEY.encode(): json.dumps(meta, ensure_ascii=False).encode("utf-8")}
    writer = None
    try:
        for at in range(0, len(fid), size):
            block = fid[at:at + size]
            _, table = pyogrio.read_arrow(src, layer=name, fids=np.sort(block), return_fids=True)
            table = table.take(pd.Index(table.column(0).to_numpy()).get_indexer(block)).drop_columns(
                [table.column_names[0]])
            wkb = table.column(table.num_columns - 1)
            b = shapely.bounds(shapely.from_wkb(wkb.to_numpy(zero_copy_only=False)))
            mask = np.isnan(b).any(axis=1)
            bbox = pa.StructArray.from_arrays([pa.array(b[:, i], mask=mask) for i in range(4)],
                                              names=["xmin", "ymin", "xmax", "ymax"], mask=pa.array(mask))
            table = pa.table([*table.columns[:-1], pa.array(wkb.to_numpy(zero_copy_only=False), pa.binary()), bbox],
                             names=[*table.column_names[:-1], geo["primary_column"], "bbox"])
            if writer is None:
                schema = table.schema.with_metadata(extra)
                writer = pq.ParquetWriter(path, schema, compression="zstd")
            writer.write_table(table.cast(schema))
    finally:
        if writer is not None:
            writer.close()


#: The formats written a chunk at a time for a large user layer.
CHUNKED = {"csv": _csv_chunks, "geojson": _geojson_chunks}
#: Rows per chunk: a GeoJSON chunk passes through Python dicts (some 700 bytes a feature), hence smaller.
CHUNK_ROWS = {"csv": LAYER_CHUNK, "geojson": 20_000}


def _to_wgs84(df: pd.DataFrame) -> pd.DataFrame:
    if isinstance(df, gpd.GeoDataFrame) and df.crs is not None and df.crs.to_epsg() != 4326:
        return df.to_crs(4326)
    return df


def _write_parquet(df: pd.DataFrame, path: Path, meta: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = _to_wgs84(df)
    if isinstance(df, gpd.GeoDataFrame):
        df = df.iloc[hilbert_order(df)].reset_index(drop=True)
        df.to_parquet(path, index=False, compression="zstd", schema_version="1.1.0",
                      write_covering_bbox=True)
        table = pq.read_table(path)
    else:
        table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    extra = {META_KEY.encode(): json.dumps(meta, ensure_ascii=False).encode("utf-8")}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    pq.write_table(table, path, compression="zstd")


def export_geoparquet(out: Path | None = None, layers: Iterable[str] | None = None,
                      gpkg: Path | str | None = None, *, include_private: bool = False,
                      progress: Callable[[str], None] | None = None,
                      coarsen_km: float | None = None) -> list[Path]:
    """Write layers as GeoParquet 1.1 files (zstd, Hilbert-ordered rows, bbox covering column).

    Parameters
    ----------
    out : pathlib.Path, optional
        A folder (one ``<layer>.parquet`` each; default ``output/geoparquet/``),
        or a ``.parquet`` file when one layer is asked for.
    layers : iterable of str, optional
        Layer names; default every layer and table of the atlas.
    gpkg : pathlib.Path or str, optional
        The atlas GeoPackage (default ``output/atlas.gpkg``) or a PostGIS URL.
    include_private : bool, default False
        Also the user layers imported as private (never by default).
    coarsen_km : float, optional
        Snap the points of user layers to the centres of a grid of this many
        km (:func:`atlas.protect.coarsen`), recorded under ``coarsened`` in the
        layer's metadata.
    progress : callable, optional
        Called with a message per layer.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Examples
    --------
    >>> import atlas, tempfile, geopandas
    >>> [path] = atlas.export_geoparquet(tempfile.mkdtemp(), layers=["camps"])
    >>> len(geopandas.read_parquet(path)) == len(atlas.read_layer("camps"))
    True
    """
    return _export("geoparquet", out, layers, gpkg, progress, _write_parquet, spatial_only=False,
                   include_private=include_private, coarsen_km=coarsen_km)


def _write_geojson(df: pd.DataFrame, path: Path, meta: dict) -> None:
    df = _to_wgs84(df)
    if not isinstance(df, gpd.GeoDataFrame):
        df = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([None] * len(df), index=df.index), crs=4326)
    data = json.loads(df.to_json(na="null", drop_id=True))
    data.pop("crs", None)  # RFC 7946: WGS 84 implied, no crs member
    data[META_KEY] = meta
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def export_geojson(out: Path | None = None, layers: Iterable[str] | None = None,
                   gpkg: Path | str | None = None, *, include_private: bool = False,
                   progress: Callable[[str], None] | None = None,
                   coarsen_km: float | None = None) -> list[Path]:
    """Write layers as GeoJSON (RFC 7946, WGS 84, UTF-8), the provenance as member ``atlas``.

    Parameters
    ----------
    out : pathlib.Path, optional
        A folder (one ``<layer>.geojson`` each; default ``output/geojson/``),
        or a ``.geojson`` file when one layer is asked for.
    layers : iterable of str, optional
        Layer names; default every layer with geometry (a table asked for by
        name is written as features without geometry).
    gpkg : pathlib.Path or str, optional
        The atlas GeoPackage or a PostGIS URL.
    include_private : bool, default False
        Also the user layers imported as private (never by default).
    coarsen_km : float, optional
        Snap the points of user layers to the centres of a grid of this many
        km (:func:`atlas.protect.coarsen`), recorded under ``coarsened`` in the
        layer's metadata.
    progress : callable, optional

    Returns
    -------
    list of pathlib.Path

    Examples
    --------
    >>> import atlas, json, tempfile
    >>> [path] = atlas.export_geojson(tempfile.mkdtemp(), layers=["mines"])
    >>> data = json.loads(path.read_text(encoding="utf-8"))
    >>> len(data["features"]) == len(atlas.read_layer("mines")), data["atlas"]["layer"]
    (True, 'mines')
    """
    return _export("geojson", out, layers, gpkg, progress, _write_geojson, spatial_only=True,
                   include_private=include_private, coarsen_km=coarsen_km)


def _coordinate_columns(df: pd.DataFrame, wkt: bool = False) -> pd.DataFrame:
    """The attributes, plus the geometry as columns: lon/lat for points, a point inside for polygons.

    ``wkt``: lines and polygons also carry their whole geometry as a ``wkt`` column (full precision),
    which ``atlas import`` reads back (user layers).
    """
    if not isinstance(df, gpd.GeoDataFrame):
        return pd.DataFrame(df)
    df = _to_wgs84(df)
    geom = df.geometry
    located = _located(df)
    attrs = pd.DataFrame(df.drop(columns=geom.name))
    points = set(geom[located].geom_type) <= {"Point"}
    where = geom.where(located, None)
    if points:
        x = np.where(located, where.x, np.nan) if located.any() else np.full(len(df), np.nan)
        y = np.where(located, where.y, np.nan) if located.any() else np.full(len(df), np.nan)
        names = ("lon", "lat")
    else:
        rep = where.representative_point()
        x, y = rep.x.to_numpy(), rep.y.to_numpy()
        names = ("point_lon", "point_lat")
    if names[0] in attrs and names[1] in attrs and np.allclose(
            pd.to_numeric(attrs[names[0]], errors="coerce"), x, atol=1e-9, equal_nan=True) and np.allclose(
            pd.to_numeric(attrs[names[1]], errors="coerce"), y, atol=1e-9, equal_nan=True):
        return attrs  # the layer's own lon/lat columns are the geometry
    if names[0] in attrs or names[1] in attrs:
        names = ("geometry_" + names[0], "geometry_" + names[1])
    attrs[names[0]] = x
    attrs[names[1]] = y
    if wkt and not points:
        attrs["wkt" if "wkt" not in attrs else "geometry_wkt"] = shapely.to_wkt(
            where.to_numpy(), rounding_precision=-1)
    return attrs


def _wkt_wanted(meta: dict) -> bool:
    """A user layer's lines and polygons go out whole, as WKT, in a CSV (the atlas's own layers as before)."""
    return str(meta.get("layer", "")).startswith("user_")


def csv_metadata(path: Path, columns: Iterable[str], meta: dict) -> dict:
    """The CSV on the Web (W3C CSVW) description of an exported CSV file: what it cites.

    A CSV file has no room for metadata, so each one is written with a sidecar
    ``<file>.csv-metadata.json``, the name CSVW tools look for beside a CSV.
    It names the file and its columns and carries the layer's provenance (the
    public GeoPackage's name and sha256, the atlas version, sources and
    licences; for a private layer its banner and the private store's sha256),
    as the GeoParquet, GeoJSON and KMZ exports carry it inside the file.

    Examples
    --------
    >>> from pathlib import Path
    >>> doc = csv_metadata(Path("camps.csv"), ["site_id", "lon"], {"layer": "camps", "licences": ["CC BY 4.0"]})
    >>> doc["url"], [c["name"] for c in doc["tableSchema"]["columns"]], doc["dc:license"]
    ('camps.csv', ['site_id', 'lon'], 'CC BY 4.0')
    """
    return {
        "@context": "http://www.w3.org/ns/csvw",
        "url": path.name,
        "dc:title": meta.get("layer", ""),
        "dc:description": meta.get("description", ""),
        "dc:license": "; ".join(meta.get("licences", [])),
        "dc:source": meta.get("exported_from", ""),
        "dialect": {"encoding": "utf-8", "header": True},
        "tableSchema": {"columns": [{"name": str(c), "titles": str(c)} for c in columns]},
        "notes": [{"atlas:provenance": meta}],
    }


def _write_csv(df: pd.DataFrame, path: Path, meta: dict) -> None:
    table = _coordinate_columns(df, _wkt_wanted(meta))
    path.write_text(csv_text(table), encoding="utf-8-sig", newline="")
    _write_csv_metadata(path, table.columns, meta)


def _write_csv_metadata(path: Path, columns, meta: dict) -> None:
    sidecar = path.with_name(path.name + "-metadata.json")
    sidecar.write_text(json.dumps(csv_metadata(path, columns, meta), ensure_ascii=False, indent=1,
                                  default=str) + "\n", encoding="utf-8")


def export_csv(out: Path | None = None, layers: Iterable[str] | None = None,
               gpkg: Path | str | None = None, *, include_private: bool = False,
               progress: Callable[[str], None] | None = None,
               coarsen_km: float | None = None) -> list[Path]:
    """Write layers as CSV: UTF-8, WGS 84 coordinates as columns, formulas neutralised.

    Point layers carry ``lon`` and ``lat`` (the layer's own columns when they
    hold the geometry), polygon layers ``point_lon`` and ``point_lat``, a point
    inside each polygon (the outlines are in GeoJSON and GeoParquet); a user
    layer of lines or polygons also carries each whole geometry as ``wkt``,
    which ``atlas import`` reads back. Text
    cells that a spreadsheet would run as a formula are neutralised by
    :func:`atlas.formats.csv_text`. The files start with a UTF-8 byte-order
    mark, so that Excel reads Hangul correctly. Beside each file, its CSV on
    the Web description (``<file>.csv-metadata.json``, :func:`csv_metadata`)
    cites what it holds: the public GeoPackage's sha256, sources, licences.

    Parameters
    ----------
    out : pathlib.Path, optional
        A folder (one ``<layer>.csv`` each; default ``output/csv/``), or a
        ``.csv`` file when one layer is asked for.
    layers : iterable of str, optional
        Layer names; default every layer and table.
    gpkg : pathlib.Path or str, optional
        The atlas GeoPackage or a PostGIS URL.
    include_private : bool, default False
        Also the user layers imported as private (never by default).
    coarsen_km : float, optional
        Snap the points of user layers to the centres of a grid of this many
        km (:func:`atlas.protect.coarsen`), recorded under ``coarsened`` in the
        layer's metadata.
    progress : callable, optional

    Returns
    -------
    list of pathlib.Path

    Examples
    --------
    >>> import atlas, pandas, tempfile
    >>> [path] = atlas.export_csv(tempfile.mkdtemp(), layers=["camps"])
    >>> {"site_id", "lon", "lat"} <= set(pandas.read_csv(path).columns)
    True
    """
    return _export("csv", out, layers, gpkg, progress, _write_csv, spatial_only=False,
                   include_private=include_private, coarsen_km=coarsen_km)


def export_kmz(out: Path | None = None, layers: Iterable[str] | None = None,
               gpkg: Path | str | None = None, *, include_private: bool = False,
               progress: Callable[[str], None] | None = None,
               coarsen_km: float | None = None) -> list[Path]:
    """Write the atlas as one KMZ for Google Earth (KML 2.2), one folder per layer.

    The map's symbols, colours and popups (:mod:`atlas.kml`): a style per
    symbol with its icon inside the KMZ, balloons holding the popup (every
    data string escaped), town proxies named as such, the camps' dated
    findings in a folder with a time span each (Google Earth's time slider),
    the attributes as ``ExtendedData``.

    Parameters
    ----------
    out : pathlib.Path, optional
        The ``.kmz`` file (default ``output/atlas.kmz``); a folder gets
        ``atlas.kmz`` inside (``atlas.PRIVATE.kmz`` when it holds a private
        layer; by default then in ``output-private/``).
    layers : iterable of str, optional
        Layers with geometry; default every one (user layers included,
        private ones only with ``include_private``).
    gpkg : pathlib.Path or str, optional
        The atlas GeoPackage or a PostGIS URL.
    include_private : bool, default False
        Also the user layers imported as private.
    coarsen_km : float, optional
        Snap the points of user layers to the centres of a grid of this many
        km (:func:`atlas.protect.coarsen`), recorded under ``coarsened`` in the
        layer's metadata.
    progress : callable, optional

    Returns
    -------
    list of pathlib.Path
        The KMZ written.

    Examples
    --------
    >>> import atlas, tempfile, zipfile
    >>> [kmz] = atlas.export_kmz(tempfile.mkdtemp(), layers=["camps"])
    >>> zipfile.ZipFile(kmz).namelist()[0]
    'doc.kml'
    """
    from .kml import kmz_bytes

    sel = _Selection(layers, gpkg, spatial_only=True, include_private=include_private,
                     coarsen_km=coarsen_km, product="kmz")
    tables = [n for n in sel.names if sel.geometry[n] is None]
    if tables:
        raise InputError(f"KML holds features with a location; {', '.join(tables)} has none "
                         "(the camps' findings are in their balloons and on the time slider)")
    out = Path(out) if out else io.output_dir(private=include_private)
    if out.suffix.lower() != ".kmz":  # a file holding a private layer says so in its name
        out = marked(out / "atlas.kmz") if sel.private else out / "atlas.kmz"
    data = kmz_bytes(sel.frames, sel.meta, sel.source.read, progress, atlas=sel.source)
    with Stage(out.parent) as stage:
        stage.path(out.name).write_bytes(data)
    return [out]
