"""KMZ for Google Earth: the map's layers, symbols and popups as KML 2.2.

The KMZ is built from the same per-layer specs as the HTML map
(:mod:`atlas.map_layers`), so a reader meets the same symbols, colours and
popups: one folder per layer; one style per symbol of the map (the shapes and
colours of :mod:`atlas.style`, drawn as PNG icons inside the KMZ); polygons
with the map's fill and outline; balloons holding the popup's HTML, in which
every string from the data was escaped; town proxies named "town proxy, not
the mine's location"; the camps' dated findings in a folder of their own with
a time span each, so that Google Earth's time slider shows them; the layer's
attributes as ``ExtendedData`` (QGIS reads them as fields).
"""

from __future__ import annotations

import html
import io as _io
import itertools
import json
import math
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from .formats import cell_text
from .record import records
from .redact import xml_text
from .schema import name_column
from .store import Atlas
from .style import KIND_SHAPES, STATUS_COLOURS, evidence_label, finding_type_label, page_ref

__all__ = ["icon_png", "kmz_bytes"]

KML_NS = "http://www.opengis.net/kml/2.2"
ET.register_namespace("", KML_NS)
_ICON_PX = 64
#: Fixed timestamp of the zip entries, so that the same atlas gives the same KMZ.
_ZIP_TIME = (2016, 1, 1, 0, 0, 0)
#: Layers whose placemarks show their names as labels (the others on a click).
_LABELLED = ("camps",)
_USER_COLOUR = "#0b7285"


def _k(tag: str) -> str:
    return f"{{{KML_NS}}}{tag}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib) -> ET.Element:
    el = ET.SubElement(parent, _k(tag), {k: str(v) for k, v in attrib.items()})
    if text is not None:
        el.text = text
    return el


def _abgr(hex_colour: str, opacity: float = 1.0) -> str:
    """KML colour ``aabbggrr`` of ``#rrggbb`` at an opacity."""
    h = hex_colour.lstrip("#")
    alpha = max(0, min(255, round(opacity * 255)))
    return f"{alpha:02x}{h[4:6]}{h[2:4]}{h[0:2]}"


# --- icons ------------------------------------------------------------------------------------


def _outline(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        d = r * 0.85
        return [(cx - d, cy - d), (cx + d, cy - d), (cx + d, cy + d), (cx - d, cy + d)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r * 0.95, cy + r * 0.7), (cx - r * 0.95, cy + r * 0.7)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    if shape == "star":
        pts = []
        for i in range(10):
            rad = r if i % 2 == 0 else r * 0.45
            a = -math.pi / 2 + i * math.pi / 5
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        return pts
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 48, endpoint=False)]


def _dashed(draw, pts: list[tuple[float, float]], colour, width: int, dash: float = 7.0) -> None:
    ring = [*pts, pts[0]]
    on, left = True, dash
    for (x0, y0), (x1, y1) in itertools.pairwise(ring):
        seg = math.hypot(x1 - x0, y1 - y0)
        pos = 0.0
        while pos < seg - 1e-9:
            step = min(left, seg - pos)
            if on:
                a, b = pos / seg, (pos + step) / seg
                draw.line([(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a),
                           (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)], fill=colour, width=width)
            pos += step
            left -= step
            if left <= 1e-9:
                on, left = not on, dash


def _rgba(hex_colour: str, opacity: float = 1.0) -> tuple[int, int, int, int]:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), max(0, min(255, round(opacity * 255))))


def icon_png(symbol: dict) -> bytes:
    """A map symbol (shape, fill, stroke, dash, opacity, mark, halo) drawn as a 64 px PNG icon.

    Parameters
    ----------
    symbol : dict
        A symbol of the map's layer specs (:mod:`atlas.map_layers`).

    Returns
    -------
    bytes
        The PNG.

    Examples
    --------
    >>> png = icon_png({"shape": "square", "fill": "#d7301f", "stroke": "#1a1a1a", "size": 16,
    ...                 "dash": False, "opacity": 1.0, "mark": "", "halo": True})
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGBA", (_ICON_PX, _ICON_PX), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    c = _ICON_PX / 2
    halo = bool(symbol.get("halo"))
    r = 20.0 if halo else 27.0
    stroke = _rgba(symbol.get("stroke") or "#222222")
    pts = _outline(symbol.get("shape", "circle"), c, c, r)
    opacity = float(symbol.get("opacity", 1.0))
    if opacity > 0:
        draw.polygon(pts, fill=_rgba(symbol.get("fill") or "#777777", opacity))
    if symbol.get("dash"):
        _dashed(draw, pts, stroke, 4)
    else:
        draw.line([*pts, pts[0]], fill=stroke, width=4, joint="curve")
    if halo:
        _dashed(draw, _outline("circle", c, c, 30), stroke, 2, dash=5)
    mark = symbol.get("mark") or ""
    if mark:
        font = ImageFont.load_default(size=30)
        draw.text((c, c + 2), mark, fill=stroke, font=font, anchor="mm")
    out = _io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


# --- KML pieces -------------------------------------------------------------------------------


class _Styles:
    """Shared styles of the document, one per distinct (symbol, labelled), with their icon files."""

    def __init__(self, doc: ET.Element):
        self.doc = doc
        self.icons: dict[str, bytes] = {}
        self._ids: dict[str, str] = {}

    def point(self, symbol: dict, labelled: bool) -> str:
        key = json.dumps([symbol, labelled], sort_keys=True)
        if key not in self._ids:
            sid = f"s{len(self._ids)}"
            png = icon_png(symbol)
            name = f"files/icon-{len(self.icons)}.png"
            for existing, data in self.icons.items():
                if data == png:
                    name = existing
                    break
            self.icons[name] = png
            style = _sub(self.doc, "Style", id=sid)
            icon = _sub(style, "IconStyle")
            _sub(icon, "scale", f"{max(0.5, float(symbol.get('size', 14)) / 16):.2f}")
            _sub(_sub(icon, "Icon"), "href", name)
            _sub(icon, "hotSpot", x="0.5", y="0.5", xunits="fraction", yunits="fraction")
            _sub(_sub(style, "LabelStyle"), "scale", "0.8" if labelled else "0")
            _sub(_sub(style, "BalloonStyle"), "text", "$[description]")
            self._ids[key] = sid
        return "#" + self._ids[key]

    def polygon(self, spec_style: dict) -> str:
        key = json.dumps(spec_style, sort_keys=True)
        if key not in self._ids:
            sid = f"s{len(self._ids)}"
            style = _sub(self.doc, "Style", id=sid)
            line = _sub(style, "LineStyle")
            _sub(line, "color", _abgr(spec_style.get("color", "#333333"), spec_style.get("opacity", 1.0)))
            _sub(line, "width", f"{float(spec_style.get('weight', 1.0)):g}")
            poly = _sub(style, "PolyStyle")
            fill_opacity = float(spec_style.get("fillOpacity", 0.2))
            _sub(poly, "color", _abgr(spec_style.get("fillColor", "#777777"), fill_opacity))
            _sub(poly, "fill", "1" if fill_opacity > 0 and spec_style.get("fill", True) else "0")
            _sub(_sub(style, "BalloonStyle"), "text", "$[description]")
            self._ids[key] = sid
        return "#" + self._ids[key]


def _coords(ring) -> str:
    return " ".join(f"{x:.6f},{y:.6f}" for x, y, *_ in ring)


def _geometry(parent: ET.Element, geom) -> None:
    """A Point, (Multi)Polygon or (Multi)LineString, from a shapely geometry."""
    kind = geom.geom_type
    if kind == "Point":
        _sub(_sub(parent, "Point"), "coordinates", f"{geom.x:.6f},{geom.y:.6f}")
    elif kind == "Polygon":
        poly = _sub(parent, "Polygon")
        _sub(_sub(_sub(poly, "outerBoundaryIs"), "LinearRing"), "coordinates", _coords(geom.exterior.coords))
        for hole in geom.interiors:
            _sub(_sub(_sub(poly, "innerBoundaryIs"), "LinearRing"), "coordinates", _coords(hole.coords))
    elif kind == "LineString":
        _sub(_sub(parent, "LineString"), "coordinates", _coords(geom.coords))
    else:  # Multi* and collections
        multi = _sub(parent, "MultiGeometry")
        for part in geom.geoms:
            _geometry(multi, part)


def _extended(parent: ET.Element, row: pd.Series) -> None:
    ext = _sub(parent, "ExtendedData")
    for col, value in row.items():
        if col == "geometry":
            continue
        data = _sub(ext, "Data", name=str(col))
        _sub(data, "value", cell_text(value))


def _attribute_balloon(title: str, row: pd.Series) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(cell_text(v))}</td></tr>"
                    for k, v in row.items() if k != "geometry" and cell_text(v))
    return f"<h3>{html.escape(title)}</h3><table>{cells}</table>"


def _folder_description(meta: dict, missing: list[str]) -> str:
    parts = [f"<p>{html.escape(meta.get('description') or meta['layer'])}</p>"]
    if meta.get("left_out"):  # a large user layer: what the KMZ holds of it
        parts.append(f"<p><b>Left out:</b> this folder holds {html.escape(meta['left_out'])}.</p>")
    if meta.get("sources"):
        parts.append("<p>Sources: " + html.escape("; ".join(meta["sources"])) + "</p>")
    if meta.get("licences"):
        parts.append("<p>Licences: " + html.escape("; ".join(meta["licences"])) + "</p>")
    if missing:
        parts.append("<p>Without a public coordinate (not drawn): " + html.escape("; ".join(missing)) + "</p>")
    parts.append(f"<p>From {html.escape(str(meta['exported_from']))} (sha256 "
                 f"{html.escape(str(meta.get('exported_from_sha256') or ''))}), atlas "
                 f"{html.escape(str(meta['atlas_version']))}, exported {html.escape(meta['exported_at'])}.</p>")
    if meta.get("banner"):  # a private layer: said so, and its store cited apart (atlas.userlayers)
        parts.insert(0, f"<p><b>{html.escape(meta['banner'])}</b> (private layers from "
                        f"{html.escape(str(meta.get('private_gpkg')))}, sha256 "
                        f"{html.escape(str(meta.get('private_gpkg_sha256')))})</p>")
    return "".join(parts)


# --- per-layer specs --------------------------------------------------------------------------


def _feature_name(layer: str, row: pd.Series, feat: dict) -> str:
    col = name_column(layer, row.index)
    name = (cell_text(row[col]) if col else "") or layer
    if layer == "camps" and cell_text(row.get("number")):
        name = f"{cell_text(row.get('number'))} {name}"
    if layer == "mineral_deposits":
        name = f"{name} deposits"
    if feat.get("label"):  # the map's permanent label: town proxies
        name = f"{name} ({feat['label']})"
    elif layer == "mines" and cell_text(row.get("precision")) == "town":
        name = f"{name} (town, not the mine's location)"
    return name


def _optional(layer: Callable[[str], pd.DataFrame], name: str) -> pd.DataFrame | None:
    """A layer an older GeoPackage may lack (None then)."""
    try:
        return layer(name)
    except Exception:
        return None


def _spec(name: str, frames: dict[str, pd.DataFrame], read: Callable[[str], pd.DataFrame],
          atlas: Atlas | None = None) -> dict | None:
    from . import map_layers as ml

    def layer(n: str) -> pd.DataFrame:
        return frames[n] if n in frames else read(n)

    def gathered(n: str) -> dict | None:  # the sites' records: the balloons are views of them, as the map's popups
        return records(n, atlas) if atlas is not None else None

    search: list = []
    df = frames[name]
    if name == "provinces":
        return ml.provinces_spec(df, layer("mines"), search)
    if name == "counties":
        return ml.counties_spec(df, search)
    if name == "mineral_deposits":
        return ml.deposits_spec(df, search)
    if name == "mines":  # the mines' status by the rule on the build date (the camps' status_as_of)
        findings, camps = _optional(layer, "mine_findings"), _optional(layer, "camps")
        day = ml.status_day(camps) if camps is not None else ""
        return ml.mines_spec(df, search, None, findings, day, gathered("mines"))
    if name == "named_mines":
        return ml.named_mines_spec(df, search, gathered("named_mines"))
    if name == "camps":
        return ml.camps_spec(df, layer("camp_findings"), search, gathered("camps"))
    if name == "coordinate_candidates":
        return ml.candidates_spec(df, layer("camps"))
    simple = getattr(ml, f"{name}_spec", None)  # a layer whose spec needs only itself (steel_plants, …)
    if simple is not None and not name.startswith("user_"):
        return simple(df, search)
    return None


def _candidate_symbol(feat: dict) -> dict:
    # the map's two candidate symbols (see atlas.map_layers.candidates_spec's legend)
    fill = "#ffffff" if feat.get("same") else "#ff9f1c"
    return {"shape": "circle", "fill": fill, "stroke": "#8a4b00", "size": 10, "dash": False,
            "opacity": 1.0, "mark": "", "halo": False}


def _user_symbol(gdf: pd.DataFrame) -> dict:
    kind = cell_text(gdf["kind"].iloc[0]) if "kind" in gdf and len(gdf) else ""
    shape = {"camps": KIND_SHAPES["other"], "mines": "circle"}.get(kind, "circle")
    return {"shape": shape, "fill": _USER_COLOUR, "stroke": "#ffffff", "size": 12, "dash": False,
            "opacity": 1.0, "mark": "", "halo": False}


def _layer_folder(doc: ET.Element, styles: _Styles, name: str, df: pd.DataFrame, meta: dict,
                  frames: dict, read: Callable[[str], pd.DataFrame], atlas: Atlas | None = None) -> int:
    located = ~(df.geometry.isna() | df.geometry.is_empty).to_numpy()
    rows = df[located]
    missing_col = name_column(name, df.columns)
    missing = [cell_text(v) for v in df.loc[~located, missing_col]] if missing_col else []
    folder = _sub(doc, "Folder", id=f"layer-{name}")
    _sub(folder, "name", name)
    _sub(folder, "open", "0")
    _sub(folder, "description", _folder_description(meta, missing))
    spec = _spec(name, frames, read, atlas)
    feats = spec["features"] if spec else [{} for _ in range(len(rows))]
    if len(feats) != len(rows):  # the map's spec skips the same rows (no geometry): never misalign
        raise RuntimeError(f"{name}: {len(feats)} map features for {len(rows)} located rows")
    for (_, row), feat in zip(rows.iterrows(), feats):
        pm = _sub(folder, "Placemark")
        title = _feature_name(name, row, feat)
        _sub(pm, "name", title)
        _sub(pm, "description", feat.get("p") or feat.get("t") or _attribute_balloon(title, row))
        if spec is None:
            sid = styles.point(_user_symbol(df), False) if row.geometry.geom_type == "Point" else \
                styles.polygon({"fillColor": _USER_COLOUR, "color": _USER_COLOUR, "weight": 2, "fillOpacity": 0.3})
        elif spec["kind"] == "points":
            sid = styles.point(spec["symbols"][feat["s"]], name in _LABELLED or bool(feat.get("label")))
        elif spec["kind"] == "polygons":
            sid = styles.polygon(spec["styles"][feat["s"]])
        else:
            sid = styles.point(_candidate_symbol(feat), False)
        _sub(pm, "styleUrl", sid)
        _extended(pm, row)
        _geometry(pm, row.geometry)
    return len(rows)


def _date(value) -> str | None:
    text = cell_text(value)
    return text[:10] if len(text) >= 4 else None


def _timeline_folder(doc: ET.Element, styles: _Styles, camps: pd.DataFrame, findings: pd.DataFrame) -> int:
    """The camps' dated findings, each a placemark at its camp with a TimeSpan (Google Earth's slider)."""
    located = camps[~(camps.geometry.isna() | camps.geometry.is_empty)].set_index("site_id")
    folder = _sub(doc, "Folder", id="camp-findings-timeline")
    _sub(folder, "name", "camp findings over time")
    _sub(folder, "open", "0")
    _sub(folder, "description", "<p>Each dated finding of a camp, at the camp's point, shown by Google Earth's "
                                "time slider over the span its source gives (an open end is left open). "
                                "Findings with no date are in the camp's balloon only.</p>")
    n = 0
    for _, f in findings.iterrows():
        site = cell_text(f.get("site_id"))
        begin, end = _date(f.get("date_start")), _date(f.get("date_end"))
        if site not in located.index or not (begin or end):
            continue
        camp = located.loc[site]
        status = cell_text(camp.get("status_class")) or "unknown"
        symbol = {"shape": KIND_SHAPES.get(cell_text(camp.get("kind")), "diamond"),
                  "fill": STATUS_COLOURS.get(status, "#ffffff"), "stroke": "#1a1a1a", "size": 12,
                  "dash": False, "opacity": 1.0, "mark": "", "halo": False}
        pm = _sub(folder, "Placemark")
        what = finding_type_label(cell_text(f.get("finding_type")))
        _sub(pm, "name", f"{cell_text(camp.get('name'))}: {what} ({cell_text(f.get('observed_text'))})")
        page = page_ref(f.get("page"))
        basis = " · ".join(html.escape(x) for x in (
            cell_text(f.get("date_precision")) and f"date to the {cell_text(f.get('date_precision'))}",
            cell_text(f.get("evidence_basis")) and
            f"evidence: {evidence_label(f.get('evidence_basis'), f.get('testimony_hand'))}",
            cell_text(f.get("status_signal")) and f"status signal: {cell_text(f.get('status_signal'))}") if x)
        _sub(pm, "description",
             f"<h3>{html.escape(cell_text(camp.get('name')))}</h3>"
             f"<p><b>{html.escape(cell_text(f.get('observed_text')))}</b> · {html.escape(what)}</p>"
             + (f"<p>{basis}</p>" if basis else "")
             + f"<p>{html.escape(cell_text(f.get('description')))}</p>"
             f"<p>Source: {html.escape(cell_text(f.get('source_report')))}"
             + (f", {html.escape(page)}" if page else "") + "</p>")
        span = _sub(pm, "TimeSpan")
        if begin:
            _sub(span, "begin", begin)
        if end:
            _sub(span, "end", end)
        _sub(pm, "styleUrl", styles.point(symbol, False))
        _extended(pm, f)
        _geometry(pm, camp.geometry)
        n += 1
    return n


def kmz_bytes(frames: dict[str, pd.DataFrame], meta: dict[str, dict],
              read: Callable[[str], pd.DataFrame],
              progress: Callable[[str], None] | None = None, atlas: Atlas | None = None) -> bytes:
    """The KMZ (a zip of ``doc.kml`` and its icons) of layers with geometry.

    Parameters
    ----------
    frames : dict of str to GeoDataFrame
        The layers, in folder order.
    meta : dict of str to dict
        Each layer's provenance (:func:`atlas.export.provenance`).
    read : callable
        Reads another layer by name: the map's specs of provinces, camps and
        coordinate candidates draw on mines, findings and camps.
    progress : callable, optional
    atlas : Atlas, optional
        The atlas the layers come from: the balloons of camps and mines are
        views of its records (:func:`atlas.records`), as the map's popups.
        Without it (or for a row it lacks) a balloon is the tooltip.

    Returns
    -------
    bytes
    """
    say = progress or (lambda _msg: None)
    root = ET.Element(_k("kml"))
    doc = _sub(root, "Document", id="gulag-inc-atlas")
    private = sorted({m["banner"] for m in meta.values() if m.get("banner")})  # atlas.userlayers.banner
    _sub(doc, "name", "; ".join(private) + " \u00b7 Gulag, Inc. atlas" if private else "Gulag, Inc. atlas")
    _sub(doc, "open", "1")
    licences = sorted({lic for m in meta.values() for lic in m["licences"]})
    _sub(doc, "description",
         "<p>North Korea's mines and prison camps, after HRNK's <i>Gulag, Inc.</i> (2016) and open, cited "
         "data. Every location says how sure it is (precision); a town proxy is not the mine's location.</p>"
         "<p>Licences: " + html.escape("; ".join(licences)) + "</p>")
    styles = _Styles(doc)
    frames = {n: _wgs84(df) for n, df in frames.items()}
    for name, df in frames.items():
        say(f"kmz: {name} ({len(df)} rows)")
        _layer_folder(doc, styles, name, df, meta[name], frames, read, atlas)
    if "camps" in frames:
        _timeline_folder(doc, styles, frames["camps"], read("camp_findings"))
    # KML 2.2 orders a Document's children: name, open, description, styles, then features
    for style in sorted(doc.findall(_k("Style")), key=lambda e: int(e.get("id")[1:]), reverse=True):
        doc.remove(style)
        doc.insert(3, style)
    # a code point XML forbids (a \x0b in an imported name) replaced, so that the KML stays valid
    kml = ("<?xml version='1.0' encoding='utf-8'?>\n" + xml_text(ET.tostring(root, encoding="unicode"))).encode()
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("doc.kml", _ZIP_TIME), kml, zipfile.ZIP_DEFLATED)
        for name, png in sorted(styles.icons.items()):
            zf.writestr(zipfile.ZipInfo(name, _ZIP_TIME), png, zipfile.ZIP_STORED)
    return buf.getvalue()


def _wgs84(df: pd.DataFrame) -> pd.DataFrame:
    if isinstance(df, gpd.GeoDataFrame) and df.crs is not None and df.crs.to_epsg() != 4326:
        return df.to_crs(4326)
    return df
