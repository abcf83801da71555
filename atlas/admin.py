"""Which province and county a point is in.

Points are joined to polygons in EPSG:5179 (Korea 2000 Unified CS, valid over
the whole peninsula; see docs/build.md). A point that falls in no polygon, as
border towns on the Yalu and Tumen do against the generalised Natural Earth
lines, goes to the nearest unit within :data:`TOLERANCE_KM` and is flagged
``admin_method="nearest"``; farther than that it is ``"outside"``.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from .errors import InputError
from .store import Atlas, open_atlas

__all__ = ["ADMIN_COLUMNS", "PLANAR_CRS", "TOLERANCE_KM", "AdminUnits", "admin_units", "assign_admin",
           "join_admin"]

PLANAR_CRS = "EPSG:5179"
TOLERANCE_KM = 5.0
ADMIN_COLUMNS = ["province", "county", "county_ko", "county_id", "admin_method", "admin_distance_km"]
_METHODS = np.array(["within", "nearest", "outside"], dtype=object)


def _nearest_index(
    points: gpd.GeoSeries, polygons: gpd.GeoDataFrame, tolerance_km: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index of the polygon holding or nearest each point, the method and the distance."""
    n = len(points)
    index = np.full(n, -1, dtype=np.int64)
    method = np.full(n, "outside", dtype=object)
    distance = np.full(n, np.nan)
    has_geom = ~(points.is_empty | points.isna()).to_numpy()
    if not has_geom.any():
        method[:] = None
        return index, method, distance
    pts = gpd.GeoDataFrame(geometry=points[has_geom].reset_index(drop=True), crs=points.crs)
    polys = polygons[["geometry"]].reset_index(drop=True)
    inside = gpd.sjoin(pts, polys, how="left", predicate="within")
    inside = inside[~inside.index.duplicated(keep="first")]
    found = inside["index_right"].notna().to_numpy()
    sub_index = np.where(found, inside["index_right"].fillna(-1).to_numpy(), -1).astype(np.int64)
    sub_method = np.where(found, "within", "outside").astype(object)
    sub_distance = np.where(found, 0.0, np.nan)
    missing = np.flatnonzero(~found)
    if len(missing):
        near = gpd.sjoin_nearest(
            pts.iloc[missing],
            polys,
            how="left",
            max_distance=tolerance_km * 1000.0,
            distance_col="dist_m",
        )
        near = near[~near.index.duplicated(keep="first")]
        ok = near["index_right"].notna()
        rows = near.index[ok].to_numpy()
        sub_index[rows] = near.loc[ok, "index_right"].astype(np.int64).to_numpy()
        sub_method[rows] = "nearest"
        sub_distance[rows] = near.loc[ok, "dist_m"].to_numpy() / 1000.0
    index[has_geom] = sub_index
    method[has_geom] = sub_method
    distance[has_geom] = sub_distance
    method[~has_geom] = None
    return index, method, distance


@functools.lru_cache(maxsize=1)
def _lonlat_to_planar() -> Transformer:
    return Transformer.from_crs("EPSG:4326", PLANAR_CRS, always_xy=True)


class _Points:
    """Points to locate: lon/lat for binning, planar coordinates computed only where needed.

    Planar coordinates come from the points' own CRS straight to EPSG:5179, as
    ``GeoSeries.to_crs`` does, so a point gets exactly the coordinates the
    ``sjoin`` path would give it.
    """

    def __init__(self, geoms: gpd.GeoSeries, values: np.ndarray, present: np.ndarray):
        self.n = len(values)
        self.present = present
        src = np.full((self.n, 2), np.nan)
        if present.any():
            src[present] = shapely.get_coordinates(values[present])
        self._src = src
        epsg = geoms.crs.to_epsg()
        if epsg == 4326:
            self.lon, self.lat = src[:, 0], src[:, 1]
            self._to_planar = _lonlat_to_planar()
        else:
            to_lonlat = Transformer.from_crs(geoms.crs, "EPSG:4326", always_xy=True)
            self.lon, self.lat = to_lonlat.transform(src[:, 0], src[:, 1])
            self._to_planar = (None if epsg == 5179
                               else Transformer.from_crs(geoms.crs, PLANAR_CRS, always_xy=True))
        self.x = np.full(self.n, np.nan)
        self.y = np.full(self.n, np.nan)
        self._done = ~present
        self.cells: tuple | None = None  # (lattice, (on lattice, cell number)), set by _Lattice.cells

    def planar(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """EPSG:5179 x, y of ``rows`` (computed once per point)."""
        todo = rows[~self._done[rows]]
        if len(todo):
            sx, sy = self._src[todo, 0], self._src[todo, 1]
            if self._to_planar is None:
                self.x[todo], self.y[todo] = sx, sy
            else:
                self.x[todo], self.y[todo] = self._to_planar.transform(sx, sy)
            self._done[todo] = True
        return self.x[rows], self.y[rows]


class _Lattice:
    """A grid of 0.02° cells over some polygons, each cell with its EPSG:5179 bounding box.

    A cell's box is the bounding box of the projected cell corners and edge
    midpoints grown by 1 m, so it holds the whole projected cell (edges sag
    < 0.1 m over 0.02°): a class computed on the box is safe for every point
    of the cell, and for points binned a hair off by rounding.
    """

    CELL_DEG = 0.02

    def __init__(self, lonlat_bounds: np.ndarray, tolerance_m: float):
        d = self.CELL_DEG
        lon0, lat0 = np.nanmin(lonlat_bounds[:, :2], axis=0)
        lon1, lat1 = np.nanmax(lonlat_bounds[:, 2:], axis=0)
        # beyond this margin a point is farther than twice the tolerance from every polygon
        reach_m = 2 * (tolerance_m * 1.01 + 1.0) + 1000.0
        m_per_deg = 111_000.0 * np.cos(np.radians(min(89.0, max(abs(lat0), abs(lat1)))))
        reach = reach_m / m_per_deg + 2 * d
        self.lon0, self.lat0 = lon0 - reach, lat0 - reach
        self.nx = int(np.ceil((lon1 + reach - self.lon0) / d))
        self.ny = int(np.ceil((lat1 + reach - self.lat0) / d))
        sub = 2
        glon = self.lon0 + np.arange(self.nx * sub + 1) * (d / sub)
        glat = self.lat0 + np.arange(self.ny * sub + 1) * (d / sub)
        gx, gy = _lonlat_to_planar().transform(*np.meshgrid(glon, glat))
        xmin = _block_reduce(gx, sub, np.minimum) - 1.0
        ymin = _block_reduce(gy, sub, np.minimum) - 1.0
        xmax = _block_reduce(gx, sub, np.maximum) + 1.0
        ymax = _block_reduce(gy, sub, np.maximum) + 1.0
        self.boxes = shapely.box(xmin.ravel(), ymin.ravel(), xmax.ravel(), ymax.ravel())
        self.tree = shapely.STRtree(self.boxes)

    def cells(self, pts: _Points) -> tuple[np.ndarray, np.ndarray]:
        """Which points fall on the lattice, and their cell numbers (0 where not); kept on ``pts``."""
        if pts.cells is not None and pts.cells[0] is self:
            return pts.cells[1]
        with np.errstate(invalid="ignore"):
            ix = np.floor((pts.lon - self.lon0) / self.CELL_DEG)
            iy = np.floor((pts.lat - self.lat0) / self.CELL_DEG)
        known = pts.present & (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        pts.cells = (self, (known, np.where(known, iy * self.nx + ix, 0).astype(np.int64)))
        return pts.cells[1]


class _PolygonIndex:
    """Polygons in the planar CRS, ready for fast point-in-polygon and nearest-unit queries.

    :meth:`locate` gives exactly the answers of :func:`_nearest_index` (a
    ``geopandas.sjoin(predicate="within")``, then ``sjoin_nearest`` within the
    tolerance for the points left over; the tests compare the two on random
    points), without building a GeoDataFrame, point geometries or a point
    index:

    * for large inputs, a grid of 0.02° cells (built once per tolerance) marks
      the cells that lie properly inside exactly one polygon and touch no other
      (their points are ``within`` it, without a test and without even being
      projected), the cells that touch no polygon, and the cells within the
      tolerance of one. Each cell is classified by its EPSG:5179 bounding box
      grown by 1 m, which holds the projected cell, so every class is safe;
    * the other points, sorted by x, are tested per polygon in its bounding
      box (a binary search and a y mask) with the prepared polygon's
      ``contains_xy``; the first polygon (lowest index) wins, as in ``sjoin``
      whose matches are sorted by the polygon's index;
    * the points left over within the tolerance of the polygons' buffered union
      are measured against the polygons' boundary segments (an envelope query,
      a vectorised distance to prune, GEOS's own point-segment distance for the
      value); a point whose nearest segments belong to two polygons (a shared
      vertex) is settled by a query of the same polygon tree ``sjoin_nearest``
      builds, first match kept, so ties break exactly as before.
    """

    def __init__(self, geoms: np.ndarray):
        self.geoms = np.asarray(geoms, dtype=object)
        self.bounds = shapely.bounds(self.geoms)
        shapely.prepare(self.geoms)
        self._segments: tuple | None = None
        self._tree: shapely.STRtree | None = None
        self._grids: dict[tuple, tuple] = {}
        self._rings: dict[float, object] = {}

    def _polygon_tree(self) -> shapely.STRtree:
        """The tree ``geopandas`` builds for ``sjoin_nearest`` (empty geometries as None)."""
        if self._tree is None:
            geoms = self.geoms.copy()
            geoms[shapely.is_empty(geoms)] = None
            self._tree = shapely.STRtree(geoms)
        return self._tree

    def _segment_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, shapely.STRtree]:
        if self._segments is None:
            coords, owner = [], []
            for i, geom in enumerate(self.geoms):
                if geom is None or geom.is_empty:
                    continue
                for ring in shapely.get_rings(shapely.get_parts(geom)):
                    xy = shapely.get_coordinates(ring)
                    coords.append(np.stack([xy[:-1], xy[1:]], axis=1))
                    owner.append(np.full(len(xy) - 1, i, dtype=np.int64))
            seg = np.concatenate(coords) if coords else np.empty((0, 2, 2))
            own = np.concatenate(owner) if owner else np.empty(0, dtype=np.int64)
            lines = shapely.linestrings(seg)
            self._segments = (seg, own, lines, shapely.STRtree(lines))
        return self._segments

    def _ring(self, tolerance_m: float):
        """The polygons' union grown a little beyond the tolerance: nothing outside is within it."""
        if tolerance_m not in self._rings:
            union = shapely.union_all(self.geoms[~shapely.is_missing(self.geoms)])
            # 1% + 1 m beyond the tolerance: a buffer's arcs are chords (quad_segs=16
            # sags 0.12% of the radius), so no point within the tolerance is cut off.
            ring = shapely.buffer(union, tolerance_m * 1.01 + 1.0, quad_segs=16)
            shapely.prepare(ring)
            self._rings[tolerance_m] = ring
        return self._rings[tolerance_m]

    def _grid(self, lattice: _Lattice, tolerance_m: float) -> tuple:
        """Cell classes on a lattice: owner polygon (or -1), needs a test, near a polygon."""
        key = (id(lattice), tolerance_m)
        if key in self._grids:
            return self._grids[key]
        boxes, tree = lattice.boxes, lattice.tree
        present = ~shapely.is_missing(self.geoms)
        ids = np.flatnonzero(present)
        # the tree of cells queried with each prepared polygon (far faster than the reverse)
        poly, cells = tree.query(self.geoms[present], predicate="intersects")
        poly = ids[poly]
        hits = np.bincount(cells, minlength=len(boxes))
        owner = np.full(len(boxes), -1, dtype=np.int64)
        single = hits[cells] == 1
        c1, p1 = cells[single], poly[single]
        inside = _contains_properly(self.geoms, p1, boxes[c1])
        owner[c1[inside]] = p1[inside]
        test = (hits > 0) & (owner < 0)
        near = np.zeros(len(boxes), dtype=bool)
        if tolerance_m > 0:
            near[tree.query(self._ring(tolerance_m), predicate="intersects")] = True
            near &= owner < 0
        self._grids = {key: (owner, test, near)}  # one lattice at a time
        return self._grids[key]

    def locate(
        self, pts: _Points, tolerance_m: float, polygons: gpd.GeoDataFrame,
        lattice: _Lattice | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Index of the polygon holding or nearest each point, the method code and the distance (km).

        Points without geometry get index -1 and method code -1; method codes
        index :data:`_METHODS`. ``polygons`` is the planar frame the index was
        built from (for the tie-breaking fallback); with a ``lattice`` (for
        large inputs) most points are classified by their grid cell.
        """
        index = np.full(pts.n, -1, dtype=np.int64)
        if lattice is not None:
            owner, test, near = self._grid(lattice, tolerance_m)
            known, cell = lattice.cells(pts)
            index[known] = owner[cell[known]]
            self._contains(pts, np.flatnonzero(known & test[cell]), index)
            left = np.flatnonzero(known & (index < 0) & near[cell])
        else:
            self._contains(pts, np.flatnonzero(pts.present), index)
            left = np.flatnonzero(pts.present & (index < 0))
        if tolerance_m > 0 and len(left) > 1000:
            x, y = pts.planar(left)
            left = left[shapely.contains_xy(self._ring(tolerance_m), x, y)]
        method = np.where(index >= 0, 0, np.where(pts.present, 2, -1)).astype(np.int8)
        distance = np.where(index >= 0, 0.0, np.nan)  # km, as in _nearest_index
        if tolerance_m > 0 and len(left):
            self._nearest(pts, left, tolerance_m, polygons, index, method, distance)
        return index, method, distance

    def _contains(self, pts: _Points, rows: np.ndarray, index: np.ndarray) -> None:
        """Point in polygon for ``rows``, first polygon wins; writes into ``index``."""
        if not len(rows):
            return
        x, y = pts.planar(rows)
        order = np.argsort(x, kind="stable")
        rows, xs, ys = rows[order], x[order], y[order]
        found = np.full(len(rows), -1, dtype=np.int64)
        for i, (geom, (x0, y0, x1, y1)) in enumerate(zip(self.geoms, self.bounds)):
            if geom is None or np.isnan(x0):
                continue
            a, b = np.searchsorted(xs, x0, "left"), np.searchsorted(xs, x1, "right")
            if a >= b:
                continue
            sel = np.flatnonzero((ys[a:b] >= y0) & (ys[a:b] <= y1)) + a
            sel = sel[found[sel] < 0]
            if len(sel):
                found[sel[shapely.contains_xy(geom, xs[sel], ys[sel])]] = i
        index[rows] = found

    def _nearest(self, pts: _Points, left, tolerance_m, polygons, index, method, distance) -> None:
        """Nearest polygon within the tolerance for the points ``left``; writes the results."""
        seg, owner, lines, tree = self._segment_index()
        px, py = pts.planar(left)
        pi, si = tree.query(shapely.box(px - tolerance_m, py - tolerance_m,
                                        px + tolerance_m, py + tolerance_m))
        if not len(pi):
            return
        approx = _point_segment_distance(px[pi], py[pi], seg[si])
        best = np.full(len(left), np.inf)
        np.minimum.at(best, pi, approx)
        keep = (approx <= best[pi] + 1e-3) & (approx <= tolerance_m + 1e-3)
        pi, si = pi[keep], si[keep]
        exact = shapely.distance(shapely.points(px[pi], py[pi]), lines[si])
        best = np.full(len(left), np.inf)
        np.minimum.at(best, pi, exact)
        on_best = (exact == best[pi]) & (exact <= tolerance_m)
        pi, own = pi[on_best], owner[si[on_best]]
        first = np.full(len(left), -1, dtype=np.int64)
        first[pi[::-1]] = own[::-1]
        tie = np.zeros(len(left), dtype=bool)
        tie[pi[own != first[pi]]] = True
        unique = (first >= 0) & ~tie
        rows = left[unique]
        index[rows] = first[unique]
        method[rows] = 1
        distance[rows] = best[unique] / 1000.0
        if tie.any():  # equidistant from two polygons: the polygon tree breaks the tie, as before
            rows = left[tie]
            (qi, ti), dd = self._polygon_tree().query_nearest(
                shapely.points(*pts.planar(rows)), max_distance=tolerance_m,
                return_distance=True, all_matches=True)
            first = np.unique(qi, return_index=True)[1]  # sjoin_nearest keeps the first match
            index[rows[qi[first]]] = ti[first]
            method[rows[qi[first]]] = 1
            distance[rows[qi[first]]] = dd[first] / 1000.0


def _block_reduce(a: np.ndarray, k: int, op) -> np.ndarray:
    """Reduce the (k+1)x(k+1) lattice blocks of ``a`` (overlapping by one) to one value per cell."""
    ny, nx = (a.shape[0] - 1) // k, (a.shape[1] - 1) // k
    out = None
    for dy in range(k + 1):
        for dx in range(k + 1):
            part = a[dy:dy + ny * k:k, dx:dx + nx * k:k]
            out = part if out is None else op(out, part)
    return out


def _contains_properly(geoms: np.ndarray, poly: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``geoms[poly[k]]`` properly contains ``boxes[k]``, vectorised per polygon."""
    out = np.zeros(len(poly), dtype=bool)
    if not len(poly):
        return out
    order = np.argsort(poly, kind="stable")
    starts = np.flatnonzero(np.r_[True, poly[order][1:] != poly[order][:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(order)]):
        rows = order[a:b]
        out[rows] = shapely.contains_properly(geoms[poly[rows[0]]], boxes[rows])
    return out


def _point_segment_distance(px: np.ndarray, py: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Planar distance from points to segments, vectorised (to prune; GEOS gives the value)."""
    ax, ay = seg[:, 0, 0], seg[:, 0, 1]
    dx, dy = seg[:, 1, 0] - ax, seg[:, 1, 1] - ay
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(((px - ax) * dx + (py - ay) * dy) / len2, 0.0, 1.0)
    r = np.where(len2 > 0, r, 0.0)
    return np.hypot(px - ax - r * dx, py - ay - r * dy)


def _method_codes(methods: np.ndarray) -> np.ndarray:
    """``within``/``nearest``/``outside``/None as codes 0/1/2/-1 (indices into _METHODS)."""
    lookup = {"within": 0, "nearest": 1, "outside": 2}
    return np.array([lookup.get(m, -1) for m in methods], dtype=np.int8)


def _admin_frame(
    index: pd.Index,
    p_idx: np.ndarray, p_method: np.ndarray, p_dist_km: np.ndarray,
    prov: gpd.GeoDataFrame, cnty: gpd.GeoDataFrame, c_idx: np.ndarray,
) -> pd.DataFrame:
    def pick(values: pd.Series, idx: np.ndarray):
        if isinstance(values.dtype, pd.StringDtype):
            return values.array.take(idx, allow_fill=True)  # same column, without re-inferring
        objects = values.to_numpy(dtype=object)
        return np.where(idx >= 0, objects[np.clip(idx, 0, None)], None)

    out = pd.DataFrame(
        {
            "province": pick(prov["name_en"], p_idx),
            "county": pick(cnty["name_en"], c_idx),
            "county_ko": pick(cnty["name_ko"], c_idx),
            "county_id": pick(cnty["county_id"], c_idx),
            "admin_method": pick(pd.Series(_METHODS, dtype="str"), p_method),
            "admin_distance_km": np.round(p_dist_km, 3),
        }
    )
    out.index = index
    return out


class AdminUnits:
    """Provinces and counties projected and indexed once, reused by every join.

    Parameters
    ----------
    grid_from : int
        Inputs of at least this many points are classified on a grid first;
        building it takes ~0.5 s, repaid from a few hundred thousand points
        (or at once when the units are cached, as :func:`assign_admin` does).
    """

    def __init__(self, provinces: gpd.GeoDataFrame, counties: gpd.GeoDataFrame,
                 grid_from: int = 300_000):
        self.prov = provinces.to_crs(PLANAR_CRS).reset_index(drop=True)
        self.cnty = counties.to_crs(PLANAR_CRS).reset_index(drop=True)
        self.prov_index = _PolygonIndex(self.prov.geometry.values)
        self.cnty_index = _PolygonIndex(self.cnty.geometry.values)
        self._lonlat_bounds = np.vstack([provinces.geometry.to_crs(4326).bounds.to_numpy(),
                                         counties.geometry.to_crs(4326).bounds.to_numpy()])
        self.grid_from = grid_from
        self._lattice: tuple[float, _Lattice] | None = None

    def lattice(self, tolerance_m: float) -> _Lattice:
        if self._lattice is None or self._lattice[0] != tolerance_m:
            self._lattice = (tolerance_m, _Lattice(self._lonlat_bounds, tolerance_m))
        return self._lattice[1]

    def join(self, gdf: gpd.GeoDataFrame, tolerance_km: float) -> pd.DataFrame:
        if gdf.crs is None:
            raise InputError("the points have no CRS: set one (e.g. gdf.set_crs(4326))")
        values = np.asarray(gdf.geometry.values, dtype=object)
        kind = shapely.get_type_id(values)  # -1 for None
        if not np.isin(kind, (-1, 0)).all():  # lines or polygons: the general sjoin path
            pts = gdf.geometry.to_crs(PLANAR_CRS).reset_index(drop=True)
            p_idx, p_method, p_dist = _nearest_index(pts, self.prov, tolerance_km)
            c_idx, _, _ = _nearest_index(pts, self.cnty, tolerance_km)
            return _admin_frame(gdf.index, p_idx, _method_codes(p_method), p_dist,
                                self.prov, self.cnty, c_idx)
        present = kind == 0
        present[present] = ~shapely.is_empty(values[present])
        pts = _Points(gdf.geometry, values, present)
        tol_m = tolerance_km * 1000.0
        lattice = self.lattice(tol_m) if present.sum() >= self.grid_from else None
        p_idx, p_method, p_dist = self.prov_index.locate(pts, tol_m, self.prov, lattice)
        c_idx = self.cnty_index.locate(pts, tol_m, self.cnty, lattice)[0]
        return _admin_frame(gdf.index, p_idx, p_method, p_dist, self.prov, self.cnty, c_idx)


def join_admin(
    gdf: gpd.GeoDataFrame,
    provinces: gpd.GeoDataFrame,
    counties: gpd.GeoDataFrame,
    tolerance_km: float = TOLERANCE_KM,
) -> pd.DataFrame:
    """Province and county of each point, by spatial join.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Points in any CRS; empty or missing geometries get empty results.
    provinces : geopandas.GeoDataFrame
        The ``provinces`` layer (``name_en`` is the report's province name).
    counties : geopandas.GeoDataFrame
        The ``counties`` layer (``county_id``, ``name_en``, ``name_ko``).
    tolerance_km : float, default 5.0
        How far outside every polygon a point may lie and still be assigned
        to the nearest one.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``gdf``, with the columns of :data:`ADMIN_COLUMNS`.
        ``admin_method`` is ``within``, ``nearest`` or ``outside`` (for the
        province; the county is matched the same way), ``admin_distance_km``
        the distance to the province when ``nearest``.

    Examples
    --------
    >>> import geopandas as gpd, shapely, atlas
    >>> pts = gpd.GeoDataFrame(geometry=[shapely.Point(126.05, 39.57)], crs=4326)
    >>> atlas.assign_admin(pts)["province"].iloc[0]
    'South Pyongan Province'
    """
    return AdminUnits(provinces, counties).join(gdf, tolerance_km)


def admin_units(atlas: Atlas) -> AdminUnits:
    """The provinces and counties of an atlas, projected and indexed once per atlas."""
    return atlas.memo("admin_units", lambda: AdminUnits(atlas.layer("provinces"), atlas.layer("counties"),
                                                        grid_from=20_000))


def _is_dask(gdf) -> bool:
    return type(gdf).__module__.split(".")[0] == "dask_geopandas"


# The cached boundary index is shared by the threads of one process, and GEOS prepared geometries
# and pyproj transformers are not safe to use from two threads at once: partitions joined in one
# process take turns. Processes (dask's "processes" scheduler, a dask.distributed cluster) each
# hold their own index and run in parallel.
_PARTITION_LOCK = threading.Lock()


def _assign_partition(part: gpd.GeoDataFrame, gpkg: str, tolerance_km: float) -> gpd.GeoDataFrame:
    with _PARTITION_LOCK:
        return assign_admin(part, gpkg, tolerance_km)


def _assign_admin_dask(gdf, atlas: Atlas, tolerance_km: float):
    """assign_admin, partition by partition, on a dask-geopandas GeoDataFrame (lazy)."""
    path = str(atlas.file("assign_admin on a dask GeoDataFrame").resolve())  # each worker opens it
    meta = assign_admin(gdf._meta, atlas, tolerance_km)  # a clear error now: no CRS
    return gdf.map_partitions(_assign_partition, path, tolerance_km, meta=meta)


def assign_admin(
    gdf: gpd.GeoDataFrame,
    gpkg: Atlas | Path | str | None = None,
    tolerance_km: float = TOLERANCE_KM,
) -> gpd.GeoDataFrame:
    """Add province and county to any GeoDataFrame, by spatial join with the atlas boundaries.

    The same join the build uses (:func:`join_admin`): points are located in
    EPSG:5179 against the ``provinces`` (Natural Earth v5.1) and ``counties``
    (OpenStreetMap 2020) layers of the GeoPackage; a point in no polygon but
    within ``tolerance_km`` of one goes to the nearest and is flagged
    ``admin_method="nearest"`` with its distance; farther, ``"outside"``.
    The boundaries are read and indexed once per GeoPackage version, so
    repeated calls are fast (10^6 points in about a second, see docs/scale.md).

    Past one machine's memory, pass a ``dask_geopandas.GeoDataFrame`` (the
    ``dask`` extra: ``pip install -e '.[dask]'``), e.g. read from partitioned
    GeoParquet with ``dask_geopandas.read_parquet``: each partition is joined
    the same way, lazily, and the result equals the in-memory one.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or dask_geopandas.GeoDataFrame
        Points (or other geometries) in any CRS; rows without geometry get
        empty results.
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas (:func:`atlas.store.open_atlas`); defaults to ``output/atlas.gpkg``.
    tolerance_km : float, default 5.0
        How far outside every polygon a point may lie and still be assigned
        to the nearest unit.

    Returns
    -------
    geopandas.GeoDataFrame or dask_geopandas.GeoDataFrame
        A copy of ``gdf`` (same index, CRS and columns) with the columns of
        :data:`ADMIN_COLUMNS` added or replaced: ``province``, ``county``,
        ``county_ko``, ``county_id``, ``admin_method`` (``within``,
        ``nearest``, ``outside``; of the province) and ``admin_distance_km``.
        Given a dask-geopandas frame, a lazy one (call ``.compute()`` or
        write it with ``.to_parquet()``).

    Raises
    ------
    InputError
        ``gdf`` is not a GeoDataFrame, has no CRS, or the tolerance is negative.
    NotFoundError
        No GeoPackage at ``gpkg``.

    Examples
    --------
    >>> import geopandas as gpd, shapely, atlas
    >>> pts = gpd.GeoDataFrame({"name": ["near Kaechon", "Yellow Sea"]},
    ...                        geometry=[shapely.Point(126.05, 39.57), shapely.Point(124.0, 38.0)],
    ...                        crs="EPSG:4326")
    >>> out = atlas.assign_admin(pts)
    >>> out["province"].tolist()[0], out["admin_method"].tolist()
    ('South Pyongan Province', ['within', 'outside'])
    >>> bool(out["province"].isna().iloc[1])
    True
    """
    if not tolerance_km >= 0:
        raise InputError(f"tolerance_km must be 0 or more, not {tolerance_km!r}")
    atlas = open_atlas(gpkg)
    if _is_dask(gdf):
        return _assign_admin_dask(gdf, atlas, float(tolerance_km))
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"assign_admin needs a GeoDataFrame, not {type(gdf).__name__}")
    admin = admin_units(atlas).join(gdf, float(tolerance_km))
    out = gdf.copy()
    for col in ADMIN_COLUMNS:
        out[col] = admin[col].array
    return out
