"""User layers' names are keyed once, at import, and looked up in the GeoPackage.

The names are synthetic, written by the test; the points are real atlas camps.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import atlas
import atlas.store
from atlas import search

_NAMES = ["Kaechon Test Site", "요덕 test camp", "KLS-14", "Yodok County annex", "Hamhung-si depot",
          "Kaech'ŏn riverside", "Tanchon Magnesia (synthetic)", "개천 광산 synthetic", "Camp 15 echo"]


def _import_names(gpkg: Path, layers: dict, tmp: Path) -> Path:
    camps = layers["camps"]
    pts = camps[camps.geometry.notna() & ~camps.geometry.is_empty].geometry
    rows = [f'"{n}",{pts.iloc[i % len(pts)].y},{pts.iloc[i % len(pts)].x},S{i}' for i, n in enumerate(_NAMES)]
    path = tmp / "synthetic_names.csv"
    path.write_text("name,lat,lon,id\n" + "\n".join(rows) + "\n", encoding="utf-8")
    atlas.import_layer(path, "names", gpkg=gpkg)
    return gpkg


@pytest.fixture
def keyed(atlas_copy, layers, tmp_path) -> Path:
    """A copy of the atlas with the synthetic names imported: for a test that changes it."""
    return _import_names(atlas_copy, layers, tmp_path)


@pytest.fixture(scope="module")
def keyed_and_plain(gpkg, layers, tmp_path_factory) -> tuple[Path, Path]:
    """The keyed atlas and its twin without keys, shared by the queries that only read them."""
    tmp = tmp_path_factory.mktemp("keyed")
    shutil.copyfile(gpkg, tmp / "atlas.gpkg")
    keyed = _import_names(tmp / "atlas.gpkg", layers, tmp)
    return keyed, _unkeyed(keyed, tmp)


def _unkeyed(path: Path, tmp_path: Path) -> Path:
    """The same atlas without the keys table: every name indexed in memory, as before."""
    plain = tmp_path / "plain.gpkg"
    shutil.copyfile(path, plain)
    with sqlite3.connect(plain) as con:
        con.execute(f"DROP TABLE {search.NAME_KEYS}")
        con.execute("DROP TABLE atlas_name_layers")
    return plain


_QUERIES = ["Kaechon", "kaechon test site", "요덕", "KLS-14", "S3", "Yodok", "Hamhung", "개천",
            "Tanchon", "camp 15", "Kaechn Tset Site", "synthetic", "zzz-nothing"]


@pytest.mark.parametrize("query", _QUERIES)
def test_keyed_search_equals_the_in_memory_index(keyed_and_plain, query):
    keyed, plain = keyed_and_plain
    assert search.name_index(atlas.open_atlas(keyed)).keyed == {"user_names": len(_NAMES)}
    assert search.name_index(atlas.open_atlas(plain)).keyed == {}
    cols = ["layer", "id", "name", "match", "score", "matched", "province"]

    def run(path):
        try:
            return atlas.find(query, gpkg=path)[cols].reset_index(drop=True)
        except atlas.errors.NotFoundError as exc:
            return str(exc).replace(str(path), "GPKG")

    got, want = run(keyed), run(plain)
    if isinstance(want, str):
        assert got == want
    else:
        pd.testing.assert_frame_equal(got, want)


def test_a_query_reads_no_user_layer_it_does_not_match(keyed, monkeypatch):
    read = []
    real = atlas.store.GeoPackageAtlas._read
    monkeypatch.setattr(atlas.store.GeoPackageAtlas, "_read",
                        lambda self, name, **k: read.append((name, k)) or real(self, name, **k))
    atlas.store._OPEN.clear()
    atlas.near("KLS-15", km=10, gpkg=keyed)
    assert [r for r in read if r[0] == "user_names"] == []
    hits = atlas.find("KLS-14", gpkg=keyed)  # the camp, and the user feature of that name
    assert set(hits["layer"]) == {"camps", "user_names"}
    assert [r for r in read if r[0] == "user_names"] == [("user_names", {"fids": [3]})]
    site = atlas.resolve("S2", gpkg=keyed)  # reads the one feature, by its id
    assert site.name == "KLS-14" and read[-1] == ("user_names", {"where": "user_id = 'S2'"})


@pytest.mark.slow
def test_rebuild_and_drop_keep_the_keys_true(keyed, tmp_path, layers):
    atlas.build(keyed)
    atlas.store._OPEN.clear()
    assert search.name_index(atlas.open_atlas(keyed)).keyed == {"user_names": len(_NAMES)}
    old = _unkeyed(keyed, tmp_path)  # as if imported before names were keyed: a rebuild keys it
    atlas.build(old)
    assert search.keyed_layers(old, ["user_names"]) == {"user_names": len(_NAMES)}
    atlas.build(keyed)
    atlas.store._OPEN.clear()
    assert search.name_index(atlas.open_atlas(keyed)).keyed == {"user_names": len(_NAMES)}
    assert set(atlas.find("Hamhung depot", gpkg=keyed)["id"]) >= {"S4"}
    atlas.drop_layer("names", gpkg=keyed)
    with sqlite3.connect(keyed) as con:
        assert con.execute(f"SELECT count(*) FROM {search.NAME_KEYS}").fetchone() == (0,)
    assert "user_names" not in {n for n, _ in atlas.list_layers(keyed)}
