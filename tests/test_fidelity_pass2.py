"""The second fidelity pass (issue 22, item 10): one test per item of the issue's list.

Each item was an error of the data against the report or geography; each test fails on the old value.
The corrections and their reasons are in ``geodata/SOURCES.md`` ("Corrections made in this copy").
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

import atlas
from atlas.errors import AmbiguousError

from .conftest import require_tool
from .test_build import _seed_text


def _row(df: pd.DataFrame, col: str, value: str) -> dict:
    hit = df[df[col].astype(str) == value]
    assert len(hit) == 1, (col, value)
    return hit.iloc[0].to_dict()


def test_taehung_note_names_the_reports_daeheung_ri_mine_as_an_inference(layers):
    note = _row(layers["mines"], "mine_id", "M034")["notes"]
    assert "NM17" in note and "inference" in note
    assert "not named in Gulag" not in note


def test_hoeyang_finds_the_county_not_the_prison(gpkg, layers):
    khs09 = _row(layers["camps"], "site_id", "KHS-09")
    assert "Hoeyang" not in khs09["alt_names"]
    try:
        hit = atlas.resolve("Hoeyang", gpkg)
        assert hit.id != "KHS-09" and hit.layer == "counties"
    except AmbiguousError as e:  # never the prison among the candidates
        assert "KHS-09" not in str(e)


def test_kaechon_kyo_hwa_so_read_as_no_1_is_marked_an_inference(layers):
    src = _row(layers["camps"], "site_id", "KHS-01")["source"]
    assert "kyo-hwa-so in Kaechon" in src and "inference" in src and "gives no number" in src


def test_choma_bong_at_dongrim_ri_and_the_tongrim_ri_remnant_cross_refer(layers):
    camps = layers["camps"]
    cmb, t18 = _row(camps, "site_id", "OTH-CMB"), _row(camps, "site_id", "KLS-18T")
    assert "KLS-18T" in cmb["location_precision"] and "no source" in cmb["location_precision"]
    assert "OTH-CMB" in t18["location_precision"]


@pytest.mark.parametrize("mine_id, named", [("M002", "Chongnam-gu"), ("M009", "Sunchon")])
def test_cheongnam_and_jikdong_say_they_lie_outside_the_places_their_names_suggest(layers, mine_id, named):
    row = _row(layers["mines"], "mine_id", mine_id)
    assert row["county"] == "Mundok-gun" or "Mundok" in str(row["county"])  # the spatial join says so
    assert "Mundok County" in row["notes"] and named in row["notes"]


def test_hyesan_enterprise_is_drawn_at_the_copper_mine_not_the_city(layers):
    nm16 = layers["named_mines"].set_index("named_id").loc["NM16"]
    m035 = layers["mines"].set_index("mine_id").loc["M035"]
    assert nm16.geometry.distance(m035.geometry) < 1e-9
    assert not nm16["is_town_proxy"] and nm16["location_role"] == "a mine of the district"


def test_musan_second_point_is_0_96_km_away(layers):
    notes = _row(layers["named_mines"], "named_id", "NM01")["notes"]
    assert "0.96 km" in notes and not re.search(r"(?<!said )~0\.6 km", notes)
    from pyproj import Geod

    m016 = layers["mines"].set_index("mine_id").loc["M016"].geometry
    km = Geod(ellps="WGS84").inv(m016.x, m016.y, 129.26917, 42.23194)[2] / 1000
    assert round(km, 2) == 0.96


@pytest.mark.parametrize("fid", ["F035", "F037", "F038", "F056", "F058"])
def test_the_cois_facts_are_credited_to_the_coi(layers, fid):
    r = _row(layers["camp_findings"], "finding_id", fid)
    assert r["source_report"].startswith("UN Human Rights Council") and "commission of inquiry" in r["source_report"]
    assert r["evidence_basis"] in ("official", "testimony") and "as " in r["source_report"]  # as cited/quoted in


def test_the_manifest_names_the_icmm_copy_it_comes_from(layers):
    src = layers["sources"].set_index("path")
    for rel in ("mines/icmm_gmd2025_nk.csv", "mines/nk_mines_distinct.csv"):
        assert "tth4vb/global_mining_prototype" in src.loc[rel, "origin"], rel


def test_camp_18s_rail_line_runs_to_its_relocation_in_2012(layers):
    f003 = _row(layers["camp_findings"], "finding_id", "F003")
    assert str(f003["date_end"])[:10] == "2012-12-31"  # "before its relocation" (2012), not 2011-12-31


@pytest.mark.parametrize("pid, debris", [("P04", "Bukan ingwon baekseo"), ("P06", "par. 1061")])
def test_quotations_carry_no_debris_of_other_footnotes(layers, pid, debris):
    assert debris not in _row(layers["report_passages"], "passage_id", pid)["quote"]


@pytest.mark.parametrize("nid", ["NM04", "NM05"])
def test_woonsan_and_daeyoudong_are_gold_and_silver(layers, nid):
    r = _row(layers["named_mines"], "named_id", nid)
    assert r["commodity"] == "gold; silver" and r["commodity_as_given"].startswith("gold and silver")


@pytest.mark.parametrize("nid, inferred", [("NM06", "lignite"), ("NM16", "copper"), ("NM11", "anthracite"),
                                           ("NM14", "anthracite")])
def test_commodities_the_report_does_not_state_are_marked_inferred(layers, nid, inferred):
    r = _row(layers["named_mines"], "named_id", nid)
    assert r["commodity_inferred"].startswith(f"{inferred}: the atlas's reading, not the report's")
    assert inferred not in r["commodity_as_given"]


@pytest.mark.slow  # the site's pages (a dossier per site)
def test_the_about_page_says_35_mines_and_one_proposed(gpkg, layers, tmp_path):
    mines = layers["mines"]
    proposed = int((mines["status"] == "proposed").sum())
    assert proposed == 1 and len(mines) == 36
    from atlas.dossier import Product
    from atlas.website import _mine_counts

    assert _mine_counts(Product(gpkg)) == {"open": 35, "proposed": 1}
    site = atlas.build_site(tmp_path / "site", gpkg=gpkg, with_map=False, with_downloads=False).parent
    text = re.sub(r"<[^>]+>|\s+", " ", (site / "about.html").read_text("utf-8"))
    assert re.search(r"Only 35 mines have open coordinates .*\(the mines layer also draws 1 proposed mine", text)
    assert "36 mines have open coordinates" not in text


def test_the_summary_counts_the_reports_six_kwan_li_so(gpkg, layers):
    t = atlas.province_summary(gpkg).set_index("province")
    assert t.loc["Total", "kwan_li_so"] == 6  # camps 14, 15, 16, 18, 22, 25 (report L2480-2502)
    assert (layers["camps"]["kind"] == "kwan-li-so").sum() == 7  # seven sites: camp 18 at two


def test_every_named_mines_citation_points_at_lines_that_name_it(layers):
    """The report text at each cited line range names the mine (a word of its name), as cited."""
    lines = _seed_text()
    require_tool(lines is not None, "the report's text (../shared/seed/)")
    for r in layers["named_mines"].to_dict("records"):
        words = {w.lower() for w in re.split(r"[\s;,/()'-]+", f'{r["name_in_report"]} {r["alt_names"]}')
                 if len(w) >= 4 and w.lower() not in {"mine", "coal", "district", "combined", "enterprise",
                                                      "youth", "mining", "magnesite"}}
        cited = re.findall(r"L(\d+)(?:[–-](\d+))?", r["report_cite"])
        assert cited, r["named_id"]
        text = " ".join(" ".join(lines[int(a) - 1:int(b or a)]) for a, b in cited).lower()
        assert any(w in text for w in words), (r["named_id"], words, r["report_cite"])
