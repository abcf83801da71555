"""How to cite one record of the atlas: a site or a finding, as text, BibTeX, CSL-JSON or RIS.

:func:`citation` gathers what a reader needs to cite one record and check it
later: the record (a camp, a mine or any feature by id or name, or a finding
by its stored id, ``F009`` or ``MF016``), the atlas version, the build date,
the sha256 of the public GeoPackage it was read from, and the record's own
sources, the report cited by section and paragraph as readers hold it
(``report_cite``). :func:`cite` writes it in one of :data:`FORMATS`:

* ``text``: one paragraph for a footnote;
* ``bibtex``: a ``@misc`` entry (BibLaTeX reads it too);
* ``csl-json``: the CSL data that Zotero, Pandoc and citeproc read;
* ``ris``: for EndNote, Zotero and Mendeley.

Where the atlas is published, set ``ATLAS_PUBLIC_URL`` (its address, e.g.
``https://example.org/atlas/``) and each citation carries the record's page
there (``dossiers/KLS-15.html``); without it, no URL is invented.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .provenance import about
from .record import record
from .sources import project_file
from .store import Atlas, open_atlas

__all__ = ["FORMATS", "PUBLIC_URL_ENV", "Citation", "citation", "cite"]

#: The formats of :func:`cite` and ``atlas cite --format``.
FORMATS = ("text", "bibtex", "csl-json", "ris")
#: The environment variable naming where the atlas is published (left out where unset).
PUBLIC_URL_ENV = "ATLAS_PUBLIC_URL"
#: Who the atlas is by, as CITATION.cff names its authors.
AUTHOR = "Gulag, Inc. atlas contributors"
TITLE = "Gulag, Inc. atlas: North Korea's mines and prison camps"
_FINDING_LAYERS = ("camp_findings", "mine_findings")
_FINDING_ID = re.compile(r"^M?F\d{3,}$", re.IGNORECASE)


@dataclass(frozen=True)
class Citation:
    """One record of the atlas, as a reader cites it.

    Attributes
    ----------
    kind : {"site", "finding"}
    id, title : str
        The record's id and what it is called (``Yodok (Camp 15)``; a finding:
        its site, date and signal).
    layer : str
    atlas_version, build_date, gpkg, gpkg_sha256 : str
        The atlas it was read from (the public GeoPackage's name and sha256).
    sources : list of str
        The record's own sources, each once, the report by section and paragraph.
    url : str or None
        Its page where the atlas is published (``ATLAS_PUBLIC_URL``), else None.
    """

    kind: str
    id: str
    title: str
    layer: str
    atlas_version: str
    build_date: str
    gpkg: str
    gpkg_sha256: str
    sources: list = field(default_factory=list)
    url: str | None = None

    @property
    def year(self) -> str:
        return self.build_date[:4]

    @property
    def key(self) -> str:
        """A BibTeX key: letters, digits and underscores only."""
        return "gulag_inc_atlas_" + re.sub(r"[^A-Za-z0-9]+", "_", self.id).strip("_")

    def _full_title(self) -> str:
        return f"{self.title} [{self.id}], record in the {TITLE}"

    def _note(self) -> str:
        parts = [f"Version {self.atlas_version}, built {self.build_date}",
                 f"GeoPackage {self.gpkg} (sha256 {self.gpkg_sha256})"]
        if self.sources:
            parts.append("Sources: " + "; ".join(self.sources))
        return ". ".join(parts) + "."

    def to_text(self) -> str:
        """One paragraph for a footnote."""
        where = f" {self.url}." if self.url else ""
        return f"{AUTHOR}, \u201c{self.title} [{self.id}]\u201d, {TITLE} ({self.year}).{where} {self._note()}"

    def to_csl(self) -> dict:
        """The CSL-JSON item (one object of the array :meth:`to_csl_json` writes)."""
        y, m, d = (int(x) for x in self.build_date[:10].split("-"))
        item = {"id": self.key, "type": "dataset", "title": self._full_title(),
                "author": [{"literal": AUTHOR}], "issued": {"date-parts": [[y, m, d]]},
                "version": self.atlas_version, "medium": "GeoPackage", "note": self._note()}
        if self.url:
            item["URL"] = self.url
        return item

    def to_csl_json(self) -> str:
        return json.dumps([self.to_csl()], ensure_ascii=False, indent=1)

    def to_bibtex(self) -> str:
        """A ``@misc`` entry; braces and TeX specials in data escaped."""
        fields = {"author": "{" + AUTHOR + "}", "title": self._full_title(), "year": self.year,
                  "date": self.build_date[:10], "version": self.atlas_version,
                  "howpublished": "GeoPackage", "note": self._note()}
        if self.url:
            fields["url"] = self.url
        body = ",\n".join(f"  {k} = {{{_tex(v) if k not in ('author', 'url') else v}}}"
                          for k, v in fields.items())
        return f"@misc{{{self.key},\n{body}\n}}"

    def to_ris(self) -> str:
        """RIS (``TY  - DATA`` ... ``ER  -``), one tag per line."""
        lines = [("TY", "DATA"), ("AU", AUTHOR), ("TI", self._full_title()), ("T2", TITLE),
                 ("PY", self.year), ("DA", self.build_date[:10].replace("-", "/")),
                 ("ET", self.atlas_version), ("ID", self.key), ("N1", self._note())]
        if self.url:
            lines.append(("UR", self.url))
        return "\n".join(f"{tag}  - {_one_line(v)}" for tag, v in lines) + "\nER  - "

    def to_dict(self) -> dict:
        return {"kind": self.kind, "id": self.id, "title": self.title, "layer": self.layer,
                "atlas_version": self.atlas_version, "build_date": self.build_date, "gpkg": self.gpkg,
                "gpkg_sha256": self.gpkg_sha256, "sources": list(self.sources), "url": self.url}


def citation_file() -> Path | None:
    """The atlas's ``CITATION.cff``: in the installed package, or at the top of a checkout.

    Examples
    --------
    >>> citation_file().name
    'CITATION.cff'
    """
    return project_file("CITATION.cff")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _tex(text: str) -> str:
    """Text safe inside a BibTeX field: every TeX special character escaped (so braces stay balanced)."""
    specials = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$",
                "#": r"\#", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}
    return "".join(specials.get(ch, ch) for ch in _one_line(text))


def public_url(page: str) -> str | None:
    """A page's address where the atlas is published (``ATLAS_PUBLIC_URL`` + ``page``), or None where unset."""
    base = os.environ.get(PUBLIC_URL_ENV, "").strip()
    if not base:
        return None
    if not re.match(r"^https?://[^\s]+$", base):
        raise InputError(f"{PUBLIC_URL_ENV}={base!r} is not an http(s) address")
    return base.rstrip("/") + "/" + page


def _source_of(row: dict) -> str:
    """A finding's source as a reader cites it: the report by section and paragraph where it is the report."""
    return str(row.get("report_cite") or row.get("source_report") or "").strip()


def _dedup(items) -> list[str]:
    seen: dict[str, None] = {}
    for s in items:
        s = _one_line(s or "")
        if s:
            seen.setdefault(s, None)
    return list(seen)


def _finding(atlas: Atlas, target: str) -> tuple[str, dict] | None:
    for layer in _FINDING_LAYERS:
        if not atlas.has(layer):
            continue
        df = atlas.layer(layer)
        hit = df[df["finding_id"].astype(str).str.upper() == target.upper()]
        if len(hit):
            return layer, hit.iloc[0].to_dict()
    return None


def citation(target: str, gpkg: Atlas | Path | str | None = None) -> Citation:
    """How to cite one record: a site (id, number or name) or a finding (its stored id).

    Parameters
    ----------
    target : str
        ``KLS-15``, ``Yodok``, ``M016``, or a finding's id (``F009``, ``MF016``).
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas (default ``output/atlas.gpkg``); cited by its public
        GeoPackage's sha256 (private layers never are).

    Returns
    -------
    Citation

    Raises
    ------
    NotFoundError
        No such site or finding.
    InputError
        ``ATLAS_PUBLIC_URL`` set to something that is not an http(s) address.

    Examples
    --------
    >>> import atlas
    >>> c = atlas.citation("F047")
    >>> c.kind, c.id, len(c.gpkg_sha256), any("4A Kwan-li-so" in s for s in c.sources)
    ('finding', 'F047', 64, True)
    """
    atlas = open_atlas(gpkg, include_private=False)
    meta = about(atlas)
    common = {"atlas_version": str(meta.get("atlas_version", "")), "build_date": str(meta.get("build_date", ""))[:10],
              "gpkg": str(meta.get("gpkg", "")), "gpkg_sha256": str(meta.get("gpkg_sha256", ""))}
    found = _finding(atlas, target.strip()) if _FINDING_ID.match(target.strip()) else None
    if found is not None:
        layer, row = found
        fid, site = str(row["finding_id"]), str(row.get("site_id") or "")
        title = f"Finding {fid} on {site}: {_one_line(row.get('observed_text') or 'undated')}, " \
                f"{_one_line(row.get('status_signal') or row.get('finding_type') or '')}".rstrip(", ")
        return Citation("finding", fid, title, layer, sources=_dedup([_source_of(row)]),
                        url=public_url(f"dossiers/{site}.html#{fid}") if site else None, **common)
    rec = record(target, atlas)
    sources = [rec.fields.get("source")] + [_source_of(f) for f in rec.findings]
    return Citation("site", rec.id, rec.name or rec.id, rec.layer, sources=_dedup(sources),
                    url=public_url(f"dossiers/{rec.id}.html") if rec.layer in ("camps", "mines") else None,
                    **common)


def cite(target: str, fmt: str = "text", gpkg: Atlas | Path | str | None = None) -> str:
    """A citation of one record, in one of :data:`FORMATS` (``atlas cite``).

    Parameters
    ----------
    target : str
        A site (id, number or name) or a finding's id, as :func:`citation` takes.
    fmt : {"text", "bibtex", "csl-json", "ris"}, default "text"
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas (default ``output/atlas.gpkg``).

    Returns
    -------
    str

    Raises
    ------
    InputError
        An unknown format.
    NotFoundError
        No such site or finding.

    Examples
    --------
    >>> import atlas
    >>> print(atlas.cite("KLS-15", "ris").splitlines()[0])
    TY  - DATA
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown citation format {fmt!r}: use {', '.join(FORMATS)}")
    c = citation(target, gpkg)
    return {"text": c.to_text, "bibtex": c.to_bibtex, "csl-json": c.to_csl_json, "ris": c.to_ris}[fmt]()

