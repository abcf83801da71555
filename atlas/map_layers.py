"""The map's layer specs: the features, popups, symbols and legend of each layer, as plain data.

:mod:`atlas.webmap` assembles the page from these specs. Every layer is
described in Python as plain data: coordinates (points to ~0.1 m, boundaries
to ~10 m), a symbol per feature (numbered in a per-layer table), and
popup/tooltip HTML in which **every data string went through**
:func:`html.escape`. Rasters (the density surface, imagery chips) become PNG
``data:`` URIs warped to Web Mercator. User layers are packed columns
(:mod:`atlas._packing`: coordinates as integers, a repeated value written
once), drawn by the page on one canvas.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod, Transformer

from . import _assets, _packing, names
from .admit import open_raster
from .errors import InputError
from .evidence import STATUSES, WINDOW_YEARS, first_year, year_span, yearly_status
from .formats import cell_text, link_urls
from .i18n import DEFAULT_LANG, N_, current_lang, format_date, gettext, term
from .redact import neutral_bidi
from .style import (
    COMMODITY_COLOURS,
    DENSITY_RAMP,
    KIND_LABELS,
    KIND_SHAPES,
    MINE_PRECISION_SYMBOLS,
    NAMED_MINE_SYMBOLS,
    STATUS_COLOURS,
    PrecisionSymbol,
    class_breaks,
    evidence_label,
    page_ref,
)
from .style import PROVINCE_RAMP as RAMP

__all__ = [
    "USER_COLOURS",
    "camp_popup",
    "camps_spec",
    "candidates_spec",
    "chip_spec",
    "counties_spec",
    "density_spec",
    "deposits_spec",
    "display_text",
    "geojson_geometry",
    "has_geometry",
    "mine_popup",
    "mines_spec",
    "named_mine_popup",
    "named_mines_spec",
    "pack_shapes",
    "provinces_spec",
    "rings_spec",
    "steel_plants_spec",
    "user_spec",
]

GEOD = Geod(ellps="WGS84")
_POINT_DIGITS = 6  # ~0.1 m: points keep their published precision
_POLY_DIGITS = 4  # ~10 m: boundaries are generalised far beyond that
_RASTER_MAX_PX = 1024
#: A user layer's lines and polygons on the map: coordinates to 1e-6° (~0.1 m, as points), vertices
#: closer than :data:`SHAPE_TOLERANCE` to the line through their neighbours dropped, and, past
#: :data:`MAX_SHAPE_VERTICES` for a layer, the tolerance doubled until the layer fits.
SHAPE_TOLERANCE = 2e-6
MAX_SHAPE_VERTICES = 2_000_000


# --- small helpers ---------------------------------------------------------------


def display_text(value) -> str:
    """A cell as display text: :func:`atlas.formats.cell_text`, with yes/no for a boolean."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return cell_text(value)


def _e(value) -> str:
    """Escaped display text of a data value (marked English on a page in another language: :func:`_en`)."""
    return _en(html.escape(display_text(value), quote=True))


def _en(text: str) -> str:
    """HTML of the sources' words (names in romanization, descriptions, links) as it is, marked
    ``lang="en"`` on a map in another language (:func:`atlas.i18n.use_lang`); unchanged in English."""
    if not text or current_lang() == DEFAULT_LANG or not re.search(r"[A-Za-z]", text):
        return text
    return f'<span lang="en">{text}</span>'


def _hangul_first() -> bool:
    """Whether names go Hangul first, romanization beside (a map in Korean)."""
    return current_lang() == "ko"


def _term_html(value) -> str:
    """An interface word the code chose (:func:`atlas.i18n.term`), escaped; on a map in another language, a
    value that is no term (a data word) is marked as the sources' (:func:`_en`)."""
    shown = term(display_text(value))
    text = html.escape(shown)
    return text if shown != display_text(value) else _en(text)


def _links(value) -> str:
    """:func:`atlas.formats.link_urls` of a source cell, marked as the sources' words (:func:`_en`)."""
    return _en(link_urls(value))


def _rows(pairs) -> str:
    """An HTML table of (label, escaped value) pairs, skipping empty values."""
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in pairs if v)
    return f'<table class="atlas-rec">{cells}</table>' if cells else ""


def has_geometry(gdf: gpd.GeoDataFrame) -> np.ndarray:
    geoms = gdf.geometry
    return (~(geoms.isna() | geoms.is_empty)).to_numpy()


def _latlon(geom) -> list[float]:
    return [round(float(geom.y), _POINT_DIGITS), round(float(geom.x), _POINT_DIGITS)]


def _round_coords(obj):
    if isinstance(obj, float | int):
        return round(float(obj), _POLY_DIGITS)
    return [_round_coords(o) for o in obj]


def geojson_geometry(geom) -> dict:
    """A GeoJSON geometry (lon, lat) with coordinates rounded to ~10 m."""
    mapping = geom.__geo_interface__
    return {"type": mapping["type"], "coordinates": _round_coords(mapping["coordinates"])}


def _symbol(shape: str, fill: str, stroke: str = "#222222", *, size: int = 14, dash: bool = False,
            opacity: float = 1.0, mark: str = "", halo: bool = False) -> dict:
    return {"shape": shape, "fill": fill, "stroke": stroke, "size": size, "dash": dash,
            "opacity": opacity, "mark": mark, "halo": halo}


def _split(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[;|/,()]", display_text(text)) if p.strip()]


def _keys(*texts) -> list[str]:
    """Search keys (:func:`atlas.names.keys`) of names and their parts, sorted."""
    out: set[str] = set()
    for text in texts:
        t = display_text(text)
        if not t:
            continue
        out |= names.keys(t)
        for part in _split(t):
            out |= names.keys(part)
    return sorted(out)


class _Symbols:
    """Distinct symbols of a layer, numbered in order of first use."""

    def __init__(self):
        self.table: list[dict] = []
        self._index: dict[str, int] = {}

    def __call__(self, sym: dict) -> int:
        key = json.dumps(sym, sort_keys=True)
        if key not in self._index:
            self._index[key] = len(self.table)
            self.table.append(sym)
        return self._index[key]


# --- layers -------------------------------------------------------------------


def provinces_spec(prov: gpd.GeoDataFrame, mines: gpd.GeoDataFrame, search: list) -> dict:
    counts = mines["province"].value_counts() if "province" in mines else pd.Series(dtype=int)
    reported = pd.to_numeric(prov["reported_mines"]).to_numpy()
    limits = class_breaks(reported)
    styles = [{"fillColor": c, "color": "#5b4636", "weight": 1.2, "fillOpacity": 0.55}
              for c in RAMP]
    feats = []
    for i, (_, r) in enumerate(prov[has_geometry(prov)].iterrows()):
        n = int(r["reported_mines"])
        cls = next(k for k, lim in enumerate(limits) if n <= lim or k == len(limits) - 1)
        geolocated = int(counts.get(r["name_en"], 0))
        head = (f'<b lang="ko">{_e(r["name_ko"])}</b> {_e(r["name_en"])}' if _hangul_first() else
                f'<b>{_e(r["name_en"])}</b> <span lang="ko">{_e(r["name_ko"])}</span>')
        pct = _e(r["reported_share_pct"])
        tip = (f'{head}<br>' + gettext("%(n)s mines reported (%(pct)s%% of 360, %(ref)s)")
               % {"n": n, "pct": pct, "ref": _e(r["report_ref"])} + "<br>"
               + gettext("%(n)s geolocated in the atlas (mines layer)") % {"n": geolocated})
        popup = f"<h3>{head}</h3>" + _rows([
            (gettext("Mines reported"), gettext("%(n)s (%(pct)s%% of 360)") % {"n": n, "pct": pct}),
            (gettext("Report reference"), _e(r["report_ref"])),
            (gettext("Geolocated mines"),
             gettext("%(n)s (points of the mines layer joined to this province)") % {"n": geolocated}),
            (gettext("Special cities folded in"), _e(r.get("folded_units"))),
            (gettext("Other names"), _e(r.get("name_variants", "")).replace("|", "; ")),
            (gettext("Area"), f'{_e(r["area_km2"])} km²'),
            (gettext("Boundary"), f'{_e(r["boundary_source"])} ({_e(r["boundary_vintage"])})'),
        ])
        feats.append({"g": geojson_geometry(r.geometry), "s": cls, "t": tip, "p": popup})
        search.append(_entry("provinces", i, r["name_en"], _keys(
            r["name_en"], r["name_ko"], r.get("name_mr"), r.get("name_rr"),
            *str(r.get("name_variants", "")).split("|"))))
    lows = [0, *[lim + 1 for lim in limits[:-1]]]
    items = [{"swatch": styles[k], "label": gettext("%(lo)s–%(hi)s mines reported") % {"lo": lo, "hi": hi}}
             for k, (lo, hi) in enumerate(zip(lows, limits))]
    return {"kind": "polygons", "styles": styles, "features": feats, "legend": {
        "items": items,
        "note": gettext("Counts are the report's Table 2 (360 mines, by province, special cities folded in); "
                        "the report gives no coordinates for them. The tooltip adds how many mines the atlas "
                        "has located in each province."),
    }}


def counties_spec(cnty: gpd.GeoDataFrame, search: list) -> dict:
    style = {"fillColor": "#000000", "fillOpacity": 0.0, "color": "#6b6b6b", "weight": 0.7,
             "dashArray": "3 3"}
    feats = []
    for i, (_, r) in enumerate(cnty[has_geometry(cnty)].iterrows()):
        names_ = (_e(r["name_en"]), f'<span lang="ko">{_e(r["name_ko"])}</span>')
        label = " ".join(x for x in (names_[::-1] if _hangul_first() else names_) if x)
        feats.append({"g": geojson_geometry(r.geometry), "s": 0,
                      "t": f'{label}<br>{_e(r["province"])}'})
        search.append(_entry("counties", i, display_text(r["name_en"]) or display_text(r["name_ko"]),
                             _keys(r["name_en"], r["name_ko"]), display_text(r["province"])))
    return {"kind": "polygons", "styles": [style], "features": feats, "legend": {
        "items": [{"swatch": style, "label": gettext("county-level unit (OpenStreetMap 2020, ODbL)")}]}}


def _precision_symbol(shape: str, cls: str, sym: PrecisionSymbol, size: int = 14) -> dict:
    """A point coloured by its commodity class and drawn as solid as its location is sure."""
    colour = COMMODITY_COLOURS.get(cls, "#777777")
    return _symbol(shape, colour, colour, size=size, opacity=sym.fill, dash=sym.outline != "solid",
                   mark=sym.mark)


def _mine_symbol(cls: str, precision: str) -> dict:
    sym = MINE_PRECISION_SYMBOLS.get(precision, MINE_PRECISION_SYMBOLS["approximate"])
    return _precision_symbol("circle", cls, sym)


def _sanctions_line(r) -> str:
    """The UN measure on a mine's commodities, and since when (escaped HTML; empty without the columns)."""
    measure = display_text(r.get("sanctions_measure"))
    if not measure:
        return ""
    first = display_text(r.get("sanctions_first_date"))[:10]
    return _e(measure) + (gettext(" (first measure on its commodity: %(date)s)") % {"date": html.escape(
        format_date(first, current_lang()))} if first else "")


def _gem_line(r) -> str:
    """GEM's record of a mine in one line (escaped HTML; empty where GEM has none)."""
    gid = display_text(r.get("gem_id"))
    if not gid:
        return ""
    status = gettext("status")
    parts = [f"{_e(r.get('gem_name'))} ({_e(gid)})", f"{status} {_e(r.get('gem_status'))}"]
    for col, label in (("gem_owner", N_("owner")), ("gem_name_ko", N_("Korean name")),
                       ("gem_coordinate_accuracy", N_("coordinate accuracy")),
                       ("gem_capacity_mtpa", N_("capacity Mt/yr")), ("gem_reserves_mt", N_("reserves Mt")),
                       ("gem_workforce", N_("workforce")), ("gem_start_year", N_("start")),
                       ("gem_second_names", N_("also at this point"))):
        v = display_text(r.get(col))
        if v:
            parts.append(f"{gettext(label)} {_e(v)}")
    wiki = display_text(r.get("gem_wiki"))
    text = "; ".join(parts) + (f"; {_e(wiki)}" if wiki else "")
    return text + f" <i>{_e(r.get('gem_citation'))} CC BY 4.0</i>"


def steel_plants_spec(plants: gpd.GeoDataFrame, search: list) -> dict:
    """GEM's steel plants: where the iron ore goes (processing, not mines)."""
    syms = _Symbols()
    feats = []
    for i, (_, r) in enumerate(plants[has_geometry(plants)].iterrows()):
        cancelled = display_text(r["status"]) != "operating"
        sym = _symbol("square", "#4d4d4d", "#111111", size=13, dash=cancelled,
                      opacity=0.25 if cancelled else 0.9)
        popup = (f'<h3>{_e(r["name"])}</h3><p class="atlas-warn">'
                 + gettext("A steel plant (processing), not a mine.") + "</p>"
                 + _rows([
                     (gettext("Korean name"), _e(r["name_ko"])), (gettext("Status"), _e(r["status"])),
                     (gettext("Owner"), _e(r["owner"])), (gettext("Start"), _e(r["start_year"])),
                     (gettext("Equipment"), _e(r["equipment"])), (gettext("Location"), _admin(r)),
                     (gettext("Coordinates"), f'{r.geometry.y:.6f}, {r.geometry.x:.6f} (WGS84)'),
                     (gettext("Precision"), gettext("%(precision)s: GEM coordinate accuracy %(accuracy)s")
                      % {"precision": _e(r["precision"]), "accuracy": _e(r["coordinate_accuracy"])}),
                     (gettext("GEM wiki"), _links(r["gem_wiki"])), (gettext("Source"), _links(r["source"])),
                     (gettext("Licence"), _e(r["licence"])),
                 ]))
        feats.append({"c": _latlon(r.geometry), "s": syms(sym),
                      "t": f'{_e(r["name"])}<br>' + gettext("steel plant") + f' · {_e(r["status"])}', "p": popup})
        search.append(_entry("steel_plants", i, r["name"], _keys(r["name"], r["name_ko"]), gettext("steel plant")))
    return {"kind": "points", "symbols": syms.table, "features": feats, "legend": {
        "items": [{"sym": _symbol("square", "#4d4d4d", "#111111", size=13, opacity=0.9),
                   "label": gettext("operating")},
                  {"sym": _symbol("square", "#4d4d4d", "#111111", size=13, dash=True, opacity=0.25),
                   "label": gettext("cancelled or not operating")}],
        "note": gettext("Global Energy Monitor, Global Iron and Steel Tracker (CC BY 4.0): where the iron ore goes."),
    }}


def _sanction_steps(commodities: pd.Series, table: pd.DataFrame) -> list[list]:
    """Per mine, the UN measures on its commodities as ``[[from_year, text], ...]`` (31 December).

    Measures change only when a resolution is adopted, so the text as of 31
    December of a year is the text as of the last adoption year up to it.
    ``table`` is the GeoPackage's ``sanctions_measures``.
    """
    from . import sanctions

    years = sorted({int(str(a)[:4]) for a in table["adopted"]})
    texts = [sanctions.measures_on(commodities, f"{y}-12-31", table)
             for y in [years[0] - 1, *years]]
    out = []
    for k in range(len(commodities)):
        steps: list[list] = []
        for y, t in zip([0, *years], texts):
            if not steps or steps[-1][1] != t.iloc[k]:
                steps.append([y, str(t.iloc[k])])
        out.append(steps)
    return out


def _gem_steps(r) -> list[list]:
    """GEM's status of a mine by year: before its start year, "not started"; then GEM's status."""
    status = display_text(r.get("gem_status"))
    if not status:
        return []
    start = pd.to_numeric(display_text(r.get("gem_start_year")), errors="coerce")
    now = gettext("%(status)s (GEM's status at its release)") % {"status": status}
    if pd.isna(start):
        return [[0, now + gettext("; no start year given")]]
    start = int(start)
    return [[0, gettext("not started: GEM gives start year %(year)s") % {"year": start}],
            [start, now + gettext("; started %(year)s") % {"year": start}]]


def _status_steps(findings: pd.DataFrame, site_ids, asof: str) -> dict[str, list[list]]:
    """Each site's status by the rule as ``[[from_year, status], ...]``: 31 December of each year before
    the build date's, then the build date itself (the map's year control; see :func:`camps_spec`)."""
    if findings is None or not len(findings) or not asof:
        return {}
    build = pd.Timestamp(asof)
    first = min(year_span(findings)[0], build.year)
    years = yearly_status(findings, site_ids, first, build.year - 1) if first < build.year else {}
    today = yearly_status(findings, site_ids, build.year, build.year, build.month, build.day)
    out = {}
    for site in site_ids:
        steps: list[list] = []
        for y, st in zip(range(first, build.year + 1), [*years.get(site, []), *today[site]]):
            if not steps or steps[-1][1] != st:
                steps.append([0 if not steps else y, st])
        out[site] = steps
    return out


def mines_spec(mines: gpd.GeoDataFrame, search: list, measures: pd.DataFrame | None = None,
               findings: pd.DataFrame | None = None, asof: str = "", records: dict | None = None) -> dict:
    """The mines layer; with GEM and sanctions columns, each mine's status per year (``yw``, ``yg``).

    ``measures`` is the GeoPackage's ``sanctions_measures`` table (none: no yearly sanctions).
    ``findings`` (``mine_findings``) and ``asof`` (the build date) add the status by the rule of
    :mod:`atlas.evidence` per year (``ys``, ``[[from_year, status], ...]``) for the year control.
    ``records`` (:func:`atlas.records` of ``mines``, by id) gives each popup (:func:`mine_popup`),
    the status on the build date included; a mine without one has no popup.
    """
    syms = _Symbols()
    feats = []
    located = mines[has_geometry(mines)]
    yearly = _status_steps(findings, list(located["mine_id"]), asof)
    steps = (_sanction_steps(located["commodity"], measures)
             if measures is not None and "sanctions_measure" in located.columns and len(located)
             else [[] for _ in range(len(located))])
    for i, (_, r) in enumerate(located.iterrows()):
        precision = display_text(r["precision"])
        rec = (records or {}).get(display_text(r["mine_id"]))
        popup = mine_popup(rec) if rec is not None else ""
        feat = {"c": _latlon(r.geometry), "s": syms(_mine_symbol(r["commodity_class"], precision)),
                "t": f'{_e(r["name"])}<br>' + gettext("%(commodity)s · %(precision)s location")
                % {"commodity": _e(r["commodity"]), "precision": _term_html(precision)},
                "id": display_text(r["mine_id"]), **({"p": popup} if popup else {})}
        ys = yearly.get(display_text(r["mine_id"]), [])
        if steps[i] or _gem_steps(r) or ys:
            feat.update({"yw": steps[i], "yg": _gem_steps(r), **({"ys": ys} if ys else {})})
            if popup:
                feat["p"] = popup + '<p class="atlas-asof-mine"></p>'
        feats.append(feat)
        search.append(_entry("mines", i, r["name"], _keys(r["name"], *_split(r["alt_names"])),
                             term(display_text(r["commodity"]))))
    items = [{"sym": _symbol("circle", c, c), "label": term(cls)} for cls, c in COMMODITY_COLOURS.items()]
    items += [{"sym": _mine_symbol("", p), "label": gettext(sym.label)} for p, sym in MINE_PRECISION_SYMBOLS.items()]
    return {"kind": "points", "symbols": syms.table, "features": feats, "legend": {
        "items": items,
        "note": gettext("Colour: commodity class (report Table 1). Symbol: how sure the location is. "
                        "Only mines with open, cited coordinates are drawn; the report's 360 are counted by province."),
    }}


def _coords_text(rec) -> str:
    """The point the atlas uses, as the record gives it (6 decimals, ~0.1 m), or ``""``."""
    c = rec.coordinates[0] if rec.coordinates and rec.coordinates[0]["role"] == "atlas point" else None
    return f'{c["lat"]:.6f}, {c["lon"]:.6f} (WGS84)' if c else ""


def _published_items(rec) -> list[str]:
    """The other published coordinates of a record, one escaped line each (nearest first)."""
    out = []
    for c in rec.coordinates:
        if not c["role"].startswith("published coordinate") or c.get("lat") is None:
            continue
        used = gettext(", the point used here") if c["role"].endswith("(the one the atlas uses)") else ""
        km = display_text(c.get("distance_km"))
        out.append(f'{_e(c.get("source"))}: {c["lat"]:.6f}, {c["lon"]:.6f} '
                   + gettext("(%(km)s km from this point%(used)s)") % {"km": html.escape(km) or "?", "used": used})
    return out


def _rule(text) -> str:
    """A sentence of the status rule (atlas.evidence), escaped: written in the map's language (the record was
    read under :func:`atlas.i18n.use_lang`), so not marked as English."""
    return html.escape(display_text(text), quote=True)


def _rule_status(rec) -> str:
    """A mine's status by the rule on the build date, as ``atlas status`` prints it, and why (escaped)."""
    st = rec.status
    if not st:
        return ""
    return (gettext("%(summary)s (the build date)") % {"summary": _rule(st["summary"])}
            + '<br><span class="atlas-src">' + gettext("Why:") + f' {_rule(st["reason"])}</span>')


def mine_popup(rec) -> str:
    """A mine's popup: a view of its :class:`atlas.Record` (every data string escaped).

    The same fields, status (the rule's on the build date), coordinates and
    other published coordinates as ``atlas show`` prints.
    """
    f = rec.fields
    precision = display_text(f.get("precision"))
    others = _published_items(rec)
    return (f'<h3>{_e(f.get("name"))}</h3>'
            + ('<p class="atlas-warn">' + gettext("Town-level location: the point is the town, "
                                                 "not the mine's location.") + "</p>" if precision == "town" else "")
            + _rows([
                (gettext("Also known as"), _e(f.get("alt_names"))),
                (gettext("Commodity"), f'{_e(f.get("commodity"))} ({_term_html(f.get("commodity_class"))})'),
                (gettext("Location"), _admin(f)),
                (gettext("Coordinates"), _coords_text(rec)),
                (gettext("Precision"), f'{_term_html(precision)}: {_e(f.get("location_precision"))}'),
                (gettext("Status"), _rule_status(rec)),
                (gettext("Status as the sources word it"), _e(f.get("status"))),
                (gettext("Type"), _e(f.get("feature_type"))),
                (gettext("Source"), _links(f.get("source"))),
                (gettext("Source reference"), _links(f.get("source_ref"))),
                (gettext("Licence"), _e(f.get("licence"))),
                (gettext("Other published coordinates"), " | ".join(others)),
                (gettext("UN sanctions"), _sanctions_line(f)),
                (gettext("Global Energy Monitor"), _gem_line(f)),
                (gettext("Notes"), _e(f.get("notes"))),
            ]))


def _named_symbol(cls: str, precision: str) -> dict:
    sym = NAMED_MINE_SYMBOLS.get(precision, NAMED_MINE_SYMBOLS["nearby mine"])
    return _precision_symbol("star", cls, sym, size=18)


def named_mines_spec(named: gpd.GeoDataFrame, search: list, records: dict | None = None) -> dict:
    """The mines the report names: a star each, town proxies labelled as such.

    ``records`` (:func:`atlas.records` of ``named_mines``, by id) gives each popup
    (:func:`named_mine_popup`); a feature without one has no popup.
    """
    syms = _Symbols()
    feats = []
    located = has_geometry(named)
    i = 0
    for ok, (_, r) in zip(located, named.iterrows()):
        keys = _keys(*_split(r["name_in_report"]), *_split(r["alt_names"]), r["county_or_place_inferred"])
        if not ok:
            search.append(_entry("named_mines", -1, r["name_in_report"], keys,
                                 gettext("no public coordinate: not on the map")))
            continue
        role = display_text(r["location_role"])
        proxy = bool(r["is_town_proxy"])
        rec = (records or {}).get(display_text(r["named_id"]))
        popup = named_mine_popup(rec) if rec is not None else ""
        feat = {"c": _latlon(r.geometry), "s": syms(_named_symbol(r["commodity_class"], r["precision"])),
                "t": f'{_e(r["name_in_report"])}<br>{_e(role)}', "id": display_text(r["named_id"]),
                **({"p": popup} if popup else {})}
        if proxy:
            feat["label"] = gettext("town proxy, not the mine's location")
        feats.append(feat)
        search.append(_entry("named_mines", i, r["name_in_report"], keys, role))
        i += 1
    _spread_labels([f for f in feats if "label" in f])
    missing = [display_text(n) for n, ok in zip(named["name_in_report"], located) if not ok]
    drawn = set(named.loc[located, "precision"])
    items = [{"sym": _named_symbol("", p), "label": gettext(sym.label)}
             for p, sym in NAMED_MINE_SYMBOLS.items() if p in drawn]
    return {"kind": "points", "symbols": syms.table, "features": feats, "legend": {
        "items": items,
        "note": (gettext("Colour: commodity class, as for mines. ")
                 + (gettext("Named in the report but with no public coordinate (not drawn): %(names)s.")
                    % {"names": "; ".join(missing)} if missing else "")),
    }}


def named_mine_popup(rec) -> str:
    """A named mine's popup: a view of its :class:`atlas.Record` (every data string escaped).

    What the point is (a town proxy said first), the report's words, the
    atlas's reading, the status by the rule on the build date, as ``atlas show`` prints.
    """
    f = rec.fields
    warn = ('<p class="atlas-warn">' + gettext("Town proxy: this point is a town near the mine, "
                                               "<b>not the mine's location</b>.") + "</p>") if f.get("is_town_proxy") else ""
    return (f'<h3>{_e(f.get("name_in_report"))}</h3>{warn}' + _rows([
        (gettext("What the point is"), _e(f.get("location_role"))),
        (gettext("Also known as"), _e(f.get("alt_names"))),
        (gettext("Commodity"), f'{_e(f.get("commodity"))} ({_term_html(f.get("commodity_class"))})'),
        (gettext("Province in the report"), _e(f.get("province_as_given")) or gettext("(none given)")),
        (gettext("Place in the report"), _e(f.get("place_as_given"))),
        (gettext("Province (the atlas's reading)"), _e(f.get("province_inferred"))),
        (gettext("Where in the report"), _e(f.get("report_cite"))),
        (gettext("County or place (the atlas's reading)"), _e(f.get("county_or_place_inferred"))),
        (gettext("Location (spatial join)"), _admin(f)),
        (gettext("Coordinates"), _coords_text(rec)),
        (gettext("Precision"), f'{_e(f.get("precision"))}: {_e(f.get("location_precision"))}'),
        (gettext("Status"), _rule_status(rec)),
        (gettext("Source"), _links(f.get("source"))), (gettext("Licence"), _e(f.get("licence"))),
        (gettext("UN sanctions"), _sanctions_line(f)),
        (gettext("Notes"), _e(f.get("notes"))),
        (gettext("Report discrepancy"), _e(f.get("discrepancy_ref"))),
    ]))


def _spread_labels(feats: list[dict], near_deg: float = 0.6, step_px: int = 18) -> None:
    """Offset the permanent labels of points close together so that they do not overlap."""
    done: set[int] = set()
    order = sorted(range(len(feats)), key=lambda k: -feats[k]["c"][0])
    for k in order:
        if k in done:
            continue
        group = [j for j in order if j not in done and abs(feats[j]["c"][0] - feats[k]["c"][0]) < near_deg
                 and abs(feats[j]["c"][1] - feats[k]["c"][1]) < 2 * near_deg]
        for rank, j in enumerate(group):
            feats[j]["dy"] = round((rank - (len(group) - 1) / 2) * step_px)
            done.add(j)


def deposits_spec(dep: gpd.GeoDataFrame, search: list) -> dict:
    styles, index = [], {}
    feats = []
    for i, (_, r) in enumerate(dep[has_geometry(dep)].iterrows()):
        cls = display_text(r["commodity_class"])
        if cls not in index:
            colour = COMMODITY_COLOURS.get(cls, "#777777")
            index[cls] = len(styles)
            styles.append({"fillColor": colour, "color": colour, "weight": 2, "fillOpacity": 0.12,
                           "dashArray": "6 4"})
        where = "; ".join(_split(r["provinces"]))
        popup = f'<h3>{_e(r["commodity"])}</h3>' + _rows([
            (gettext("Region"), _e(where)), (gettext("Note"), _e(r["region_note"])),
            (gettext("The report says"), f'<q>{_e(r["quote"])}</q>'),
            (gettext("Where in the report"), _e(r["report_ref"])),
            (gettext("Precision"), _e(r["precision"])), (gettext("Licence"), _e(r["licence"])),
        ])
        feats.append({"g": geojson_geometry(r.geometry), "s": index[cls],
                      "t": gettext("%(commodity)s deposits") % {"commodity": _e(r["commodity"])} + f"<br>{_e(where)}",
                      "p": popup})
        search.append(_entry("mineral_deposits", i,
                             gettext("%(commodity)s deposits") % {"commodity": display_text(r["commodity"])},
                             _keys(r["commodity"]), where))
    items = [{"swatch": styles[k], "label": gettext("%(class)s deposits (as the named provinces)") % {"class": term(cls)}}
             for cls, k in index.items()]
    return {"kind": "polygons", "styles": styles, "features": feats, "legend": {
        "items": items,
        "note": gettext("Each region is the province(s) the report's text names: coarser than the deposit itself."),
    }}


def _admin(r) -> str:
    parts = []
    county = _e(r.get("county"))
    if county:
        ko = _e(r.get("county_ko"))
        parts.append((f'<span lang="ko">{ko}</span> ' + county) if ko and _hangul_first() else
                     county + (f' <span lang="ko">{ko}</span>' if ko else ""))
    if display_text(r.get("province")):
        parts.append(_e(r.get("province")))
    text = ", ".join(parts)
    if display_text(r.get("admin_method")) == "nearest":
        text += gettext(" (nearest unit, point %(km)s km outside the generalised boundary)") % {
            "km": _e(r.get("admin_distance_km"))}
    return text


def _camp_symbol(kind: str, status: str, precision: str) -> dict:
    return _symbol(KIND_SHAPES.get(kind, "diamond"), STATUS_COLOURS.get(status, "#ffffff"), "#1a1a1a",
                   size=16, halo=precision == "camp-area", dash=precision == "uncertain",
                   mark="?" if precision == "uncertain" else "")


_AREA_NUMBER = re.compile(r"^(\s*[\d,]*\.?\d+)(?=\s*(?:\(|$))")


def area_text(value) -> str:
    """An area as the sources give it, each bare number given its unit: '378 (Wikipedia)' -> '378 km² (Wikipedia)'.

    Examples
    --------
    >>> area_text("378 (Wikipedia); >22 km N-S x >20 km E-W (Melvin 2014)")
    '378 km² (Wikipedia); >22 km N-S x >20 km E-W (Melvin 2014)'
    """
    parts = [p.strip() for p in display_text(value).split(";")]
    return "; ".join(_AREA_NUMBER.sub(lambda m: f"{m.group(1).strip()} km²", p, count=1) for p in parts if p)


#: The order in which the map places camp labels (lower first): the kwan-li-so, then the
#: kyo-hwa-so, then other and suspected sites. A label that would collide moves to another side
#: of its marker, or is left out: the first placed keep theirs. Sites of one rank drawn closer
#: together than a marker share one label ("Camps 14 and 18", from their numbers, ``no``).
LABEL_PRIORITY = {"kwan-li-so": 0, "kyo-hwa-so": 1}


def camp_label(r) -> str:
    """A camp's map label: its name, with its number when the name does not say it."""
    name, number = display_text(r["name"]), display_text(r["number"])
    if len(name) > 32 and " (" in name:  # a long name's parenthesis stays in the popup and tooltip
        name = name.split(" (")[0]
    label = name if not number or re.search(rf"\b{re.escape(number)}\b", name) else \
        gettext("%(name)s (No. %(number)s)") % {"name": name, "number": number}
    hangul = display_text(r.get("name_ko")) if _hangul_first() else ""
    return f"{hangul} {label}" if hangul else label  # in Korean the data's Hangul name first


#: One letter per status in a feature's ``ys`` (the map's year control): no two alike.
STATUS_CODES = {"active": "a", "closed": "c", "relocated": "r", "contested": "x", "unknown": "u"}


def status_day(camps: pd.DataFrame) -> str:
    """The day the camps layer's status speaks of (``status_as_of``: the build date), ISO, or ``""``."""
    days = sorted({display_text(d)[:10] for d in camps.get("status_as_of", pd.Series(dtype=str))} - {""})
    return days[0] if len(days) == 1 else ""


def _status_html(rec) -> str:
    """The camp's status on the build date by the one rule: the line ``atlas status`` prints, and why."""
    st = rec.status
    if not st:  # an atlas that states no build date: the rule has no day to answer for
        return ""
    return (f'<p class="atlas-status"><span class="atlas-tag">{_term_html(st["status"])}</span> '
            + gettext("Status %(summary)s (the build date)") % {"summary": _rule(st["summary"])}
            + '<span class="atlas-src">' + gettext("Why:") + f' {_rule(st["reason"])}</span></p>')


def camp_popup(rec) -> str:
    """A camp's popup, a view of its :class:`atlas.Record` (every data string escaped).

    What a reader needs first (name, kind, status by the rule on the build
    date, findings oldest first), then where, then provenance folded: the same
    findings, status, coordinates and sources as ``atlas show`` prints.
    """
    f = rec.fields
    kind = display_text(f.get("kind"))
    number = display_text(f.get("number"))
    sub = term(KIND_LABELS.get(kind, kind)) + (gettext(" No. %(number)s") % {"number": number} if number else "") \
        + f" · {rec.id}"
    coords = _coords_text(rec) or gettext("no public coordinate")
    given = ", ".join(x for x in (_e(f.get("county_as_given")), _e(f.get("province_as_given"))) if x)
    date = _e(f.get("status_date"))
    names_ = (_e(f.get("name")), f'<span lang="ko">{_e(f.get("name_ko"))}</span>')
    out = [f'<h3>{" ".join(names_[::-1] if _hangul_first() else names_)}</h3>',
           f'<p class="atlas-sub">{html.escape(sub)}</p>',
           _status_html(rec),
           _rows([(gettext("Evidence"), _evidence_text(rec.status)),
                  (gettext("As the sources word it"),
                   f'{_e(f.get("status"))} (' + (date or gettext("no date given")) + ")")])]
    if rec.findings:
        items = []
        for x in rec.findings:  # oldest first, as the record orders them
            page = _e(page_ref(x.get("page")))
            year = first_year(x.get("date_start"), x.get("date_end"))
            what = display_text(x.get("type_in_words"))
            basis = display_text(x.get("evidence_basis"))
            shown = evidence_label(basis, x.get("testimony_hand"))
            tags = ([] if basis == what else [what]) + ([shown] if shown else [])  # "testimony" said once
            when = _e(x.get("observed_text")) or gettext("undated")
            source = gettext("Source:")
            items.append(
                f'<li class="atlas-finding" data-y="{year or ""}">'
                f'<span class="atlas-when">{when}</span> '
                + " ".join(f'<span class="atlas-tag{" atlas-basis" if t == shown else ""}">{_term_html(t)}</span>'
                           for t in tags) + " "
                f'{_e(x.get("description"))}'
                f'<span class="atlas-src">{source} {_links(x.get("source_report"))}'
                f'{", " + page if page else ""}</span></li>')
        out.append("<h4>" + gettext("Findings, oldest first (%(n)s)") % {"n": len(rec.findings)}
                   + '</h4><p class="atlas-asof"></p><ol class="atlas-findings">' + "".join(items) + "</ol>")
    else:
        out.append('<p class="atlas-sub">' + gettext("No dated findings recorded.") + "</p>")
    out.append("<h4>" + gettext("Where") + "</h4>" + _rows([
        (gettext("Coordinates"), html.escape(coords)),
        (gettext("Precision"), f'{_term_html(f.get("precision"))}: {_e(f.get("location_precision"))}'),
        (gettext("Location"), _admin(f)),
        (gettext("Area"), _en(html.escape(area_text(f.get("area_km2"))))),
    ]))
    out.append(_rows([
        (gettext("Also known as"), _e(f.get("alt_names"))),
        (gettext("Agency"), _e(f.get("agency"))),
        (gettext("Prisoners (estimates)"), _e(f.get("prisoners_estimate"))),
    ]))
    prov = [_rows([(gettext("Coordinate source"), _links(f.get("source"))), (gettext("As the sources give it"), given),
                   (gettext("Licence"), _e(f.get("licence")))])]
    published = [c for c in rec.coordinates if c["role"].startswith("published coordinate")]
    if published:
        rows = "".join(f"<li>{item}</li>" for item in _published_items(rec))
        prov.append("<h4>" + gettext("Published coordinates (%(n)s)") % {"n": len(published)} + f"</h4><ul>{rows}</ul>")
    out.append('<details class="atlas-prov"><summary>' + gettext("Provenance: sources, published coordinates, licence")
               + f'</summary>{"".join(prov)}</details>')
    return "".join(out)


def _evidence_text(status: dict) -> str:
    """The evidence behind the rule's answer (its tier, latest dated evidence, disagreement), escaped."""
    tier = display_text(status.get("evidence_tier"))
    if not tier:
        return ""
    day = display_text(status.get("latest_evidence_date"))
    latest = html.escape(format_date(day, current_lang())) if day else gettext("none dated")
    disagree = gettext("; the sources disagree") if status.get("sources_disagree") else ""
    return gettext("tier %(tier)s: %(label)s; latest dated evidence %(date)s%(disagree)s") % {
        "tier": html.escape(tier), "label": _term_html(status.get("evidence_tier_label")), "date": latest,
        "disagree": disagree}


def camps_spec(camps, findings, search: list, records: dict | None = None) -> dict:
    """The camps layer: one marker per located camp, its popup, and its status per year.

    ``records`` (:func:`atlas.records` of ``camps``, by id) gives each popup
    (:func:`camp_popup`); a camp without one has no popup.

    Each feature carries ``ys``, one letter per year from ``time.first`` to
    ``time.last`` (:data:`STATUS_CODES`: ``a`` active, ``c`` closed, ``r``
    relocated, ``x`` contested, ``u`` unknown), by the rule of
    :mod:`atlas.evidence` as of 31 December of each year before the build
    date's and, for the build date's year, as of the build date itself
    (``time.asof``, the camps' ``status_as_of``: the day ``atlas status``
    answers for by default); and ``yt``, its symbol for each status. The map's
    year control opens at the build date and recolours the camps from these,
    with no rule of its own. Its marker's first symbol is ``status_class``,
    the same rule on the same day.
    """
    syms = _Symbols()
    feats = []
    first, last = year_span(findings) if len(findings) else (0, 0)
    asof = status_day(camps)
    if asof:  # the years up to the build date's: 31 December of each, then the build date itself
        build = pd.Timestamp(asof)
        last = build.year
        first = min(first, last)
    yearly = yearly_status(findings, camps["site_id"], first, last - 1 if asof else last) if len(findings) else {}
    if asof and len(findings):
        today = yearly_status(findings, camps["site_id"], last, last, build.month, build.day)
        yearly = {s: [*yearly.get(s, []), *today[s]] for s in today}
    located = has_geometry(camps)
    i = 0
    for ok, (_, r) in zip(located, camps.iterrows()):
        site = display_text(r["site_id"])
        keys = _keys(r["name"], r["name_ko"], *_split(r["alt_names"]), site, r["county_as_given"])
        if not ok:
            search.append(_entry("camps", -1, r["name"], keys, gettext("no public coordinate: not on the map")))
            continue
        rec = (records or {}).get(site)
        popup = camp_popup(rec) if rec is not None else ""
        status = display_text(r["status_class"])
        name = (f'<span lang="ko">{_e(r["name_ko"])}</span> {_e(r["name"])}'
                if _hangul_first() and display_text(r["name_ko"]) else _e(r["name"]))
        head = f'{name}<br>{_term_html(KIND_LABELS.get(display_text(r["kind"]), r["kind"]))}'
        precision = display_text(r["precision"])
        feats.append({
            "c": _latlon(r.geometry), "s": syms(_camp_symbol(r["kind"], status, precision)),
            "t": f'{head} · {_term_html(status)}'
                 + (gettext(" as of %(date)s") % {"date": _e(format_date(asof, current_lang()))} if asof else ""),
            "tn": head, "id": site,
            "ys": "".join(STATUS_CODES[x] for x in yearly.get(site, [])),
            "yt": [syms(_camp_symbol(r["kind"], x, precision)) for x in STATUSES],
            **({"p": popup} if popup else {}), "lbl": camp_label(r),
            "pr": LABEL_PRIORITY.get(display_text(r["kind"]), 2), "no": display_text(r["number"])})
        search.append(_entry("camps", i, r["name"], keys, term(KIND_LABELS.get(display_text(r["kind"]), ""))))
        i += 1
    grey = "#d9d9d9"
    items = [{"sym": _symbol(shape, grey, "#1a1a1a", size=16), "label": term(KIND_LABELS[k])}
             for k, shape in KIND_SHAPES.items()]
    items += [{"sym": _symbol("circle", c, "#1a1a1a", size=12), "label": gettext("status: %(status)s") % {"status": term(s)}}
              for s, c in STATUS_COLOURS.items()]
    items += [
        {"sym": _symbol("square", grey, "#1a1a1a", size=16, halo=True),
         "label": gettext("dashed halo: a point within a camp area of many km², not a building")},
        {"sym": _symbol("square", grey, "#1a1a1a", size=16, dash=True, mark="?"),
         "label": gettext("dashed with ?: location uncertain")},
    ]
    missing = [display_text(n) for n, ok in zip(camps["name"], located) if not ok]
    known = sorted(y for y in (first_year(a, b) for a, b in zip(findings["date_start"],
                                                                 findings["date_end"])) if y)
    time = {"first": first, "last": last, "asof": asof, "window": WINDOW_YEARS, "statuses": list(STATUSES),
            "codes": STATUS_CODES,
            "finding_years": known, "findings": len(findings),
            "colours": {x: STATUS_COLOURS.get(x, "#ffffff") for x in STATUSES}}
    if asof and current_lang() != DEFAULT_LANG:  # the day as the page's language writes it (English: asof itself)
        time["asof_text"] = format_date(asof, current_lang())
    return {"kind": "points", "symbols": syms.table, "features": feats, "time": time, "legend": {
        "items": items,
        "note": (gettext("Shape: kind of site. Colour: status by the atlas's rule as of %(date)s "
                         "(the build date; contested = findings that count disagree); with the year control, as of "
                         "31 December of an earlier year (an 'active' finding counts for "
                         "%(years)s years after its last day; no finding then: unknown). ")
                 % {"date": format_date(asof, current_lang()) if asof else gettext("the build date"),
                    "years": WINDOW_YEARS}
                 + (gettext("Without a public coordinate (not drawn): %(names)s.") % {"names": "; ".join(missing)}
                    if missing else "")),
    }}


def rings_spec(camps: gpd.GeoDataFrame, radii: tuple) -> dict:
    feats = []
    az = np.linspace(0.0, 360.0, 96, endpoint=False)
    for _, r in camps[has_geometry(camps)].iterrows():
        x, y = float(r.geometry.x), float(r.geometry.y)
        rings = []
        for km in radii:
            lons, lats, _ = GEOD.fwd(np.full(az.size, x), np.full(az.size, y), az,
                                     np.full(az.size, km * 1000.0))
            rings.append([[round(float(la), 5), round(float(lo), 5)] for la, lo in zip(lats, lons)])
        feats.append({"rings": rings, "km": list(radii),
                      "t": gettext("%(name)s: %(radii)s km (geodesic)") % {
                          "name": _e(r["name"]), "radii": " / ".join(str(k) for k in radii)}})
    style = {"color": "#7a1f1f", "weight": 1.2, "dashArray": "4 4", "fill": False}
    return {"kind": "rings", "style": style, "features": feats, "legend": {
        "items": [{"line": style, "label": gettext("%(radii)s km from the camp point") % {
            "radii": " / ".join(str(k) for k in radii)}}],
        "note": gettext("True distances on the WGS84 ellipsoid (pyproj.Geod), not circles drawn on the flat map."),
    }}


def candidates_spec(cands: gpd.GeoDataFrame, camps: gpd.GeoDataFrame) -> dict:
    camp_pt = {s: g for s, g in zip(camps["site_id"], camps.geometry)
               if g is not None and not g.is_empty}
    camp_name = dict(zip(camps["site_id"], camps["name"]))
    feats = []
    for _, c in cands[has_geometry(cands)].iterrows():
        site = display_text(c["site_id"])
        target = camp_pt.get(site)
        same = bool(c["is_atlas_point"])
        dist = display_text(c["distance_km_from_atlas_point"])
        popup = f"<h3>{_e(camp_name.get(site, site))}</h3>" + _rows([
            (gettext("Published by"), _links(c["source"])),
            (gettext("Coordinates"), f"{c.geometry.y:.6f}, {c.geometry.x:.6f}"),
            (gettext("Note"), _e(c["note"])),
            (gettext("Distance from the atlas point"), gettext("%(km)s km (geodesic)") % {"km": html.escape(dist)}
             if dist else gettext("the camp has no atlas point")),
            (gettext("Used by the atlas"), gettext("yes, this is the point the atlas uses") if same else gettext("no")),
        ])
        feats.append({"c": _latlon(c.geometry),
                      "to": _latlon(target) if (target is not None and not same) else None,
                      "same": same, "p": popup,
                      "t": f'{_e(c["source"])}: ' + (html.escape(dist) + " km" if dist else gettext("no atlas point"))})
    return {"kind": "candidates", "features": feats, "legend": {
        "items": [{"sym": _symbol("circle", "#ff9f1c", "#8a4b00", size=10), "label": gettext("a published coordinate")},
                  {"sym": _symbol("circle", "#ffffff", "#8a4b00", size=10),
                   "label": gettext("the published coordinate the atlas uses")},
                  {"line": {"color": "#8a4b00", "dashArray": "2 4", "weight": 1.5},
                   "label": gettext("line to the point the atlas uses (popup: source, distance)")}],
        "note": gettext("Where sources disagree on a camp's location."),
    }}


def _entry(layer: str, index: int, label, keys: list[str], note: str = "") -> dict:
    return {"l": layer, "i": index, "n": display_text(label), "k": keys, "x": display_text(note)}


# --- rasters -------------------------------------------------------------------


def _ramp_rgb(t: np.ndarray, colours=DENSITY_RAMP) -> np.ndarray:
    stops = np.linspace(0.0, 1.0, len(colours))
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colours], float)
    return np.stack([np.interp(t, stops, rgb[:, k]) for k in range(3)], axis=-1)


def _warp(path: Path, bands: list[int] | None = None):
    """Read a GeoTIFF warped to Web Mercator (at most 1024 px a side): array and lat/lon bounds."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with open_raster(path) as src:
        if src.crs is None:
            raise InputError(f"{path} has no CRS: the map cannot place it")
        bands = bands or list(range(1, min(src.count, 3) + 1))
        _, width, height = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height,
                                                       *src.bounds)
        scale = max(width, height) / _RASTER_MAX_PX
        if scale > 1:
            width, height = max(1, round(width / scale)), max(1, round(height / scale))
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:3857", src.width, src.height, *src.bounds, dst_width=width, dst_height=height)
        data = src.read(bands, masked=True).astype("float64").filled(np.nan)
        out = np.full((len(bands), height, width), np.nan)
        reproject(data, out, src_transform=src.transform, src_crs=src.crs, src_nodata=np.nan,
                  dst_transform=transform, dst_crs="EPSG:3857", dst_nodata=np.nan,
                  resampling=Resampling.bilinear)
        meta = {"units": (src.units[0] if src.units else "") or src.tags(bands[0]).get("units", "")
                or src.tags().get("units", ""),
                "description": (src.descriptions[0] if src.descriptions else "") or
                src.tags().get("description", ""), "dtype": src.dtypes[0], "count": src.count}
    left, top = transform.c, transform.f
    right, bottom = left + width * transform.a, top + height * transform.e
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    (w, e), (s, n) = to_ll.transform([left, right], [bottom, top])
    bounds = [[round(s, 6), round(w, 6)], [round(n, 6), round(e, 6)]]
    return out, bounds, meta


def density_spec(path: Path) -> dict:
    data, bounds, meta = _warp(path, [1])
    v = data[0]
    valid = np.isfinite(v) & (v > 0)
    vmax = float(v[valid].max()) if valid.any() else 0.0
    t = np.where(valid, v / vmax if vmax else 0.0, 0.0)
    rgba = np.zeros((*v.shape, 4), np.uint8)
    rgba[..., :3] = np.round(_ramp_rgb(t)).astype(np.uint8)
    rgba[..., 3] = np.where(valid, 200, 0).astype(np.uint8)
    unit = display_text(meta["units"])
    desc = display_text(meta["description"])
    return {"kind": "images", "features": [{
        "url": _assets.data_uri(_assets.png_rgba(rgba), "image/png"), "bounds": bounds, "opacity": 0.8,
        "t": html.escape(path.name)}], "legend": {
        "items": [{"gradient": list(DENSITY_RAMP), "min": gettext("0 (transparent)"),
                   "max": f"{vmax:.3g}{' ' + unit if unit else ''}"}],
        "note": f"{desc + ': ' if desc else ''}" + gettext(
            "from %(file)s; colour stretched linearly from 0 to the maximum.") % {"file": path.name},
    }}


def chip_spec(path: Path) -> dict:
    data, bounds, meta = _warp(path)
    finite = np.all(np.isfinite(data), axis=0)
    if data.shape[0] >= 3 and meta["dtype"] == "uint8":
        rgb = np.nan_to_num(data[:3]).clip(0, 255)
    else:
        rgb = np.empty((3, *data.shape[1:]))
        for k in range(3):
            band = data[min(k, data.shape[0] - 1)]
            lo, hi = (np.nanpercentile(band, (2, 98)) if finite.any() else (0.0, 1.0))
            rgb[k] = np.clip((np.nan_to_num(band, nan=lo) - lo) / ((hi - lo) or 1.0), 0, 1) * 255
    rgba = np.zeros((*data.shape[1:], 4), np.uint8)
    rgba[..., :3] = np.round(np.moveaxis(rgb, 0, -1)).astype(np.uint8)
    rgba[..., 3] = np.where(finite, 255, 0).astype(np.uint8)
    return {"url": _assets.data_uri(_assets.png_rgba(rgba), "image/png"), "bounds": bounds,
            "opacity": 1.0, "t": html.escape(path.name)}


# --- user layers ------------------------------------------------------------------


def outside_rows(gdf: gpd.GeoDataFrame, outline=None, tolerance_km: float = 5.0) -> np.ndarray:
    """Which features lie more than ``tolerance_km`` outside the DPRK (boolean, per row).

    From the layer's ``outside_dprk_km`` (written by ``atlas import``) when it has
    one, else measured to ``outline`` (a geometry in EPSG:5179); all False without either.
    """
    if "outside_dprk_km" in gdf.columns:
        return (pd.to_numeric(gdf["outside_dprk_km"], errors="coerce").fillna(0) > tolerance_km).to_numpy()
    if outline is None or not len(gdf):
        return np.zeros(len(gdf), bool)
    return (gdf.geometry.to_crs("EPSG:5179").distance(outline).to_numpy() / 1000.0) > tolerance_km


def _shown_values(values: list) -> list:
    """A column's JSON values with the bidi controls of its texts written out (packed, they are past the
    reach of the pass over the whole page spec in :mod:`atlas.webmap`): one scan of the column when none holds any."""
    texts = "\x00".join(v for v in values if isinstance(v, str))
    if neutral_bidi(texts) == texts:
        return values
    return [neutral_bidi(v) if isinstance(v, str) else v for v in values]


def pack_shapes(geoms) -> dict:
    """Lines or polygons packed for the map: quantised, delta-coded coordinates and offsets.

    ``t`` is ``"lines"`` or ``"polygons"``; ``c`` the coordinates as integers of
    1e-6° (lon, lat; each ring's first absolute, the others as differences from the
    one before), ``r`` where each ring (or line) starts in ``c`` (in coordinates),
    ``p`` where each polygon starts in ``r`` (polygons only), ``g`` where each
    feature starts in ``p`` (``r`` for lines). ``tolerance`` is the simplification
    (degrees) applied.

    Examples
    --------
    >>> packed = pack_shapes([shapely.box(126.0, 39.0, 126.0001, 39.0001)])
    >>> packed["t"], packed["c"][:4], packed["r"], packed["p"], packed["g"]
    ('polygons', [126000100, 39000000, 0, 100], [0, 5], [0, 1], [0, 1])
    """
    geoms = shapely.force_2d(np.asarray(geoms, dtype=object))  # altitudes (KML) are not drawn
    tolerance = SHAPE_TOLERANCE
    kinds = set(shapely.get_type_id(geoms).tolist())
    polygons = bool(kinds & {3, 6})
    if kinds - ({3, 6} if polygons else {1, 5}):
        raise InputError("a layer of shapes holds lines or polygons, not both (nor points)")
    while True:
        simple = shapely.simplify(geoms, tolerance, preserve_topology=True)
        if int(shapely.get_num_coordinates(simple).sum()) <= MAX_SHAPE_VERTICES or tolerance > 0.01:
            break
        tolerance *= 2
    multi = shapely.multipolygons if polygons else shapely.multilinestrings
    single = shapely.get_type_id(simple) == (3 if polygons else 1)
    if single.any():
        simple[single] = multi(simple[single], indices=np.arange(int(single.sum())))
    _, coords, offsets = shapely.to_ragged_array(simple)
    q = np.round(coords * 1e6).astype(np.int64)
    rings = offsets[0]
    d = q.copy()
    d[1:] -= q[:-1]
    starts = rings[:-1][rings[:-1] < len(q)]
    d[starts] = q[starts]
    out = {"t": "polygons" if polygons else "lines", "c": d.ravel().tolist(), "r": rings.tolist(),
           "tolerance": tolerance}
    if polygons:
        out.update(p=offsets[1].tolist(), g=offsets[2].tolist())
    else:
        out.update(p=None, g=offsets[1].tolist())
    return out


def user_spec(name: str, gdf, colour: str, outline=None) -> dict:
    """A user layer: points packed for the one-canvas renderer (:mod:`atlas._packing`), other shapes as GeoJSON.

    Points more than 5 km outside the DPRK (``out``: their rows) are drawn hollow and dashed.
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"extra layer {name!r} is not a GeoDataFrame")
    if gdf.crs is None:
        raise InputError(f"extra layer {name!r} has no CRS: set one (e.g. gdf.set_crs(4326))")
    left_out = int(gdf.attrs.get("left_out") or 0)  # a large layer: its first features only
    gdf = gdf[has_geometry(gdf)]
    gdf = gdf.to_crs(4326) if gdf.crs.to_epsg() != 4326 else gdf
    src = [c for c in gdf.columns if c != gdf.geometry.name][:30]
    cols = [neutral_bidi(str(c)) for c in src]
    is_point = (gdf.geometry.geom_type == "Point").to_numpy()
    points = gdf.geometry.to_numpy()[is_point]
    lon, lat = shapely.get_x(points), shapely.get_y(points)
    order = np.concatenate([np.flatnonzero(is_point), np.flatnonzero(~is_point)])
    # a value repeated on many rows is written once; a column with one value on every row (the
    # source file, its sha256, the import time, ...) once for the layer
    packed, consts = _packing.pack_columns(
        {neutral_bidi(str(c)): _shown_values(_packing.json_values(gdf[c].to_numpy()[order])) for c in src},
        *((lon, lat) if is_point.all() else (None, None)))
    spec = {"kind": "user", "colour": colour, "n": int(is_point.sum()), "columns": cols, "cols": packed,
            "consts": consts, "legend": {
                "items": [{"sym": _symbol("circle", colour, "#ffffff", size=10),
                           "label": gettext("%(n)s features") % {"n": len(gdf)}}],
                "note": gettext("Your layer: point at a feature for its name, click it for all its attributes.")}}
    if left_out:
        spec["legend"]["note"] += gettext(" Left out: %(n)s more features of this layer (the map holds its first "
                                          "ones; the CSV, GeoJSON and GeoParquet exports hold them all).") % {
            "n": f"{left_out:,}"}
    if len(points):
        spec["xy"] = _packing.pack_points(lon, lat)
    if not is_point.all():  # lines or polygons: one canvas, packed coordinates
        spec["shapes"] = pack_shapes(gdf.geometry.to_numpy()[~is_point])
        spec["legend"]["note"] += gettext(" Lines and polygons drawn simplified to %(m)s m (the exports hold them "
                                          "exact).") % {"m": f"{spec['shapes']['tolerance'] * 111_000:.1f}"}
    out_rows = np.flatnonzero(outside_rows(gdf, outline)[order][: len(points)]).tolist()  # points, drawing order
    if out_rows:
        spec["out"] = out_rows
        spec["legend"]["items"].append({
            "sym": _symbol("circle", "#ffffff", colour, size=10, dash=True, opacity=0.6),
            "label": gettext("hollow, dashed: %(n)s point(s) more than 5 km outside the DPRK (kept as given)")
            % {"n": len(out_rows)}})
    return spec


USER_COLOURS = ("#0b7285", "#c2255c", "#5f3dc4", "#e67700", "#2b8a3e")
