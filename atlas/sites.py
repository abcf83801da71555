"""Sites: the feature a query measures from, and any layer's rows in uniform columns.

A :class:`Site` is one feature of the atlas (or a point given by
coordinates) with a note on what its location means for a distance measured
from it. :func:`uniform_columns` gives the rows of any layer (atlas or
``user_``) the same columns (id, name, kind, commodity, precision, source,
province, county), so name search and distance queries treat every layer
alike.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .i18n import gettext, term
from .store import Atlas, open_atlas

__all__ = ["Site", "site_area_km2", "site_from_row", "uniform_columns", "uniform_frame"]

# --- the site a query resolves to ---------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """One feature of the atlas (or a point given by coordinates) to measure from.

    Attributes
    ----------
    layer : str
        The layer it comes from (``"coordinates"`` for a point given as such).
    id, name, kind : str
    geometry : shapely geometry or None
        In EPSG:4326; None when the atlas has no public coordinate for it.
    precision : str
        The layer's precision class (``site``, ``camp-area``, ``town proxy``, ...).
    location_precision : str
        The source's own words on how the location was fixed.
    note : str
        What the location means for a distance measured from it.
    """

    layer: str
    id: str
    name: str
    kind: str
    geometry: object
    precision: str = ""
    location_precision: str = ""
    note: str = ""
    attrs: dict = field(default_factory=dict, compare=False, repr=False)

    def describe(self) -> str:
        """One paragraph on the site and how precise its location is."""
        head = f"{self.id} {self.name}" if self.id != self.name else self.name
        kind = f" ({term(self.kind)})" if self.kind else ""  # in the product's language (atlas.i18n.use_lang)
        prec = gettext("; precision: %(precision)s") % {"precision": term(self.precision)} if self.precision else ""
        return f"{head}{kind}{prec}. {self.note}".strip()


def _first_numbers(text: str) -> list[float]:
    """The areas (km²) an area text gives: '539 (53,900 ha, ...); 549 (Wikipedia); perimeter 119 km'."""
    out = []
    for part in str(text or "").split(";"):
        m = re.match(r"\s*([\d,]*\.?\d+)\s*(?:\(|$)", part)
        if m:
            out.append(float(m.group(1).replace(",", "")))
    return out


def site_area_km2(site: Site, gpkg: Atlas | Path | str | None = None) -> float | None:
    """The largest area (km²) the sources give for a camp, or None (other layers, no area published).

    Examples
    --------
    >>> import atlas
    >>> site_area_km2(atlas.resolve("KLS-15"))
    378.0
    """
    if site.layer != "camps":
        return None
    camps = open_atlas(gpkg).layer("camps")
    row = camps[camps["site_id"].astype(str) == site.id]
    areas = _first_numbers(row["area_km2"].iloc[0]) if len(row) else []
    return max(areas) if areas else None


def _area_range(values: list[float]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)

    def fmt(v: float) -> str:
        return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" if v >= 10 else f"{v:,.3g}"

    return f"{fmt(lo)} km²" if lo == hi else f"{fmt(lo)}–{fmt(hi)} km²"


def _camp_note(row: pd.Series, camps: pd.DataFrame) -> str:
    prec = str(row.get("precision") or "")
    # in the language of the product being written (atlas.i18n.use_lang); the sources' words as they give them
    lp = str(row.get("location_precision") or "")
    if prec == "none":
        return gettext("It has no public coordinate (%(precision)s), so no distance can be measured from it.") % {
            "precision": lp or term("none")}
    areas = _first_numbers(row.get("area_km2"))
    if prec == "camp-area":
        same = camps[(camps["kind"] == row["kind"]) & (camps["precision"] == "camp-area")]
        span = _area_range([a for t in same["area_km2"] for a in _first_numbers(t)])
        size = (gettext("a camp of %(area)s (a circle of that area has a %(radius)s km radius)") % {
            "area": _area_range(areas), "radius": f"{math.sqrt(max(areas) / math.pi):.1f}"}
            if areas else gettext("a camp of unpublished area"))
        return gettext("The point marks one spot inside %(size)s; the %(kind)s camps that the atlas marks as areas "
                       "measure %(span)s (not every camp is that large). Distances are to that point, not to the "
                       "camp's perimeter: a feature can be that much nearer the camp itself. Source: %(source)s") % {
            "size": size, "kind": term(str(row["kind"])), "span": span, "source": lp}
    if prec == "uncertain":
        return gettext("Its location is uncertain: %(precision)s. Treat distances from it with that margin.") % {
            "precision": lp}
    size = gettext(" (a facility of %(area)s)") % {"area": _area_range(areas)} if areas else ""
    return gettext("The point marks the facility itself%(size)s: %(precision)s.") % {"size": size, "precision": lp}


def site_from_row(layer: str, frame: pd.DataFrame, pos: int) -> Site:
    row = frame.iloc[pos]
    geom = frame.geometry.iloc[pos] if isinstance(frame, gpd.GeoDataFrame) else None
    if geom is not None and (not isinstance(geom, shapely.Geometry) or geom.is_empty):
        geom = None
    present = uniform_frame(layer, frame.iloc[[pos]]).iloc[0]
    prec = str(present["precision"] or "")
    lp = str(present["location_precision"] or "")
    if layer == "camps":
        note = _camp_note(row, frame)
    elif geom is None:
        note = gettext("It has no public coordinate (%(precision)s), so no distance can be measured from it.") % {
            "precision": lp or term("none")}
    elif layer == "named_mines" and row.get("is_town_proxy"):
        note = gettext("The point is a town proxy, not the mine's location: distances say how far the town is. "
                       "%(precision)s") % {"precision": lp}
    elif layer == "named_mines":
        note = gettext("The point is %(role)s. %(precision)s") % {"role": row.get("location_role"), "precision": lp}
    elif geom.geom_type != "Point":
        note = (gettext("It is an area: distances are measured from its boundary (0 for features inside it). "
                        "%(precision)s") % {"precision": lp}).strip()
    else:
        note = gettext("Location precision: %(precision)s") % {"precision": term(prec)} + (
            f" ({lp})" if lp and lp != prec else "") + "."
    return Site(layer, str(present["id"]), str(present["name"]), str(present["kind"] or ""),
                geom, prec, lp, note)


# --- layer access and presentation --------------------------------------------------------


def _col(df: pd.DataFrame, name: str | None, default=None) -> np.ndarray:
    """A column as an object array, None for missing values (or ``default`` if no such column)."""
    if name and name in df.columns:
        values = df[name].to_numpy(dtype=object)
        missing = pd.isna(values)
        if missing.any():
            values = values.copy()
            values[missing] = None
        return values
    return np.full(len(df), default, dtype=object)


def _id_column(layer: str, df: pd.DataFrame) -> str | None:
    from .schema import id_column

    return id_column(layer, df.columns)


def uniform_columns(layer: str, df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The uniform columns (id, name, kind, commodity, precision, ...) of a layer, as arrays."""
    n = len(df)

    def const(v):
        return np.full(n, v, dtype=object)

    idc = _id_column(layer, df)
    ids = _col(df, idc) if idc else np.array([str(i) for i in df.index], dtype=object)
    out = {"id": np.array([str(v) for v in ids], dtype=object)}
    if layer == "camps":
        out.update(name=_col(df, "name"), kind=_col(df, "kind"), commodity=const(None))
    elif layer == "mines":
        out.update(name=_col(df, "name"), kind=const("mine"), commodity=_col(df, "commodity"))
    elif layer == "named_mines":
        out.update(name=_col(df, "name_in_report"), kind=_col(df, "location_role"),
                   commodity=_col(df, "commodity"))
    elif layer == "mineral_deposits":
        com = _col(df, "commodity")
        out.update(name=np.array([f"{c} deposit region" for c in com], dtype=object),
                   kind=const("deposit region"), commodity=com)
    elif layer in ("counties", "provinces"):
        out.update(name=_col(df, "name_en"), kind=const({"counties": "county"}.get(layer, "province")),
                   commodity=const(None))
    else:
        from .schema import name_column

        name_col = name_column(layer, df.columns)
        out.update(name=_col(df, name_col) if name_col else out["id"], kind=_col(df, "kind"),
                   commodity=_col(df, "commodity"))
    if layer == "counties":
        out.update(precision=const("boundary"), location_precision=_col(df, "boundary_vintage"),
                   source=_col(df, "source"), province=_col(df, "province"), county=_col(df, "name_en"))
    elif layer == "provinces":
        out.update(precision=const("boundary"), location_precision=_col(df, "boundary_vintage"),
                   source=_col(df, "boundary_source"), province=_col(df, "name_en"), county=const(None))
    else:
        lp = _col(df, "location_precision")
        if layer == "mineral_deposits":
            note, provs = _col(df, "region_note"), _col(df, "provinces")
            lp = np.array([a if a not in (None, "") else b for a, b in zip(note, provs)], dtype=object)
        out.update(precision=_col(df, "precision"), location_precision=lp, source=_col(df, "source"),
                   province=_col(df, "province"), county=_col(df, "county"))
    return out


def uniform_frame(layer: str, df: pd.DataFrame) -> pd.DataFrame:
    """The uniform columns of a layer's rows, as a DataFrame indexed like ``df``."""
    return pd.DataFrame(uniform_columns(layer, df), index=df.index)
