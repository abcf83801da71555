"""Raster products: kernel density surfaces, mines per province area, imagery chips.

Three products, all in EPSG:5179 (Korea 2000 Unified CS, a transverse
Mercator on 127.5°E whose metres are true to ≤ 620 ppm over the DPRK):

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

:func:`chips`
    Cuts, from any georeferenced raster a user has (any CRS, any number of
    bands, nodata kept), one GeoTIFF per site: a square of ``size_km``
    centred on the site, warped into EPSG:5179 so that every chip is true to
    scale, north-up and in one CRS (chips of neighbouring sites line up). A
    site whose location has no valid pixel in the imagery is reported in
    :attr:`ChipsResult.outside` (and by a warning), never silently skipped.
"""

from __future__ import annotations

import math
import os
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.shutil
import rasterio.windows
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.features import geometry_mask
from rasterio.transform import Affine
from rasterio.warp import reproject, transform_bounds
from rasterio.warp import transform as warp_transform

from . import io, sources
from .admin import PLANAR_CRS
from .errors import InputError, NotFoundError
from .schema import SCHEMAS
from .style import DENSITY_RAMP

__all__ = [
    "DENSITY_NODATA",
    "KERNEL",
    "Chip",
    "ChipsResult",
    "chips",
    "density",
    "density_style",
    "province_density",
]

#: The kernel :func:`density` uses; its bandwidth is the radius of support.
KERNEL = "quartic"
#: Nodata of the density surface (cells outside the DPRK outline).
DENSITY_NODATA = -9999.0
#: The largest grid :func:`density` accepts, in cells (guards against a typo like 0.001 km).
MAX_CELLS = 25_000_000
#: The largest chip side, in pixels.
MAX_CHIP_PIXELS = 20_000
OUTLINE = "boundaries/ne10m_admin0_prk.geojson"
PROVINCE_LAYER = "province_mine_density"
#: Tags read, in this order, for the acquisition date of a user's imagery.
DATE_TAGS = (
    "ACQUISITIONDATE", "ACQUISITION_DATE", "ACQUISITIONDATETIME", "DATE_ACQUIRED",
    "SENSING_TIME", "SENSINGTIME", "DATATAKE_SENSING_START", "TIFFTAG_DATETIME", "DATETIME", "DATE",
)
_RAMP = DENSITY_RAMP  # pale for low, dark red for the highest density


def _now() -> datetime:
    """The creation time written in tags (``SOURCE_DATE_EPOCH`` if set, for reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    return datetime.now(timezone.utc).replace(microsecond=0)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("gulag-inc-atlas")
    except Exception:  # not installed as a distribution
        return "unknown"


def _positive(value, name: str, option: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r} ({option})") from None
    if not math.isfinite(v) or v <= 0:
        raise InputError(f"{name} must be greater than 0, got {value!r} ({option})")
    return v


def _gpkg_path(gpkg: Path | None) -> Path:
    path = Path(gpkg or io.default_gpkg())
    if not path.is_file():
        hint = " (run `atlas build` first)" if path == io.default_gpkg() else ""
        raise NotFoundError(f"no GeoPackage at {path}{hint}")
    return path


def _point_layer(layer: str, gpkg: Path) -> gpd.GeoDataFrame:
    df = io.read_layer(layer, gpkg)
    if not isinstance(df, gpd.GeoDataFrame):
        raise InputError(f"layer {layer!r} is a table without geometry; give a point layer")
    if df.crs is None:
        raise InputError(f"layer {layer!r} has no CRS")
    present = df[~(df.geometry.isna() | df.geometry.is_empty)]
    kinds = set(present.geometry.geom_type)
    if kinds - {"Point", "MultiPoint"}:
        raise InputError(
            f"layer {layer!r} holds {', '.join(sorted(kinds))} geometries; a density or chips "
            "need points"
        )
    return df


def _id_and_name(df: pd.DataFrame, layer: str) -> tuple[pd.Series, pd.Series]:
    """The id and the name of each feature, from the layer's schema or common field names."""
    id_field = SCHEMAS[layer].id_field if layer in SCHEMAS else None
    if not id_field or id_field not in df:
        id_field = next((c for c in ("site_id", "mine_id", "id", "fid") if c in df), None)
    ids = (df[id_field].astype(str) if id_field
           else pd.Series([f"{layer}-{i + 1}" for i in range(len(df))], index=df.index))
    name_field = next((c for c in ("name", "name_en", "name_in_report") if c in df), None)
    names = df[name_field].fillna("").astype(str) if name_field else pd.Series("", index=df.index)
    return ids, names


def _origin(west: float, north: float, xsize: float, ysize: float) -> Affine:
    """A north-up geotransform (as ``rasterio.transform.from_origin``, without its deprecated ``*``)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def _apply(t, x, y):
    """``t @ (x, y)`` for scalars or arrays, on every ``affine`` version (``*`` is deprecated)."""
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


# --------------------------------------------------------------------------- density


def _outline_5179() -> gpd.GeoSeries:
    return gpd.GeoSeries([sources.dprk_outline(PLANAR_CRS)], crs=PLANAR_CRS)


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
    return _origin(x0, y1, cell_m, cell_m), width, height


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


def density_style(vmin: float, vmax: float, unit: str = "points/km²") -> str:
    """A QGIS style (QML) for a density raster: pseudocolour, highest values darkest.

    QGIS's default for a single float band is a grey stretch that draws the
    densest cells white, like the background. This style is an interpolated
    YlOrRd ramp from transparent pale yellow at ``vmin`` to dark red at
    ``vmax``, so the highest density is the most visible colour and the
    areas of no density let the layers beneath show through.

    Parameters
    ----------
    vmin, vmax : float
        The value range of the ramp (usually 0 and the raster's maximum).
    unit : str, default "points/km²"
        Appended to the label of the top class.

    Returns
    -------
    str
        The QML document; load it with ``QgsRasterLayer.loadNamedStyle`` or
        save it beside the raster as ``<name>.qml`` (QGIS then applies it
        when the raster is added).

    Examples
    --------
    >>> qml = density_style(0.0, 0.004)
    >>> "singlebandpseudocolor" in qml and "#800026" in qml
    True
    """
    vmax = vmax if vmax > vmin else vmin + 1.0
    root = ET.Element("qgis", version="3.22.16", styleCategories="AllStyleCategories",
                      hasScaleBasedVisibilityFlag="0", minScale="1e+08", maxScale="0")
    pipe = ET.SubElement(root, "pipe")
    renderer = ET.SubElement(
        pipe, "rasterrenderer", type="singlebandpseudocolor", band="1", opacity="1",
        alphaBand="-1", classificationMin=repr(float(vmin)), classificationMax=repr(float(vmax)),
        nodataColor="",
    )
    ET.SubElement(renderer, "rasterTransparency")
    mmo = ET.SubElement(renderer, "minMaxOrigin")
    for tag, text in (("limits", "None"), ("extent", "WholeRaster"), ("statAccuracy", "Exact"),
                      ("cumulativeCutLower", "0.02"), ("cumulativeCutUpper", "0.98"),
                      ("stdDevFactor", "2")):
        ET.SubElement(mmo, tag).text = text
    shader = ET.SubElement(renderer, "rastershader")
    crs = ET.SubElement(shader, "colorrampshader", colorRampType="INTERPOLATED",
                        classificationMode="2", clip="0", minimumValue=repr(float(vmin)),
                        maximumValue=repr(float(vmax)), labelPrecision="6")
    ramp = ET.SubElement(crs, "colorramp", type="gradient", name="[source]")
    stops = ";".join(f"{i / (len(_RAMP) - 1):.4f};{_rgba(c, 255)}" for i, c in
                     enumerate(_RAMP[1:-1], start=1))
    for k, v in (("color1", _rgba(_RAMP[0], 0)), ("color2", _rgba(_RAMP[-1], 255)),
                 ("discrete", "0"), ("rampType", "gradient"), ("stops", stops)):
        ET.SubElement(ramp, "prop", k=k, v=v)
    n = len(_RAMP)
    for i, colour in enumerate(_RAMP):
        value = vmin + (vmax - vmin) * i / (n - 1)
        label = f"{value:.4g}" + (f" {unit}" if i == n - 1 else "")
        ET.SubElement(crs, "item", alpha="0" if i == 0 else "255", value=repr(float(value)),
                      label=label, color=colour)
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0",
                  colorizeRed="255", colorizeGreen="128", colorizeBlue="128",
                  colorizeStrength="100", invertColors="0")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    ET.SubElement(root, "blendMode").text = "0"
    ET.indent(root)
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            + ET.tostring(root, encoding="unicode") + "\n")


def _rgba(hex_colour: str, alpha: int) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"{r},{g},{b},{alpha}"


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
    (``<out>.qml``, see :func:`density_style`). Both replace earlier files
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
    cell_km = _positive(cell_km, "the cell size", "--cell-km")
    bandwidth_km = _positive(bandwidth_km, "the bandwidth", "--bandwidth-km")
    gpkg = _gpkg_path(gpkg)
    df = _point_layer(layer, gpkg)
    present = df[~(df.geometry.isna() | df.geometry.is_empty)]
    if weight is not None:
        if weight not in df.columns or weight == df.geometry.name:
            raise NotFoundError(f"no field {weight!r} in layer {layer!r}",
                                [c for c in df.columns if c != df.geometry.name][:5])
        values = pd.to_numeric(present[weight], errors="coerce")
        ids, _ = _id_and_name(present, layer)
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

    outline = _outline_5179()
    transform, width, height = _grid(tuple(outline.total_bounds), cell_km * 1000.0)
    inside = geometry_mask(list(outline), out_shape=(height, width), transform=transform,
                           invert=True)
    surface, info = _kernel_surface(xy, weights, transform, inside, bandwidth_km * 1000.0)
    data = np.where(inside, surface, DENSITY_NODATA).astype(np.float32)
    integral = float(surface[inside].sum()) * cell_km**2

    unit = f"{weight} per km2" if weight else "points per km2"
    now = _now()
    tags = {
        "layer": layer,
        "source_gpkg": gpkg.name,
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
        "generator": f"gulag-inc-atlas {_version()} atlas.density",
        "TIFFTAG_DATETIME": now.strftime("%Y:%m:%d %H:%M:%S"),
        "TIFFTAG_SOFTWARE": f"gulag-inc-atlas {_version()}",
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
    qml = density_style(0.0, float(surface.max()), "per km²" if weight else "points/km²")
    with io.atomic_path(out.with_suffix(".qml")) as tmp:
        tmp.write_text(qml, encoding="utf-8")
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
    gpkg = _gpkg_path(gpkg)
    prov = io.read_layer("provinces", gpkg)
    mines = io.read_layer("mines", gpkg)
    area = pd.to_numeric(prov["area_km2"], errors="coerce")
    if area.isna().any() or (area <= 0).any():
        raise InputError(f"{gpkg}: provinces.area_km2 is empty or not positive")
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


# --------------------------------------------------------------------------- chips


@dataclass(frozen=True)
class Chip:
    """One chip written by :func:`chips`."""

    site_id: str
    name: str
    path: Path
    width: int
    height: int
    resolution_m: float
    coverage: float  #: share of the chip's pixels that hold data (1.0: fully inside the imagery)


@dataclass
class ChipsResult:
    """What :func:`chips` did: the chips written and the sites it could not cut.

    Iterating over it gives the paths written.
    """

    imagery: Path
    written: list[Chip] = field(default_factory=list)
    #: (site id, name) of the sites whose location has no valid pixel in the imagery
    outside: list[tuple[str, str]] = field(default_factory=list)
    #: (site id, name) of the sites without a public coordinate
    no_geometry: list[tuple[str, str]] = field(default_factory=list)

    def __iter__(self):
        return iter(c.path for c in self.written)

    def __len__(self) -> int:
        return len(self.written)



def _open_raster(imagery: Path):
    path = Path(imagery)
    if not path.exists():
        raise NotFoundError(f"no imagery file at {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"{path} is not a raster GDAL can read: {exc}") from None
    if src.crs is None:
        src.close()
        raise InputError(f"{path} has no CRS: georeference it (e.g. gdal_edit.py -a_srs EPSG:32652)")
    if src.transform.is_identity and not src.gcps[0]:
        src.close()
        raise InputError(f"{path} has a CRS but no geotransform (it is not georeferenced)")
    if src.gcps[0] and src.transform.is_identity:
        src.close()
        raise InputError(f"{path} is georeferenced by GCPs only; warp it to a grid first (gdalwarp)")
    return src


def _imagery_date(tags: dict) -> tuple[str, str]:
    upper = {k.upper(): v for k, v in tags.items()}
    for key in DATE_TAGS:
        if upper.get(key, "").strip():
            return upper[key].strip(), key
    return "", ""


def _safe_name(site_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", site_id).strip("._") or "site"


def _source_res_m(src, xs: float, ys: float) -> float:
    """Ground size, in EPSG:5179 metres, of one source pixel at a point (source CRS)."""
    col, row = _apply(~src.transform, xs, ys)
    corners = [_apply(src.transform, col, row), _apply(src.transform, col + 1, row),
               _apply(src.transform, col, row + 1)]
    px, py = warp_transform(src.crs, PLANAR_CRS, [c[0] for c in corners], [c[1] for c in corners])
    dx = math.hypot(px[1] - px[0], py[1] - py[0])
    dy = math.hypot(px[2] - px[0], py[2] - py[0])
    return min(dx, dy)


def _chip_window(src, bounds_5179: tuple[float, float, float, float]):
    """The source window covering a chip's footprint (plus 2 pixels), or None if disjoint."""
    minx, miny, maxx, maxy = bounds_5179
    t = np.linspace(0.0, 1.0, 21)
    xs = np.concatenate([minx + (maxx - minx) * t, np.full(21, maxx), maxx - (maxx - minx) * t,
                         np.full(21, minx)])
    ys = np.concatenate([np.full(21, miny), miny + (maxy - miny) * t, np.full(21, maxy),
                         maxy - (maxy - miny) * t])
    sx, sy = warp_transform(PLANAR_CRS, src.crs, xs.tolist(), ys.tolist())
    cols, rows = _apply(~src.transform, np.asarray(sx), np.asarray(sy))
    if not (np.all(np.isfinite(cols)) and np.all(np.isfinite(rows))):
        return None
    c0, c1 = max(math.floor(cols.min()) - 2, 0), min(math.ceil(cols.max()) + 2, src.width)
    r0, r1 = max(math.floor(rows.min()) - 2, 0), min(math.ceil(rows.max()) + 2, src.height)
    if c0 >= c1 or r0 >= r1:
        return None
    return rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0)


def chips(
    imagery: Path,
    sites: str = "camps",
    size_km: float = 5.0,
    out_dir: Path | None = None,
    gpkg: Path | None = None,
    resolution_m: float | None = None,
    resampling: str = "nearest",
) -> ChipsResult:
    """Cut one GeoTIFF per site from a user's imagery, centred on the site.

    Each chip is a ``size_km`` square centred on the site in EPSG:5179
    (true metres, north up, one CRS for every chip), warped from the
    imagery whatever its CRS, with every band, the band descriptions,
    colour interpretation, colour table and nodata value of the source.
    Where the source has no nodata value, pixels beyond the imagery are
    flagged by an internal mask (``GDAL`` per-dataset mask). Chips are
    named ``<site id>.tif`` and tagged with the site's id and name and the
    imagery's file name and acquisition date (when one of
    :data:`DATE_TAGS` is in its tags).

    A site whose location falls on no valid pixel of the imagery gets no
    chip: it is listed in :attr:`ChipsResult.outside` and in a
    ``UserWarning``. Sites with no public coordinate are listed in
    :attr:`ChipsResult.no_geometry`.

    Parameters
    ----------
    imagery : pathlib.Path
        Any georeferenced raster GDAL reads (GeoTIFF, COG, JPEG2000, ...).
    sites : str, default "camps"
        The point layer of the GeoPackage to cut around (``camps``,
        ``mines``, ``named_mines`` or an imported ``user_...`` layer).
    size_km : float, default 5
        The side of each chip, in km (> 0).
    out_dir : pathlib.Path, optional
        Default ``output/chips/``. Existing chips of other sites are kept.
    gpkg : pathlib.Path, optional
        The atlas GeoPackage, default ``output/atlas.gpkg``.
    resolution_m : float, optional
        Pixel size of the chips; default the imagery's own pixel size at
        the site (the side is then rounded to whole pixels and the pixel
        size adjusted so the chip is exactly ``size_km`` wide).
    resampling : str, default "nearest"
        A :class:`rasterio.enums.Resampling` name; ``nearest`` keeps the
        source's values (and classes) unchanged.

    Returns
    -------
    ChipsResult
        The chips written, the sites outside the imagery, the sites without
        a coordinate. Iterating over it gives the paths written.

    Raises
    ------
    InputError
        The file is not a raster or has no CRS; a size or resolution that
        is zero or negative; no site lies in the imagery (nothing written).
    NotFoundError
        No such file, GeoPackage or layer.

    Examples
    --------
    >>> import atlas
    >>> result = atlas.chips("scene.tif", sites="camps", size_km=5)  # doctest: +SKIP
    >>> [c.site_id for c in result.written], result.outside             # doctest: +SKIP
    (['KLS-15'], [('KLS-14', 'Kaechon (Camp 14)'), ...])
    """
    size_km = _positive(size_km, "the chip size", "--size-km")
    if resolution_m is not None:
        resolution_m = _positive(resolution_m, "the resolution", "--resolution-m")
    try:
        method = Resampling[resampling]
    except KeyError:
        raise InputError(f"unknown resampling {resampling!r}; one of: "
                         + ", ".join(r.name for r in Resampling)) from None
    gpkg = _gpkg_path(gpkg)
    df = _point_layer(sites, gpkg)
    ids, names = _id_and_name(df, sites)
    missing = (df.geometry.isna() | df.geometry.is_empty).to_numpy()
    result_no_geom = [(ids.iloc[i], names.iloc[i]) for i in np.flatnonzero(missing)]
    located = df[~missing]
    planar = located.geometry.to_crs(PLANAR_CRS).representative_point()
    out_dir = Path(out_dir or io.output_dir() / "chips")
    half = size_km * 500.0

    with _open_raster(imagery) as src:
        sx, sy = warp_transform(PLANAR_CRS, src.crs, planar.x.tolist(), planar.y.tolist())
        plans, outside = [], []
        for k, (x5, y5, xs, ys) in enumerate(zip(planar.x, planar.y, sx, sy)):
            site = (ids.loc[located.index[k]], names.loc[located.index[k]])
            col, row = _apply(~src.transform, xs, ys) if math.isfinite(xs) and math.isfinite(ys) \
                else (math.inf, math.inf)
            if not (0 <= col < src.width and 0 <= row < src.height):
                outside.append(site)
                continue
            ci, ri = int(col), int(row)
            valid = src.dataset_mask(window=rasterio.windows.Window(ci, ri, 1, 1))
            if not valid.any():
                outside.append(site)
                continue
            res = resolution_m or _source_res_m(src, xs, ys)
            npx = max(1, round(2 * half / res))
            if npx > MAX_CHIP_PIXELS:
                raise InputError(
                    f"a {size_km:g} km chip at {res:.3g} m per pixel is {npx:,} pixels wide "
                    f"(limit {MAX_CHIP_PIXELS:,}); pass a coarser --resolution-m; nothing written"
                )
            plans.append((site, x5, y5, npx))
        if not plans:
            minx, miny, maxx, maxy = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
            raise InputError(
                f"none of the {len(located)} located sites of {sites!r} lies on data in "
                f"{Path(imagery).name} (lon {minx:.3f}..{maxx:.3f}, lat {miny:.3f}..{maxy:.3f}); "
                "nothing written"
            )
        date, date_key = _imagery_date(src.tags())
        alpha = ColorInterp.alpha in src.colorinterp
        written = []
        for (site_id, name), x5, y5, npx in plans:
            bounds = (x5 - half, y5 - half, x5 + half, y5 + half)
            dst_transform = _origin(bounds[0], bounds[3], 2 * half / npx, 2 * half / npx)
            win = _chip_window(src, bounds)
            dtype = src.dtypes[0]
            fill_value = src.nodata if src.nodata is not None else 0
            chip = np.full((src.count, npx, npx), fill_value, dtype=dtype)
            mask = np.zeros((npx, npx), dtype=np.uint8)
            if win is not None:
                data = src.read(window=win)
                src_mask = src.dataset_mask(window=win)
                x_off, y_off = _apply(src.transform, win.col_off, win.row_off)
                t = src.transform
                win_transform = Affine(t.a, t.b, x_off, t.d, t.e, y_off)
                reproject(data, chip, src_transform=win_transform, src_crs=src.crs,
                          src_nodata=src.nodata, dst_transform=dst_transform,
                          dst_crs=PLANAR_CRS, dst_nodata=src.nodata, resampling=method,
                          init_dest_nodata=False)
                reproject(src_mask, mask, src_transform=win_transform, src_crs=src.crs,
                          src_nodata=0, dst_transform=dst_transform, dst_crs=PLANAR_CRS,
                          dst_nodata=0, resampling=Resampling.nearest, init_dest_nodata=False)
            coverage = float((mask > 0).mean())
            lon, lat = warp_transform(PLANAR_CRS, "EPSG:4326", [x5], [y5])
            now = _now()
            tags = {
                "site_id": site_id, "site_name": name, "site_layer": sites,
                "site_lon": f"{lon[0]:.6f}", "site_lat": f"{lat[0]:.6f}",
                "size_km": f"{size_km:g}", "resolution_m": f"{2 * half / npx:.6g}",
                "coverage": f"{coverage:.4f}", "resampling": method.name,
                "source_imagery": Path(imagery).name,
                "source_imagery_date": date, "source_imagery_date_tag": date_key,
                "source_imagery_crs": src.crs.to_string(),
                "source_gpkg": gpkg.name, "created": now.isoformat(),
                "generator": f"gulag-inc-atlas {_version()} atlas.chips",
                "TIFFTAG_IMAGEDESCRIPTION": (
                    f"{site_id} {name}: {size_km:g} km chip of {Path(imagery).name}"
                    + (f" ({date})" if date else "")
                ),
                "TIFFTAG_SOFTWARE": f"gulag-inc-atlas {_version()}",
            }
            profile = {
                "driver": "GTiff", "width": npx, "height": npx, "count": src.count,
                "dtype": dtype, "crs": PLANAR_CRS, "transform": dst_transform,
                "nodata": src.nodata, "compress": "deflate", "tiled": npx >= 256,
            }
            if profile["tiled"]:
                profile.update(blockxsize=256, blockysize=256)
            if src.count >= 3 and dtype == "uint8" and tuple(src.colorinterp[:3]) == (
                    ColorInterp.red, ColorInterp.green, ColorInterp.blue):
                profile["photometric"] = "RGB"
            path = out_dir / f"{_safe_name(site_id)}.tif"
            with io.atomic_path(path) as tmp:
                with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), \
                        rasterio.open(tmp, "w", **profile) as dst:
                    dst.write(chip)
                    dst.colorinterp = src.colorinterp
                    for b in range(1, src.count + 1):
                        if src.descriptions[b - 1]:
                            dst.set_band_description(b, src.descriptions[b - 1])
                        if src.units[b - 1]:
                            dst.set_band_unit(b, src.units[b - 1])
                    if src.count == 1:
                        try:
                            dst.write_colormap(1, src.colormap(1))
                        except ValueError:
                            pass  # no colour table
                    dst.update_tags(**tags)
                    if src.nodata is None and not alpha:
                        dst.write_mask(mask)
            written.append(Chip(site_id, name, path, npx, npx, 2 * half / npx, coverage))
    result = ChipsResult(Path(imagery), written, outside, result_no_geom)
    if outside:
        warnings.warn(
            f"{len(outside)} of {len(located)} sites of {sites!r} are outside "
            f"{Path(imagery).name}, no chip: " + ", ".join(f"{i} ({n})" for i, n in outside),
            UserWarning, stacklevel=2,
        )
    return result
