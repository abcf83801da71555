"""Distance queries: what lies near a site, measured on the ellipsoid through a spatial index.

:func:`near`, :func:`nearest` and :func:`within`. A spatial index in
EPSG:5179 (Korea 2000 Unified CS, valid over the whole peninsula) finds the
candidates within the radius grown by the projection's largest scale factor
over the search area, so no feature within the radius is missed; the
distances are then measured on the WGS 84 ellipsoid with
:class:`pyproj.Geod`. For a polygon (a deposit region, a county) the
distance is to its nearest point (0 inside it): that point is found in
EPSG:5179 (edges cut to :data:`EDGE_DEGREES` first, as an edge is straight in
longitude/latitude) and the distance to it measured on the ellipsoid: equal
to a densified geodesic oracle to well under a metre (tests/test_shapes.py). A layer's index is built once per opened atlas
(:func:`atlas.store.open_atlas`), so repeated queries in one process are fast.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod, Proj, Transformer

from .admin import PLANAR_CRS
from .coordinates import parse_lat_lon
from .errors import InputError, NoGeometryError, NotFoundError
from .formats import Report, format_table
from .i18n import gettext
from .provenance import about
from .search import resolve
from .sites import Site, site_area_km2, uniform_columns
from .store import USER_PREFIX, Atlas, open_atlas
from .userlayers import PRIVATE_NOTE, mark_private, private_names, user_layer_records

__all__ = ["NEAR_COLUMNS", "SpatialIndex", "layer_columns", "near", "near_report", "nearest", "within"]

GEOD = Geod(ellps="WGS84")
#: Longest edge (degrees, ~1 km) of a line or polygon projected for measuring: an edge is straight in
#: longitude/latitude (as GeoJSON, the GeoPackage and shapely take it), a curve in EPSG:5179 that
#: edges of this length follow to a few centimetres (a 15 km edge strays by metres).
EDGE_DEGREES = 0.01
#: The columns :func:`near` returns, whatever the layer (plus ``geometry``).
NEAR_COLUMNS = [
    "id", "name", "kind", "commodity", "precision", "location_precision", "source",
    "province", "county", "distance_km", "bearing_deg", "lon", "lat", "site_id", "site_precision",
]


# --- the spatial index ------------------------------------------------------------------------


_PROJ: Proj | None = None


def _max_scale(lon0: float, lat0: float, lon1: float, lat1: float) -> float | None:
    """Largest EPSG:5179 scale factor over a lon/lat box; None where the projection is unfit.

    The Transverse Mercator scale grows with the distance from the central
    meridian (127.5°E) and towards the equator, so its largest value over the
    box is on the box's edge: evaluated on the corners and edge points.
    """
    global _PROJ
    if not (-80 <= lat0 <= lat1 <= 84) or max(abs(lon0 - 127.5), abs(lon1 - 127.5)) > 20:
        return None
    if _PROJ is None:
        _PROJ = Proj(PLANAR_CRS)
    lons = np.r_[np.linspace(lon0, lon1, 9), np.full(9, lon0), np.full(9, lon1), np.linspace(lon0, lon1, 9)]
    lats = np.r_[np.full(9, lat0), np.linspace(lat0, lat1, 9), np.linspace(lat0, lat1, 9), np.full(9, lat1)]
    f = _PROJ.get_factors(lons, lats)
    k = np.maximum(np.asarray(f.meridional_scale), np.asarray(f.parallel_scale))
    return float(np.max(k)) * (1 + 1e-6)


def _search_box(geom, km: float) -> tuple[float, float, float, float]:
    """A lon/lat box holding every point within ``km`` (on the ellipsoid) of ``geom``."""
    x0, y0, x1, y1 = geom.bounds
    dlat = km / 110.5 + 1e-6  # a degree of latitude is at least 110.57 km
    lat_far = min(89.9, max(abs(y0), abs(y1)) + dlat)
    dlon = km / (111.0 * max(math.cos(math.radians(lat_far)), 1e-3)) + 1e-6
    return x0 - dlon, max(-90.0, y0 - dlat), x1 + dlon, min(90.0, y1 + dlat)


class SpatialIndex:
    """A layer ready for radius and nearest-neighbour queries measured on the ellipsoid.

    Candidates come from an STRtree in EPSG:5179; a radius is grown by the
    projection's largest scale factor over the search box, so the candidate
    set holds every feature within the radius (the planar distance never
    exceeds that factor times the geodesic one). Distances are then measured
    with ``pyproj.Geod(ellps="WGS84").inv``: to the point itself for point
    features, to the nearest point (found in EPSG:5179) for lines and
    polygons, 0 inside them. Outside the projection's useful area (more than
    20° from 127.5°E) every feature is measured.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Any geometries in any CRS; rows without geometry are kept in
        ``frame`` but never returned by a query.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from atlas.distance import SpatialIndex
    >>> pts = gpd.GeoDataFrame(geometry=[shapely.Point(126.0, 39.6), shapely.Point(126.5, 39.6)],
    ...                        crs="EPSG:4326")
    >>> idx = SpatialIndex(pts)
    >>> rows, dist_m, bearing, _, _ = idx.query(shapely.Point(126.0, 39.6), km=10)
    >>> rows.tolist(), round(float(dist_m[0]), 1)
    ([0], 0.0)
    """

    def __init__(self, gdf: gpd.GeoDataFrame):
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise InputError(f"a layer to search must be a GeoDataFrame, not {type(gdf).__name__}")
        if gdf.crs is None:
            raise InputError("the layer has no CRS: set one (e.g. gdf.set_crs(4326))")
        self.frame = gdf
        geoms = gdf.geometry if gdf.crs.to_epsg() == 4326 else gdf.geometry.to_crs(4326)
        values = np.asarray(geoms.values, dtype=object)
        self.values = values  # EPSG:4326, every row
        self._uniform: dict[str, dict] = {}
        present = ~(shapely.is_missing(values) | shapely.is_empty(values))
        self.rows = np.flatnonzero(present)
        self.n_without_geometry = int((~present).sum())
        self.geoms = values[self.rows]
        self.points_only = bool((shapely.get_type_id(self.geoms) == 0).all())
        to_planar = Transformer.from_crs("EPSG:4326", PLANAR_CRS, always_xy=True)
        self._to_lonlat = Transformer.from_crs(PLANAR_CRS, "EPSG:4326", always_xy=True)
        if self.points_only:
            xy = shapely.get_coordinates(self.geoms)
            self.lon, self.lat = xy[:, 0], xy[:, 1]
            x, y = to_planar.transform(self.lon, self.lat)
            self.planar = shapely.points(x, y)
        else:  # edges are straight in lon/lat: cut to ~1 km before projecting, so the planar ones follow them
            self.lon = self.lat = None
            geoms = self.geoms.copy()
            box = shapely.bounds(geoms)
            long = np.flatnonzero(np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]) > EDGE_DEGREES)
            geoms[long] = shapely.segmentize(geoms[long], EDGE_DEGREES)  # a building has no such edge
            self.planar = shapely.transform(geoms, lambda c: np.column_stack(to_planar.transform(c[:, 0], c[:, 1])))
        self._to_planar = to_planar
        self.tree = shapely.STRtree(self.planar)

    def __len__(self) -> int:
        return len(self.rows)

    def uniform(self, layer: str) -> dict[str, np.ndarray]:
        """The uniform columns of every row (see :data:`NEAR_COLUMNS`), computed once."""
        if layer not in self._uniform:
            self._uniform[layer] = uniform_columns(layer, self.frame)
        return self._uniform[layer]

    def _site_planar(self, site):
        return shapely.transform(site, lambda c: np.column_stack(
            self._to_planar.transform(c[:, 0], c[:, 1])))

    def _measure(self, site, site_planar, cand: np.ndarray):
        """Geodesic distance (m), bearing (°) and the point measured to, for tree positions."""
        n = len(cand)
        if site.geom_type == "Point" and self.points_only:
            lon2, lat2 = self.lon[cand], self.lat[cand]
            az, _, dist = GEOD.inv(np.full(n, site.x), np.full(n, site.y), lon2, lat2)
            return np.asarray(dist), np.asarray(az), lon2, lat2
        planar = self.planar[cand]
        inside = shapely.intersects(site_planar, planar)
        out = ~inside
        lon1, lat1 = np.full(n, np.nan), np.full(n, np.nan)
        lon2, lat2 = np.full(n, np.nan), np.full(n, np.nan)
        if out.any():
            lines = shapely.shortest_line(np.full(int(out.sum()), site_planar, dtype=object), planar[out])
            ends = shapely.get_coordinates(lines).reshape(-1, 2, 2)
            lon1[out], lat1[out] = self._to_lonlat.transform(ends[:, 0, 0], ends[:, 0, 1])
            lon2[out], lat2[out] = self._to_lonlat.transform(ends[:, 1, 0], ends[:, 1, 1])
        if site.geom_type == "Point":  # measure from the site itself, not its round trip
            lon1[:], lat1[:] = site.x, site.y
        if self.points_only:  # and to the feature's own point
            lon2[:], lat2[:] = self.lon[cand], self.lat[cand]
        if inside.any() and not self.points_only:  # the point measured to: on both
            if site.geom_type == "Point":
                lon2[inside], lat2[inside] = site.x, site.y
            else:
                common = shapely.intersection(site, self.geoms[cand[inside]])
                rep = shapely.get_coordinates(shapely.point_on_surface(common))
                lon2[inside], lat2[inside] = rep[:, 0], rep[:, 1]
        dist = np.zeros(n)
        az = np.full(n, np.nan)
        if out.any():
            a, _, d = GEOD.inv(lon1[out], lat1[out], lon2[out], lat2[out])
            dist[out], az[out] = d, a
        return dist, az, lon2, lat2

    def query(self, site, km: float):
        """Every feature within ``km`` of ``site`` (EPSG:4326), nearest first.

        Parameters
        ----------
        site : shapely geometry
            In EPSG:4326.
        km : float
            Radius on the ellipsoid.

        Returns
        -------
        tuple of numpy.ndarray
            Row positions in ``frame``, distances (m), bearings from the site
            (degrees clockwise from north, NaN at distance 0), and the lon/lat
            of the point each distance was measured to.
        """
        km = float(km)
        if not km >= 0 or not math.isfinite(km):
            raise InputError(f"the radius must be a finite number of km, 0 or more, not {km!r}")
        site_planar = self._site_planar(site)
        kmax = _max_scale(*_search_box(site, km))
        if kmax is None or not len(self.rows):
            cand = np.arange(len(self.rows))
        else:
            radius = km * 1000.0 * kmax + 0.01
            cand = self.tree.query(site_planar, predicate="dwithin", distance=radius)
        dist, az, lon2, lat2 = self._measure(site, site_planar, cand)
        keep = dist <= km * 1000.0
        cand, dist, az, lon2, lat2 = cand[keep], dist[keep], az[keep], lon2[keep], lat2[keep]
        order = np.lexsort((cand, dist))
        az = np.where(dist[order] > 0, np.mod(az[order], 360.0), np.nan)
        return self.rows[cand[order]], dist[order], az, lon2[order], lat2[order]

    def nearest(self, site, k: int = 5, exclude: set | None = None):
        """The ``k`` features nearest ``site`` on the ellipsoid (ties by row order).

        Grows a radius until it holds ``k`` features: every feature within a
        radius is found, so the ``k`` nearest of them are the ``k`` nearest of all.

        Parameters
        ----------
        site : shapely geometry
            In EPSG:4326.
        k : int
        exclude : set of int, optional
            Row positions never to return (the site itself).

        Returns
        -------
        tuple of numpy.ndarray
            As :meth:`query`.
        """
        if int(k) < 1:
            raise InputError(f"k must be 1 or more, not {k!r}")
        excluded = np.array(sorted(exclude or ()), dtype=np.int64)
        excluded = excluded[np.isin(excluded, self.rows)]
        want = min(int(k), len(self.rows) - len(excluded))
        km = 10.0
        while True:
            res = self.query(site, km)
            if len(excluded):
                res = tuple(a[~np.isin(res[0], excluded)] for a in res)
            if len(res[0]) >= want or km > 40_000:
                return tuple(a[: int(k)] for a in res)
            km *= 4


def layer_index(atlas: Atlas, layer: str) -> SpatialIndex:
    """The spatial index of a layer of an atlas, built once per atlas."""
    layer = atlas.layer_name(layer)
    available = atlas.layers()
    if layer not in available:
        geo = sorted(n for n, g in available.items() if g)
        raise NotFoundError(f"no layer {layer!r} in the atlas; layers with geometry: " + ", ".join(geo))
    if available[layer] is None:
        raise InputError(f"layer {layer!r} is a table without geometry: nothing to measure")
    return atlas.memo(("spatial_index", layer), lambda: SpatialIndex(atlas.layer(layer)))


def _open(gpkg, site, layer) -> Atlas | None:
    """The atlas, opened once, when the query needs one (a name to resolve, a layer by name)."""
    return open_atlas(gpkg) if isinstance(site, str) or isinstance(layer, str) or isinstance(gpkg, Atlas) \
        else None


def _site_geometry(site, atlas: Atlas | None, site_layer) -> Site:
    if isinstance(site, Site):
        s = site
    elif isinstance(site, shapely.Geometry):
        s = Site("coordinates", site.wkt if site.geom_type != "Point" else f"{site.y:.6f},{site.x:.6f}",
                 "a location given as coordinates", "", site, "as given", "",
                 "A location given by the user (EPSG:4326).")
    elif isinstance(site, tuple | list) and len(site) == 2 and all(
            isinstance(v, int | float | np.floating) for v in site):
        lon, lat = float(site[0]), float(site[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InputError(f"({lon}, {lat}) is not a (lon, lat) pair in degrees")
        return _site_geometry(shapely.Point(lon, lat), atlas, site_layer)
    elif isinstance(site, str) and (pair := _lat_lon(site)) is not None:
        lat, lon = pair  # as people write a point: latitude first (the answer says so)
        return Site("coordinates", f"{lat:.6f},{lon:.6f}",
                    f"the point latitude {lat:g}, longitude {lon:g} (read latitude first)", "",
                    shapely.Point(lon, lat), "as given", "",
                    "A location given by the user as latitude, longitude (EPSG:4326).")
    elif isinstance(site, str):
        s = resolve(site, atlas, [site_layer] if isinstance(site_layer, str) else site_layer)
    else:
        raise InputError(f"a site is a name, an id, a (lon, lat) pair or a shapely geometry, "
                         f"not {type(site).__name__}")
    if s.geometry is None:
        raise NoGeometryError(f"{s.id} ({s.name}) has no geometry: {s.note}")
    return s


def _lat_lon(text: str) -> tuple[float, float] | None:
    try:
        return parse_lat_lon(text)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _target(layer, atlas: Atlas | None) -> tuple[str, SpatialIndex]:
    if isinstance(layer, SpatialIndex):
        return "features", layer
    if isinstance(layer, gpd.GeoDataFrame):
        return "features", SpatialIndex(layer)
    if not isinstance(layer, str):
        raise InputError(f"layer is a layer name or a GeoDataFrame, not {type(layer).__name__}")
    layer = atlas.layer_name(layer)  # --as NAME: user_NAME
    return layer, layer_index(atlas, layer)


def _result(layer_name: str, idx: SpatialIndex, site: Site, res, own_columns: bool) -> gpd.GeoDataFrame:
    rows, dist, az, lon2, lat2 = res
    if own_columns:
        out = idx.frame.iloc[rows].copy()
        out["distance_km"] = dist / 1000.0
        out["bearing_deg"] = az
    else:
        uniform = idx.uniform(layer_name)
        cols = {c: uniform[c][rows] for c in NEAR_COLUMNS[:9]}
        cols.update(distance_km=dist / 1000.0, bearing_deg=az, lon=lon2, lat=lat2,
                    site_id=np.full(len(rows), site.id, dtype=object),
                    site_precision=np.full(len(rows), site.precision, dtype=object))
        out = gpd.GeoDataFrame(cols, geometry=idx.values[rows], crs="EPSG:4326")
    out.attrs.update({
        "site": site.describe(), "site_id": site.id, "site_name": site.name,
        "site_layer": site.layer, "site_precision": site.precision, "layer": layer_name,
        "features_without_geometry": idx.n_without_geometry,
        "method": ("candidates from an STRtree in EPSG:5179 (radius grown by the projection's "
                   "largest scale factor), distances on the WGS 84 ellipsoid (pyproj.Geod)"),
    })
    return out


def _drop_self(layer_name: str, idx: SpatialIndex, site: Site, res):
    if site.layer != layer_name:
        return res
    keep = idx.uniform(layer_name)["id"][res[0]] != site.id
    return tuple(a[keep] for a in res)


def near(
    site: str | Site | tuple | shapely.Geometry,
    km: float = 25.0,
    layer: str | gpd.GeoDataFrame | SpatialIndex = "mines",
    gpkg: Atlas | Path | str | None = None,
    site_layer: str | None = None,
    from_points: str = "site",
) -> gpd.GeoDataFrame:
    """Every feature of a layer within ``km`` of a site, nearest first.

    Distances are geodesic on WGS 84 (``pyproj.Geod``); candidates come from
    a spatial index in EPSG:5179 with a margin that cannot miss one (see
    :class:`SpatialIndex`). The site itself is left out when it belongs to
    the layer searched.

    Parameters
    ----------
    site : str, Site, (lon, lat) or shapely geometry
        A name or id resolved with :func:`resolve` (it must be unambiguous),
        or a location in EPSG:4326.
    km : float, default 25
        The radius.
    layer : str, geopandas.GeoDataFrame or SpatialIndex, default "mines"
        A layer of the atlas (``mines``, ``named_mines``, ``camps``,
        ``mineral_deposits``, ``counties``, a ``user_`` layer, ...) or your
        own features.
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas (a GeoPackage, a PostGIS URL or an open :class:`~atlas.store.Atlas`);
        defaults to ``output/atlas.gpkg``.
    site_layer : str, optional
        Resolve the site in this layer only (``Yodok`` → the camp with
        ``site_layer="camps"``).
    from_points : {"site", "all"}, default "site"
        ``"all"``: measure from every published coordinate of the site (a
        camp's point and each of its ``coordinate_candidates``); each feature
        keeps its shortest distance, and ``from_point`` says which point gave
        it (``atlas point`` or the candidate's id and source).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`NEAR_COLUMNS` and ``geometry``: the feature's ``id``,
        ``name``, ``kind``, ``commodity``, ``precision``,
        ``location_precision``, ``source``, ``province``, ``county``,
        ``distance_km``, ``bearing_deg`` (from the site, clockwise from
        north; NaN at 0 km), ``lon``/``lat`` of the point measured to, and
        the site's id and precision. ``attrs["site"]`` says what the site's
        location means (a kwan-li-so point marks one spot in a camp of
        hundreds of km²).

    Raises
    ------
    NoGeometryError
        The site has no public coordinate (e.g. ``KLS-18T``).
    AmbiguousError, NotFoundError
        The site name does not resolve to exactly one feature.
    InputError
        A negative radius, an unknown layer.

    Examples
    --------
    >>> import atlas
    >>> mines = atlas.near("KLS-14", km=25)
    >>> bool(mines["distance_km"].is_monotonic_increasing and (mines["distance_km"] <= 25).all())
    True
    >>> "camp" in mines.attrs["site"]
    True
    """
    atlas = _open(gpkg, site, layer)
    if from_points == "all":
        return _from_every_point(site, atlas, site_layer, lambda p: _radius_query(
            p, km, layer, atlas, None, own_columns=False), keep=None)
    _check_from(from_points)
    return _radius_query(site, km, layer, atlas, site_layer, own_columns=False)


FROM_POINTS = ("site", "all")


def _check_from(from_points: str) -> None:
    if from_points not in FROM_POINTS:
        raise InputError(f"from_points is 'site' or 'all', not {from_points!r}")


def site_points(s: Site, atlas: Atlas | None) -> list[tuple[str, Site]]:
    """Every published coordinate of a site: its own point, then each coordinate candidate (camps)."""
    points = [("atlas point", s)]
    if atlas is None or s.layer != "camps" or not atlas.has("coordinate_candidates"):
        return points
    cands = atlas.layer("coordinate_candidates")
    cands = cands[cands["site_id"].astype(str) == s.id]
    for c in cands.itertuples():
        if c.geometry is None or c.geometry.is_empty or bool(getattr(c, "is_atlas_point", False)):
            continue
        label = f"{c.candidate_id} ({c.source})"
        points.append((label, replace(s, geometry=c.geometry, attrs={})))
    return points


def _from_every_point(site, atlas: Atlas | None, site_layer, query, keep: int | None) -> gpd.GeoDataFrame:
    """A query from every published point of a site: each feature at its shortest distance, with the
    point that gave it (``from_point``); ``keep`` rows at most (nearest), else all."""
    s = _site_geometry(site, atlas, site_layer)
    parts = []
    for label, point in site_points(s, atlas):
        part = query(point)
        parts.append(part.assign(from_point=label))
    first = parts[0]
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else first
    out = out.sort_values(["distance_km", "from_point"], kind="stable").drop_duplicates("id", keep="first")
    if keep is not None:
        out = out.head(keep)
    out = gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=first.crs)
    out.attrs = {**first.attrs, "from_points": [label for label, _ in site_points(s, atlas)]}
    if len(out):
        out.attrs.pop("nearest_beyond_radius", None)
    return out


#: A user layer of more features than this is read around the site only (through the GeoPackage's
#: spatial index), never whole, by :func:`near` and :func:`within`.
LARGE_LAYER = 100_000


def around(atlas: Atlas, name: str, point: shapely.Point, km: float) -> gpd.GeoDataFrame:
    """The features of a layer in a box around ``point`` that holds every one within ``km`` (geodesic).

    A GeoPackage reads them through its spatial index (a million-point layer is never
    read whole); a store that cannot (PostGIS) reads the layer.
    """
    lat = float(point.y)
    dlat = km / 110.5 + 0.01  # a degree of latitude is at least 110.5 km
    dlon = km / (111.0 * max(math.cos(math.radians(min(abs(lat) + dlat, 89.0))), 0.01)) + 0.01
    box = (float(point.x) - dlon, lat - dlat, float(point.x) + dlon, lat + dlat)
    try:
        return atlas.read(name, bbox=box)
    except InputError:
        return atlas.read(name)


def _large_user_layer(layer, atlas: Atlas | None) -> str | None:
    """The name of a large user layer in a GeoPackage that ``layer`` names, else None."""
    if not isinstance(layer, str) or atlas is None:
        return None
    name = atlas.layer_name(layer)
    if not name.startswith(USER_PREFIX) or atlas.store_of(name).path is None:
        return None
    return name if atlas.tally(name, "")[0] > LARGE_LAYER else None


def _radius_query(site, km, layer, atlas: Atlas | None, site_layer, own_columns: bool) -> gpd.GeoDataFrame:
    """Every feature of ``layer`` within ``km`` of ``site``, nearest first (near and within)."""
    s = _site_geometry(site, atlas, site_layer)
    large = _large_user_layer(layer, atlas)
    if large:  # only the features around the site, read through the spatial index
        name, idx = large, SpatialIndex(around(atlas, large, s.geometry, km))
        n, located, _ = atlas.tally(large, "")
        idx.n_without_geometry = n - located
    else:
        name, idx = _target(layer, atlas)
    res = _drop_self(name, idx, s, idx.query(s.geometry, km))
    out = _result(name, idx, s, res, own_columns=own_columns)
    out.attrs["km"] = float(km)
    if not len(out):  # an honest "none": where the nearest one is, and what the radius means
        reach = km
        while large and reach < 2_000:  # the nearest beyond: boxes four times wider until one holds it
            reach *= 4
            wide = SpatialIndex(around(atlas, large, s.geometry, reach))
            if len(_drop_self(name, wide, s, wide.query(s.geometry, reach))[0]):
                idx = wide
                break
        else:
            if large:
                idx = layer_index(atlas, large)
        out.attrs.update(_beyond_radius(name, idx, s, float(km), atlas))
    return out


def _beyond_radius(name: str, idx: SpatialIndex, s: Site, km: float, atlas: Atlas | None) -> dict:
    """The nearest feature beyond an empty radius, and for a camp that is an area, what that means."""
    out: dict = {}
    exclude = set(np.flatnonzero(idx.uniform(name)["id"] == s.id).tolist()) if s.layer == name else set()
    if len(idx.rows) > len(exclude):
        rows, dist, az, _, _ = idx.nearest(s.geometry, 1, exclude)
        if len(rows):
            u = idx.uniform(name)
            out["nearest_beyond_radius"] = {
                "id": str(u["id"][rows[0]]), "name": str(u["name"][rows[0]]),
                "distance_km": round(float(dist[0]) / 1000.0, 3),
                "bearing_deg": None if not np.isfinite(az[0]) else round(float(az[0]), 1)}
    if s.layer == "camps" and s.precision in ("camp-area", "uncertain"):
        area = site_area_km2(s, atlas)
        size = (gettext("a camp of %(area)s km² (a circle of that area has a radius of %(radius)s km)") % {
            "area": f"{area:,.0f}", "radius": f"{math.sqrt(area / math.pi):.1f}"}
            if area else gettext("a camp whose area is not published"))
        out["site_area_km2"] = area
        out["area_caveat"] = gettext("%(id)s is an area, not a point: %(size)s. A feature beyond %(km)s km from "
                                     "the point can still be inside or near the camp.") % {
            "id": s.id, "size": size, "km": f"{km:g}"}
    return out


def layer_columns(result: gpd.GeoDataFrame, gpkg: Atlas | Path | str | None = None,
                  columns: list[str] | None = None) -> gpd.GeoDataFrame:
    """A :func:`near` or :func:`nearest` result with every column of the layer searched.

    The result's own columns (id, name, ..., distance_km, bearing_deg, site_id)
    come first, then the layer's other columns (a user layer's own columns
    included), joined by id; ``columns`` keeps only those named, in that order.

    Parameters
    ----------
    result : geopandas.GeoDataFrame
        From :func:`near` or :func:`nearest` on a layer of the GeoPackage.
    gpkg : path, optional
    columns : list of str, optional

    Returns
    -------
    geopandas.GeoDataFrame

    Raises
    ------
    InputError
        A column that neither the result nor the layer has.

    Examples
    --------
    >>> import atlas
    >>> full = layer_columns(atlas.near("KLS-14", km=20))
    >>> {"mine_id", "licence", "source_ref", "distance_km"} <= set(full.columns)
    True
    """
    out = result.copy()
    layer = result.attrs.get("layer")
    atlas = open_atlas(gpkg)
    if atlas.has(layer):
        frame = atlas.layer(layer)
        ids = uniform_columns(layer, frame)["id"]
        own = frame.drop(columns=frame.geometry.name if hasattr(frame, "geometry") else [], errors="ignore")
        own = own.assign(_id=ids).drop_duplicates("_id").set_index("_id")
        extra = [c for c in own.columns if c not in out.columns]
        joined = own.reindex(out["id"].astype(str).to_numpy())[extra]
        for c in extra:
            out[c] = joined[c].to_numpy()
        if "geometry" in out.columns:  # the geometry last, after the layer's columns
            out = out[[c for c in out.columns if c != "geometry"] + ["geometry"]]
    if columns:
        unknown = [c for c in columns if c not in out.columns]
        if unknown:
            raise InputError(f"no column {', '.join(map(repr, unknown))} in the result; columns are: "
                             + ", ".join(c for c in out.columns if c != "geometry"))
        keep = list(columns) + (["geometry"] if "geometry" in out.columns and "geometry" not in columns else [])
        out = out[keep]
    out.attrs = dict(result.attrs)
    return out


def nearest(
    site: str | Site | tuple | shapely.Geometry,
    layer: str | gpd.GeoDataFrame | SpatialIndex = "mines",
    k: int = 5,
    gpkg: Atlas | Path | str | None = None,
    site_layer: str | None = None,
    from_points: str = "site",
) -> gpd.GeoDataFrame:
    """The ``k`` features of a layer nearest a site, on the ellipsoid.

    Parameters
    ----------
    site : str, Site, (lon, lat) or shapely geometry
        As for :func:`near`.
    layer : str, geopandas.GeoDataFrame or SpatialIndex, default "mines"
    k : int, default 5
    gpkg : pathlib.Path or str, optional
    site_layer : str, optional
        Resolve the site in this layer only.
    from_points : {"site", "all"}, default "site"
        As for :func:`near`: ``"all"`` measures from every published point of the site.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`near`, at most ``k`` rows, nearest first.

    Raises
    ------
    NoGeometryError, AmbiguousError, NotFoundError, InputError
        As for :func:`near`; ``k`` below 1.

    Examples
    --------
    >>> import atlas
    >>> top = atlas.nearest("KLS-15", "mines", k=3)
    >>> len(top), bool(top["distance_km"].is_monotonic_increasing)
    (3, True)
    """
    atlas = _open(gpkg, site, layer)
    if from_points == "all":
        return _from_every_point(site, atlas, site_layer, lambda p: nearest(p, layer, k, atlas), keep=k)
    _check_from(from_points)
    s = _site_geometry(site, atlas, site_layer)
    name, idx = _target(layer, atlas)
    exclude = set()
    if s.layer == name:
        exclude = set(np.flatnonzero(idx.uniform(name)["id"] == s.id).tolist())
    out = _result(name, idx, s, idx.nearest(s.geometry, k, exclude), own_columns=False)
    out.attrs["k"] = int(k)
    return out


def within(
    site: str | Site | tuple | shapely.Geometry,
    km: float,
    layer: str | gpd.GeoDataFrame | SpatialIndex = "mines",
    gpkg: Atlas | Path | str | None = None,
    site_layer: str | None = None,
) -> gpd.GeoDataFrame:
    """The features of a layer within ``km`` of a site, with the layer's own columns.

    The same search as :func:`near`, returned as the layer's rows (its own
    schema, index and CRS) plus ``distance_km`` and ``bearing_deg``, nearest
    first: ready for a user's further analysis or to write out.

    Parameters
    ----------
    site : str, Site, (lon, lat) or shapely geometry
        As for :func:`near`.
    km : float
    layer : str, geopandas.GeoDataFrame or SpatialIndex, default "mines"
    gpkg : pathlib.Path or str, optional
    site_layer : str, optional

    Returns
    -------
    geopandas.GeoDataFrame

    Raises
    ------
    NoGeometryError, AmbiguousError, NotFoundError, InputError
        As for :func:`near`.

    Examples
    --------
    >>> import atlas
    >>> sub = atlas.within("KHS-77", 30, "mines")
    >>> {"mine_id", "commodity", "distance_km"} <= set(sub.columns)
    True
    """
    return _radius_query(site, km, layer, _open(gpkg, site, layer), site_layer, own_columns=True)


#: What a result of :func:`near` or :func:`nearest` carries into ``json``'s ``meta``, from its ``attrs``.
_REPORT_META = ("site_id", "site_name", "site_layer", "site_precision", "site", "layer", "km", "k",
                "features_without_geometry", "method", "nearest_beyond_radius", "site_area_km2",
                "area_caveat")
#: The columns of a ``table`` (``sanctions`` after ``commodity`` when present).
_REPORT_COLUMNS = ["id", "name", "commodity", "precision", "distance_km", "bearing_deg", "county", "source"]


def _report_footer(result: gpd.GeoDataFrame, what: str) -> list[str]:
    """The words below the rows: none found, the nearest beyond the radius, caveats, the method."""
    a = result.attrs
    foot = [] if len(result) else [f"No feature of {a['layer']} {what}."]
    near1 = a.get("nearest_beyond_radius")
    if near1:
        bearing = f", bearing {near1['bearing_deg']:g}°" if near1.get("bearing_deg") is not None else ""
        foot.append(f"The nearest is {near1['id']} {near1['name']}, {near1['distance_km']:.1f} km from the "
                    f"site's point{bearing}.")
    if a.get("area_caveat"):
        foot.append(a["area_caveat"])
    if a.get("features_without_geometry"):
        foot.append(f"{a['features_without_geometry']} feature(s) of {a['layer']} have no public "
                    "coordinate and are not measured.")
    foot.append(f"Method: {a['method']}.")
    return foot


def _report_about(layer: str | None, atlas: Atlas) -> dict:
    """What a reader cites: the atlas (version, sha256, build date) and the user layer searched (a private
    one's store cited apart)."""
    users = [r for r in user_layer_records(atlas) if r["layer"] == layer]
    return about(atlas, user_layers=users)


def near_report(result: gpd.GeoDataFrame, fmt: str = "table", gpkg: Atlas | Path | str | None = None,
                columns: list[str] | None = None, what: str | None = None):
    """A result of :func:`near` or :func:`nearest` as ``atlas near`` prints it.

    A ``table`` says the site (and how precise its point is) above the rows
    and, below them, the nearest feature beyond the radius when none is
    within it, the caveat of a site that is an area, the features that have
    no coordinate, the method and, with a ``sanctions`` column
    (:func:`atlas.sanctions.with_sanctions`), what the measures are. An
    empty ``table`` is those words alone. ``csv``, ``json`` and ``geojson``
    carry every column of the layer; ``json`` and ``geojson`` also what a
    reader cites (atlas version, GeoPackage sha256, build date, the user
    layer searched).

    Parameters
    ----------
    result : geopandas.GeoDataFrame
        :func:`near` or :func:`nearest`, with their ``attrs``.
    fmt : {"table", "csv", "json", "geojson"}
    gpkg : pathlib.Path or str, optional
        The atlas queried (its layers' other columns, and what to cite).
    columns : list of str, optional
        Only these columns, in this order (any column of the layer).
    what : str, optional
        How the features relate to the site (default: ``within 25 km`` for
        :func:`near`, ``nearest the site`` for :func:`nearest`).

    Returns
    -------
    atlas.formats.Report
        With ``csv``, the site and the footer (all but the method) are ``notes``.

    Examples
    --------
    >>> import atlas
    >>> report = near_report(atlas.near("KLS-14", km=20))
    >>> [line for line in report.text.splitlines() if "feature(s) of layer" in line][0][:40]
    '3 feature(s) of layer mines within 20 km'
    >>> report.notes, near_report(atlas.near("KLS-14", km=20), "csv").notes[0][:18]
    ((), 'site: KLS-14 Kaech')
    """
    a = result.attrs
    atlas = open_atlas(gpkg)
    private = a.get("layer") in private_names(atlas)  # an answer on this machine: private rows marked
    if what is None:
        what = f"within {a['km']:g} km" if a.get("km") is not None else "nearest the site"
    meta = {k: a.get(k) for k in _REPORT_META if a.get(k) is not None}
    site = textwrap.fill(f"Site: {a['site']}", 100, subsequent_indent="  ") if fmt == "table" else a["site"]
    head = [site, "", f"{len(result)} feature(s) of layer {a['layer']} {what}, "
            "nearest first (distance on the WGS 84 ellipsoid; bearing from the site, ° from north):"]
    foot = _report_footer(result, what)
    status = "status" in result.columns and bool(a.get("status_as_of"))  # atlas.status.with_status
    # distances to the metre, bearings to a tenth of a degree: what the method can say
    result = result.assign(**{c: result[c].round(n) for c, n in (("distance_km", 3), ("bearing_deg", 1))
                              if c in result.columns})
    dated = f"status_{a['status_as_of']}" if status else None  # a dated column names its date
    if status:
        result = result.rename(columns={"status": dated})
        meta.update(status_as_of=a["status_as_of"], status_rule=a["status_rule"])
        foot.append(f"Status as of {a['status_as_of']}: {a['status_rule']}; why, for one feature: "
                    f"atlas status ID --as-of {a['status_as_of']} --explain.")
    if "from_point" in result.columns:
        meta["from_points"] = a.get("from_points", [])
        foot.append("Measured from every published point of the site (" + "; ".join(a.get("from_points", []))
                    + "): each feature at its shortest distance, from the point named in from_point.")
    if fmt == "table":
        foot = [textwrap.fill(line, 100, subsequent_indent="  ") for line in foot]
    cols = list(_REPORT_COLUMNS)
    if status:
        cols.insert(3, dated)
    if "from_point" in result.columns:  # --from all: which published point gave each distance
        cols.insert(cols.index("bearing_deg") + 1, "from_point")
    if "sanctions" in result.columns:
        cols.insert(3, "sanctions")
        meta.update(sanctions=a["sanctions"], sanctions_note=a["sanctions_note"])
        foot.append(f"Sanctions: {a['sanctions']}; a measure applies from the day of its resolution "
                    f"({a['sanctions_note']}).")
    if fmt != "table" or columns:  # every column of the layer (or those asked for)
        result = layer_columns(result, atlas, columns)
        cols = columns or cols
        if fmt in ("json", "geojson"):  # what a reader cites
            meta.update(_report_about(a.get("layer"), atlas))
    if private:
        result = mark_private(result, [True] * len(result))
        cols = ["private", *(c for c in cols if c != "private")]
        head.insert(0, f"PRIVATE: layer {a['layer']} is one of your private layers.")
        foot.insert(0, PRIVATE_NOTE)
    notes = (f"site: {a['site']}", *foot[:-1]) if fmt == "csv" else ()
    if fmt == "table" and not len(result):  # an honest "none" in words, not an empty table
        return Report("\n".join([site, "", *foot]), notes)
    return Report(format_table(result, fmt, cols, header=head, footer=["", *foot], meta=meta), notes)
