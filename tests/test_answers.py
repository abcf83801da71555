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
