"""Export the atlas to QGIS: a styled GeoPackage and a project beside it.

:func:`export_qgis` writes a folder a user can zip and send:

- ``atlas.gpkg``: a copy of the atlas GeoPackage (version 1.3, which QGIS
  3.22 LTR reads without warning) with a ``layer_styles`` table, registered
  in ``gpkg_contents``, holding one default style (QML) per layer. Dragging
  the GeoPackage alone into QGIS shows every layer styled.
- ``atlas.qgz``: a QGIS project referencing ``./atlas.gpkg`` by relative
  path. Layers are in groups (Reference, Mining, Penal system, Tables), the
  project CRS is EPSG:5179, every ``<maplayer>`` carries its own style (a
  project never applies ``layer_styles`` defaults), camps are related to their
  findings and published coordinates, and the project metadata names the
  licence and attribution of every source.
- ``rasters/``: the mine density GeoTIFF and imagery chips, when present,
  each with a ``.qml`` sidecar style (a pseudocolour ramp for the density,
  the highest density the most visible colour).

The XML is written without QGIS, so the package does not depend on it; the
tests open the result in a real headless QGIS 3.22. Traps found there (see
the field guide): layer ids must be longer than 10 characters, a
``<spatialrefsys>`` needs its WKT, the project CRS needs
``ProjectionsEnabled``, and a broken QML is reported as loaded while QGIS
draws a random symbol, so the tests check every renderer.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sqlite3
import tempfile
import uuid
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from . import io, schema
from .errors import InputError, NotFoundError
from .style import COMMODITY_COLOURS, DENSITY_RAMP, KIND_LABELS, KIND_SHAPES, PROVINCE_RAMP, STATUS_COLOURS

__all__ = [
    "PROJECT_CRS",
    "STYLED_LAYERS",
    "USER_COLOUR",
    "export_qgis",
    "layer_qml",
    "raster_qml",
]

#: The project CRS: Korea 2000 / Unified CS, the best planar CRS over the whole peninsula.
PROJECT_CRS = "EPSG:5179"
#: The QGIS version the XML is written for (the oldest LTR the atlas supports).
QGIS_VERSION = "3.22.16-Białowieża"
#: Layers with a style of their own (every other layer gets a plain one).
STYLED_LAYERS = ("provinces", "counties", "mines", "named_mines", "mineral_deposits", "camps",
                 "coordinate_candidates")
DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
# QGIS's internal srs.db ids; with an authid QGIS resolves the CRS by authid, else by the WKT.
_SRSID = {4326: 3452, 5179: 28043}
_ID_NAMESPACE = uuid.UUID("6f1c7a64-4a51-4b7e-9d0f-2b1e7e6a0c11")

# --- palette: atlas.style, shared with the HTML map ----------------------------------------

#: Colour of any other layer (a user's imported data): a magenta no atlas layer uses.
USER_COLOUR = "#e7298a"
_HATCHES = ("f_diagonal", "b_diagonal", "horizontal", "vertical", "cross", "diagonal_x")
_OUTLINE = "#1a1a1a"

#: Display names in the project's layer tree.
TITLES = {
    "provinces": "Provinces: mines reported (Table 2)",
    "counties": "Counties (OpenStreetMap 2020)",
    "mines": "Mines with open coordinates",
    "named_mines": "Mines named in the report",
    "mineral_deposits": "Deposit regions named in the report",
    "camps": "Prison camps",
    "coordinate_candidates": "Published camp coordinates",
    "camp_findings": "Camp findings (dated)",
    "report_discrepancies": "Report discrepancies",
    "sources": "Sources",
}
#: The project's groups, top of the drawing order first; each lists table names.
GROUPS = (
    ("Penal system", ("camps", "coordinate_candidates")),
    ("Mining", ("mines", "named_mines", "mineral_deposits")),
    ("Reference", ("counties", "provinces")),
    ("Tables", ("camp_findings", "report_table_1", "report_table_2", "report_table_3",
                "report_table_4", "report_table_5", "report_discrepancies", "sources")),
)
#: Layers drawn but switched off when the project opens (they cover the others).
HIDDEN = ("mineral_deposits", "coordinate_candidates")
#: Relations in the project: (id, name, referenced layer, referencing layer, field).
RELATIONS = (
    ("camps_camp_findings_site_id", "Findings", "camps", "camp_findings", "site_id"),
    ("camps_coordinate_candidates_site_id", "Published coordinates", "camps",
     "coordinate_candidates", "site_id"),
)

# Fields grouped into form tabs by what they say.
_LOCATION_FIELDS = {
    "precision", "location_precision", "town_centroid_flag", "lat", "lon", "province",
    "province_as_given", "county", "county_ko", "county_id", "county_as_given",
    "county_or_place", "admin_method", "admin_distance_km", "is_mine_location",
    "is_town_proxy", "location_role", "match_type", "distance_km_from_atlas_point",
    "is_atlas_point", "provinces", "region_note", "n_coordinate_candidates", "area_km2",
    "land_area_km2",
}
_SOURCE_FIELDS = {
    "source", "source_ref", "source_report", "licence", "attribution", "report_ref",
    "record_origin", "section", "quote", "page", "boundary_source", "boundary_vintage",
    "notes", "cross_checks", "discrepancy_ref", "origin", "sha256", "note",
    "printed_cells_note", "province_basis",
}
_NAME_FIELDS = ("name", "name_in_report", "name_en", "subject", "region", "resource",
                "commodity", "description", "path")


# --- small XML helpers ---------------------------------------------------------------------------


def _el(parent: ET.Element | None, tag: str, attrib: dict | None = None,
        text: str | None = None) -> ET.Element:
    attrib = {k: str(v) for k, v in (attrib or {}).items()}
    node = ET.Element(tag, attrib) if parent is None else ET.SubElement(parent, tag, attrib)
    if text is not None:
        node.text = text
    return node


def _rgba(hex_colour: str, alpha: float = 1.0) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(alpha * 255)}"


def _empty_dd(parent: ET.Element, tag: str = "data_defined_properties") -> None:
    opt = _el(_el(parent, tag), "Option", {"type": "Map"})
    _el(opt, "Option", {"type": "QString", "name": "name", "value": ""})
    _el(opt, "Option", {"name": "properties"})
    _el(opt, "Option", {"type": "QString", "name": "type", "value": "collection"})


def _symbol_layer(parent: ET.Element, cls: str, props: dict) -> None:
    """A symbol layer with its properties both as ``<Option>`` (3.22+) and ``<prop>`` (older)."""
    layer = _el(parent, "layer", {"class": cls, "enabled": 1, "locked": 0, "pass": 0})
    opt = _el(layer, "Option", {"type": "Map"})
    for k, v in props.items():
        _el(opt, "Option", {"type": "QString", "name": k, "value": v})
    for k, v in props.items():
        _el(layer, "prop", {"k": k, "v": v})
    _empty_dd(layer)


def _marker(shape: str, fill: str, size: float, outline: str = _OUTLINE, width: float = 0.3,
            outline_style: str = "solid", fill_alpha: float = 1.0) -> dict:
    return {
        "angle": "0", "color": _rgba(fill, fill_alpha) if fill != "none" else "0,0,0,0",
        "horizontal_anchor_point": "1", "joinstyle": "miter", "name": shape,
        "offset": "0,0", "offset_unit": "MM", "outline_color": _rgba(outline),
        "outline_style": outline_style, "outline_width": str(width), "outline_width_unit": "MM",
        "scale_method": "diameter", "size": str(size), "size_unit": "MM",
        "vertical_anchor_point": "1",
    }


def _fill(fill: str, style: str = "solid", outline: str = _OUTLINE, width: float = 0.26,
          outline_style: str = "solid", alpha: float = 1.0) -> dict:
    return {
        "color": _rgba(fill, alpha) if fill != "none" else "0,0,0,0", "style": style,
        "joinstyle": "bevel", "offset": "0,0", "offset_unit": "MM",
        "outline_color": _rgba(outline), "outline_style": outline_style,
        "outline_width": str(width), "outline_width_unit": "MM",
    }


def _symbol(parent: ET.Element, name: str, kind: str, layers: list[tuple[str, dict]],
            alpha: float = 1.0) -> ET.Element:
    sym = _el(parent, "symbol", {"type": kind, "name": name, "alpha": alpha,
                                  "clip_to_extent": 1, "force_rhr": 0})
    _empty_dd(sym)
    for cls, props in layers:
        _symbol_layer(sym, cls, props)
    return sym


def _renderer(parent: ET.Element, kind: str, **attrs) -> ET.Element:
    return _el(parent, "renderer-v2", {"type": kind, "symbollevels": 0, "forceraster": 0,
                                       "enableorderby": 0, "referencescale": -1, **attrs})


def _categorized(parent: ET.Element, attr: str, geom: str,
                 cats: list[tuple[str, str, list[tuple[str, dict]]]]) -> ET.Element:
    """``cats``: (value, label, symbol layers); ``attr`` may be an expression."""
    r = _renderer(parent, "categorizedSymbol", attr=attr)
    c = _el(r, "categories")
    for i, (value, label, _) in enumerate(cats):
        _el(c, "category", {"value": value, "label": label, "symbol": i, "render": "true"})
    syms = _el(r, "symbols")
    for i, (_, _, layers) in enumerate(cats):
        _symbol(syms, str(i), geom, layers)
    _el(r, "rotation")
    _el(r, "sizescale")
    return r


def _graduated(parent: ET.Element, attr: str, geom: str,
               ranges: list[tuple[float, float, str, list[tuple[str, dict]]]]) -> ET.Element:
    r = _renderer(parent, "graduatedSymbol", attr=attr, graduatedMethod="GraduatedColor")
    rg = _el(r, "ranges")
    for i, (lo, hi, label, _) in enumerate(ranges):
        _el(rg, "range", {"lower": f"{lo:.6f}", "upper": f"{hi:.6f}", "label": label,
                          "symbol": i, "render": "true"})
    syms = _el(r, "symbols")
    for i, (_, _, _, layers) in enumerate(ranges):
        _symbol(syms, str(i), geom, layers)
    cm = _el(r, "classificationMethod", {"id": "Quantile"})
    _el(cm, "symmetricMode", {"enabled": 0, "symmetrypoint": 0, "astride": 0})
    _el(cm, "labelFormat", {"format": "%1 – %2", "labelprecision": 0, "trimtrailingzeroes": 1})
    _el(_el(cm, "parameters"), "Option")
    _el(cm, "extraInformation")
    _el(r, "rotation")
    _el(r, "sizescale")
    return r


def _single(parent: ET.Element, geom: str, layers: list[tuple[str, dict]]) -> ET.Element:
    r = _renderer(parent, "singleSymbol")
    _symbol(_el(r, "symbols"), "0", geom, layers)
    _el(r, "rotation")
    _el(r, "sizescale")
    return r


def _labeling(parent: ET.Element, expression: str, size: float = 8.0, bold: bool = False,
              placement: int = 6, dist: float = 1.2, colour: str = "#111111",
              priority: int = 5, polygon: bool = False) -> ET.Element:
    """Simple labelling on an expression, with a white buffer.

    ``placement``: 6 cartographic around a point, 1 over the centroid of a polygon.
    """
    lab = _el(parent, "labeling", {"type": "simple"})
    st = _el(lab, "settings", {"calloutType": "simple"})
    ts = _el(st, "text-style", {
        "fieldName": expression, "isExpression": 1, "fontFamily": "DejaVu Sans",
        "fontSize": size, "fontSizeUnit": "Point", "fontWeight": 75 if bold else 50,
        "fontItalic": 0, "textColor": _rgba(colour), "textOpacity": 1, "multilineHeight": 1,
        "namedStyle": "Bold" if bold else "", "blendMode": 0, "allowHtml": 0,
        "capitalization": 0, "previewBkgrdColor": "255,255,255,255",
    })
    _el(ts, "families")
    _el(ts, "text-buffer", {"bufferDraw": 1, "bufferSize": 0.8, "bufferSizeUnits": "MM",
                            "bufferColor": "255,255,255,255", "bufferOpacity": 0.85,
                            "bufferJoinStyle": 128, "bufferNoFill": 1, "bufferBlendMode": 0})
    _el(st, "text-format", {"multilineAlign": 3 if not polygon else 1, "wrapChar": "",
                            "autoWrapLength": 0, "formatNumbers": 0})
    _el(st, "placement", {
        "placement": placement, "dist": dist, "distUnits": "MM", "priority": priority,
        "centroidInside": 1 if polygon else 0, "centroidWhole": 0, "fitInPolygonOnly": 0,
        "predefinedPositionOrder": "TR,TL,BR,BL,R,L,TSR,BSR", "placementFlags": 10,
        "polygonPlacementFlags": 2, "offsetType": 0, "quadOffset": 4, "xOffset": 0,
        "yOffset": 0, "offsetUnits": "MM", "rotationAngle": 0,
    })
    _el(st, "rendering", {"obstacle": 1, "obstacleFactor": 1, "obstacleType": 1,
                          "scaleVisibility": 0, "drawLabels": 1, "displayAll": 0,
                          "upsidedownLabels": 0, "labelPerPart": 0, "mergeLines": 0,
                          "limitNumLabels": 0, "maxNumLabels": 2000, "zIndex": 0,
                          "fontLimitPixelSize": 0, "minFeatureSize": 0})
    _empty_dd(st, "dd_properties")
    return lab


# --- expressions -----------------------------------------------------------------------------------


def _q(field: str) -> str:
    """A field reference in a QGIS expression."""
    return '"' + field.replace('"', '""') + '"'


def _escaped(field: str) -> str:
    """A QGIS expression giving ``field`` as HTML-escaped text (map tips are HTML)."""
    expr = f"coalesce(to_string({_q(field)}), '')"
    for raw, esc in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        expr = f"replace({expr}, '{raw}', '{esc}')"
    return expr


def _html(field: str) -> str:
    """A map-tip placeholder for ``field``, HTML-escaped."""
    return f"[% {_escaped(field)} %]"


def _html_line(label: str, field: str) -> str:
    """``<br/><i>label:</i> value`` for a non-empty field, nothing for an empty one."""
    return (f"[% if(coalesce(to_string({_q(field)}), '') = '', '', "
            f"'<br/><i>{label}:</i> ' || {_escaped(field)}) %]")


def _title_field(columns: Iterable[str]) -> str | None:
    cols = list(columns)
    for f in _NAME_FIELDS:
        if f in cols:
            return f
    return cols[0] if cols else None


def _maptip(name: str, columns: list[str]) -> str:
    """An HTML map tip: the feature's name, then precision and source when the layer has them."""
    title = _title_field(columns)
    id_field = schema.SCHEMAS[name].id_field if name in schema.SCHEMAS else None
    head = ""
    if title:
        head = f"<b>{_html(title)}</b>"
        if id_field and id_field in columns and id_field != title:
            head += f" <small>({_html(id_field)})</small>"
    lines = [_html_line(label, fld) for label, fld in (
        ("Korean", "name_ko"), ("Precision", "precision"), ("Location", "location_precision"),
        ("Role", "location_role"), ("Status", "status"), ("Province", "province"),
        ("County", "county"), ("Reported mines (Table 2)", "reported_mines"),
        ("Source", "source"), ("Source", "source_report"), ("Reference", "report_ref"),
        ("Licence", "licence")) if fld in columns]
    return head + "".join(lines)


# --- per-layer styles ----------------------------------------------------------------------------


@dataclass
class _Style:
    """The style of one layer: elements shared by its QML and its ``<maplayer>``."""

    elements: list[ET.Element]
    labels: bool
    geometry: str  # 'Point', 'Polygon', 'Line' or 'No geometry'


def _geom_kind(df: pd.DataFrame) -> str:
    if not isinstance(df, gpd.GeoDataFrame):
        return "No geometry"
    types = set(df.geometry.dropna().geom_type)
    if types & {"Polygon", "MultiPolygon"}:
        return "Polygon"
    if types & {"LineString", "MultiLineString"}:
        return "Line"
    return "Point"


def _symbol_kind(geometry: str) -> str:
    return {"Point": "marker", "Polygon": "fill", "Line": "line"}[geometry]


def _equal_ranges(values: pd.Series, n: int = 5) -> list[tuple[float, float, str]]:
    """Equal-interval classes with round steps from 0, as the HTML map draws the provinces.

    Counts are whole numbers, so class ``k`` runs from the previous limit + 1
    to its own limit, both included.
    """
    vals = pd.to_numeric(values, errors="coerce").dropna().to_numpy()
    top = max(float(vals.max()) if len(vals) else 1.0, 1.0)
    step = max(1, math.ceil(top / n / 5) * 5) if top > 25 else max(1, math.ceil(top / n))
    limits = [step * (i + 1) for i in range(n)]
    lows = [0, *[lim + 1 for lim in limits[:-1]]]
    return [(float(lo), float(hi), f"{lo}–{hi}") for lo, hi in zip(lows, limits)]


def _present(df: pd.DataFrame, col: str, order: Iterable[str] = ()) -> list[str]:
    """Values of ``col`` in a fixed order first (those present), then any others, sorted."""
    found = [str(v) for v in df[col].dropna().unique() if str(v) != ""] if col in df else []
    ordered = [v for v in order if v in found]
    return ordered + sorted(v for v in found if v not in ordered)


def _letter(char: str, colour: str, size: float) -> tuple[str, dict]:
    """A font marker drawing one letter (the map's "T" for a town location)."""
    return ("FontMarker", {
        "chr": char, "font": "DejaVu Sans", "font_style": "Bold", "size": str(size),
        "size_unit": "MM", "color": _rgba(colour), "outline_color": "255,255,255,255",
        "outline_width": "0.2", "outline_width_unit": "MM", "joinstyle": "miter",
        "angle": "0", "offset": "0,0", "offset_unit": "MM",
        "horizontal_anchor_point": "1", "vertical_anchor_point": "1"})


def _mine_symbol(colour: str, precision: str) -> tuple[str, list[tuple[str, dict]]]:
    """Filled for a site, pale and dashed when approximate, hollow with a T for a town."""
    if precision == "site":
        return "site", [("SimpleMarker", _marker("circle", colour, 3.2, outline="#1a1a1a",
                                                 width=0.4))]
    if precision == "town":
        return "town, not the mine's location", [
            ("SimpleMarker", _marker("circle", "none", 3.8, outline=colour, width=0.6,
                                     outline_style="dash")),
            _letter("T", colour, 2.6)]
    return "approximate (mine area or district)", [
        ("SimpleMarker", _marker("circle", colour, 3.2, outline=colour, width=0.5,
                                 outline_style="dash", fill_alpha=0.35))]


#: Named mines by role (field ``precision``): fill opacity, outline style, legend text.
_NAMED_ROLES = {
    "site": (1.0, "solid", "the named mine itself"),
    "district member": (0.4, "solid", "a mine of the named district"),
    "nearby mine": (0.15, "dash", "a nearby mine, not the named one"),
    "town proxy": (0.0, "dash", "town proxy, NOT the mine's location"),
    "none": (0.0, "dot", "no public coordinate"),
}


def _named_symbol(colour: str, precision: str) -> tuple[str, list[tuple[str, dict]]]:
    alpha, ostyle, label = _NAMED_ROLES.get(precision, (0.15, "dash", precision))
    layers = [("SimpleMarker", _marker("star", colour if alpha else "none", 5.0,
                                       outline="#1a1a1a" if alpha == 1.0 else colour,
                                       width=0.5 if precision == "town proxy" else 0.35,
                                       outline_style=ostyle, fill_alpha=alpha or 1.0))]
    if precision == "town proxy":
        layers.append(_letter("T", colour, 2.4))
    return label, layers


def _renderer_for(name: str, df: pd.DataFrame, geometry: str, parent: ET.Element) -> None:
    kind = _symbol_kind(geometry) if geometry != "No geometry" else None
    if name == "provinces":
        ranges = _equal_ranges(df["reported_mines"], len(PROVINCE_RAMP))
        _graduated(parent, "reported_mines", "fill", [
            (lo, hi, f"{label} mines reported", [("SimpleFill", _fill(
                c, alpha=0.55, outline="#5b4636", width=0.4))])
            for (lo, hi, label), c in zip(ranges, PROVINCE_RAMP)])
    elif name == "counties":
        _single(parent, "fill", [("SimpleFill", _fill("none", style="no", outline="#8c8c8c",
                                                      width=0.15))])
    elif name == "mines":
        combos = set(zip(df["commodity_class"].astype(str), df["precision"].astype(str)))
        cats = []
        for cls in _present(df, "commodity_class", COMMODITY_COLOURS):
            colour = COMMODITY_COLOURS.get(cls, "#777777")
            for prec in _present(df, "precision", ("site", "approximate", "town")):
                if (cls, prec) in combos:
                    label, layers = _mine_symbol(colour, prec)
                    cats.append((f"{cls} | {prec}", f"{cls}: {label}", layers))
        _categorized(parent, f"{_q('commodity_class')} || ' | ' || {_q('precision')}",
                     "marker", cats)
    elif name == "named_mines":
        combos = set(zip(df["commodity_class"].astype(str), df["precision"].astype(str)))
        cats = []
        for cls in _present(df, "commodity_class", COMMODITY_COLOURS):
            colour = COMMODITY_COLOURS.get(cls, "#777777")
            for prec in _present(df, "precision", _NAMED_ROLES):
                if (cls, prec) in combos:
                    label, layers = _named_symbol(colour, prec)
                    cats.append((f"{cls} | {prec}", f"{cls}: {label}", layers))
        _categorized(parent, f"{_q('commodity_class')} || ' | ' || {_q('precision')}",
                     "marker", cats)
    elif name == "mineral_deposits":
        cats = []
        for i, com in enumerate(_present(df, "commodity")):
            cls = str(df.loc[df["commodity"] == com, "commodity_class"].iloc[0])
            colour = COMMODITY_COLOURS.get(cls, "#999999")
            cats.append((com, f"{com} ({cls})", [
                ("SimpleFill", _fill(colour, style=_HATCHES[i % len(_HATCHES)], outline=colour,
                                     width=0.5, outline_style="dash"))]))
        _categorized(parent, "commodity", "fill", cats)
    elif name == "camps":
        combos = set(zip(df["kind"].astype(str), df["status_class"].astype(str)))
        cats = []
        for kind_ in _present(df, "kind", KIND_SHAPES):
            shape = KIND_SHAPES.get(kind_, "diamond")
            size = 4.2 if kind_ == "kwan-li-so" else 3.8
            for status in _present(df, "status_class", STATUS_COLOURS):
                if (kind_, status) in combos:
                    colour = STATUS_COLOURS.get(status, "#ffffff")
                    cats.append((f"{kind_} | {status}", f"{KIND_LABELS.get(kind_, kind_)}: {status}",
                                 [("SimpleMarker", _marker(shape, colour, size, outline="#1a1a1a",
                                                           width=0.5))]))
        _categorized(parent, f"{_q('kind')} || ' | ' || {_q('status_class')}", "marker", cats)
    elif name == "coordinate_candidates":
        _categorized(parent, f"if({_q('is_atlas_point')}, 'atlas point', 'other published')",
                     "marker", [
                         ("atlas point", "the point the atlas uses",
                          [("SimpleMarker", _marker("circle", "#000000", 1.2, width=0))]),
                         ("other published", "another published coordinate",
                          [("SimpleMarker", _marker("cross2", "#000000", 2.2, outline="#4d4d4d",
                                                    width=0.35))])])
    elif kind == "marker":
        _single(parent, kind, [("SimpleMarker", _marker("circle", USER_COLOUR, 2.6))])
    elif kind == "fill":
        _single(parent, kind, [("SimpleFill", _fill(USER_COLOUR, alpha=0.3, outline=USER_COLOUR,
                                                    width=0.5))])
    elif kind == "line":
        _single(parent, kind, [("SimpleLine", {"line_color": _rgba(USER_COLOUR),
                                               "line_width": "0.6", "line_width_unit": "MM",
                                               "line_style": "solid"})])


def _label_for(name: str, parent: ET.Element) -> bool:
    if name == "provinces":
        expr = (f"replace({_q('name_en')}, ' Province', '') || '\\n' || "
                f"{_q('reported_mines')} || ' mines'")
        _labeling(parent, expr, size=8.5, bold=True, placement=4, dist=0, colour="#2d004b",
                  priority=10, polygon=True)
        return True
    if name == "camps":
        # The number, unless the name already says it, then the name.
        number = f"coalesce({_q('number')}, '')"
        expr = (f"if({number} <> '' and strpos({_q('name')}, {number}) = 0, "
                f"{number} || ' · ', '') || {_q('name')}")
        _labeling(parent, expr, size=7, colour="#000000", priority=6)
        return True
    if name == "named_mines":
        expr = (f"if({_q('is_town_proxy')}, {_q('name_in_report')} || ' (town proxy)', '')")
        _labeling(parent, expr, size=6.5, colour="#6a3d9a", priority=7)
        return True
    return False


def _tabs(name: str, columns: list[str]) -> list[tuple[str, list[str]]]:
    main, where, source = [], [], []
    for c in columns:
        (where if c in _LOCATION_FIELDS else source if c in _SOURCE_FIELDS else main).append(c)
    label = "Site" if name == "camps" else "Attributes"
    return [(t, f) for t, f in ((label, main), ("Location and precision", where),
                                ("Source", source)) if f]


def _form(parent: ET.Element, name: str, columns: list[str],
          relations: list[tuple[str, str]] = ()) -> None:
    """A tabbed attribute form; ``relations`` (id, label) add a tab listing related rows."""
    _el(parent, "editform", {"tolerant": 1})
    _el(parent, "editforminit")
    _el(parent, "featformsuppress", text="0")
    _el(parent, "editorlayout", text="tablayout")
    form = _el(parent, "attributeEditorForm")
    for tab, fields in _tabs(name, columns):
        cont = _el(form, "attributeEditorContainer", {
            "name": tab, "showLabel": 1, "groupBox": 0, "columnCount": 1,
            "visibilityExpressionEnabled": 0, "visibilityExpression": ""})
        for f in fields:
            _el(cont, "attributeEditorField", {"name": f, "index": columns.index(f) + 1,
                                               "showLabel": 1})
    for rel_id, label in relations:
        cont = _el(form, "attributeEditorContainer", {
            "name": label, "showLabel": 1, "groupBox": 0, "columnCount": 1,
            "visibilityExpressionEnabled": 0, "visibilityExpression": ""})
        rel = _el(cont, "attributeEditorRelation", {
            "name": rel_id, "relation": rel_id, "label": label, "showLabel": 1,
            "relationWidgetTypeId": "relation_editor", "forceSuppressFormPopup": 0,
            "nmRelationId": ""})
        _el(rel, "editor_configuration")


def _vector_style(name: str, df: pd.DataFrame,
                  relations: list[tuple[str, str]] = ()) -> _Style:
    geometry = _geom_kind(df)
    geom_col = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
    columns = [c for c in df.columns if c != geom_col]
    holder = ET.Element("holder")
    flags = _el(holder, "flags")
    for flag, v in (("Identifiable", 1), ("Removable", 1), ("Searchable", 1), ("Private", 0)):
        _el(flags, flag, text=str(v))
    labels = False
    if geometry != "No geometry":
        _renderer_for(name, df, geometry, holder)
        labels = _label_for(name, holder)
        _el(_el(holder, "customproperties"), "Option")
        _el(holder, "blendMode", text="0")
        _el(holder, "featureBlendMode", text="0")
        _el(holder, "layerOpacity", text="1")
        _el(holder, "legend", {"type": "default-vector", "showLabelLegend": 0})
    _form(holder, name, columns, relations)
    title = _title_field(columns)
    id_field = schema.SCHEMAS[name].id_field if name in schema.SCHEMAS else None
    preview = _q(title) if title else ""
    if id_field and id_field in columns and id_field != title and title:
        preview = f"{_q(id_field)} || ': ' || {_q(title)}"
    _el(holder, "previewExpression", text=preview)
    _el(holder, "mapTip", text=_maptip(name, columns))
    geom_code = {"Point": 0, "Line": 1, "Polygon": 2, "No geometry": 4}[geometry]
    _el(holder, "layerGeometryType", text=str(geom_code))
    return _Style(list(holder), labels, geometry)


def _qml(elements: list[ET.Element], attrs: dict) -> str:
    root = _el(None, "qgis", {"version": QGIS_VERSION, "styleCategories": "AllStyleCategories",
                              **attrs})
    root.extend(elements)
    ET.indent(root, " ")
    return DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"


def layer_qml(name: str, df: pd.DataFrame) -> str:
    """The default QGIS style (QML) the export stores for one atlas layer.

    Parameters
    ----------
    name : str
        Layer name, e.g. ``"camps"``; the atlas layers have styles of their own,
        any other layer a plain one for its geometry.
    df : (Geo)DataFrame
        The layer, whose values set the categories and class breaks.

    Returns
    -------
    str
        A QML document.

    Examples
    --------
    >>> import atlas
    >>> from atlas.qgis import layer_qml
    >>> qml = layer_qml("camps", atlas.read_layer("camps"))
    >>> 'type="categorizedSymbol"' in qml
    True
    """
    style = _vector_style(name, df)
    return _qml(style.elements, {"labelsEnabled": int(style.labels), "readOnly": 0,
                                 "hasScaleBasedVisibilityFlag": 0, "minScale": "100000000",
                                 "maxScale": 0})


# --- rasters ---------------------------------------------------------------------------------------


@dataclass
class _Raster:
    path: Path  # the copy inside the export
    name: str
    crs: CRS | None
    bands: int
    stats: list[tuple[float, float]]  # (min, max) per band of valid cells
    description: str


def _read_raster(path: Path) -> _Raster:
    import rasterio

    try:
        with rasterio.open(path) as src:
            stats = []
            for b in range(1, min(src.count, 3) + 1):
                data = src.read(b, masked=True).astype("float64")
                valid = data.compressed()
                valid = valid[np.isfinite(valid)]
                stats.append((float(valid.min()), float(valid.max())) if valid.size else (0.0, 0.0))
            crs = CRS.from_user_input(src.crs.to_wkt()) if src.crs else None
            desc = (src.descriptions[0] if src.descriptions and src.descriptions[0] else "") or ""
            return _Raster(path, path.stem, crs, src.count, stats, desc)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{path} is not a readable raster: {exc}") from exc


def _minmax_origin(parent: ET.Element) -> None:
    mm = _el(parent, "minMaxOrigin")
    for tag, text in (("limits", "MinMax"), ("extent", "WholeRaster"),
                      ("statAccuracy", "Exact"), ("cumulativeCutLower", "0.02"),
                      ("cumulativeCutUpper", "0.98"), ("stdDevFactor", "2")):
        _el(mm, tag, text=text)


def _raster_elements(r: _Raster, density: bool) -> list[ET.Element]:
    holder = ET.Element("holder")
    flags = _el(holder, "flags")
    for flag, v in (("Identifiable", 1), ("Removable", 1), ("Searchable", 1), ("Private", 0)):
        _el(flags, flag, text=str(v))
    _el(_el(holder, "customproperties"), "Option")
    pipe = _el(holder, "pipe")
    if density or r.bands < 3:
        lo, hi = r.stats[0]
        if density:
            rr = _el(pipe, "rasterrenderer", {
                "type": "singlebandpseudocolor", "band": 1, "opacity": 0.85, "alphaBand": -1,
                "classificationMin": repr(lo), "classificationMax": repr(hi), "nodataColor": ""})
            _minmax_origin(rr)
            shader = _el(_el(rr, "rastershader"), "colorrampshader", {
                "colorRampType": "INTERPOLATED", "classificationMode": 1, "clip": 0,
                "minimumValue": repr(lo), "maximumValue": repr(hi), "labelPrecision": 4})
            n = len(DENSITY_RAMP)
            for i, colour in enumerate(DENSITY_RAMP):
                value = lo + (hi - lo) * i / (n - 1)
                label = "lowest" if i == 0 else "highest" if i == n - 1 else ""
                _el(shader, "item", {"value": repr(value), "color": colour,
                                     "alpha": 0 if i == 0 else 255,
                                     "label": f"{value:.4g} {label}".strip()})
        else:
            rr = _el(pipe, "rasterrenderer", {
                "type": "singlebandgray", "grayBand": 1, "gradient": "BlackToWhite",
                "opacity": 1, "alphaBand": -1, "nodataColor": ""})
            _minmax_origin(rr)
            ce = _el(rr, "contrastEnhancement")
            _el(ce, "minValue", text=repr(lo))
            _el(ce, "maxValue", text=repr(hi))
            _el(ce, "algorithm", text="StretchToMinimumMaximum")
    else:
        rr = _el(pipe, "rasterrenderer", {
            "type": "multibandcolor", "redBand": 1, "greenBand": 2, "blueBand": 3,
            "opacity": 1, "alphaBand": -1, "nodataColor": ""})
        _minmax_origin(rr)
        for colour, (lo, hi) in zip(("red", "green", "blue"), r.stats):
            ce = _el(rr, f"{colour}ContrastEnhancement")
            _el(ce, "minValue", text=repr(lo))
            _el(ce, "maxValue", text=repr(hi))
            _el(ce, "algorithm", text="StretchToMinimumMaximum")
    _el(pipe, "brightnesscontrast", {"brightness": 0, "contrast": 0, "gamma": 1})
    _el(pipe, "huesaturation", {"saturation": 0, "grayscaleMode": 0, "colorizeOn": 0,
                                "invertColors": 0})
    # A density surface is continuous: draw it smoothly; imagery keeps its pixels.
    resample = {"zoomedInResampler": "bilinear", "zoomedOutResampler": "bilinear"} if density \
        else {}
    _el(pipe, "rasterresampler", {"maxOversampling": 2, **resample})
    _el(holder, "blendMode", text="0")
    return list(holder)


def raster_qml(path: Path, density: bool = True) -> str:
    """The QGIS style (QML) of a raster: a pseudocolour ramp for a density surface.

    The lowest value is transparent and the highest is the darkest red, so the
    densest cells are the most visible (QGIS's default grey stretch draws them
    white, like the map's background). Imagery (``density=False``) gets a
    grey or RGB min/max stretch.

    Parameters
    ----------
    path : pathlib.Path
        A GeoTIFF (or any raster rasterio reads).
    density : bool, default True
        Style band 1 as a density surface.

    Returns
    -------
    str
        A QML document.

    Examples
    --------
    >>> import atlas
    >>> from atlas.qgis import raster_qml
    >>> qml = raster_qml(atlas.density())  # the mine density GeoTIFF, written to output/
    >>> "singlebandpseudocolor" in qml
    True
    """
    r = _read_raster(Path(path))
    return _qml(_raster_elements(r, density), {"hasScaleBasedVisibilityFlag": 0,
                                               "minScale": "1e+08", "maxScale": 0})


# --- the GeoPackage ---------------------------------------------------------------------------------


def _copy_gpkg(src: Path, dst: Path) -> None:
    """Copy a GeoPackage with SQLite's backup API; rewrite it as 1.3 if it is another version."""
    with sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True) as s, \
            sqlite3.connect(dst) as d:
        s.backup(d)
    with sqlite3.connect(dst) as con:
        (app_id,) = con.execute("PRAGMA application_id").fetchone()
        (version,) = con.execute("PRAGMA user_version").fetchone()
    if app_id != 0x47504B47:
        raise InputError(f"{src} is not a GeoPackage")
    if version != 10300:
        dst.unlink()
        layers = io.read_layers(src)
        layers.pop("layer_styles", None)
        io.write_layers(layers, dst, {n: s.description for n, s in schema.SCHEMAS.items()})


def _geometry_columns(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as con:
        return dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))


def _write_layer_styles(path: Path, styles: dict[str, str], descriptions: dict[str, str]) -> None:
    """(Re)create ``layer_styles`` as QGIS does and store one default style per layer."""
    geom_cols = _geometry_columns(path)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with sqlite3.connect(path) as con:
        con.execute("DROP TABLE IF EXISTS layer_styles")
        con.execute("DELETE FROM gpkg_contents WHERE table_name = 'layer_styles'")
        has_ogr = con.execute("SELECT count(*) FROM sqlite_master WHERE name = "
                              "'gpkg_ogr_contents'").fetchone()[0]
        if has_ogr:
            con.execute("DELETE FROM gpkg_ogr_contents WHERE table_name = 'layer_styles'")
        con.execute(
            'CREATE TABLE "layer_styles" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
            '"f_table_catalog" TEXT(256), "f_table_schema" TEXT(256), "f_table_name" TEXT(256), '
            '"f_geometry_column" TEXT(256), "styleName" TEXT(30), "styleQML" TEXT, '
            '"styleSLD" TEXT, "useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30), '
            '"ui" TEXT(30), "update_time" DATETIME DEFAULT '
            "(strftime('%Y-%m-%dT%H:%M:%fZ','now')))")
        con.executemany(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
            "owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', NULL, ?)",
            [(name, geom_cols.get(name, ""), f"atlas {name}", qml,
              f"Gulag, Inc. atlas default style: {descriptions.get(name, name)}", now)
             for name, qml in styles.items()])
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            "last_change) VALUES ('layer_styles', 'attributes', 'layer_styles', "
            "'QGIS default style of each layer', ?)", (now,))
        if has_ogr:
            con.execute("INSERT INTO gpkg_ogr_contents (table_name, feature_count) "
                        "VALUES ('layer_styles', ?)", (len(styles),))


# --- the project -----------------------------------------------------------------------------------


def _layer_id(name: str) -> str:
    """A stable id longer than 10 characters (QGIS replaces shorter ones on load)."""
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "layer"
    return f"{safe}_{uuid.uuid5(_ID_NAMESPACE, name).hex}"


def _spatialrefsys(parent: ET.Element, crs: CRS | None) -> None:
    srs = _el(parent, "spatialrefsys")
    if crs is None:
        for tag in ("wkt", "proj4", "srsid", "srid", "authid", "description",
                    "projectionacronym", "ellipsoidacronym"):
            _el(srs, tag, text="0" if tag in ("srsid", "srid") else "")
        _el(srs, "geographicflag", text="false")
        return
    epsg = crs.to_epsg()
    with warnings.catch_warnings():  # a PROJ string is lossy; QGIS reads the WKT first
        warnings.simplefilter("ignore", UserWarning)
        proj4 = crs.to_proj4() or ""
    acronym = next((p.split("=", 1)[1] for p in proj4.split() if p.startswith("+proj=")), "")
    _el(srs, "wkt", text=crs.to_wkt())
    _el(srs, "proj4", text=proj4)
    _el(srs, "srsid", text=str(_SRSID.get(epsg or -1, 0)))
    _el(srs, "srid", text=str(epsg or 0))
    _el(srs, "authid", text=f"EPSG:{epsg}" if epsg else "")
    _el(srs, "description", text=crs.name)
    _el(srs, "projectionacronym", text=acronym)
    _el(srs, "ellipsoidacronym", text="")
    _el(srs, "geographicflag", text="true" if crs.is_geographic else "false")


def _layer_metadata(parent: ET.Element, title: str, abstract: str, licences: list[str],
                    rights: list[str], crs: CRS | None) -> None:
    md = _el(parent, "resourceMetadata")
    for tag, text in (("identifier", ""), ("parentidentifier", ""), ("language", "en"),
                      ("type", "dataset"), ("title", title), ("abstract", abstract)):
        _el(md, tag, text=text)
    _el(md, "links")
    _el(md, "fees", text="")
    for right in rights:
        _el(md, "rights", text=right)
    for lic in licences:
        _el(md, "license", text=lic)
    _el(md, "encoding", text="")
    _spatialrefsys(_el(md, "crs"), crs)
    _el(md, "extent")


def _split_values(series: pd.Series) -> list[str]:
    out: list[str] = []
    for v in series.dropna().astype(str):
        for part in v.split(";"):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def _layer_licences(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    licences = _split_values(df["licence"]) if "licence" in df else []
    rights = _split_values(df["attribution"]) if "attribution" in df else []
    return licences[:20], rights[:20]


def _project_metadata(parent: ET.Element, sources: pd.DataFrame | None) -> None:
    licences = sorted(set(_split_values(sources["licence"]))) if sources is not None else []
    attributions = _split_values(sources["attribution"]) if sources is not None else []
    abstract = (
        "Geospatial atlas of North Korea's mines and prison camps, built on the report "
        "'Gulag, Inc.: The Use of Forced Labor in North Korea's Export Industries' (Committee "
        "for Human Rights in North Korea, 2016) and on open, cited data. The report counts 360 "
        "mines by province (Table 2, the province choropleth); only the mines with open "
        "coordinates are drawn as points. Every feature carries its source, licence and how "
        "precise its location is (precision, location_precision): town proxies and "
        "approximate points are drawn apart from sites.\n\n"
        "The GeoPackage is ODbL 1.0 because the counties derive from OpenStreetMap.\n\n"
        "Licences of the sources:\n" + "\n".join(f"- {x}" for x in licences) + "\n\n"
        "Attribution (reproduce these lines):\n" + "\n".join(f"- {x}" for x in attributions)
        + "\n\nSources, one per file (path: origin; licence; attribution):\n"
        + "\n".join(f"- {r.path}: {r.origin}; {r.licence}; {r.attribution}"
                    for r in (sources.itertuples() if sources is not None else []))
    )
    md = _el(parent, "projectMetadata")
    for tag, text in (("identifier", "gulag-inc-atlas"), ("parentidentifier", ""),
                      ("language", "en"), ("type", "dataset"),
                      ("title", "Gulag, Inc. atlas: North Korea's mines and prison camps"),
                      ("abstract", abstract)):
        _el(md, tag, text=text)
    kw = _el(md, "keywords", {"vocabulary": "gmd:topicCategory"})
    for word in ("mining", "prison camps", "forced labour", "North Korea", "DPRK",
                 "human rights"):
        _el(kw, "keyword", text=word)
    kw = _el(md, "keywords", {"vocabulary": "licences"})
    for lic in licences:
        _el(kw, "keyword", text=lic)
    kw = _el(md, "keywords", {"vocabulary": "attribution"})
    for att in attributions:
        _el(kw, "keyword", text=att)
    _el(md, "links")
    _el(md, "author", text="Gulag, Inc. atlas contributors")


def _layer_tree_layer(parent: ET.Element, lid: str, title: str, source: str, provider: str,
                      checked: bool = True, expanded: bool = False) -> None:
    node = _el(parent, "layer-tree-layer", {
        "id": lid, "name": title, "source": source, "providerKey": provider,
        "checked": "Qt::Checked" if checked else "Qt::Unchecked", "expanded": int(expanded),
        "legend_exp": "", "patch_size": "-1,-1", "legend_split_behavior": 0})
    _el(_el(node, "customproperties"), "Option")


def _group(parent: ET.Element, name: str, expanded: bool = True) -> ET.Element:
    g = _el(parent, "layer-tree-group", {"name": name, "checked": "Qt::Checked",
                                         "expanded": int(expanded)})
    _el(_el(g, "customproperties"), "Option")
    return g


@dataclass
class _Entry:
    """A layer of the project."""

    name: str  # table name or raster stem
    lid: str
    title: str
    source: str
    provider: str
    element: ET.Element  # the <maplayer>
    checked: bool = True


def _vector_maplayer(name: str, df: pd.DataFrame, style: _Style, title: str,
                     description: str) -> _Entry:
    lid = _layer_id(name)
    source = f"./atlas.gpkg|layername={name}"
    geometry = style.geometry
    wkb = "NoGeometry"
    if geometry != "No geometry":
        types = set(df.geometry.dropna().geom_type)
        wkb = sorted(types)[0] if len(types) == 1 else ("MultiPolygon" if geometry == "Polygon"
                                                        else "Point")
    ml = _el(None, "maplayer", {
        "type": "vector", "geometry": geometry, "wkbType": wkb,
        "labelsEnabled": int(style.labels), "readOnly": 0, "styleCategories": "AllStyleCategories",
        "hasScaleBasedVisibilityFlag": 0, "minScale": "100000000", "maxScale": 0,
        "simplifyDrawingHints": 1 if geometry == "Polygon" else 0, "simplifyDrawingTol": 1,
        "simplifyLocal": 1, "simplifyMaxScale": 1, "simplifyAlgorithm": 0,
        "autoRefreshEnabled": 0, "autoRefreshTime": 0, "refreshOnNotifyEnabled": 0,
        "refreshOnNotifyMessage": "", "legendPlaceholderImage": ""})
    crs = CRS.from_user_input(df.crs) if geometry != "No geometry" and df.crs else None
    _el(ml, "id", text=lid)
    _el(ml, "datasource", text=source)
    _el(_el(ml, "keywordList"), "value", text="")
    _el(ml, "layername", text=title)
    _spatialrefsys(_el(ml, "srs"), crs)
    licences, rights = _layer_licences(df)
    _layer_metadata(ml, title, f"{description}. Table '{name}' of atlas.gpkg.", licences,
                    rights, crs)
    _el(ml, "provider", {"encoding": "UTF-8"}, text="ogr")
    ml.extend(style.elements)
    return _Entry(name, lid, title, source, "ogr", ml, name not in HIDDEN)


def _raster_maplayer(r: _Raster, rel_source: str, title: str, abstract: str,
                     density: bool) -> _Entry:
    lid = _layer_id(f"raster_{rel_source}")
    ml = _el(None, "maplayer", {
        "type": "raster", "styleCategories": "AllStyleCategories",
        "hasScaleBasedVisibilityFlag": 0, "minScale": "1e+08", "maxScale": 0,
        "autoRefreshEnabled": 0, "autoRefreshTime": 0, "refreshOnNotifyEnabled": 0,
        "refreshOnNotifyMessage": "", "legendPlaceholderImage": ""})
    _el(ml, "id", text=lid)
    _el(ml, "datasource", text=rel_source)
    _el(_el(ml, "keywordList"), "value", text="")
    _el(ml, "layername", text=title)
    _spatialrefsys(_el(ml, "srs"), r.crs)
    _layer_metadata(ml, title, abstract, [], [], r.crs)
    _el(ml, "provider", text="gdal")
    nd = _el(ml, "noData")
    for b in range(1, r.bands + 1):
        _el(nd, "noDataList", {"bandNo": b, "useSrcNoData": 1})
    ml.extend(_raster_elements(r, density))
    return _Entry(rel_source, lid, title, rel_source, "gdal", ml)


def _extent_5179(layers: dict[str, pd.DataFrame]) -> tuple[float, float, float, float]:
    prov = layers.get("provinces")
    frames = [prov] if isinstance(prov, gpd.GeoDataFrame) and len(prov) else [
        df for df in layers.values() if isinstance(df, gpd.GeoDataFrame) and len(df)]
    if not frames:
        return (750000.0, 1750000.0, 1350000.0, 2350000.0)
    bounds = np.array([f.to_crs(PROJECT_CRS).total_bounds for f in frames])
    xmin, ymin = bounds[:, 0].min(), bounds[:, 1].min()
    xmax, ymax = bounds[:, 2].max(), bounds[:, 3].max()
    pad = 0.10 * max(xmax - xmin, ymax - ymin)
    return (xmin - pad, ymin - pad, xmax + pad, ymax + pad)


def _project_xml(entries: list[_Entry], groups: list[tuple[str, list[_Entry]]],
                 relations: list[tuple[str, str, _Entry, _Entry, str]],
                 extent: tuple[float, float, float, float], sources: pd.DataFrame | None) -> str:
    title = "Gulag, Inc. atlas: North Korea's mines and prison camps"
    root = _el(None, "qgis", {"version": QGIS_VERSION, "projectname": title})
    _el(root, "homePath", {"path": ""})
    _el(root, "title", text=title)
    _el(root, "autotransaction", {"active": 0})
    _el(root, "evaluateDefaultValues", {"active": 0})
    _el(root, "trust", {"active": 0})
    project_crs = CRS.from_user_input(PROJECT_CRS)
    _spatialrefsys(_el(root, "projectCrs"), project_crs)
    tree = _el(root, "layer-tree-group")
    _el(_el(tree, "customproperties"), "Option")
    for gname, members in groups:
        g = _group(tree, gname, expanded=gname != "Tables")
        for e in members:
            _layer_tree_layer(g, e.lid, e.title, e.source, e.provider, e.checked,
                              expanded=e.name in ("provinces", "mines", "named_mines", "camps"))
    order = _el(tree, "custom-order", {"enabled": 0})
    for _, members in groups:
        for e in members:
            _el(order, "item", text=e.lid)
    rels = _el(root, "relations")
    for rid, rname, referenced, referencing, fld in relations:
        rel = _el(rels, "relation", {"id": rid, "name": rname, "strength": "Association",
                                     "referencedLayer": referenced.lid,
                                     "referencingLayer": referencing.lid})
        _el(rel, "fieldRef", {"referencedField": fld, "referencingField": fld})
    _el(root, "polymorphicRelations")
    canvas = _el(root, "mapcanvas", {"name": "theMapCanvas", "annotationsVisible": 1})
    _el(canvas, "units", text="meters")
    ext = _el(canvas, "extent")
    for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), extent):
        _el(ext, tag, text=repr(float(v)))
    _el(canvas, "rotation", text="0")
    _spatialrefsys(_el(canvas, "destinationsrs"), project_crs)
    _el(canvas, "rendermaptile", text="0")
    layers = _el(root, "projectlayers")
    for e in entries:
        layers.append(e.element)
    lo = _el(root, "layerorder")
    for _, members in groups:
        for e in members:
            _el(lo, "layer", {"id": e.lid})
    props = _el(root, "properties")
    _el(_el(props, "Paths"), "Absolute", {"type": "bool"}, text="false")
    _el(_el(props, "SpatialRefSys"), "ProjectionsEnabled", {"type": "int"}, text="1")
    meas = _el(props, "Measurement")
    _el(meas, "DistanceUnits", {"type": "QString"}, text="km")
    _el(meas, "AreaUnits", {"type": "QString"}, text="km2")
    _el(meas, "Ellipsoid", {"type": "QString"}, text="EPSG:7030")
    gui = _el(props, "Gui")
    for tag, v in (("CanvasColorRedPart", 244), ("CanvasColorGreenPart", 246),
                   ("CanvasColorBluePart", 248)):
        _el(gui, tag, {"type": "int"}, text=str(v))
    pos = _el(props, "PositionPrecision")
    _el(pos, "Automatic", {"type": "bool"}, text="true")
    _el(pos, "DecimalPlaces", {"type": "int"}, text="2")
    _project_metadata(root, sources)
    view = _el(root, "ProjectViewSettings", {"UseProjectScales": 0, "rotation": 0})
    _el(view, "Scales")
    dve = _el(view, "DefaultViewExtent", dict(zip(("xmin", "ymin", "xmax", "ymax"),
                                                  (repr(float(v)) for v in extent))))
    _spatialrefsys(dve, project_crs)
    ET.indent(root, "  ")
    return DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"


# --- the export ------------------------------------------------------------------------------------


def _default_out_dir() -> Path:
    return io.output_dir() / "qgis"


def _find_rasters(gpkg: Path, density: Path | None, chips: Path | None
                  ) -> tuple[Path | None, list[Path]]:
    density = Path(density) if density else gpkg.parent / "mine_density.tif"
    chips = Path(chips) if chips else gpkg.parent / "chips"
    found_density = density if density.is_file() else None
    found_chips = sorted(p for p in chips.glob("*.tif")) if chips.is_dir() else []
    return found_density, found_chips


def export_qgis(
    out_dir: Path | None = None,
    gpkg: Path | None = None,
    *,
    density: Path | None = None,
    chips: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write a styled GeoPackage and a QGIS project that opens it.

    Writes ``out_dir/atlas.gpkg`` (a GeoPackage 1.3 copy of every layer, with
    a default style per layer in ``layer_styles``), ``out_dir/atlas.qgz`` (a
    project referencing ``./atlas.gpkg`` by relative path, CRS EPSG:5179) and,
    when present, the density raster and imagery chips under
    ``out_dir/rasters/`` with their styles. Everything is written to a
    temporary folder and checked first; an earlier export is replaced file by
    file only then, so a failure leaves it intact.

    Parameters
    ----------
    out_dir : pathlib.Path, optional
        Folder to write; default ``output/qgis/``.
    gpkg : pathlib.Path, optional
        Atlas GeoPackage to export; default ``output/atlas.gpkg``.
    density : pathlib.Path, optional
        Density GeoTIFF to include; default ``mine_density.tif`` beside ``gpkg``
        (left out when absent).
    chips : pathlib.Path, optional
        Folder of imagery chips (``*.tif``); default ``chips/`` beside ``gpkg``.
    progress : callable, optional
        Called with a short message per step.

    Returns
    -------
    pathlib.Path
        The project, ``out_dir/atlas.qgz`` (``atlas.gpkg`` is beside it).

    Raises
    ------
    NotFoundError
        No GeoPackage at ``gpkg``.
    ValidationError
        The exported GeoPackage fails the atlas checks (nothing is replaced).

    Examples
    --------
    >>> import atlas, tempfile, pathlib
    >>> project = atlas.export_qgis(pathlib.Path(tempfile.mkdtemp()))
    >>> sorted(p.name for p in project.parent.glob("atlas.*"))
    ['atlas.gpkg', 'atlas.qgz']
    """
    say = progress or (lambda _msg: None)
    src = Path(gpkg or io.default_gpkg())
    if not src.is_file():
        hint = " (run `atlas build` first)" if src == io.default_gpkg() else ""
        raise NotFoundError(f"no GeoPackage at {src}{hint}")
    out_dir = Path(out_dir or _default_out_dir())
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    density_src, chip_srcs = _find_rasters(src, density, chips)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        say(f"copying {src} to a GeoPackage 1.3")
        tmp_gpkg = tmp / "atlas.gpkg"
        _copy_gpkg(src, tmp_gpkg)
        layers = io.read_layers(tmp_gpkg)
        layers.pop("layer_styles", None)
        descriptions = {n: s.description for n, s in schema.SCHEMAS.items()}
        rel_by_layer: dict[str, list[tuple[str, str]]] = {}
        for rid, rname, referenced, referencing, _ in RELATIONS:
            if referenced in layers and referencing in layers:
                rel_by_layer.setdefault(referenced, []).append((rid, rname))
        say("writing a default style per layer into layer_styles")
        _write_layer_styles(tmp_gpkg, {n: layer_qml(n, df) for n, df in layers.items()},
                            descriptions)
        say("checking the exported GeoPackage")
        schema.validate_layers(io.read_layers(tmp_gpkg))

        entries: dict[str, _Entry] = {}
        for name, df in layers.items():
            style = _vector_style(name, df, rel_by_layer.get(name, []))
            title = TITLES.get(name) or (descriptions.get(name) or name)
            entries[name] = _vector_maplayer(name, df, style, title,
                                             descriptions.get(name, name))
        raster_files: list[Path] = []
        raster_entries: dict[str, list[_Entry]] = {"Mining": [], "Imagery chips": []}
        if density_src or chip_srcs:
            (tmp / "rasters").mkdir()
        if density_src:
            say(f"adding {density_src.name} with a pseudocolour ramp")
            dst = tmp / "rasters" / "mine_density.tif"
            shutil.copy2(density_src, dst)
            r = _read_raster(dst)
            dst.with_suffix(".qml").write_text(
                _qml(_raster_elements(r, True), {"hasScaleBasedVisibilityFlag": 0,
                                                 "minScale": "1e+08", "maxScale": 0}),
                encoding="utf-8")
            raster_files += [dst, dst.with_suffix(".qml")]
            abstract = r.description or "Kernel density of the geolocated mines"
            raster_entries["Mining"].append(_raster_maplayer(
                r, "./rasters/mine_density.tif", "Mine density (kernel)", abstract, True))
        if chip_srcs:
            (tmp / "rasters" / "chips").mkdir()
        for chip in chip_srcs:
            dst = tmp / "rasters" / "chips" / chip.name
            shutil.copy2(chip, dst)
            r = _read_raster(dst)
            dst.with_suffix(".qml").write_text(
                _qml(_raster_elements(r, False), {"hasScaleBasedVisibilityFlag": 0,
                                                  "minScale": "1e+08", "maxScale": 0}),
                encoding="utf-8")
            raster_files += [dst, dst.with_suffix(".qml")]
            raster_entries["Imagery chips"].append(_raster_maplayer(
                r, f"./rasters/chips/{chip.name}", f"Imagery chip {chip.stem}",
                f"Imagery chip around site {chip.stem}", False))

        groups: list[tuple[str, list[_Entry]]] = []
        placed: set[str] = set()
        for gname, members in GROUPS:
            items = [entries[m] for m in members if m in entries]
            placed.update(m for m in members if m in entries)
            if gname == "Mining":
                items += raster_entries["Mining"]
            groups.append((gname, items))
            if gname == "Penal system" and raster_entries["Imagery chips"]:
                groups.append(("Imagery chips", raster_entries["Imagery chips"]))
        others = [e for n, e in entries.items() if n not in placed]
        if others:
            groups.insert(0, ("Your data", others))
        relations = [(rid, rname, entries[a], entries[b], fld)
                     for rid, rname, a, b, fld in RELATIONS if a in entries and b in entries]
        all_entries = [e for _, members in groups for e in members]
        say("writing the project atlas.qgz (EPSG:5179)")
        qgs = _project_xml(all_entries, groups, relations, _extent_5179(layers),
                           layers.get("sources"))
        tmp_qgz = tmp / "atlas.qgz"
        with zipfile.ZipFile(tmp_qgz, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("atlas.qgs", qgs)

        say(f"replacing the export in {out_dir}")
        for f in raster_files:
            target = out_dir / f.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, target)
        os.replace(tmp_gpkg, out_dir / "atlas.gpkg")
        os.replace(tmp_qgz, out_dir / "atlas.qgz")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / "atlas.qgz"

