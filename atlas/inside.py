"""What lies inside an area: the mines, camps and findings within a user's polygon (a camp perimeter).

:func:`inside` takes an area, a polygon of a layer (``user_perimeters:P1``, a
county ``counties:Kaechon``), every polygon of a layer (``user_perimeters``:
each row says which one), or a shapely polygon, and returns the features of
the layers asked (camps, mines, named mines by default; any layer, a user's
footprints included) that lie inside it: a point inside or on the boundary,
a line or polygon that meets the area. Each camp or mine carries the number of
its dated findings, and ``attrs["findings"]`` the findings themselves
(``camp_findings``, ``mine_findings``). The test is made in longitude/latitude,
where the area's edges are straight (as GeoJSON, the GeoPackage and QGIS in
EPSG:4326 draw them); :func:`count_inside` counts features of one layer per area
without building the rows.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .distance import SpatialIndex, _max_scale, _search_box
from .errors import AmbiguousError, InputError, NotFoundError
from .sites import uniform_columns
from .store import Atlas, open_atlas

__all__ = ["INSIDE_COLUMNS", "count_inside", "count_near", "inside", "resolve_area"]

#: The columns :func:`inside` returns (plus ``geometry``).
INSIDE_COLUMNS = ["area_id", "area_name", "layer", "id", "name", "kind", "province", "county", "precision",
                  "findings"]
_DEFAULT_LAYERS = ("camps", "mines", "named_mines")
_FINDINGS = ("camp_findings", "mine_findings")


def resolve_area(area, atlas: Atlas | None = None) -> gpd.GeoDataFrame:
    """The polygons an area names: ``LAYER:FEATURE``, ``LAYER`` (each of its polygons) or a shapely polygon.

    Parameters
    ----------
    area : str or shapely geometry
        ``user_perimeters:P1`` (by id, or by name when no id matches), ``perimeters``
        (a user layer imported ``--as perimeters``), ``counties:Kaechon``, or a
        (Multi)Polygon in EPSG:4326.
    atlas : Atlas, optional

    Returns
    -------
    geopandas.GeoDataFrame
        ``area_id``, ``area_name`` and the polygons (EPSG:4326).

    Raises
    ------
    NotFoundError, AmbiguousError
        No feature, or more than one, of that id or name.
    InputError
        An area that is not a polygon (a point or a line holds nothing).

    Examples
    --------
    >>> resolve_area("counties:Kaechon")[["area_id", "area_name"]].iloc[0].tolist()
    ['relation/5453657', 'Kaechon']
    """
    if isinstance(area, shapely.Geometry):
        frame = gpd.GeoDataFrame({"area_id": ["area"], "area_name": ["the area given"]}, geometry=[area],
                                 crs="EPSG:4326")
    elif isinstance(area, str) and area.strip():
        atlas = atlas if isinstance(atlas, Atlas) else open_atlas(atlas)
        layer, _, feature = area.strip().partition(":")
        layer = atlas.layer_name(layer.strip())
        if not atlas.has(layer) or atlas.layers().get(layer) is None:
            geo = sorted(n for n, g in atlas.layers().items() if (g and "Polygon" in str(g)) or n.startswith("user_"))
            raise NotFoundError(f"no layer of polygons {layer!r} in the atlas; for example: {', '.join(geo[:8])}")
        df = atlas.layer(layer)
        ids = uniform_columns(layer, df)
        frame = gpd.GeoDataFrame({"area_id": ids["id"], "area_name": ids["name"]}, geometry=df.geometry.values,
                                 crs=df.crs).to_crs(4326)
        feature = feature.strip()
        if feature:
            hit = frame[frame["area_id"].astype(str) == feature]
            if hit.empty:
                hit = frame[frame["area_name"].astype(str).str.casefold() == feature.casefold()]
            if hit.empty:
                raise NotFoundError(f"no feature {feature!r} in {layer} (by id or name); "
                                    f"for example: {', '.join(map(str, frame['area_id'].head(5)))}")
            if len(hit) > 1:
                raise AmbiguousError(f"{feature!r} names {len(hit)} features of {layer}; give an id: "
                                     f"{', '.join(map(str, hit['area_id'].head(5)))}")
            frame = hit
    else:
        raise InputError(f"an area is LAYER, LAYER:FEATURE or a shapely polygon, not {area!r}")
    frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
    kinds = set(frame.geom_type)
    if not frame.empty and not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputError(f"an area must be polygons; {area if isinstance(area, str) else 'the geometry'} "
                         f"holds {', '.join(sorted(kinds))}")
    return frame.reset_index(drop=True)


def _tree(atlas: Atlas | None, layer: str, frame: gpd.GeoDataFrame) -> shapely.STRtree:
    def build():
        geoms = frame.geometry if frame.crs is None or frame.crs.to_epsg() == 4326 else frame.geometry.to_crs(4326)
        return shapely.STRtree(np.asarray(geoms.values, dtype=object))
    return atlas.memo(("inside_tree", layer), build) if atlas is not None else build()


def _pairs(tree: shapely.STRtree, areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(area, feature) positions of every feature meeting an area (a point on the boundary counts)."""
    if not len(areas):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return tree.query(areas, predicate="intersects")


#: Above this many boxes, a layer's geometries are read whole rather than box by box.
_MAX_BOXES = 200


def _geometries(atlas: Atlas, name: str, boxes: list[tuple[float, float, float, float]]) -> gpd.GeoSeries:
    """The geometries of a layer (EPSG:4326) whose boxes meet any of ``boxes``, each once, by feature id.

    A GeoPackage reads only the geometries (no attribute), through its spatial index, box by box;
    another store (PostGIS) gives the layer.
    """
    store = atlas.store_of(name) if hasattr(atlas, "store_of") else atlas
    if getattr(store, "path", None) is not None and len(boxes) <= _MAX_BOXES:
        found = _gpkg_geometries(store.path, name, boxes)
        if found is not None:
            return found
    if getattr(store, "path", None) is None or len(boxes) > _MAX_BOXES:
        frame = atlas.read(name, columns=[]) if getattr(store, "path", None) is not None else atlas.layer(name)
        return frame.geometry.to_crs(4326) if frame.crs.to_epsg() != 4326 else frame.geometry
    parts = [atlas.read(name, bbox=box, columns=[], fid_as_index=True).geometry for box in boxes]
    geoms = pd.concat(parts) if parts else gpd.GeoSeries([], crs="EPSG:4326")
    geoms = geoms[~geoms.index.duplicated()]
    return geoms.to_crs(4326) if geoms.crs is not None and geoms.crs.to_epsg() != 4326 else geoms


_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def _gpkg_geometries(path: Path, name: str, boxes: list) -> gpd.GeoSeries | None:
    """The geometries of a GeoPackage layer in EPSG:4326 whose index boxes meet ``boxes``, read in SQL
    through the layer's R*Tree (no GDAL, no attribute); None when the layer is not so simple
    (another CRS, no spatial index), for the general reader."""
    from .io import read_only

    with read_only(path) as con:
        row = con.execute("SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?",
                          (name,)).fetchone()
        if row is None or row[1] != 4326:
            return None
        col = row[0]
        rtree = f"rtree_{name}_{col}"
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (rtree,)).fetchone():
            return None
        pk = next((r[1] for r in con.execute(f'PRAGMA table_info("{name}")') if r[5]), None)
        if pk is None:
            return None
        q = " UNION ".join(f'SELECT id FROM "{rtree}" WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?'
                           for _ in boxes)
        args = [v for x0, y0, x1, y1 in boxes for v in (x0, x1, y0, y1)]
        rows = con.execute(f'SELECT t."{pk}", t."{col}" FROM "{name}" t JOIN ({q}) r ON t."{pk}" = r.id',
                           args).fetchall() if boxes else []
    fids = np.array([r[0] for r in rows], dtype=np.int64)
    wkb = np.empty(len(rows), dtype=object)
    for i, (_, blob) in enumerate(rows):  # GeoPackage binary: "GP", version, flags, srs id, envelope, WKB
        wkb[i] = None if blob is None else bytes(blob[8 + _ENVELOPE_BYTES.get((blob[3] >> 1) & 7, 0):])
    return gpd.GeoSeries(shapely.from_wkb(wkb), index=pd.Index(fids, name="fid"), crs="EPSG:4326")


def _box(geom, km: float) -> tuple[float, float, float, float]:
    """A lon/lat box holding every point within ``km`` (geodesic) of ``geom`` (as :func:`atlas.distance.around`)."""
    x0, y0, x1, y1 = geom.bounds
    dlat = km / 110.5 + 0.01
    lat = max(abs(y0), abs(y1)) + dlat
    dlon = km / (111.0 * max(np.cos(np.radians(min(lat, 89.0))), 0.01)) + 0.01
    return x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat


def _sites(sites, atlas: Atlas) -> tuple[np.ndarray, np.ndarray]:
    """(ids, points in EPSG:4326) of the sites: a layer's features with a geometry, or a GeoDataFrame's rows."""
    if isinstance(sites, str):
        name = atlas.layer_name(sites)
        frame = atlas.layer(name)
        ids = uniform_columns(name, frame)["id"]
    elif isinstance(sites, gpd.GeoDataFrame | gpd.GeoSeries):
        frame, ids = sites, np.asarray([str(i) for i in sites.index], dtype=object)
    else:
        raise InputError(f"sites are a layer name or a GeoDataFrame, not {type(sites).__name__}")
    geoms = frame.geometry if frame.crs is None or frame.crs.to_epsg() == 4326 else frame.geometry.to_crs(4326)
    values = np.asarray(geoms.values, dtype=object)
    keep = ~(shapely.is_missing(values) | shapely.is_empty(values))
    return np.asarray(ids, dtype=object)[keep], values[keep]


def count_near(layer: str, km: float = 5.0, sites="camps", gpkg: Atlas | Path | str | None = None) -> pd.Series:
    """How many features of a layer lie within ``km`` of each site, measured as :func:`atlas.near` measures.

    Geodesic distance on WGS 84 to a feature's nearest point (0 inside a polygon), for every site at
    once: the layer's geometries around the sites are read once (no attribute), indexed once.

    Parameters
    ----------
    layer : str
        A layer of the atlas (``footprints`` for ``user_footprints``).
    km : float, default 5
    sites : str or geopandas.GeoDataFrame, default "camps"
        A layer whose features with a geometry are the sites (ids from it), or your own points
        (ids from the index).
    gpkg : Atlas, pathlib.Path or str, optional

    Returns
    -------
    pandas.Series
        Counts indexed by site id.

    Examples
    --------
    >>> import atlas
    >>> counts = atlas.count_near("mines", km=25, sites="camps")
    >>> int(counts["KLS-14"]) == len(atlas.near("KLS-14", km=25, layer="mines"))
    True
    """
    atlas = gpkg if isinstance(gpkg, Atlas) else open_atlas(gpkg)
    name = atlas.layer_name(layer)
    if not atlas.has(name) or atlas.layers()[name] is None:
        raise NotFoundError(f"no layer with geometry {name!r} in the atlas", sorted(atlas.layers())[:5])
    ids, points = _sites(sites, atlas)
    geoms = _geometries(atlas, name, [_box(p, km) for p in points])
    idx = SpatialIndex(gpd.GeoDataFrame(geometry=np.asarray(geoms.values, dtype=object), crs="EPSG:4326"))
    same = name == (atlas.layer_name(sites) if isinstance(sites, str) else None)
    counts = []
    for p in points:
        counts.append(_count_within(idx, p, km, exclude_zero=same))
    return pd.Series(counts, index=pd.Index(ids, name="site_id"), name="features", dtype=int)


#: EPSG:5179 is a Transverse Mercator of scale 0.9996 on its central meridian, more away from it.
_K_MIN = 0.9996 * (1 - 1e-9)


def _count_within(idx: SpatialIndex, site, km: float, exclude_zero: bool = False) -> int:
    """How many features of ``idx`` lie within ``km`` of ``site``, as :meth:`SpatialIndex.query` finds them.

    A feature whose planar distance (EPSG:5179) puts it surely inside or surely outside the radius,
    whatever the projection's scale between the two (at least 0.9996, at most its largest over the
    search box), is decided by that distance, with a metre to spare; only those in between are
    measured on the ellipsoid.
    """
    radius = km * 1000.0
    kmax = _max_scale(*_search_box(site, km))
    if kmax is None or exclude_zero:
        rows, dist = idx.query(site, km)[:2]
        return len(rows) - int(exclude_zero and (dist == 0).any())  # a site of the layer itself
    sp = idx._site_planar(site)
    cand = idx.tree.query(sp, predicate="dwithin", distance=radius * kmax + 1.0)
    dp = shapely.distance(sp, idx.planar[cand])
    sure_in = dp / _K_MIN <= radius - 1.0
    unsure = ~sure_in & (dp / kmax <= radius + 1.0)
    exact = idx._measure(site, sp, cand[unsure])[0] <= radius if unsure.any() else np.zeros(0, bool)
    return int(sure_in.sum() + exact.sum())


def count_inside(area, layer: str | gpd.GeoDataFrame, gpkg: Atlas | Path | str | None = None) -> pd.Series:
    """How many features of one layer lie inside each polygon of an area.

    Parameters
    ----------
    area : str or shapely geometry
        As :func:`resolve_area`.
    layer : str or geopandas.GeoDataFrame
        A layer of the atlas (``user_footprints``) or features of your own.
    gpkg : Atlas, pathlib.Path or str, optional

    Returns
    -------
    pandas.Series
        Counts indexed by ``area_id``.

    Examples
    --------
    >>> int(count_inside("provinces:Pyongyang City", "mines").iloc[0]) >= 1
    True
    """
    atlas = gpkg if isinstance(gpkg, Atlas) else open_atlas(gpkg)
    areas = resolve_area(area, atlas)
    if isinstance(layer, gpd.GeoDataFrame):
        tree = _tree(None, "", layer)
    else:  # the geometries in the areas' boxes only
        name = atlas.layer_name(layer)
        geoms = _geometries(atlas, name, [g.bounds for g in areas.geometry])
        tree = shapely.STRtree(np.asarray(geoms.values, dtype=object))
    left, _ = _pairs(tree, np.asarray(areas.geometry.values, dtype=object))
    counts = np.bincount(left, minlength=len(areas))
    return pd.Series(counts, index=pd.Index(areas["area_id"], name="area_id"), name="features")


def inside(
    area,
    layers: tuple[str, ...] | list[str] | None = None,
    gpkg: Atlas | Path | str | None = None,
) -> gpd.GeoDataFrame:
    """The features of the atlas inside an area (a user's camp perimeter), with their findings.

    Parameters
    ----------
    area : str or shapely geometry
        ``LAYER:FEATURE`` (``perimeters:Camp 16 outer fence``, ``user_perimeters:P1``,
        ``counties:Kaechon``), ``LAYER`` (each of its polygons) or a (Multi)Polygon in
        EPSG:4326 (see :func:`resolve_area`).
    layers : list of str, optional
        Layers to look in; default camps, mines and named mines. Any layer with
        geometry: a user layer of footprints, ``mineral_deposits``.
    gpkg : Atlas, pathlib.Path or str, optional

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`INSIDE_COLUMNS` and ``geometry``: one row per feature and area it
        lies in, by area then layer then id. ``findings`` counts a camp's or a
        mine's dated findings; ``attrs["findings"]`` holds them (``finding_id``,
        ``site_id``, ``date_start``, ``finding_type``, ``description``, ...).

    Raises
    ------
    NotFoundError, AmbiguousError, InputError
        As :func:`resolve_area`; an unknown layer.

    Examples
    --------
    >>> import atlas
    >>> hits = atlas.inside("counties:Kaechon")
    >>> "KLS-14" in set(hits["id"]) and bool((hits["county"] == "Kaechon").all())
    True
    """
    atlas = gpkg if isinstance(gpkg, Atlas) else open_atlas(gpkg)
    areas = resolve_area(area, atlas)
    area_geoms = np.asarray(areas.geometry.values, dtype=object)
    parts, looked = [], []
    for layer in layers or _DEFAULT_LAYERS:
        name = atlas.layer_name(layer)
        if not atlas.has(name):
            if layers is None:
                continue
            raise NotFoundError(f"no layer {name!r} in the atlas", sorted(atlas.layers())[:5])
        if atlas.layers()[name] is None:
            raise InputError(f"layer {name!r} is a table without geometry: nothing lies inside an area")
        frame = atlas.layer(name)
        looked.append(name)
        left, right = _pairs(_tree(atlas, name, frame), area_geoms)
        if not len(left):
            continue
        u = uniform_columns(name, frame.iloc[right])
        wgs = frame.geometry if frame.crs.to_epsg() == 4326 else frame.geometry.to_crs(4326)
        parts.append(gpd.GeoDataFrame({
            "area_id": areas["area_id"].to_numpy()[left], "area_name": areas["area_name"].to_numpy()[left],
            "layer": name, "id": u["id"], "name": u["name"], "kind": u["kind"], "province": u["province"],
            "county": u["county"], "precision": u["precision"]},
            geometry=np.asarray(wgs.values, dtype=object)[right], crs="EPSG:4326"))
    if parts:
        out = pd.concat(parts, ignore_index=True)
        out = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
    else:
        out = gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in INSIDE_COLUMNS[:-1]},
                               geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    findings = _findings(atlas, set(out["id"].astype(str)))
    counts = findings["site_id"].astype(str).value_counts() if len(findings) else pd.Series(dtype=int)
    out["findings"] = out["id"].astype(str).map(counts).fillna(0).astype(int).to_numpy()
    out = out[[*INSIDE_COLUMNS, "geometry"]]
    order = {n: i for i, n in enumerate(dict.fromkeys(out["layer"]))}
    out = out.assign(_o=out["layer"].map(order)).sort_values(["area_id", "_o", "id"], kind="stable")
    out = out.drop(columns="_o").reset_index(drop=True)
    out.attrs.update({"areas": areas["area_id"].astype(str).tolist(), "findings": findings, "layers": looked,
                      "area": area if isinstance(area, str) else "the area given",
                      "method": "a feature meets the area (a point inside or on its boundary), tested in "
                                "longitude/latitude where the area's edges are straight"})
    return out


def _findings(atlas: Atlas, site_ids: set[str]) -> pd.DataFrame:
    """The dated findings of the sites (camps, mines) found inside."""
    frames = []
    for table in _FINDINGS:
        if atlas.has(table):
            df = pd.DataFrame(atlas.layer(table))
            frames.append(df[df["site_id"].astype(str).isin(site_ids)].assign(table=table))
    if not frames:
        return pd.DataFrame(columns=["finding_id", "site_id", "table"])
    out = pd.concat(frames, ignore_index=True)
    return out.drop(columns=[c for c in ("geometry",) if c in out.columns])

