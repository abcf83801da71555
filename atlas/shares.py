"""Province and county of lines and polygons: the unit holding the largest share of each feature.

Used by the import (:mod:`atlas.shapes`) and wherever a user layer of lines or polygons is located
again (the summaries), so that every product gives a feature the same unit. Measured in EPSG:5179;
a feature whose box meets no boundary segment lies wholly in the unit of a point on its surface.
"""

from __future__ import annotations

import weakref

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .admin import PLANAR_CRS, AdminUnits

__all__ = ["admin_by_share"]


def _shares(units_frame: gpd.GeoDataFrame, planar: np.ndarray, family: str, need: np.ndarray,
            tree: shapely.STRtree) -> np.ndarray:
    """For the features ``need`` (positions in ``planar``), the unit holding the largest share; -1 for none."""
    best = np.full(len(need), -1, dtype=np.int64)
    if not len(need):
        return best
    left, right = tree.query(planar[need], predicate="intersects")
    if not len(left):
        return best
    units = units_frame.geometry.values[right]
    common = shapely.intersection(planar[need][left], np.asarray(units, dtype=object))
    measure = shapely.area(common) if family == "polygons" else shapely.length(common)
    order = np.lexsort((right, -measure, left))  # per feature: largest share first, ties to the lower unit
    first = np.r_[True, left[order][1:] != left[order][:-1]]
    best[left[order][first]] = right[order][first]
    return best


_TREES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _trees(units: AdminUnits) -> dict[str, shapely.STRtree]:
    """Trees of the units' polygons and of their boundaries' segments (EPSG:5179), built once per units."""
    if units not in _TREES:
        rings = []
        for frame in (units.prov, units.cnty):
            rings.append(shapely.get_parts(shapely.boundary(np.asarray(frame.geometry.values, dtype=object))))
        lines = shapely.get_parts(np.concatenate(rings))
        coords, owner = shapely.get_coordinates(lines, return_index=True)
        same = owner[1:] == owner[:-1]  # consecutive vertices of one line: a segment
        segs = shapely.linestrings(np.stack([coords[:-1][same], coords[1:][same]], axis=1))
        _TREES[units] = {
            "boundary": shapely.STRtree(segs),
            "prov": shapely.STRtree(np.asarray(units.prov.geometry.values, dtype=object)),
            "cnty": shapely.STRtree(np.asarray(units.cnty.geometry.values, dtype=object)),
        }
    return _TREES[units]


def admin_by_share(units: AdminUnits, geoms: np.ndarray, family: str, tolerance_km: float,
                   planar: np.ndarray | None = None) -> pd.DataFrame:
    """Province and county of each line or polygon: the unit with the largest share of its length or area.

    A feature whose box meets no boundary segment lies wholly in the unit of a point on it (one
    point-in-polygon test); the others are cut by the units they meet. A feature touching no unit
    gets the unit nearest a point on it, within ``tolerance_km`` (``admin_method="nearest"``).

    Parameters
    ----------
    units : atlas.admin.AdminUnits
    geoms : numpy.ndarray of shapely geometries
        In EPSG:4326; None or empty where a feature has no geometry.
    family : {"lines", "polygons"}
    tolerance_km : float
        A feature touching no unit goes to the nearest within this distance.
    planar : numpy.ndarray, optional
        The same geometries in EPSG:5179 (computed when not given).

    Returns
    -------
    pandas.DataFrame
        :data:`atlas.admin.ADMIN_COLUMNS`, one row per geometry.

    Examples
    --------
    >>> import atlas
    >>> from atlas.admin import admin_units
    >>> square = shapely.box(126.05, 39.56, 126.06, 39.57)  # 0.42 km² in Kaechon, 0.54 km² in Pukchang
    >>> admin_by_share(admin_units(atlas.open_atlas()), np.array([square]), "polygons", 5.0)[
    ...     ["county_ko", "admin_method"]].iloc[0].tolist()
    ['북창군', 'within']
    """
    geoms = np.asarray(geoms, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    reps = np.full(len(geoms), None, dtype=object)
    reps[present] = shapely.point_on_surface(geoms[present])
    base = units.join(gpd.GeoDataFrame(geometry=reps, crs="EPSG:4326"), tolerance_km)
    if not present.any():
        return base
    at = np.flatnonzero(present)
    if planar is None:
        planar = gpd.GeoSeries(geoms[at], crs="EPSG:4326").to_crs(PLANAR_CRS).to_numpy()
    else:
        planar = np.asarray(planar, dtype=object)[at]
    trees = _trees(units)
    crossing = np.unique(trees["boundary"].query(planar)[0])  # boxes meeting a boundary segment
    out = base.copy()
    if not len(crossing):
        return out
    sub = planar[crossing]
    for frame, cols in ((units.prov, {"province": "name_en"}),
                        (units.cnty, {"county": "name_en", "county_ko": "name_ko", "county_id": "county_id"})):
        tree = trees["prov" if frame is units.prov else "cnty"]
        best = _shares(frame, sub, family, np.arange(len(sub)), tree)
        found = best >= 0
        rows = at[crossing[found]]
        for col, src in cols.items():
            values = out[col].to_numpy(dtype=object)
            values[rows] = frame[src].to_numpy(dtype=object)[best[found]]
            out[col] = values
        if frame is units.prov:
            m = out["admin_method"].to_numpy(dtype=object)
            m[rows] = "within"
            out["admin_method"] = m
            d = out["admin_distance_km"].to_numpy(dtype=float, copy=True)
            d[rows] = 0.0
            out["admin_distance_km"] = d
    out["admin_distance_km"] = pd.to_numeric(out["admin_distance_km"])
    return out
