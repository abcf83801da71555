"""Corrections of the report's camps, findings, named mines and tables, read from the built GeoPackage.

Each test opens the GeoPackage the session built from ``geodata/`` (the ``layers`` fixture), never
the CSV files, so a correction counts only once it reaches the atlas users read.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

import atlas
from atlas import evidence as ev

from .conftest import REPO


def _findings(layers, site, finding_type=None):
    f = layers["camp_findings"]
    f = f[f["site_id"] == site]
    return f if finding_type is None else f[f["finding_type"] == finding_type]


def _text(row) -> str:
    return " ".join(str(v) for k, v in row.items() if k != "geometry" and isinstance(v, str))


def test_hong_je_mine_belongs_to_camp_18_at_its_original_site(layers, gpkg):
    camps = layers["camps"].set_index("site_id")
    assert "hong-je" not in camps.loc["KLS-18T", "alt_names"].lower()
    assert "hong-je" in camps.loc["KLS-18", "alt_names"].lower()
    labour = _findings(layers, "KLS-18", "mine_labour").set_index("observed_text")
    assert set(labour.index) == {"1967..1987 (testimony)", "1974..2001 (testimony)"}
    assert (labour.loc["1974..2001 (testimony)", ["date_start", "date_end"]].tolist()
            == ["1974-01-01", "2001-12-31"])
    assert "Hong-je" in labour.loc["1974..2001 (testimony)", "description"]
    assert "Shim-san" in labour.loc["1974..2001 (testimony)", "description"]
    for _, row in _findings(layers, "KLS-18T").iterrows():  # nothing attributes the mine to 18T
        assert "KLS-18" in row["description"] and "not" not in row["observed_text"]
    named = layers["named_mines"].set_index("name_in_report")
    assert "Pukchang" in named.loc["Hong-je mine", "county_or_place_inferred"]
    assert "Tongrim" not in named.loc["Hong-je mine", "province_inferred"]
    found = atlas.find("Hong-je", gpkg)
    assert "KLS-18T" not in set(found["id"]) and "KLS-18" in set(found["id"])


def test_camp_18_coal_mine_rail_line_belongs_to_camp_18(layers):
    rail = layers["camp_findings"][layers["camp_findings"]["finding_type"] == "rail_line"]
    assert len(rail) == 1
    row = rail.iloc[0]
    assert row["site_id"] == "KLS-18"
    assert "KLS-14" in row["description"]  # the related site whose imagery report showed it
    assert row["page"].startswith("p. 4")


def test_daeheung_ri_prisoners_worked_the_mine_and_only_the_camp_type_is_unclear(layers):
    camps = layers["camps"].set_index("site_id")
    dhr = camps.loc["OTH-DHR"]
    assert "prisoners" in dhr["name"] and "kwan-li-so or kyo-hwa-so" in dhr["name"]
    assert "prisoners reported forced to work" in dhr["status"]
    assert "unclear only whether" in dhr["status"]
    labour = _findings(layers, "OTH-DHR", "forced_labour").iloc[0]
    assert labour["observed_text"] == "2008 or earlier"
    assert pd.isna(labour["date_start"]) and labour["date_end"] == "2008-12-31"
    assert "2008" in labour["source_report"] and "2016 (report)" not in set(layers["camp_findings"]["observed_text"])


def test_daeheung_ri_is_drawn_at_the_taehung_point_as_an_inference(layers):
    camps = layers["camps"].set_index("site_id")
    mines = layers["mines"].set_index("name")
    taehung = mines.loc["Taehung Youth Hero Mine"]
    dhr = camps.loc["OTH-DHR"]
    assert dhr["geometry"].equals_exact(taehung["geometry"], 1e-9)
    assert dhr["precision"] == "uncertain"
    assert "inference" in dhr["location_precision"] and "대흥" in dhr["location_precision"]
    cand = layers["coordinate_candidates"]
    cand = cand[cand["site_id"] == "OTH-DHR"].iloc[0]
    assert "inferred" in cand["note"] and cand["is_atlas_point"]
    # the point is OpenStreetMap's: its licence travels with it, and the candidate says it is inferred
    assert "ODbL" in taehung["licence"] and taehung["licence"] in dhr["licence"] and taehung["licence"] in cand["licence"]
    assert cand["precision"].startswith("inferred")
    assert (layers["camps"]["licence"].str.contains("ODbL")).sum() == 1  # only the inferred point
    named = layers["named_mines"]
    row = named[named["alt_names"].str.contains("Daeheung-ri")].iloc[0]
    assert row["location_role"] == "probable same mine (inferred from the name)"
    assert not row["is_mine_location"]
    assert row["geometry"].equals_exact(taehung["geometry"], 1e-9)
    # the mine is a mine: no mine record calls it a prison or a camp
    assert not re.search(r"prison|camp|kwan-li-so|kyo-hwa-so", _text(taehung), re.I)


def test_as_given_is_as_given(layers):
    named = layers["named_mines"].set_index("name_in_report")
    yong = named.loc["Yongyang Mine"]
    assert yong["province_as_given"] == "North Hamgyong Province"  # the report's reading, L748-749
    assert yong["province"] == "South Hamgyong Province"           # the spatial join
    assert yong["province_inferred"].startswith("South Hamgyong")
    assert yong["discrepancy_ref"] == "D02"
    # where the report names no province, the as-given column is blank and the inference says why
    hakpo = named.loc["Hakpo Coal Mine"]
    assert hakpo["province_as_given"] in ("", None) or pd.isna(hakpo["province_as_given"])
    assert "no province" in hakpo["province_inferred"]
    assert named["report_lines"].str.match(r"^L\d+").all()


def test_camp_15_leads_with_the_report_then_the_contested_closure(layers):
    k15 = layers["camps"].set_index("site_id").loc["KLS-15"]
    status = k15["status"]
    assert status.startswith("operating in Gulag, Inc.")
    assert status.index("mining facilities dismantled 2013-09..2014-12") < status.index("closed")
    # the source's words are kept; the status is the rule's, on the build date: never "closed" on
    # imagery whose analyst would not call it closed (F009, F010 are hedged)
    f = layers["camp_findings"]
    rule = ev.status_from_findings(f[f["site_id"] == "KLS-15"], k15["status_as_of"], "KLS-15")
    assert k15["status_class"] == rule.status != "closed"
    assert k15["status_summary"] == rule.summary
    first = _findings(layers, "KLS-15").iloc[0]
    assert (first["finding_type"], first["date_start"], first["date_end"]) == (
        "mine_dismantled", "2013-09-01", "2014-12-31")


def test_table_1_kores_222_counts_iron_ore_and_non_ferrous_together(layers):
    t1 = layers["report_table_1"].set_index("resource")
    assert pd.isna(t1.loc["Non-ferrous metal", "mines_kores_2011"])
    assert pd.isna(t1.loc["Iron ore", "mines_kores_2011"])
    assert t1.loc["Iron ore and non-ferrous metal", "mines_kores_2011"] == 222
    body = t1.drop(index="Total")
    assert body["mines_kores_2011"].sum() == t1.loc["Total", "mines_kores_2011"] == 696
    assert body["mines_lee_2014"].sum() == t1.loc["Total", "mines_lee_2014"] == 360


def test_a_publication_date_ends_an_observation(layers):
    f = layers["camp_findings"].set_index("observed_text")
    post = f.loc["2014-12-09 (post)"]  # Melvin's blog post of 2014-12-09 on Camp 15
    assert pd.isna(post["date_start"]) and post["date_end"] == "2014-12-09"
    for text, row in f.iterrows():
        if re.search(r"\((post|published|report)\)", text):
            assert pd.isna(row["date_start"]), text
    assert not any(t.endswith("(report)") for t in f.index)  # a publication year is no observation date


def test_camp_22_closure_facts_of_the_report(layers):
    k22 = _findings(layers, "KLS-22").set_index("finding_type")
    transfer = k22.loc["prisoner_transfer"]
    assert (transfer["date_start"], transfer["date_end"]) == ("2009-01-01", "2010-12-31")
    closures = _findings(layers, "KLS-22", "closure")
    may = closures[closures["observed_text"] == "2012-05"].iloc[0]
    assert (may["date_start"], may["date_end"]) == ("2012-05-01", "2012-05-31")
    assert "Gulag, Inc." in may["source_report"] and "312" in may["page"]


@pytest.mark.parametrize(("site", "finding_type", "page"), [
    ("KLS-14", "mine_active", "p. 17-21"), ("KLS-14", "mine_inactive", "p. 29"),
    ("KLS-18", "rail_line", "p. 4"), ("KLS-16", "mine_active", "p. 9"),
])
def test_report_pages_on_imagery_findings(layers, site, finding_type, page):
    rows = _findings(layers, site, finding_type)
    rows = rows[rows["source_report"].str.startswith("Gulag, Inc.")]
    assert len(rows) >= 1
    assert all(p.startswith(page + " ") for p in rows["page"])


@pytest.mark.parametrize(("query", "site"), [
    ("Jonggo-ri", "KHS-12"), ("Kooeup-ri", "KLS-15"), ("Ipseok-ri", "KLS-15"),
    ("Yongpyeong-ri", "KLS-15"), ("Pyongjeon-ri", "KLS-15"), ("Daesook-ri", "KLS-15"),
])
def test_the_reports_spellings_find_their_site(gpkg, query, site):
    found = atlas.find(query, gpkg)
    assert found.iloc[0]["id"] == site
    assert found.iloc[0]["match"] != "fuzzy"


def test_report_discrepancies_cover_camps_and_mines_with_lines(layers):
    disc = layers["report_discrepancies"]
    assert len(disc) >= 16
    for col in ("reading_a", "reading_b", "reading_a_where", "reading_b_where"):
        assert (disc[col].astype(str).str.strip() != "").all(), col
    # every contradiction inside the report gives its lines on the report's side
    assert disc["reading_a_where"].str.contains(r"L\d{3,4}").all()
    camp18 = disc[disc["subject"].str.contains("camp 18")].iloc[0]
    assert "2012" in camp18["reading_a"] and "2006" in camp18["reading_b"]
    area = disc.set_index("discrepancy_id").loc["D04"]
    assert "51 to 250" in area["reading_a"] and "Yodok" in area["reading_b"]
    assert "51-550" not in area["atlas_treatment"]


_FORBIDDEN = re.compile(r"35 of the 360|(?:covers?|of) 51\s*[–-]\s*550|51\s*[–-]\s*550 km")


def test_no_text_makes_the_35_a_share_of_the_360_or_one_range_of_every_camp(layers):
    files = [REPO / "README.md", *REPO.glob("docs/*.md"), REPO / "geodata/SOURCES.md",
             *REPO.glob("notebooks/*.ipynb"),
             *REPO.glob("atlas/**/*.py"), *REPO.glob("atlas/*.js")]
    for path in files:
        assert not _FORBIDDEN.search(path.read_text(encoding="utf-8")), path
    for name, df in layers.items():
        for col in df.columns:
            if df[col].dtype == object or str(df[col].dtype).startswith("str"):
                hits = df[col].astype(str).str.contains(_FORBIDDEN)
                assert not hits.any(), (name, col)
