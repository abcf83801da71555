"""Bring your own data: validate a user's file and store it as a layer of the atlas.

:func:`import_layer` reads CSV (decimal or degrees-minutes-seconds
coordinates), GeoJSON, KML, KMZ (Google Earth folders kept as a ``folder``
column), GeoPackage, Shapefile and GeoParquet, in any CRS, in chunks. The file
is first admitted and staged by :mod:`atlas.staging` (its format recognised from
its content, a private copy holding only what the format needs, its bytes
checked, GDAL's driver the format's own, archives bounded), then read in chunks
by :mod:`atlas.readers`.

Each chunk is validated with the same machinery as the atlas layers
(:mod:`atlas.schema`), gets its province and county by spatial join, and is
written as ``user_<name>`` atomically, under the writer lock, with its record
(:func:`atlas.userlayers.write_record`): into the atlas GeoPackage, or, for a
layer imported as private, into the private store beside its folder
(:func:`atlas.store.private_store`), so that the public GeoPackage never holds
one and its sha256 never changes for one. On any error nothing is changed.
The catalogue of user layers is :mod:`atlas.userlayers`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import sqlite3
import tempfile
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyogrio
import pyogrio.raw
import shapely
from pyproj import Transformer

from . import io, schema, search, shapes
from .admin import TOLERANCE_KM, AdminUnits
from .errors import InputError, NotFoundError, OutputError
from .readers import ID_NAMES, LABEL_NAMES, find_column, reader_for
from .staging import (
    MAX_IMPORT_BYTES,
    check_content,
    check_extension,
    limit,
    sniff,
    stage_file,
    stage_zip,
)
from .store import open_atlas, private_store, read_layer
from .userlayers import USER_PREFIX, layer_name, migrate, private_store_for, write_record

__all__ = [
    "CHUNK_ROWS",
    "drop_layer",
    "import_layer",
    "store_layer",
]

#: Rows read, checked and written at a time: memory is bounded by a chunk, not the file.
CHUNK_ROWS = 20_000
#: Bounding box of the region a point may lie in before it is called an outlier (lon/lat).
REGION_BBOX = (123.5, 37.5, 131.0, 43.2)

_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")



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


def file_name(path: Path) -> str:
    """The name of an imported file as the layer records it: valid UTF-8 whatever the file system gave.

    A byte of a name that is not UTF-8 (``caf\\xe9.csv``, written in Latin-1) is
    recorded as its escape, ``\\xe9``: a GeoPackage, a GeoParquet file and every
    product hold UTF-8 only.

    Examples
    --------
    >>> import os
    >>> file_name(Path(os.fsdecode(b"caf\\xe9.csv"))), file_name(Path("Yodok.csv"))
    ('caf\\\\xe9.csv', 'Yodok.csv')
    """
    return os.fsencode(path.name).decode("utf-8", "backslashreplace")



class _Import:
    """The state of one streamed import: counts and checks that span chunks."""

    def __init__(self, path: Path, columns: list[str], name_field, kind: str, digest: str, atlas_gpkg: Path,
                 private: bool = False):
        self.path, self.kind, self.digest, self.private = path, kind, digest, bool(private)
        self.file_name = file_name(path)
        attrs = [c for c in columns if c != "geometry"]
        self.label = find_column(attrs, LABEL_NAMES, name_field, "names", path)
        if self.label is None:
            raise InputError(f"{path}: no name column (looked for {', '.join(LABEL_NAMES)}); "
                             "every imported feature needs a name: pass --name-field COL")
        self.id_col = find_column(attrs, ID_NAMES, None, "ids", path)
        self.names, self.renamed = _stored_names(attrs, self.label)
        # no classification grid (it would cost ~90 MB): chunks are small, memory is the point
        atlas = open_atlas(atlas_gpkg, include_private=False)  # its boundaries and outline
        self.units = AdminUnits(atlas.layer("provinces"), atlas.layer("counties"),
                                 grid_from=1 << 62)
        self.outline = atlas.outline("EPSG:5179")
        shapely.prepare(self.outline)
        self.edges = _edge_tree(self.outline)
        self.imported_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        self.n = self.empty = self.valid = self.inside = self.swapped = 0
        self.outliers: list[int] = []
        self.n_outliers = 0
        self.family: str | None = None  # points, lines or polygons: one per layer (atlas.shapes)
        self.repaired, self.repaired_rows = 0, []

    def chunk(self, gdf: gpd.GeoDataFrame, rows: np.ndarray) -> gpd.GeoDataFrame:
        path = self.path
        geoms = gdf.geometry
        empty = (geoms.isna() | geoms.is_empty).to_numpy()
        self.family = shapes.family_of(geoms[~empty].geom_type.unique(), path, self.family)
        if self.family in ("lines", "polygons"):
            return shapes.shape_chunk(self, gdf, rows, empty, REGION_BBOX)
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
        self.tally(empty, inside, swapped)
        dist = np.full(len(gdf), np.nan)
        keep = ~empty & ~((np.abs(y) > 90) | (np.abs(x) > 180))
        if keep.any():
            px, py = _to_planar().transform(x[keep], y[keep])
            km = np.zeros(len(px))
            out = ~shapely.contains_xy(self.outline, px, py)
            if out.any():  # inside: 0, no measuring; outside: to the nearest edge of the outline
                which, metres = self.edges.query_nearest(shapely.points(px[out], py[out]), return_distance=True,
                                                         all_matches=False)
                km[np.flatnonzero(out)[which[0]]] = metres / 1000.0
            dist[keep] = km
        return self.assemble(gdf, rows, dist, wgs.to_numpy(), lambda frame: self.units.join(frame, TOLERANCE_KM))

    def tally(self, empty: np.ndarray, inside: np.ndarray, swapped: np.ndarray) -> None:
        """Count a chunk's features: all, without geometry, in the region, in it only when swapped."""
        valid = ~empty
        self.n += len(empty)
        self.empty += int(empty.sum())
        self.valid += int(valid.sum())
        self.inside += int(inside[valid].sum())
        self.swapped += int(swapped[valid].sum())

    def assemble(self, gdf: gpd.GeoDataFrame, rows: np.ndarray, dist: np.ndarray, geoms: np.ndarray,
                 admin_of: Callable[[gpd.GeoDataFrame], object]) -> gpd.GeoDataFrame:
        """A counted chunk (:meth:`tally`) as rows of the layer: outliers noted, names required, ids given,
        the source columns, the province and county (``admin_of(frame)``), checked by the schema."""
        path = self.path
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
        frame = gpd.GeoDataFrame(
            {
                "user_id": ids, "name": names.astype(str).to_numpy(), "kind": self.kind, **attrs,
                "source_row": rows, "outside_dprk_km": np.round(dist, 3), "source_file": self.file_name,
                "source_sha256": self.digest, "imported_at": self.imported_at,
                "source": f"user import: {self.file_name}", "licence": "as supplied by the user",
                "precision": "as supplied by the user", "private": self.private,
            },
            geometry=geoms, crs="EPSG:4326",
        )
        admin = admin_of(frame)
        for col in admin.columns:
            frame[col] = admin[col].to_numpy()
        problems = [p for p in schema.check_layers({f"{USER_PREFIX}x": frame}, required=False)
                    if p.message != "id is not unique"]  # checked over the whole layer by _check_ids
        if problems:
            raise InputError(f"{path}: " + "; ".join(str(p) for p in problems[:10]))
        return frame

    def record(self, layer: str) -> dict:
        """The layer's record (:data:`atlas.store.RECORDS`), stored with it."""
        return {"layer": layer, "private": self.private, "kind": self.kind, "source_file": self.file_name,
                "source_sha256": self.digest, "imported_at": self.imported_at, "features": self.n}

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


@functools.cache
def _to_planar():
    """Longitude, latitude to EPSG:5179, made once (geopandas' ``to_crs`` makes one per call)."""
    return Transformer.from_crs("EPSG:4326", "EPSG:5179", always_xy=True)


def _edge_tree(outline) -> shapely.STRtree:
    """The outline's edges, one segment each, in a tree: the distance to the nearest is the distance
    to the outline from a point outside it (exactly ``shapely.distance``, several times faster)."""
    segments = []
    for ring in shapely.get_rings(shapely.get_parts(outline)):
        xy = shapely.get_coordinates(ring)
        segments.append(np.stack([xy[:-1], xy[1:]], axis=1))
    return shapely.STRtree(shapely.linestrings(np.concatenate(segments)))


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


def drop_layer(name: str, gpkg: Path | None = None) -> str:
    """Remove a user layer from the atlas, atomically.

    The layer is removed from a copy of the GeoPackage that holds it (the
    atlas GeoPackage, or its private store for a private layer: dropping one
    never changes the public GeoPackage), which is vacuumed (no row of the
    layer stays in the file's free pages) and checked, then swapped in: on
    any error the GeoPackage is unchanged.

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
    public = Path(gpkg or io.default_gpkg())
    if name in schema.SCHEMAS:
        raise InputError(f"{name!r} is an atlas layer; only user layers (user_...) can be dropped")
    migrate(public)
    layer = layer_name(name)
    atlas = open_atlas(public, include_private=True)
    present = [r["layer"] for r in atlas.user_layer_records()]
    if layer not in present:
        raise NotFoundError(f"no user layer {layer!r} in {public}", present[:5])
    target = atlas.store_of(layer).path
    with io.writer_lock(target), io.atomic_path(target) as tmp:
        shutil.copyfile(target, tmp)
        io.delete_layers(tmp, [layer])
        left = {n for n, _ in pyogrio.list_layers(tmp)}
        if layer in left or (target == public and "camps" not in left):
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
        Keep the layer private: it is stored apart, in the private store
        beside the folder of shareable products (``output-private/``,
        :func:`atlas.store.private_store`), never in the atlas GeoPackage,
        and no map, export or site includes it unless asked
        (``include_private=True``, ``--include-private``). For sources that
        must not leave your machine.
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
    return read_layer(layer, gpkg)


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
    public = Path(gpkg or io.default_gpkg())
    migrate(public, say)
    _refuse_existing(public, name, replace)
    target = private_store_for(public) if private else public
    if crs is not None:
        crs = _parse_crs(crs)
    fmt = sniff(path)
    check_extension(path, fmt)
    layer = f"{USER_PREFIX}{name}"

    def warn(msg: str) -> None:
        warnings.warn(msg, UserWarning, stacklevel=3)

    with tempfile.TemporaryDirectory(prefix="atlas-import-") as tmp:
        if fmt in ("kmz", "shp-zip"):
            staged, digest = stage_zip(path, fmt, Path(tmp), warn)
        else:
            staged, digest = stage_file(path, fmt, Path(tmp))
        check_content(staged, fmt, path)
        reader = reader_for(staged, fmt, path, lat, lon, crs)
        state = _Import(path, reader.columns, name_field, kind, digest, public, private)
        if state.renamed:
            warn(f"{path}: column(s) renamed for the GeoPackage: {'; '.join(state.renamed)}")
        say(f"reading {path.name} as {fmt.upper()} ({size / 1e6:.1f} MB) in chunks of {CHUNK_ROWS:,} rows")
        with io.writer_lock(target, say), io.atomic_path(target) as tmp_gpkg:
            _refuse_existing(public, name, replace)  # again: another import may have landed meanwhile
            if target.is_file():
                shutil.copyfile(target, tmp_gpkg)
                if replace:  # the old layer's rows must not stay in the file's free pages
                    io.delete_layers(tmp_gpkg, [layer])
            _write_chunks(reader, state, tmp_gpkg, layer, path, target, say)
            state.finish()
            _check_ids(tmp_gpkg, layer, path, state.id_col)
            write_record(tmp_gpkg, state.record(layer))
            io.release_memory()  # the chunks' freed pages, before the keys' batches
            say(f"keying the names of {state.n:,} features for atlas find")
            search.write_name_keys(tmp_gpkg, layer, say)
            written = pyogrio.read_info(tmp_gpkg, layer=layer)["features"]
            if written != state.n:
                raise OutputError(f"{target}: {written} of {state.n} features were written; "
                                  f"{target} was not replaced")
            say(f"replacing {target}")
    if replace:  # a layer that was public and is now private (or the other way round): the old one goes
        _drop_elsewhere(public, layer, target)
    if state.n_outliers:
        _warn_outliers(path, state)
    if state.repaired:
        rows = ", ".join(map(str, state.repaired_rows))
        warnings.warn(f"{path}: {state.repaired} invalid {state.family[:-1]}(s) repaired with shapely.make_valid "
                      f"(rows {rows}{', ...' if state.repaired > 10 else ''}); their parts of another "
                      "dimension were dropped", UserWarning, stacklevel=2)
    say(f"imported {state.n:,} {'features' if state.family in (None, 'points') else state.family} "
        f"({state.empty} without geometry, {state.n_outliers} outside the DPRK"
        f"{f', {state.repaired} repaired' if state.repaired else ''}) as {layer}")
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


def _write_chunks(reader, state: _Import, tmp_gpkg: Path, layer: str, path: Path, target: Path,
                  say: Callable[[str], None]) -> None:
    """Check each chunk the reader gives and write them all to the layer in the GeoPackage copy.

    The checked chunks reach GDAL as one Arrow stream: one write, whose spatial index is
    built once at the end, instead of an append per chunk (5x slower at 10^6 points).
    An error met while checking a chunk stops the stream and is raised as it was.
    """
    most = limit("MAX_FEATURES")
    failed: list[BaseException] = []

    def tables():
        for gdf, rows in reader.chunks(CHUNK_ROWS):
            if state.n + len(rows) > most:  # said before the chunk past the limit is checked or written
                raise InputError(f"{path}: more than {most:,} features (ATLAS_MAX_FEATURES); split the file "
                                 "or filter it to the DPRK first; the atlas was not changed")
            out = state.chunk(gdf, rows)
            del gdf
            yield pa.table(out.to_arrow(index=False, geometry_encoding="WKB"))
            if state.n > CHUNK_ROWS:
                say(f"{state.n:,} features read, checked and written")

    def batches(first: pa.Table, rest):
        try:
            yield from first.to_batches()
            for table in rest:
                yield from _conform(table, first.schema, path, state).to_batches()
        except BaseException as exc:  # GDAL sees the stream end in error; the cause is raised below
            failed.append(exc)
            raise

    stream = tables()
    first = next(stream, None)
    if first is None:
        return
    first = first.cast(_stored_schema(first.schema))
    new_file = {} if tmp_gpkg.exists() else {"dataset_options": io.GPKG_OPTIONS}  # a new private store
    try:
        pyogrio.raw.write_arrow(
            pa.RecordBatchReader.from_batches(first.schema, batches(first, stream)), tmp_gpkg,
            layer=layer, driver="GPKG", geometry_name="geometry",
            geometry_type=shapes.STORED_TYPE[state.family or "points"], crs="EPSG:4326",
            layer_options={"OVERWRITE": "YES", "DESCRIPTION": f"user import of {state.file_name}"},
            **new_file)
    except Exception as exc:
        if failed:
            raise failed[0] from None
        raise _write_error(exc, target) from exc
    if failed:
        raise failed[0]


def _stored_schema(schema):
    """The schema of the first chunk, with a column it holds no value of stored as text."""
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema],
                     metadata=schema.metadata)


def _conform(table, schema, path: Path, state: _Import):
    """A later chunk in the first chunk's types: a column that changes type is refused, by name."""
    if table.schema.equals(schema):
        return table
    for field in schema:
        got = table.schema.field(field.name).type
        if got == field.type or pa.types.is_null(got):
            continue
        try:
            table.column(field.name).cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InputError(f"{path}: field {field.name!r} changes type by row {state.n:,} (from {field.type} "
                             f"to {got}); the atlas was not changed") from None
    return table.select(schema.names).cast(schema)


def _warn_outliers(path: Path, state: _Import) -> None:
    """Warn of the points kept and flagged far outside the DPRK, naming the first rows."""
    rows = ", ".join(str(r) for r in state.outliers[:10])
    warnings.warn(
        f"{path}: {state.n_outliers} {'point' if state.family in (None, 'points') else state.family[:-1]}(s) "
        f"lie more than {schema.INSIDE_TOLERANCE_KM} km outside "
        f"the DPRK (rows {rows}{', ...' if state.n_outliers > 10 else ''}); kept and flagged "
        "in outside_dprk_km", UserWarning, stacklevel=3)


def _write_error(exc: Exception, target: Path) -> OutputError:
    """A failed write (a full disk, a read-only folder) as one message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return OutputError(f"cannot write {target}: {text}; {target} was not replaced")


def _refuse_existing(public: Path, name: str, replace: bool) -> None:
    layer = f"{USER_PREFIX}{name}"
    atlas = open_atlas(public, include_private=True)  # a clear error if the atlas has not been built
    if atlas.has(layer) and not replace:
        raise InputError(f"{public} already has a layer {layer}; pass --replace (replace=True) to "
                         f"replace it, or choose another name with --as")


def _drop_elsewhere(public: Path, layer: str, kept: Path) -> None:
    """Remove ``layer`` from the other store of the atlas (it moved between public and private)."""
    for other in (public, private_store(public)):
        if other.resolve() == kept.resolve() or not other.is_file():
            continue
        if layer in {n for n, _ in pyogrio.list_layers(other)}:
            with io.writer_lock(other), io.atomic_path(other) as tmp:
                shutil.copyfile(other, tmp)
                io.delete_layers(tmp, [layer])
