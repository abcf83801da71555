"""The foundation: curated sources, the validated GeoPackage and its CLI."""

from __future__ import annotations

import hashlib
import sqlite3

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

import atlas
from atlas import io, schema, sources
from atlas.errors import InputError, SourceError, ValidationError
from atlas.owned import MANIFEST

from .conftest import REPO, require_tool, run_cli

EXPECTED_LAYERS = {
    "provinces", "counties", "mines", "named_mines", "mineral_deposits", "camps",
    "camp_findings", "mine_findings", "coordinate_candidates", "report_table_1", "report_table_2",
    "report_table_3", "report_table_4", "report_table_5", "report_discrepancies", "report_passages", "retired_ids",
    "sources",
    "dprk_outline", "basemap_countries", "geonames_places",
    "steel_plants", "gem_records", "sanctions_measures",
}


def test_layers_present_with_geometry_types(gpkg):
    found = dict(atlas.list_layers(gpkg))
    assert set(found) == EXPECTED_LAYERS
    assert found["mines"] == "Point" and found["provinces"] == "MultiPolygon"
    assert found["camp_findings"] is None


def test_geopackage_is_version_1_3_in_epsg_4326(gpkg, layers):
    with sqlite3.connect(gpkg) as con:
        (app_id,) = con.execute("PRAGMA application_id").fetchone()
        (user_version,) = con.execute("PRAGMA user_version").fetchone()
    assert app_id == 0x47504B47  # 'GPKG'
    assert user_version == 10300
    for name, df in layers.items():
        if isinstance(df, gpd.GeoDataFrame):
            assert df.crs.to_epsg() == 4326, name


def test_feature_counts_match_sources(layers):
    assert len(layers["provinces"]) == 10
    assert len(layers["mines"]) == 36  # 35 geolocated mines + GEM's proposed Seonhaeri mine
    camps_csv = pd.read_csv(sources.geodata_dir() / "camps/camps.csv", dtype=str)
    assert sorted(layers["camps"]["site_id"]) == sorted(camps_csv["site_id"])
    assert len(layers["counties"]) == 197
    assert len(layers["camp_findings"]) == len(pd.read_csv(sources.geodata_dir() / "camps/findings.csv"))


def test_pakchon_plant_is_not_a_mine_and_hyesan_is(layers):
    names = set(layers["mines"]["name"])
    assert "Hyesan Youth Copper Mine" in names
    assert not any("Pakchon" in n for n in names)


def test_sites_without_coordinates_keep_their_rows_without_geometry(layers):
    camps = layers["camps"].set_index("site_id")
    geom = camps.loc["KLS-18T", "geometry"]
    assert geom is None or geom.is_empty
    assert camps.loc["KLS-18T", "precision"] == "none"


def test_table_2_reproduced_exactly(layers):
    t2 = pd.read_csv(sources.geodata_dir() / "report/table_2_mines_by_region.csv")
    prov = layers["provinces"].set_index("name_en")
    for _, row in t2[t2["row_kind"] == "province"].iterrows():
        assert prov.loc[row["region"], "reported_mines"] == row["mines"]
        assert prov.loc[row["region"], "reported_share_pct"] == row["share_pct_printed"]
    assert prov.loc["South Pyongan Province", "reported_mines"] == 82
    assert prov.loc["South Pyongan Province", "reported_share_pct"] == 22.8
    table = layers["report_table_2"]
    assert table.loc[table["row_kind"] != "total", "mines"].sum() == 360
    assert len(table[table["row_kind"] != "total"]) == 11


def test_kwan_li_so_provinces_computed_from_geometry(layers):
    camps = layers["camps"].set_index("site_id")
    expected = {
        "KLS-14": "South Pyongan Province", "KLS-18": "South Pyongan Province",
        "KLS-15": "South Hamgyong Province", "KLS-16": "North Hamgyong Province",
        "KLS-22": "North Hamgyong Province", "KLS-25": "North Hamgyong Province",
    }
    for site, province in expected.items():
        assert camps.loc[site, "province"] == province, site
        point = camps.loc[site, "geometry"]
        polygon = layers["provinces"].set_index("name_en").loc[province, "geometry"]
        assert polygon.contains(point) or camps.loc[site, "admin_method"] == "nearest"


def test_every_feature_carries_source_licence_precision(layers):
    for name in ("mines", "named_mines", "camps", "coordinate_candidates", "mineral_deposits",
                 "steel_plants"):
        df = layers[name]
        for col in ("source", "licence", "precision"):
            assert (df[col].astype(str).str.strip() != "").all(), (name, col)


def test_town_proxies_are_flagged_not_mine_locations(layers):
    named = layers["named_mines"]
    proxies = named[named["match_type"].str.contains("proxy")]
    assert len(proxies) >= 3  # Aoji, Sanghwa, Hakpo
    assert proxies["is_town_proxy"].all()
    assert not proxies["is_mine_location"].any()
    # the Hyesan enterprise is drawn at the Hyesan Youth Copper Mine (mines M035), no longer at the city
    # point 4.5 km away; the mine is the district's by place, an inference, so not "the mine"
    hyesan = named.set_index("name_in_report").loc["Hyesan District Mining Combined Enterprise"]
    assert not hyesan["is_town_proxy"] and not hyesan["is_mine_location"]
    m035 = layers["mines"].set_index("mine_id").loc["M035"]
    assert hyesan["geometry"].equals_exact(m035["geometry"], 1e-9)


def test_report_discrepancies_keep_both_readings(layers):
    disc = layers["report_discrepancies"].set_index("discrepancy_id")
    assert "North Hamgyong" in disc.loc["D01", "reading_b"]
    assert "South Hamgyong" in disc.loc["D01", "reading_a"]
    t5 = layers["report_table_5"]
    coal_2006 = t5[(t5["resource"] == "Coal") & (t5["year"] == 2006)].iloc[0]
    assert coal_2006["printed"] == "24.680"


def test_coordinate_candidates_measure_disagreement(layers):
    cand = layers["coordinate_candidates"]
    k16 = cand[(cand["site_id"] == "KLS-16") & (cand["source"] == "HRNK map")].iloc[0]
    assert 10.0 < k16["distance_km_from_atlas_point"] < 11.0
    assert cand.loc[cand["is_atlas_point"], "distance_km_from_atlas_point"].max() < 0.001


def test_findings_date_ranges_are_machine_readable(layers):
    f = layers["camp_findings"]
    row = f[f["observed_text"] == "2013-09..2014-12"].iloc[0]
    assert (row["date_start"], row["date_end"]) == ("2013-09-01", "2014-12-31")
    testimony = f[f["observed_text"] == "testimony"]
    assert testimony["date_start"].isna().all()


def test_manifest_hashes_match_and_tampering_is_caught(geodata_copy, monkeypatch, tmp_path):
    manifest = sources.manifest()
    for rel, src in manifest.items():
        digest = hashlib.sha256((sources.geodata_dir() / rel).read_bytes()).hexdigest()
        assert digest == src.sha256, rel
    target = geodata_copy / "report/table_2_mines_by_region.csv"
    target.write_text(target.read_text().replace(",82,", ",83,"))
    monkeypatch.setenv("ATLAS_GEODATA", str(geodata_copy))
    with pytest.raises(SourceError, match="table_2_mines_by_region"):
        atlas.build(tmp_path / "tampered.gpkg", products=())
    assert not (tmp_path / "tampered.gpkg").exists()
    result = run_cli("build", "--out", str(tmp_path / "cli.gpkg"), env={"ATLAS_GEODATA": str(geodata_copy)})
    assert result.returncode == 1
    assert "table_2_mines_by_region.csv" in result.stderr
    assert "Traceback" not in result.stderr


def _broken_fixture(gpkg, path):
    """A synthetic broken copy of the atlas: a duplicate id, an empty licence, a point at sea."""
    layers = atlas.read_layers(gpkg)
    mines = layers["mines"].copy()
    mines.loc[1, "mine_id"] = mines.loc[0, "mine_id"]
    mines.loc[2, "licence"] = ""
    mines.loc[3, "geometry"] = shapely.Point(140.0, 30.0)  # synthetic, far outside the DPRK
    layers["mines"] = mines
    io.write_layers(layers, path)
    return mines


@pytest.mark.slow
def test_validation_reports_every_problem_with_layer_id_field(gpkg, tmp_path):
    broken = tmp_path / "broken_fixture.gpkg"
    mines = _broken_fixture(gpkg, broken)
    with pytest.raises(ValidationError) as err:
        atlas.validate(broken)
    text = str(err.value)
    assert f"mines[{mines.loc[0, 'mine_id']}].mine_id: id is not unique" in text
    assert f"mines[{mines.loc[2, 'mine_id']}].licence: required value is empty" in text
    assert f"mines[{mines.loc[3, 'mine_id']}].geometry: point lies" in text
    assert len(err.value.problems) >= 3
    result = run_cli("validate", str(broken))
    assert result.returncode == 1
    assert "id is not unique" in result.stderr and "Traceback" not in result.stderr


def test_validate_cli_passes_on_built_atlas(gpkg):
    result = run_cli("validate", str(gpkg))
    assert result.returncode == 0, result.stderr


def test_validate_cli_on_a_non_geopackage(tmp_path):
    bogus = tmp_path / "not_a.gpkg"
    bogus.write_text("hello")
    result = run_cli("validate", str(bogus))
    assert result.returncode == 2
    assert "not a GeoPackage" in result.stderr


@pytest.mark.slow
def test_failed_build_leaves_previous_output_intact(gpkg, tmp_path, monkeypatch):
    target = tmp_path / "atlas.gpkg"
    target.write_bytes(gpkg.read_bytes())
    before = hashlib.sha256(target.read_bytes()).hexdigest()
    calls = {"n": 0}
    real = pyogrio.write_dataframe

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("simulated interruption mid-build")
        return real(*args, **kwargs)

    monkeypatch.setattr(pyogrio, "write_dataframe", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atlas.build(target, products=())
    assert hashlib.sha256(target.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atlas.gpkg"]


def test_invalid_layers_abort_build_before_writing(tmp_path, monkeypatch):
    from atlas import builder
    from atlas import layers as layers_mod

    real = layers_mod.build_layers

    def broken(**kw):
        out = real(**kw)
        out["camps"] = out["camps"].assign(licence="")
        return out

    monkeypatch.setattr(builder, "build_layers", broken)
    with pytest.raises(ValidationError, match=r"camps\[KLS-14\]\.licence"):
        atlas.build(tmp_path / "atlas.gpkg", products=())
    assert not (tmp_path / "atlas.gpkg").exists()


def test_layers_cli_lists_counts(gpkg):
    result = run_cli("layers", "--gpkg", str(gpkg), "--json")
    assert result.returncode == 0, result.stderr
    import json

    rows = {r["layer"]: r for r in json.loads(result.stdout)}
    assert rows["mines"]["features"] == 36
    assert rows["camps"]["with_geometry"] == 26


def test_every_schema_field_is_written(layers):
    for name, sch in schema.SCHEMAS.items():
        missing = {f.name for f in sch.fields} - set(layers[name].columns)
        assert not missing, (name, missing)


def test_help_explains_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for cmd in ("build", "validate", "layers"):
        assert cmd in result.stdout


@pytest.mark.slow
def test_api_build_and_cli_build_write_the_same_products(tmp_path):
    """`atlas build` and atlas.build() run one pipeline: the same files, products included."""
    api = atlas.build(tmp_path / "api" / "atlas.gpkg")
    res = run_cli("build", "--out", str(tmp_path / "cli" / "atlas.gpkg"))
    assert res.returncode == 0, res.stderr

    def files(root):  # the products (each folder's manifest of what the atlas wrote is not one)
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)

    assert files(api.parent) == files(tmp_path / "cli")
    assert {"atlas.gpkg", "mine_density.tif", "atlas.html", "qgis/atlas.qgz"} <= set(files(api.parent))
    printed = res.stdout.split()
    assert printed[0] == str(tmp_path / "cli" / "atlas.gpkg")
    assert {str(tmp_path / "cli" / f) for f in files(tmp_path / "cli") if "/" not in f} <= set(printed)
    with pytest.raises(InputError, match="unknown product"):
        atlas.build(tmp_path / "bad" / "atlas.gpkg", products=["pdf"])
    assert not (tmp_path / "bad").exists()


def _seed_text() -> list[str] | None:
    """The report's text (``shared/seed/`` beside the repository, as CI lays it out), or None."""
    for folder in (REPO.parent / "shared" / "seed", REPO.parent.parent / "shared" / "seed"):
        path = folder / "000_1cbb880e432bd13a.txt"
        if path.is_file():
            return path.read_text(encoding="utf-8").split("\n")
    return None


def test_report_passages_quote_the_report_exactly(layers):
    """Each quoted segment is in the report's text at the lines given ([…] separates ranges)."""
    lines = _seed_text()
    require_tool(lines is not None, "the report's text (../shared/seed/)")
    passages = layers["report_passages"]
    assert len(passages) >= 15
    for row in passages.itertuples():
        ranges = [tuple(int(x) for x in part.strip().lstrip("L").split("–")) for part in row.lines.split(";")]
        segments = row.quote.split(" […] ")
        assert len(ranges) == len(segments), row.passage_id
        for rng, seg in zip(ranges, segments):
            a, b = rng[0], rng[-1]
            text = " ".join(x.strip() for x in lines[a - 1:b] if x.strip())
            assert seg in text, (row.passage_id, rng, seg)
    by_site = passages.assign(site=passages["site_ids"].str.split(";")).explode("site")
    assert {"KLS-14", "KLS-15", "KLS-16", "KLS-18", "KLS-22", "KLS-25", "KHS-04", "KHS-12",
            "OTH-DHR"} <= set(by_site["site"])
    assert "M034" not in set(by_site["site"])  # the Taehung mine is never labelled a prison
