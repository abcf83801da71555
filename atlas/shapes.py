"""Line and polygon user layers: one geometry family per layer, repaired geometries, admin units by share.

``atlas import`` reads points, lines and polygons (camp perimeters digitised from
imagery, building footprints, mining concessions, rail lines). A layer holds one
geometry *family* (:func:`family_of`): points, lines (``LineString`` and
``MultiLineString``) or polygons (``Polygon`` and ``MultiPolygon``); a file mixing
families is refused, as is a ``MultiPoint`` or a ``GeometryCollection``. Lines
and polygons are stored as ``MultiLineString`` and ``MultiPolygon`` (one
declared type per GeoPackage layer, as the GeoPackage and QGIS expect), in two
dimensions (a KML's altitudes are dropped).

A feature of more than :data:`MAX_VERTICES` vertices is refused before anything
else is computed on it (``$ATLAS_MAX_VERTICES`` overrides). An invalid line or
polygon (a self-intersecting ring, a bow tie) is repaired with
:func:`shapely.make_valid` and its parts of the layer's family kept
(:func:`repair`); the import says how many were repaired and which rows. One
that repairs to nothing of its family (a polygon collapsed to a line) is refused.

Each line or polygon gets the province and the county that hold the largest
share of its length or area, measured in EPSG:5179 (:func:`atlas.shares.admin_by_share`).
A feature inside one unit (the common case: a building) costs one
point-in-polygon test; only features crossing a boundary are intersected. A
feature touching no unit goes to the nearest within
:data:`atlas.admin.TOLERANCE_KM` (``admin_method="nearest"``), else
``"outside"``, as points do.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from .admin import PLANAR_CRS, TOLERANCE_KM
from .errors import InputError
from .shares import admin_by_share
from .staging import MAX_VERTICES, limit

__all__ = ["FAMILIES", "MAX_VERTICES", "family_of", "repair", "shape_chunk"]

#: The geometry families a user layer may hold, and the types of each.
FAMILIES = {
    "points": ("Point",),
    "lines": ("LineString", "MultiLineString"),
    "polygons": ("Polygon", "MultiPolygon"),
}
#: How a line or polygon layer is declared in the GeoPackage (single parts are promoted).
STORED_TYPE = {"points": "Point", "lines": "MultiLineString", "polygons": "MultiPolygon"}
_DIMENSION = {"lines": 1, "polygons": 2}


def family_of(types, path, known: str | None = None) -> str | None:
    """The geometry family of a set of geometry type names; refuses a mixture, or one unlike ``known``.

    Parameters
    ----------
    types : iterable of str
        ``geom_type`` values of the features that have a geometry.
    path : path or str
        The file, for the message.
    known : str, optional
        The family already found in earlier chunks of the same file.

    Returns
    -------
    str or None
        ``"points"``, ``"lines"`` or ``"polygons"``; ``known`` when ``types`` is empty.

    Raises
    ------
    InputError
        Types of more than one family, ``MultiPoint``, ``GeometryCollection``.

    Examples
    --------
    >>> family_of({"Polygon", "MultiPolygon"}, "f.gpkg")
    'polygons'
    >>> try:
    ...     family_of({"Point", "LineString"}, "f.gpkg")
    ... except InputError as exc:
    ...     print(exc)
    f.gpkg: a layer holds one geometry family (points, lines or polygons; Multi* allowed); the file mixes LineString, Point: split it into one file per family
    """
    types = set(types)
    found = {f for f, members in FAMILIES.items() if types & set(members)}
    other = types - {t for members in FAMILIES.values() for t in members}
    if other:
        raise InputError(f"{path}: {', '.join(sorted(other))} features cannot be imported (a layer holds "
                         "points, lines or polygons; Multi* lines and polygons allowed); split them into "
                         "single features of one family")
    if known is not None:
        found.add(known)
    if len(found) > 1:
        raise InputError(f"{path}: a layer holds one geometry family (points, lines or polygons; Multi* "
                         f"allowed); the file mixes {', '.join(sorted(types | set(FAMILIES[known][:1] if known else ())))}: "
                         "split it into one file per family")
    return next(iter(found), known)


def _family_parts(geoms: np.ndarray, family: str) -> np.ndarray:
    """Each geometry cut to its parts of ``family`` (None where none is left), as one (Multi) geometry."""
    dim = _DIMENSION[family]
    parts, owner = shapely.get_parts(geoms, return_index=True)
    for _ in range(3):  # collections of multi-geometries: down to single parts
        multi = shapely.get_num_geometries(parts) > 1
        if not multi.any():
            break
        sub, at = shapely.get_parts(parts[multi], return_index=True)
        parts = np.concatenate([parts[~multi], sub])
        owner = np.concatenate([owner[~multi], owner[multi][at]])
    keep = (shapely.get_dimensions(parts) == dim) & ~shapely.is_empty(parts)
    parts, owner = parts[keep], owner[keep]
    out = np.full(len(geoms), None, dtype=object)
    if len(parts):
        maker = shapely.multipolygons if family == "polygons" else shapely.multilinestrings
        order = np.argsort(owner, kind="stable")
        have = np.unique(owner)
        out[have] = maker(parts[order], indices=np.searchsorted(have, owner[order]))
    return out


def repair(geoms: np.ndarray, family: str, rows: np.ndarray, path) -> tuple[np.ndarray, np.ndarray]:
    """Repair invalid lines or polygons with :func:`shapely.make_valid`, keeping the parts of the family.

    Parameters
    ----------
    geoms : numpy.ndarray of shapely geometries
        In EPSG:4326; None or empty where a feature has no geometry.
    family : {"lines", "polygons"}
    rows : numpy.ndarray
        The source row of each geometry, for the message.
    path : path or str
        The file, for the message.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The geometries (repaired ones replaced) and the source rows repaired.

    Raises
    ------
    InputError
        A geometry that repairs to nothing of its family (a polygon collapsed to a line).

    Examples
    --------
    >>> bowtie = shapely.Polygon([(126, 39), (126.01, 39.01), (126.01, 39), (126, 39.01)])
    >>> fixed, repaired = repair(np.array([bowtie], dtype=object), "polygons", np.array([2]), "f.gpkg")
    >>> fixed[0].geom_type, bool(fixed[0].is_valid), repaired.tolist()
    ('MultiPolygon', True, [2])
    """
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    bad = np.flatnonzero(present & ~shapely.is_valid(geoms))
    if not len(bad):
        return geoms, rows[:0]
    fixed = _family_parts(shapely.make_valid(geoms[bad]), family)
    lost = np.flatnonzero(shapely.is_missing(fixed))
    if len(lost):
        i = bad[lost[0]]
        raise InputError(f"{path}: row {rows[i]}: an invalid {family[:-1]} ({shapely.is_valid_reason(geoms[i])}) "
                         f"that leaves no {family[:-1]} once repaired; fix or remove it")
    out = geoms.copy()
    out[bad] = fixed
    return out, rows[bad]


def _vertices(geoms: np.ndarray, rows: np.ndarray, path) -> None:
    most = limit("MAX_VERTICES")
    n = shapely.get_num_coordinates(geoms)
    over = np.flatnonzero(n > most)
    if len(over):
        i = over[0]
        raise InputError(f"{path}: row {rows[i]}: a feature of {int(n[i]):,} vertices, more than the limit of "
                         f"{most:,} (ATLAS_MAX_VERTICES); simplify it (e.g. QGIS Simplify) or raise the limit; "
                         "refused before reading further")


def shape_chunk(state, gdf: gpd.GeoDataFrame, rows: np.ndarray, empty: np.ndarray,
                region: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """One chunk of a line or polygon layer, checked and assembled as :class:`atlas.importer._Import` does points.

    ``state`` is the import's state (counts that span chunks), ``region`` the lon/lat box
    a feature's centre is expected in (else the coordinates may be swapped).

    The geometry steps differ from points (vertex limit, repair, outside-the-DPRK distance from the
    whole feature, admin units by share); the attribute columns are assembled as for points.
    """
    path, family = state.path, state.family
    values = np.asarray(gdf.geometry.values, dtype=object)
    _vertices(values, rows, path)
    wgs = gdf.geometry if gdf.crs is not None and gdf.crs.equals("EPSG:4326") else gdf.geometry.to_crs(4326)
    geoms = np.asarray(wgs.to_numpy(), dtype=object)
    if shapely.has_z(geoms).any():  # stored in two dimensions
        geoms = shapely.force_2d(geoms)
    geoms, repaired = repair(geoms, family, rows, path)
    state.repaired += len(repaired)
    state.repaired_rows += [int(r) for r in repaired[: max(0, 10 - len(state.repaired_rows))]]
    geoms[empty] = None
    single = shapely.get_type_id(geoms) == (3 if family == "polygons" else 1)  # stored as Multi*: one type
    if single.any():
        multi = shapely.multipolygons if family == "polygons" else shapely.multilinestrings
        geoms[single] = multi(geoms[single], indices=np.arange(int(single.sum())))
    box = np.full((len(geoms), 4), np.nan)
    box[~empty] = shapely.bounds(geoms[~empty])
    off = ~empty & ((np.abs(box[:, [1, 3]]) > 90).any(axis=1) | (np.abs(box[:, [0, 2]]) > 180).any(axis=1))
    x, y = (box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2
    w, s, e, n = region
    inside = (x >= w) & (x <= e) & (y >= s) & (y <= n)
    swapped = (y >= w) & (y <= e) & (x >= s) & (x <= n)
    if (off & ~swapped).any():
        i = int(np.flatnonzero(off & ~swapped)[0])
        raise InputError(f"{path}: row {rows[i]}: a coordinate of the feature is not a longitude/latitude in "
                         "degrees; if the file is projected pass --crs EPSG")
    state.tally(empty, inside, swapped)
    dist = np.full(len(gdf), np.nan)
    keep = ~empty & ~off
    planar = np.full(len(geoms), None, dtype=object)
    if keep.any():
        planar[keep] = gpd.GeoSeries(geoms[keep], crs="EPSG:4326").to_crs(PLANAR_CRS).to_numpy()
        km = np.zeros(int(keep.sum()))
        out = ~shapely.intersects(state.outline, planar[keep])
        if out.any():  # outside: the distance to the nearest edge of the outline (the importer's tree)
            which, metres = state.edges.query_nearest(planar[keep][out], return_distance=True, all_matches=False)
            km[np.flatnonzero(out)[which[0]]] = metres / 1000.0
        dist[keep] = km
    return state.assemble(gdf, rows, dist, geoms, lambda _frame: admin_by_share(
        state.units, np.where(keep, geoms, None), family, TOLERANCE_KM, planar))
