"""Raster plumbing shared by the density surfaces and the imagery chips: grids, tags, point layers.

Every raster product is in EPSG:5179 (Korea 2000 Unified CS, a transverse
Mercator on 127.5°E whose metres are true to ≤ 620 ppm over the DPRK), on
north-up grids, and tagged with the atlas version and a creation time
(``SOURCE_DATE_EPOCH`` when set, for reproducible builds).
"""

from __future__ import annotations

import math
import os
from datetime import datetime, timezone

import geopandas as gpd
import pandas as pd
from rasterio.transform import Affine

from .errors import InputError
from .schema import id_column, name_column
from .store import Atlas

__all__ = [
    "apply_affine",
    "creation_time",
    "ids_and_names",
    "north_up",
    "point_layer",
    "positive",
]


def creation_time() -> datetime:
    """The creation time written in tags (``SOURCE_DATE_EPOCH`` if set, for reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    return datetime.now(timezone.utc).replace(microsecond=0)


def positive(value, name: str, option: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r} ({option})") from None
    if not math.isfinite(v) or v <= 0:
        raise InputError(f"{name} must be greater than 0, got {value!r} ({option})")
    return v


def point_layer(layer: str, atlas: Atlas) -> gpd.GeoDataFrame:
    """A point layer of the atlas (``--as NAME`` resolved to ``user_NAME``), refused if it is not one."""
    layer = atlas.layer_name(layer)
    df = atlas.layer(layer)
    if not isinstance(df, gpd.GeoDataFrame):
        raise InputError(f"layer {layer!r} is a table without geometry; give a point layer")
    if df.crs is None:
        raise InputError(f"layer {layer!r} has no CRS")
    present = df[~(df.geometry.isna() | df.geometry.is_empty)]
    kinds = set(present.geometry.geom_type)
    if kinds - {"Point", "MultiPoint"}:
        raise InputError(
            f"layer {layer!r} holds {', '.join(sorted(kinds))} geometries; a density or chips "
            "need points"
        )
    return df


def ids_and_names(df: pd.DataFrame, layer: str) -> tuple[pd.Series, pd.Series]:
    """The id and the name of each feature, from the layer's schema or common field names."""
    id_field = id_column(layer, df.columns)
    ids = (df[id_field].astype(str) if id_field
           else pd.Series([f"{layer}-{i + 1}" for i in range(len(df))], index=df.index))
    name_field = name_column(layer, df.columns)
    names = df[name_field].fillna("").astype(str) if name_field else pd.Series("", index=df.index)
    return ids, names


def north_up(west: float, north: float, xsize: float, ysize: float) -> Affine:
    """A north-up geotransform (as ``rasterio.transform.from_origin``, without its deprecated ``*``)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def apply_affine(t, x, y):
    """``t @ (x, y)`` for scalars or arrays, on every ``affine`` version (``*`` is deprecated)."""
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f
