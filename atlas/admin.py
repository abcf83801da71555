"""Which province and county a point is in.

Points are joined to polygons in EPSG:5179 (Korea 2000 Unified CS, valid over
the whole peninsula; see the README). A point that falls in no polygon, as
border towns on the Yalu and Tumen do against the generalised Natural Earth
lines, goes to the nearest unit within :data:`TOLERANCE_KM` and is flagged
``admin_method="nearest"``; farther than that it is ``"outside"``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

__all__ = ["ADMIN_COLUMNS", "PLANAR_CRS", "TOLERANCE_KM", "join_admin"]

PLANAR_CRS = "EPSG:5179"
TOLERANCE_KM = 5.0
ADMIN_COLUMNS = ["province", "county", "county_ko", "county_id", "admin_method", "admin_distance_km"]


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
    if gdf.crs is None:
        from .errors import InputError

        raise InputError("the points have no CRS: set one (e.g. gdf.set_crs(4326))")
    pts = gdf.geometry.to_crs(PLANAR_CRS).reset_index(drop=True)
    prov = provinces.to_crs(PLANAR_CRS).reset_index(drop=True)
    cnty = counties.to_crs(PLANAR_CRS).reset_index(drop=True)
    p_idx, p_method, p_dist = _nearest_index(pts, prov, tolerance_km)
    c_idx, _, _ = _nearest_index(pts, cnty, tolerance_km)

    def pick(frame: pd.DataFrame, col: str, idx: np.ndarray) -> np.ndarray:
        values = frame[col].to_numpy(dtype=object)
        return np.where(idx >= 0, values[np.clip(idx, 0, None)], None)

    out = pd.DataFrame(
        {
            "province": pick(prov, "name_en", p_idx),
            "county": pick(cnty, "name_en", c_idx),
            "county_ko": pick(cnty, "name_ko", c_idx),
            "county_id": pick(cnty, "county_id", c_idx),
            "admin_method": p_method,
            "admin_distance_km": np.round(p_dist, 3),
        }
    )
    out.index = gdf.index
    return out
