"""Time and evidence: date intervals, evidence basis, tiers, status as of a date."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta

import pandas as pd
import pyogrio
import pytest

import atlas
from atlas import evidence as ev
from atlas import status
from atlas.dates import PRECISIONS, DateParseError, parse_as_of, parse_date_text
from atlas.errors import ValidationError

from .conftest import run_cli

# --- the date rule set --------------------------------------------------------------

FORMS = [
    # text, start, end, precision, rule
    ("2017-09-19", "2017-09-19", "2017-09-19", "day", "single"),
    ("2014-12", "2014-12-01", "2014-12-31", "month", "single"),
    ("2012-02", "2012-02-01", "2012-02-29", "month", "single"),
    ("2006", "2006-01-01", "2006-12-31", "year", "single"),
    ("2006 (imagery)", "2006-01-01", "2006-12-31", "year", "single"),
    ("May 2012", "2012-05-01", "2012-05-31", "month", "single"),
    ("c. 1997", "1997-01-01", "1997-12-31", "year", "single, approximate"),
    ("1967", "1967-01-01", "1967-12-31", "year", "single"),
    ("1967-05-21", "1967-05-21", "1967-05-21", "day", "single"),
    ("2013-09..2014-12", "2013-09-01", "2014-12-31", "month", "range"),
    ("2013-10-01..2016-03-30", "2013-10-01", "2016-03-30", "day", "range"),
    ("2016..2021", "2016-01-01", "2021-12-31", "year", "range"),
    ("2003-07..2015", "2003-07-01", "2015-12-31", "year", "range"),
    ("1967-1987", "1967-01-01", "1987-12-31", "year", "range"),
    ("1974–2001", "1974-01-01", "2001-12-31", "year", "range"),
    ("Sep 2013..May 2014", "2013-09-01", "2014-05-31", "month", "range"),
    ("1962-1972 & 2002-2019", "1962-01-01", "2019-12-31", "year", "compound"),
    ("1970s", "1970-01-01", "1979-12-31", "decade", "decades"),
    ("1960s", "1960-01-01", "1969-12-31", "decade", "decades"),
    ("1970s-1990s (testimony)", "1970-01-01", "1999-12-31", "decade", "decades"),
    ("mid-1960s", "1963-01-01", "1966-12-31", "decade", "decades"),
    ("by 2014-10", None, "2014-10-31", "month", "open start"),
    ("to 2023", None, "2023-12-31", "year", "open start"),
    ("to 2019-11", None, "2019-11-30", "month", "open start"),
    ("2008 or earlier", None, "2008-12-31", "year", "open start"),
    ("before 2012 (pre-relocation of Camp 18)", None, "2011-12-31", "year", "open start"),
    ("since 2012", "2012-01-01", None, "year", "open end"),
    ("2015-03 or later", "2015-03-01", None, "month", "open end"),
    ("after 2011", "2012-01-01", None, "year", "open end"),
    ("2014-12 (post)", None, "2014-12-31", "month", "published by"),
    ("2016 (report)", None, "2016-12-31", "year", "published by"),
    ("2013 (publication)", None, "2013-12-31", "year", "published by"),
    ("testimony", None, None, "undated", "undated"),
    ("undated (NK Pro)", None, None, "undated", "undated"),
    ("", None, None, "undated", "undated"),
]


@pytest.mark.parametrize(("text", "start", "end", "precision", "rule"), FORMS)
def test_every_form_parses_to_its_interval(text, start, end, precision, rule):
    row = parse_date_text(text).as_row()
    assert row == {"date_start": start, "date_end": end, "date_precision": precision,
                   "date_rule": rule}


@pytest.mark.parametrize("text", ["2014-13", "2012-02-30", "2014..2012", "soon", "2014-12-01x",
                                  "Smarch 2012", "1970s..1960s"])
def test_impossible_or_unreadable_dates_are_errors(text):
    with pytest.raises(DateParseError):
        parse_date_text(text)


def test_every_date_text_in_the_data_is_stored_as_the_rule_reads_it(layers):
    f = layers["camp_findings"]
    assert len(f) > 0
    for row in f.to_dict("records"):
        want = parse_date_text(row["observed_text"]).as_row()
        got = {k: (None if pd.isna(row[k]) else row[k]) for k in want}
        assert got == want, row["observed_text"]
        assert row["date_precision"] in PRECISIONS
        if got["date_start"] and got["date_end"]:
            assert got["date_start"] <= got["date_end"]
    # every form the data holds is one of the rule set's forms, and each is tested above
    assert set(f["date_rule"].str.replace(", approximate", "")) <= {r[4] for r in FORMS}
    published = f[f["observed_text"].str.contains(r"\((?:post|report)\)")]
    assert published["date_start"].isna().all() and published["date_end"].notna().all()


def test_as_of_means_the_last_day_it_covers():
    assert parse_as_of("2014-06") == date(2014, 6, 30)
    assert parse_as_of("2010") == date(2010, 12, 31)
    assert parse_as_of("1967-05-01") == date(1967, 5, 1)
    with pytest.raises(DateParseError):
        parse_as_of("June")


def test_gpkg_stores_dates_as_date_fields_and_1967_round_trips(gpkg, tmp_path):
    con = sqlite3.connect(gpkg)
    types = {r[1]: r[2] for r in con.execute("PRAGMA table_info(camp_findings)")}
    camp_types = {r[1]: r[2] for r in con.execute("PRAGMA table_info(camps)")}
    con.close()
    assert types["date_start"] == types["date_end"] == "DATE"
    assert camp_types["latest_evidence_date"] == "DATE"
    assert camp_types["sources_disagree"] == "BOOLEAN"
    # a synthetic findings table with a declassified-imagery date of 1967
    synthetic = pd.DataFrame({"finding_id": ["F001", "F002"], "site_id": ["SYNTHETIC", "SYNTHETIC"],
                              "date_start": ["1967-05-21", None], "date_end": ["1967-05-21", "2014-12-31"]})
    out = tmp_path / "synthetic.gpkg"
    atlas.io.write_layers({"camp_findings": synthetic}, out)
    assert pyogrio.read_info(out, layer="camp_findings")["dtypes"].tolist()[2:] == [
        "datetime64[D]", "datetime64[D]"]
    as_dates = pyogrio.read_dataframe(out, layer="camp_findings", read_geometry=False)
    assert as_dates["date_start"].iloc[0] == pd.Timestamp("1967-05-21")
    assert pd.isna(as_dates["date_start"].iloc[1])
    back = atlas.read_layer("camp_findings", out)
    assert back["date_start"].iloc[0] == "1967-05-21" and back["date_end"].iloc[1] == "2014-12-31"


# --- evidence basis and tiers --------------------------------------------------------


def test_every_finding_has_a_basis_a_signal_and_a_reason(layers):
    f = layers["camp_findings"]
    assert set(f["evidence_basis"]) <= set(ev.BASES)
    assert set(f["status_signal"]) <= set(ev.SIGNALS)
    assert f["evidence_reason"].str.len().min() > 20
    testimony = f["evidence_basis"] == "testimony"
    assert set(f.loc[testimony, "testimony_hand"]) <= {"first-hand", "second-hand", "unstated"}
    assert (f.loc[~testimony, "testimony_hand"].fillna("") == "").all()


@pytest.mark.parametrize(("bases", "disagree", "tier", "label"), [
    ({"imagery", "testimony"}, False, 1, "imagery and testimony agree"),
    ({"imagery", "testimony", "media"}, False, 1, "imagery, testimony and the press agree"),
    ({"imagery", "testimony"}, True, 2, "imagery and testimony disagree"),
    ({"imagery", "official"}, True, 2, "imagery and an official statement disagree"),
    ({"imagery"}, True, 2, "imagery readings disagree"),
    ({"imagery"}, False, 3, "imagery only"),
    ({"imagery", "report"}, False, 3, "imagery and a report agree"),
    ({"testimony"}, False, 4, "testimony only"),
    ({"testimony", "report"}, False, 4, "testimony and a report agree"),
    ({"official"}, False, 5, "an official statement only"),
    ({"media", "report"}, False, 5, "the press and a report agree"),
    (set(), False, 6, "nothing counts on the day"),
])
def test_tier_rule_table(bases, disagree, tier, label):
    assert ev.tier_of(bases, disagree) == (tier, label)
    assert tier in {t for t, _name, _rule in ev.TIERS}


def test_camps_carry_status_tier_latest_evidence_and_disagreement_of_the_build_date(layers, gpkg):
    camps, f = layers["camps"], layers["camp_findings"]
    built = atlas.open_atlas(gpkg).build_date[:10]
    assert set(camps["status_as_of"]) == {built}
    assert camps["evidence_tier"].between(1, 6).all()
    assert set(camps["status_class"]) <= set(ev.STATUSES)
    for c in camps.to_dict("records"):
        s = ev.status_from_findings(f[f["site_id"] == c["site_id"]], built, c["site_id"])
        counted = set(s.deciding.get("evidence_basis", [])) | set(s.against.get("evidence_basis", []))
        assert (c["evidence_tier"], c["evidence_tier_label"].split(";")[0]) == ev.tier_of(
            counted, s.status == "contested"), c["site_id"]
        assert c["status_class"] == s.status and c["status_summary"] == s.summary
        assert bool(c["sources_disagree"]) == (c["status_class"] == "contested"), c["site_id"]
        want = s.latest_evidence.isoformat() if s.latest_evidence else None
        assert (c["latest_evidence_date"] if isinstance(c["latest_evidence_date"], str) else None) == want
        # no label contradicts the row: "agree" only where the status is decided, "disagree" where contested
        label = c["evidence_tier_label"]
        assert ("disagree" in label) == (c["status_class"] == "contested"), c["site_id"]
        assert (" agree" in label) <= (c["status_class"] in ("active", "closed", "relocated")), c["site_id"]


def test_a_hand_typed_tier_fails_validation(layers):
    tampered = dict(layers)
    camps = layers["camps"].copy()
    camps.loc[camps.index[0], "evidence_tier"] = 7 - camps["evidence_tier"].iloc[0]
    tampered["camps"] = camps
    with pytest.raises(ValidationError, match="evidence_tier"):
        atlas.schema.validate_layers(tampered)
    # nor is a status typed by hand: status_class is the rule's answer on the build date
    camps = layers["camps"].copy()
    first = camps["status_class"].iloc[0]
    camps.loc[camps.index[0], "status_class"] = "closed" if first != "closed" else "active"
    tampered["camps"] = camps
    with pytest.raises(ValidationError, match="status_class"):
        atlas.schema.validate_layers(tampered)


# --- status as of a date -------------------------------------------------------------


def _synthetic(*rows):
    return pd.DataFrame([dict(zip(("finding_id", "date_start", "date_end", "status_signal",
                                   "evidence_basis"), r)) for r in rows])


def test_status_rule_on_synthetic_findings():
    f = _synthetic(("F1", "2010-11-01", "2012-10-31", "active", "imagery"),
                   ("F2", "2012-03-01", "2012-06-30", "closed", "media"))
    at = lambda d: ev.status_from_findings(f, d)  # noqa: E731
    assert at("2010-10-31").status == "unknown"
    assert at("2010-11-01").status == "active"
    assert at("2012-06-29").status == "active"
    s = at("2012-06-30")  # imagery of an active camp to 2012-10 against a closure by 2012-06
    assert s.status == "contested" and list(s.deciding["finding_id"]) == ["F2"]
    assert list(s.against["finding_id"]) == ["F1"] and s.sources_disagree
    assert at("2099").status == "closed"  # F1's window has ended; the closure holds
    # an active finding alone counts until WINDOW_YEARS after its end, then "unknown"
    alone = f.iloc[:1]
    assert ev.status_from_findings(alone, "2017-10-31").status == "active"
    late = ev.status_from_findings(alone, "2017-11-01")
    assert late.status == "unknown" and "F1" in late.reason
    assert f"{ev.WINDOW_YEARS} years after its last day" in late.explain
    # open start: its last day only; open end: a closure counts from its first day
    g = _synthetic(("F1", None, "2008-12-31", "active", "testimony"),
                   ("F2", "2015-01-01", None, "relocated", "report"))
    assert ev.status_from_findings(g, "2008-12-30").status == "unknown"
    assert ev.status_from_findings(g, "2008-12-31").status == "active"
    assert ev.status_from_findings(g, "2009-01-01").status == "unknown"
    assert ev.status_from_findings(g, "2014-12-31").status == "unknown"
    assert ev.status_from_findings(g, "2015-01-01").status == "relocated"
    # undated findings never count, and so never contest
    h = _synthetic(("F1", "2006-01-01", "2006-12-31", "closed", "official"),
                   ("F2", None, None, "active", "imagery"))
    s = ev.status_from_findings(h, "2010")
    assert s.status == "closed" and s.against.empty and "F2" in s.explain
    assert ev.status_from_findings(h.iloc[1:], "2010").status == "unknown"
    # pre-1970
    k = _synthetic(("F1", "1967-05-21", "1967-05-21", "active", "imagery"))
    assert ev.status_from_findings(k, "1967-05-20").status == "unknown"
    assert ev.status_from_findings(k, "1967-05-21").status == "active"


def test_status_changes_the_day_each_decisive_finding_is_known(gpkg, layers):
    f = layers["camp_findings"]
    checked = 0
    for site, group in f.groupby("site_id"):
        for row in group[group["status_signal"] != "none"].to_dict("records"):
            start, end = row["date_start"], row["date_end"]
            if not isinstance(start, str) and not isinstance(end, str):
                continue
            d = lambda v: date.fromisoformat(v) if isinstance(v, str) else None  # noqa: E731
            known = (d(start) or d(end)) if row["status_signal"] == "active" else (d(end) or d(start))
            on = ev.status_from_findings(group, known, site)
            if row["finding_id"] != on.deciding["finding_id"].iloc[0] if len(on.deciding) else True:
                continue  # another finding known the same day or later decides
            before = ev.status_from_findings(group, known - timedelta(days=1), site)
            assert row["finding_id"] not in set(before.deciding.get("finding_id", []))
            assert on.status in (row["status_signal"], "contested")  # P3 may stand against a closure
            assert atlas.status_at(site, known, gpkg).status == on.status
            checked += 1
            if row["status_signal"] == "active" and isinstance(end, str):
                alone = group[group["finding_id"] == row["finding_id"]]
                # open start: its last day only; else five years after its last day
                last = ev._add_years(d(end), ev.WINDOW_YEARS) if isinstance(start, str) else d(end)
                assert ev.status_from_findings(alone, last).status == "active"
                assert ev.status_from_findings(alone, last + timedelta(days=1)).status == "unknown"
    assert checked >= 10


def test_status_at_resolves_names_and_rejects_bad_dates(gpkg):
    assert atlas.status_at("kwan-li-so 22", "2013", gpkg).site_id == "KLS-22"
    with pytest.raises(atlas.AmbiguousError):
        atlas.status_at("camp 22", "2013", gpkg)  # kwan-li-so 22 and kyo-hwa-so 22
    with pytest.raises(DateParseError):
        atlas.status_at("KLS-22", "2013-14", gpkg)
    with pytest.raises(atlas.NotFoundError):
        atlas.status_at("Nowhere-ri camp", "2013", gpkg)


# --- command line ---------------------------------------------------------------------


def test_cli_status_lists_every_camp_in_three_formats(gpkg, layers):
    r = run_cli("status", "--as-of", "2014-06", "--format", "json", "--gpkg", str(gpkg))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    rows = data["rows"] if isinstance(data, dict) and "rows" in data else data
    assert len(rows) == len(layers["camps"])
    assert {x["status"] for x in rows} <= set(ev.STATUSES)
    want = status.status_table("2014-06", gpkg)
    assert [x["status"] for x in rows] == list(want["status"])
    r = run_cli("status", "--as-of", "2014-06", "--format", "csv", "--gpkg", str(gpkg))
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == len(layers["camps"]) + 1
    r = run_cli("status", "Hoeryong", "--as-of", "2012-07", "--gpkg", str(gpkg))
    assert r.returncode == 0 and "Deciding findings:" in r.stdout and "KLS-22" in r.stdout


@pytest.mark.parametrize("args", [["status", "--as-of", "2014-13"], ["status", "Nowhere-ri camp"],
                                  ["summary", "--as-of", "yesterday"],
                                  ["summary", "--as-of", "2010", "--by", "county"]])
def test_cli_bad_input_is_one_message_and_exit_2(gpkg, args):
    r = run_cli(*args, "--gpkg", str(gpkg))
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.strip()


def test_summary_as_of_counts_every_camp_by_status_per_province(gpkg, layers):
    r = run_cli("summary", "--as-of", "2010", "--format", "json", "--gpkg", str(gpkg))
    assert r.returncode == 0, r.stderr
    table = status.status_summary("2010", gpkg)
    total = table[table["province"] == "Total"].iloc[0]
    assert total["camps"] == len(layers["camps"])
    assert sum(total[s] for s in ev.STATUSES) == total["camps"]
    statuses = status.status_table("2010", gpkg)["status"].value_counts()
    for s in ev.STATUSES:
        assert total[s] == statuses.get(s, 0)
    # counted where `atlas summary` counts them: the report's own Table 2 row holds no camp
    assert "Unidentified or unknown" not in set(table["province"])
    from atlas.summaries import camp_provinces, province_summary

    where = camp_provinces(gpkg)
    assert where["KLS-18T"] == "South Pyongan Province"  # no coordinate: the province its sources give
    plain = province_summary(gpkg).set_index("province")
    sites = where.value_counts()  # status_summary counts sites; summary counts a kwan-li-so once by number
    for prov, row in table.set_index("province").drop("Total").iterrows():
        assert row["camps"] == sites.get(prov, 0)
        assert row["camps"] >= plain.loc[prov, ["kwan_li_so", "kyo_hwa_so", "other_camp_sites"]].sum()
