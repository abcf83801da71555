"""Spatial queries: find a site by any name, what lies near it, summaries by province or county.

Three questions the atlas's users ask first:

* **where is this place?** :func:`find` resolves a camp, mine, county or
  province from its id (``KLS-14``), its number with kind (``kwan-li-so 14``,
  ``camp 14``, ``14``) or its name in any romanization or in Hangul
  (``Kaechon``, ``Kaech'ŏn``, ``Gaecheon``, ``개천``), through
  :func:`atlas.names.keys`. Every candidate comes back, ranked, with how it
  matched; :func:`resolve` insists on exactly one and raises
  :class:`~atlas.errors.AmbiguousError` (listing the candidates) or
  :class:`~atlas.errors.NotFoundError` (with the closest names) otherwise.
* **what is near it?** :func:`near`, :func:`nearest` and :func:`within`. A
  spatial index in EPSG:5179 (Korea 2000 Unified CS, valid over the whole
  peninsula) finds the candidates within the radius grown by the projection's
  largest scale factor over the search area, so no feature within the radius
  is missed; the distances are then measured on the WGS 84 ellipsoid with
  :class:`pyproj.Geod`. For a polygon (a deposit region, a county) the
  distance is to its nearest point (0 inside it): that point is found in
  EPSG:5179 and the distance to it measured on the ellipsoid, which
  overstates the true geodesic distance by at most the projection's scale
  variation (< 0.1 % over the DPRK).
* **how does each province compare with the report?** :func:`province_summary`
  sets the report's Table 2 beside the atlas's geolocated features, counted
  by a spatial join (:func:`atlas.admin.assign_admin`) against the
  GeoPackage's boundaries, never from a column of a source file;
  :func:`county_summary` does the same by county.

Indexes are cached per GeoPackage (path, modification time, size) and
layer, so repeated queries in one process are fast.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod, Proj, Transformer

from . import io, names, sources
from .admin import PLANAR_CRS, _gpkg_key, assign_admin
from .errors import AmbiguousError, InputError, NoGeometryError, NotFoundError

__all__ = [
    "FIND_LAYERS",
    "MATCH_SCORES",
    "NEAR_COLUMNS",
    "Site",
    "SpatialIndex",
    "county_summary",
    "find",
    "format_table",
    "near",
    "nearest",
    "province_summary",
    "resolve",
    "summary",
    "within",
]

GEOD = Geod(ellps="WGS84")
#: Layers :func:`find` searches, in the order equal matches are listed.
FIND_LAYERS = ("camps", "mines", "named_mines", "counties", "provinces", "mineral_deposits")
#: How each kind of match scores (1 = certain).
MATCH_SCORES = {
    "exact id": 1.0,
    "number and kind": 0.95,
    "exact name": 0.9,
    "number": 0.9,
    "romanization fold": 0.8,
    "part of name": 0.6,
}
#: The columns :func:`near` returns, whatever the layer (plus ``geometry``).
NEAR_COLUMNS = [
    "id", "name", "kind", "commodity", "precision", "location_precision", "source",
    "province", "county", "distance_km", "bearing_deg", "lon", "lat", "site_id", "site_precision",
]
_CAMP_KINDS = {
    "kwanliso": "kwan-li-so", "kwalliso": "kwan-li-so", "kls": "kwan-li-so",
    "politicalprisoncamp": "kwan-li-so", "관리소": "kwan-li-so",
    "kyohwaso": "kyo-hwa-so", "khs": "kyo-hwa-so", "reeducationcamp": "kyo-hwa-so",
    "prisonlabourcamp": "kyo-hwa-so", "prisonlaborcamp": "kyo-hwa-so", "교화소": "kyo-hwa-so",
    "camp": None, "prisoncamp": None, "prison": None, "": None,
}
_NUMBER = re.compile(
    r"(?P<kind>[a-z가-힣]*?)(?:no|number|nr|제)?(?P<num>\d{1,3})(?:호)?(?P<kind2>관리소|교화소)?"
)
# words too generic to identify a feature on their own
_STOPWORDS = {
    "mine", "mines", "coal", "mining", "complex", "youth", "hero", "district", "camp", "prison",
    "the", "of", "and", "at", "with", "no", "kyo", "hwa", "so", "kyohwaso", "kwanliso", "county",
    "city", "province", "site", "sites", "area", "mmi", "plant", "concentration", "uranium", "iron",
    "copper", "gold", "lead", "zinc", "magnesite", "enterprise", "facility", "suspected",
    "restricted", "remnant", "original", "mens", "womens", "associated", "second", "2nd",
    "other", "zones", "zone", "revolutionizing", "total", "control", "hq", "entrance", "gate",
    "km", "per", "gulag", "inc", "workers", "model", "village", "center", "correctional",
    "numbering", "disputed", "hrnk", "map", "deposit", "region", "joint", "venture", "company",
    "mineral", "ore", "blocks", "operated", "from", "by", "unclear", "link", "deposits",
    "광산", "탄광", "관리소", "교화소", "청년",
}


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
        kind = f" ({self.kind})" if self.kind else ""
        prec = f"; precision: {self.precision}" if self.precision else ""
        return f"{head}{kind}{prec}. {self.note}".strip()


def _first_numbers(text: str) -> list[float]:
    """The areas (km²) an area text gives: '539 (53,900 ha, ...); 549 (Wikipedia); perimeter 119 km'."""
    out = []
    for part in str(text or "").split(";"):
        m = re.match(r"\s*([\d,]*\.?\d+)\s*(?:\(|$)", part)
        if m:
            out.append(float(m.group(1).replace(",", "")))
    return out


def _area_range(values: list[float]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)

    def fmt(v: float) -> str:
        return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" if v >= 10 else f"{v:,.3g}"

    return f"{fmt(lo)} km²" if lo == hi else f"{fmt(lo)}–{fmt(hi)} km²"


def _camp_note(row: pd.Series, camps: pd.DataFrame) -> str:
    prec = str(row.get("precision") or "")
    if prec == "none":
        return ("It has no public coordinate (" + str(row.get("location_precision") or "none")
                + "), so no distance can be measured from it.")
    areas = _first_numbers(row.get("area_km2"))
    if prec == "camp-area":
        same = camps[(camps["kind"] == row["kind"]) & (camps["precision"] == "camp-area")]
        span = _area_range([a for t in same["area_km2"] for a in _first_numbers(t)])
        size = (f"a camp of {_area_range(areas)} (a circle of that area has a "
                f"{math.sqrt(max(areas) / math.pi):.1f} km radius)") if areas else "a camp of unpublished area"
        return (f"The point marks one spot inside {size}; the {row['kind']} camp areas in the atlas "
                f"run {span}. Distances are to that point, not to the camp's perimeter: a feature "
                "can be that much nearer the camp itself. Source: "
                + str(row.get("location_precision") or ""))
    if prec == "uncertain":
        return ("Its location is uncertain: " + str(row.get("location_precision") or "")
                + ". Treat distances from it with that margin.")
    size = f" (a facility of {_area_range(areas)})" if areas else ""
    return f"The point marks the facility itself{size}: {row.get('location_precision') or ''}."


def _site_from_row(layer: str, frame: pd.DataFrame, pos: int) -> Site:
    row = frame.iloc[pos]
    geom = frame.geometry.iloc[pos] if isinstance(frame, gpd.GeoDataFrame) else None
    if geom is not None and (not isinstance(geom, shapely.Geometry) or geom.is_empty):
        geom = None
    present = _present(layer, frame.iloc[[pos]]).iloc[0]
    prec = str(present["precision"] or "")
    lp = str(present["location_precision"] or "")
    if layer == "camps":
        note = _camp_note(row, frame)
    elif geom is None:
        note = f"It has no public coordinate ({lp or 'none'}), so no distance can be measured from it."
    elif layer == "named_mines" and row.get("is_town_proxy"):
        note = ("The point is a town proxy, not the mine's location: distances say how far the "
                f"town is. {lp}")
    elif layer == "named_mines":
        note = f"The point is {row.get('location_role')}. {lp}"
    elif geom.geom_type != "Point":
        note = ("It is an area: distances are measured from its boundary (0 for features "
                f"inside it). {lp}").strip()
    else:
        note = f"Location precision: {prec}" + (f" ({lp})" if lp and lp != prec else "") + "."
    return Site(layer, str(present["id"]), str(present["name"]), str(present["kind"] or ""),
                geom, prec, lp, note)


# --- layer access and presentation --------------------------------------------------------


_LAYER_CACHE: dict[tuple, pd.DataFrame] = {}


def _layer(name: str, gpkg: Path | str | None) -> pd.DataFrame:
    """A layer of the GeoPackage, read once per file version."""
    key = (*_gpkg_key(gpkg), name)
    if key not in _LAYER_CACHE:
        if len(_LAYER_CACHE) > 64:
            _LAYER_CACHE.clear()
        _LAYER_CACHE[key] = io.read_layer(name, Path(gpkg) if gpkg else None)
    return _LAYER_CACHE[key]


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
    from .schema import SCHEMAS

    schema = SCHEMAS.get(layer)
    if schema and schema.id_field in df.columns:
        return schema.id_field
    for col in ("user_id", "id", "site_id", "mine_id", "fid"):
        if col in df.columns:
            return col
    return None


def _uniform(layer: str, df: pd.DataFrame) -> dict[str, np.ndarray]:
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
        name_col = next((c for c in ("name", "title", "label") if c in df.columns), None)
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


def _present(layer: str, df: pd.DataFrame) -> pd.DataFrame:
    """The uniform columns of a layer's rows, as a DataFrame indexed like ``df``."""
    return pd.DataFrame(_uniform(layer, df), index=df.index)


# --- finding a site by name ----------------------------------------------------------------


_ADMIN_LAYERS = {"counties", "provinces"}
_ADMIN_SUFFIX = re.compile(r"(county|gun|kun|city|si|shi|province|do|guyok|kuyok|district|"
                           r"특별시|직할시|특급시|구역|군|시|도)$")


def _admin_suffix(norm: str) -> bool:
    """The query ends with a county, city or province suffix (``Yodok County``, ``단천시``)."""
    m = _ADMIN_SUFFIX.search(norm)
    return bool(m) and len(norm) - len(m.group(1)) >= (2 if names._is_hangul(norm[0]) else 3)


def _strip_suffix(norm: str) -> str:
    if norm and all(names._is_hangul(ch) for ch in norm):
        stripped = names._HANGUL_SUFFIXES.sub("", norm)
        return stripped if len(stripped) >= 2 else norm
    stripped = names._LATIN_SUFFIXES.sub("", norm)
    return stripped if len(stripped) >= 3 else norm


_NOT_LATIN = re.compile(r"[^0-9a-z]")


def _norm(text: str) -> str:
    """:func:`atlas.names.normalize`, with a fast path for ASCII text (user layers are large)."""
    text = str(text or "")
    if text.isascii():
        return _NOT_LATIN.sub("", text.lower())
    return names.normalize(text)


def _name_keys(text: str) -> set[str]:
    """:func:`atlas.names.keys`, with a fast path for ASCII text (the same keys; tested)."""
    text = str(text or "")
    if not text.isascii():
        return names.keys(text)
    base = _norm(text)
    if not base:
        return set()
    out = {base}
    for form in {base, names._LATIN_SUFFIXES.sub("", base)}:
        if len(form) >= 3:
            out.add(form)
            out.add(names._rr_fold(form))
    return out


@functools.lru_cache(maxsize=100_000)
def _keys(text: str) -> frozenset[str]:
    """:func:`atlas.names.keys` without generic words (관리소, 제14호, mine) that name nothing."""
    return frozenset(k for k in _name_keys(text)
                     if k not in _STOPWORDS and not re.fullmatch(r"제?\d+호?", k))


def _variants(*texts: object) -> list[str]:
    """Every name a text holds: the whole, each ``;`` part, each part split at , / ( )."""
    out: list[str] = []
    for text in texts:
        if text is None or (isinstance(text, float) and math.isnan(text)):
            continue
        text = str(text).strip()
        if not text:
            continue
        out.append(text)
        for part in re.split(r"[;|]", text):
            part = re.sub(r"^[^:]{1,20}:\s*", "", part.strip())  # 'zones: Kuup-ri, ...'
            out.append(part)
            out += [p.strip() for p in re.split(r"[,/()]", part)]
    seen, uniq = set(), []
    for v in out:
        if v and v not in seen and _norm(v):
            seen.add(v)
            uniq.append(v)
    return uniq


@functools.lru_cache(maxsize=100_000)
def _parts(variant: str) -> tuple[str, ...]:
    """Words (and pairs of words) of a name that could identify it on their own."""
    words = [w for w in re.split(r"[\s,/();:&]+", variant) if w]
    good = []
    for w in words:
        n = _norm(w)
        if not n or n.isdigit() or n in _STOPWORDS or _strip_suffix(n) in _STOPWORDS:
            good.append(None)
            continue
        hangul = all(names._is_hangul(ch) for ch in n)
        good.append(w if len(n) >= (2 if hangul else 3) else None)
    out = [w for w in good if w]
    out += [f"{a} {b}" for a, b in itertools.pairwise(good) if a and b]
    return tuple(out)


@dataclass
class _Entry:
    layer: str
    pos: int  # row position in the layer
    id: str
    name: str
    kind: str
    number: str = ""


class _NameIndex:
    """Inverted indexes from name keys to features, at three levels of match."""

    def __init__(self, layers: dict[str, pd.DataFrame], geonames: pd.DataFrame | None):
        self.entries: list[_Entry] = []
        self.ids: dict[str, list[int]] = {}
        self.exact: dict[str, list[tuple[int, str]]] = {}
        self.fold: dict[str, list[tuple[int, str]]] = {}
        self.part: dict[str, list[tuple[int, str]]] = {}
        self.numbers: dict[int, list[int]] = {}
        for layer, df in layers.items():
            self._add_layer(layer, df, geonames)

    def _add(self, table: dict, key: str, e: int, text: str) -> None:
        if key:
            table.setdefault(key, []).append((e, text))

    def _add_layer(self, layer: str, df: pd.DataFrame, geonames: pd.DataFrame | None) -> None:
        pres = _present(layer, df)
        extra: dict[str, list[str]] = {}
        if layer == "counties" and geonames is not None:
            extra = _geonames_variants(df, geonames)
        records = pd.DataFrame(df.drop(columns="geometry", errors="ignore")).to_dict("records")
        for pos, (row, p) in enumerate(zip(records, pres.to_dict("records"))):
            e = len(self.entries)
            entry = _Entry(layer, pos, str(p["id"]), str(p["name"]), str(p["kind"] or ""))
            ids = [p["id"]]
            if layer == "camps":
                texts = [row.get("name"), row.get("alt_names"), row.get("name_ko")]
                num = re.match(r"\s*0*(\d+)", str(row.get("number") or ""))
                if num:
                    entry.number = num.group(1)
                    self.numbers.setdefault(int(num.group(1)), []).append(e)
            elif layer == "mines":
                texts = [row.get("name"), row.get("alt_names")]
            elif layer == "named_mines":
                texts = [row.get("name_in_report"), row.get("alt_names")]
            elif layer == "counties":
                texts = [row.get("name_en"), row.get("name_ko"), row.get("name_hanja"),
                         *extra.get(str(p["id"]), [])]
                ids += [row.get("ocha_pcode"), row.get("wikidata")]
            elif layer == "provinces":
                texts = [row.get("name_en"), row.get("name_ko"), row.get("name_mr"),
                         row.get("name_rr"), row.get("name_variants")]
                ids += str(row.get("iso_3166_2") or "").split("|")
            elif layer == "mineral_deposits":
                texts = [p["name"], row.get("commodity")]
            else:
                texts = [p["name"]]
            self.entries.append(entry)
            for i in ids:
                if i is not None and str(i).strip():
                    self.ids.setdefault(_norm(str(i)), []).append(e)
            for v in _variants(*texts):
                norm = _norm(v)
                self._add(self.exact, norm, e, v)
                if _strip_suffix(norm) != norm:
                    self._add(self.exact, _strip_suffix(norm), e, v)
                for k in _keys(v):
                    self._add(self.fold, k, e, v)
                for w in _parts(v):
                    for k in _keys(w):
                        self._add(self.part, k, e, v)

    def search(self, query: str, layers: Iterable[str] | None = None) -> list[dict]:
        """Candidates for a query, best match per feature; empty when nothing matches.

        A query with a county, city or province suffix (``Yodok County``,
        ``Kaechon-si``, ``요덕군``) asks for the unit: other layers then match
        it only as ``part of name`` unless one of their names is literally it.
        """
        qn = _norm(query)
        allowed = set(layers) if layers else None
        admin_query = _admin_suffix(qn)
        found: dict[int, tuple[float, str, str]] = {}

        def hit(e: int, match: str, text: str, literal: bool = False) -> None:
            entry = self.entries[e]
            if allowed is not None and entry.layer not in allowed:
                return
            if admin_query and not literal and entry.layer not in _ADMIN_LAYERS:
                match = "part of name"
            score = MATCH_SCORES[match]
            if e not in found or score > found[e][0]:
                found[e] = (score, match, text)

        for e in self.ids.get(qn, []):
            hit(e, "exact id", self.entries[e].id, literal=True)
        m = _NUMBER.fullmatch(qn)
        if m and (m.group("kind") or m.group("kind2") or "") in _CAMP_KINDS:
            kind = _CAMP_KINDS[m.group("kind") or m.group("kind2") or ""]
            for e in self.numbers.get(int(m.group("num")), []):
                entry = self.entries[e]
                if kind is None:
                    hit(e, "number", f"{entry.kind} {entry.number}", literal=True)
                elif entry.kind == kind:
                    hit(e, "number and kind", f"{entry.kind} {entry.number}", literal=True)
        for e, text in self.exact.get(qn, []):
            hit(e, "exact name", text, literal=_norm(text) == qn)
        if _strip_suffix(qn) != qn:
            for e, text in self.exact.get(_strip_suffix(qn), []):
                hit(e, "exact name", text)
        for k in _keys(query):
            for e, text in self.fold.get(k, []):
                hit(e, "romanization fold", text)
            for e, text in self.part.get(k, []):
                hit(e, "part of name", text)
        return [self._row(e, *found[e]) for e in found]

    def fuzzy(self, query: str, layers: Iterable[str] | None = None, n: int = 8,
              cutoff: float = 0.75) -> list[dict]:
        """Features whose names are close to the query (difflib), with the ratio as score."""
        qn = _norm(query)
        allowed = set(layers) if layers else None
        keys = [k for k, hits in self.exact.items()
                if allowed is None or any(self.entries[e].layer in allowed for e, _ in hits)]
        found: dict[int, tuple[float, str, str]] = {}
        for key in difflib.get_close_matches(qn, keys, n=n, cutoff=cutoff):
            ratio = difflib.SequenceMatcher(None, qn, key).ratio()
            for e, text in self.exact[key]:
                if allowed is not None and self.entries[e].layer not in allowed:
                    continue
                score = round(0.5 * ratio, 3)
                if e not in found or score > found[e][0]:
                    found[e] = (score, "fuzzy", text)
        return [self._row(e, *found[e]) for e in found]

    def _row(self, e: int, score: float, match: str, text: str) -> dict:
        entry = self.entries[e]
        return {"layer": entry.layer, "id": entry.id, "name": entry.name, "kind": entry.kind,
                "match": match, "score": score, "matched": text, "_pos": entry.pos}


def _geonames_variants(counties: pd.DataFrame, geonames: pd.DataFrame) -> dict[str, list[str]]:
    """GeoNames names of the towns a county is named after (Kaech'ŏn → Kaechon county)."""
    by_ko = {}
    for _, c in counties.iterrows():
        by_ko.setdefault(str(c.get("name_ko") or ""), []).append(c)
    out: dict[str, list[str]] = {}
    for _, g in geonames.iterrows():
        town = _name_keys(g["name"])
        alts = [a for a in str(g["alternatenames"] or "").split("|") if a]
        for c in by_ko.get(str(g.get("osm_unit_ko") or ""), []):
            county = _name_keys(c.get("name_en")) | _name_keys(c.get("name_ko"))
            alt_keys = set().union(*(_name_keys(a) for a in alts)) if alts else set()
            if town & county or alt_keys & county:  # the town the county is named after
                out.setdefault(str(c["county_id"]), []).extend([g["name"], *alts])
    return out


_NAME_CACHE: dict[tuple, _NameIndex] = {}


def _name_index(gpkg: Path | str | None) -> _NameIndex:
    key = _gpkg_key(gpkg)
    if key not in _NAME_CACHE:
        available = {n for n, g in io.list_layers(Path(gpkg) if gpkg else None)}
        user = sorted(n for n in available if n.startswith("user_"))
        layers = {n: _layer(n, gpkg) for n in (*FIND_LAYERS, *user) if n in available}
        try:
            geonames = sources.read_csv("boundaries/geonames_kp_cities500.csv")
        except Exception:  # the GeoNames names are a bonus; the atlas layers suffice
            geonames = None
        _NAME_CACHE.clear()
        _NAME_CACHE[key] = _NameIndex(layers, geonames)
    return _NAME_CACHE[key]


def _candidates_frame(rows: list[dict], gpkg: Path | str | None) -> gpd.GeoDataFrame:
    layer_rank = {n: i for i, n in enumerate(FIND_LAYERS)}
    rows = sorted(rows, key=lambda r: (-r["score"], layer_rank.get(r["layer"], 99), r["id"]))
    extra = {"province": [], "county": [], "precision": [], "lon": [], "lat": [], "geometry": []}
    for r in rows:
        df = _layer(r["layer"], gpkg)
        row = df.iloc[[r["_pos"]]]
        p = _present(r["layer"], row).iloc[0]
        geom = row.geometry.iloc[0] if isinstance(row, gpd.GeoDataFrame) else None
        if geom is not None and geom.is_empty:
            geom = None
        rep = None if geom is None else (geom if geom.geom_type == "Point" else geom.representative_point())
        extra["province"].append(p["province"])
        extra["county"].append(p["county"])
        extra["precision"].append(p["precision"])
        extra["lon"].append(None if rep is None else round(rep.x, 6))
        extra["lat"].append(None if rep is None else round(rep.y, 6))
        extra["geometry"].append(geom)
    out = pd.DataFrame([{k: v for k, v in r.items() if k != "_pos"} for r in rows],
                       columns=["layer", "id", "name", "kind", "match", "score", "matched"])
    for k, v in extra.items():
        if k != "geometry":
            out[k] = pd.Series(v, dtype=object)
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(extra["geometry"], crs="EPSG:4326"))


def find(
    query: str,
    gpkg: Path | str | None = None,
    layers: Iterable[str] | None = None,
    fuzzy: bool = True,
) -> gpd.GeoDataFrame:
    """Every camp, mine, county or province a query may mean, ranked.

    The query may be an id (``KLS-14``, ``M005``, ``KP-02``,
    ``relation/5453657``), a camp number with or without its kind
    (``kwan-li-so 14``, ``kyo-hwa-so 22``, ``camp 14``, ``14``) or a name in
    any romanization or in Hangul (``Kaechon``, ``Kaech'ŏn``, ``Gaecheon``,
    ``개천``); case, diacritics, apostrophes, hyphens and administrative
    suffixes (``-gun``, ``County``, ``군``, ``시``) are ignored. Names come
    from every name field of the layers and, for counties, from the GeoNames
    alternate names of the town the county is named after.

    Parameters
    ----------
    query : str
    gpkg : pathlib.Path or str, optional
        The atlas GeoPackage; defaults to ``output/atlas.gpkg``.
    layers : iterable of str, optional
        Search only these layers (default: camps, mines, named_mines,
        counties, provinces, mineral_deposits and any ``user_`` layer).
    fuzzy : bool, default True
        When nothing matches exactly, return names close in spelling
        (``match="fuzzy"``) instead of raising.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per feature, best first: ``layer``, ``id``, ``name``,
        ``kind``, ``match`` (``exact id``, ``number and kind``, ``exact
        name``, ``number``, ``romanization fold``, ``part of name`` or
        ``fuzzy``), ``score`` (see :data:`MATCH_SCORES`), ``matched`` (the
        name that matched), ``province``, ``county``, ``precision``, ``lon``,
        ``lat`` (a point on an area) and the feature's geometry (EPSG:4326;
        empty for a site without a public coordinate).

    Raises
    ------
    NotFoundError
        Nothing matches; the message lists the closest names (exit code 2).
    InputError
        An empty query.

    Examples
    --------
    >>> import atlas
    >>> hits = atlas.find("Kaech'ŏn")
    >>> {"KLS-14", "KHS-01", "M005"} <= set(hits["id"])
    True
    >>> sorted(atlas.find("22")["id"])
    ['KHS-22', 'KLS-22']
    >>> atlas.find("단천").iloc[0]["layer"] in {"counties", "camps"}
    True
    """
    if not _norm(query or ""):
        raise InputError("the query is empty: give a name, an id (KLS-14) or a camp number")
    index = _name_index(gpkg)
    rows = index.search(query, layers)
    if not rows and fuzzy:
        rows = index.fuzzy(query, layers)
    if not rows:
        raise NotFoundError(f"nothing in the atlas matches {query!r}", _suggestions(index, query, layers))
    return _candidates_frame(rows, gpkg)


def _suggestions(index: _NameIndex, query: str, layers: Iterable[str] | None) -> list[str]:
    rows = index.fuzzy(query, layers, n=12, cutoff=0.45)
    rows.sort(key=lambda r: -r["score"])
    out = []
    for r in rows:
        label = f"{r['name']} ({r['id']})" if r["id"] != r["name"] else r["name"]
        if label not in out:
            out.append(label)
    return out[:5]


def resolve(
    query: str | Site,
    gpkg: Path | str | None = None,
    layers: Iterable[str] | None = None,
) -> Site:
    """Exactly one feature for a query, or an error listing the candidates.

    A query resolves when exactly one feature matches it by id, number or
    name (in any romanization); features that only hold the query as a word
    of a longer name (``Gaecheon Coal Mine`` for ``Kaechon``) count only when
    nothing else matches. Otherwise it is ambiguous: ``Yodok`` is both
    kwan-li-so 15 and Yodok County; ``KLS-15``, ``camp 15`` and ``Yodok
    County`` are not.

    Parameters
    ----------
    query : str or Site
        As for :func:`find`; a :class:`Site` is returned as is.
    gpkg : pathlib.Path or str, optional
        The atlas GeoPackage; defaults to ``output/atlas.gpkg``.
    layers : iterable of str, optional
        Consider only these layers (e.g. ``["camps"]`` to make ``Yodok`` the camp).

    Returns
    -------
    Site
        With its geometry (None when it has no public coordinate) and a note
        on what its location means for distances.

    Raises
    ------
    AmbiguousError
        Several candidates; ``.candidates`` holds them, ranked (exit code 2).
    NotFoundError
        Nothing, or only names close in spelling, matches; the message lists
        the closest (exit code 2).

    Examples
    --------
    >>> import atlas
    >>> atlas.resolve("kwan-li-so 14").id
    'KLS-14'
    >>> atlas.resolve("Yodok", layers=["camps"]).id
    'KLS-15'
    >>> atlas.resolve("Kaechon")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atlas.errors.AmbiguousError: 'Kaechon' matches ...
    """
    if isinstance(query, Site):
        return query
    hits = find(query, gpkg, layers, fuzzy=True)
    ids = hits[hits["match"] == "exact id"]
    named = hits[~hits["match"].isin(["part of name", "fuzzy"])]
    parts = hits[hits["match"] == "part of name"]
    if len(ids) == 1:
        top = ids.iloc[0]
    elif len(named) == 1 or (named.empty and len(parts) == 1):
        top = (named if len(named) else parts).iloc[0]
    elif named.empty and parts.empty:
        labels = [f"{n} ({i})" for n, i in zip(hits["name"], hits["id"])][:5]
        raise NotFoundError(f"nothing in the atlas is named {query!r}", labels)
    else:
        cands = named if len(named) else parts
        listing = "; ".join(
            f"{r.id} {r.name} [{r.layer}, {r.match}]" for r in cands.head(12).itertuples())
        more = f" and {len(cands) - 12} more" if len(cands) > 12 else ""
        if len(named) and len(parts):
            more += ("; and by a word of a longer name: "
                     + "; ".join(f"{r.id} {r.name}" for r in parts.head(6).itertuples()))
        raise AmbiguousError(
            f"{query!r} matches {len(cands)} features: {listing}{more}. Give an id "
            "(e.g. KLS-14), add the kind (kwan-li-so 22, Yodok County) or restrict the layer.",
            hits.drop(columns="geometry").to_dict("records"))
    frame = _layer(top["layer"], gpkg)
    pos = int(np.flatnonzero(_present(top["layer"], frame)["id"].to_numpy() == top["id"])[0])
    return _site_from_row(top["layer"], frame, pos)


# --- the spatial index ------------------------------------------------------------------------


_PROJ: Proj | None = None


def _max_scale(lon0: float, lat0: float, lon1: float, lat1: float) -> float | None:
    """Largest EPSG:5179 scale factor over a lon/lat box; None where the projection is unfit.

    The Transverse Mercator scale grows with the distance from the central
    meridian (127.5°E) and towards the equator, so its largest value over the
    box is on the box's edge: evaluated on the corners and edge points.
    """
    global _PROJ
    if not (-80 <= lat0 <= lat1 <= 84) or max(abs(lon0 - 127.5), abs(lon1 - 127.5)) > 20:
        return None
    if _PROJ is None:
        _PROJ = Proj(PLANAR_CRS)
    lons = np.r_[np.linspace(lon0, lon1, 9), np.full(9, lon0), np.full(9, lon1), np.linspace(lon0, lon1, 9)]
    lats = np.r_[np.full(9, lat0), np.linspace(lat0, lat1, 9), np.linspace(lat0, lat1, 9), np.full(9, lat1)]
    f = _PROJ.get_factors(lons, lats)
    k = np.maximum(np.asarray(f.meridional_scale), np.asarray(f.parallel_scale))
    return float(np.max(k)) * (1 + 1e-6)


def _search_box(geom, km: float) -> tuple[float, float, float, float]:
    """A lon/lat box holding every point within ``km`` (on the ellipsoid) of ``geom``."""
    x0, y0, x1, y1 = geom.bounds
    dlat = km / 110.5 + 1e-6  # a degree of latitude is at least 110.57 km
    lat_far = min(89.9, max(abs(y0), abs(y1)) + dlat)
    dlon = km / (111.0 * max(math.cos(math.radians(lat_far)), 1e-3)) + 1e-6
    return x0 - dlon, max(-90.0, y0 - dlat), x1 + dlon, min(90.0, y1 + dlat)


class SpatialIndex:
    """A layer ready for radius and nearest-neighbour queries measured on the ellipsoid.

    Candidates come from an STRtree in EPSG:5179; a radius is grown by the
    projection's largest scale factor over the search box, so the candidate
    set holds every feature within the radius (the planar distance never
    exceeds that factor times the geodesic one). Distances are then measured
    with ``pyproj.Geod(ellps="WGS84").inv``: to the point itself for point
    features, to the nearest point (found in EPSG:5179) for lines and
    polygons, 0 inside them. Outside the projection's useful area (more than
    20° from 127.5°E) every feature is measured.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Any geometries in any CRS; rows without geometry are kept in
        ``frame`` but never returned by a query.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from atlas.query import SpatialIndex
    >>> pts = gpd.GeoDataFrame(geometry=[shapely.Point(126.0, 39.6), shapely.Point(126.5, 39.6)],
    ...                        crs="EPSG:4326")
    >>> idx = SpatialIndex(pts)
    >>> rows, dist_m, bearing, _, _ = idx.query(shapely.Point(126.0, 39.6), km=10)
    >>> rows.tolist(), round(float(dist_m[0]), 1)
    ([0], 0.0)
    """

    def __init__(self, gdf: gpd.GeoDataFrame):
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise InputError(f"a layer to search must be a GeoDataFrame, not {type(gdf).__name__}")
        if gdf.crs is None:
            raise InputError("the layer has no CRS: set one (e.g. gdf.set_crs(4326))")
        self.frame = gdf
        geoms = gdf.geometry if gdf.crs.to_epsg() == 4326 else gdf.geometry.to_crs(4326)
        values = np.asarray(geoms.values, dtype=object)
        self.values = values  # EPSG:4326, every row
        self._uniform: dict[str, dict] = {}
        present = ~(shapely.is_missing(values) | shapely.is_empty(values))
        self.rows = np.flatnonzero(present)
        self.n_without_geometry = int((~present).sum())
        self.geoms = values[self.rows]
        self.points_only = bool((shapely.get_type_id(self.geoms) == 0).all())
        to_planar = Transformer.from_crs("EPSG:4326", PLANAR_CRS, always_xy=True)
        self._to_lonlat = Transformer.from_crs(PLANAR_CRS, "EPSG:4326", always_xy=True)
        if self.points_only:
            xy = shapely.get_coordinates(self.geoms)
            self.lon, self.lat = xy[:, 0], xy[:, 1]
            x, y = to_planar.transform(self.lon, self.lat)
            self.planar = shapely.points(x, y)
        else:
            self.lon = self.lat = None
            self.planar = shapely.transform(self.geoms, lambda c: np.column_stack(
                to_planar.transform(c[:, 0], c[:, 1])))
        self._to_planar = to_planar
        self.tree = shapely.STRtree(self.planar)

    def __len__(self) -> int:
        return len(self.rows)

    def uniform(self, layer: str) -> dict[str, np.ndarray]:
        """The uniform columns of every row (see :data:`NEAR_COLUMNS`), computed once."""
        if layer not in self._uniform:
            self._uniform[layer] = _uniform(layer, self.frame)
        return self._uniform[layer]

    def _site_planar(self, site):
        return shapely.transform(site, lambda c: np.column_stack(
            self._to_planar.transform(c[:, 0], c[:, 1])))

    def _measure(self, site, site_planar, cand: np.ndarray):
        """Geodesic distance (m), bearing (°) and the point measured to, for tree positions."""
        n = len(cand)
        if site.geom_type == "Point" and self.points_only:
            lon2, lat2 = self.lon[cand], self.lat[cand]
            az, _, dist = GEOD.inv(np.full(n, site.x), np.full(n, site.y), lon2, lat2)
            return np.asarray(dist), np.asarray(az), lon2, lat2
        planar = self.planar[cand]
        inside = shapely.intersects(site_planar, planar)
        out = ~inside
        lon1, lat1 = np.full(n, np.nan), np.full(n, np.nan)
        lon2, lat2 = np.full(n, np.nan), np.full(n, np.nan)
        if out.any():
            lines = shapely.shortest_line(np.full(int(out.sum()), site_planar, dtype=object), planar[out])
            ends = shapely.get_coordinates(lines).reshape(-1, 2, 2)
            lon1[out], lat1[out] = self._to_lonlat.transform(ends[:, 0, 0], ends[:, 0, 1])
            lon2[out], lat2[out] = self._to_lonlat.transform(ends[:, 1, 0], ends[:, 1, 1])
        if site.geom_type == "Point":  # measure from the site itself, not its round trip
            lon1[:], lat1[:] = site.x, site.y
        if self.points_only:  # and to the feature's own point
            lon2[:], lat2[:] = self.lon[cand], self.lat[cand]
        if inside.any() and not self.points_only:  # the point measured to: on both
            if site.geom_type == "Point":
                lon2[inside], lat2[inside] = site.x, site.y
            else:
                common = shapely.intersection(site, self.geoms[cand[inside]])
                rep = shapely.get_coordinates(shapely.point_on_surface(common))
                lon2[inside], lat2[inside] = rep[:, 0], rep[:, 1]
        dist = np.zeros(n)
        az = np.full(n, np.nan)
        if out.any():
            a, _, d = GEOD.inv(lon1[out], lat1[out], lon2[out], lat2[out])
            dist[out], az[out] = d, a
        return dist, az, lon2, lat2

    def query(self, site, km: float):
        """Every feature within ``km`` of ``site`` (EPSG:4326), nearest first.

        Parameters
        ----------
        site : shapely geometry
            In EPSG:4326.
        km : float
            Radius on the ellipsoid.

        Returns
        -------
        tuple of numpy.ndarray
            Row positions in ``frame``, distances (m), bearings from the site
            (degrees clockwise from north, NaN at distance 0), and the lon/lat
            of the point each distance was measured to.
        """
        km = float(km)
        if not km >= 0 or not math.isfinite(km):
            raise InputError(f"the radius must be a finite number of km, 0 or more, not {km!r}")
        site_planar = self._site_planar(site)
        kmax = _max_scale(*_search_box(site, km))
        if kmax is None or not len(self.rows):
            cand = np.arange(len(self.rows))
        else:
            radius = km * 1000.0 * kmax + 0.01
            cand = self.tree.query(site_planar, predicate="dwithin", distance=radius)
        dist, az, lon2, lat2 = self._measure(site, site_planar, cand)
        keep = dist <= km * 1000.0
        cand, dist, az, lon2, lat2 = cand[keep], dist[keep], az[keep], lon2[keep], lat2[keep]
        order = np.lexsort((cand, dist))
        az = np.where(dist[order] > 0, np.mod(az[order], 360.0), np.nan)
        return self.rows[cand[order]], dist[order], az, lon2[order], lat2[order]

    def nearest(self, site, k: int = 5, exclude: set | None = None):
        """The ``k`` features nearest ``site`` on the ellipsoid (ties by row order).

        Grows a radius until it holds ``k`` features: every feature within a
        radius is found, so the ``k`` nearest of them are the ``k`` nearest of all.

        Parameters
        ----------
        site : shapely geometry
            In EPSG:4326.
        k : int
        exclude : set of int, optional
            Row positions never to return (the site itself).

        Returns
        -------
        tuple of numpy.ndarray
            As :meth:`query`.
        """
        if int(k) < 1:
            raise InputError(f"k must be 1 or more, not {k!r}")
        excluded = np.array(sorted(exclude or ()), dtype=np.int64)
        excluded = excluded[np.isin(excluded, self.rows)]
        want = min(int(k), len(self.rows) - len(excluded))
        km = 10.0
        while True:
            res = self.query(site, km)
            if len(excluded):
                res = tuple(a[~np.isin(res[0], excluded)] for a in res)
            if len(res[0]) >= want or km > 40_000:
                return tuple(a[: int(k)] for a in res)
            km *= 4


_INDEX_CACHE: dict[tuple, SpatialIndex] = {}


def _layer_index(layer: str, gpkg: Path | str | None) -> SpatialIndex:
    key = (*_gpkg_key(gpkg), layer)
    if key not in _INDEX_CACHE:
        available = dict(io.list_layers(Path(gpkg) if gpkg else None))
        if layer not in available:
            geo = sorted(n for n, g in available.items() if g)
            raise NotFoundError(f"no layer {layer!r} in the atlas; layers with geometry: "
                                + ", ".join(geo))
        if available[layer] is None:
            raise InputError(f"layer {layer!r} is a table without geometry: nothing to measure")
        if len(_INDEX_CACHE) > 16:
            _INDEX_CACHE.clear()
        _INDEX_CACHE[key] = SpatialIndex(_layer(layer, gpkg))
    return _INDEX_CACHE[key]


def _site_geometry(site, gpkg, site_layer) -> Site:
    if isinstance(site, Site):
        s = site
    elif isinstance(site, shapely.Geometry):
        s = Site("coordinates", site.wkt if site.geom_type != "Point" else f"{site.y:.6f},{site.x:.6f}",
                 "a location given as coordinates", "", site, "as given", "",
                 "A location given by the user (EPSG:4326).")
    elif isinstance(site, tuple | list) and len(site) == 2 and all(
            isinstance(v, int | float | np.floating) for v in site):
        lon, lat = float(site[0]), float(site[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InputError(f"({lon}, {lat}) is not a (lon, lat) pair in degrees")
        return _site_geometry(shapely.Point(lon, lat), gpkg, site_layer)
    elif isinstance(site, str):
        s = resolve(site, gpkg, [site_layer] if isinstance(site_layer, str) else site_layer)
    else:
        raise InputError(f"a site is a name, an id, a (lon, lat) pair or a shapely geometry, "
                         f"not {type(site).__name__}")
    if s.geometry is None:
        raise NoGeometryError(f"{s.id} ({s.name}) has no geometry: {s.note}")
    return s


def _target(layer, gpkg) -> tuple[str, SpatialIndex]:
    if isinstance(layer, SpatialIndex):
        return "features", layer
    if isinstance(layer, gpd.GeoDataFrame):
        return "features", SpatialIndex(layer)
    if not isinstance(layer, str):
        raise InputError(f"layer is a layer name or a GeoDataFrame, not {type(layer).__name__}")
    return layer, _layer_index(layer, gpkg)


def _result(layer_name: str, idx: SpatialIndex, site: Site, res, own_columns: bool) -> gpd.GeoDataFrame:
    rows, dist, az, lon2, lat2 = res
    if own_columns:
        out = idx.frame.iloc[rows].copy()
        out["distance_km"] = dist / 1000.0
        out["bearing_deg"] = az
    else:
        uniform = idx.uniform(layer_name)
        cols = {c: uniform[c][rows] for c in NEAR_COLUMNS[:9]}
        cols.update(distance_km=dist / 1000.0, bearing_deg=az, lon=lon2, lat=lat2,
                    site_id=np.full(len(rows), site.id, dtype=object),
                    site_precision=np.full(len(rows), site.precision, dtype=object))
        out = gpd.GeoDataFrame(cols, geometry=idx.values[rows], crs="EPSG:4326")
    out.attrs.update({
        "site": site.describe(), "site_id": site.id, "site_name": site.name,
        "site_layer": site.layer, "site_precision": site.precision, "layer": layer_name,
        "features_without_geometry": idx.n_without_geometry,
        "method": ("candidates from an STRtree in EPSG:5179 (radius grown by the projection's "
                   "largest scale factor), distances on the WGS 84 ellipsoid (pyproj.Geod)"),
    })
    return out


def _drop_self(layer_name: str, idx: SpatialIndex, site: Site, res):
    if site.layer != layer_name:
        return res
    keep = idx.uniform(layer_name)["id"][res[0]] != site.id
    return tuple(a[keep] for a in res)


def near(
    site: str | Site | tuple | shapely.Geometry,
    km: float = 25.0,
    layer: str | gpd.GeoDataFrame | SpatialIndex = "mines",
    gpkg: Path | str | None = None,
    site_layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Every feature of a layer within ``km`` of a site, nearest first.

    Distances are geodesic on WGS 84 (``pyproj.Geod``); candidates come from
    a spatial index in EPSG:5179 with a margin that cannot miss one (see
    :class:`SpatialIndex`). The site itself is left out when it belongs to
    the layer searched.

    Parameters
    ----------
    site : str, Site, (lon, lat) or shapely geometry
        A name or id resolved with :func:`resolve` (it must be unambiguous),
        or a location in EPSG:4326.
    km : float, default 25
        The radius.
    layer : str, geopandas.GeoDataFrame or SpatialIndex, default "mines"
        A layer of the atlas (``mines``, ``named_mines``, ``camps``,
        ``mineral_deposits``, ``counties``, a ``user_`` layer, ...) or your
        own features.
    gpkg : pathlib.Path or str, optional
        The atlas GeoPackage; defaults to ``output/atlas.gpkg``.
    site_layer : str, optional
        Resolve the site in this layer only (``Yodok`` → the camp with
        ``site_layer="camps"``).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`NEAR_COLUMNS` and ``geometry``: the feature's ``id``,
        ``name``, ``kind``, ``commodity``, ``precision``,
        ``location_precision``, ``source``, ``province``, ``county``,
        ``distance_km``, ``bearing_deg`` (from the site, clockwise from
        north; NaN at 0 km), ``lon``/``lat`` of the point measured to, and
        the site's id and precision. ``attrs["site"]`` says what the site's
        location means (a kwan-li-so point marks one spot in a camp of
        hundreds of km²).

    Raises
    ------
    NoGeometryError
        The site has no public coordinate (e.g. ``KLS-18T``).
    AmbiguousError, NotFoundError
        The site name does not resolve to exactly one feature.
    InputError
        A negative radius, an unknown layer.

    Examples
    --------
    >>> import atlas
    >>> mines = atlas.near("KLS-14", km=25)
    >>> bool(mines["distance_km"].is_monotonic_increasing and (mines["distance_km"] <= 25).all())
    True
    >>> "camp" in mines.attrs["site"]
    True
    """
    return _radius_query(site, km, layer, gpkg, site_layer, own_columns=False)


def _radius_query(site, km, layer, gpkg, site_layer, own_columns: bool) -> gpd.GeoDataFrame:
    """Every feature of ``layer`` within ``km`` of ``site``, nearest first (near and within)."""
    s = _site_geometry(site, gpkg, site_layer)
    name, idx = _target(layer, gpkg)
    res = _drop_self(name, idx, s, idx.query(s.geometry, km))
    out = _result(name, idx, s, res, own_columns=own_columns)
    out.attrs["km"] = float(km)
    return out


def nearest(
    site: str | Site | tuple | shapely.Geometry,
    layer: str | gpd.GeoDataFrame | SpatialIndex = "mines",
    k: int = 5,
    gpkg: Path | str | None = None,
    site_layer: str | None = None,
) -> gpd.GeoDataFrame:
    """The ``k`` features of a layer nearest a site, on the ellipsoid.

    Parameters
    ----------
    site : str, Site, (lon, lat) or shapely geometry
        As for :func:`near`.
    layer : str, geopandas.GeoDataFrame or SpatialIndex, default "mines"
    k : int, default 5
    gpkg : pathlib.Path or str, optional
    site_layer : str, optional
        Resolve the site in this layer only.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`near`, at most ``k`` rows, nearest first.

    Raises
    ------
    NoGeometryError, AmbiguousError, NotFoundError, InputError
        As for :func:`near`; ``k`` below 1.

    Examples
    --------
    >>> import atlas
    >>> top = atlas.nearest("KLS-15", "mines", k=3)
    >>> len(top), bool(top["distance_km"].is_monotonic_increasing)
    (3, True)
    """
    s = _site_geometry(site, gpkg, site_layer)
    name, idx = _target(layer, gpkg)
    exclude = set()
    if s.layer == name:
        exclude = set(np.flatnonzero(idx.uniform(name)["id"] == s.id).tolist())
    out = _result(name, idx, s, idx.nearest(s.geometry, k, exclude), own_columns=False)
    out.attrs["k"] = int(k)
    return out


def within(
    site: str | Site | tuple | shapely.Geometry,
    km: float,
    layer: str | gpd.GeoDataFrame | SpatialIndex = "mines",
    gpkg: Path | str | None = None,
    site_layer: str | None = None,
) -> gpd.GeoDataFrame:
    """The features of a layer within ``km`` of a site, with the layer's own columns.

    The same search as :func:`near`, returned as the layer's rows (its own
    schema, index and CRS) plus ``distance_km`` and ``bearing_deg``, nearest
    first: ready for a user's further analysis or to write out.

    Parameters
    ----------
    site : str, Site, (lon, lat) or shapely geometry
        As for :func:`near`.
    km : float
    layer : str, geopandas.GeoDataFrame or SpatialIndex, default "mines"
    gpkg : pathlib.Path or str, optional
    site_layer : str, optional

    Returns
    -------
    geopandas.GeoDataFrame

    Raises
    ------
    NoGeometryError, AmbiguousError, NotFoundError, InputError
        As for :func:`near`.

    Examples
    --------
    >>> import atlas
    >>> sub = atlas.within("KHS-77", 30, "mines")
    >>> {"mine_id", "commodity", "distance_km"} <= set(sub.columns)
    True
    """
    return _radius_query(site, km, layer, gpkg, site_layer, own_columns=True)


# --- summaries -------------------------------------------------------------------------------


def _count_by(frame: pd.DataFrame, key: str, kinds: dict[str, pd.Series]) -> pd.DataFrame:
    return pd.DataFrame({k: v.groupby(frame[key].fillna("\0")).sum() for k, v in kinds.items()})


def _by_type(classes: pd.Series) -> str:
    from .schema import COMMODITY_CLASSES

    counts = classes.value_counts()
    return "; ".join(f"{c} {int(counts[c])}" for c in COMMODITY_CLASSES if counts.get(c, 0))


def _joined(layer: str, gpkg, cols: list[str]) -> gpd.GeoDataFrame:
    df = _layer(layer, gpkg)
    return assign_admin(df[[*cols, "geometry"]], gpkg)


def _features(gpkg) -> dict[str, gpd.GeoDataFrame]:
    mines = _joined("mines", gpkg, ["mine_id", "commodity_class"])
    camps = _joined("camps", gpkg, ["site_id", "kind"])
    named = _joined("named_mines", gpkg, ["named_id", "commodity_class"])
    feats = {"mines": mines, "camps": camps, "named_mines": named}
    for name, gtype in io.list_layers(gpkg):
        if name.startswith("user_") and gtype is not None:  # a user's imported layer: one count column
            feats[name] = _joined(name, gpkg, [])
    return feats


def _user_columns(feats: dict) -> list[str]:
    return [k for k in feats if k.startswith("user_")]


_UNKNOWN = "Unidentified or unknown"
_SUMMARY_COUNTS = ["geolocated_mines", "geolocated_by_type", "kwan_li_so", "kyo_hwa_so",
                   "other_camp_sites", "named_mines"]


def _counts(feats: dict[str, gpd.GeoDataFrame], key: str, value) -> dict:
    """The geolocated columns for the features whose ``key`` equals ``value`` (None: unassigned)."""
    def sel(df):
        v = df[key].astype(object)
        return df[v.isna()] if value is None else df[v == value]

    m, c, n = sel(feats["mines"]), sel(feats["camps"]), sel(feats["named_mines"])
    users = {k: len(sel(feats[k])) for k in _user_columns(feats)}
    return {
        "geolocated_mines": len(m) if value is not None else int((~m.geometry.isna() & ~m.geometry.is_empty).sum()),
        "geolocated_by_type": _by_type(m["commodity_class"]),
        "kwan_li_so": int((c["kind"] == "kwan-li-so").sum()),
        "kyo_hwa_so": int((c["kind"] == "kyo-hwa-so").sum()),
        "other_camp_sites": int((c["kind"] == "other").sum()),
        "named_mines": len(n),
        **users,
    }


def _summary_attrs(gpkg) -> dict:
    prov = _layer("provinces", gpkg)
    cnty = _layer("counties", gpkg)
    return {
        "boundary_source": f"provinces: {prov['boundary_source'].iloc[0]}; counties: "
                           f"{cnty['source'].iloc[0]} ({cnty['attribution'].iloc[0]})",
        "boundary_vintage": f"{prov['boundary_vintage'].iloc[0]}; counties: "
                            f"{cnty['boundary_vintage'].iloc[0]}",
        "report": str(prov["report_ref"].iloc[0]),
        "method": ("features counted by a spatial join in EPSG:5179 against the "
                   "GeoPackage's boundaries (atlas.assign_admin; points up to 5 km outside every "
                   "polygon go to the nearest); the 'Unidentified or unknown' row counts features "
                   "without a public coordinate or outside every unit"),
        "gpkg": str(Path(gpkg or io.default_gpkg())),
    }


def province_summary(gpkg: Path | str | None = None) -> pd.DataFrame:
    """The report's Table 2 beside the atlas's geolocated features, per province.

    Parameters
    ----------
    gpkg : pathlib.Path or str, optional
        The atlas GeoPackage; defaults to ``output/atlas.gpkg``.

    Returns
    -------
    pandas.DataFrame
        One row per report province in Table 2's order, then
        ``Unidentified or unknown`` and ``Total``. Columns: ``province``,
        ``reported_mines`` and ``reported_share_pct`` (Table 2 as printed),
        ``geolocated_mines`` and ``geolocated_by_type`` (the mines layer, by
        Table 1 class), ``kwan_li_so``, ``kyo_hwa_so``, ``other_camp_sites``
        (camps), ``named_mines`` (the mines and districts the report names,
        by their point; town proxies included) - each counted by spatial
        join, and in the unknown row the features with no public coordinate;
        then one count column per layer a user imported (``user_<name>``,
        see :func:`atlas.import_layer`). ``attrs`` holds ``boundary_source``, ``boundary_vintage``, ``report``
        and ``method``.

    Raises
    ------
    NotFoundError
        No GeoPackage at ``gpkg``.

    Examples
    --------
    >>> import atlas
    >>> t = atlas.province_summary().set_index("province")
    >>> int(t.loc["Total", "reported_mines"]), float(t.loc["South Pyongan Province", "reported_share_pct"])
    (360, 22.8)
    """
    prov = _layer("provinces", gpkg).sort_values("table2_order")
    t2 = _layer("report_table_2", gpkg)
    feats = _features(gpkg)
    rows = []
    for _, p in prov.iterrows():
        rows.append({"province": p["name_en"], "reported_mines": int(p["reported_mines"]),
                     "reported_share_pct": float(p["reported_share_pct"]),
                     **_counts(feats, "province", p["name_en"])})
    unk = t2[t2["row_kind"] == "unidentified"].iloc[0]
    rows.append({"province": _UNKNOWN, "reported_mines": int(unk["mines"]),
                 "reported_share_pct": float(unk["share_pct_printed"]),
                 **_counts(feats, "province", None)})
    total = t2[t2["row_kind"] == "total"].iloc[0]
    rows.append(_total(rows, "province", {"reported_mines": int(total["mines"]),
                                          "reported_share_pct": float(total["share_pct_printed"])},
                       feats))
    out = pd.DataFrame(rows, columns=["province", "reported_mines", "reported_share_pct",
                                      *_SUMMARY_COUNTS, *_user_columns(feats)])
    out.attrs.update(_summary_attrs(gpkg))
    return out


def _total(rows: list[dict], label_col: str, fixed: dict, feats) -> dict:
    tot = {label_col: "Total", **fixed}
    for c in [*_SUMMARY_COUNTS, *_user_columns(feats)]:
        if c == "geolocated_by_type":
            m = feats["mines"]
            tot[c] = _by_type(m.loc[~(m.geometry.isna() | m.geometry.is_empty), "commodity_class"])
        else:
            tot[c] = int(sum(r[c] for r in rows))
    return tot


def county_summary(gpkg: Path | str | None = None, include_empty: bool = False) -> pd.DataFrame:
    """The atlas's geolocated features per county (the report gives no county figures).

    Parameters
    ----------
    gpkg : pathlib.Path or str, optional
        The atlas GeoPackage; defaults to ``output/atlas.gpkg``.
    include_empty : bool, default False
        Also list the counties holding no feature.

    Returns
    -------
    pandas.DataFrame
        One row per county (by its report province in Table 2's order, then
        name), then ``Unidentified or unknown`` and ``Total``. Columns:
        ``county``, ``county_ko``, ``county_id``, ``province`` (the county's
        province in the counties layer) and the geolocated columns of
        :func:`province_summary`, counted by spatial join. ``attrs`` as there.

    Raises
    ------
    NotFoundError
        No GeoPackage at ``gpkg``.

    Examples
    --------
    >>> import atlas
    >>> t = atlas.county_summary()
    >>> t.iloc[-1]["county"], int(t.iloc[-1]["kwan_li_so"]) >= 6
    ('Total', True)
    """
    cnty = _layer("counties", gpkg)
    order = {n: i for i, n in enumerate(_layer("provinces", gpkg).sort_values("table2_order")["name_en"])}
    cnty = cnty.assign(_o=cnty["province"].map(order)).sort_values(["_o", "name_en"])
    feats = _features(gpkg)
    rows = []
    for _, c in cnty.iterrows():
        counts = _counts(feats, "county_id", c["county_id"])
        if not include_empty and not any(v for k, v in counts.items() if k != "geolocated_by_type"):
            continue
        rows.append({"county": c["name_en"], "county_ko": c["name_ko"], "county_id": c["county_id"],
                     "province": c["province"], **counts})
    rows.append({"county": _UNKNOWN, "county_ko": "", "county_id": "", "province": "",
                 **_counts(feats, "county_id", None)})
    tot = _total(rows, "county", {"county_ko": "", "county_id": "", "province": ""}, feats)
    rows.append(tot)
    out = pd.DataFrame(rows, columns=["county", "county_ko", "county_id", "province", *_SUMMARY_COUNTS,
                                      *_user_columns(feats)])
    out.attrs.update(_summary_attrs(gpkg))
    return out


def summary(by: str = "province", gpkg: Path | str | None = None,
            include_empty: bool = False) -> pd.DataFrame:
    """:func:`province_summary` or :func:`county_summary`, as ``atlas summary --by``.

    Parameters
    ----------
    by : {"province", "county"}, default "province"
    gpkg : pathlib.Path or str, optional
    include_empty : bool, default False
        By county: also list the counties holding no feature.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    InputError
        ``by`` is neither ``province`` nor ``county``.

    Examples
    --------
    >>> import atlas
    >>> list(atlas.summary(by="province")["province"])[-2:]
    ['Unidentified or unknown', 'Total']
    """
    if by == "province":
        return province_summary(gpkg)
    if by == "county":
        return county_summary(gpkg, include_empty)
    raise InputError(f"summary by {by!r}: use province or county")


# --- output formats --------------------------------------------------------------------------


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(df.drop(columns="geometry")) if "geometry" in df.columns else df


def _cell(v, width: int | None = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        s = f"{v:.3f}".rstrip("0") if abs(v) < 1e6 else f"{v:.0f}"
        s = s + "0" if s.endswith(".") else s
    else:
        s = str(v).replace("\n", " ")
    if width and len(s) > width:
        s = s[: width - 1] + "…"
    return s


def format_table(df: pd.DataFrame, fmt: str = "table", columns: list[str] | None = None,
                 header: Iterable[str] = (), footer: Iterable[str] = (), meta: dict | None = None,
                 width: int = 42) -> str:
    """Render a query result as text: ``table``, ``csv``, ``json``, ``geojson`` or ``markdown``.

    Parameters
    ----------
    df : pandas.DataFrame or geopandas.GeoDataFrame
    fmt : {"table", "csv", "json", "geojson", "markdown"}
    columns : list of str, optional
        Columns for ``table`` and ``markdown`` (all by default); ``csv``,
        ``json`` and ``geojson`` always carry every column.
    header, footer : iterable of str
        Lines around a ``table`` or ``markdown`` (notes on the site, sources).
    meta : dict, optional
        Carried as ``"meta"`` in ``json`` and as a foreign member ``"atlas"`` in ``geojson``.
    width : int, default 42
        Longest cell in a ``table``.

    Returns
    -------
    str

    Raises
    ------
    InputError
        An unknown format, or ``geojson`` for a result without geometry.

    Examples
    --------
    >>> import pandas as pd
    >>> from atlas.query import format_table
    >>> print(format_table(pd.DataFrame({"a": [1], "b": ["x|y"]}), "markdown"))
    | a | b |
    |---|---|
    | 1 | x\\|y |
    """
    plain = _plain(df)
    if fmt == "csv":
        return plain.to_csv(index=False)
    if fmt == "json":
        rows = json.loads(plain.to_json(orient="records", force_ascii=False, double_precision=10))
        return json.dumps({"meta": meta or {}, "rows": rows}, ensure_ascii=False, indent=1)
    if fmt == "geojson":
        if not isinstance(df, gpd.GeoDataFrame):
            raise InputError("geojson needs features with geometry; use csv or json")
        data = json.loads(df.to_json(na="null", drop_id=True, to_wgs84=True))
        data["atlas"] = meta or {}
        return json.dumps(data, ensure_ascii=False)
    cols = [c for c in (columns or list(plain.columns)) if c in plain.columns]
    if fmt == "markdown":
        def esc(v):
            return _cell(v).replace("|", "\\|")

        lines = [*header, *([""] if header else [])]
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "|".join("---" for _ in cols) + "|")
        lines += ["| " + " | ".join(esc(v) for v in row) + " |"
                  for row in plain[cols].itertuples(index=False)]
        if footer:
            lines += ["", *footer]
        return "\n".join(lines)
    if fmt == "table":
        cells = [[_cell(v, width) for v in row] for row in plain[cols].itertuples(index=False)]
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
        numeric = [pd.api.types.is_numeric_dtype(plain[c]) and not pd.api.types.is_bool_dtype(plain[c])
                   for c in cols]

        def line(vals):
            return "  ".join(v.rjust(w) if num else v.ljust(w)
                             for v, w, num in zip(vals, widths, numeric)).rstrip()

        out = [*header, line(cols), line(["-" * w for w in widths]), *(line(r) for r in cells)]
        return "\n".join([*out, *footer])
    raise InputError(f"unknown format {fmt!r}: use table, csv, json, geojson or markdown")
