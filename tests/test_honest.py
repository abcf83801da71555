"""Honest answers: an empty `near` says where the nearest feature is; exports carry every column
and what a reader cites; the summary keeps the report's unknown row apart and counts camps by status.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil

import pytest

import atlas

from .conftest import run_cli


def _near(gpkg, *args):
    return run_cli("near", *args, "--gpkg", str(gpkg))


def test_empty_near_names_the_nearest_feature_and_the_camp_area_caveat(gpkg):
    result = _near(gpkg, "camp 15", "--km", "25")
    assert result.returncode == 0, result.stderr
    top = atlas.nearest("KLS-15", "mines", k=1, gpkg=gpkg).iloc[0]
    text = " ".join(result.stdout.split())
    assert "No feature of mines within 25 km" in text
    assert "distance_km" not in result.stdout and "0 feature(s)" not in text  # words, not an empty table
    assert text.startswith("Site: KLS-15 Yodok (Camp 15)")
    assert f"The nearest is {top['id']} {top['name']}, {top['distance_km']:.1f} km from the site's point" in text
    assert top["distance_km"] > 25
    # the camp is an area: a feature beyond the radius from its point can be inside or near the camp
    assert re.search(r"camp of 378 km².*beyond 25 km from the point can still be inside or near the camp", text)
    data = json.loads(_near(gpkg, "camp 15", "--km", "25", "--format", "json").stdout)
    assert data["rows"] == []
    assert data["meta"]["nearest_beyond_radius"]["id"] == top["id"]
    assert data["meta"]["nearest_beyond_radius"]["distance_km"] == pytest.approx(top["distance_km"], abs=1e-3)


def test_empty_near_from_a_point_site_has_no_area_caveat(gpkg, layers):
    mine = layers["mines"].iloc[0]
    result = _near(gpkg, mine["mine_id"], "--km", "0.001", "--layer", "camps")
    text = " ".join(result.stdout.split())
    assert result.returncode == 0 and "The nearest is" in text
    assert "inside or near the camp" not in text


@pytest.mark.parametrize("fmt", ["csv", "json", "geojson"])
def test_near_exports_carry_every_column_of_the_layer(gpkg, layers, fmt):
    result = _near(gpkg, "KLS-14", "--km", "20", "--format", fmt)
    assert result.returncode == 0, result.stderr
    own = [c for c in layers["mines"].columns if c != "geometry"]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        header = rows[0].keys()
    elif fmt == "json":
        data = json.loads(result.stdout)
        rows, header = data["rows"], data["rows"][0].keys()
    else:
        data = json.loads(result.stdout)
        rows = [f["properties"] for f in data["features"]]
        header = rows[0].keys()
    assert set(own) <= set(header), set(own) - set(header)
    assert {"distance_km", "bearing_deg", "site_id"} <= set(header)
    assert rows and all(r["licence"] and r["source_ref"] is not None for r in rows)
    if fmt != "csv":  # JSON and GeoJSON say what they were made from
        meta = data["meta"] if fmt == "json" else data["atlas"]
        assert meta["gpkg_sha256"] == hashlib.sha256(gpkg.read_bytes()).hexdigest()
        assert meta["atlas_version"] and meta["build_date"]
        assert any(s["path"] == "mines/nk_mines_distinct.csv" for s in meta["sources"])


def test_columns_option_picks_columns_and_refuses_unknown_ones(gpkg):
    result = _near(gpkg, "KLS-14", "--km", "20", "--format", "csv", "--columns", "mine_id,licence,distance_km")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "mine_id,licence,distance_km"
    bad = _near(gpkg, "KLS-14", "--km", "20", "--format", "csv", "--columns", "mine_id,nope")
    assert bad.returncode == 2 and "nope" in bad.stderr and "Traceback" not in bad.stderr


def test_near_user_layer_export_keeps_the_users_own_columns(gpkg, layers, tmp_path):
    copy = tmp_path / "atlas.gpkg"
    shutil.copyfile(gpkg, copy)
    camp = layers["camps"].set_index("site_id").loc["KLS-14"].geometry
    path = tmp_path / "synthetic_notes.csv"
    path.write_text(f"name,lat,lon,interviewer,confidence\nSynthetic place,{camp.y},{camp.x},A. B.,high\n",
                    encoding="utf-8")
    atlas.import_layer(path, "notes", gpkg=copy)
    result = run_cli("near", "KLS-14", "--km", "5", "--layer", "user_notes", "--format", "json",
                     "--gpkg", str(copy))
    data = json.loads(result.stdout)
    assert data["rows"][0]["interviewer"] == "A. B." and data["rows"][0]["confidence"] == "high"
    assert [u["layer"] for u in data["meta"]["user_layers"]] == ["user_notes"]


def test_summary_keeps_the_reports_unknown_row_apart_and_counts_camps_by_status(gpkg, layers):
    table = atlas.province_summary(gpkg).set_index("province")
    unknown = table.loc["Unidentified or unknown"]
    assert unknown["reported_mines"] == 18
    counts = [c for c in table.columns if c not in ("reported_mines", "reported_share_pct")
              and table[c].dtype.kind in "iuf"]
    assert all(unknown[c] == 0 or unknown[c] != unknown[c] for c in counts)  # nothing of the atlas there
    camps = layers["camps"]
    no_coord = camps[camps.geometry.isna() | camps.geometry.is_empty]
    flagged = " ".join(str(v) for v in table["counted_without_coordinate"].fillna(""))
    for site in no_coord["site_id"]:
        assert site in flagged
    status_cols = ["camps_active", "camps_contested", "camps_closed", "camps_relocated", "camps_status_unknown"]
    total = table.loc["Total"]
    by_status = camps["status_class"].value_counts()  # the rule's status on the build date
    for col, status in zip(status_cols, ["active", "contested", "closed", "relocated", "unknown"]):
        assert total[col] == by_status.get(status, 0)
    # statuses count sites; kwan-li-so count camps: camp 18's two sites are one of the report's six
    kls = camps[camps["kind"] == "kwan-li-so"]
    assert total[status_cols].sum() == len(camps)
    assert total["kwan_li_so"] == kls["number"].nunique() == len(kls) - 1 == 6
    assert total[["kwan_li_so", "kyo_hwa_so", "other_camp_sites"]].sum() == len(camps) - 1
