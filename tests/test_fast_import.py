"""The import's vectorised steps give exactly the answers of the rules they stand in for.

A million-point import (issue 27) keys names with Arrow's string kernels, finds blank cells and
outside paths in one pass over a column, and measures the distance outside the DPRK to the
nearest edge of its outline. Each is compared here with the plain rule on random, synthetic input.
"""

from __future__ import annotations

import random

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely

import atlas.store
from atlas import importer, schema, search
from atlas.errors import InputError

_WORDS = ["mine", "Kaechon", "Dancheon", "Tanchon", "county", "gun", "ri", "Ryongyang", "jangjin", "Bong",
          "14", "camp", "no", "Yodok-gun", "Kim Il", "Gaecheon si", "the", "Phyong", "Kkhh", "Dorim"]
_CHARS = "abcdeghijklmnoprstuwyGDBJRN0123456789 &-'.;,/():|\t\x1cŏŭ개천시군관리소제호"


def _random_names(n: int, seed: int) -> list:
    rng = random.Random(seed)
    out: list = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4)))
                       + rng.choice(["", " ", " 12", "-do", " & Co"]))
        else:
            out.append("".join(rng.choice(_CHARS) for _ in range(rng.randint(0, 14))))
    return [*out, None, "", "   ", "&&", "a & b", " x ", "synthetic 1", "Synthetic point 7"]


@pytest.mark.parametrize("seed", [1, 2])
def test_name_keys_of_many_equal_the_rule(seed):
    labels = _random_names(6000, seed)
    rng = random.Random(seed)
    ids = [rng.choice([f"U{i:06d}", f"id-{i}", None, "개천", f"A {i}", float("nan")]) for i in range(len(labels))]
    fids = np.arange(1, len(labels) + 1) * 3  # not positions: the fids must be carried through
    fid, key = search._keyed_table(fids, ids, labels)
    got = list(zip(key.tolist(), fid.tolist()))
    want = {(k, int(f)) for f, i, n in zip(fids, ids, labels) for k in search.name_keys(i, n)}
    assert len(got) == len(set(got)), "a key of a feature written twice"
    assert set(got) == want
    assert got == sorted(got), "keys are written in key order"


def test_a_plain_name_is_keyed_by_arrow_and_others_by_the_rule():
    plain = pa.array(["synthetic 12", "Kim Il-sung & Co.", "a;b", "개천", "x (y)", "tab\there"])
    assert pc.match_substring_regex(plain, search._PLAIN_NAME).to_pylist() == [True, True, False, False,
                                                                               False, False]


def test_spaces_are_exactly_what_strip_removes():
    assert set(schema._SPACES) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


@pytest.mark.parametrize("dtype", [object, "str"])
def test_blank_cells_equal_the_strip_rule(dtype):
    rng = random.Random(3)
    pool = list(schema._SPACES) + list("ab개 ")
    values = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 4))) for _ in range(4000)] + [None]
    col = pd.Series(values, dtype=dtype)
    want = (col.astype(object).isna() | (col.astype(object).astype(str).str.strip() == "")).to_numpy()
    assert want.any() and not want.all()
    assert (schema._empty(col) == want).all()
    mixed = pd.Series([1, None, " ", True, 2.5, ""], dtype=object)
    assert schema._empty(mixed).tolist() == [False, True, True, False, False, True]


def test_outside_paths_equal_the_pattern():
    rng = random.Random(4)
    bits = ["../", "x", "/tmp/", " ", "C:\\", "c:\\", "(", "shared/seed", "/home", "work/", "/work/", "a.b/"]
    values = ["".join(rng.choice(bits) for _ in range(rng.randint(0, 4))) for _ in range(3000)] + [None, 1.5]
    col = pd.Series(values, dtype=object)
    want = [i for i, v in enumerate(col.astype(str)) if isinstance(v, str) and schema._OUTSIDE_PATH.search(v)]
    assert want
    assert schema._outside_path_rows(col).tolist() == want


def test_distance_to_the_nearest_edge_equals_the_distance_to_the_outline(gpkg):
    outline = atlas.store.open_atlas(gpkg).outline("EPSG:5179")
    rng = np.random.default_rng(5)
    pts = gpd.GeoSeries(gpd.points_from_xy(rng.uniform(123, 132, 4000), rng.uniform(37, 44, 4000)),
                        crs="EPSG:4326").to_crs("EPSG:5179").to_numpy()
    outside = pts[~shapely.contains_xy(outline, shapely.get_x(pts), shapely.get_y(pts))]
    which, metres = importer._edge_tree(outline).query_nearest(outside, return_distance=True, all_matches=False)
    assert len(outside) > 1000 and (which[0] == np.arange(len(outside))).all()
    np.testing.assert_allclose(metres, shapely.distance(outside, outline), rtol=0, atol=1e-6)


def test_a_field_that_changes_type_between_chunks_is_refused_by_name(tmp_path):
    first = pa.table({"name": ["a"], "height": pa.array([3], pa.int64())})
    later = pa.table({"name": ["b"], "height": pa.array(["tall"], pa.string())})

    class State:
        n = 20_001

    assert importer._conform(pa.table({"name": ["c"], "height": pa.array([None], pa.null())}), first.schema,
                             tmp_path, State).schema == first.schema
    with pytest.raises(InputError, match=r"field 'height' changes type by row 20,001"):
        importer._conform(later, first.schema, tmp_path / "synthetic.geojson", State)
