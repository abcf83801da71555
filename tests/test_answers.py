"""Answers that travel (issue 24): a point as people write it, latitude first."""

from __future__ import annotations

import pytest

import atlas
from atlas.coordinates import parse_lat_lon

from .conftest import run_cli


@pytest.mark.parametrize("text", ["41.29, 129.27", "41.29 129.27", "41.29N 129.27E", "129.27E, 41.29N",
                                  "41°17′24″N 129°16′12″E", "N 41 17 24, E 129 16 12"])
def test_a_point_as_people_write_it(text):
    lat, lon = parse_lat_lon(text)
    assert abs(lat - 41.29) < 1e-9 and abs(lon - 129.27) < 1e-9


@pytest.mark.parametrize("text", ["KLS-14", "kwan-li-so 14", "camp 14", "Yodok", "요덕", "relation/8426163",
                                  "No. 4", "M016"])
def test_names_and_ids_are_not_points(text):
    assert parse_lat_lon(text) is None


def test_near_from_a_written_point_is_near_from_that_point(gpkg):
    by_text = atlas.near("41.29, 129.27", km=40, layer="camps", gpkg=gpkg)
    by_pair = atlas.near((129.27, 41.29), km=40, layer="camps", gpkg=gpkg)  # the API's (lon, lat)
    assert len(by_text) and by_text["id"].tolist() == by_pair["id"].tolist()
    assert by_text["distance_km"].tolist() == pytest.approx(by_pair["distance_km"].tolist(), abs=1e-9)


def test_the_cli_says_how_it_read_the_point_and_refuses_one_out_of_range(gpkg):
    res = run_cli("nearest", "41.29, 129.27", "-k", "1", "--layer", "camps", "--gpkg", str(gpkg))
    assert res.returncode == 0 and "latitude 41.29, longitude 129.27 (read latitude first)" in res.stdout
    bad = run_cli("near", "129.27E, 41.29E", "--gpkg", str(gpkg))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "two longitudes" in bad.stderr
    far = run_cli("near", "129.27, 41.29", "--gpkg", str(gpkg))
    assert far.returncode == 2 and "latitude first" in far.stderr


# --- --out FILE: answers that travel -------------------------------------------------------------

QUERIES = [["near", "KLS-14", "--km", "30"], ["nearest", "KLS-14", "-k", "3"], ["summary"], ["status"],
           ["find", "Yodok"]]


@pytest.mark.parametrize("args", QUERIES, ids=lambda a: a[0])
def test_out_file_csv_has_a_bom_and_crlf_and_the_same_rows_as_stdout(gpkg, tmp_path, args):
    printed = run_cli(*args, "--format", "csv", "--gpkg", str(gpkg))
    assert printed.returncode == 0 and not printed.stdout.startswith("\ufeff")  # stdout: plain, for pipes
    out = tmp_path / "answer.csv"
    res = run_cli(*args, "--format", "csv", "--out", str(out), "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert raw.decode("utf-8-sig").replace("\r\n", "\n").strip() == printed.stdout.replace("\r\n", "\n").strip()
    assert not (tmp_path / "answer.csv.note.txt").exists()


@pytest.mark.parametrize("args", [["status"], ["status", "KLS-15"], ["find", "Yodok"], ["summary"],
                                  ["near", "KLS-14"]], ids=lambda a: " ".join(a))
def test_every_json_answer_cites_the_public_geopackage(gpkg, args):
    import json

    from .conftest import sha256

    res = run_cli(*args, "--format", "json", "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    meta = json.loads(res.stdout)["meta"]
    assert meta["gpkg_sha256"] == sha256(gpkg) and meta["atlas_version"] and meta["build_date"]


def test_an_empty_answer_says_why_beside_the_file_and_a_later_answer_clears_it(gpkg, tmp_path):
    out = tmp_path / "near.csv"
    res = run_cli("near", "KLS-14", "--km", "0.5", "--format", "csv", "--out", str(out), "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    note = tmp_path / "near.csv.note.txt"
    assert out.is_file() and "No feature of mines within 0.5 km" in note.read_text(encoding="utf-8")
    assert str(note) in res.stdout
    res = run_cli("near", "KLS-14", "--km", "40", "--format", "csv", "--out", str(out), "--gpkg", str(gpkg))
    assert res.returncode == 0 and not note.exists()  # the note no longer holds: gone


def test_out_never_replaces_a_file_the_atlas_did_not_write(gpkg, tmp_path):
    mine = tmp_path / "mine.csv"
    mine.write_text("my own notes\n", encoding="utf-8")
    note = tmp_path / "x.csv.note.txt"  # a file of the name the atlas gives an empty answer's note
    note.write_text("my own note\n", encoding="utf-8")
    res = run_cli("status", "--format", "csv", "--out", str(mine), "--gpkg", str(gpkg))
    assert res.returncode == 2 and "--overwrite" in res.stderr and "Traceback" not in res.stderr
    assert mine.read_text(encoding="utf-8") == "my own notes\n"
    res = run_cli("near", "KLS-14", "--km", "40", "--format", "csv", "--out", str(tmp_path / "x.csv"),
                  "--gpkg", str(gpkg))
    assert res.returncode == 0 and note.read_text(encoding="utf-8") == "my own note\n"  # not its note: kept


# --- the common Korean and English ways of naming a camp ------------------------------------------


@pytest.mark.parametrize(("query", "expected"), [
    ("요덕수용소", "KLS-15"), ("요덕 정치범수용소", "KLS-15"), ("정치범수용소 15", "KLS-15"),
    ("15호 관리소", "KLS-15"), ("prison camp 15", "KLS-15"), ("Camp15", "KLS-15"), ("Yodok camp", "KLS-15"),
    ("Kaechon kyo-hwa-so", "KHS-01"), ("개천 관리소", "KLS-14"), ("관리소 14", "KLS-14"),
    ("political prison camp 14", "KLS-14"),
])
def test_a_camp_named_the_way_people_name_it(gpkg, query, expected):
    hits = atlas.find(query, gpkg)
    assert hits.iloc[0]["id"] == expected, hits[["id", "match", "score"]].head(3).to_dict("records")
    assert atlas.resolve(query, gpkg).id == expected  # every command resolves it the same way


def test_a_kind_that_does_not_fit_is_never_picked(gpkg):
    """Kaechon's kyo-hwa-so has no Hangul name in any source: '개천 교화소' must not pick camp 14 (a
    kwan-li-so) or the county; it lists them as candidates, below, and asks."""
    hits = atlas.find("개천 교화소", gpkg)
    assert set(hits["match"]) == {"name, not that kind"} and "KLS-14" in set(hits["id"])
    res = run_cli("near", "개천 교화소", "--gpkg", str(gpkg))
    assert res.returncode == 2 and "KLS-14" in res.stderr and "Traceback" not in res.stderr


def test_distances_to_the_metre_and_dated_columns_named_by_their_date(gpkg, layers):
    import csv
    import io as _io

    res = run_cli("near", "KLS-14", "--km", "40", "--status-as-of", "2018", "--format", "csv", "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(_io.StringIO(res.stdout)))
    assert rows and all(len(r["distance_km"].partition(".")[2]) <= 3 for r in rows)
    assert all(len(r["bearing_deg"].partition(".")[2]) <= 1 for r in rows)
    assert "status_2018-12-31" in rows[0]  # the status on that day, named by its day ...
    own = layers["mines"].set_index("mine_id")["status"].fillna("")
    assert all(r["status"] == own[r["id"]] for r in rows)  # ... beside the mine's own status, kept
    exact = atlas.near("KLS-14", km=40, gpkg=gpkg).set_index("id")["distance_km"]
    assert all(abs(float(r["distance_km"]) - exact[r["id"]]) <= 0.0005 for r in rows)


# --- --from all: every published point of a site ----------------------------------------------------


def test_from_every_published_point_each_feature_at_its_shortest_distance(gpkg, layers):
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    got = atlas.near("KLS-14", km=25, gpkg=gpkg, from_points="all")
    camp = layers["camps"].set_index("site_id").loc["KLS-14"].geometry
    cands = layers["coordinate_candidates"]
    points = {"atlas point": camp}
    for c in cands[cands["site_id"] == "KLS-14"].itertuples():
        if not c.is_atlas_point:
            points[f"{c.candidate_id} ({c.source})"] = c.geometry
    assert got.attrs["from_points"] == list(points)
    mines = layers["mines"].set_index("mine_id")
    for r in got.itertuples():  # the oracle: every point to every mine, brute force on the ellipsoid
        m = mines.loc[r.id].geometry
        best = min((geod.inv(p.x, p.y, m.x, m.y)[2], label) for label, p in points.items())
        assert abs(r.distance_km * 1000 - best[0]) < 1.0 and r.from_point == best[1], r.id
    within = {i for i, g in mines.geometry.items() if g is not None and not g.is_empty
              and min(geod.inv(p.x, p.y, g.x, g.y)[2] for p in points.values()) <= 25_000}
    assert set(got["id"]) == within  # none missed, none extra
    one = atlas.near("KLS-14", km=25, gpkg=gpkg)
    assert set(one["id"]) <= set(got["id"])  # more points: never fewer features
    assert len(atlas.nearest("KLS-14", "mines", 3, gpkg, from_points="all")) == 3


def test_cli_from_all_names_the_point_of_each_distance(gpkg):
    res = run_cli("near", "KLS-14", "--km", "20", "--from", "all", "--gpkg", str(gpkg))
    assert res.returncode == 0 and "from_point" in res.stdout and "Measured from every published point" in res.stdout
    bad = run_cli("near", "KLS-14", "--from", "everywhere", "--gpkg", str(gpkg))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_show_takes_site_layer_as_near_does_and_the_old_name_still_works_with_a_notice(gpkg):
    new = run_cli("show", "Yodok", "--site-layer", "camps", "--gpkg", str(gpkg))
    assert new.returncode == 0 and "KLS-15" in new.stdout and new.stderr == ""
    old = run_cli("show", "Yodok", "--layer", "camps", "--gpkg", str(gpkg))
    assert old.returncode == 0 and old.stdout == new.stdout
    assert "--layer is now --site-layer" in old.stderr
    assert "--layer" not in run_cli("show", "--help").stdout.replace("--site-layer", "")


@pytest.mark.parametrize("command", [["show"], ["near", "--km", "5"], ["cite"], ["dossier", "--out", "{tmp}"],
                                     ["status"]])
def test_every_command_takes_yodok_for_the_camp_and_says_so_where_the_county_was_a_candidate(gpkg, tmp_path, command):
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    res = run_cli(args[0], "Yodok", *args[1:], "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    assert "KLS-15" in res.stdout or "KLS-15" in " ".join(p.name for p in tmp_path.iterdir())
    if args[0] in ("show", "near", "cite"):  # the county was a candidate: the answer says which was taken
        assert "Yodok County" in res.stderr and "KLS-15" in res.stderr
    county = run_cli("show", "Yodok County", "--gpkg", str(gpkg))
    assert county.returncode == 0 and "Yodok County" in county.stdout and county.stderr == ""
