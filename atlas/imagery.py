"""Imagery chips: one GeoTIFF per site, cut from a user's georeferenced raster.

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
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
import rasterio.windows
from rasterio.enums import ColorInterp, Resampling
from rasterio.transform import Affine
from rasterio.warp import reproject, transform_bounds
from rasterio.warp import transform as warp_transform

from . import io
from .admin import PLANAR_CRS
from .errors import InputError, NotFoundError
from .owned import check_replace, safe_name
from .provenance import atlas_version
from .raster import (
    apply_affine,
    creation_time,
    ids_and_names,
    north_up,
    point_layer,
    positive,
)
from .scenes import open_scene_file
from .userlayers import gate

__all__ = ["DATE_TAGS", "MAX_CHIP_PIXELS", "Chip", "ChipsResult", "chips"]

#: The largest chip side, in pixels.
MAX_CHIP_PIXELS = 20_000
#: The most bytes of source imagery one chip may read (all bands), checked from the window's pixel
#: count before anything is read: a file's header can declare any size (a sparse TIFF of 400 kB
#: declaring 43 GB), and a chip of a coarse ``--resolution-m`` over very fine imagery would read it all.
MAX_CHIP_READ_BYTES = 512 * 2**20
#: Tags read, in this order, for the acquisition date of a user's imagery.
DATE_TAGS = (
    "ACQUISITIONDATE", "ACQUISITION_DATE", "ACQUISITIONDATETIME", "DATE_ACQUIRED",
    "SENSING_TIME", "SENSINGTIME", "DATATAKE_SENSING_START", "TIFFTAG_DATETIME", "DATETIME", "DATE",
)


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
    #: site ids that cannot be file names (a crafted GeoPackage): no chip written
    refused: list[str] = field(default_factory=list)

    def __iter__(self):
        return iter(c.path for c in self.written)

    def __len__(self) -> int:
        return len(self.written)



def _open_raster(imagery: Path):
    """The user's imagery, opened as every raster of the atlas is (:func:`atlas.scenes.open_scene_file`)."""
    path = Path(imagery)
    if not path.exists():
        raise NotFoundError(f"no imagery file at {path}")
    return open_scene_file(path, refused="no chips written")


def _imagery_date(tags: dict) -> tuple[str, str]:
    upper = {k.upper(): v for k, v in tags.items()}
    for key in DATE_TAGS:
        if upper.get(key, "").strip():
            return upper[key].strip(), key
    return "", ""


def _source_res_m(src, xs: float, ys: float) -> float:
    """Ground size, in EPSG:5179 metres, of one source pixel at a point (source CRS)."""
    col, row = apply_affine(~src.transform, xs, ys)
    corners = [apply_affine(src.transform, col, row), apply_affine(src.transform, col + 1, row),
               apply_affine(src.transform, col, row + 1)]
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
    cols, rows = apply_affine(~src.transform, np.asarray(sx), np.asarray(sy))
    if not (np.all(np.isfinite(cols)) and np.all(np.isfinite(rows))):
        return None
    c0, c1 = max(math.floor(cols.min()) - 2, 0), min(math.ceil(cols.max()) + 2, src.width)
    r0, r1 = max(math.floor(rows.min()) - 2, 0), min(math.ceil(rows.max()) + 2, src.height)
    if c0 >= c1 or r0 >= r1:
        return None
    return rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0)


def _resampling(resampling: str) -> Resampling:
    """The :class:`rasterio.enums.Resampling` a name stands for."""
    try:
        return Resampling[resampling]
    except KeyError:
        raise InputError(f"unknown resampling {resampling!r}; one of: "
                         + ", ".join(r.name for r in Resampling)) from None


def _on_valid_pixel(src, xs: float, ys: float) -> bool:
    """Whether a point (source CRS) falls on a pixel of the imagery that holds data."""
    col, row = apply_affine(~src.transform, xs, ys) if math.isfinite(xs) and math.isfinite(ys) \
        else (math.inf, math.inf)
    if not (0 <= col < src.width and 0 <= row < src.height):
        return False
    valid = src.dataset_mask(window=rasterio.windows.Window(int(col), int(row), 1, 1))
    return bool(valid.any())


def _chip_pixels(src, xs: float, ys: float, half: float, size_km: float, resolution_m: float | None) -> int:
    """The side of a chip in pixels, refused past :data:`MAX_CHIP_PIXELS`."""
    res = resolution_m or _source_res_m(src, xs, ys)
    npx = max(1, round(2 * half / res))
    if npx > MAX_CHIP_PIXELS:
        raise InputError(
            f"a {size_km:g} km chip at {res:.3g} m per pixel is {npx:,} pixels wide "
            f"(limit {MAX_CHIP_PIXELS:,}); pass a coarser --resolution-m; nothing written"
        )
    return npx


def _warp_chip(src, bounds: tuple[float, float, float, float], npx: int, dst_transform: Affine,
               method: Resampling, site: str = "") -> tuple[np.ndarray, np.ndarray]:
    """The chip's pixels and validity mask, warped from the source into EPSG:5179."""
    chip = np.full((src.count, npx, npx), src.nodata if src.nodata is not None else 0, dtype=src.dtypes[0])
    mask = np.zeros((npx, npx), dtype=np.uint8)
    win = _chip_window(src, bounds)
    if win is None:
        return chip, mask
    need = int(win.width) * int(win.height) * src.count * np.dtype(src.dtypes[0]).itemsize
    if need > MAX_CHIP_READ_BYTES:
        raise InputError(f"the chip of {site} would read {int(win.width):,} x {int(win.height):,} pixels x {src.count} "
                         f"band(s) of the imagery ({need / 2**30:.1f} GiB; limit "
                         f"{MAX_CHIP_READ_BYTES / 2**20:,.0f} MiB): warp it to a coarser grid first "
                         "(gdalwarp -tr) or pass a smaller --size-km; nothing written")
    data = src.read(window=win)
    src_mask = src.dataset_mask(window=win)
    x_off, y_off = apply_affine(src.transform, win.col_off, win.row_off)
    t = src.transform
    win_transform = Affine(t.a, t.b, x_off, t.d, t.e, y_off)
    reproject(data, chip, src_transform=win_transform, src_crs=src.crs,
              src_nodata=src.nodata, dst_transform=dst_transform,
              dst_crs=PLANAR_CRS, dst_nodata=src.nodata, resampling=method,
              init_dest_nodata=False)
    reproject(src_mask, mask, src_transform=win_transform, src_crs=src.crs,
              src_nodata=0, dst_transform=dst_transform, dst_crs=PLANAR_CRS,
              dst_nodata=0, resampling=Resampling.nearest, init_dest_nodata=False)
    return chip, mask


def _chip_profile(src, npx: int, dst_transform: Affine) -> dict:
    """The GeoTIFF profile of a chip: the source's bands and nodata, tiled when large, RGB when it is."""
    dtype = src.dtypes[0]
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
    return profile


def _write_chip(src, path: Path, chip: np.ndarray, mask: np.ndarray, profile: dict, tags: dict) -> None:
    """Write a chip atomically with the source's band metadata, colour table, tags and (no nodata) mask."""
    alpha = ColorInterp.alpha in src.colorinterp
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
    size_km = positive(size_km, "the chip size", "--size-km")
    if resolution_m is not None:
        resolution_m = positive(resolution_m, "the resolution", "--resolution-m")
    method = _resampling(resampling)
    allowed = gate(gpkg, "chips")  # made to be shared: never from a private layer
    allowed.refuse([sites] if isinstance(sites, str) else [], verb="use")
    atlas = allowed.atlas
    df = point_layer(sites, atlas)
    ids, names = ids_and_names(df, sites)
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
            if not _on_valid_pixel(src, xs, ys):
                outside.append(site)
                continue
            npx = _chip_pixels(src, xs, ys, half, size_km, resolution_m)
            plans.append((site, x5, y5, npx))
        if not plans:
            minx, miny, maxx, maxy = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
            raise InputError(
                f"none of the {len(located)} located sites of {sites!r} lies on data in "
                f"{Path(imagery).name} (lon {minx:.3f}..{maxx:.3f}, lat {miny:.3f}..{maxy:.3f}); "
                "nothing written"
            )
        date, date_key = _imagery_date(src.tags())
        refused = [site_id for (site_id, _), *_ in plans if safe_name(site_id) is None]
        plans = [p for p in plans if p[0][0] not in refused]
        check_replace([out_dir / f"{site_id}.tif" for (site_id, _), *_ in plans])  # before any chip is written
        written = []
        for (site_id, name), x5, y5, npx in plans:
            bounds = (x5 - half, y5 - half, x5 + half, y5 + half)
            dst_transform = north_up(bounds[0], bounds[3], 2 * half / npx, 2 * half / npx)
            chip, mask = _warp_chip(src, bounds, npx, dst_transform, method, site_id)
            coverage = float((mask > 0).mean())
            lon, lat = warp_transform(PLANAR_CRS, "EPSG:4326", [x5], [y5])
            now = creation_time()
            tags = {
                "site_id": site_id, "site_name": name, "site_layer": sites,
                "site_lon": f"{lon[0]:.6f}", "site_lat": f"{lat[0]:.6f}",
                "size_km": f"{size_km:g}", "resolution_m": f"{2 * half / npx:.6g}",
                "coverage": f"{coverage:.4f}", "resampling": method.name,
                "source_imagery": Path(imagery).name,
                "source_imagery_date": date, "source_imagery_date_tag": date_key,
                "source_imagery_crs": src.crs.to_string(),
                "source_gpkg": atlas.file_name, "created": now.isoformat(),
                "generator": f"gulag-inc-atlas {atlas_version()} atlas.chips",
                "TIFFTAG_IMAGEDESCRIPTION": (
                    f"{site_id} {name}: {size_km:g} km chip of {Path(imagery).name}"
                    + (f" ({date})" if date else "")
                ),
                "TIFFTAG_SOFTWARE": f"gulag-inc-atlas {atlas_version()}",
            }
            path = out_dir / f"{site_id}.tif"
            _write_chip(src, path, chip, mask, _chip_profile(src, npx, dst_transform), tags)
            written.append(Chip(site_id, name, path, npx, npx, 2 * half / npx, coverage))
    result = ChipsResult(Path(imagery), written, outside, result_no_geom, refused)
    if outside:
        warnings.warn(
            f"{len(outside)} of {len(located)} sites of {sites!r} are outside "
            f"{Path(imagery).name}, no chip: " + ", ".join(f"{i} ({n})" for i, n in outside),
            UserWarning, stacklevel=2,
        )
    return result
