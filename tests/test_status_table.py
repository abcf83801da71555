"""The status of every kwan-li-so on fixed dates, derived from the sources (issue 22).

``tests/expected_status.csv`` holds, for each kwan-li-so and each of the starts of 2010, 2014,
2016 and 2018 and 2026-12-07 (fixed days, never "the build date"), the status the rule of
``docs/evidence.md`` gives, the findings that decide it (``deciding``; ``against``: the other side
of a contested day), where in the sources it rests (``source``) and the one-line decision. Where
the adopted changes P1, P2 and P3 of ``docs/evidence.md`` changed the answer, ``status_before``
holds the answer of the rule before them and ``change`` the change that decided.

The table is checked against the data (every finding it names exists, is dated and stated, and
says the status it is named for) and against :func:`atlas.status_at`.
"""

from __future__ import annotations

import csv
import re
from datetime import date

import atlas

from .conftest import REPO

TABLE = REPO / "tests" / "expected_status.csv"
DOC = REPO / "docs" / "evidence.md"
SITES = ("KLS-14", "KLS-15", "KLS-16", "KLS-18", "KLS-18T", "KLS-22", "KLS-25")
DAYS = ("2010-01-01", "2014-01-01", "2016-01-01", "2018-01-01", "2026-12-07")
STATUSES = ("active", "closed", "relocated", "contested", "unknown")


def _table() -> list[dict]:
    with TABLE.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _findings(layers) -> dict[str, dict]:
    return {r["finding_id"]: r for r in layers["camp_findings"].to_dict("records")}


def _dated(row: dict) -> bool:
    return any(isinstance(row[c], str) and row[c] for c in ("date_start", "date_end"))


def test_the_table_holds_every_kwan_li_so_on_every_day(layers):
    rows = _table()
    assert [(r["site_id"], r["as_of"]) for r in rows] == [(s, d) for s in SITES for d in DAYS]
    camps = layers["camps"].set_index("site_id")
    assert set(camps.index[camps["kind"] == "kwan-li-so"]) == set(SITES)
    for r in rows:
        date.fromisoformat(r["as_of"])
        assert r["status"] in STATUSES, r
        assert r["status_before"] in ("", *STATUSES), r
        assert r["decision"].strip() and r["source"].strip(), r
        if r["status_before"]:
            assert r["status_before"] != r["status"] and re.match(r"P\d: ", r["change"]), r
            assert r["decision"].startswith(r["change"][:3]), r
            assert f"**{r['change'][:2]}" in DOC.read_text(encoding="utf-8"), r  # the change is written down


def test_every_finding_the_table_names_exists_and_takes_its_side(layers):
    found = _findings(layers)
    for r in _table():
        deciding, against = r["deciding"].split(), r["against"].split()
        for fid in (*deciding, *against):
            f = found.get(fid)
            assert f is not None, (r["site_id"], r["as_of"], fid)
            assert f["site_id"] == r["site_id"], fid
            # only dated, stated findings with a signal ever decide (hedged and undated never do)
            assert f["signal_strength"] == "stated" and _dated(f) and f["status_signal"] != "none", fid
            for col in ("date_start", "date_end"):
                if isinstance(f[col], str) and f[col]:
                    date.fromisoformat(f[col])
        signals = {found[x]["status_signal"] for x in deciding}
        if r["status"] == "unknown":
            assert not deciding and not against, r
        elif r["status"] == "contested":  # both sides named, and they disagree
            other = {found[x]["status_signal"] for x in against}
            assert deciding and against and len(signals) == 1 and len(other) == 1 and signals != other, r
        else:
            assert signals == {r["status"]} and not against, r


def test_hedged_findings_say_why_and_appear_on_no_side(layers):
    f = layers["camp_findings"]
    hedged = f[f["signal_strength"] == "hedged"]
    assert {"F009", "F010", "F024", "F055"} <= set(hedged["finding_id"])
    assert hedged["strength_reason"].str.len().min() > 20
    named = {x for r in _table() for x in (*r["deciding"].split(), *r["against"].split())}
    assert not named & set(hedged["finding_id"])
    assert set(f["signal_strength"]) <= {"stated", "hedged"}


def test_finding_ids_are_stored_unique_and_stable(layers):
    f = layers["camp_findings"]
    assert f["finding_id"].is_unique and f["finding_id"].str.fullmatch(r"F\d{3,}").all()
    # ids given before the report's findings were added still name the same findings
    by_id = f.set_index("finding_id")
    for fid, site, kind in (("F001", "KLS-14", "mine_active"), ("F003", "KLS-18", "rail_line"),
                            ("F010", "KLS-15", "housing_razed"), ("F027", "KLS-22", "closure"),
                            ("F044", "OTH-DHR", "forced_labour"), ("F045", "OTH-DHR", "mine_active")):
        assert (by_id.loc[fid, "site_id"], by_id.loc[fid, "finding_type"]) == (site, kind)
    m = layers["mine_findings"]
    assert m["finding_id"].is_unique and m["finding_id"].str.fullmatch(r"MF\d{3,}").all()
    known = set(layers["mines"]["mine_id"]) | set(layers["named_mines"]["named_id"])
    assert set(m["site_id"]) <= known


def test_report_findings_are_dated_and_cited_by_section(layers):
    for name in ("camp_findings", "mine_findings"):
        f = layers[name]
        from_report = f[f["source_report"].str.contains("Gulag, Inc.", regex=False)]
        assert len(from_report) >= 8, name
        for r in from_report.to_dict("records"):
            cite = str(r["report_cite"] or "")
            assert cite.startswith("Gulag, Inc. (HRNK 2016), ") and "report text L" in cite, r["finding_id"]
            assert re.search(r"¶\d|fn \d+|Chart \d", cite), r["finding_id"]
            # a finding that cites the COI or a white paper is not undated
            if re.search(r"commission of inquiry|White Paper", r["source_report"]) and r["status_signal"] != "none":
                assert r["date_rule"] != "undated", r["finding_id"]


def test_every_quotation_of_the_report_is_cited_by_section_and_paragraph(layers):
    p = layers["report_passages"]
    for r in p.to_dict("records"):
        assert r["section"] and r["paragraph"] and r["paragraph_opens"], r["passage_id"]
        assert r["report_ref"].startswith(f"Gulag, Inc. (HRNK 2016), {r['section']}, {r['paragraph']}")
        assert "(report text L" in r["report_ref"], r["passage_id"]
    # every site the report names has a passage; its forced-labour evidence where it gives some
    by_site = p.assign(site=p["site_ids"].str.split(";")).explode("site")
    quoted = set(by_site["site"])
    assert set(layers["named_mines"]["named_id"]) <= quoted
    assert {"KLS-14", "KLS-15", "KLS-16", "KLS-18", "KLS-18T", "KLS-22", "KLS-25", "KHS-01", "KHS-04",
            "KHS-09", "KHS-12", "OTH-DHR", "M016", "M033"} <= quoted
    musan = " ".join(by_site[by_site["site"] == "M016"]["quote"])
    assert "mine at Musan" in musan  # the POW testimony, not only the magnetite deposit


def test_no_published_value_names_a_folder_outside_the_package(layers):
    bad = re.compile(r"(?:^|[\s(\"'`])\.\./|shared/seed|/work/")
    for name, df in layers.items():
        for col in df.columns:
            if col != "geometry" and df[col].dtype == object:
                assert not df[col].astype(str).str.contains(bad).any(), (name, col)


def test_status_at_gives_the_table(gpkg):
    one = atlas.open_atlas(gpkg)
    for r in _table():
        s = atlas.status_at(r["site_id"], r["as_of"], one)
        assert s.as_of.isoformat() == r["as_of"]
        assert s.status == r["status"], (r["site_id"], r["as_of"], s.status, r["decision"])
        assert set(s.deciding.get("finding_id", [])) == set(r["deciding"].split()), (r, s.reason)
        assert set(s.against.get("finding_id", [])) == set(r["against"].split()), (r, s.reason)
        assert s.sources_disagree == (r["status"] == "contested")


def test_the_table_is_the_rule_as_adopted_and_the_doc_says_so():
    doc = DOC.read_text(encoding="utf-8")
    for p in ("P1", "P2", "P3"):
        assert f"**{p}" in doc
    assert "Proposed:" not in doc and "are adopted" in doc
    changed = [r for r in _table() if r["status_before"]]
    assert {r["change"][:2] for r in changed} == {"P1", "P2", "P3"}
