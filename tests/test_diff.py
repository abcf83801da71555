"""``atlas diff``: two hand-made atlases, each kind of change once, against oracles computed here.

The "new" atlas is a synthetic fixture: a copy of the session's atlas in a temporary folder with
changes made by this test (a camp moved by a known distance, a name changed, a field changed, rows
removed and added, a finding changed and one added, a layer dropped, a private layer imported).
"""

from __future__ import annotations

import csv
import io as _io
import json
import shutil
import sqlite3

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Geod

import atlas
from atlas.diff import CHANGES, COLUMNS

from .conftest import run_cli


@pytest.fixture(scope="module")
def changed(gpkg, tmp_path_factory) -> dict:
    """A synthetic "new" atlas: the session's atlas with one change of each kind (named as such)."""
    base = tmp_path_factory.mktemp("synthetic_diff")
    old = base / "old" / "atlas.gpkg"
    new = base / "new" / "atlas.gpkg"
    for p in (old, new):
        p.parent.mkdir()
        shutil.copyfile(gpkg, p)
    camps = _as_read(pyogrio.read_dataframe(new, layer="camps"))
    ids = camps["site_id"].tolist()
    moved, renamed, edited, removed = "KLS-14", "KLS-15", "KLS-16", ids[-1]
    i = camps.index[camps["site_id"] == moved][0]
    p0 = camps.geometry[i]
    lon, lat, _ = Geod(ellps="WGS84").fwd(p0.x, p0.y, 90.0, 1234.0)  # 1,234 m due east
    camps.loc[i, "geometry"] = shapely.Point(lon, lat)
    camps.loc[camps["site_id"] == renamed, "name"] = "Synthetic new name"
    old_province = camps.loc[camps["site_id"] == edited, "province"].iloc[0]
    camps.loc[camps["site_id"] == edited, "province"] = "Synthetic province"
    extra = camps[camps["site_id"] == moved].copy()
    extra["site_id"], extra["name"], extra["geometry"] = "SYN-1", "Synthetic added camp", None
    camps = pd.concat([camps[camps["site_id"] != removed], extra], ignore_index=True)
    pyogrio.write_dataframe(_as_read(gpd.GeoDataFrame(camps, geometry="geometry", crs=4326)), new, layer="camps")
    findings = _as_read(pyogrio.read_dataframe(new, layer="camp_findings"))
    first = findings["finding_id"].iloc[0]
    findings.loc[findings["finding_id"] == first, "observed_text"] = "synthetic changed text"
    old_atlas = atlas.open_atlas(old, include_private=False)
    before = atlas.status_table(old_atlas.build_date[:10], gpkg=old_atlas)
    closing = before.loc[~before["status"].isin(["closed", "relocated"]), "site_id"].iloc[0]
    added = findings.iloc[[0]].copy()  # a synthetic stated closure this year: the camp's status changes
    added["finding_id"], added["site_id"], added["status_signal"] = "F999", closing, "closed"
    added["signal_strength"], added["date_start"], added["date_end"] = "stated", "2026-01-01", "2026-01-01"
    findings = pd.concat([findings, added], ignore_index=True)
    pyogrio.write_dataframe(_as_read(findings), new, layer="camp_findings")
    with sqlite3.connect(new) as con:  # a layer dropped, as GDAL drops one
        con.execute("DROP TABLE steel_plants")
        con.execute("DELETE FROM gpkg_contents WHERE table_name = 'steel_plants'")
        con.execute("DELETE FROM gpkg_geometry_columns WHERE table_name = 'steel_plants'")
    secret = base / "synthetic_secret_xq7.csv"
    secret.write_text("name,lat,lon\nSynthetic secret Zk3,41.3,129.3\n", encoding="utf-8")
    res = run_cli("import", str(secret), "--as", "zqsecret", "--private", "--gpkg", str(new))
    assert res.returncode == 0, res.stderr
    return {"old": old, "new": new, "moved": moved, "renamed": renamed, "edited": edited,
            "removed": removed, "first": first, "closing": closing, "old_province": old_province, "distance": 1234.0}


def _as_read(df: pd.DataFrame) -> pd.DataFrame:
    """Dates as the atlas writes them (ISO days): pyogrio reads a DATE field as a date-time."""
    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c]):
            df[c] = df[c].dt.strftime("%Y-%m-%d").where(df[c].notna(), None)
    return df


def _rows(d, change, layer=None):
    t = d.changes
    t = t[t["change"] == change]
    return t if layer is None else t[t["layer"] == layer]


def test_an_atlas_against_itself_has_no_change(gpkg):
    d = atlas.diff(gpkg, gpkg)
    assert list(d.changes.columns) == COLUMNS and d.changes.empty and d.counts() == {}
    assert d.old["sha256"] == d.new["sha256"]


def test_each_kind_of_change_is_found(changed):
    d = atlas.diff(changed["old"], changed["new"])
    moved = _rows(d, "moved", "camps")
    assert moved["id"].tolist() == [changed["moved"]]
    assert abs(float(moved["note"].iloc[0].removesuffix(" m")) - changed["distance"]) <= 1
    renamed = _rows(d, "renamed", "camps")
    assert renamed[["id", "new"]].values.tolist() == [[changed["renamed"], "Synthetic new name"]]
    edited = _rows(d, "changed", "camps")
    assert edited[["id", "field", "old", "new"]].values.tolist() == [
        [changed["edited"], "province", changed["old_province"], "Synthetic province"]]
    assert _rows(d, "removed", "camps")["id"].tolist() == [changed["removed"]]
    assert _rows(d, "added", "camps")["id"].tolist() == ["SYN-1"]
    assert _rows(d, "added", "camp_findings")["id"].tolist() == ["F999"]
    f = _rows(d, "changed", "camp_findings")
    assert f[["id", "field", "new"]].values.tolist() == [[changed["first"], "observed_text", "synthetic changed text"]]
    assert _rows(d, "layer removed")["layer"].tolist() == ["steel_plants"]
    # nothing else: every other row of every layer is the same
    expected = {"moved", "renamed", "changed", "removed", "added", "layer removed", "status"}
    assert set(d.counts()) <= expected and set(d.counts()) <= set(CHANGES)
    assert sorted(d.changes["id"][d.changes["change"] == "changed"]) == sorted([changed["edited"], changed["first"]])


def test_status_changes_agree_with_status_at(changed):
    """A status row for exactly the sites whose status (at each atlas's build date) differs."""
    d = atlas.diff(changed["old"], changed["new"])
    old, new = (atlas.open_atlas(changed[k], include_private=False) for k in ("old", "new"))
    a = atlas.status_table(old.build_date[:10], gpkg=old).set_index("site_id")["status"]
    b = atlas.status_table(new.build_date[:10], gpkg=new).set_index("site_id")["status"]
    both = a.index.intersection(b.index)
    differ = sorted(s for s in both if a[s] != b[s])
    assert changed["closing"] in differ  # the synthetic closure changed a status
    assert sorted(_rows(d, "status")["id"]) == differ


def test_a_private_layer_never_appears_in_a_diff(changed):
    d = atlas.diff(changed["old"], changed["new"])
    text = json.dumps(json.loads(d.changes.to_json(orient="records"))) + json.dumps(d.meta())
    assert "zqsecret" not in text and "Zk3" not in text and "xq7" not in text
    res = run_cli("diff", str(changed["old"]), str(changed["new"]))
    assert res.returncode == 0, res.stderr
    assert "zqsecret" not in res.stdout + res.stderr


def test_cli_formats_and_out_file(changed, tmp_path):
    old, new = str(changed["old"]), str(changed["new"])
    table = run_cli("diff", old, new)
    assert table.returncode == 0 and "moved" in table.stdout and "sha256" in table.stdout.splitlines()[0]
    as_json = json.loads(run_cli("diff", old, new, "--format", "json").stdout)
    assert as_json["meta"]["old"]["sha256"] != as_json["meta"]["new"]["sha256"]
    assert sum(as_json["meta"]["changes"].values()) == len(as_json["rows"])
    out = tmp_path / "changes.csv"
    res = run_cli("diff", old, new, "--format", "csv", "--out", str(out))
    assert res.returncode == 0, res.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.DictReader(_io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == len(as_json["rows"]) and list(rows[0]) == COLUMNS
    same = run_cli("diff", old, old)
    assert same.returncode == 0 and "0 changes: none" in same.stdout


def test_cli_refuses_what_is_not_an_atlas(tmp_path, gpkg):
    fake = tmp_path / "fake.gpkg"
    fake.write_text("not a geopackage", encoding="utf-8")
    res = run_cli("diff", str(gpkg), str(fake))
    assert res.returncode == 2 and "Traceback" not in res.stderr and res.stderr.startswith("atlas: error:")
    res = run_cli("diff", str(gpkg), str(tmp_path / "missing.gpkg"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert not (tmp_path / "missing.gpkg").exists()


def test_the_build_stamps_its_release_from_the_version_and_the_data(gpkg, layers):
    from atlas.provenance import atlas_version, release_id

    a = atlas.open_atlas(gpkg, include_private=False)
    expected, digest = release_id(atlas_version(), layers["sources"])
    assert a.release == {"release": expected, "atlas_version": atlas_version(),
                         "build_date": a.release["build_date"], "data_sha256": digest}
    assert a.release["build_date"] == a.build_date[:10]
    assert atlas.about(a)["release"] == expected  # every product's citation names it
    assert atlas.diff(gpkg, gpkg).meta()["old"]["release"] == expected
    changed_sources = layers["sources"].assign(sha256=layers["sources"]["sha256"].str[::-1])
    assert release_id(atlas_version(), changed_sources)[0] != expected  # a data correction: a new release


def test_an_atlas_built_before_releases_reads_as_none(changed, tmp_path):
    old = tmp_path / "atlas.gpkg"
    shutil.copyfile(changed["old"], old)
    with sqlite3.connect(old) as con:
        con.execute("DROP TABLE atlas_release")
    a = atlas.open_atlas(old, include_private=False)
    assert a.release == {} and atlas.about(a)["release"] == ""
    res = run_cli("diff", str(old), str(changed["new"]))
    assert res.returncode == 0 and res.stdout.splitlines()[0].startswith("old: atlas.gpkg (built ")
    assert "release " in res.stdout.splitlines()[1]


@pytest.mark.slow  # writes the site twice (over 5 s)
def test_the_sites_changes_page_lists_what_changed_since_an_earlier_release(changed, tmp_path):
    """``atlas site --since OLD.gpkg``: the Changes page holds the diff's rows (never a private layer's),
    this release, and the changelog rendered (raw HTML in it shown as text)."""
    index = atlas.build_site(tmp_path / "site", gpkg=changed["new"], since=changed["old"], with_map=False,
                             with_downloads=False)
    page = (index.parent / "changes.html").read_text(encoding="utf-8")
    d = atlas.diff(changed["old"], changed["new"])
    for site_id in ("SYN-1", changed["moved"], changed["removed"]):
        assert f"<td>{site_id}</td>" in page, site_id
    assert f"{d.counts()['moved']} moved" in page and "zqsecret" not in page and "Zk3" not in page
    assert atlas.open_atlas(changed["new"], include_private=False).release["release"] in page
    assert "<h2>Unreleased (0.1.0)</h2>" in page and "<script" not in page
    assert '<a href="changes.html">Changes</a>' in (index.parent / "index.html").read_text(encoding="utf-8")
    plain = atlas.build_site(tmp_path / "plain", gpkg=changed["new"], with_map=False, with_downloads=False)
    assert 'id="since"' not in (plain.parent / "changes.html").read_text(encoding="utf-8")
