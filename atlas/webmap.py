"""The interactive map: one self-contained HTML file, every layer, honest about certainty.

:func:`build_map` returns a :class:`folium.Map`; :func:`write_map` writes it
as one HTML file that makes **no network request** when opened from disk:
Leaflet is inlined from the ``xstatic-leaflet`` package (see
:mod:`atlas._assets`), images are ``data:`` URIs, a Content-Security-Policy
forbids anything else, and a vector basemap (Natural Earth countries and the
provinces) stands in for tiles. ``online=True`` adds OpenStreetMap and Esri
World Imagery tiles as switchable base layers, labelled as needing a network.

How the page is made, and why:

* Every layer is described in Python as plain data (a "spec", built by
  :mod:`atlas.map_layers`): coordinates,
  a symbol per feature, and popup/tooltip HTML in which **every data string
  went through** :func:`html.escape`. The spec is embedded as JSON with
  ``<``, ``>`` and ``&`` escaped, so no data can close the ``<script>``.
  The map's own script (``_webmap.js``) turns it into Leaflet layers; text it
  shows outside popups (search results, legend, user-layer popups) is set
  with ``textContent``, never parsed as HTML.
* The HTML is never passed through a template engine after the data is in
  it (folium's ``MacroElement`` re-parses its output as a Jinja template, so
  ``{{ }}`` in data would be evaluated): raw elements are used instead.
* Element ids are numbered in tree order at render time, so the same inputs
  give a byte-identical file.
* Points of user layers (``extra_layers``, and ``user_*`` layers imported
  into the GeoPackage) are packed (:mod:`atlas._packing`: coordinates as
  integers, a repeated value once per distinct value, deflated) and drawn by
  ``_points.js`` on one canvas with a grid index for hover and click, no
  Leaflet object per point; the canvas takes no pointer event, so the layers
  under it keep their tooltips and popups. 200,000 points: under 6 MB and
  interactive in about a second (``benchmarks/bench_map.py``).
"""

from __future__ import annotations

import html
import itertools
import json
import subprocess
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd
import shapely
from branca.element import Element

from . import _assets, io
from .errors import InputError, OutputError
from .evidence import STATUSES
from .i18n import DEFAULT_LANG, N_, check_lang, format_date, gettext, js_translations, translate, use_lang
from .map_layers import (
    USER_COLOURS,
    camps_spec,
    candidates_spec,
    chip_spec,
    counties_spec,
    density_spec,
    deposits_spec,
    display_text,
    geojson_geometry,
    has_geometry,
    mines_spec,
    named_mines_spec,
    provinces_spec,
    rings_spec,
    status_day,
    steel_plants_spec,
    user_spec,
)
from .owned import check_replace
from .protect import coarsen, shared_layers
from .provenance import about
from .record import records as site_records
from .redact import neutral_bidi
from .schema import SCHEMAS
from .search import retired_ids
from .userlayers import gate

__all__ = ["LAYER_TITLES", "RING_KM", "build_map", "write_map"]

#: Most features of one user layer on the map (its first ones): a page of a million points is too heavy to
#: open or send. The layer's legend and standard error say how many it left out.
MAX_MAP_FEATURES = 100_000
#: Radii of the optional distance rings around each camp (km, geodesic).
RING_KM = (10, 25, 50)
#: Title (start) of each atlas layer in the layer control.
LAYER_TITLES = {
    **{n: s.title for n, s in SCHEMAS.items()},  # the schema's titles, as QGIS shows them
    "camp_rings": N_("Distance rings around camps"),
    "density": N_("Mine density (raster)"),
    "chips": N_("Image chips"),
    "imagery_pairs": N_("Imagery before/after (swipe)"),
}
#: Layers shown when the page opens; the others are one click away in the layer control.
SHOWN = ("provinces", "mines", "named_mines", "camps")
VECTOR_BASE = N_("Vector basemap: Natural Earth (offline)")
ONLINE_BASES = (
    (N_("OpenStreetMap (needs a network)"), "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
     "© OpenStreetMap contributors (ODbL 1.0)", 19),
    (N_("Esri World Imagery, satellite (needs a network)"),
     "https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/{z}/{y}/{x}",
     "Imagery © Esri, Maxar, Earthstar Geographics and the GIS User Community", 19),
)


# --- the page ----------------------------------------------------------------------


class _Raw(Element):
    """An element rendered verbatim: its text is never parsed as a template."""

    def __init__(self, text: str):
        super().__init__()
        self._name = "Raw"
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


class _AtlasPage(Element):
    """Adds the inlined assets to the page header and the atlas script after the map."""

    def __init__(self, spec: dict, online: bool):
        super().__init__()
        self._name = "AtlasPage"
        self.spec = spec
        self.online = online

    def render(self, **kwargs) -> None:
        figure = self.get_root()
        img = "data:" + (" https://tile.openstreetmap.org https://server.arcgisonline.com" if self.online else "")
        csp = (f"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               f"img-src {img}; font-src data:")
        for text in (_assets.leaflet_js(), _assets.atlas_js()):
            if "</script" in text.lower():
                raise RuntimeError("an inlined script contains </script")
        head = (f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
                f"<style>{_assets.leaflet_css()}</style>\n<style>{_assets.atlas_css()}</style>\n"
                f"<script>{_assets.leaflet_js()}</script>\n<script>{_assets.leaflet_icon_js()}</script>\n")
        figure.header.add_child(_Raw(head), name="atlas_assets", index=0)
        data = _assets.script_safe(json.dumps(self.spec, ensure_ascii=False, separators=(",", ":"),
                                              allow_nan=False))
        script = f"{_assets.atlas_js()}\natlasInit({self._parent.get_name()}, {data});\n"
        figure.script.add_child(_Raw(script), name="atlas_script")


class _AtlasMap(folium.Map):
    """A folium Map with no CDN links and ids numbered deterministically at render time."""

    default_js: list = []  # noqa: RUF012 (folium's class attribute, replaced: nothing from CDNs)
    default_css: list = []  # noqa: RUF012

    def render(self, **kwargs):
        counter = itertools.count()

        def number(el: Element) -> None:
            el._id = f"{next(counter):04d}"
            for child in el._children.values():
                number(child)

        root = self.get_root()
        number(root)
        for part in (root.header, root.html, root.script):
            number(part)
        return super().render(**kwargs)


def _shown(value):
    """The page's data with the bidi controls of every string written out (:func:`atlas.redact.neutral_bidi`,
    as on a dossier page): the popups, tooltips, legends and search of the map show them as ``\\u202e``."""
    if isinstance(value, str):
        return neutral_bidi(value)
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_shown(v) for v in value]
    return value


def _attribution(src: pd.DataFrame) -> tuple[str, list[dict]]:
    """A compact attribution line (every distinct source named once) and the full per-file list."""
    parts: dict[str, None] = {}
    for attr in src["attribution"]:
        for p in str(attr).split("; "):
            p = p.strip().rstrip(".")
            if p and p != "as cited per row":
                parts[p] = None
    distinct = [p for p in parts if not any(p != q and p.lower() in q.lower() for q in parts)]
    line = " · ".join(html.escape(p) for p in distinct)
    listing = [{"path": display_text(r["path"]), "attribution": display_text(r["attribution"]),
                "licence": display_text(r["licence"]), "origin": display_text(r["origin"])}
               for _, r in src.iterrows()]
    return line, listing


def _raster_paths(gpkg: Path | None, density, chips) -> tuple[Path | None, list[Path]]:
    base = gpkg.parent if gpkg is not None else io.output_dir()  # an atlas in PostGIS: output/
    dens = None if density is False else Path(density) if density else base / "mine_density.tif"
    if dens is not None and not dens.is_file():
        if density:
            raise InputError(f"no density raster at {dens}")
        dens = None
    chip_dir = None if chips is False else Path(chips) if chips else base / "chips"
    chip_files = sorted(chip_dir.glob("*.tif")) if chip_dir is not None and chip_dir.is_dir() else []
    return dens, chip_files


def _imagery_layers(atlas, imagery: bool) -> dict:
    """The before/after pairs of shareable scenes (``--imagery``; a private scene never reaches the page)."""
    if not imagery:
        return {}
    from .compare import imagery_map_spec

    pairs = imagery_map_spec(atlas)
    return {} if pairs is None else {"imagery_pairs": pairs}


def build_map(
    gpkg: str | Path | None = None,
    online: bool = False,
    extra_layers: Mapping[str, gpd.GeoDataFrame] | None = None,
    *,
    density: str | Path | bool | None = None,
    chips: str | Path | bool | None = None,
    rings_km: tuple[float, ...] = RING_KM,
    include_user_layers: bool = True,
    include_private: bool = False,
    coarsen_km: float | None = None,
    imagery: bool = False,
    lang: str | None = None,
) -> folium.Map:
    """The atlas's interactive map: every layer, a legend, search, measure, fullscreen.

    Parameters
    ----------
    gpkg : path, optional
        The atlas GeoPackage (default ``output/atlas.gpkg``).
    online : bool, default False
        Add OpenStreetMap and Esri World Imagery tiles as base layers (they
        need a network; the default map makes no network request at all).
    extra_layers : mapping of str to GeoDataFrame, optional
        More layers to show, by title (any CRS; points are drawn on one
        canvas, other geometries as shapes; pointing at a feature shows its
        name, a click all its attributes). 200,000 points stay under 6 MB.
    density : path or bool, optional
        A density GeoTIFF to overlay (off by default in the page, with a
        legend). Default: ``mine_density.tif`` beside the GeoPackage, if it
        exists; ``False``: none.
    chips : path or bool, optional
        A folder of GeoTIFF image chips (``*.tif``) to overlay. Default:
        ``chips/`` beside the GeoPackage, if it exists; ``False``: none.
    rings_km : tuple of float, default (10, 25, 50)
        Radii of the geodesic distance rings around camps.
    include_user_layers : bool, default True
        Also show the ``user_*`` layers imported into the GeoPackage
        (``atlas import``), except the private ones.
    include_private : bool, default False
        Also show the user layers imported with ``private=True``: only for a
        page that stays on your machine. The page then says so in a banner
        (on screen and on every printed page), and its about box cites the
        private store's sha256 apart.
    coarsen_km : float, optional
        Snap the user layers' points to an N-km grid first
        (:func:`atlas.protect.coarsen`); the about box says so.
    imagery : bool, default False
        Add each site's before/after pair of **shareable** registered scenes
        with a swipe handle (:func:`atlas.compare.imagery_map_spec`; docs/imagery.md).
    lang : str, optional
        The page's language (:data:`atlas.i18n.LANGS`): English by default, ``ko`` for Korean
        (every label, legend, control and message from the catalogue; names Hangul first where the
        data has Hangul; dates in Korean form). The English page is the same as before ``lang``.

    Returns
    -------
    folium.Map
        Save it with :func:`write_map` (or ``Map.save``): the page needs
        nothing but itself.

    Raises
    ------
    NotFoundError
        If there is no GeoPackage (run ``atlas build``).
    InputError
        If an extra layer is not a GeoDataFrame with a CRS, or a raster has no CRS.

    Examples
    --------
    >>> import atlas
    >>> m = atlas.build_map()                   # reads output/atlas.gpkg
    >>> m.atlas_layers["camps"]
    'Prison camps and suspected sites (26 of 27 located)'
    """
    lang = check_lang(lang)
    with use_lang(lang):  # the layers' popups, tooltips and legends are written in it (atlas.map_layers)
        return _build_map(gpkg, online, extra_layers, density=density, chips=chips, rings_km=rings_km,
                          include_user_layers=include_user_layers, include_private=include_private,
                          coarsen_km=coarsen_km, imagery=imagery, lang=lang)


def _build_map(gpkg, online, extra_layers, *, density, chips, rings_km, include_user_layers, include_private,
               coarsen_km, imagery, lang) -> folium.Map:
    allowed = gate(gpkg, "map", include_private=include_private)  # the one gate: what this page may hold
    atlas = allowed.atlas
    layers = {name: atlas.layer(name) for name in (
        "provinces", "counties", "mines", "named_mines", "mineral_deposits", "camps", "camp_findings",
        "coordinate_candidates", "sources")}
    names = set(atlas.layers())
    for name in ("steel_plants", "sanctions_measures", "mine_findings"):  # older GeoPackages lack them
        if name in names:
            layers[name] = atlas.layer(name)
    search: list[dict] = []
    spec_layers: dict[str, dict] = {
        "provinces": provinces_spec(layers["provinces"], layers["mines"], search),
        "counties": counties_spec(layers["counties"], search),
        "mineral_deposits": deposits_spec(layers["mineral_deposits"], search),
        "coordinate_candidates": candidates_spec(layers["coordinate_candidates"], layers["camps"]),
        "camp_rings": rings_spec(layers["camps"], tuple(rings_km)),
        "mines": mines_spec(layers["mines"], search, layers.get("sanctions_measures"),
                            layers.get("mine_findings"), status_day(layers["camps"]), site_records("mines", atlas)),
        "named_mines": named_mines_spec(layers["named_mines"], search, site_records("named_mines", atlas)),
        **({"steel_plants": steel_plants_spec(layers["steel_plants"], search)} if "steel_plants" in layers else {}),
        "camps": camps_spec(layers["camps"], layers["camp_findings"], search, site_records("camps", atlas)),
    }
    dens, chip_files = _raster_paths(atlas.path, density, chips)
    if dens is not None:
        spec_layers["density"] = density_spec(dens)
    if chip_files:
        spec_layers["chips"] = {"kind": "images", "features": [chip_spec(p) for p in chip_files], "legend": {
            "items": [], "note": gettext("%(n)s image(s) from %(folder)s/ (file name in the tooltip).") % {
                "n": len(chip_files), "folder": chip_files[0].parent.name}}}
    spec_layers.update(_imagery_layers(atlas, imagery))
    titles = {k: gettext(LAYER_TITLES[k]) for k in spec_layers}
    extras: dict[str, gpd.GeoDataFrame] = {}
    records: list[dict] = []
    if include_user_layers:  # private layers only when asked: the page is made to be shared
        shared, records = shared_layers(allowed, coarsen_km=coarsen_km, max_features=MAX_MAP_FEATURES)
        for rec in records:
            if rec.get("left_out"):  # said on standard error and in the layer's legend
                warnings.warn(f"the map shows the first {rec['shown']:,} features of {rec['layer']} and leaves out "
                              f"{rec['left_out']:,} (at most {MAX_MAP_FEATURES:,} a layer); the CSV, GeoJSON and "
                              "GeoParquet exports hold them all", stacklevel=2)
                shared[rec["layer"]].attrs["left_out"] = rec["left_out"]
        for name, gdf in shared.items():
            extras[gettext("Your layer: %(name)s") % {"name": name[len('user_'):]}] = gdf
    for title, gdf in dict(extra_layers or {}).items():
        extras[title] = coarsen(gdf, coarsen_km, gpkg=atlas) if coarsen_km else gdf
    outline = (atlas.outline() if "dprk_outline" in names  # the importer's outline: the same flags
               else shapely.union_all(layers["provinces"].to_crs("EPSG:5179").geometry.to_numpy()))
    for k, (title, gdf) in enumerate(extras.items()):
        lid = f"user:{k}"
        spec_layers[lid] = user_spec(str(title), gdf, USER_COLOURS[k % len(USER_COLOURS)], outline)
        titles[lid] = str(title)
    # counts in the titles: the reader sees at once what is drawn and what is not
    camps, named = layers["camps"], layers["named_mines"]
    located = gettext("%(n)s of %(total)s located")
    counts = {
        "provinces": gettext("%(n)s provinces") % {"n": len(layers["provinces"])},
        "counties": f"{int(has_geometry(layers['counties']).sum())}",
        "mines": f"{int(has_geometry(layers['mines']).sum())}",
        "named_mines": located % {"n": int(has_geometry(named).sum()), "total": len(named)},
        "mineral_deposits": gettext("%(n)s regions") % {"n": len(layers["mineral_deposits"])},
        "camps": located % {"n": int(has_geometry(camps).sum()), "total": len(camps)},
        "camp_rings": gettext("%(radii)s km, geodesic") % {"radii": " / ".join(f"{k:g}" for k in rings_km)},
        "coordinate_candidates": f"{int(has_geometry(layers['coordinate_candidates']).sum())}",
        "steel_plants": f"{len(layers.get('steel_plants', []))}",
    }
    order = ["provinces", "counties", "mineral_deposits", "density", "chips", "imagery_pairs", "camp_rings",
             "coordinate_candidates", "steel_plants", "mines", "named_mines", "camps"]
    order = [k for k in order if k in spec_layers] + [k for k in spec_layers if k.startswith("user:")]
    out_layers = []
    for lid in order:
        layer = spec_layers[lid]
        title = titles[lid] + (f" ({counts[lid]})" if lid in counts else "")
        layer.update({"id": lid, "title": title, "label": html.escape(title),
                      "show": lid in SHOWN or lid.startswith("user:")})
        out_layers.append(layer)

    context = atlas.layer("basemap_countries")
    attribution, listing = _attribution(layers["sources"])
    bases = [{"label": html.escape(gettext(VECTOR_BASE)), "kind": "vector"}]
    if online:
        bases += [{"label": html.escape(gettext(lbl)), "kind": "tiles", "url": url, "maxZoom": mz,
                   "attribution": html.escape(attr)} for lbl, url, attr, mz in ONLINE_BASES]
    prov = layers["provinces"]
    w, s, e, n = (float(v) for v in prov.total_bounds)
    spec = {
        "title": gettext("Gulag, Inc. atlas: North Korea's mines and prison camps"),
        "online": bool(online),
        "network_note": (gettext("Tile basemaps (OpenStreetMap, Esri World Imagery) need a network; "
                                 "the vector basemap and every layer work offline.") if online else
                         gettext("Offline map: everything it shows is inside this one file.")),
        "bounds": [[round(s, 4), round(w, 4)], [round(n, 4), round(e, 4)]],
        "bases": bases,
        "context": [{"g": geojson_geometry(g), "prk": a3 == "PRK"}
                    for g, a3 in zip(context.geometry, context["country_code"])],
        "layers": out_layers,
        "search": search,
        "attribution": attribution,
        "sources": listing,
        # retired ids, so that an old link (atlas.html#M040@2014) says what became of its site
        "retired": {i: {k: display_text(r[k]) for k in ("state", "into", "reason", "retired_in")}
                    for i, r in retired_ids(atlas).items()},
        "credit": gettext("Gulag, Inc. atlas (MIT code; data licences in Sources & licences)"),
        "about": about(atlas, user_layers=[{k: v for k, v in r.items() if k != "columns_dropped"}
                                           for r in records],
                       extra_layers=[str(t) for t in (extra_layers or {})],
                       coarsen_km=coarsen_km),
    }
    _spec_lang(spec, lang)
    spec = _shown(spec)  # names and ids cannot reorder a popup, a tooltip or a legend line
    spec["about"].pop("sources")  # listed in full by the Sources & licences box
    m = _AtlasMap(location=[(s + n) / 2, (w + e) / 2], zoom_start=7, tiles=None, control_scale=False,
                  font_size="13px")
    m.options["maxZoom"] = 18
    m.options["minZoom"] = 4
    m.get_root().title = html.escape(spec["title"])
    if spec["about"].get("banner"):
        m.get_root().title = html.escape(f"{spec['about']['banner']} · {spec['title']}")
        m.get_root().html.add_child(_Raw(private_banner_html(spec["about"]["banner"])), name="atlas_private",
                                    index=0)
    m.add_child(_AtlasPage(spec, bool(online)), name="atlas_page")
    _page_lang(m.get_root(), lang)
    m.atlas_spec = spec
    m.atlas_layers = {layer["id"]: layer["title"] for layer in out_layers}
    return m


def _spec_lang(spec: dict, lang: str) -> None:
    """A page in another language than English: the script's strings from the catalogue (an English
    page carries none: the script shows its own English originals), and the about box's days in that
    language's form."""
    if lang == DEFAULT_LANG:
        return
    spec["i18n"] = {**js_translations(lang), **{s: translate(s, lang) for s in STATUSES}}
    spec["attribution"] = f'<span lang="en">{spec["attribution"]}</span>'  # the sources' names, as they give them
    for key in ("build_date", "written"):
        if spec["about"].get(key):
            spec["about"][key] = format_date(spec["about"][key], lang)


def _page_lang(root, lang: str) -> None:
    """The page's ``<html>`` element says its language, other than English (folium's page template names none)."""
    if lang == DEFAULT_LANG:
        return
    render = root.render

    def with_lang(**kwargs) -> str:
        return render(**kwargs).replace("<!DOCTYPE html>\n<html>", f'<!DOCTYPE html>\n<html lang="{lang}">', 1)

    root.render = with_lang


def private_banner_html(text: str) -> str:
    """The banner of a page that holds private layers: on screen at the top, on every printed page."""
    return (
        "<style>.atlas-private-banner{position:fixed;top:0;left:0;right:0;z-index:3000;margin:0;"
        "padding:4px 10px;background:#b00020;color:#fff;font:700 14px/1.4 system-ui,sans-serif;"
        "text-align:center;letter-spacing:.02em}.leaflet-top{top:30px}"
        "@media (max-width:640px){.leaflet-top{top:52px}}"  # two lines on a phone: the controls below it
        "@media print{.atlas-private-banner{position:fixed;-webkit-print-color-adjust:exact;"
        "print-color-adjust:exact}}</style>\n"
        f'<p class="atlas-private-banner" role="alert">{html.escape(text)}</p>\n')


def write_map(
    out: str | Path | None = None,
    gpkg: str | Path | None = None,
    online: bool = False,
    extra_layers: Mapping[str, gpd.GeoDataFrame] | None = None,
    *,
    screenshot: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    **kwargs,
) -> Path:
    """Write the interactive map as one self-contained HTML file.

    Parameters
    ----------
    out : path, optional
        The HTML file (default ``output/atlas.html``; with ``include_private``,
        ``output-private/atlas.html``, outside the folder you share); replaced
        atomically.
    gpkg, online, extra_layers, **kwargs
        As for :func:`build_map`.
    screenshot : path, optional
        Also save a PNG of the page as opened in headless Chromium (needs the
        ``playwright`` package and ``/usr/bin/chromium``).
    progress : callable, optional
        Called with a message per step.

    Returns
    -------
    pathlib.Path
        The HTML file written.

    Examples
    --------
    >>> import atlas, pathlib, tempfile
    >>> out = atlas.write_map(pathlib.Path(tempfile.mkdtemp()) / "atlas.html")
    >>> "<script src=" in out.read_text(encoding="utf-8")
    False
    """
    out = Path(out) if out else io.output_dir(private=bool(kwargs.get("include_private"))) / "atlas.html"
    if screenshot:
        from . import _browser

        if not _browser.available():  # said before anything is written
            raise InputError(f"a screenshot needs Chromium ({_browser.executable()}, or set ATLAS_CHROMIUM) and the "
                             "playwright package; neither map nor screenshot written")
        check_replace([out, Path(screenshot)])  # both names checked before either is written
    m = build_map(gpkg, online=online, extra_layers=extra_layers, **kwargs)
    page = m.get_root().render()
    with io.atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    if progress:
        progress(f"map: {out} ({out.stat().st_size / 1e6:.1f} MB, {len(m.atlas_layers)} layers)")
    if screenshot:
        from ._browser import screenshot as shoot

        with io.atomic_path(Path(screenshot)) as tmp:  # a link planted at its name is replaced, not followed
            try:
                shoot(out, tmp)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                raise OutputError(f"the map was written ({out}) but its screenshot failed: "
                                  f"{str(exc).strip().splitlines()[-1]}") from None
    return out
