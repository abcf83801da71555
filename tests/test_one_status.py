"""One status per site and day (issue 22): the rule, its explanation, and the same answer everywhere.

The expected status of every kwan-li-so on the fixed days is ``tests/expected_status.csv`` (with the
line of the source and the decision of each row; checked in ``test_status_table.py`` and here
through the command line). The synthetic findings below are named as such and live only here.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import date, timedelta

import pandas as pd
import pytest

import atlas
from atlas import evidence as ev

from .conftest import REPO, run_cli

TABLE = REPO / "tests" / "expected_status.csv"
DAYS = ("2010-01-01", "2014-01-01", "2016-01-01", "2018-01-01", "2026-12-07")
COLUMNS = ("finding_id", "date_start", "date_end", "status_signal", "signal_strength", "evidence_basis")


def synthetic(*rows) -> pd.DataFrame:
    """A SYNTHETIC findings frame: (id, start, end, signal, strength, basis) per finding."""
    return pd.DataFrame([dict(zip(COLUMNS, r)) for r in rows], columns=list(COLUMNS))


def at(frame: pd.DataFrame, day) -> ev.SiteStatus:
    return ev.status_from_findings(frame, day, "SYNTHETIC")


def _expected() -> list[dict]:
    with TABLE.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --- every kwan-li-so on the fixed days, through the command line --------------------------------


@pytest.mark.parametrize("day", DAYS)
def test_atlas_status_gives_the_expected_table_on_each_day(gpkg, day):
    want = {r["site_id"]: r for r in _expected() if r["as_of"] == day}
    assert len(want) == 7
    r = run_cli("status", "--as-of", day, "--format", "json", "--gpkg", str(gpkg))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["meta"]["as_of"] == day
    got = {x["site_id"]: x for x in data["rows"] if x["site_id"] in want}
    assert set(got) == set(want)
    for site, row in want.items():
        assert got[site]["status"] == row["status"], (site, day, row["decision"])
        assert set(got[site]["deciding"].split()) == set(row["deciding"].split()), (site, day)
        assert set(got[site]["against"].split()) == set(row["against"].split()), (site, day)
        assert got[site]["sources_disagree"] == (row["status"] == "contested")


# --- hedged, open-start and undated findings never decide alone ----------------------------------


@pytest.mark.parametrize("signal", ["active", "closed", "relocated"])
def test_a_hedged_finding_alone_never_decides(signal):
    f = synthetic(("S1", "2012-03-01", "2012-06-30", signal, "hedged", "imagery"))
    for day in ("2012-03-01", "2012-06-30", "2013-01-01", "2030-01-01"):
        s = at(f, day)
        assert s.status == "unknown" and s.deciding.empty and s.against.empty, (signal, day)
        assert "hedged" in s.explain and "never decides" in s.explain
    assert at(f, "2013-01-01").summary == "as of 2013-01-01: unknown; latest evidence 2012-06-30, hedged"


def test_an_open_start_account_counts_on_its_last_day_only():
    f = synthetic(("S1", None, "2008-12-31", "active", "stated", "testimony"))
    assert at(f, "2008-12-30").status == "unknown"
    assert at(f, "2008-12-31").status == "active"
    after = at(f, "2009-01-01")
    assert after.status == "unknown"
    assert "open start" in after.explanation.set_index("finding_id").at["S1", "why"]


def test_an_undated_account_never_counts():
    f = synthetic(("S1", None, None, "active", "stated", "testimony"),
                  ("S2", "2006-01-01", "2006-12-31", "closed", "stated", "official"))
    assert at(f.iloc[:1], "2010").status == "unknown"
    s = at(f, "2010")
    assert s.status == "closed" and s.against.empty and not s.sources_disagree
    why = s.explanation.set_index("finding_id")
    assert not why.at["S1", "counts"] and "undated" in why.at["S1", "why"]


def test_a_later_hedged_closure_ends_an_active_window_without_deciding():  # P2
    f = synthetic(("S1", "2015-01-01", "2015-12-31", "active", "stated", "report"),
                  ("S2", "2016-06-02", "2017-02-19", "closed", "hedged", "imagery"))
    assert at(f, "2016-06-01").status == "active"
    s = at(f, "2016-06-02")
    assert s.status == "unknown" and s.deciding.empty
    assert "P2" in s.explanation.set_index("finding_id").at["S1", "why"]
    assert at(f.iloc[:1], "2018-01-01").status == "active"  # without the doubt, the window runs on


# --- contested whenever counted signals disagree -------------------------------------------------


def test_findings_whose_periods_disagree_are_contested_and_both_sides_named():
    f = synthetic(("S1", "2010-11-01", "2012-10-31", "active", "stated", "imagery"),
                  ("S2", "2012-03-01", "2012-06-30", "closed", "stated", "media"))
    assert at(f, "2012-06-29").status == "active"
    s = at(f, "2012-06-30")
    assert s.status == "contested" and s.sources_disagree and s.tier == 2
    assert set(s.deciding["finding_id"]) | set(s.against["finding_id"]) == {"S1", "S2"}
    assert "disagree" in s.tier_label and "agree" not in s.tier_label.replace("disagree", "")
    assert "S1" in s.summary and "S2" in s.summary
    # P1: a closure observed after the active period ends the window: no contest
    g = synthetic(("S1", "2009-01-01", "2010-12-31", "active", "stated", "testimony"),
                  ("S2", "2012-05-01", "2012-05-31", "closed", "stated", "testimony"))
    assert at(g, "2012-05-30").status == "active"
    assert at(g, "2012-05-31").status == "closed"
    assert at(g, "2014-01-01").status == "closed"


def test_a_later_relocation_stands_against_an_earlier_closure():  # P3
    f = synthetic(("S1", "2006-01-01", "2006-12-31", "closed", "stated", "official"),
                  ("S2", "2012-01-01", "2012-12-31", "relocated", "stated", "report"))
    s = at(f, "2010-01-01")
    assert s.status == "contested"
    assert list(s.deciding["finding_id"]) == ["S1"] and list(s.against["finding_id"]) == ["S2"]
    assert at(f, "2012-12-31").status == "relocated"
    assert at(f, "2006-12-30").status == "unknown"


def _random_frame(rng: random.Random, n: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        start = date(2000, 1, 1) + timedelta(days=rng.randrange(0, 7000))
        end = start + timedelta(days=rng.randrange(0, 1500))
        kind = rng.random()
        s, e = (None, end) if kind < 0.15 else (None, None) if kind < 0.25 else (start, end)
        rows.append((f"S{i}", s and s.isoformat(), e and e.isoformat(),
                     rng.choice(["active", "active", "closed", "relocated", "none"]),
                     rng.choice(["stated", "stated", "hedged"]),
                     rng.choice(list(ev.BASES))))
    return synthetic(*rows)


def test_on_any_day_the_status_is_contested_exactly_when_the_counted_signals_disagree():
    rng = random.Random(22)
    checked = contested = 0
    for _ in range(60):
        f = _random_frame(rng, rng.randrange(1, 7))
        by_id = f.set_index("finding_id")
        for _ in range(12):
            day = date(1999, 1, 1) + timedelta(days=rng.randrange(0, 11000))
            s = at(f, day)
            counted = s.explanation[s.explanation["counts"]]
            sides = set(s.deciding["finding_id"]) | set(s.against["finding_id"])
            assert set(counted["finding_id"]) == sides  # the explanation and the sides agree
            for fid in sides:  # only dated, stated findings with a signal are ever counted
                row = by_id.loc[fid]
                assert row["signal_strength"] == "stated" and row["status_signal"] != "none"
                assert isinstance(row["date_end"], str) or isinstance(row["date_start"], str)
            why = s.explanation.set_index("finding_id")["why"]
            signals = {by_id.at[x, "status_signal"] for x in s.deciding["finding_id"]}
            # P3: a later closure or relocation stands against an earlier closure as "it operated until then"
            other = {"active" if why[x].startswith("stands against") else by_id.at[x, "status_signal"]
                     for x in s.against["finding_id"]}
            if s.status == "contested":
                contested += 1
                assert len(signals) == 1 and other and not other & signals
            elif s.status == "unknown":
                assert not sides
            else:
                assert signals == {s.status} and not other
            assert s.sources_disagree == (s.status == "contested") == (s.tier == 2)
            checked += 1
    assert checked == 720 and contested > 0


# --- the explanation names every finding ----------------------------------------------------------


def test_explain_names_every_finding_of_each_kwan_li_so_and_a_mine(gpkg, layers):
    f, mf = layers["camp_findings"], layers["mine_findings"]
    sites = [(s, f) for s in ("KLS-14", "KLS-15", "KLS-16", "KLS-18", "KLS-18T", "KLS-22", "KLS-25")]
    sites.append(("M016", mf))
    for site, findings in sites:
        r = run_cli("status", site, "--as-of", "2018-01-01", "--explain", "--gpkg", str(gpkg))
        assert r.returncode == 0, r.stderr
        text = r.stdout[r.stdout.index("Every finding of the site on the day:"):]
        ids = set(findings.loc[findings["site_id"] == site, "finding_id"])
        assert ids and all(f"  {i}  " in text for i in ids), (site, ids)
        assert text.rstrip().splitlines()[-1].startswith("Rule: ")
    s = atlas.status_at("KLS-15", "2018-01-01", gpkg)
    assert set(s.explanation["finding_id"]) == set(f.loc[f["site_id"] == "KLS-15", "finding_id"])
    hedged = s.explanation[s.explanation["signal_strength"] == "hedged"]
    assert len(hedged) and hedged["why"].str.startswith("hedged").all() and not hedged["counts"].any()


def test_explain_needs_a_site(gpkg):
    r = run_cli("status", "--explain", "--gpkg", str(gpkg))
    assert r.returncode == 2 and "SITE" in r.stderr


# --- mines: dated status, and never a camp's --------------------------------------------------------


def test_a_mine_status_changes_the_day_a_dated_finding_begins_to_count(gpkg, layers):
    mf = layers["mine_findings"]
    one_day = mf[(mf["date_start"] == mf["date_end"]) & mf["date_start"].notna()
                 & (mf["signal_strength"] == "stated") & (mf["status_signal"] == "active")]
    assert len(one_day) >= 3
    checked = 0
    for row in one_day.to_dict("records"):
        day = date.fromisoformat(row["date_start"])
        before = atlas.status_at(row["site_id"], day - timedelta(days=1), gpkg)
        on = atlas.status_at(row["site_id"], day, gpkg)
        assert row["finding_id"] not in set(before.deciding["finding_id"])
        assert row["finding_id"] in set(on.deciding["finding_id"]) | set(on.against["finding_id"])
        assert on.status in ("active", "contested")
        if before.status == "unknown":
            checked += 1
    assert checked >= 1  # at least one mine was unknown the day before: GEM's status speaks from its release


def test_a_name_that_fits_a_camp_and_a_mine_is_never_answered_for_one_of_them(gpkg, layers):
    camps = layers["camps"]
    # a kyo-hwa-so whose place name is also the name of a mine the report names
    sun = camps[camps["name"].str.startswith("Sunchon")]
    assert len(sun) == 1
    with pytest.raises(atlas.AmbiguousError) as err:
        atlas.status_at("Sunchon", None, gpkg)
    layers_named = {c["layer"] for c in err.value.candidates}
    assert "camps" in layers_named and layers_named & {"mines", "named_mines"}
    r = run_cli("status", "Sunchon", "--gpkg", str(gpkg))
    assert r.returncode == 2 and "fits a camp and a mine" in r.stderr
    assert atlas.status_at("Sunchon", None, gpkg, layers=["camps"]).site_id == sun["site_id"].iloc[0]
    assert atlas.status_at("M016", "2020-01-01", gpkg).layer == "mines"


# --- one answer everywhere, as of the build date by default ----------------------------------------


def test_status_show_summary_and_the_layer_agree_on_the_build_date(gpkg, layers):
    one = atlas.open_atlas(gpkg)
    built = one.build_date[:10]
    camps = layers["camps"]
    assert set(camps["status_as_of"]) == {built}  # the layer's status_class speaks of the build date
    table = atlas.status_table(None, one)
    assert table.attrs["as_of"] == built and (table["as_of"] == built).all()
    by_site = table.set_index("site_id")
    for c in camps.to_dict("records"):
        site = c["site_id"]
        s = atlas.status_at(site, None, one, layers=["camps"])
        assert s.as_of.isoformat() == built
        assert s.status == by_site.at[site, "status"] == c["status_class"], site
        assert s.summary == c["status_summary"] and s.tier_label == c["evidence_tier_label"], site
        assert bool(c["sources_disagree"]) == (s.status == "contested"), site
    for site in ("KLS-15", "KLS-18", "KLS-22", "M016"):
        r = run_cli("show", site, "--format", "json", "--gpkg", str(gpkg))
        assert r.returncode == 0, r.stderr
        rec = json.loads(r.stdout)
        assert "status_class" not in rec["fields"]
        want = atlas.status_at(site, None, one)
        assert rec["status"]["status"] == want.status and rec["status"]["summary"] == want.summary
        text = run_cli("show", site, "--gpkg", str(gpkg)).stdout
        assert f"Status {want.summary}" in text
    r = run_cli("summary", "--format", "json", "--gpkg", str(gpkg))
    meta = json.loads(r.stdout)["meta"]
    assert meta["status_as_of"] == built
    rows = json.loads(r.stdout)["rows"]
    counts = table["status"].value_counts()
    for status, col in (("active", "camps_active"), ("closed", "camps_closed"),
                        ("relocated", "camps_relocated"), ("contested", "camps_contested"),
                        ("unknown", "camps_status_unknown")):
        assert sum(int(x[col] or 0) for x in rows if x["province"] != "Total") == counts.get(status, 0), status
    text = run_cli("summary", "--gpkg", str(gpkg)).stdout
    assert text.splitlines()[0].startswith(f"Camps counted by status as of {built}")


@pytest.mark.parametrize("day", ["2014-01-01", "2018-01-01"])
def test_summary_as_of_and_status_count_the_same_statuses(gpkg, day):
    r = run_cli("summary", "--as-of", day, "--format", "json", "--gpkg", str(gpkg))
    assert r.returncode == 0, r.stderr
    total = next(x for x in json.loads(r.stdout)["rows"] if x["province"] == "Total")
    counts = atlas.status_table(day, gpkg)["status"].value_counts()
    for s in ev.STATUSES:
        assert total[s] == counts.get(s, 0), s
    assert run_cli("summary", "--as-of", day, "--gpkg", str(gpkg)).stdout.startswith(
        f"Camps by status as of {day}.")


def test_near_adds_each_feature_status_then_and_filters_on_it(gpkg):
    base = ["near", "KLS-14", "--km", "150", "--layer", "camps", "--gpkg", str(gpkg)]
    r = run_cli(*base, "--status-as-of", "2010-01-01", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["meta"]["status_as_of"] == "2010-01-01"
    got = {x["id"]: x["status_2010-01-01"] for x in data["rows"]}  # a dated column names its date
    assert got and all(got[i] == atlas.status_at(i, "2010-01-01", gpkg).status for i in got)
    assert got.get("KLS-18") == "contested"  # P3 on 2010-01-01 (expected_status.csv)
    r = run_cli(*base, "--status-as-of", "2010-01-01", "--status", "active", "--format", "json")
    kept = {x["id"] for x in json.loads(r.stdout)["rows"]}
    assert kept == {i for i, s in got.items() if s == "active"} and kept
    text = run_cli(*base, "--status-as-of", "2010-01-01").stdout
    assert "Status as of 2010-01-01" in text and " contested " in text
    r = run_cli("near", "KLS-14", "--km", "20", "--layer", "counties", "--status-as-of", "2010",
                "--gpkg", str(gpkg))
    assert r.returncode == 2 and "has no status" in r.stderr


def test_an_explanation_printed_to_a_terminal_carries_no_control_character(gpkg):
    from atlas.formats import status_report

    f = synthetic(("S1", "2016-06-02", "2017-02-19", "closed", "hedged", "imagery"))
    f["strength_reason"] = "SYNTHETIC \x1b[2J\x1b]0;owned\x07 withheld"
    s = at(f, "2018-01-01")
    assert "\x1b" in s.explain  # the rule keeps the data as given ...
    table = atlas.status_table("2018-01-01", gpkg, sites=["KLS-15"])
    text = status_report(table, "table", s, explain=True).text
    assert "\x1b" not in text and "\x07" not in text and "\\x1b[2J" in text  # ... the terminal sees it escaped
