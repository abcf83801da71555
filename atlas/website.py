"""The whole atlas as a static website: a folder that works from disk and from any static host.

:func:`build_site` writes, from one GeoPackage:

* ``index.html``: an overview map (an inline SVG; every site a link to its
  dossier), a link to the interactive map, and a searchable, sortable table of
  every camp and mine (kind, province, status, evidence tier, latest evidence);
* ``map.html``: the interactive map (:func:`atlas.write_map`, offline);
* ``dossiers/<id>.html``: one dossier per camp and per mine (:mod:`atlas.dossier`);
* ``provinces.html``: the report's Table 2 beside the atlas's own counts;
* ``tables.html``: the report's Tables 1–5 and its discrepancies, as printed;
* ``downloads.html`` and ``downloads/``: the GeoPackage, GeoJSON and CSV of
  every layer and the QGIS project, with licences and sha256 checksums
  (``downloads/SHA256SUMS``);
* ``about.html``: method, boundary vintages, and what the data cannot say.

Links are relative; nothing is fetched from anywhere. The same GeoPackage
gives a byte-identical folder (no clock is read: dates come from the
GeoPackage; archives have fixed timestamps). Every page cites the public
GeoPackage's sha256, and ``downloads/atlas.gpkg`` is that very file. User
layers marked private are left out unless ``include_private=True``; a site
made with them is written outside ``output/`` by default, says so on every
page, and ships the private store beside the public GeoPackage.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from markdown_it import MarkdownIt
from markupsafe import Markup

from . import io
from .diff import diff
from .dossier import TO_PLANAR, Product, _province_ko, dossier_record, render_dossier, templates
from .errors import InputError
from .export import export_csv, export_geojson, export_geoparquet, export_kmz
from .formats import cell_text
from .i18n import DEFAULT_LANG, N_, check_lang, translations, use_lang
from .owned import Stage, safe_name
from .qgis import export_qgis
from .sites import Site, site_from_row, uniform_frame
from .sources import project_file
from .store import Atlas, private_store
from .style import COMMODITY_COLOURS, KIND_LABELS, KIND_SHAPES, STATUS_COLOURS
from .summaries import province_summary
from .userlayers import marked

__all__ = ["PAGES", "build_site"]

#: The site's top-level pages and their titles, in the navigation's order.
PAGES = (("index.html", N_("Sites")), ("map.html", N_("Map")), ("provinces.html", N_("Provinces")),
         ("tables.html", N_("Report tables")), ("downloads.html", N_("Downloads")), ("changes.html", N_("Changes")),
         ("about.html", N_("About")))
#: Layers written as GeoJSON (geometry) and CSV (every layer) on the downloads page.
_GEO_LAYERS = ("camps", "mines", "named_mines", "coordinate_candidates", "mineral_deposits", "provinces",
               "counties")
_LICENCES = {
    "provinces": N_("public domain (Natural Earth) + facts cited to the report (Table 2)"),
    "counties": N_("ODbL 1.0 (© OpenStreetMap contributors)"),
    "mines": N_("CC BY 4.0 (ICMM Global Mining Dataset) and facts cited to their articles, per row"),
    "named_mines": N_("as per row (CC BY 4.0 for ICMM and GeoNames points)"),
    "mineral_deposits": N_("public domain boundaries + facts cited to the report"),
    "camps": N_("facts cited to their sources (no open data licence)"),
    "coordinate_candidates": N_("facts cited to their sources"),
    "camp_findings": N_("facts cited to their sources"),
    "mine_findings": N_("facts cited to their sources (Global Energy Monitor's rows: CC BY 4.0)"),
    "sources": N_("provenance table"),
}
_AS_SOURCES = N_("as the layer's sources")  # a layer not listed above
_REPORT_FACTS = N_("facts cited to the report")  # a report_* layer


def _nav(prefix: str = "") -> list[tuple[str, str]]:
    return [(prefix + href, label) for href, label in PAGES]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


# --- index: overview map and the table of sites -------------------------------------------


def _sites(atlas: Product) -> dict[str, Site]:
    """Every camp and mine as the :class:`~atlas.sites.Site` :func:`atlas.resolve` gives for its id."""
    out = {}
    for layer in ("camps", "mines"):
        frame = atlas.layer(layer)
        for pos, site_id in enumerate(uniform_frame(layer, frame)["id"]):
            out[str(site_id)] = site_from_row(layer, frame, pos)
    return out


def _site_rows(atlas: Product) -> list[dict]:
    rows = []
    prov = atlas.layer("provinces")
    camps = atlas.layer("camps")
    today = atlas.status_today
    for r in camps.itertuples():
        rows.append({
            "id": r.site_id, "href": f"dossiers/{r.site_id}.html", "name": cell_text(r.name),
            "number": cell_text(r.number),
            "name_ko": cell_text(r.name_ko), "alt": cell_text(r.alt_names), "layer": "camps",
            "kind": cell_text(r.kind), "province": cell_text(r.province),  # none: "no public coordinate"
            "province_ko": _province_ko(prov, r.province),
            "status": today.get(r.site_id, cell_text(r.status_class)),
            "tier": cell_text(getattr(r, "evidence_tier", "")),
            "tier_label": cell_text(getattr(r, "evidence_tier_label", "")),
            "latest": cell_text(getattr(r, "latest_evidence_date", ""))[:10], "precision": cell_text(r.precision),
            "lon": None if r.geometry is None or r.geometry.is_empty else r.geometry.x,
            "lat": None if r.geometry is None or r.geometry.is_empty else r.geometry.y,
        })
    mines = atlas.layer("mines")
    for r in mines.itertuples():
        rows.append({
            "id": r.mine_id, "href": f"dossiers/{r.mine_id}.html", "name": cell_text(r.name), "name_ko":
            cell_text(getattr(r, "gem_name_ko", "")), "alt": cell_text(r.alt_names), "layer": "mines",
            "kind": f"mine: {cell_text(r.commodity)}", "commodity": cell_text(r.commodity),
            "province": cell_text(r.province), "province_ko": _province_ko(prov, r.province),
            "status": cell_text(getattr(r, "gem_status", "")) or cell_text(r.status),
            "tier": "", "tier_label": "", "latest": "", "precision": cell_text(r.precision),
            "lon": r.geometry.x, "lat": r.geometry.y,
            "class": cell_text(r.commodity_class),
        })
    return rows


def _overview(atlas: Product, rows: list[dict], width: int = 600) -> dict:
    """The index's overview map: provinces and every site with a coordinate, in EPSG:5179."""
    prov = atlas.planar["provinces"]
    x0, y0, x1, y1 = prov.total_bounds
    pad = 10_000.0
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    scale = width / (x1 - x0)
    height = round((y1 - y0) * scale)

    def fx(x):
        return (x - x0) * scale

    def fy(y):
        return (y1 - y) * scale

    from .dossier import svg_path

    d = " ".join(svg_path(shapely.simplify(g, 500), fx, fy) for g in prov)
    marks = []
    for r in rows:
        if r["lon"] is None:
            continue
        x, y = TO_PLANAR.transform(r["lon"], r["lat"])
        camp = r["layer"] == "camps"
        marks.append({"x": round(fx(x), 1), "y": round(fy(y), 1), "href": r["href"],
                      "title": f"{r['id']} {r['name']}", "camp": camp,
                      "shape": KIND_SHAPES.get(r["kind"], "diamond") if camp else "circle",
                      "kind": r["kind"] if camp else "mine", "number": r.get("number", ""),
                      "fill": STATUS_COLOURS.get(r["status"], "#fff") if camp
                      else COMMODITY_COLOURS.get(r.get("class", ""), "#666")})
    marks.sort(key=lambda m: m["camp"])  # camps drawn on top
    legend = {"kinds": [(k, shape) for k, shape in KIND_SHAPES.items()], "statuses": list(STATUS_COLOURS.items()),
              "classes": list(COMMODITY_COLOURS.items())}
    return {"width": width, "height": height, "d": d, "marks": marks, "legend": legend,
            "labels": _overview_labels([m for m in marks if m["kind"] == "kwan-li-so"], width, height)}


#: Sites closer than this (pixels of the overview) share one label, as on the interactive map.
_SHARED_LABEL_PX = 14.0


def _overview_labels(camps: list[dict], width: int, height: int) -> list[dict]:
    """Labels of the kwan-li-so on the overview map: ``Camp 15``, or ``Camps 14 and 18`` when two
    lie closer than a label's height; each put right, left, above or below its mark, the first
    place that overlaps no label already placed and stays on the map."""
    groups: list[list[dict]] = []
    for m in sorted(camps, key=lambda m: (m["y"], m["x"])):
        near = next((g for g in groups if any(abs(m["x"] - o["x"]) < _SHARED_LABEL_PX
                                               and abs(m["y"] - o["y"]) < _SHARED_LABEL_PX for o in g)), None)
        (near.append(m) if near is not None else groups.append([m]))
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for g in groups:
        numbers = sorted({str(m["number"]) for m in g if m["number"]}, key=lambda n: (len(n), n))
        text = "Camps " + " and ".join(numbers) if len(numbers) > 1 else f"Camp {''.join(numbers)}"  # to size it
        x, y = sum(m["x"] for m in g) / len(g), sum(m["y"] for m in g) / len(g)
        w, h = 7.0 * len(text), 13.0  # bold 11 px
        for lx, ly in ((x + 9, y + 4), (x - 9 - w, y + 4), (x - w / 2, y - 9), (x - w / 2, y + 19)):
            box = (lx - 2, ly - h + 2, lx + w + 2, ly + 4)
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height
            if inside and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                placed.append(box)
                out.append({"x": round(lx, 1), "y": round(ly, 1), "numbers": numbers,
                            "title": "; ".join(m["title"] for m in g)})
                break
    return out


# --- tables --------------------------------------------------------------------------------


#: The provinces page's columns in words (the column's own name stays in its tooltip and in the CSV download).
PROVINCE_COLUMNS = {
    "province": N_("Province"), "reported_mines": N_("Mines reported (Table 2)"),
    "reported_share_pct": N_("Share of Table 2 (per cent, as printed)"),
    "geolocated_mines": N_("Mines with an open coordinate"),
    "geolocated_by_type": N_("Those mines by Table 1 class"), "kwan_li_so": N_("Kwan-li-so"),
    "kyo_hwa_so": N_("Kyo-hwa-so"), "other_camp_sites": N_("Other camp sites"),
    "camps_active": N_("Camps active"), "camps_contested": N_("Camps contested"),
    "camps_closed": N_("Camps closed"), "camps_relocated": N_("Camps relocated"),
    "camps_status_unknown": N_("Camps, status unknown"), "named_mines": N_("Mines the report names"),
    "counted_without_coordinate": N_("Named, with no public coordinate"),
}


def _frame_table(df: pd.DataFrame, numeric: tuple[str, ...] = (), labels: dict[str, str] | None = None) -> dict:
    df = pd.DataFrame(df).drop(columns=["geometry"], errors="ignore")
    cols = [str(c) for c in df.columns]
    shown = [(labels or {}).get(c, "") for c in cols]  # a word for the column, else its name
    num = [c in numeric or pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    body = []
    for row in df.itertuples(index=False):
        body.append([_fmt(v) for v in row])
    return {"columns": cols, "labels": shown, "numeric": num, "rows": body}


def _fmt(v) -> str:
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            return ""
        return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}".rstrip("0").rstrip(".")
    if isinstance(v, int | np.integer):
        return f"{v:,}" if abs(v) >= 10000 else str(v)
    return cell_text(v)


# --- downloads -----------------------------------------------------------------------------


def _zip(folder: Path, dest: Path) -> None:
    """A zip with sorted names and fixed timestamps, so the same files give the same bytes."""
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                info = zipfile.ZipInfo(p.relative_to(folder).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                info.file_size = p.stat().st_size  # as writestr sets it: the same headers, the same bytes
                with p.open("rb") as src, z.open(info, "w") as dst:  # a MiB at a time: a GeoPackage of a
                    shutil.copyfileobj(src, dst, 1 << 20)  # million points is never held whole


def _pin_times(folder: Path, day: str) -> None:
    """Make the QGIS export reproducible: its style times set to the build date, its .qgz re-zipped.

    ``export_qgis`` stamps ``layer_styles.update_time`` and the ``.qgz`` members with
    ``SOURCE_DATE_EPOCH`` or the build time; the site states the build day instead, so the same GeoPackage gives the
    same bytes.
    """
    stamp = f"{day}T00:00:00.000Z"
    for gpkg in folder.glob("*.gpkg"):
        con = sqlite3.connect(gpkg)
        try:
            if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'layer_styles'").fetchone():
                con.execute("UPDATE layer_styles SET update_time = ?", (stamp,))
                con.execute("UPDATE gpkg_contents SET last_change = ? WHERE table_name = 'layer_styles'",
                            (stamp,))
                con.commit()
        finally:
            con.close()
    for qgz in folder.glob("*.qgz"):
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(qgz) as z:
                z.extractall(tmp)
            _zip(Path(tmp), qgz)


def _shipped_gpkgs(atlas: Product, folder: Path) -> list[Path]:
    """The GeoPackages to publish: the public one, the very file every page cites (never a private
    layer in it); with private layers asked for, the private store too, under its own name."""
    public = atlas.gpkg.file("the site's downloads")
    shipped = [folder / "atlas.gpkg"]
    shutil.copyfile(public, shipped[0])
    if atlas.allowed.private:
        store = private_store(public)
        shipped.append(folder / store.name)
        shutil.copyfile(store, shipped[1])
    return shipped


def _day_epoch(day: str) -> int:
    """A day (``YYYY-MM-DD``) as seconds since 1970 at its UTC midnight."""
    return int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp())


def _rows(atlas: Atlas, name: str) -> int:
    """A layer's rows; a user layer's counted by the store (SQL in a GeoPackage), never read whole."""
    return atlas.tally(name, "")[0] if name.startswith("user_") else len(atlas.layer(name))


def _downloads(atlas: Product, out: Path, progress: Callable[[str], None], lang: str = DEFAULT_LANG) -> list[dict]:
    _ = translations(lang).gettext
    folder = out / "downloads"
    folder.mkdir(parents=True)
    items = []

    def item(path: Path, what: str, licence: str, group: str):
        items.append({"href": path.relative_to(out).as_posix(), "name": path.name, "what": what,
                      "licence": licence, "group": group, "bytes": path.stat().st_size,
                      "sha256": io.file_sha256(path)})

    shipped = _shipped_gpkgs(atlas, folder)
    gpkg = atlas.gpkg  # what the gate allowed: every download is made from it, and cites shipped[0]
    item(shipped[0], _("every layer, validated (GeoPackage 1.3, EPSG:4326): the file every page cites"),
         _("ODbL 1.0 as a whole (counties derive from OpenStreetMap); each layer's sources keep their own terms"),
         "GeoPackage")
    for path in shipped[1:]:
        item(path, _("the private layers (%(banner)s)") % {"banner": atlas.allowed.banner},
             _("yours: not to be shared"), "GeoPackage")
    progress("downloads: GeoJSON, CSV, KMZ and GeoParquet of every layer")
    spatial = [n for n in _GEO_LAYERS if n in atlas.layer_names] + atlas.user_layer_names
    with io.fixed_timestamp(_day_epoch(atlas.build_date)):  # the exports' "exported_at" is the build date: same bytes each time
        geojson = export_geojson(folder / "geojson", layers=spatial, gpkg=gpkg,
                                 include_private=atlas.include_private)
        io.release_memory()  # each export's peak on its own, not on what the one before kept (a million points)
        tables = sorted(n for n in atlas.layer_names if not n.startswith("user_")) + atlas.user_layer_names
        csvs = export_csv(folder / "csv", layers=tables, gpkg=gpkg, include_private=atlas.include_private)
        io.release_memory()
        kmz = export_kmz(folder, gpkg=gpkg, include_private=atlas.include_private)  # atlas(.PRIVATE).kmz
        io.release_memory()
        parquet = export_geoparquet(folder / "geoparquet", layers=spatial, gpkg=gpkg,
                                    include_private=atlas.include_private)
        io.release_memory()
    for path in geojson:
        name = path.name.split(".")[0]  # user_x.PRIVATE.geojson holds user_x
        item(path, _("layer %(name)s: %(n)s features (RFC 7946, WGS 84; provenance in member \"atlas\")")
             % {"name": name, "n": _rows(gpkg, name)}, _(_LICENCES.get(name, _AS_SOURCES)), "GeoJSON")
    for path in csvs:
        name = path.name.split(".")[0]
        item(path, _("layer %(name)s: %(n)s rows (UTF-8 with BOM; lon/lat columns for points)")
             % {"name": name, "n": _rows(gpkg, name)},
             _(_LICENCES.get(name, _REPORT_FACTS if name.startswith("report_") else _AS_SOURCES)), "CSV")
    for path in kmz:
        item(path, _("every layer for Google Earth (KML 2.2, one folder per layer; town proxies labelled)"),
             _("as the GeoPackage (ODbL 1.0)"), "KMZ")
    for path in parquet:
        name = path.name.split(".")[0]
        item(path, _("layer %(name)s: GeoParquet 1.1 (zstd, bbox covering, spatially ordered)") % {"name": name},
             _(_LICENCES.get(name, _AS_SOURCES)), "GeoParquet")
    progress("downloads: the QGIS project")
    with tempfile.TemporaryDirectory() as tmp:
        export_qgis(Path(tmp) / "qgis", gpkg, include_private=atlas.include_private)
        io.release_memory()
        _pin_times(Path(tmp) / "qgis", atlas.build_date)
        dest = marked(folder / "atlas-qgis.zip") if atlas.allowed.private else folder / "atlas-qgis.zip"
        _zip(Path(tmp) / "qgis", dest)
    item(dest, _("QGIS project (atlas.qgz) with the styled GeoPackage: unzip and open atlas.qgz"),
         _("as the GeoPackage (ODbL 1.0)"), "QGIS")
    sums = "".join(f"{i['sha256']}  {Path(i['href']).relative_to('downloads').as_posix()}\n" for i in items)
    (folder / "SHA256SUMS").write_text(sums, encoding="utf-8", newline="\n")
    return items


# --- the site ------------------------------------------------------------------------------


def _render(template: str, lang: str = DEFAULT_LANG, **ctx) -> str:
    return templates(lang).get_template(template).render(**ctx)


def build_site(out: Path | str | None = None, gpkg: Path | str | None = None, *, include_private: bool = False,
               progress: Callable[[str], None] | None = None, with_map: bool = True,
               with_downloads: bool = True, since: Path | str | None = None, lang: str | None = None) -> Path:
    """Write the whole atlas as a static website.

    Parameters
    ----------
    out : path, optional
        The folder (default ``output/site/``; with ``include_private``,
        ``output-private/site/``, outside the folder you share); pages in it
        are replaced.
    gpkg : path, optional
        The atlas GeoPackage (default ``output/atlas.gpkg``).
    include_private : bool, default False
        Include user layers imported as private (never, unless asked); every
        page then carries a banner saying so.
    progress : callable, optional
        Called with a message per step.
    with_map, with_downloads : bool, default True
        Write the interactive map and the downloads (the slow parts).
    since : path, optional
        An earlier atlas GeoPackage (the previous release): the "Changes" page
        then lists what changed since it (:func:`atlas.diff`, private layers
        never compared) above the changelog.
    lang : str, optional
        The pages' language (:data:`atlas.i18n.LANGS`): English by default, ``ko`` for Korean
        (interface words, headings and dates in Korean, Hangul names first; data values, the
        changelog and the interactive map as they are).

    Returns
    -------
    pathlib.Path
        The folder's ``index.html``.

    Examples
    --------
    >>> import atlas, tempfile
    >>> index = atlas.build_site(tempfile.mkdtemp(), with_downloads=False, with_map=False)
    >>> sorted(p.name for p in index.parent.glob("*.html"))[:3]
    ['about.html', 'changes.html', 'downloads.html']
    """
    lang = check_lang(lang)
    say = progress or (lambda _m: None)
    atlas = Product(gpkg, include_private=include_private)
    final = Path(out) if out else io.output_dir(private=include_private) / "site"
    if final.exists() and not final.is_dir():
        raise InputError(f"{final} is a file, not a folder")
    # Every page is written into a hidden folder, then moved into place with the files of the
    # last build it replaces; pages the atlas did not write are left alone (atlas.owned).
    with Stage(final, prune=_PRUNED) as stage, use_lang(lang):  # the rules' sentences in the pages' language
        _write_site(atlas, stage.tmp, say, with_map, with_downloads, since, lang)
    return final / "index.html"


#: The site's folders whose earlier atlas files this build no longer writes are removed.
_PRUNED = ("", "dossiers", "downloads", "downloads/geojson", "downloads/csv", "downloads/geoparquet")


def _write_site(atlas: Product, out: Path, say: Callable[[str], None], with_map: bool,
                with_downloads: bool, since: Path | str | None = None, lang: str = DEFAULT_LANG) -> None:
    about = atlas.about()
    rows = _plain_rows(_site_rows(atlas))
    ids = {r["id"]: r["href"] for r in rows}
    say(f"writing {len(rows)} dossiers")
    dossier_dir = out / "dossiers"
    links = {"nav": _nav("../"), "dossier": {i: f"{i}.html" for i in ids}, **({"map": "../map.html"} if with_map else {})}
    sites = _sites(atlas)  # each page's site from its row, as resolve() makes it: no search per page
    for k, r in enumerate(rows):
        rec = dossier_record(sites[r["id"]], atlas=atlas, lang=lang)
        _write(dossier_dir / f"{r['id']}.html", render_dossier(rec, links=links, standalone=False, lang=lang))
        if atlas.user_layer_names and k % 8 == 7:  # each page read the features of your layers around its site
            io.release_memory()
    ctx = {"about": about, "nav": _nav(), "user_layers": atlas.user_layer_names, "lang": lang}
    say("writing the index, provinces, report tables and about pages")
    _write(out / "index.html", _render("index.html.j2", rows=rows, overview=_overview(atlas, rows),
                                       kinds=KIND_LABELS, with_map=with_map, **ctx))
    summary = province_summary(atlas.gpkg, include_private=atlas.include_private)
    hidden = [c for c in summary.columns if str(c).startswith("user_") and c not in atlas.user_layer_names]
    meta = {**summary.attrs, "gpkg": atlas.gpkg.file_name}  # never a local path on a published page
    _write(out / "provinces.html", _render("provinces.html.j2", table=_frame_table(summary.drop(columns=hidden), labels=PROVINCE_COLUMNS),
                                           meta=meta, **ctx))
    tables = []
    for name in ("report_table_1", "report_table_2", "report_table_3", "report_table_4", "report_table_5",
                 "report_discrepancies"):
        df = atlas.layer(name)
        if len(df):
            tables.append({"name": name, "table": _frame_table(df)})
    _write(out / "tables.html", _render("tables.html.j2", tables=tables, **ctx))
    _write(out / "about.html", _render("about.html.j2", layers=_layer_counts(atlas), mine_counts=_mine_counts(atlas),
                                       prov=atlas.layer("provinces"), counties=atlas.layer("counties"), **ctx))
    io.release_memory()
    with use_lang(DEFAULT_LANG):  # the files to download are data: as the exports write them, in English
        items = _downloads(atlas, out, say, lang) if with_downloads else []
    _write(out / "downloads.html", _render("downloads.html.j2", items=items, **ctx))
    _write(out / "changes.html", _render("changes.html.j2", diff=_since(atlas, since), changelog=changelog_html(lang),
                                         **ctx))
    if with_map:
        say("writing the interactive map")
        io.release_memory()
        _write_map(atlas, out / "map.html", lang)
    else:
        _write(out / "map.html", _render("nomap.html.j2", **ctx))


def changelog_html(lang: str | None = None) -> Markup:
    """The atlas's ``CHANGELOG.md`` as HTML (CommonMark; raw HTML in it is shown as text, not run).

    The changelog is the project's record, in English; ``lang`` words only the note that it is missing.
    """
    path = project_file("CHANGELOG.md")
    if path is None:
        return Markup("<p>") + translations(lang).gettext("No changelog is installed with this copy of the atlas.") \
            + Markup("</p>")
    text = path.read_text(encoding="utf-8")
    text = text.split("\n", 1)[1] if text.startswith("# ") else text  # the page has its own title
    return Markup(MarkdownIt("commonmark", {"html": False}).render(text))


def _since(atlas: Product, since: Path | str | None) -> dict | None:
    """What changed since an earlier atlas (``atlas site --since OLD.gpkg``): read without private layers."""
    if since is None:
        return None
    d = diff(since, atlas.gpkg)
    return {"old": d.old, "counts": d.counts(), "table": _frame_table(d.changes)}


def _plain_rows(rows: list[dict]) -> list[dict]:
    """The sites whose ids can be file names; the others are reported, not written (a crafted GeoPackage)."""
    refused = [r["id"] for r in rows if safe_name(r["id"]) is None]
    if refused:
        warnings.warn(f"{len(refused)} site id(s) cannot be file names; no page was written for them: "
                      + ", ".join(repr(i) for i in refused[:5]), stacklevel=3)
    return [r for r in rows if r["id"] not in refused]


def _write_map(atlas: Product, path: Path, lang: str = DEFAULT_LANG) -> None:
    """The interactive map, with the user layers the site may show (never a private one unless asked), in the
    site's language."""
    from .webmap import write_map

    write_map(path, atlas.gpkg, include_private=atlas.include_private, lang=lang)  # the same gate, the same layers


def _mine_counts(atlas: Product) -> dict:
    """Mines with open coordinates, and apart from them the proposed mines (GEM's 'proposed': no mine yet)."""
    mines = atlas.layer("mines")
    proposed = int((mines["status"].astype(str) == "proposed").sum()) if "status" in mines else 0
    return {"open": len(mines) - proposed, "proposed": proposed}


def _layer_counts(atlas: Product) -> list[dict]:
    out = []
    for name in sorted(atlas.layer_names):
        if name.startswith("user_") and name not in atlas.user_layer_names:
            continue
        out.append({"name": name, "rows": _rows(atlas.gpkg, name)})
    return out

