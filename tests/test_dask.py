"""Past one machine (issue 17.3): assign_admin on a partitioned dask-geopandas GeoDataFrame."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import atlas
from atlas.admin import ADMIN_COLUMNS

from .conftest import require_tool

try:
    import dask_geopandas
except ImportError:  # the 'dask' extra; CI installs it (README test command), so there it fails
    dask_geopandas = None


@pytest.fixture(autouse=True)
def _needs_dask():
    require_tool(dask_geopandas is not None, "dask-geopandas (pip install -e '.[dask]')")


def _synthetic_points(n: int, seed: int) -> gpd.GeoDataFrame:
    """Synthetic points over the DPRK and its borders (some in China, some at sea), seeded."""
    rng = np.random.default_rng(seed)
    return gpd.GeoDataFrame({"synthetic_id": np.arange(n)},
                            geometry=gpd.points_from_xy(rng.uniform(124.0, 131.0, n),
                                                        rng.uniform(37.5, 43.2, n)),
                            crs=4326)


@pytest.mark.slow
def test_assign_admin_on_dask_equals_in_memory_on_100000_points(gpkg):
    pts = _synthetic_points(100_000, seed=17)
    ddf = dask_geopandas.from_geopandas(pts, npartitions=4)
    assert ddf.npartitions == 4
    lazy = atlas.assign_admin(ddf, gpkg)
    assert type(lazy).__module__.startswith("dask_geopandas")  # lazy: nothing computed yet
    got = lazy.compute()
    want = atlas.assign_admin(pts, gpkg)
    assert isinstance(got, gpd.GeoDataFrame) and got.crs == want.crs
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(pd.DataFrame(got.drop(columns="geometry")),
                                  pd.DataFrame(want.drop(columns="geometry")))
    assert got.geometry.geom_equals(want.geometry).all()
    # the join really happened: every method occurs, and most points have a province
    assert set(got["admin_method"].dropna()) == {"within", "nearest", "outside"}
    assert got["province"].notna().mean() > 0.3


def test_assign_admin_on_dask_checks_its_input(gpkg, tmp_path):
    pts = _synthetic_points(10, seed=1)
    with pytest.raises(atlas.InputError, match="no CRS"):
        atlas.assign_admin(dask_geopandas.from_geopandas(pts.set_crs(None, allow_override=True),
                                                         npartitions=2), gpkg)
    with pytest.raises(atlas.NotFoundError):
        atlas.assign_admin(dask_geopandas.from_geopandas(pts, npartitions=2), tmp_path / "missing.gpkg")


def test_assign_admin_from_partitioned_geoparquet_to_geoparquet(gpkg, tmp_path):
    """The README's path: partitioned GeoParquet in, partitioned GeoParquet out, equal to in memory."""
    pts = _synthetic_points(4_000, seed=5)
    dask_geopandas.from_geopandas(pts, npartitions=4).spatial_shuffle().to_parquet(tmp_path / "in")
    atlas.assign_admin(dask_geopandas.read_parquet(tmp_path / "in"), gpkg).to_parquet(tmp_path / "out")
    assert len(list((tmp_path / "out").glob("*.parquet"))) == 4
    got = dask_geopandas.read_parquet(tmp_path / "out").compute().sort_values("synthetic_id")
    want = atlas.assign_admin(pts, gpkg)
    assert got["province"].notna().sum() > 1_000
    for col in ADMIN_COLUMNS:
        pd.testing.assert_series_equal(got[col].reset_index(drop=True), want[col].reset_index(drop=True),
                                       check_dtype=False)
