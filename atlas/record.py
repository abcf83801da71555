"""A site's whole record: every field, its findings, its published coordinates, the report's discrepancies.

:func:`record` gathers, for one feature of the atlas (a camp, a mine, a
named mine, a county, a user's point; resolved by id, number or any name as
:func:`atlas.resolve` does), everything the GeoPackage holds about it:

* every field of its row, in the layer's order, and its coordinates;
* for a camp, every finding (``camp_findings``), oldest first, with its
  source and page, and every published coordinate (``coordinate_candidates``)
  with its distance from the point the atlas uses; for a mine, the other
  published coordinates its ``cross_checks`` field lists;
* the report's discrepancies (``report_discrepancies``) that touch it, by
  the rules of :func:`discrepancies_for`.

:func:`show` prints it as a text table, JSON or Markdown (``atlas show``).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .formats import cell_text
from .provenance import about
from .schema import SCHEMAS
from .search import resolve
from .store import USER_PREFIX, Atlas, open_atlas
from .style import KIND_LABELS, finding_order, finding_type_label, page_ref

__all__ = ["FORMATS", "Record", "discrepancies_for", "passages_for", "record", "records", "show"]

#: Output formats of :func:`show` and ``atlas show``.
FORMATS = ("table", "json", "markdown")
_DISCREPANCY_TEXT = ("subject", "reading_a", "reading_a_where", "reading_b", "reading_b_where")
# words that name a class of things, not one site
_GENERIC = {"mine", "mines", "coal", "iron", "copper", "gold", "lead", "zinc", "magnesite", "youth",
            "hero", "complex", "district", "camp", "prison", "county", "city", "province", "area",
            "mmi", "plant", "concentration", "uranium", "mineral", "deposit", "region", "north",
            "south", "remnant", "original", "site", "suspected", "enterprise", "political", "labour",
            "labor", "total", "control", "zone", "zones", "revolutionizing", "workers"}


def _plain(v):
    """A cell as a JSON-ready value (None when empty)."""
    if not cell_text(v):
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return int(v) if float(v).is_integer() and abs(v) < 1e15 else float(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()[:10] if getattr(v, "hour", 0) == 0 else v.isoformat()
    return str(v)


@dataclass
class Record:
    """Everything the atlas holds about one feature.

    Attributes
    ----------
    layer, id, name : str
    fields : dict
        Every field of the feature's row (``None`` when empty), in the layer's order.
    coordinates : list of dict
        The point the atlas uses first (``role="atlas point"``), then every
        other published coordinate with its source and distance (km, geodesic).
    findings : list of dict
        A camp's findings, oldest first, with ``type_in_words``, source and page.
    discrepancies : list of dict
        The report's discrepancies that touch the feature, each with
        ``why`` (how it was linked).
    passages : list of dict
        What the report says about it, quoted (:func:`passages_for`): each
        with its citation by section, paragraph, page and lines.
    status : dict
        A camp's or mine's status as of the atlas's build date, by the one rule
        (:func:`atlas.status_at`, :meth:`atlas.SiteStatus.as_dict`); empty for other layers.
    meta : dict
        :func:`atlas.about` of the GeoPackage: version, build date, sha256, sources.
    """

    layer: str
    id: str
    name: str
    fields: dict
    coordinates: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    discrepancies: list = field(default_factory=list)
    passages: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    status: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The record as plain data (what ``--format json`` prints)."""
        return {"meta": self.meta, "layer": self.layer, "id": self.id, "name": self.name,
                "status": self.status, "fields": self.fields, "coordinates": self.coordinates,
                "findings": self.findings, "passages": self.passages, "discrepancies": self.discrepancies}

    def _status_lines(self) -> list[str]:
        s = self.status
        if not s:
            return []
        return [f"Status {s['summary']}",
                f"Evidence: tier {s['evidence_tier']}, {s['evidence_tier_label']}; {s['reason']}"]

    def to_json(self) -> str:
        """JSON, UTF-8 text (Hangul kept as is)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    def to_text(self, width: int = 100) -> str:
        """A plain-text view for a terminal."""
        out = [self._title(), "=" * min(width, len(self._title())), ""]
        if self.status:
            out += [_wrap(line, width, 2) for line in self._status_lines()] + [""]
        key_w = max((len(k) for k in self.fields), default=10)
        for k, v in self.fields.items():
            out.append(f"{k:<{key_w}}  {_wrap(v, width - key_w - 2, key_w + 2)}")
        out += ["", f"Coordinates ({len(self.coordinates)})", "-" * 15]
        for c in self.coordinates:
            out.append("  " + _wrap(_coordinate_line(c), width - 2, 4))
        if not self.coordinates:
            out.append("  no public coordinate")
        if self.status or self.findings:
            out += ["", f"Findings, oldest first ({len(self.findings)})", "-" * 25]
            for f in self.findings:
                out.append("  " + _wrap(_finding_line(f), width - 2, 4))
            if not self.findings:
                out.append("  none recorded")
        if self.passages:
            out += ["", f"What the report says ({len(self.passages)})", "-" * 24]
            for p in self.passages:
                out.append("  " + _wrap(_passage_line(p), width - 2, 4))
        out += ["", f"Report discrepancies touching it ({len(self.discrepancies)})", "-" * 33]
        for d in self.discrepancies:
            out.append("  " + _wrap(_discrepancy_text(d), width - 2, 4))
        if not self.discrepancies:
            out.append("  none")
        out += ["", _wrap(_meta_line(self.meta), width, 0)]
        return "\n".join(out)

    def to_markdown(self) -> str:
        """Markdown: a field table, then coordinates, findings and discrepancies as lists."""
        def esc(v) -> str:
            return ("" if v is None else str(v)).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

        out = [f"# {esc(self._title())}", ""]
        out += [*(f"{esc(line)}  " for line in self._status_lines()), *([""] if self.status else [])]
        out += ["| field | value |", "|---|---|"]
        out += [f"| {esc(k)} | {esc(v)} |" for k, v in self.fields.items()]
        out += ["", f"## Coordinates ({len(self.coordinates)})", ""]
        out += [f"- {esc(_coordinate_line(c))}" for c in self.coordinates] or ["- no public coordinate"]
        if self.status or self.findings:
            out += ["", f"## Findings, oldest first ({len(self.findings)})", ""]
            out += [f"1. {esc(_finding_line(f))}" for f in self.findings] or ["- none recorded"]
        if self.passages:
            out += ["", f"## What the report says ({len(self.passages)})", ""]
            out += [f"- {esc(_passage_line(p))}" for p in self.passages]
        out += ["", f"## Report discrepancies touching it ({len(self.discrepancies)})", ""]
        out += [f"- {esc(_discrepancy_text(d))}" for d in self.discrepancies] or ["- none"]
        out += ["", f"_{esc(_meta_line(self.meta))}_"]
        return "\n".join(out)

    def format(self, fmt: str = "table") -> str:
        """The record as ``table`` (text), ``json`` or ``markdown``."""
        if fmt == "table":
            return self.to_text()
        if fmt == "json":
            return self.to_json()
        if fmt == "markdown":
            return self.to_markdown()
        raise InputError(f"unknown format {fmt!r}: use {', '.join(FORMATS)}")

    def __str__(self) -> str:
        return self.to_text()

    def _repr_markdown_(self) -> str:  # a notebook shows the Markdown view
        return self.to_markdown()

    def _title(self) -> str:
        kind = KIND_LABELS.get(str(self.fields.get("kind") or "")) if self.layer == "camps" else None
        where = f"{self.layer}: {kind}" if kind else self.layer
        return f"{self.id} {self.name} [{where}]" if self.id != self.name else f"{self.name} [{where}]"


def _wrap(value, width: int, indent: int) -> str:
    import textwrap

    text = "" if value is None else str(value)
    lines = textwrap.wrap(text, max(width, 30), break_on_hyphens=False) or [""]
    return ("\n" + " " * indent).join(lines)


def _coordinate_line(c: dict) -> str:
    where = f"{c['lat']:.6f}, {c['lon']:.6f}" if c.get("lat") is not None else "(no coordinate)"
    dist = c.get("distance_km")
    parts = [f"{c['role']}: {where}", f"source: {c.get('source') or 'not given'}"]
    if dist is not None and c["role"] != "atlas point":
        parts.append(f"{dist:g} km from the atlas point")
    for k in ("precision", "note"):
        if c.get(k):
            parts.append(f"{k}: {c[k]}")
    return "; ".join(parts)


def _finding_line(f: dict) -> str:
    page = f" {page_ref(f.get('page'))}" if page_ref(f.get("page")) else ""
    src = f.get("source_report") or "source not given"
    return (f"{f.get('finding_id')}  {f.get('observed_text') or 'undated'} [{f.get('type_in_words')}] "
            f"{f.get('description') or ''} (source: {src}{',' + page if page else ''})")


def _passage_line(p: dict) -> str:
    via = f" [{p['via']}]" if p.get("via") else ""
    labour = " (forced labour)" if p.get("forced_labour") else ""
    return f"{p['passage_id']}{labour}: \u201c{p['quote']}\u201d ({p['cite']}){via}"


def _discrepancy_text(d: dict) -> str:
    return (f"{d.get('discrepancy_id')}: {d.get('subject')}. Reading A: {d.get('reading_a')} "
            f"({d.get('reading_a_where')}). Reading B: {d.get('reading_b')} ({d.get('reading_b_where')})."
            + (f" Check: {d['geography_or_check']}." if d.get("geography_or_check") else "")
            + (f" In the atlas: {d['atlas_treatment']}." if d.get("atlas_treatment") else "")
            + f" [linked: {d.get('why')}]")


def _meta_line(meta: dict) -> str:
    if not meta:
        return ""
    return (f"From {meta.get('gpkg')} (sha256 {meta.get('gpkg_sha256')}), built {meta.get('build_date')}, "
            f"atlas {meta.get('atlas_version')}.")


# --- gathering ----------------------------------------------------------------------------


def _row(layer: str, frame: pd.DataFrame, site_id: str) -> pd.Series:
    schema = SCHEMAS.get(layer)
    id_col = schema.id_field if schema and schema.id_field in frame.columns else (
        "user_id" if "user_id" in frame.columns else None)
    if id_col is None:
        raise InputError(f"layer {layer!r} has no id column; cannot show one of its features")
    hits = frame[frame[id_col].astype(str) == str(site_id)]
    if hits.empty:
        raise InputError(f"no feature {site_id!r} in layer {layer!r}")
    return hits.iloc[0]


def _fields(row: pd.Series) -> dict:
    out = {k: _plain(v) for k, v in row.items() if k != "geometry"}
    geom = row.get("geometry")
    if geom is not None and not getattr(geom, "is_empty", True):
        rep = geom if geom.geom_type == "Point" else geom.representative_point()
        out.setdefault("lat", round(float(rep.y), 6))
        out.setdefault("lon", round(float(rep.x), 6))
        if geom.geom_type != "Point":
            out["geometry"] = f"{geom.geom_type} (lat/lon above: a point inside it)"
    return out


def _finding_key(f: dict) -> tuple:
    return finding_order(f.get("date_start"), f.get("date_end"), f.get("finding_id"))


def _by_site(atlas: Atlas, name: str) -> dict[str, list[dict]]:
    """A findings table's rows as plain dicts by site, oldest first: grouped once per atlas."""
    def build() -> dict[str, list[dict]]:
        if not atlas.has(name):
            return {}
        out: dict[str, list[dict]] = {}
        for r in atlas.layer(name).to_dict("records"):
            row = {k: _plain(v) for k, v in r.items()}
            row["type_in_words"] = finding_type_label(row.get("finding_type"))
            out.setdefault(str(r["site_id"]), []).append(row)
        return {k: sorted(v, key=_finding_key) for k, v in out.items()}

    return atlas.memo(("record:findings", name), build)


def _findings(site_id: str, atlas: Atlas, layer: str = "camp_findings") -> list[dict]:
    return [dict(f) for f in _by_site(atlas, layer).get(str(site_id), [])]


def _published(atlas: Atlas) -> dict[str, list[dict]]:
    """Every camp's published coordinates (``coordinate_candidates``), nearest first: once per atlas."""
    def build() -> dict[str, list[dict]]:
        if not atlas.has("coordinate_candidates"):
            return {}
        cands = atlas.layer("coordinate_candidates")
        cands = cands.assign(_d=pd.to_numeric(cands["distance_km_from_atlas_point"], errors="coerce"))
        out: dict[str, list[dict]] = {}
        for _, c in cands.sort_values(["_d", "candidate_id"], na_position="last", kind="stable").iterrows():
            g = c.geometry
            out.setdefault(str(c["site_id"]), []).append({
                "role": "published coordinate" + (" (the one the atlas uses)" if bool(c.get("is_atlas_point")) else ""),
                "candidate_id": _plain(c["candidate_id"]),
                "lat": None if g is None or g.is_empty else round(float(g.y), 6),
                "lon": None if g is None or g.is_empty else round(float(g.x), 6),
                "source": _plain(c.get("source")), "distance_km": _plain(c["_d"]),
                "note": _plain(c.get("note"))})
        return out

    return atlas.memo("record:candidates", build)


def _candidates(row: pd.Series, layer: str, site_id: str, atlas: Atlas) -> list[dict]:
    out = []
    geom = row.get("geometry")
    if geom is not None and not getattr(geom, "is_empty", True) and geom.geom_type == "Point":
        out.append({"role": "atlas point", "lat": round(float(geom.y), 6), "lon": round(float(geom.x), 6),
                    "source": _plain(row.get("source")), "distance_km": 0.0,
                    "precision": _plain(row.get("precision")),
                    "note": _plain(row.get("location_precision"))})
    if layer == "camps":
        out += [dict(c) for c in _published(atlas).get(str(site_id), [])]
    checks = _plain(row.get("cross_checks"))
    if checks:  # mines: "source: lat, lon (x km from this point) | ..."
        for part in str(checks).split(" | "):
            m = re.match(r"^(?P<src>.*): (?P<lat>-?[\d.]+), (?P<lon>-?[\d.]+) \((?P<km>[\d.]+) km", part)
            if m:
                out.append({"role": "published coordinate", "lat": float(m["lat"]), "lon": float(m["lon"]),
                            "source": m["src"], "distance_km": float(m["km"])})
    return out


#: How a mine of the ``mines`` layer stands to a mine the report names at the same point (``named_mines``).
_VIA = {
    "the mine": "the report's {name} ({id}) is this mine",
    "a mine of the district": "the report names {name} ({id}); this mine is one of its mines",
    "probable same mine (inferred from the name)": ("the report's {name} ({id}) is probably this mine: "
                                                    "the atlas's inference, stated by no source"),
}


def _passage_index(atlas: Atlas) -> tuple[dict[str, list[dict]], list]:
    """The report's passages by the site ids they name (table order), and the named mines a mine's
    passages may come through (``[(named_id, how, point), ...]``): built once per atlas."""
    def build():
        index: dict[str, list[dict]] = {}
        if atlas.has("report_passages"):
            for r in atlas.layer("report_passages").itertuples():
                p = {"passage_id": cell_text(r.passage_id), "quote": cell_text(r.quote),
                     "cite": cell_text(r.report_ref), "section": cell_text(r.section),
                     "paragraph": cell_text(r.paragraph), "page": cell_text(r.page),
                     "lines": cell_text(r.lines), "about": cell_text(r.about),
                     "forced_labour": cell_text(getattr(r, "forced_labour", "")) == "yes"}
                for key in {x.strip() for x in str(r.site_ids).split(";")}:
                    index.setdefault(key, []).append(p)
        named = []
        if atlas.has("named_mines"):
            for r in atlas.layer("named_mines").itertuples():
                how = _VIA.get(str(r.location_role))
                if how and r.geometry is not None and not r.geometry.is_empty:
                    named.append((str(r.named_id), how.format(name=cell_text(r.name_in_report), id=r.named_id),
                                  r.geometry))
        return index, named

    return atlas.memo("record:passages", build)


def _passages(layer: str, site_id: str, point, atlas: Atlas) -> list[dict]:
    index, named = _passage_index(atlas)
    if not index:
        return []
    links = [(str(site_id), "")]
    if layer == "mines" and point is not None and not point.is_empty:
        links += [(nid, how) for nid, how, g in named if g.distance(point) < 1e-6]
    out, seen = [], set()
    for key, via in links:
        for p in index.get(key, []):
            if p["passage_id"] not in seen:
                seen.add(p["passage_id"])
                out.append({**p, "via": via})
    return sorted(out, key=lambda p: (not p["forced_labour"], p["passage_id"]))


def passages_for(layer: str, site_id: str, atlas: Atlas) -> list[dict]:
    """What the report says about a site, quoted and cited by section, paragraph, page and lines.

    The passages (``report_passages``) that name the site, then, for a mine
    of the ``mines`` layer, those of the mine or district the report names at
    its very point (``named_mines``: the same mine, a mine of the district, or
    a probable same mine; never a town proxy or a nearby mine), each with
    ``via`` saying how the two are linked. Passages on forced or prison labour
    come first (``forced_labour``), then by id.

    Parameters
    ----------
    layer, site_id : str
        The site (``"mines"``, ``"M034"``).
    atlas : Atlas
        The opened atlas.

    Returns
    -------
    list of dict
        ``passage_id``, ``quote``, ``cite`` (the report, section, paragraph,
        page and lines), ``section``, ``paragraph``, ``page``, ``lines``,
        ``about``, ``forced_labour`` (bool) and ``via`` (empty when the
        passage names the site itself).
    """
    point = None
    if layer == "mines" and atlas.has("mines"):
        mine = atlas.layer("mines")
        geom = mine.loc[mine["mine_id"].astype(str) == str(site_id), "geometry"]
        point = geom.iloc[0] if len(geom) else None
    return _passages(layer, site_id, point, atlas)


def _names(fields: dict) -> set[str]:
    words = set()
    for key in ("name", "name_in_report", "alt_names", "name_en"):
        for w in re.split(r"[\s;,/()'\-]+", str(fields.get(key) or "")):
            if len(w) >= 5 and w.isascii() and w.lower() not in _GENERIC and not w.isdigit():
                words.add(w.lower())
    return words


def discrepancies_for(layer: str, fields: dict, table: pd.DataFrame) -> list[dict]:
    """The report's discrepancies that touch one feature, each with why it was linked.

    A discrepancy touches a feature when (in this order): the feature's
    ``discrepancy_ref`` names it; its text names a camp by kind and number
    (``camp 15``, ``political prison camp 15``, ``kwan-li-so 15``,
    ``kyo-hwa-so No. 4``); its subject is about every camp of the feature's
    kind (``a political prison camp``: every kwan-li-so); or its subject
    holds a distinctive word of the feature's name (``Yongyang``, ``Yodok``).

    Parameters
    ----------
    layer : str
    fields : dict
        The feature's fields (:attr:`Record.fields`).
    table : pandas.DataFrame
        ``report_discrepancies``.

    Returns
    -------
    list of dict
        The discrepancy rows plus ``why``.

    Examples
    --------
    >>> import atlas
    >>> table = atlas.read_layer("report_discrepancies")
    >>> [d["discrepancy_id"] for d in discrepancies_for("camps", {"kind": "kwan-li-so", "number": "15",
    ...     "name": "Yodok (Camp 15)"}, table)]
    ['D01', 'D04', 'D10', 'D17']
    """
    return _discrepancies(layer, fields, table.to_dict("records"))


def _discrepancies(layer: str, fields: dict, rows: list[dict]) -> list[dict]:
    """:func:`discrepancies_for` over the table's rows (``report_discrepancies`` as dicts)."""
    refs = set(re.findall(r"D\d{2}", str(fields.get("discrepancy_ref") or "")))
    kind, number = str(fields.get("kind") or ""), str(fields.get("number") or "").strip().lstrip("0")
    number_re = None
    if layer == "camps" and number.isdigit():
        if kind == "kwan-li-so":
            number_re = re.compile(rf"\b(?:camp|kwan-li-so|kwalliso)\s*(?:no\.?\s*)?{number}\b", re.I)
        elif kind == "kyo-hwa-so":
            number_re = re.compile(rf"\bkyo-hwa-so\)?\s*(?:no\.?\s*)?{number}\b", re.I)
    generic = {"kwan-li-so": re.compile(r"\ba political prison camp\b", re.I),
               "kyo-hwa-so": re.compile(r"\ba (?:prison labou?r camp|kyo-hwa-so)\b", re.I)}.get(kind)
    words = _names(fields)
    out = []
    for r in rows:
        text = " ".join(str(r.get(c) or "") for c in _DISCREPANCY_TEXT)
        subject = str(r.get("subject") or "")
        subject_words = {w.lower() for w in re.split(r"[\s;,/()'\-]+", subject)}
        why = ""
        if r.get("discrepancy_id") in refs:
            why = "the feature's discrepancy_ref"
        elif number_re is not None and number_re.search(text):
            why = f"names {kind} {number}"
        elif layer == "camps" and generic is not None and generic.search(subject):
            why = f"about every {kind}"
        elif words & subject_words:
            why = "its subject names " + ", ".join(sorted(words & subject_words))
        if why:
            out.append({**{k: _plain(v) for k, v in r.items()}, "why": why})
    return out


def _gather(atlas: Atlas, layer: str, frame: pd.DataFrame, meta: dict, names: dict | None = None) -> list[Record]:
    """The record of every row of ``frame`` (rows of ``layer``): the one gathering of :func:`record`
    and :func:`records`, each table read and grouped once per atlas (:meth:`Atlas.memo`)."""
    from .sites import uniform_frame
    from .status import FINDINGS, status_at

    uniform = uniform_frame(layer, frame)
    disc = (atlas.memo("record:discrepancies", lambda: atlas.layer("report_discrepancies").to_dict("records"))
            if atlas.has("report_discrepancies") else [])
    has_status = layer in FINDINGS and atlas.has(FINDINGS[layer]) and bool(atlas.build_date)
    out = []
    for (_, row), site_id, name in zip(frame.iterrows(), uniform["id"], uniform["name"]):
        site_id = str(site_id)
        fields = {k: v for k, v in _fields(row).items() if k not in _RULE_FIELDS}  # the status is said once, below
        geom = row.get("geometry")
        out.append(Record(
            layer=layer, id=site_id, name=(names or {}).get(site_id, str(name)), fields=fields,
            coordinates=_candidates(row, layer, site_id, atlas),
            findings=_findings(site_id, atlas, FINDINGS[layer]) if layer in FINDINGS else [],
            discrepancies=_discrepancies(layer, fields, disc) if disc else [],
            passages=_passages(layer, site_id, geom if layer == "mines" else None, atlas),
            meta=meta,
            status=status_at(_SiteRef(layer, site_id), None, atlas).as_dict() if has_status else {},
        ))
    return out


@dataclass(frozen=True)
class _SiteRef:
    """A site known by layer and id (what :func:`atlas.status_at` needs: no search)."""

    layer: str
    id: str


def record(site, gpkg: Atlas | Path | str | None = None, layer: str | None = None) -> Record:
    """Everything the atlas holds about one site.

    Parameters
    ----------
    site : str or atlas.Site
        An id, camp number or name in any romanization or Hangul, resolved as
        :func:`atlas.resolve` does (it must be unambiguous).
    gpkg : path, optional
        The atlas GeoPackage; defaults to ``output/atlas.gpkg``.
    layer : str, optional
        Resolve the site in this layer only (``Yodok`` → the camp with ``camps``).

    Returns
    -------
    Record

    Raises
    ------
    AmbiguousError, NotFoundError
        The name does not resolve to exactly one feature (exit code 2).

    See Also
    --------
    records : every site of a layer at once (the map's popups, the KMZ's balloons).

    Examples
    --------
    >>> import atlas
    >>> r = atlas.record("camp 15")
    >>> r.id, r.fields["name_ko"], [d["discrepancy_id"] for d in r.discrepancies]
    ('KLS-15', '요덕 제15호 관리소', ['D01', 'D04', 'D10', 'D17'])
    >>> len(r.findings) == r.fields["n_findings"], r.coordinates[0]["role"]
    (True, 'atlas point')
    """
    atlas = open_atlas(gpkg)
    s = resolve(site, atlas, [layer] if layer else None)
    frame = None
    if s.layer.startswith(USER_PREFIX):  # the one feature, not the user's whole layer (a million points)
        try:
            frame = atlas.read(s.layer, where=f"user_id = '{str(s.id).replace(chr(39), chr(39) * 2)}'")
        except InputError:  # a store that reads whole layers only (PostGIS)
            frame = None
    if frame is None or not len(frame):
        frame = atlas.layer(s.layer)
    row = _row(s.layer, frame, s.id)
    return _gather(atlas, s.layer, frame.loc[[row.name]], about(atlas), {str(s.id): s.name})[0]


def records(layer: str, gpkg: Atlas | Path | str | None = None) -> dict[str, Record]:
    """Every feature's record of a layer, by id: what :func:`record` returns for each, gathered at once.

    Each table (the layer, its findings, the published coordinates, the
    report's passages and discrepancies) is read and grouped once for the
    whole layer, not once per site: the map's popups and the KMZ's balloons
    are views of these records, as ``atlas show`` and the dossier are of
    :func:`record`'s.

    Parameters
    ----------
    layer : str
        ``"camps"``, ``"mines"``, ``"named_mines"`` or any layer with an id column.
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas; defaults to ``output/atlas.gpkg``.

    Returns
    -------
    dict of str to Record
        In the layer's row order, keyed by the feature's id.

    Raises
    ------
    NotFoundError
        The atlas has no such layer.
    InputError
        The layer has no id column.

    Examples
    --------
    >>> import atlas
    >>> camps = atlas.records("camps")
    >>> camps["KLS-15"].to_dict() == atlas.record("KLS-15").to_dict()
    True
    """
    atlas = open_atlas(gpkg)
    frame = atlas.layer(layer)
    schema = SCHEMAS.get(layer)
    if not ((schema and schema.id_field in frame.columns) or "user_id" in frame.columns):
        raise InputError(f"layer {layer!r} has no id column; cannot gather its features' records")
    return {r.id: r for r in _gather(atlas, layer, frame, about(atlas))}


#: The camps layer's copy of the rule's answer on the build date: ``show`` states the status once,
#: from :func:`atlas.status_at` (the same day, the same rule), not as a field.
_RULE_FIELDS = ("status_class", "status_as_of", "status_summary")


def show(site, format: str = "table", gpkg: Atlas | Path | str | None = None, layer: str | None = None,
         file=None) -> None:
    """Print a site's whole record (``atlas show``): every field, findings, coordinates, discrepancies.

    Parameters
    ----------
    site : str or atlas.Site
        As for :func:`record`.
    format : {"table", "json", "markdown"}, default "table"
    gpkg : path, optional
    layer : str, optional
        Resolve the site in this layer only.
    file : file-like, optional
        Where to print (default ``sys.stdout``).

    Raises
    ------
    InputError
        An unknown format; and as :func:`record`.

    Examples
    --------
    >>> import atlas
    >>> atlas.show("KHS-04", format="markdown")  # doctest: +ELLIPSIS
    # KHS-04 ...
    ...
    - D05: Province of kyo-hwa-so No. 4 (Kangdong)...
    ...
    """
    if format not in FORMATS:
        raise InputError(f"unknown format {format!r}: use {', '.join(FORMATS)}")
    from .redact import json_text, terminal_text

    text = record(site, gpkg, layer).format(format)  # controls from data shown escaped, never acted on
    print(json_text(text) if format == "json" else terminal_text(text), file=file or sys.stdout)

