"""QGIS styles: the QML of each atlas layer and raster (renderers, symbols, labels, forms, map tips).

:func:`layer_qml` is the default style the QGIS export stores for a layer
(in the GeoPackage's ``layer_styles``), :func:`raster_qml` the style of a
raster: a pseudocolour ramp for a density surface (the highest density the
most visible colour), a min/max stretch for imagery. The project writer
(:mod:`atlas.qgis`) puts the same elements in each ``<maplayer>``. Colours
and shapes come from :mod:`atlas.style`, shared with the HTML map.

The XML is written without QGIS; the tests open it in a real headless QGIS
3.22. A broken QML is reported as loaded while QGIS draws a random symbol,
so the tests check every renderer.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from . import schema
from .admit import open_raster
from .errors import InputError
from .redact import xml_text
from .style import (
    COMMODITY_COLOURS,
    DENSITY_RAMP,
    KIND_LABELS,
    KIND_SHAPES,
    MINE_PRECISION_SYMBOLS,
    NAMED_MINE_SYMBOLS,
    PROVINCE_RAMP,
    STATUS_COLOURS,
    TIER_COLOURS,
    PrecisionSymbol,
    class_breaks,
)

__all__ = [
    "DOCTYPE",
    "QGIS_VERSION",
    "STYLED_LAYERS",
    "USER_COLOUR",
    "LayerStyle",
    "RasterInfo",
    "el",
    "layer_qml",
    "qml_document",
    "raster_document",
    "raster_elements",
    "raster_qml",
    "read_raster",
    "vector_style",
]

#: The QGIS version the XML is written for (the oldest LTR the atlas supports).
QGIS_VERSION = "3.22.16-Białowieża"
DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"

# --- palette: atlas.style, shared with the HTML map ----------------------------------------

#: Colour of any other layer (a user's imported data): a magenta no atlas layer uses.
USER_COLOUR = "#e7298a"
_HATCHES = ("f_diagonal", "b_diagonal", "horizontal", "vertical", "cross", "diagonal_x")
_OUTLINE = "#1a1a1a"

# Fields grouped into form tabs by what they say.
_LOCATION_FIELDS = {
    "precision", "location_precision", "town_centroid_flag", "lat", "lon", "province",
    "province_as_given", "county", "county_ko", "county_id", "county_as_given",
    "county_or_place_inferred", "admin_method", "admin_distance_km", "is_mine_location",
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


# --- small XML helpers ---------------------------------------------------------------------------


def el(parent: ET.Element | None, tag: str, attrib: dict | None = None,
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
    opt = el(el(parent, tag), "Option", {"type": "Map"})
    el(opt, "Option", {"type": "QString", "name": "name", "value": ""})
    el(opt, "Option", {"name": "properties"})
    el(opt, "Option", {"type": "QString", "name": "type", "value": "collection"})


def _symbol_layer(parent: ET.Element, cls: str, props: dict) -> None:
    """A symbol layer with its properties both as ``<Option>`` (3.22+) and ``<prop>`` (older)."""
    layer = el(parent, "layer", {"class": cls, "enabled": 1, "locked": 0, "pass": 0})
    opt = el(layer, "Option", {"type": "Map"})
    for k, v in props.items():
        el(opt, "Option", {"type": "QString", "name": k, "value": v})
    for k, v in props.items():
        el(layer, "prop", {"k": k, "v": v})
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
    sym = el(parent, "symbol", {"type": kind, "name": name, "alpha": alpha,
                                  "clip_to_extent": 1, "force_rhr": 0})
    _empty_dd(sym)
    for cls, props in layers:
        _symbol_layer(sym, cls, props)
    return sym


def _renderer(parent: ET.Element, kind: str, **attrs) -> ET.Element:
    return el(parent, "renderer-v2", {"type": kind, "symbollevels": 0, "forceraster": 0,
                                       "enableorderby": 0, "referencescale": -1, **attrs})


def _categorized(parent: ET.Element, attr: str, geom: str,
                 cats: list[tuple[str, str, list[tuple[str, dict]]]]) -> ET.Element:
    """``cats``: (value, label, symbol layers); ``attr`` may be an expression."""
    r = _renderer(parent, "categorizedSymbol", attr=attr)
    c = el(r, "categories")
    for i, (value, label, _) in enumerate(cats):
        el(c, "category", {"value": value, "label": label, "symbol": i, "render": "true"})
    syms = el(r, "symbols")
    for i, (_, _, layers) in enumerate(cats):
        _symbol(syms, str(i), geom, layers)
    el(r, "rotation")
    el(r, "sizescale")
    return r


def _graduated(parent: ET.Element, attr: str, geom: str,
               ranges: list[tuple[float, float, str, list[tuple[str, dict]]]]) -> ET.Element:
    r = _renderer(parent, "graduatedSymbol", attr=attr, graduatedMethod="GraduatedColor")
    rg = el(r, "ranges")
    for i, (lo, hi, label, _) in enumerate(ranges):
        el(rg, "range", {"lower": f"{lo:.6f}", "upper": f"{hi:.6f}", "label": label,
                          "symbol": i, "render": "true"})
    syms = el(r, "symbols")
    for i, (_, _, _, layers) in enumerate(ranges):
        _symbol(syms, str(i), geom, layers)
    cm = el(r, "classificationMethod", {"id": "Quantile"})
    el(cm, "symmetricMode", {"enabled": 0, "symmetrypoint": 0, "astride": 0})
    el(cm, "labelFormat", {"format": "%1 – %2", "labelprecision": 0, "trimtrailingzeroes": 1})
    el(el(cm, "parameters"), "Option")
    el(cm, "extraInformation")
    el(r, "rotation")
    el(r, "sizescale")
    return r


def _single(parent: ET.Element, geom: str, layers: list[tuple[str, dict]]) -> ET.Element:
    r = _renderer(parent, "singleSymbol")
    _symbol(el(r, "symbols"), "0", geom, layers)
    el(r, "rotation")
    el(r, "sizescale")
    return r


def _labeling(parent: ET.Element, expression: str, size: float = 8.0, bold: bool = False,
              placement: int = 6, dist: float = 1.2, colour: str = "#111111",
              priority: int = 5, polygon: bool = False) -> ET.Element:
    """Simple labelling on an expression, with a white buffer.

    ``placement``: 6 cartographic around a point, 1 over the centroid of a polygon.
    """
    lab = el(parent, "labeling", {"type": "simple"})
    st = el(lab, "settings", {"calloutType": "simple"})
    ts = el(st, "text-style", {
        "fieldName": expression, "isExpression": 1, "fontFamily": "DejaVu Sans",
        "fontSize": size, "fontSizeUnit": "Point", "fontWeight": 75 if bold else 50,
        "fontItalic": 0, "textColor": _rgba(colour), "textOpacity": 1, "multilineHeight": 1,
        "namedStyle": "Bold" if bold else "", "blendMode": 0, "allowHtml": 0,
        "capitalization": 0, "previewBkgrdColor": "255,255,255,255",
    })
    el(ts, "families")
    el(ts, "text-buffer", {"bufferDraw": 1, "bufferSize": 0.8, "bufferSizeUnits": "MM",
                            "bufferColor": "255,255,255,255", "bufferOpacity": 0.85,
                            "bufferJoinStyle": 128, "bufferNoFill": 1, "bufferBlendMode": 0})
    el(st, "text-format", {"multilineAlign": 3 if not polygon else 1, "wrapChar": "",
                            "autoWrapLength": 0, "formatNumbers": 0})
    el(st, "placement", {
        "placement": placement, "dist": dist, "distUnits": "MM", "priority": priority,
        "centroidInside": 1 if polygon else 0, "centroidWhole": 0, "fitInPolygonOnly": 0,
        "predefinedPositionOrder": "TR,TL,BR,BL,R,L,TSR,BSR", "placementFlags": 10,
        "polygonPlacementFlags": 2, "offsetType": 0, "quadOffset": 4, "xOffset": 0,
        "yOffset": 0, "offsetUnits": "MM", "rotationAngle": 0,
    })
    el(st, "rendering", {"obstacle": 1, "obstacleFactor": 1, "obstacleType": 1,
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


def _title_field(name: str, columns: Iterable[str]) -> str | None:
    cols = list(columns)
    return schema.name_column(name, cols) or (cols[0] if cols else None)


def _maptip(name: str, columns: list[str]) -> str:
    """An HTML map tip: the feature's name, then precision and source when the layer has them."""
    title = _title_field(name, columns)
    id_field = schema.SCHEMAS[name].id_field if name in schema.SCHEMAS else None
    head = ""
    if title:
        head = f"<b>{_html(title)}</b>"
        if id_field and id_field in columns and id_field != title:
            head += f" <small>({_html(id_field)})</small>"
    lines = [_html_line(label, fld) for label, fld in (
        ("Korean", "name_ko"), ("Precision", "precision"), ("Location", "location_precision"),
        ("Role", "location_role"), ("Status", "status_summary"),
        ("Status" if "status_summary" not in columns else "As the sources word it", "status"),
        ("Province", "province"),
        ("County", "county"), ("Reported mines (Table 2)", "reported_mines"),
        ("Source", "source"), ("Source", "source_report"), ("Reference", "report_ref"),
        ("Licence", "licence")) if fld in columns]
    return head + "".join(lines)


# --- per-layer styles ----------------------------------------------------------------------------


@dataclass
class LayerStyle:
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
    """The classes of :func:`atlas.style.class_breaks` as (low, high, label), as the map draws them.

    Counts are whole numbers, so class ``k`` runs from the previous limit + 1
    to its own limit, both included.
    """
    limits = class_breaks(pd.to_numeric(values, errors="coerce").dropna().to_numpy(), n)
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


def _precision_symbol(shape: str, size: float, colour: str,
                      sym: PrecisionSymbol) -> tuple[str, list[tuple[str, dict]]]:
    """Coloured by commodity, as solid as the location is sure (:data:`atlas.style.MINE_PRECISION_SYMBOLS`)."""
    filled = sym.fill == 1.0
    layers = [("SimpleMarker", _marker(shape, colour if sym.fill else "none", size,
                                       outline="#1a1a1a" if filled else colour,
                                       width=0.5 if sym.mark else 0.4, outline_style=sym.outline,
                                       fill_alpha=sym.fill or 1.0))]
    if sym.mark:
        layers.append(_letter(sym.mark, colour, round(size * 0.6, 1)))
    return sym.label, layers


def _mine_symbol(colour: str, precision: str) -> tuple[str, list[tuple[str, dict]]]:
    sym = MINE_PRECISION_SYMBOLS.get(precision, MINE_PRECISION_SYMBOLS["approximate"])
    return _precision_symbol("circle", 3.4, colour, sym)


def _named_symbol(colour: str, precision: str) -> tuple[str, list[tuple[str, dict]]]:
    sym = NAMED_MINE_SYMBOLS.get(precision, PrecisionSymbol(precision, 0.15, "dash"))
    return _precision_symbol("star", 5.0, colour, sym)


def _provinces_renderer(df: pd.DataFrame, parent: ET.Element) -> None:
    ranges = _equal_ranges(df["reported_mines"], len(PROVINCE_RAMP))
    _graduated(parent, "reported_mines", "fill", [
        (lo, hi, f"{label} mines reported", [("SimpleFill", _fill(
            c, alpha=0.55, outline="#5b4636", width=0.4))])
        for (lo, hi, label), c in zip(ranges, PROVINCE_RAMP)])


def _by_class_and_precision(df: pd.DataFrame, parent: ET.Element, precisions: Iterable[str],
                            symbol: Callable) -> None:
    """Mines and named mines: colour by commodity class, symbol by location precision."""
    combos = set(zip(df["commodity_class"].astype(str), df["precision"].astype(str)))
    cats = []
    for cls in _present(df, "commodity_class", COMMODITY_COLOURS):
        colour = COMMODITY_COLOURS.get(cls, "#777777")
        for prec in _present(df, "precision", precisions):
            if (cls, prec) in combos:
                label, layers = symbol(colour, prec)
                cats.append((f"{cls} | {prec}", f"{cls}: {label}", layers))
    _categorized(parent, f"{_q('commodity_class')} || ' | ' || {_q('precision')}", "marker", cats)


def _deposits_renderer(df: pd.DataFrame, parent: ET.Element) -> None:
    cats = []
    for i, com in enumerate(_present(df, "commodity")):
        cls = str(df.loc[df["commodity"] == com, "commodity_class"].iloc[0])
        colour = COMMODITY_COLOURS.get(cls, "#999999")
        cats.append((com, f"{com} ({cls})", [
            ("SimpleFill", _fill(colour, style=_HATCHES[i % len(_HATCHES)], outline=colour,
                                 width=0.5, outline_style="dash"))]))
    _categorized(parent, "commodity", "fill", cats)


def _camps_renderer(df: pd.DataFrame, parent: ET.Element) -> None:
    """Shape by kind, colour by ``status_class``: the rule's status on ``status_as_of`` (the build date),
    the day the legend names: what ``atlas status`` answers for that day."""
    combos = set(zip(df["kind"].astype(str), df["status_class"].astype(str)))
    days = sorted({str(d)[:10] for d in df.get("status_as_of", pd.Series(dtype=str)).dropna()})
    when = f" as of {days[0]}" if len(days) == 1 else ""
    cats = []
    for kind_ in _present(df, "kind", KIND_SHAPES):
        shape = KIND_SHAPES.get(kind_, "diamond")
        size = 4.2 if kind_ == "kwan-li-so" else 3.8
        for status in _present(df, "status_class", STATUS_COLOURS):
            if (kind_, status) in combos:
                colour = STATUS_COLOURS.get(status, "#ffffff")
                cats.append((f"{kind_} | {status}", f"{KIND_LABELS.get(kind_, kind_)}: {status}{when}",
                             [("SimpleMarker", _marker(shape, colour, size, outline="#1a1a1a",
                                                       width=0.5))]))
    _categorized(parent, f"{_q('kind')} || ' | ' || {_q('status_class')}", "marker", cats)


def _steel_renderer(df: pd.DataFrame, parent: ET.Element) -> None:
    """Processing, not mines: grey squares, a cancelled plant hollow."""
    _categorized(parent, f"if({_q('status')} = 'operating', 'operating', 'other')", "marker", [
        ("operating", "steel plant, operating",
         [("SimpleMarker", _marker("square", "#4d4d4d", 3.4, outline="#111111", width=0.4))]),
        ("other", "steel plant, cancelled or not operating",
         [("SimpleMarker", _marker("square", "none", 3.4, outline="#4d4d4d", width=0.4,
                                   outline_style="dash"))])])


def _candidates_renderer(df: pd.DataFrame, parent: ET.Element) -> None:
    _categorized(parent, f"if({_q('is_atlas_point')}, 'atlas point', 'other published')",
                 "marker", [
                     ("atlas point", "the point the atlas uses",
                      [("SimpleMarker", _marker("circle", "#000000", 1.2, width=0))]),
                     ("other published", "another published coordinate",
                      [("SimpleMarker", _marker("cross2", "#000000", 2.2, outline="#4d4d4d",
                                                width=0.35))])])


#: The renderer of each atlas layer; any other layer (a user's) gets a plain one for its geometry.
_RENDERERS: dict[str, Callable[[pd.DataFrame, ET.Element], None]] = {
    "provinces": _provinces_renderer,
    "basemap_countries": lambda df, parent: _single(parent, "fill", [
        ("SimpleFill", _fill("#f2efe9", outline="#b0b0b0", width=0.2))]),
    "dprk_outline": lambda df, parent: _single(parent, "fill", [
        ("SimpleFill", _fill("none", style="no", outline="#4d4d4d", width=0.5))]),
    "geonames_places": lambda df, parent: _single(parent, "marker", [
        ("SimpleMarker", _marker("circle", "#9e9e9e", 1.4, width=0.1))]),
    "counties": lambda df, parent: _single(parent, "fill", [
        ("SimpleFill", _fill("none", style="no", outline="#8c8c8c", width=0.15))]),
    "mines": lambda df, parent: _by_class_and_precision(
        df, parent, MINE_PRECISION_SYMBOLS, _mine_symbol),
    "named_mines": lambda df, parent: _by_class_and_precision(df, parent, NAMED_MINE_SYMBOLS, _named_symbol),
    "mineral_deposits": _deposits_renderer,
    "camps": _camps_renderer,
    "steel_plants": _steel_renderer,
    "coordinate_candidates": _candidates_renderer,
}
#: Layers with a style of their own (every other layer gets a plain one).
STYLED_LAYERS = tuple(_RENDERERS)
_USER_SYMBOLS = {
    "marker": [("SimpleMarker", _marker("circle", USER_COLOUR, 2.6))],
    "fill": [("SimpleFill", _fill(USER_COLOUR, alpha=0.3, outline=USER_COLOUR, width=0.5))],
    "line": [("SimpleLine", {"line_color": _rgba(USER_COLOUR), "line_width": "0.6",
                             "line_width_unit": "MM", "line_style": "solid"})],
}


def _renderer_for(name: str, df: pd.DataFrame, geometry: str, parent: ET.Element) -> None:
    if name in _RENDERERS:
        _RENDERERS[name](df, parent)
    elif geometry != "No geometry":
        kind = _symbol_kind(geometry)
        _single(parent, kind, _USER_SYMBOLS[kind])


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
    el(parent, "editform", {"tolerant": 1})
    el(parent, "editforminit")
    el(parent, "featformsuppress", text="0")
    el(parent, "editorlayout", text="tablayout")
    form = el(parent, "attributeEditorForm")
    for tab, fields in _tabs(name, columns):
        cont = el(form, "attributeEditorContainer", {
            "name": tab, "showLabel": 1, "groupBox": 0, "columnCount": 1,
            "visibilityExpressionEnabled": 0, "visibilityExpression": ""})
        for f in fields:
            el(cont, "attributeEditorField", {"name": f, "index": columns.index(f) + 1,
                                               "showLabel": 1})
    for rel_id, label in relations:
        cont = el(form, "attributeEditorContainer", {
            "name": label, "showLabel": 1, "groupBox": 0, "columnCount": 1,
            "visibilityExpressionEnabled": 0, "visibilityExpression": ""})
        rel = el(cont, "attributeEditorRelation", {
            "name": rel_id, "relation": rel_id, "label": label, "showLabel": 1,
            "relationWidgetTypeId": "relation_editor", "forceSuppressFormPopup": 0,
            "nmRelationId": ""})
        el(rel, "editor_configuration")


def vector_style(name: str, df: pd.DataFrame,
                  relations: list[tuple[str, str]] = ()) -> LayerStyle:
    geometry = _geom_kind(df)
    geom_col = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
    columns = [c for c in df.columns if c != geom_col]
    holder = ET.Element("holder")
    flags = el(holder, "flags")
    for flag, v in (("Identifiable", 1), ("Removable", 1), ("Searchable", 1), ("Private", 0)):
        el(flags, flag, text=str(v))
    labels = False
    if geometry != "No geometry":
        _renderer_for(name, df, geometry, holder)
        labels = _label_for(name, holder)
        el(el(holder, "customproperties"), "Option")
        el(holder, "blendMode", text="0")
        el(holder, "featureBlendMode", text="0")
        el(holder, "layerOpacity", text="1")
        el(holder, "legend", {"type": "default-vector", "showLabelLegend": 0})
    if name == "camp_findings" and {"date_start", "date_end"} <= set(columns):
        _temporal(holder, "date_start", "date_end")
    _form(holder, name, columns, relations)
    title = _title_field(name, columns)
    id_field = schema.SCHEMAS[name].id_field if name in schema.SCHEMAS else None
    preview = _q(title) if title else ""
    if id_field and id_field in columns and id_field != title and title:
        preview = f"{_q(id_field)} || ': ' || {_q(title)}"
    el(holder, "previewExpression", text=preview)
    el(holder, "mapTip", text=_maptip(name, columns))
    geom_code = {"Point": 0, "Line": 1, "Polygon": 2, "No geometry": 4}[geometry]
    el(holder, "layerGeometryType", text=str(geom_code))
    return LayerStyle(list(holder), labels, geometry)


#: The camps' second named style in the project: colour by evidence tier.
TIER_STYLE = "evidence tier"


def _temporal(parent: ET.Element, start: str, end: str) -> None:
    """Temporal properties: each feature's time from a start and an end field (an empty end is open).

    Mode 2 is QGIS's ``ModeFeatureDateTimeStartAndEndFromFields``; its filter
    keeps a feature whose start or end is NULL on that side, so an open start
    ("2008 or earlier") or an open end matches every frame on that side.
    """
    temporal = el(parent, "temporal", {"enabled": 1, "mode": 2, "startField": start, "endField": end,
                            "startExpression": "", "endExpression": "", "durationField": "",
                            "durationUnit": "min", "fixedDuration": 0, "accumulate": 0,
                            "limitMode": 0})
    fixed = el(temporal, "fixedRange")
    el(fixed, "start")
    el(fixed, "end")


def tier_style(df: pd.DataFrame) -> ET.Element:
    """The camps coloured by ``evidence_tier`` (shape by kind), as a ``<qgis>`` style element.

    Stored in the project as the camps' second named style (:data:`TIER_STYLE`;
    Layer Properties → Styles), beside the default one by status.
    """
    from .evidence import TIERS

    root = el(None, "qgis", {"version": QGIS_VERSION, "styleCategories": "AllStyleCategories",
                             "labelsEnabled": 1})
    combos = set(zip(df["kind"].astype(str), df["evidence_tier"].astype(int)))
    cats = []
    for kind_ in _present(df, "kind", KIND_SHAPES):
        shape = KIND_SHAPES.get(kind_, "diamond")
        for tier, label, _rule in TIERS:
            if (kind_, tier) in combos:
                cats.append((f"{kind_} | {tier}", f"{KIND_LABELS.get(kind_, kind_)}: tier {tier}, {label}",
                             [("SimpleMarker", _marker(shape, TIER_COLOURS[tier], 4.0,
                                                       outline="#1a1a1a", width=0.5))]))
    _categorized(root, f"{_q('kind')} || ' | ' || to_string({_q('evidence_tier')})", "marker", cats)
    _labeling(root, f"'T' || to_string({_q('evidence_tier')}) || ' ' || {_q('name')}", size=7,
              colour="#000000", priority=6)
    return root


def qml_document(elements: list[ET.Element], attrs: dict) -> str:
    root = el(None, "qgis", {"version": QGIS_VERSION, "styleCategories": "AllStyleCategories",
                              **attrs})
    root.extend(elements)
    ET.indent(root, " ")
    return DOCTYPE + "\n" + xml_text(ET.tostring(root, encoding="unicode")) + "\n"  # valid whatever the data


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
    >>> from atlas.qml import layer_qml
    >>> qml = layer_qml("camps", atlas.read_layer("camps"))
    >>> 'type="categorizedSymbol"' in qml
    True
    """
    style = vector_style(name, df)
    return qml_document(style.elements, {"labelsEnabled": int(style.labels), "readOnly": 0,
                                 "hasScaleBasedVisibilityFlag": 0, "minScale": "100000000",
                                 "maxScale": 0})


# --- rasters ---------------------------------------------------------------------------------------


@dataclass
class RasterInfo:
    path: Path  # the copy inside the export
    name: str
    crs: CRS | None
    bands: int
    stats: list[tuple[float, float]]  # (min, max) per band of valid cells
    description: str


def read_raster(path: Path) -> RasterInfo:
    from rasterio.errors import RasterioIOError

    try:
        with open_raster(path) as src:
            stats = []
            for b in range(1, min(src.count, 3) + 1):
                data = src.read(b, masked=True).astype("float64")
                valid = data.compressed()
                valid = valid[np.isfinite(valid)]
                stats.append((float(valid.min()), float(valid.max())) if valid.size else (0.0, 0.0))
            crs = CRS.from_user_input(src.crs.to_wkt()) if src.crs else None
            desc = (src.descriptions[0] if src.descriptions and src.descriptions[0] else "") or ""
            return RasterInfo(path, path.stem, crs, src.count, stats, desc)
    except RasterioIOError as exc:
        raise InputError(f"{path} is not a readable raster: {exc}") from exc


def _minmax_origin(parent: ET.Element) -> None:
    mm = el(parent, "minMaxOrigin")
    for tag, text in (("limits", "MinMax"), ("extent", "WholeRaster"),
                      ("statAccuracy", "Exact"), ("cumulativeCutLower", "0.02"),
                      ("cumulativeCutUpper", "0.98"), ("stdDevFactor", "2")):
        el(mm, tag, text=text)


def raster_elements(r: RasterInfo, density: bool) -> list[ET.Element]:
    holder = ET.Element("holder")
    flags = el(holder, "flags")
    for flag, v in (("Identifiable", 1), ("Removable", 1), ("Searchable", 1), ("Private", 0)):
        el(flags, flag, text=str(v))
    el(el(holder, "customproperties"), "Option")
    pipe = el(holder, "pipe")
    if density or r.bands < 3:
        lo, hi = r.stats[0]
        if density:
            rr = el(pipe, "rasterrenderer", {
                "type": "singlebandpseudocolor", "band": 1, "opacity": 0.85, "alphaBand": -1,
                "classificationMin": repr(lo), "classificationMax": repr(hi), "nodataColor": ""})
            _minmax_origin(rr)
            shader = el(el(rr, "rastershader"), "colorrampshader", {
                "colorRampType": "INTERPOLATED", "classificationMode": 1, "clip": 0,
                "minimumValue": repr(lo), "maximumValue": repr(hi), "labelPrecision": 4})
            n = len(DENSITY_RAMP)
            for i, colour in enumerate(DENSITY_RAMP):
                value = lo + (hi - lo) * i / (n - 1)
                label = "lowest" if i == 0 else "highest" if i == n - 1 else ""
                el(shader, "item", {"value": repr(value), "color": colour,
                                     "alpha": 0 if i == 0 else 255,
                                     "label": f"{value:.4g} {label}".strip()})
        else:
            rr = el(pipe, "rasterrenderer", {
                "type": "singlebandgray", "grayBand": 1, "gradient": "BlackToWhite",
                "opacity": 1, "alphaBand": -1, "nodataColor": ""})
            _minmax_origin(rr)
            ce = el(rr, "contrastEnhancement")
            el(ce, "minValue", text=repr(lo))
            el(ce, "maxValue", text=repr(hi))
            el(ce, "algorithm", text="StretchToMinimumMaximum")
    else:
        rr = el(pipe, "rasterrenderer", {
            "type": "multibandcolor", "redBand": 1, "greenBand": 2, "blueBand": 3,
            "opacity": 1, "alphaBand": -1, "nodataColor": ""})
        _minmax_origin(rr)
        for colour, (lo, hi) in zip(("red", "green", "blue"), r.stats):
            ce = el(rr, f"{colour}ContrastEnhancement")
            el(ce, "minValue", text=repr(lo))
            el(ce, "maxValue", text=repr(hi))
            el(ce, "algorithm", text="StretchToMinimumMaximum")
    el(pipe, "brightnesscontrast", {"brightness": 0, "contrast": 0, "gamma": 1})
    el(pipe, "huesaturation", {"saturation": 0, "grayscaleMode": 0, "colorizeOn": 0,
                                "invertColors": 0})
    # A density surface is continuous: draw it smoothly; imagery keeps its pixels.
    resample = {"zoomedInResampler": "bilinear", "zoomedOutResampler": "bilinear"} if density \
        else {}
    el(pipe, "rasterresampler", {"maxOversampling": 2, **resample})
    el(holder, "blendMode", text="0")
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
    >>> from atlas.qml import raster_qml
    >>> qml = raster_qml(atlas.density())  # the mine density GeoTIFF, written to output/
    >>> "singlebandpseudocolor" in qml
    True
    """
    return raster_document(read_raster(Path(path)), density)


def raster_document(r: RasterInfo, density: bool = True) -> str:
    """The QML document of a raster already read (:func:`read_raster`): what :func:`raster_qml` writes."""
    return qml_document(raster_elements(r, density), {"hasScaleBasedVisibilityFlag": 0,
                                                      "minScale": "1e+08", "maxScale": 0})
