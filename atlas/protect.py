"""Which of a user's layers a shared product may hold, and how coarsely: source protection.

A researcher's own layers can expose people: the houses of witnesses, the
places an interview was given. Two rules keep them from leaving the machine by
accident:

* a layer imported with ``private=True`` (``atlas import --private``) is
  stored apart and goes into no map, export or site unless the product is
  asked for it (``include_private=True``, ``--include-private``);
  :func:`atlas.userlayers.gate` is the one place that decides,
  :func:`shared_layers` reads what it allows, and every product lists the user
  layers it includes (:func:`atlas.about`);
* :func:`coarsen` snaps a layer's points to the centres of an N-km grid
  (EPSG:5179, true km over the peninsula) before a product holds them, drops
  the attribute columns that repeat the exact coordinates, and recomputes the
  province, county and distance columns from the snapped point; the product's
  metadata records it.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .admin import ADMIN_COLUMNS, PLANAR_CRS, assign_admin
from .coordinates import parse_coordinate
from .errors import InputError
from .store import Atlas
from .userlayers import Allowed, gate

__all__ = ["coarsen", "shared_layers"]

# columns the importer writes itself: never coordinate copies
_SYSTEM = {"user_id", "name", "kind", "outside_dprk_km", "source_file", "source_sha256", "imported_at",
           "source", "licence", "precision", "private", "source_row", *ADMIN_COLUMNS}
_NUMBER = re.compile(r"-?\d{1,3}(?:\.\d+)?")


def shared_layers(gpkg: Allowed | Atlas | Path | str | None = None, *, include_private: bool = False,
                  coarsen_km: float | None = None,
                  product: str = "map",
                  max_features: int | None = None) -> tuple[dict[str, gpd.GeoDataFrame], list[dict]]:
    """The user layers a product may include, read (and coarsened), with what it should say of them.

    Parameters
    ----------
    gpkg : Allowed, Atlas or path, optional
        What the gate allowed the product (:func:`atlas.userlayers.gate`), or
        the atlas (default ``output/atlas.gpkg``), passed through the gate.
    include_private : bool, default False
        Include the layers imported with ``private=True``.
    coarsen_km : float, optional
        Snap every point to an N-km grid (:func:`coarsen`).
    product : str, default "map"
        The product asking (:data:`atlas.userlayers.SHARED`).
    max_features : int, optional
        Read at most this many features of a layer (its first ones): a layer
        of more (a million points) is never read whole. Its record then says
        so: ``shown`` (features read) and ``left_out`` (the others).

    Returns
    -------
    layers : dict of str to GeoDataFrame
        By layer name (``user_...``).
    records : list of dict
        One per layer included (:func:`atlas.userlayers.user_layer_records`,
        plus ``coarsen_km`` and ``columns_dropped`` when coarsened): the
        product lists them.

    Examples
    --------
    >>> layers, records = shared_layers()
    >>> [r["layer"] for r in records] == sorted(layers)
    True
    """
    allowed = gpkg if isinstance(gpkg, Allowed) else gate(gpkg, product, include_private=include_private)
    atlas = allowed.atlas
    records = [dict(r) for r in allowed.records]
    layers = {}
    for rec in records:
        if max_features is None:
            gdf = atlas.read(rec["layer"])
        else:
            try:  # a GeoPackage reads the first features only (one more: is there more?)
                gdf = atlas.read(rec["layer"], max_features=max_features + 1)
            except InputError:  # a store that reads whole layers only (PostGIS)
                gdf = atlas.read(rec["layer"])
            if len(gdf) > max_features:
                total = atlas.tally(rec["layer"], "")[0]
                gdf = gdf.iloc[:max_features]
                rec.update(shown=len(gdf), left_out=total - len(gdf))
        if coarsen_km:
            gdf = coarsen(gdf, coarsen_km, gpkg=atlas)
            rec.update(gdf.attrs["coarsened"])
        layers[rec["layer"]] = gdf
    return layers, records


def _coordinate_columns(gdf: gpd.GeoDataFrame) -> list[str]:
    """Attribute columns whose values repeat a row's own latitude or longitude (within ~100 m)."""
    geoms = gdf.geometry.to_crs(4326) if gdf.crs is not None and gdf.crs.to_epsg() != 4326 else gdf.geometry
    present = ~(geoms.isna() | geoms.is_empty).to_numpy()
    x = np.where(present, shapely.get_x(geoms.to_numpy()), np.nan)
    y = np.where(present, shapely.get_y(geoms.to_numpy()), np.nan)
    found = []
    for col in gdf.columns:
        if col == gdf.geometry.name or col in _SYSTEM:
            continue
        hits = checked = 0
        for value, px, py in zip(gdf[col].to_numpy(), x, y):
            if value is None or (isinstance(value, float) and np.isnan(value)) or np.isnan(px):
                continue
            text = str(value)
            if not text.strip():
                continue
            checked += 1
            nums = [float(n) for n in _NUMBER.findall(text)]
            nums += _dms_values(text)
            if any(abs(n - px) < 1e-3 or abs(n - py) < 1e-3 for n in nums):
                hits += 1
        if checked and hits / checked >= 0.5:
            found.append(col)
    return found


def _dms_values(text: str) -> list[float]:
    out = []
    for part in re.split(r"[,;/]|(?<=[NSEWnsew])\s+", text):
        try:
            out.append(abs(parse_coordinate(part)[0]))
        except ValueError:
            continue
    return out


def coarsen(gdf: gpd.GeoDataFrame, km: float, gpkg: Atlas | Path | str | None = None) -> gpd.GeoDataFrame:
    """Snap a layer's points to the centres of a ``km`` grid, for sharing without exposing anyone.

    The grid is square in EPSG:5179 (Korea 2000 Unified CS: true km over the
    peninsula), its lines on multiples of ``km`` from the CRS's origin, so
    every export of the same layer snaps alike. Each point moves to the centre
    of its cell (at most ``km × √2 / 2`` away). Attribute columns that repeat
    the exact coordinates (a CSV's ``lat``/``lon``, a KML description quoting
    them) are dropped; ``province``, ``county`` and the other admin columns are
    recomputed from the snapped point, and ``outside_dprk_km`` is rounded to
    the grid. Text in other columns is kept as given: read it before sharing.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Points (other geometries are refused), any CRS.
    km : float
        Cell size in km (> 0).
    gpkg : path, optional
        The atlas GeoPackage whose boundaries give the admin columns.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy in EPSG:4326; ``attrs["coarsened"]`` holds ``coarsen_km``,
        ``grid`` and ``columns_dropped``.

    Raises
    ------
    InputError
        ``km`` not above 0, a layer without CRS or with non-point geometry.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> pts = gpd.GeoDataFrame({"name": ["a"], "lat": ["39.5711"]},
    ...                        geometry=[shapely.Point(126.0555, 39.5711)], crs=4326)
    >>> out = coarsen(pts, 5)
    >>> "lat" in out.columns, out.attrs["coarsened"]["columns_dropped"]
    (False, ['lat'])
    """
    try:
        km = float(km)
    except (TypeError, ValueError):
        raise InputError(f"--coarsen-km {km!r} is not a number of km") from None
    if not km > 0 or not np.isfinite(km):
        raise InputError(f"--coarsen-km must be a number of km above 0, not {km!r}")
    if gdf.crs is None:
        raise InputError("the layer has no CRS: set one (e.g. gdf.set_crs(4326))")
    geoms = gdf.geometry
    present = ~(geoms.isna() | geoms.is_empty).to_numpy()
    kinds = set(geoms[present].geom_type)
    if kinds - {"Point"}:
        raise InputError(f"only points can be coarsened; the layer holds {', '.join(sorted(kinds))}")
    dropped = _coordinate_columns(gdf)
    out = gdf.drop(columns=dropped).copy()
    planar = geoms.to_crs(PLANAR_CRS)
    size = km * 1000.0
    px = np.where(present, shapely.get_x(planar.to_numpy()), np.nan)
    py = np.where(present, shapely.get_y(planar.to_numpy()), np.nan)
    cx, cy = np.floor(px / size) * size + size / 2, np.floor(py / size) * size + size / 2
    snapped = gpd.GeoSeries([shapely.Point(a, b) if ok else None for a, b, ok in zip(cx, cy, present)],
                            index=gdf.index, crs=PLANAR_CRS).to_crs(4326)
    snapped = snapped.set_precision(1e-6)
    out = out.set_geometry(snapped.to_numpy()).set_crs(4326, allow_override=True)
    if any(c in out.columns for c in ADMIN_COLUMNS):
        admin = assign_admin(out[[out.geometry.name]], gpkg)
        for col in ADMIN_COLUMNS:
            if col in out.columns:
                out[col] = admin[col].to_numpy()
    if "outside_dprk_km" in out.columns:
        dist = pd.to_numeric(out["outside_dprk_km"], errors="coerce")
        out["outside_dprk_km"] = (np.round(dist / km) * km).round(3)
    out.attrs["coarsened"] = {
        "coarsen_km": km,
        "grid": f"centres of {km:g} km cells of {PLANAR_CRS} (lines on multiples of {km:g} km); "
                f"each point moved at most {km * np.sqrt(2) / 2:.2f} km",
        "columns_dropped": dropped,
    }
    return out
