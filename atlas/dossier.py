"""One page about one site: a camp's or a mine's whole record, offline, citable, printable.

:func:`dossier` writes a self-contained HTML page (no request when opened from
disk: styles inline, the map an inline SVG drawn from the GeoPackage, the
imagery chip a ``data:`` URI) and, with ``pdf=True``, the same page as an A4
PDF printed by WeasyPrint. :func:`dossier_record` gathers what the page says,
as plain data, through the public API (:func:`atlas.resolve`,
:func:`atlas.near`, :func:`atlas.read_layer`): the header block (names in
every romanization and Hangul, kind, number, county and province in both
boundary vintages, coordinates with their precision and every other
published coordinate, area, agency, prisoners, status, evidence), the
timeline of findings oldest first, the features within 25 km nearest first,
what the report says about the site (quoted with its lines), the report's
discrepancies touching it, the sources with their licences and a citation
naming the atlas version, the build date and the GeoPackage's sha256.

Every string from the data reaches the page through Jinja2 with autoescape on
(templates in ``atlas/templates/``), never by string concatenation.
"""

from __future__ import annotations

import base64
import re
import warnings
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import geopandas as gpd
import jinja2
import markupsafe
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod, Transformer

from . import io, provenance
from .admit import open_raster
from .citation import public_url
from .distance import around, near, nearest
from .errors import InputError
from .evidence import TIERS
from .formats import cell_text, link_urls
from .i18n import N_, TERMS, check_lang, format_date, translate, translations, use_lang
from .owned import check_replace
from .protect import shared_layers
from .record import Record, record
from .redact import neutral_bidi
from .sanctions import with_sanctions
from .search import resolve
from .sites import Site
from .status import status_at, status_table
from .store import Atlas
from .style import (
    COMMODITY_COLOURS,
    KIND_LABELS,
    STATUS_COLOURS,
    evidence_label,
    finding_order,
    page_ref,
)
from .userlayers import gate

__all__ = ["NEAR_KM", "RINGS_KM", "SITE_LAYERS", "Atlas", "dossier", "dossier_record", "render_dossier",
           "write_pdf"]

#: The layers a dossier can be written for.
SITE_LAYERS = ("camps", "mines")
#: Most features of the user's layers a dossier lists (nearest first); the page says how many it left out.
MAX_USER_LISTED = 200
#: Radius of the "nearby" list (km, geodesic).
NEAR_KM = 25.0
#: Rings drawn around the site on the small map (km, geodesic).
RINGS_KM = (10.0, 25.0)
#: The report's information date: the header gives the status then as well as at the build date. Its
#: latest dated information is of May 2016 (docs/evidence.md dates the report's own voice 2016-05), so
#: "as of the report" is the last day of that month, not the end of 2016 (by December, later imagery
#: of camp 15 already counts against the report's present tense).
REPORT_DATE = "2016-05-31"
REPORT_CITATION = ("Committee for Human Rights in North Korea, \u201cGulag, Inc.: The Use of Forced Labor "
                   "in North Korea\u2019s Export Industries\u201d (Washington, DC: HRNK, 2016)")

GEOD = Geod(ellps="WGS84")
TO_PLANAR = Transformer.from_crs("EPSG:4326", "EPSG:5179", always_xy=True)


def _on_page(value):
    """Every value a page shows: its bidi controls written out (a name or id cannot reorder the line)."""
    if isinstance(value, str):
        shown = neutral_bidi(value)
        return markupsafe.Markup(shown) if isinstance(value, markupsafe.Markup) else shown
    return value


_COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW",
            "NW", "NNW")


def css_string(text: str) -> str:
    r"""Text as the inside of a CSS string (every character but letters, digits and spaces escaped).

    Examples
    --------
    >>> print(css_string('say "no" -- now'))
    say \22 no\22  \2d \2d  now
    """
    return "".join(c if c.isascii() and (c.isalnum() or c == " ") else f"\\{ord(c):x} " for c in str(text))


@cache
def templates(lang: str | None = None) -> jinja2.Environment:
    """The pages' templates in a language (:mod:`atlas.i18n`): ``_()`` looks a string up in the
    catalogue, ``|term`` an interface word the code chose, ``|day`` writes a date in the language's form.
    """
    lang = check_lang(lang)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("atlas", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, finalize=_on_page, extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)
    env.filters["css_string"] = css_string
    env.filters["term"] = lambda value: translate(value, lang) if value in _TERMS else value
    env.filters["day"] = lambda value: format_date(value, lang)
    env.filters["links"] = lambda value: markupsafe.Markup(link_urls(value))  # escaped; http(s) addresses as links
    env.globals["lang"] = lang
    return env


#: The English templates (the default language).
TEMPLATES = templates()


def compass(bearing: float) -> str:
    """A bearing in degrees as one of 16 compass points.

    Examples
    --------
    >>> compass(0), compass(95), compass(359)
    ('N', 'E', 'N')
    """
    if bearing is None or not np.isfinite(bearing):
        return ""
    return _COMPASS[int(((bearing % 360) + 11.25) // 22.5) % 16]


# --- what the atlas is: layers read once, provenance -----------------------------------------


@dataclass
class Product:
    """What a shared product (a dossier, the site) is made from: the atlas, opened once, and which
    of the user's layers it may hold.

    Parameters
    ----------
    gpkg : Atlas, path or str, optional
        The atlas (:func:`atlas.store.open_atlas`); defaults to ``output/atlas.gpkg``.
    include_private : bool, default False
        Include user layers marked private (never, unless asked).
    """

    gpkg: Atlas | Path | str | None = None
    include_private: bool = field(default=False, kw_only=True)
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        # the one gate: the atlas this product reads, and which of the user's layers it may hold
        self.allowed = gate(self.gpkg, "dossier", include_private=self.include_private)
        self.gpkg = self.allowed.atlas  # the store object: every query below takes it
        self.layer_names = self.gpkg.layers()

    def layer(self, name: str) -> pd.DataFrame:
        """A layer of the atlas, read once (an empty frame when the atlas lacks it)."""
        return self.gpkg.layer(name) if name in self.layer_names else pd.DataFrame()

    @cached_property
    def _shared(self) -> tuple[dict, list]:
        return shared_layers(self.allowed)

    @cached_property
    def _about(self) -> dict:
        return provenance.about(self.gpkg, user_layers=[dict(r) for r in self.allowed.records])

    @property
    def sha256(self) -> str:
        return self._about["gpkg_sha256"]

    @property
    def build_date(self) -> str:
        """The day the atlas layers were built (UTC), from the GeoPackage (see :mod:`atlas.provenance`)."""
        return str(self._about["build_date"])[:10]

    @cached_property
    def status_today(self) -> dict[str, str]:
        """Each camp's status as of the build date (:func:`atlas.status.status_table`), by id."""
        table = status_table(self.build_date, gpkg=self.gpkg)
        return dict(zip(table["site_id"].astype(str), table["status"].astype(str)))

    @property
    def user_layer_names(self) -> list[str]:
        """The names of the user layers a product may show (none read)."""
        return sorted(r["layer"] for r in self.allowed.records)

    @property
    def user_layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The user layers a product may show: private ones only when asked."""
        return self._shared[0]

    @cached_property
    def planar(self) -> dict[str, gpd.GeoSeries]:
        """Boundaries in EPSG:5179 for the small maps."""
        out = {}
        for name in ("provinces", "counties"):
            df = self.layer(name)
            out[name] = df.geometry.to_crs("EPSG:5179") if len(df) else gpd.GeoSeries()
        return out

    def about(self) -> dict:
        """Atlas version, build date, release, GeoPackage name and sha256, and the user layers included (and,
        when private ones are, the private store's name and sha256 and the banner)."""
        keys = ("atlas_version", "build_date", "release", "gpkg", "gpkg_sha256", "user_layers", "private_gpkg",
                "private_gpkg_sha256", "banner")
        return {k: self._about[k] for k in keys if k in self._about}


# --- the record ------------------------------------------------------------------------------


def _resolve(site, atlas: Product) -> Site:
    if isinstance(site, Site):
        s = site
    else:
        s = resolve(str(site), atlas.gpkg, SITE_LAYERS)
    if s.layer not in SITE_LAYERS:
        raise InputError(f"{s.id} ({s.name}) is in layer {s.layer}: a dossier is written for a camp or a mine")
    return s


def _row(atlas: Product, s: Site) -> pd.Series:
    df = atlas.layer(s.layer)
    key = "site_id" if s.layer == "camps" else "mine_id"
    return df[df[key].astype(str) == s.id].iloc[0]


def _split_names(*texts: str) -> list[str]:
    out: list[str] = []
    for t in texts:
        for part in re.split(r";\s*", cell_text(t)):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _names(s: Site, row: pd.Series) -> dict:
    names = _split_names(row.get("name"), row.get("alt_names"), row.get("name_ko"),
                         *(row.get(c) for c in row.index if str(c).startswith("gem_name")))
    hangul = [n for n in names if _HANGUL.search(n)]
    return {"primary": cell_text(row.get("name")), "romanizations": [n for n in names if n not in hangul
                                                                  and n != cell_text(row.get("name"))],
            "hangul": hangul}


def _admin(atlas: Product, row: pd.Series) -> dict:
    """Province and county in both boundary vintages, and as the sources give them."""
    prov = atlas.layer("provinces")
    counties = atlas.layer("counties")
    out = {"province": cell_text(row.get("province")), "county": cell_text(row.get("county")),
           "county_ko": cell_text(row.get("county_ko")), "method": cell_text(row.get("admin_method")),
           "distance_km": cell_text(row.get("admin_distance_km")),
           "province_as_given": cell_text(row.get("province_as_given")),
           "county_as_given": cell_text(row.get("county_as_given")),
           "province_vintage": "", "county_vintage": "", "county_province": "", "differs": False,
           "province_ko": _province_ko(prov, row.get("province"))}
    if len(prov):
        out["province_vintage"] = cell_text(prov["boundary_vintage"].iloc[0]) + " (" + cell_text(
            prov["boundary_source"].iloc[0]) + ")"
    cid = cell_text(row.get("county_id"))
    if cid and len(counties):
        hit = counties[counties["county_id"].astype(str) == cid]
        if len(hit):
            out["county_province"] = cell_text(hit["province"].iloc[0])
            out["county_vintage"] = cell_text(hit["boundary_vintage"].iloc[0])
    out["differs"] = bool(out["county_province"] and out["county_province"] != out["province"])
    return out


def _province_ko(prov: pd.DataFrame, name) -> str:
    """The Hangul name of a province as the provinces layer gives it (Natural Earth's ``name_ko``), or ""."""
    if not len(prov) or "name_ko" not in prov or not cell_text(name):
        return ""
    hit = prov.loc[prov["name_en"].astype(str) == cell_text(name), "name_ko"]
    return cell_text(hit.iloc[0]) if len(hit) else ""


def _candidates(atlas: Product, s: Site, row: pd.Series) -> list[dict]:
    if s.layer == "camps":
        cc = atlas.layer("coordinate_candidates")
        cc = cc[cc["site_id"].astype(str) == s.id].sort_values("distance_km_from_atlas_point")
        return [{"source": cell_text(r.source), "lat": float(r.lat), "lon": float(r.lon), "note": cell_text(r.note),
                 "distance_km": float(r.distance_km_from_atlas_point), "is_atlas_point": bool(r.is_atlas_point)}
                for r in cc.itertuples()]
    return [{"source": "", "lat": None, "lon": None, "note": c, "distance_km": None, "is_atlas_point": False}
            for c in re.split(r"\s+\|\s+|;\s+", cell_text(row.get("cross_checks"))) if c.strip()]


def _timeline(gathered: Record) -> list[dict]:
    """The record's findings (a camp's or a mine's), oldest first, as the timeline's rows."""
    rows = sorted(gathered.findings, key=lambda r: finding_order(r.get("date_start"), r.get("date_end"),
                                                                  r.get("finding_id")))
    return [{
        "id": cell_text(r.get("finding_id")), "date_as_given": cell_text(r.get("observed_text")),
        "date_start": cell_text(r.get("date_start"))[:10], "date_end": cell_text(r.get("date_end"))[:10],
        "precision": cell_text(r.get("date_precision")),
        "basis": evidence_label(r.get("evidence_basis") or "", r.get("testimony_hand") or ""),
        "finding_type": cell_text(r.get("type_in_words")), "signal": cell_text(r.get("status_signal")),
        "description": cell_text(r.get("description")), "source": cell_text(r.get("source_report")),
        "page": page_ref(r.get("page")),
    } for r in rows]


_TIER_NAMES = {tier: name for tier, name, _rule in TIERS}
#: The kinds of line of the status rule's explanation (atlas.evidence), by how the line begins: a
#: Korean page names the kind in Korean before the rule's own words.
WHY_KINDS = (("counts (", N_("counts on the day")), ("hedged (", N_("hedged: never decides")),
             ("undated (", N_("undated: never counts")), ("stands against", N_("stands against earlier findings")),
             ("not yet known", N_("not yet known on the day")), ("open start", N_("open start: counts on its last day only")),
             ("outside its window", N_("outside its window")),
             ("says nothing of the site's status", N_("says nothing of the site's status")))


def why_kind(why) -> str:
    """The kind of a line of the status rule's explanation (:data:`WHY_KINDS`), or "" for another line.

    Examples
    --------
    >>> why_kind("hedged (closed): never decides: ..."), why_kind("something else")
    ('hedged: never decides', '')
    """
    text = cell_text(why)
    return next((kind for start, kind in WHY_KINDS if text.startswith(start)), "")


#: The words a page looks up in the catalogue with ``|term`` (any other value is data, shown as it is).
_TERMS = frozenset(TERMS) | {kind for _start, kind in WHY_KINDS}


def _status(atlas: Product, s: Site, row: pd.Series) -> dict:
    """The status by the one rule (:func:`atlas.status_at`) as of the build date, with why finding by
    finding, and as of the report (its information of May 2016); then the status as the sources word it."""
    out = {"recorded": cell_text(row.get("status")), "date": cell_text(row.get("status_date")), "as_of": []}
    if s.layer not in ("camps", "mines"):
        return out
    for label, when in (("the build date", atlas.build_date), ("the report (May 2016)", REPORT_DATE)):
        if not when:
            continue
        st = status_at(s.id, str(when)[:10], gpkg=atlas.gpkg, layers=[s.layer])
        out["as_of"].append({
            "label": label, "date": st.as_of.isoformat(), "status": st.status, "summary": st.summary,
            "reason": st.reason, "tier": st.tier, "tier_label": st.tier_label, "tier_name": _TIER_NAMES.get(st.tier, ""),
            "latest": str(st.latest_evidence or "")[:10], "strength": cell_text(st.latest_strength),
            "deciding": [str(i) for i in st.deciding.get("finding_id", [])],
            "contradicting": [str(i) for i in st.against.get("finding_id", [])],
            "explanation": [{**{k: cell_text(v) if k != "counts" else bool(v) for k, v in e.items()},
                             "why_kind": why_kind(e.get("why"))}
                            for e in st.explanation.to_dict("records")] if label == "the build date" else [],
        })
    return out


def _header(atlas: Product, s: Site, row: pd.Series) -> dict:
    geom = s.geometry
    return {
        "id": s.id, "layer": s.layer, "kind": cell_text(row.get("kind")) or ("mine" if s.layer == "mines" else ""),
        "kind_label": KIND_LABELS.get(cell_text(row.get("kind")), cell_text(row.get("feature_type")) or "mine"),
        "number": cell_text(row.get("number")), "names": _names(s, row), "admin": _admin(atlas, row),
        "lat": None if geom is None else float(geom.y), "lon": None if geom is None else float(geom.x),
        "precision": s.precision, "location_precision": s.location_precision, "location_note": s.note,
        "candidates": _candidates(atlas, s, row),
        "area": cell_text(row.get("area_km2")), "agency": cell_text(row.get("agency")),
        "prisoners": cell_text(row.get("prisoners_estimate")),
        "commodity": cell_text(row.get("commodity")), "commodity_class": cell_text(row.get("commodity_class")),
        "feature_type": cell_text(row.get("feature_type")), "notes": cell_text(row.get("notes")),
        "gem": {c[4:]: cell_text(row.get(c)) for c in row.index if str(c).startswith("gem_") and cell_text(row.get(c))},
        "source": cell_text(row.get("source")), "source_ref": cell_text(row.get("source_ref")),
        "licence": cell_text(row.get("licence")),
    }


def _mine_sanctions(atlas: Atlas, mines: pd.DataFrame, when: str) -> list[str]:
    """The UN measure in force on a day for each commodity of each mine, in words (:func:`with_sanctions`)."""
    mines = mines.copy()
    mines.attrs["layer"] = "mines"
    return with_sanctions(mines, when, atlas.gpkg, prose=True)["sanctions"].tolist()


def _nearby(atlas: Product, s: Site, km: float) -> dict:
    """Features within ``km`` (mines for a camp, camps for a mine; user layers too), nearest first."""
    if s.geometry is None:
        return {"layer": "", "rows": [], "note": s.note, "nearest": None, "user": []}
    target = "mines" if s.layer == "camps" else "camps"
    res = near(s, km=km, layer=target, gpkg=atlas.gpkg)
    sanction = _mine_sanctions(atlas, res, atlas.build_date) if target == "mines" else [""] * len(res)
    own = atlas.layer(target).set_index("mine_id" if target == "mines" else "site_id")
    rows = []
    for i, r in enumerate(res.itertuples(), 1):
        extra = own.loc[r.id] if r.id in own.index else pd.Series(dtype=object)
        rows.append({
            "n": i, "id": r.id, "name": cell_text(r.name), "kind": cell_text(r.kind), "commodity": cell_text(r.commodity),
            "precision": cell_text(r.precision), "distance_km": float(r.distance_km),
            "bearing_deg": float(r.bearing_deg) if np.isfinite(r.bearing_deg) else None,
            "compass": compass(r.bearing_deg), "county": cell_text(r.county), "province": cell_text(r.province),
            "gem_status": cell_text(extra.get("gem_status")),
            "sanction": sanction[i - 1],
            "status": atlas.status_today.get(r.id, cell_text(extra.get("status_class"))),
            "lon": float(r.lon), "lat": float(r.lat),
        })
    closest = None
    if not rows:
        nn = nearest(s, target, k=1, gpkg=atlas.gpkg)
        if len(nn):
            r = nn.iloc[0]
            closest = {"id": r["id"], "name": cell_text(r["name"]), "distance_km": float(r["distance_km"]),
                       "compass": compass(r["bearing_deg"])}
    user, within = [], {}
    for name in atlas.user_layer_names:
        df = around(atlas.gpkg, name, s.geometry, km)  # through the spatial index: never the whole layer
        df = df[~(df.geometry.isna() | df.geometry.is_empty)]
        if not len(df):
            continue
        hits = near(s, km=km, layer=df, gpkg=atlas.gpkg)
        within[name] = len(hits)
        for r in hits.head(MAX_USER_LISTED).itertuples():
            user.append({"layer": name, "id": cell_text(r.id), "name": cell_text(r.name), "kind": cell_text(r.kind),
                         "distance_km": float(r.distance_km), "compass": compass(r.bearing_deg),
                         "lon": float(r.lon), "lat": float(r.lat)})
    user.sort(key=lambda u: (u["distance_km"], u["layer"], u["id"]))
    user = user[:MAX_USER_LISTED]
    listed = {name: sum(u["layer"] == name for u in user) for name in within}
    left_out = [{"layer": name, "within": n, "listed": listed[name]} for name, n in within.items() if n > listed[name]]
    return {"layer": target, "rows": rows, "note": res.attrs.get("site", s.note), "nearest": closest,
            "user": user, "left_out": left_out, "km": km}




def _passages(gathered: Record) -> list[dict]:
    """What the report says about the site (the record's passages), cited without the report's name."""
    return [{**p, "id": p["passage_id"], "cite": p["cite"].removeprefix("Gulag, Inc. (HRNK 2016), ")}
            for p in gathered.passages]


def _sources(atlas: Product, s: Site, header: dict, timeline: list[dict]) -> list[dict]:
    """Every source the page cites, with its licence: the feature's, the findings', the files'."""
    out: list[dict] = []

    def add(what, sources, licence):
        items = list(dict.fromkeys(cell_text(x) for x in sources if cell_text(x)))
        if items:
            out.append({"what": what, "sources": items, "licence": cell_text(licence)})

    add("location and record", [header["source"] + (f" [{header['source_ref']}]" if header["source_ref"]
                                                    else "")], header["licence"])
    add("published coordinates", [c["source"] for c in header["candidates"]], "facts cited to their sources")
    add("findings", [f["source"] for f in timeline], "facts cited to their sources")
    src = atlas.layer("sources")
    paths = src["path"].astype(str) if "path" in src else pd.Series(dtype=str)
    files = [p for p in paths if p.startswith("camps/" if s.layer == "camps" else "mines/")]
    files += ["boundaries/ne10m_admin1_prk.geojson", "boundaries/osm_adm2_prk_2020_landclip.geojson"]
    for r in src.itertuples():
        if str(r.path) in files:
            add(f"file {r.path}", [cell_text(r.attribution) or cell_text(r.origin)], r.licence)
    add("report quoted", [REPORT_CITATION], "quoted for research and reporting; facts cited to the report")
    return out


def dossier_record(site: str | Site, gpkg: Path | str | None = None, km: float = NEAR_KM, *,
                   include_private: bool = False, atlas: Product | None = None, lang: str | None = None) -> dict:
    """Everything a site's dossier says, as plain data (what :func:`render_dossier` draws).

    Parameters
    ----------
    site : str or Site
        A camp or a mine: an id (``KLS-15``, ``M005``), a number (``camp 15``) or any name.
    gpkg : path, optional
        The atlas GeoPackage (default ``output/atlas.gpkg``).
    km : float, default 25
        Radius of the nearby list.
    include_private : bool, default False
        List nearby features of user layers marked private too.
    atlas : Product, optional
        Layers already read (the site builder passes one for every page).
    lang : str, optional
        The language of the interface words the record holds (its citation): ``en`` (default) or ``ko``.

    Returns
    -------
    dict
        Keys ``header``, ``status``, ``timeline``, ``nearby``, ``passages``,
        ``discrepancies``, ``sources``, ``about``, ``citation``, ``map``.

    Examples
    --------
    >>> import atlas
    >>> rec = atlas.dossier_record("camp 15")
    >>> rec["header"]["id"], rec["header"]["names"]["hangul"][0]
    ('KLS-15', '요덕 제15호 관리소')
    """
    with use_lang(lang):  # the status rule's sentences and the sanctions lines in the page's language
        return _dossier_record(site, gpkg, km, include_private=include_private, atlas=atlas, lang=lang)


def _dossier_record(site, gpkg, km, *, include_private, atlas, lang) -> dict:
    atlas = atlas or Product(gpkg, include_private=include_private)
    if km <= 0:
        raise InputError(f"the radius must be positive, not {km}")
    s = _resolve(site, atlas)
    row = _row(atlas, s)
    header = _header(atlas, s, row)
    if s.layer == "mines":
        mine = atlas.layer("mines")
        mine = mine[mine["mine_id"].astype(str) == s.id]
        header["sanctions"] = [{"label": label, "date": when, "text": _mine_sanctions(atlas, mine, when)[0]}
                               for label, when in (("the build date", atlas.build_date),
                                                   ("the report (May 2016)", REPORT_DATE))]
    gathered = record(s, atlas.gpkg, layer=s.layer)  # findings, passages, discrepancies: gathered once
    timeline = _timeline(gathered)
    nearby = _nearby(atlas, s, km)
    about = atlas.about()
    title = header["names"]["primary"]
    _ = translations(lang).gettext
    citation = (_("\u201c%(site)s\u201d, dossier in the Gulag, Inc. atlas, version %(version)s, built %(date)s "
                  "from %(gpkg)s (sha256 %(sha256)s). ")
                % {"site": f"{s.id} {title}", "version": about["atlas_version"],
                   "date": format_date(about["build_date"], lang), "gpkg": about["gpkg"], "sha256": about["gpkg_sha256"]}
                + (_("With private layers from %(gpkg)s (sha256 %(sha256)s): not to be shared. ")
                   % {"gpkg": about["private_gpkg"], "sha256": about["private_gpkg_sha256"]} if about.get("banner") else "")
                + _("After %(report)s.") % {"report": REPORT_CITATION})
    rec = {
        "header": header, "status": _status(atlas, s, row), "timeline": timeline, "nearby": nearby,
        "passages": _passages(gathered),
        "discrepancies": [{k: cell_text(v) for k, v in d.items()} for d in gathered.discrepancies],
        "sources": _sources(atlas, s, header, timeline), "about": about, "citation": citation,
        "user_layers": atlas.user_layer_names, "today": atlas.build_date,
        "public_url": public_url(f"dossiers/{s.id}.html"),  # where the atlas is published (ATLAS_PUBLIC_URL)
    }
    rec["map"] = _map(atlas, s, nearby)
    rec["chip"] = _chip(atlas, s)
    rec["imagery_pair"], rec["scenes_cited"] = _imagery(atlas, s)
    return rec


def _imagery(atlas: Product, s: Site) -> tuple[dict | None, list[dict]]:
    """The site's before/after pair of shareable scenes, and the scenes its findings cite (docs/imagery.md)."""
    from .compare import site_pair
    from .scenes import site_citations
    from .status import FINDINGS

    cited = site_citations(s.id, atlas.gpkg, FINDINGS.get(s.layer, "camp_findings"), shared=True)
    if s.geometry is None or s.geometry.is_empty:
        return None, cited
    pt = s.geometry.representative_point()
    return site_pair(pt.x, pt.y, atlas.gpkg, site_id=s.id), cited


# --- the small map: an inline SVG in EPSG:5179 ------------------------------------------------

_SIZE = 480  # px, the SVG's width and height


def svg_path(geom, fx, fy) -> str:
    """SVG path data of a (multi)polygon's or line's rings, in page coordinates."""
    parts = []
    for g in getattr(geom, "geoms", [geom]):
        if g.is_empty:
            continue
        rings = [g.exterior, *g.interiors] if g.geom_type == "Polygon" else [g]
        for ring in rings:
            xy = np.asarray(ring.coords)
            if len(xy) < 2:
                continue
            pts = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in xy[:, :2])
            parts.append(f"M{pts}" + ("Z" if g.geom_type == "Polygon" else ""))
    return " ".join(parts)


def _map(atlas: Product, s: Site, nearby: dict) -> dict | None:
    """The small map's drawing, as data the template turns into SVG (so every label is escaped)."""
    if s.geometry is None:
        return None
    half = (max(RINGS_KM) + 3.0) * 1000.0
    cx, cy = TO_PLANAR.transform(s.geometry.x, s.geometry.y)
    x0, y0, x1, y1 = cx - half, cy - half, cx + half, cy + half
    scale = _SIZE / (2 * half)

    def fx(x):
        return (x - x0) * scale

    def fy(y):
        return (y1 - y) * scale

    def xy(lon, lat):
        x, y = TO_PLANAR.transform(lon, lat)
        return round(fx(x), 1), round(fy(y), 1)

    box = shapely.box(x0, y0, x1, y1)
    layers = []
    for name in ("counties", "provinces"):
        geoms = atlas.planar[name]
        sel = geoms[geoms.intersects(box)]
        d = " ".join(svg_path(shapely.clip_by_rect(g, x0, y0, x1, y1), fx, fy) for g in sel)
        layers.append({"cls": name, "d": d})
    rings = []
    for r in RINGS_KM:
        lons, lats, _ = GEOD.fwd(np.full(73, s.geometry.x), np.full(73, s.geometry.y),
                                 np.arange(0, 365, 5.0), np.full(73, r * 1000.0))
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in (xy(lo, la) for lo, la in zip(lons, lats)))
        lx, ly = xy(*GEOD.fwd(s.geometry.x, s.geometry.y, 45.0, r * 1000.0)[:2])
        rings.append({"km": r, "d": f"M{pts}Z", "lx": lx, "ly": ly})
    marks = []
    for row in nearby["rows"]:
        x, y = xy(row["lon"], row["lat"])
        colour = (COMMODITY_COLOURS.get(_commodity_class(atlas, row["id"]), "#666")
                  if nearby["layer"] == "mines" else STATUS_COLOURS.get(row["status"], "#fff"))
        marks.append({"x": x, "y": y, "label": str(row["n"]), "title": f"{row['n']}. {row['name']} ({row['id']})",
                      "fill": colour, "shape": "circle" if nearby["layer"] == "mines" else "square"})
    for i, u in enumerate(nearby["user"], 1):
        x, y = xy(u["lon"], u["lat"])
        marks.append({"x": x, "y": y, "label": f"u{i}", "title": f"u{i}. {u['name']} ({u['layer']})",
                      "fill": "#f2c200", "shape": "diamond"})
    site_x, site_y = xy(s.geometry.x, s.geometry.y)
    cands = []
    for c in _candidates(atlas, s, pd.Series(dtype=object)) if s.layer == "camps" else []:
        if not c["is_atlas_point"] and c["lat"] is not None:
            x, y = xy(c["lon"], c["lat"])
            if 0 <= x <= _SIZE and 0 <= y <= _SIZE:
                cands.append({"x": x, "y": y, "title": f"{c['source']}: {c['distance_km']:.2f} km"})
    bar_km = 10
    return {"size": _SIZE, "layers": layers, "rings": rings, "marks": marks, "candidates": cands,
            "site": {"x": site_x, "y": site_y, "title": f"{s.id} {s.name}",
                     "fill": STATUS_COLOURS.get(cell_text(_row(atlas, s).get("status_class")), "#000")
                     if s.layer == "camps" else COMMODITY_COLOURS.get(_commodity_class(atlas, s.id), "#000"),
                     "shape": "square" if s.layer == "camps" else "circle"},
            "scalebar": {"km": bar_km, "px": round(bar_km * 1000 * scale, 1)},
            "extent_km": round(2 * half / 1000)}


def _commodity_class(atlas: Product, mine_id: str) -> str:
    m = atlas.layer("mines")
    hit = m.loc[m["mine_id"].astype(str) == mine_id, "commodity_class"]
    return cell_text(hit.iloc[0]) if len(hit) else ""


# --- the imagery chip ------------------------------------------------------------------------


def _chip(atlas: Product, s: Site) -> dict | None:
    """The user's imagery chip of the site (``chips/<id>.tif`` beside the GeoPackage) as a PNG data URI."""
    beside = atlas.gpkg.path.parent if atlas.gpkg.path is not None else io.output_dir()
    path = beside / "chips" / f"{s.id}.tif"
    if not path.is_file():
        return None
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    with open_raster(path) as src:
        bands = [1, 2, 3] if src.count >= 3 else [1]
        data = src.read(bands, masked=True).astype("float64")
        tags = src.tags()
    out = np.zeros(data.shape, dtype="uint8")
    for i, band in enumerate(data):
        valid = band.compressed()
        if valid.size:
            lo, hi = np.percentile(valid, [2, 98])
            scaled = np.clip((band.filled(lo) - lo) / ((hi - lo) or 1.0) * 255.0, 0, 255)
            out[i] = scaled.astype("uint8")
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a PNG for a page
        with mem.open(driver="PNG", width=out.shape[2], height=out.shape[1], count=out.shape[0],
                      dtype="uint8") as dst:
            dst.write(out)
        png = mem.read()
    return {"uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            "file": path.name, "imagery": tags.get("source_imagery", ""),
            "imagery_date": tags.get("source_imagery_date", ""), "size_km": tags.get("size_km", "")}


# --- rendering ------------------------------------------------------------------------------


def render_dossier(record: dict, links: dict | None = None, standalone: bool = True, lang: str | None = None) -> str:
    """The HTML page of a dossier record (every data string escaped by Jinja2's autoescape).

    Parameters
    ----------
    record : dict
        From :func:`dossier_record`.
    links : dict, optional
        Relative links to other pages (the site passes ``index``, ``site`` hrefs by id).
    standalone : bool, default True
        A page on its own (no navigation to a site).
    lang : str, optional
        The page's language (:data:`atlas.i18n.LANGS`): English by default, ``ko`` for Korean.

    Returns
    -------
    str
    """
    return templates(lang).get_template("dossier.html.j2").render(
        r=record, links=links or {}, standalone=standalone, colours=STATUS_COLOURS)


def write_pdf(html: str, path: Path) -> Path:
    """Print a page to an A4 PDF with WeasyPrint (Hangul in NanumGothic, from Debian's fonts-nanum).

    Raises
    ------
    InputError
        WeasyPrint (or the Pango libraries it needs) is not installed.
    """
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise InputError("--pdf needs WeasyPrint and Pango: pip install 'gulag-inc-atlas[pdf]' and "
                         f"apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-nanum ({exc})") from exc
    path = Path(path)
    with io.atomic_path(path) as tmp:
        HTML(string=html, base_url=str(path.parent)).write_pdf(tmp)
    return path


def _slug(site_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", site_id).strip("-") or "site"


def dossier(site: str | Site, out: Path | str | None = None, gpkg: Path | str | None = None,
            pdf: bool = False, km: float = NEAR_KM, *, include_private: bool = False,
            lang: str | None = None) -> Path:
    """Write one self-contained HTML page (and optionally a PDF) about a camp or a mine.

    Parameters
    ----------
    site : str or Site
        A camp or a mine, by id, number or any name (``KLS-15``, ``camp 15``, ``요덕``).
    out : path, optional
        A folder (default ``output/dossiers/``; with ``include_private``,
        ``output-private/dossiers/``, outside the folder you share) or an
        ``.html`` file.
    gpkg : path, optional
        The atlas GeoPackage (default ``output/atlas.gpkg``).
    pdf : bool, default False
        Also print the page to ``<id>.pdf`` beside it (WeasyPrint).
    km : float, default 25
        Radius of the nearby list.
    include_private : bool, default False
        List nearby features of private user layers too; the page (and every
        printed page) then carries a banner saying so.
    lang : str, optional
        The page's language: English by default, ``ko`` for Korean (interface words, headings and
        dates in Korean, Hangul names first; data values as the sources give them).

    Returns
    -------
    pathlib.Path
        The HTML page written (the PDF, if asked, is beside it with suffix ``.pdf``).

    Raises
    ------
    NotFoundError, AmbiguousError
        The site does not resolve to exactly one camp or mine.

    Examples
    --------
    >>> import atlas, tempfile
    >>> page = atlas.dossier("KLS-15", out=tempfile.mkdtemp())
    >>> page.name, "요덕" in page.read_text(encoding="utf-8")
    ('KLS-15.html', True)
    """
    lang = check_lang(lang)
    rec = dossier_record(site, gpkg, km=km, include_private=include_private, lang=lang)
    out = Path(out) if out else io.output_dir(private=include_private) / "dossiers"
    path = out if out.suffix.lower() in (".html", ".htm") else out / f"{_slug(rec['header']['id'])}.html"
    # the map beside the dossiers' folder (output/atlas.html for output/dossiers/): each page links to it
    links = {"map": "../atlas.html"} if (path.parent.parent / "atlas.html").is_file() else None
    page = render_dossier(rec, links=links, lang=lang)
    check_replace([path, path.with_suffix(".pdf")] if pdf else [path])  # both refused before either is written
    with io.atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    if pdf:
        write_pdf(page, path.with_suffix(".pdf"))
    return path
