"""Global Energy Monitor's records joined to the mines, the steel plants, the UN sanctions, a
byte-identical rebuild, and `atlas validate` on the new columns, all read from built GeoPackages."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod

import atlas
from atlas import io
from atlas.errors import InputError, ValidationError

from .conftest import run_cli

GEOD = Geod(ellps="WGS84")


def test_every_gem_record_is_joined_or_says_why(layers):
    recs = layers["gem_records"]
    assert len(recs) == 33  # 19 GIOMT + 14 GCMT rows
    assert (recs["reason"].astype(str).str.strip() != "").all()
    assert "unmatched" not in set(recs["match"])
    counts = recs.groupby(["commodity_class", "match"]).size().to_dict()
    assert counts == {
        ("coal", "same mine"): 12, ("coal", "second name at an existing point"): 2,
        ("iron ore", "same mine"): 18, ("iron ore", "new point (proposed mine)"): 1,
    }


def test_every_matched_pair_lies_within_half_a_kilometre(layers):
    recs = layers["gem_records"]
    mines = layers["mines"].set_index("mine_id")
    joined = recs[recs["match"].isin(["same mine", "second name at an existing point"])]
    pts = mines.loc[joined["mine_id"], "geometry"]
    _, _, dist = GEOD.inv(joined["lon"].to_numpy(), joined["lat"].to_numpy(),
                          pts.x.to_numpy(), pts.y.to_numpy())
    km = np.asarray(dist) / 1000.0
    assert km.max() <= 0.5, joined.iloc[int(km.argmax())]["gem_name"]
    assert np.allclose(km, joined["match_km"].to_numpy(), atol=0.002)
    # each of the 30 atlas points GEM holds carries exactly one GEM record as its own
    same = recs[recs["match"] == "same mine"]
    assert same["mine_id"].is_unique and len(same) == 30
    cls = mines.loc[same["mine_id"], "commodity_class"].to_numpy()
    assert (cls == same["commodity_class"].to_numpy()).all()


def test_mines_carry_gem_columns_with_the_citation_per_release(layers):
    mines = layers["mines"].set_index("mine_id")
    gem = mines[mines["gem_id"].fillna("") != ""]
    assert len(gem) == 31  # 18 iron + 12 coal + Seonhaeri
    assert gem["gem_citation"].str.startswith("Global Energy Monitor, Global").all()
    assert set(gem["gem_citation"].str.extract(r"Monitor, Global (.+?) Tracker")[0]) == {"Iron Ore Mines", "Coal Mine"}
    assert gem["gem_wiki"].str.startswith("https://").all()
    musan = mines[mines["name"] == "MMI Musan Mine"].iloc[0]
    assert (musan["gem_name_ko"], musan["gem_status"], musan["gem_coordinate_accuracy"]) == (
        "무산광산", "operating", "exact")
    assert musan["gem_capacity_mtpa"] == 11.0 and musan["gem_reserves_mt"] == 1500.0
    assert int(musan["gem_start_year"]) == 1935
    cheongnam = mines[mines["name"] == "Cheongnam Coal Mine"].iloc[0]
    assert cheongnam["gem_workforce"] == 702 and cheongnam["gem_id"] == "M0745"
    assert "CC BY 4.0" in json.dumps(layers["gem_records"]["licence"].unique().tolist())


def test_second_names_are_alternative_names_not_points(layers, gpkg):
    mines = layers["mines"]
    assert not mines["name"].isin(["Hwapung Coal Mine", "Ryongdeung Coal Mine"]).any()
    by_name = mines.set_index("name")
    assert "Hwapung Coal Mine" in by_name.loc["Cheongnam Coal Mine", "alt_names"]
    assert "M2787" in by_name.loc["Cheongnam Coal Mine", "gem_second_names"]
    assert "Ryongdeung Coal Mine" in by_name.loc["Ryongmun Coal Mine", "alt_names"]
    assert list(atlas.find("Ryongdeung", gpkg, layers=["mines"])["name"]) == ["Ryongmun Coal Mine"]


def test_seonhaeri_joins_the_mines_as_proposed(layers):
    mines = layers["mines"]
    row = mines[mines["name"] == "MMI Seonhaeri Mine"].iloc[0]
    assert row["status"] == "proposed" and row["gem_status"] == "proposed"
    assert row["record_origin"] == "gem" and row["precision"] == "approximate"
    assert row["licence"].startswith("CC BY 4.0") and row["province"] == "South Hwanghae Province"
    assert (row.geometry.y, row.geometry.x) == (38.543518, 125.185885)  # GEM's own coordinate


def test_steel_plants_are_a_layer_of_their_own(layers):
    plants = layers["steel_plants"]
    assert len(plants) == 5
    assert plants["kind"].str.contains("not a mine").all()
    assert not layers["mines"]["name"].str.contains("steel", case=False).any()
    kim = plants[plants["name"].str.startswith("Kim Chaek Iron")].iloc[0]
    assert kim["precision"] == "site" and kim["province"] == "North Hamgyong Province"
    assert kim["source"].startswith("Global Energy Monitor, Global Iron and Steel Tracker")
    assert plants.set_index("plant_id").loc["P100000121159", "status"] == "cancelled"


BOUNDARIES = [
    # (mine, commodity, day, resolution, measure) -- the day before and the day of each resolution
    ("Cheongnam Coal Mine", "coal", "2016-03-01", "", "none"),
    ("Cheongnam Coal Mine", "coal", "2016-03-02", "S/RES/2270 (2016)", "ban with exception"),
    ("Cheongnam Coal Mine", "coal", "2016-11-29", "S/RES/2270 (2016)", "ban with exception"),
    ("Cheongnam Coal Mine", "coal", "2016-11-30", "S/RES/2321 (2016)", "cap"),
    ("Cheongnam Coal Mine", "coal", "2017-08-04", "S/RES/2321 (2016)", "cap"),
    ("Cheongnam Coal Mine", "coal", "2017-08-05", "S/RES/2371 (2017)", "ban"),
    ("MMI Musan Mine", "iron ore", "2016-03-01", "", "none"),
    ("MMI Musan Mine", "iron ore", "2016-03-02", "S/RES/2270 (2016)", "ban with exception"),
    ("MMI Musan Mine", "iron ore", "2016-11-30", "S/RES/2270 (2016)", "ban with exception"),
    ("MMI Musan Mine", "iron ore", "2017-08-04", "S/RES/2270 (2016)", "ban with exception"),
    ("MMI Musan Mine", "iron ore", "2017-08-05", "S/RES/2371 (2017)", "ban"),
    ("Hyesan Youth Copper Mine", "copper", "2016-11-29", "", "none"),
    ("Hyesan Youth Copper Mine", "copper", "2016-11-30", "S/RES/2321 (2016)", "ban"),
    ("Munpyong Pb", "lead", "2017-08-04", "", "none"),
    ("Munpyong Pb", "lead", "2017-08-05", "S/RES/2371 (2017)", "ban"),
    ("Munpyong Pb", "zinc", "2016-11-29", "", "none"),
    ("Munpyong Pb", "zinc", "2016-11-30", "S/RES/2321 (2016)", "ban"),
    ("Ryongyang mine", "magnesite", "2017-12-21", "", "none"),
    ("Ryongyang mine", "magnesite", "2017-12-22", "S/RES/2397 (2017)", "ban"),
]


@pytest.mark.parametrize(("mine", "commodity", "day", "resolution", "measure"), BOUNDARIES)
def test_sanctions_status_at_the_boundaries(gpkg, mine, commodity, day, resolution, measure):
    out = atlas.sanctions_status(mine, day, gpkg=gpkg).set_index("commodity")
    row = out.loc[commodity]
    assert (row["resolution"], row["measure"]) == (resolution, measure)
    if resolution:
        assert row["adopted"] <= day and resolution.endswith(f'({row["adopted"][:4]})')
    assert out["date"].eq(day).all()


def test_sanctions_status_takes_dates_and_refuses_bad_ones(gpkg):
    on = atlas.sanctions_status("M002", dt.date(2017, 8, 5), gpkg=gpkg).iloc[0]
    assert (on["resolution"], on["adopted"]) == ("S/RES/2371 (2017)", "2017-08-05")
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        atlas.sanctions_status("M002", "5 August 2017", gpkg=gpkg)
    pyongsan = atlas.sanctions_status("Pyongsan uranium mine and concentration plant", "2020-01-01", gpkg=gpkg)
    assert pyongsan.iloc[0]["measure"] == "no measure in the atlas's table"


def test_mines_layer_states_each_measure_and_since_when(layers):
    mines = layers["mines"].set_index("name")
    coal = mines.loc["Cheongnam Coal Mine"]
    assert coal["sanctions_commodities"] == "coal"
    assert str(coal["sanctions_first_date"])[:10] == "2016-03-02"
    assert "ban since 2017-08-05 (S/RES/2371 (2017))" in coal["sanctions_measure"]
    assert coal["sanctions_history"].count("coal:") == 1 and "2016-11-30 cap" in coal["sanctions_history"]
    magnesite = mines.loc["Taehung Youth Hero Mine"]
    assert str(magnesite["sanctions_first_date"])[:10] == "2017-12-22"
    table = layers["sanctions_measures"]
    assert len(table) == 7 and table["citation_note"].str.contains("no copy of the resolution").all()
    text = " ".join(table.astype(str).to_numpy().ravel())
    assert not re.search(r"\bpar(?:a|agraph)?\.? ?\d|\bHS(?: code)? ?\d{2}", text)  # none read, none cited


@pytest.mark.slow
def test_rebuild_is_byte_identical(tmp_path, monkeypatch):
    """Two builds, the GeoPackage and every product (density, map, QGIS export): the same bytes."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    digests = []
    for run in ("one", "two"):
        gpkg = atlas.build(tmp_path / run / "atlas.gpkg")
        files = sorted(p for p in gpkg.parent.rglob("*") if p.is_file())
        digests.append({str(p.relative_to(gpkg.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in files})
    assert {"atlas.gpkg", "mine_density.tif", "atlas.html", "qgis/atlas.gpkg", "qgis/atlas.qgz"} <= set(digests[0])
    assert digests[0] == digests[1]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    third = atlas.build(tmp_path / "three" / "atlas.gpkg", products=())
    assert atlas.about(third)["build_date"] == "2023-11-14T22:13:20.000Z"


@pytest.mark.slow
def test_validate_checks_the_gem_and_sanctions_columns(gpkg, tmp_path):
    layers = atlas.read_layers(gpkg)
    mines = layers["mines"].copy()
    musan = mines.index[mines["name"] == "MMI Musan Mine"][0]
    anak = mines.index[mines["name"] == "MMI Anak Mine"][0]
    mines.loc[musan, "gem_id"] = mines.loc[anak, "gem_id"]        # another mine's GEM record
    mines.loc[anak, "gem_citation"] = ""                          # a GEM value without its citation
    mines.loc[anak, "sanctions_first_date"] = "2017-08-05"        # not the first measure on iron ore
    layers["mines"] = mines
    recs = layers["gem_records"].copy()
    recs.loc[recs["gem_name"] == "MMI Riwon Mine", "match_km"] = 0.9
    layers["gem_records"] = recs
    broken = tmp_path / "broken_gem_fixture.gpkg"
    io.write_layers(layers, broken)
    with pytest.raises(ValidationError) as err:
        atlas.validate(broken)
    text = str(err.value)
    musan_id, anak_id = mines.loc[musan, "mine_id"], mines.loc[anak, "mine_id"]
    assert f"mines[{musan_id}].gem_id" in text
    assert f"mines[{anak_id}].gem_citation" in text
    assert f"mines[{anak_id}].sanctions_first_date" in text
    assert "gem_records[P100000129296].match_km" in text
    result = run_cli("validate", str(broken))
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_gem_records_table_keeps_gem_values(layers):
    recs = layers["gem_records"].set_index("gem_id")
    assert recs.loc["P100000129302", "gem_name"] == "MMI Seonhaeri Mine"
    assert pd.notna(recs.loc["P100000129302", "match_km"]) and recs.loc["P100000129302", "match_km"] > 5


def test_manifest_and_citation_give_provenance_of_every_derived_file(layers):
    import csv
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    rows = {r["path"]: r for r in csv.DictReader((repo / "geodata/manifest.csv").open(encoding="utf-8"))}
    for path in ("mines/gem_giomt_2024-11_prk.csv", "mines/gem_gcmt_2024-05_prk.csv",
                 "mines/gem_gist_2025-03_prk.csv"):
        origin = rows[path]["origin"]
        assert "GlobalEnergyMonitor/maps" in origin and "path '" in origin, path
        assert "subset to the DPRK, columns added" in origin and "2026-12-01" in origin, path
        assert re.search(r"commit [0-9a-f]{40}|commit was not recorded", origin), path
    assert set(rows) == set(layers["sources"]["path"])  # the GeoPackage carries the same manifest
    cff = (repo / "CITATION.cff").read_text(encoding="utf-8")
    names = re.findall(r'(?:title|name): "([^"]+)"', cff)
    for r in rows.values():
        if r["licence"].startswith(("CC BY", "ODbL")):  # sources that ask for attribution
            assert any(n in r["attribution"] or r["attribution"] in n for n in names), r["path"]


def test_cli_near_shows_the_measure_on_each_mine(gpkg):
    result = run_cli("near", "KLS-14", "--km", "20", "--sanctions-on", "2016-12-01", "--format", "json",
                     "--gpkg", str(gpkg))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["meta"]["sanctions"] == "UN Security Council measures in force on 2016-12-01"
    assert data["rows"]
    for row in data["rows"]:
        want = atlas.sanctions_status(row["id"], "2016-12-01", gpkg=gpkg).iloc[0]
        assert row["sanctions"].startswith(f"{want['commodity']}: {want['measure']} ({want['resolution']}")
    coal = [r for r in data["rows"] if "coal" in r["commodity"]]
    assert coal and all("cap (S/RES/2321 (2016), 2016-11-30)" in r["sanctions"] for r in coal)
    table = run_cli("near", "KLS-14", "--km", "20", "--sanctions", "--gpkg", str(gpkg))
    assert table.returncode == 0 and "Sanctions: UN Security Council measures in force after 2017-12-22" in table.stdout
    camps = run_cli("near", "KLS-14", "--layer", "camps", "--sanctions", "--gpkg", str(gpkg))
    assert camps.returncode == 2 and "needs a layer of mines" in camps.stderr
    bad = run_cli("near", "KLS-14", "--sanctions-on", "2016-13-01", "--gpkg", str(gpkg))
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr and "Traceback" not in bad.stderr


def test_summary_counts_mines_by_sanctioned_commodity(gpkg, layers):
    result = run_cli("summary", "--sanctions", "--format", "json", "--gpkg", str(gpkg))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rows = {r["province"]: r for r in data["rows"]}
    mines = layers["mines"]
    with_measure = int((mines["sanctions_measure"] != "no measure in the atlas's table").sum())
    assert rows["Total"]["sanctioned_mines"] == with_measure == len(mines) - 1  # all but uranium
    assert "magnesite 2" in rows["Total"]["sanctioned_by_commodity"]
    assert rows["South Hamgyong Province"]["sanctioned_by_commodity"].count("magnesite 2") == 1
    provinces = [r for k, r in rows.items() if k != "Total"]
    assert sum(r["sanctioned_mines"] for r in provinces) == rows["Total"]["sanctioned_mines"]
    before = atlas.summary("province", gpkg, sanctions="2016-03-01").set_index("province")
    assert before["sanctioned_mines"].sum() == 0
    first = atlas.summary("province", gpkg, sanctions="2016-03-02").set_index("province")
    assert first.loc["Total", "sanctioned_by_commodity"] == "coal 12; iron ore 19"
    both = run_cli("summary", "--sanctions", "--as-of", "2016", "--gpkg", str(gpkg))
    assert both.returncode == 2
