"""`atlas show SITE`: a site's whole record, checked against the built GeoPackage."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

import atlas
from atlas.record import discrepancies_for

from .conftest import run_cli


def _show(gpkg, *args):
    return run_cli("show", *args, "--gpkg", str(gpkg))


def test_show_camp_15_has_every_field_finding_coordinate_and_discrepancy(gpkg, layers):
    result = _show(gpkg, "camp 15")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    camp = layers["camps"].set_index("site_id").loc["KLS-15"]
    rule = ("status_class", "status_as_of", "status_summary")  # the rule's answer: said once, as the status
    for column in layers["camps"].columns.drop(["geometry", *rule]):  # every field, named
        assert f"\n{column} " in text, column
    assert f"\nStatus {camp['status_summary']}\n" in text and "\nstatus_class " not in text
    assert "요덕 제15호 관리소" in text
    findings = layers["camp_findings"]
    ids = list(findings.loc[findings["site_id"] == "KLS-15", "finding_id"])
    assert ids and all(f"\n  {i}  " in text for i in ids)
    positions = [text.index(f"\n  {i}  ") for i in ids]
    dated = findings.set_index("finding_id").loc[ids]
    start = dated["date_start"].fillna(dated["date_end"]).astype(str)
    assert [i for _, i in sorted(zip(positions, ids))] == list(start.sort_values(kind="stable").index)
    cands = layers["coordinate_candidates"]
    flat = " ".join(text.split())  # the text view wraps long lines
    for _, c in cands[cands["site_id"] == "KLS-15"].iterrows():  # every published coordinate, its distance
        line = f"{c.geometry.y:.6f}, {c.geometry.x:.6f}; source: {c['source']}; "
        assert f"{line}{float(c['distance_km_from_atlas_point']):g} km from the atlas point" in flat
    assert "D01:" in text and "D04:" in text and "D05:" not in text
    assert int(camp["n_findings"]) == len(ids)


def test_show_cites_finding_pages_as_given_never_p_p(gpkg, layers):
    findings = layers["camp_findings"]
    pages = findings.loc[(findings["site_id"] == "KLS-14") & (findings["page"].fillna("") != ""), "page"]
    assert len(pages) >= 2
    text = " ".join(_show(gpkg, "KLS-14").stdout.split())
    assert "p. p." not in text
    assert all(", " + " ".join(p.split()) + ")" in text for p in pages), list(pages)


def test_show_json_carries_what_a_reader_cites(gpkg):
    result = _show(gpkg, "KLS-15", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    meta = data["meta"]
    assert meta["gpkg_sha256"] == hashlib.sha256(gpkg.read_bytes()).hexdigest()
    assert meta["atlas_version"] and meta["build_date"].startswith("20")
    assert {s["path"] for s in meta["sources"]} >= {"camps/camps.csv", "camps/findings.csv"}
    assert data["fields"]["name_ko"] == "요덕 제15호 관리소"
    keys = [(f["date_start"] or f["date_end"] or "9999") for f in data["findings"]]
    assert keys == sorted(keys)
    assert all(f["type_in_words"] and "_" not in f["type_in_words"] for f in data["findings"])
    assert all("source_report" in f and "page" in f for f in data["findings"])
    assert data["coordinates"][0]["role"] == "atlas point"
    # D10: its mining; D17: its zones against the 2014 imagery
    assert [d["discrepancy_id"] for d in data["discrepancies"]] == ["D01", "D04", "D10", "D17"]


def test_show_markdown_escapes_table_cells(gpkg):
    result = _show(gpkg, "KHS-04", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# KHS-04")
    rows = [ln for ln in lines if ln.startswith("| ")]
    assert all(ln.count(" | ") - ln.count("\\|") == 1 for ln in rows[1:])  # two cells each
    assert any(ln.startswith("- D05:") for ln in lines)


def test_show_mine_lists_other_published_coordinates_and_its_discrepancy(gpkg, layers):
    mines = layers["mines"]
    musan = mines[mines["name"] == "MMI Musan Mine"].iloc[0]
    data = json.loads(_show(gpkg, musan["mine_id"], "--format", "json").stdout)
    others = [c for c in data["coordinates"] if c["role"] == "published coordinate"]
    assert len(others) == len(str(musan["cross_checks"]).split(" | ")) >= 1
    assert all(c["distance_km"] >= 0 for c in others)
    named = layers["named_mines"]
    ref = named[named["discrepancy_ref"] == "D02"].iloc[0]
    data = json.loads(_show(gpkg, ref["named_id"], "--format", "json").stdout)
    assert (data["discrepancies"][0]["discrepancy_id"], data["discrepancies"][0]["why"]) == (
        "D02", "the feature's discrepancy_ref")


def test_show_refuses_ambiguous_and_unknown_sites(gpkg):
    ambiguous = _show(gpkg, "Kaechon")
    assert ambiguous.returncode == 2 and "KLS-14" in ambiguous.stderr and "Traceback" not in ambiguous.stderr
    assert _show(gpkg, "Kaechon", "--site-layer", "camps").returncode == 2  # two camps: still ambiguous
    assert _show(gpkg, "kwan-li-so 14", "--site-layer", "camps").returncode == 0
    unknown = _show(gpkg, "Nowhere-ri zzz")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr


def test_discrepancy_links_by_number_kind_and_class():
    table = pd.DataFrame([
        {"discrepancy_id": "D90", "subject": "Area of a political prison camp"},
        {"discrepancy_id": "D91", "subject": "Date", "reading_b_where": "kyo-hwa-so No. 12 says so"},
        {"discrepancy_id": "D92", "subject": "Province of Camp 12"},
    ])
    kls = {d["discrepancy_id"] for d in discrepancies_for("camps", {"kind": "kwan-li-so", "number": "12"}, table)}
    khs = {d["discrepancy_id"] for d in discrepancies_for("camps", {"kind": "kyo-hwa-so", "number": "12"}, table)}
    assert kls == {"D90", "D92"} and khs == {"D91"}


def test_python_api_returns_and_prints_the_record(gpkg, capsys):
    rec = atlas.record("KLS-14", gpkg)
    assert rec.layer == "camps" and rec.fields["site_id"] == "KLS-14"
    atlas.show("KLS-14", gpkg=gpkg, format="markdown")
    assert capsys.readouterr().out.startswith("# KLS-14")
    with pytest.raises(atlas.InputError):
        atlas.show("KLS-14", gpkg=gpkg, format="xml")


def test_records_of_a_layer_are_the_records_of_each_site(gpkg, layers):
    """One gathering: atlas.records (the map's popups, the KMZ's balloons) gives, for every camp, mine and
    named mine, what atlas.record (atlas show, the dossier) gives for that site alone."""
    for layer, id_col in (("camps", "site_id"), ("mines", "mine_id"), ("named_mines", "named_id")):
        gathered = atlas.records(layer, gpkg)
        assert list(gathered) == [str(i) for i in layers[layer][id_col]], layer  # every feature, in order
        for site_id, rec in gathered.items():
            one = atlas.record(site_id, gpkg, layer=layer)
            assert rec.to_dict() == one.to_dict(), (layer, site_id)
    camps = atlas.records("camps", gpkg)
    assert sum(len(r.findings) for r in camps.values()) == len(layers["camp_findings"])
    assert any(r.passages for r in atlas.records("mines", gpkg).values())
    with pytest.raises(atlas.InputError):
        atlas.records("report_table_4", gpkg)  # a table with no id column
