"""One input: every product is made from the GeoPackage alone.

Only ``atlas.gpkg`` is copied to another folder, and ``ATLAS_GEODATA`` points at
an empty folder, so any hidden read of ``geodata/`` at run time fails. Each
command runs in a new process (:func:`spawn_cli`): in this one, a cache filled
from ``geodata/`` by an earlier test would hide such a read.
"""

from __future__ import annotations

import shutil

import pytest

from .conftest import spawn_cli


@pytest.mark.slow  # 17 commands, each in its own process
def test_every_product_is_made_from_the_geopackage_alone(gpkg, tmp_path):
    alone = tmp_path / "alone"
    alone.mkdir()
    copy = alone / "atlas.gpkg"
    shutil.copy(gpkg, copy)
    empty = tmp_path / "no_geodata"
    empty.mkdir()
    env = {"ATLAS_GEODATA": str(empty), "ATLAS_OUTPUT": str(tmp_path / "no_output")}

    # the trap works: a read of the curated data fails in this environment
    trap = spawn_cli("build", "--no-products", "--out", str(tmp_path / "trap.gpkg"), env=env)
    assert trap.returncode != 0 and "manifest" in trap.stderr

    csv = tmp_path / "synthetic_sites.csv"  # a synthetic fixture: two points inside the DPRK
    csv.write_text("id,name,lat,lon\nS1,synthetic site one,39.60,126.90\n"
                   "S2,synthetic site two,40.10,127.40\n", encoding="utf-8")
    g = ["--gpkg", str(copy)]
    commands = [
        ["map", "--out", str(alone / "atlas.html"), *g],
        ["export", "--qgis", "--out", str(alone / "qgis"), *g],
        ["density", "--out", str(alone / "mine_density.tif"), *g],
        ["province-density", *g],
        ["find", "Kaech'ŏn", *g],
        ["near", "KLS-14", "--km", "25", "--sanctions", *g],
        ["nearest", "KLS-15", *g],
        ["summary", "--sanctions", *g],
        ["summary", "--by", "county", *g],
        ["show", "KLS-14", *g],
        ["status", *g],
        ["import", str(csv), "--as", "synthetic_sites", *g],
        ["near", "KLS-14", "--km", "200", "--layer", "user_synthetic_sites", *g],
        ["layers", *g],
        ["validate", str(copy)],
    ]
    for cmd in commands:
        res = spawn_cli(*cmd, env=env)
        assert res.returncode == 0, (cmd, res.stderr)
        assert res.stdout.strip(), cmd
    for name in ("atlas.html", "qgis/atlas.qgz", "qgis/atlas.gpkg", "mine_density.tif"):
        assert (alone / name).is_file(), name
    assert not (tmp_path / "no_output").exists()
    # the offline basemap came from the GeoPackage: the page draws the countries around the DPRK
    assert '"prk":true' in (alone / "atlas.html").read_text(encoding="utf-8")
    # the GeoNames alternate names came from the GeoPackage: Anbyon County found by a spelling
    # only GeoNames gives its town (Anpen, the Japanese-era reading of Anbyŏn)
    found = spawn_cli("find", "Anpen", "--format", "csv", *g, env=env)
    assert found.returncode == 0, found.stderr
    assert "relation/7117363" in found.stdout
