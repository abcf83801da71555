"""The report cited as readers hold it, and its forced-labour evidence on every site (issue 22, items 8-9).

A reader holds the printed report: a citation gives its section heading, the paragraph's place under it
(``¶3``, counted from the heading: the report numbers none), a footnote (``fn 70``) or a chart, and the
printed page where the text shows one; the lines of the text file (``report text L2503–2507``) come
after, never alone. No published value, in the GeoPackage or in any product, names a folder outside the
package (the report's text file lives in the project's source folder, which does not ship).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import atlas
from atlas.dossier import dossier_record
from atlas.record import passages_for, record
from atlas.store import open_atlas

from .conftest import REPO

#: The report's own headings (docs/evidence.md, geodata/SOURCES.md): every citation names one.
SECTIONS = ("Introduction", "1 Overview of the Mining Industry", "2A Mining as a Key Sector of the State Economy",
            "2B Mining as an Economic Interest of Specialized Institutions", "3A Forced Labor as State Policy",
            "3B North Korea's Songbun System and Labor in the Mining Sector", "4A Kwan-li-so and Kyo-hwa-so",
            "4B Other Aspects of the Penal System", "Conclusion")
_SECTION = "|".join(re.escape(s) for s in SECTIONS)
#: A citation of the report: its section, then a paragraph, a footnote or a chart.
CITE = re.compile(rf"(?:{_SECTION}),? (?:¶\d+|fn \d+|Chart \d)")
LINE = re.compile(r"\bL\d{3,4}\b")
#: Columns that hold only line numbers beside a column that cites the section.
LINE_COLUMNS = {"lines", "report_lines"}


def _texts(layers):
    for name, df in layers.items():
        for col in df.columns:
            if col != "geometry" and col not in LINE_COLUMNS and df[col].dtype == object:
                for i, v in df[col].items():
                    if isinstance(v, str):
                        yield name, col, i, v


def test_every_value_giving_a_line_of_the_report_names_its_section_and_paragraph(layers):
    """A line number of the text file is never the only citation (tables cite a table of the report)."""
    bad = [(n, c, v[:120]) for n, c, _, v in _texts(layers)
           if LINE.search(v) and not (CITE.search(v) or re.search(r"\bTable \d", v))]
    assert not bad, bad
    # the check can fail: a line alone is caught
    assert LINE.search("the five areas, Gulag, Inc. L2568-2571") and not CITE.search("Gulag, Inc. L2568-2571")


def test_a_finding_that_rests_on_the_report_cites_it_by_section_in_its_source(layers):
    for name in ("camp_findings", "mine_findings"):
        df = layers[name]
        for r in df.to_dict("records"):
            if "Gulag, Inc." in r["source_report"] and "Global Energy Monitor" not in r["source_report"]:
                assert r["report_cite"], (name, r["finding_id"])
            if r["report_cite"]:
                assert r["report_cite"].startswith("Gulag, Inc. (HRNK 2016), "), r["finding_id"]
                assert CITE.search(r["report_cite"]) and "report text L" in r["report_cite"], r["finding_id"]
                # the source a product prints (map popup, KML balloon, show, dossier, exports) is that citation
                assert r["report_cite"] in r["source_report"], r["finding_id"]
                assert not re.search(r"Gulag, Inc\. \(HRNK 2016\) (?:section|fn|Conclusion) \(", r["source_report"])


def test_every_mine_the_report_names_is_cited_where_it_names_it(layers):
    named = layers["named_mines"]
    for r in named.to_dict("records"):
        assert r["report_cite"].startswith("Gulag, Inc. (HRNK 2016), "), r["named_id"]
        assert CITE.search(r["report_cite"]), r["named_id"]
        # each line range of report_lines is cited (as L718-722 or L718–722)
        for first in re.findall(r"L(\d+)", r["report_lines"]):
            assert f"L{first}" in r["report_cite"], (r["named_id"], first)


def test_show_and_the_dossier_cite_each_quotation_by_section_paragraph_and_page(gpkg, tmp_path):
    rec = record("KLS-15", gpkg)
    assert rec.passages and all(CITE.search(p["cite"]) for p in rec.passages)
    text = rec.to_text()
    assert "What the report says" in text
    assert "4A Kwan-li-so and Kyo-hwa-so, ¶4, p. 35 (report text L2568–2577)" in re.sub(r"\s+", " ", text)
    page = atlas.dossier("KLS-15", out=tmp_path, gpkg=gpkg).read_text("utf-8")
    footers = re.findall(r"<blockquote id=\"(P\d\d)\">.*?<footer>(.*?)</footer>", page, re.S)
    assert {p for p, _ in footers} == {p["passage_id"] for p in rec.passages}
    for pid, footer in footers:
        assert CITE.search(footer) and "report text L" in footer, (pid, footer)
    assert "¶2, pp. 34–35" in page  # P01, the list of camps, runs over from p. 34 to p. 35


# --- item 9: the report's forced-labour evidence on every page of a site it names -------------------


def _labour_sites(layers) -> dict[str, set[str]]:
    """Each site the report's forced-labour passages name (directly), with those passages."""
    out: dict[str, set[str]] = {}
    p = layers["report_passages"]
    for r in p[p["forced_labour"] == "yes"].to_dict("records"):
        for s in r["site_ids"].split(";"):
            out.setdefault(s.strip(), set()).add(r["passage_id"])
    return out


def test_every_page_quotes_what_the_report_says_of_forced_labour_there(gpkg, layers, tmp_path):
    store = open_atlas(gpkg)
    labour = _labour_sites(layers)
    named = layers["named_mines"].set_index("named_id")
    mines = layers["mines"].set_index("mine_id")
    pages = set(layers["camps"]["site_id"]) | set(mines.index)
    # the named mines' labour evidence reaches the page of the mine at their point (not a town proxy)
    expect = {s: set(ps) for s, ps in labour.items() if s in pages}
    for nid, ps in labour.items():
        if nid not in named.index or named.loc[nid, "location_role"] in (
                "town proxy, not the mine's location", "a nearby mine, not the named one", "no public coordinate"):
            continue
        point = named.loc[nid, "geometry"]
        for mid, g in mines.geometry.items():
            if g is not None and g.distance(point) < 1e-6:
                expect.setdefault(mid, set()).update(ps)
    assert {"M016", "M034", "KLS-14", "KLS-15", "KLS-16", "KLS-18", "KHS-01", "KHS-04", "KHS-09",
            "KHS-12", "OTH-DHR"} <= set(expect)
    for site, ps in sorted(expect.items()):
        got = {p["passage_id"] for p in passages_for("mines" if site in mines.index else "camps", site, store)
               if p["forced_labour"]}
        assert ps <= got, (site, ps - got)
    # Musan: the POW testimony (report L2276-2281), not only the magnetite deposit, and first
    musan = passages_for("mines", "M016", store)
    assert musan[0]["forced_labour"] and "mine at Musan" in musan[0]["quote"]
    assert any("magnetite" in p["quote"] for p in musan)
    # Taehung (M034): the Daeheung-ri testimony, with the inference said, on its page
    rec = dossier_record("M034", gpkg)
    p12 = [p for p in rec["passages"] if p["id"] == "P12"]
    assert p12 and "inference" in p12[0]["via"] and "forced" in p12[0]["quote"]
    # a camp the report names without a word on labour says so (camp 22: its closure only)
    html = atlas.dossier("KLS-22", out=tmp_path, gpkg=gpkg).read_text("utf-8")
    assert "The report says nothing of forced or prison labour at this site." in html
    html = atlas.dossier("M016", out=tmp_path, gpkg=gpkg).read_text("utf-8")
    assert "nothing of forced" not in html and "(forced labour)" in html


def test_show_prints_a_named_mines_forced_labour_testimony(gpkg):
    rec = record("NM06", gpkg)  # Aoji: a town proxy, no page of its own; show quotes the POW's account
    assert [p["passage_id"] for p in rec.passages] == ["P16"]
    assert "Huh Jae-Seok" in rec.to_text() and "3B North Korea's Songbun System" in rec.to_markdown()


# --- no repository or absolute path in any product -------------------------------------------------


def _outside(tmp: Path) -> re.Pattern:
    words = [re.escape(str(r)) for r in (REPO, tmp)]
    return re.compile(("|".join(words) + r"|shared/seed|000_1cbb880e432bd13a|(?:^|[\s\"'(=])/(?:work|home|tmp|root|"
                       r"Users)/|[A-Z]:\\\\").encode())


@pytest.mark.slow  # every product of the atlas (tens of seconds)
def test_no_product_names_a_folder_outside_the_package(gpkg, tmp_path, monkeypatch):
    from .test_private_apart import _contents, _products

    out = tmp_path / "products"
    made = _products(gpkg, out, monkeypatch)
    bad = _outside(tmp_path)
    assert bad.search(str(tmp_path / "x").encode())  # the check can fail
    files = [gpkg] + [p for root in made.values() for p in ([root] if root.is_file() else root.rglob("*"))
                      if p.is_file()]
    assert len(files) > 50
    hits = [(p.name, m.group()[:60]) for p in files for m in [bad.search(_contents(p))] if m]
    assert not hits, hits
