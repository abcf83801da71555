"""``atlas cite``: each format read back by a client of that format (bibtexparser, citeproc-py, rispy)."""

from __future__ import annotations

import json

import bibtexparser
import pytest
import rispy

import atlas
from atlas.citation import Citation

from .conftest import run_cli, sha256


@pytest.fixture(scope="module")
def site(gpkg):
    return atlas.citation("KLS-15", gpkg)


def test_a_site_is_cited_by_the_public_geopackage_and_its_own_sources(gpkg, layers, site):
    assert (site.kind, site.id, site.layer) == ("site", "KLS-15", "camps")
    assert site.gpkg_sha256 == sha256(gpkg) and site.build_date == atlas.open_atlas(gpkg).build_date[:10]
    findings = layers["camp_findings"]
    own = findings[findings["site_id"] == "KLS-15"]
    for _, f in own.iterrows():  # every finding's source, the report by section and paragraph
        expected = " ".join(str(f["report_cite"] or f["source_report"]).split())
        assert expected in site.sources, f["finding_id"]
    assert len(site.sources) == len(set(site.sources))
    assert any(s.startswith("Gulag, Inc. (HRNK 2016), 4A Kwan-li-so") and "¶" in s for s in site.sources)
    assert site.url is None  # no ATLAS_PUBLIC_URL: no address invented


def test_a_finding_is_cited_by_its_stored_id(gpkg, layers):
    row = layers["camp_findings"].set_index("finding_id").loc["F047"]
    c = atlas.citation("f047", gpkg)
    assert (c.kind, c.id, c.layer) == ("finding", "F047", "camp_findings")
    assert c.sources == [" ".join(str(row["report_cite"]).split())] and row["site_id"] in c.title
    mine = layers["mine_findings"].iloc[0]
    assert atlas.citation(mine["finding_id"], gpkg).layer == "mine_findings"


def test_bibtex_parses_back_with_every_field(site):
    lib = bibtexparser.parse_string(site.to_bibtex())
    assert not lib.failed_blocks and len(lib.entries) == 1
    entry = lib.entries[0]
    assert entry.entry_type == "misc" and entry.key == "gulag_inc_atlas_KLS_15"
    assert site.gpkg_sha256 in entry["note"] and entry["year"] == site.year and entry["version"] == site.atlas_version


def test_bibtex_escapes_what_data_holds():
    evil = Citation("site", "user-1", "A {b} & c_% $x$ #1 ~ ^ \\end{document}", "user_x", "0.1.0",
                    "2026-12-07", "atlas.gpkg", "0" * 64, ["}, note = {injected"])
    lib = bibtexparser.parse_string(evil.to_bibtex())
    assert not lib.failed_blocks and len(lib.entries) == 1
    entry = lib.entries[0]
    assert set(entry.fields_dict) == {"author", "title", "year", "date", "version", "howpublished", "note"}
    assert "\\&" in entry["title"] and "\\{b\\}" in entry["title"] and "\\}, note = \\{injected" in entry["note"]


def test_csl_json_renders_in_a_csl_processor(site):
    from citeproc import Citation as CslCitation
    from citeproc import CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
    from citeproc.source.json import CiteProcJSON

    items = json.loads(site.to_csl_json())
    assert items[0]["type"] == "dataset" and items[0]["issued"]["date-parts"][0][0] == int(site.year)
    source = CiteProcJSON(items)
    style = CitationStylesStyle("harvard-cite-them-right", validate=False)
    bib = CitationStylesBibliography(style, source, formatter.plain)
    bib.register(CslCitation([CitationItem(items[0]["id"])]))
    text = str(bib.bibliography()[0])
    assert "Gulag, Inc. atlas contributors" in text and site.year in text and "KLS-15" in text


def test_ris_reads_back(site):
    [entry] = rispy.loads(site.to_ris())
    assert entry["type_of_reference"] == "DATA" and "KLS-15" in entry["title"]
    notes = entry["notes"] if isinstance(entry["notes"], list) else [entry["notes"]]
    assert any(site.gpkg_sha256 in n for n in notes) and entry["edition"] == site.atlas_version


def test_public_url_only_where_set(gpkg, monkeypatch):
    monkeypatch.setenv("ATLAS_PUBLIC_URL", "https://atlas.example.org/gulag/")
    c = atlas.citation("KLS-15", gpkg)
    assert c.url == "https://atlas.example.org/gulag/dossiers/KLS-15.html"
    assert c.url in c.to_text() and c.to_csl()["URL"] == c.url and f"UR  - {c.url}" in c.to_ris()
    monkeypatch.setenv("ATLAS_PUBLIC_URL", "javascript:alert(1)")
    res = run_cli("cite", "KLS-15", "--gpkg", str(gpkg))
    assert res.returncode == 2 and "ATLAS_PUBLIC_URL" in res.stderr and "Traceback" not in res.stderr


def test_cli_cites_and_refuses_what_it_cannot_find(gpkg):
    res = run_cli("cite", "KLS-15", "--format", "bibtex", "--gpkg", str(gpkg))
    assert res.returncode == 0 and res.stdout.startswith("@misc{gulag_inc_atlas_KLS_15,")
    missing = run_cli("cite", "no such place anywhere", "--gpkg", str(gpkg))
    assert missing.returncode == 2 and missing.stderr.startswith("atlas: error:") and not missing.stdout


def _meta_tags(page: str) -> dict[str, list[str]]:
    from html.parser import HTMLParser

    found: dict[str, list[str]] = {}

    class Meta(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "meta" and "name" in a:
                found.setdefault(a["name"], []).append(a.get("content") or "")

    Meta().feed(page)
    return found


def test_dossier_pages_carry_what_reference_managers_read(gpkg, tmp_path, monkeypatch):
    """Highwire Press tags (citation_*) and Dublin Core, as Zotero's page translator reads them."""
    page = atlas.dossier("KLS-15", out=tmp_path / "a", gpkg=gpkg).read_text(encoding="utf-8")
    tags = _meta_tags(page)
    rec = atlas.dossier_record("KLS-15", gpkg=gpkg)
    name = rec["header"]["names"]["primary"]
    assert tags["citation_title"] == [f"{name} [KLS-15], record in the Gulag, Inc. atlas"]
    assert tags["citation_author"] == ["Gulag, Inc. atlas contributors"]
    assert tags["citation_publication_date"] == [rec["about"]["build_date"][:10].replace("-", "/")]
    assert tags["DC.source"] == [f"{rec['about']['gpkg']} (sha256 {sha256(gpkg)})"]
    assert "citation_public_url" not in tags  # no address invented
    monkeypatch.setenv("ATLAS_PUBLIC_URL", "https://atlas.example.org/gulag")
    page = atlas.dossier("KLS-15", out=tmp_path / "b", gpkg=gpkg).read_text(encoding="utf-8")
    assert _meta_tags(page)["citation_public_url"] == ["https://atlas.example.org/gulag/dossiers/KLS-15.html"]
