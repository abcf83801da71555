"""Density products: the kernel density surface of a point layer, and Table 2 mines per province area.

Both in EPSG:5179 (Korea 2000 Unified CS, a transverse Mercator on 127.5°E
whose metres are true to ≤ 620 ppm over the DPRK):

:func:`density`
    A kernel density surface of a point layer (``mines`` by default) on a
    grid of ``cell_km`` cells over the DPRK, masked to the Natural Earth
    outline, in points per km², written as a Cloud Optimized GeoTIFF with a
    QGIS style (``.qml``) beside it.

    *Kernel*: quartic (biweight), the kernel of QGIS's Heatmap and ArcGIS's
    Kernel Density: ``K(d) = 3 / (π h²) · (1 − d²/h²)²`` for ``d < h``, else 0,
    where the **bandwidth h is the kernel's radius** (the distance at which a
    point's influence reaches zero; its standard deviation is ``h/√7``
    ≈ 0.38 h). It integrates to 1 over the plane.

    *Edge correction*: the surface is masked to the country (cells whose
    centre lies outside the outline are nodata), so a coastal or border
    mine would lose the part of its kernel falling into the sea or China.
    Each point's kernel is instead renormalised to unit mass over the cells
    inside the outline (the discrete form of Diggle's edge correction), which
    also removes the discretisation error of sampling ``K`` at cell centres.
    The surface therefore integrates (``sum × cell area``) to the number of
    points (or the sum of weights) up to float32 rounding. The share of each
    kernel that fell outside the mask before renormalising is recorded in
    the tags. A point farther than ``h + cell`` from every unmasked cell
    cannot be represented; it is counted in the tags, never dropped silently.

:func:`province_density`
    The report's Table 2 mines per 1,000 km² by province, as a **polygon
    attribute** (layer ``province_mine_density``), not a raster: Table 2
    gives one count per province, so the honest resolution is the province.
    A raster would repeat one value over every cell of a province and
    suggest a sub-province precision the report does not have. Areas are the
    ``provinces`` layer's geodesic ``area_km2`` (WGS84 ellipsoid, Natural
    Earth v5.1 outlines). The report's mines of no identified province are
    in no province's figure.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.shutil
import rasterio.windows
from rasterio.enums import Resampling
from rasterio.features import geometry_mask

from . import io
from .admin import PLANAR_CRS
from .errors import InputError, NotFoundError
from .provenance import atlas_version
from .raster import (
    creation_time,
    ids_and_names,
    north_up,
    point_layer,
    positive,
)
from .store import Atlas, open_atlas
from .userlayers import gate

__all__ = ["DENSITY_NODATA", "KERNEL", "density", "province_density"]

#: The kernel :func:`density` uses; its bandwidth is the radius of support.
KERNEL = "quartic"
#: Nodata of the density surface (cells outside the DPRK outline).
DENSITY_NODATA = -9999.0
#: The largest grid :func:`density` accepts, in cells (guards against a typo like 0.001 km).
MAX_CELLS = 25_000_000
OUTLINE = "boundaries/ne10m_admin0_prk.geojson"
PROVINCE_LAYER = "province_mine_density"


def _outline_5179(atlas: Atlas) -> gpd.GeoSeries:
    return gpd.GeoSeries([atlas.outline(PLANAR_CRS)], crs=PLANAR_CRS)


def _grid(bounds: tuple[float, float, float, float], cell_m: float):
    """A grid snapped to multiples of the cell size (grids of one cell size always align)."""
    minx, miny, maxx, maxy = bounds
    x0, y0 = math.floor(minx / cell_m) * cell_m, math.floor(miny / cell_m) * cell_m
    x1, y1 = math.ceil(maxx / cell_m) * cell_m, math.ceil(maxy / cell_m) * cell_m
    width, height = round((x1 - x0) / cell_m), round((y1 - y0) / cell_m)
    if width * height > MAX_CELLS:
        raise InputError(
            f"a {cell_m / 1000:g} km grid over the DPRK has {width * height:,} cells "
            f"(limit {MAX_CELLS:,}); use a larger cell size (--cell-km)"
        )
    return north_up(x0, y1, cell_m, cell_m), width, height


def _kernel_surface(xy: np.ndarray, weights: np.ndarray, transform, inside: np.ndarray,
                    bandwidth_m: float) -> tuple[np.ndarray, dict]:
    """Sum of edge-corrected quartic kernels, in weight per km², on the masked grid.

    Returns the surface (0 outside the mask) and diagnostics for the tags.
    """
    height, width = inside.shape
    cell_m = transform.a
    x0, y1 = transform.c, transform.f
    h_km = bandwidth_m / 1000.0
    cell_area_km2 = (cell_m / 1000.0) ** 2
    peak = 3.0 / (math.pi * h_km**2)
    surface = np.zeros((height, width), dtype=np.float64)
    reach = bandwidth_m + cell_m
    spilled, unrepresented = [], 0
    for (px, py), w in zip(xy, weights):
        c0 = max(math.floor((px - reach - x0) / cell_m), 0)
        c1 = min(math.ceil((px + reach - x0) / cell_m), width)
        r0 = max(math.floor((y1 - (py + reach)) / cell_m), 0)
        r1 = min(math.ceil((y1 - (py - reach)) / cell_m), height)
        if c0 >= c1 or r0 >= r1:
            unrepresented += 1
            continue
        xc = x0 + (np.arange(c0, c1) + 0.5) * cell_m
        yc = y1 - (np.arange(r0, r1) + 0.5) * cell_m
        d2 = ((xc[None, :] - px) ** 2 + (yc[:, None] - py) ** 2) / bandwidth_m**2
        k = np.where(d2 < 1.0, (1.0 - d2) ** 2, 0.0) * peak
        valid = inside[r0:r1, c0:c1]
        k_in = k * valid
        mass_in = k_in.sum() * cell_area_km2
        if k.sum() > 0:
            spilled.append(1.0 - k_in.sum() / k.sum())
        if mass_in > 0:
            surface[r0:r1, c0:c1] += k_in * (w / mass_in)
        elif valid.any():  # bandwidth smaller than the cell: all mass to the nearest cell inside
            d2v = np.where(valid, d2, np.inf)
            r, c = np.unravel_index(np.argmin(d2v), d2v.shape)
            surface[r0 + r, c0 + c] += w / cell_area_km2
        else:
            unrepresented += 1
    info = {
        "kernel_mass_outside_mask_mean": float(np.mean(spilled)) if spilled else 0.0,
        "kernel_mass_outside_mask_max": float(np.max(spilled)) if spilled else 0.0,
        "points_not_represented": unrepresented,
    }
    return surface, info


def _cog_available() -> bool:
    with rasterio.Env() as env:
        return "COG" in env.drivers()


def _write_cog(path: Path, array: np.ndarray, profile: dict, tags: dict, band_tags: dict,
               description: str, unit: str) -> None:
    """Write a single-band Cloud Optimized GeoTIFF (DEFLATE), with GTiff+overviews as fallback."""
    base = {**profile, "count": 1, "compress": "deflate", "blocksize": 256}

    def fill(dst):
        dst.write(array, 1)
        dst.set_band_description(1, description)
        dst.set_band_unit(1, unit)
        dst.update_tags(**tags)
        dst.update_tags(1, **band_tags)

    if _cog_available():
        with rasterio.open(path, "w", driver="COG", predictor="floating_point",
                           overview_resampling="average", **base) as dst:
            fill(dst)
        return
    # GDAL without the COG driver (< 3.1): tiled GTiff, internal overviews, then a copy that
    # puts the overviews before the full-resolution data (the COG layout).
    staging = path.with_name(path.stem + ".staging.tif")
    try:
        gt = {k: v for k, v in base.items() if k != "blocksize"}
        with rasterio.open(staging, "w", driver="GTiff", tiled=True, blockxsize=256,
                           blockysize=256, **gt) as dst:
            fill(dst)
            factors = [f for f in (2, 4, 8, 16, 32) if max(dst.width, dst.height) / f >= 128]
            if factors:
                dst.build_overviews(factors, Resampling.average)
        rasterio.shutil.copy(staging, path, driver="GTiff", tiled=True, blockxsize=256,
                             blockysize=256, compress="deflate", copy_src_overviews=True)
    finally:
        if staging.exists():
            staging.unlink()


def density(
    layer: str = "mines",
    cell_km: float = 5.0,
    bandwidth_km: float = 25.0,
    weight: str | None = None,
    out: Path | None = None,
    gpkg: Path | None = None,
) -> Path:
    """Write a kernel density surface of a point layer over the DPRK.

    A quartic kernel of radius ``bandwidth_km`` per point, edge-corrected to
    the country outline (see the module docstring), on a grid of
    ``cell_km`` cells in EPSG:5179, in points (or weight units) per km².
    The surface integrates, ``sum × cell area``, to the number of points (or
    the sum of the weights). Cells outside the outline are nodata
    (:data:`DENSITY_NODATA`). The GeoTIFF has the Cloud Optimized layout,
    DEFLATE compression, a band description and unit, and the generating
    parameters in its tags; a QGIS style is written beside it
    (``<out>.qml``, :func:`atlas.qml.raster_qml`, the style the QGIS export gives it). Both replace earlier files
    only once fully written.

    Parameters
    ----------
    layer : str, default "mines"
        A point layer of the GeoPackage (features without geometry are left
        out and counted in the tags).
    cell_km : float, default 5
        Cell size in km (> 0).
    bandwidth_km : float, default 25
        The kernel's radius in km (> 0): a point counts for nothing beyond it.
    weight : str, optional
        A numeric, non-negative field to weight each point by.
    out : pathlib.Path, optional
        Defaults to ``output/mine_density.tif`` for ``mines``, else
        ``output/<layer>_density.tif``.
    gpkg : pathlib.Path, optional
        The atlas GeoPackage, default ``output/atlas.gpkg``.

    Returns
    -------
    pathlib.Path
        The GeoTIFF written.

    Raises
    ------
    InputError
        A size that is zero or negative, a layer that is not points, a weight
        field that is not numeric or negative, no point to count.
    NotFoundError
        No such GeoPackage, layer or weight field.

    Examples
    --------
    >>> import atlas, rasterio, tempfile, pathlib
    >>> tif = atlas.density(out=pathlib.Path(tempfile.mkdtemp()) / "d.tif")
    >>> with rasterio.open(tif) as src:
    ...     src.crs.to_epsg(), src.tags()["kernel"], src.res
    (5179, 'quartic', (5000.0, 5000.0))
    """
    cell_km = positive(cell_km, "the cell size", "--cell-km")
    bandwidth_km = positive(bandwidth_km, "the bandwidth", "--bandwidth-km")
    allowed = gate(gpkg, "density")  # made to be shared: never from a private layer
    allowed.refuse([layer] if isinstance(layer, str) else [], verb="use")
    atlas = allowed.atlas
    df = point_layer(layer, atlas)
    present = df[~(df.geometry.isna() | df.geometry.is_empty)]
    if weight is not None:
        if weight not in df.columns or weight == df.geometry.name:
            raise NotFoundError(f"no field {weight!r} in layer {layer!r}",
                                [c for c in df.columns if c != df.geometry.name][:5])
        values = pd.to_numeric(present[weight], errors="coerce")
        ids, _ = ids_and_names(present, layer)
        bad = ids[values.isna() | (values < 0)].tolist()
        if bad:
            raise InputError(f"weight field {weight!r} is empty, not numeric or negative for "
                             f"{len(bad)} feature(s): {', '.join(bad[:10])}")
        weights = values.to_numpy(dtype=float)
    else:
        weights = np.ones(len(present))
    if len(present) == 0 or weights.sum() <= 0:
        raise InputError(f"layer {layer!r} has no point (or no positive weight) to count")
    pts = present.geometry.to_crs(PLANAR_CRS)
    if (pts.geom_type == "MultiPoint").any():
        exploded = pts.explode(index_parts=False)
        weights = pd.Series(weights, index=pts.index).reindex(exploded.index).to_numpy()
        pts = exploded
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])

    outline = _outline_5179(atlas)
    transform, width, height = _grid(tuple(outline.total_bounds), cell_km * 1000.0)
    inside = geometry_mask(list(outline), out_shape=(height, width), transform=transform,
                           invert=True)
    surface, info = _kernel_surface(xy, weights, transform, inside, bandwidth_km * 1000.0)
    data = np.where(inside, surface, DENSITY_NODATA).astype(np.float32)
    integral = float(surface[inside].sum()) * cell_km**2

    unit = f"{weight} per km2" if weight else "points per km2"
    now = creation_time()
    tags = {
        "layer": layer,
        "source_gpkg": atlas.file_name,
        "n_points": str(len(xy)),
        "n_features_without_geometry": str(len(df) - len(present)),
        "weight": weight or "",
        "sum_of_weights": f"{float(weights.sum()):.6g}",
        "kernel": KERNEL,
        "kernel_formula": "K(d) = 3/(pi h^2) * (1 - d^2/h^2)^2 for d < h, else 0",
        "bandwidth_km": f"{bandwidth_km:g}",
        "bandwidth_meaning": "h, the kernel's radius: a point counts for nothing beyond h km",
        "cell_km": f"{cell_km:g}",
        "crs": PLANAR_CRS,
        "units": unit,
        "mask": f"cells whose centre lies inside {OUTLINE} (Natural Earth); elsewhere nodata",
        "edge_correction": "each point's kernel renormalised to unit mass over the unmasked cells",
        "kernel_mass_outside_mask_mean": f"{info['kernel_mass_outside_mask_mean']:.4f}",
        "kernel_mass_outside_mask_max": f"{info['kernel_mass_outside_mask_max']:.4f}",
        "points_not_represented": str(info["points_not_represented"]),
        "integral": f"{integral:.6g}",
        "created": now.isoformat(),
        "generator": f"gulag-inc-atlas {atlas_version()} atlas.density",
        "TIFFTAG_DATETIME": now.strftime("%Y:%m:%d %H:%M:%S"),
        "TIFFTAG_SOFTWARE": f"gulag-inc-atlas {atlas_version()}",
        "TIFFTAG_IMAGEDESCRIPTION": (
            f"Kernel density of {layer} ({KERNEL}, bandwidth {bandwidth_km:g} km, "
            f"cell {cell_km:g} km), {unit}"
        ),
    }
    band_tags = {"units": unit, "kernel": KERNEL, "bandwidth_km": f"{bandwidth_km:g}"}
    profile = {"width": width, "height": height, "dtype": "float32", "crs": PLANAR_CRS,
               "transform": transform, "nodata": DENSITY_NODATA}
    default = "mine_density.tif" if layer == "mines" else f"{layer}_density.tif"
    out = Path(out or io.output_dir() / default)
    description = f"{layer} kernel density ({unit})"
    with io.atomic_path(out) as tmp:
        _write_cog(tmp, data, profile, tags, band_tags, description, unit)
    from .qml import raster_qml  # the one style of the density raster, as the QGIS export's

    with io.atomic_path(out.with_suffix(".qml")) as tmp:
        tmp.write_text(raster_qml(out, density=True), encoding="utf-8")
    return out


# --------------------------------------------------------------------------- per province


def province_density(gpkg: Path | None = None, out: Path | None = None) -> gpd.GeoDataFrame:
    """The report's Table 2 mines per 1,000 km², per province, as a polygon layer.

    A polygon attribute rather than a raster: Table 2 gives one count per
    province, and a raster would spread it over cells as if the report knew
    where in the province the mines are. The figure is
    ``reported_mines / area_km2 × 1000`` with the ``provinces`` layer's
    geodesic area (WGS84 ellipsoid, Natural Earth v5.1 outlines; Rason,
    Nampo and Kaesong folded into their provinces as in the report). The
    report's mines of no identified province count in no province. Beside
    it, the number of geolocated mines (``mines`` layer, by spatial join) in
    the province, which is not the report's count.

    Parameters
    ----------
    gpkg : pathlib.Path, optional
        The atlas GeoPackage, default ``output/atlas.gpkg``.
    out : pathlib.Path, optional
        If given, also write the result to this GeoPackage (1.3, EPSG:4326)
        as the layer ``province_mine_density``, atomically.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per province, densest first: ``province_id``, ``name_en``,
        ``name_ko``, ``reported_mines``, ``reported_share_pct``,
        ``area_km2``, ``mines_per_1000km2``, ``geolocated_mines``,
        ``report_ref``, ``area_method`` and the province polygon.

    Examples
    --------
    >>> import atlas
    >>> t = atlas.province_density()
    >>> len(t), t["mines_per_1000km2"].is_monotonic_decreasing
    (10, True)
    """
    atlas = open_atlas(gpkg)
    prov = atlas.read("provinces")
    mines = atlas.layer("mines")
    area = pd.to_numeric(prov["area_km2"], errors="coerce")
    if area.isna().any() or (area <= 0).any():
        raise InputError(f"{atlas.shown}: provinces.area_km2 is empty or not positive")
    counts = mines["province"].value_counts()
    table = gpd.GeoDataFrame(
        {
            "province_id": prov["province_id"],
            "name_en": prov["name_en"],
            "name_ko": prov["name_ko"],
            "reported_mines": prov["reported_mines"].astype(int),
            "reported_share_pct": prov["reported_share_pct"].astype(float),
            "area_km2": area,
            "mines_per_1000km2": pd.to_numeric(prov["reported_mines_per_1000_km2"]),
            "geolocated_mines": prov["name_en"].map(counts).fillna(0).astype(int),
            "report_ref": prov["report_ref"],
            "area_method": "geodesic area on the WGS84 ellipsoid (provinces.area_km2)",
        },
        geometry=prov.geometry, crs=prov.crs,
    ).sort_values(["mines_per_1000km2", "name_en"], ascending=[False, True]).reset_index(drop=True)
    if out is not None:
        description = ("Gulag, Inc. (HRNK 2016) Table 2 mines per 1,000 km² of province "
                       "(geodesic area); mines of no identified province excluded")
        io.write_layers({PROVINCE_LAYER: table}, Path(out), {PROVINCE_LAYER: description})
    return table
