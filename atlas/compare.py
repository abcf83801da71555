"""Before and after: two registered scenes of a site on one grid, their difference, and what changed.

:func:`compare` picks, among the registered scenes that cover a site
(:mod:`atlas.scenes`), the one nearest each of two dates, verifies both (their
sha256 read again: a moved or altered file is refused), and reprojects both
onto one grid around the site's point (rasterio ``WarpedVRT``, EPSG:5179, north
up, the coarser of the two scenes' ground resolutions unless one is given). It
writes the pair (``before.tif``, ``after.tif``), the difference image
(``difference.tif``) and the change mask (``change.tif``), and measures the
change inside a circle of ``buffer_m`` around the point.

The method (docs/imagery.md): each scene's brightness is the mean of its
first three bands (band 1 of a one- or two-band scene), standardised with
robust statistics (median and 1.4826 × MAD) of its pixels in the area compared,
so that scenes of different sensors, bit depths and illumination meet on one
scale. The difference is after − before in those units; a pixel has
**changed** when its difference departs from the difference's median by more
than ``threshold`` (default 3) robust standard deviations of the difference.
The statistics come from a decimated read of at most :data:`SAMPLE_PIXELS`
pixels; the full grid is then read in strips of :data:`STRIP_ROWS` rows, so
memory stays bounded whatever the scenes' size.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from . import io
from .admin import PLANAR_CRS
from .errors import InputError, NotFoundError
from .i18n import format_date, gettext
from .scenes import Scene, covering, load_register, open_scene_file, verify
from .store import Atlas, open_atlas

__all__ = [
    "DEFAULT_BUFFER_M",
    "DEFAULT_THRESHOLD",
    "MAX_GRID_PIXELS",
    "PAIR_MAX_PX",
    "PAIR_SIDE_M",
    "SAMPLE_PIXELS",
    "STRIP_ROWS",
    "Comparison",
    "compare",
    "compare_all",
    "imagery_map_spec",
    "pick_scenes",
    "shareable_count",
    "site_pair",
]

#: Radius (m) of the circle around the site's point in which change is measured, by default.
DEFAULT_BUFFER_M = 500.0
#: Robust standard deviations of the difference past which a pixel has changed, by default.
DEFAULT_THRESHOLD = 3.0
#: Most pixels a comparison grid may have (one side at most ~20,000).
MAX_GRID_PIXELS = 400_000_000
#: Most pixels read (per scene) for the robust statistics.
SAMPLE_PIXELS = 1 << 20
#: Rows of the grid read at once.
STRIP_ROWS = 256
#: GDAL's block cache (MB) while comparing: its default, 5 % of the machine's memory, would be most of the peak.
GDAL_CACHE_MB = 64
#: What the JSON says of the method.
METHOD = ("brightness = mean of bands 1-3 (band 1 of a one- or two-band scene); each scene standardised by "
          "the median and 1.4826*MAD of its pixels in the area compared; difference = after - before; "
          "changed where |difference - median(difference)| > threshold * 1.4826*MAD(difference)")


@dataclass
class Comparison:
    """What :func:`compare` measured and wrote."""

    site_id: str
    site_name: str
    lon: float
    lat: float
    buffer_m: float
    resolution_m: float
    threshold: float
    before: Scene
    after: Scene
    compared_m2: float
    changed_m2: float
    coverage: float  #: share of the buffer circle where both scenes hold data
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)
    private: bool = True  #: a private scene (or a private perimeter) is in it: written to the private folder
    perimeter: str | None = None  #: the polygon change was measured in (``LAYER:ID name``), else the circle

    @property
    def area_text(self) -> str:
        """Where the change was measured, in words."""
        if self.perimeter:
            return f"inside the perimeter {self.perimeter}"
        return f"within {self.buffer_m:g} m of the site's point"

    @property
    def changed_share(self) -> float:
        """The changed area's share of the area compared."""
        return self.changed_m2 / self.compared_m2 if self.compared_m2 else 0.0

    def as_dict(self) -> dict:
        """Plain values for JSON (the scenes with their sha256, date, sensor, licence; no path)."""
        def scene(s: Scene) -> dict:
            return {"sha256": s.sha256, "date": s.date, "date_from": s.date_from, "sensor": s.sensor,
                    "licence": s.licence, "source": s.source, "name": s.name, "shareable": s.shareable,
                    "resolution_m": s.resolution_m, "crs": s.crs, "bands": s.bands}

        return {
            "site_id": self.site_id, "site_name": self.site_name, "lon": round(self.lon, 6), "lat": round(self.lat, 6),
            "buffer_m": self.buffer_m, "grid_crs": PLANAR_CRS, "resolution_m": round(self.resolution_m, 4),
            "before": scene(self.before), "after": scene(self.after),
            "method": METHOD, "threshold_robust_sd": self.threshold,
            "compared_m2": round(self.compared_m2, 1), "changed_m2": round(self.changed_m2, 1),
            "changed_share": round(self.changed_share, 6), "coverage_of_buffer": round(self.coverage, 4),
            "perimeter": self.perimeter, "area_compared": self.area_text,
            "area_note": "areas in EPSG:5179 square metres (scale true to 620 ppm over the DPRK)",
            "private": self.private, "files": [p.name for p in self.files],
        }

    @property
    def summary(self) -> str:
        """A few lines for the terminal."""
        b, a = self.before, self.after
        return "\n".join([
            f"{self.site_id} {self.site_name}: {self.changed_m2:,.0f} m² changed of {self.compared_m2:,.0f} m² "
            f"compared ({self.changed_share:.1%}) {self.area_text}",
            f"  before {b.date}  {b.sensor or '-'}  {b.licence or '-'}  {b.short}",
            f"  after  {a.date}  {a.sensor or '-'}  {a.licence or '-'}  {a.short}",
            f"  grid EPSG:5179 at {self.resolution_m:.3g} m; {'perimeter' if self.perimeter else 'buffer'} covered "
            f"{self.coverage:.0%} by both scenes",
            f"  method: robust brightness difference, changed past {self.threshold:g} robust SD (docs/imagery.md)",
        ])


# --- which scenes -----------------------------------------------------------------------------


def _day(text, what: str) -> date:
    """``YYYY-MM-DD``; a month or a year means its last day (as ``atlas status --as-of``)."""
    import calendar

    from .scenes import _parse_date

    if isinstance(text, date):
        return text
    t = str(text).strip()
    if len(t) == 4 and t.isdigit():
        return date(int(t), 12, 31)
    if len(t) == 7 and t[:4].isdigit() and t[4] == "-" and t[5:].isdigit() and 1 <= int(t[5:]) <= 12:
        y, m = int(t[:4]), int(t[5:])
        return date(y, m, calendar.monthrange(y, m)[1])
    return _parse_date(t, what)


def pick_scenes(scenes: list[Scene], before: date, after: date) -> tuple[Scene, Scene]:
    """The scenes nearest each date: fewest days away; on a tie, the earlier for ``before`` and the later for
    ``after`` (the longer interval), then the finer resolution, then the sha256.

    Parameters
    ----------
    scenes : list of Scene
        The candidates (covering the site).
    before, after : datetime.date

    Returns
    -------
    (Scene, Scene)

    Raises
    ------
    InputError
        ``before`` is not earlier than ``after``; fewer than two scenes; both dates pick one scene.
    """
    if before >= after:
        raise InputError(f"--before {before} must be earlier than --after {after}")
    if len(scenes) < 2:
        raise InputError(f"{len(scenes)} registered scene(s) cover the site: a comparison needs two "
                         "(atlas imagery add FILE --date YYYY-MM-DD)")

    def key(s: Scene, target: date, sign: int):
        return (abs((s.day - target).days), sign * s.day.toordinal(), s.resolution_m, s.sha256)

    b = min(scenes, key=lambda s: key(s, before, 1))
    a = min(scenes, key=lambda s: key(s, after, -1))
    if a.sha256 == b.sha256 or a.day <= b.day:
        raise InputError(f"the scenes nearest {before} and {after} are not two scenes in that order "
                         f"(both nearest: {b.date}, {a.date}); give dates nearer the scenes' "
                         f"({', '.join(sorted({s.date for s in scenes}))})")
    return b, a


# --- the grid ---------------------------------------------------------------------------------


def _vrt(src, transform, width: int, height: int, resampling=None):
    """The scene warped onto a grid: ``average`` where its pixels are finer than the grid's by 1.5 or more
    (every source pixel counts), ``nearest`` otherwise (values kept; unless ``resampling`` is given)."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    if resampling is None:
        from .scenes import _ground_resolution

        resampling = (Resampling.average if _ground_resolution(src) * 1.5 <= abs(transform.a)
                      else Resampling.nearest)
    return WarpedVRT(src, crs=PLANAR_CRS, transform=transform, width=width, height=height,
                     resampling=resampling, src_nodata=src.nodata, nodata=src.nodata,
                     add_alpha=_needs_alpha(src))


def _needs_alpha(src) -> bool:
    """No nodata value and no alpha band: the warp adds an alpha band to say where there is no data."""
    from rasterio.enums import ColorInterp

    return src.nodata is None and ColorInterp.alpha not in src.colorinterp


def _bands(src) -> list[int]:
    return [1, 2, 3] if src.count >= 3 else [1]


def _read(vrt, bands: list[int], count: int, window=None):
    """A window of a warped scene, read once: its ``count`` bands, brightness (float32) and validity."""
    data = vrt.read(window=window)  # every band (and the alpha band the warp added): one warp per window
    bright = np.zeros(data.shape[1:], dtype=np.float32)
    for b in bands:
        bright += data[b - 1]
    bright /= len(bands)
    if vrt.count > max(bands) and vrt.nodata is None:  # an alpha band: the scene's, or the one the warp added
        valid = data[vrt.count - 1] > 0
    else:  # a nodata value: a pixel is valid where a band holds something else
        valid = np.any(data[:count] != vrt.nodata, axis=0)
    valid &= np.isfinite(bright)
    return data[:count], bright, valid


def _robust(values: np.ndarray, what: str) -> tuple[float, float]:
    if values.size < 16:
        raise InputError(f"{what}: fewer than 16 pixels hold data in the area compared; nothing to measure")
    med = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - med)))
    if not mad > 0:
        sd = float(values.std())
        mad = sd if sd > 0 else 1.0
    return med, mad


def _circle(rows: slice, width: int, cx: float, cy: float, r_px: float) -> np.ndarray:
    """Which pixels of rows ``rows`` have their centre within ``r_px`` of (cx, cy) (no full-size float array)."""
    dy2 = (np.arange(rows.start, rows.stop, dtype=np.float64) + 0.5 - cy) ** 2
    half = np.sqrt(np.clip(r_px ** 2 - dy2, 0, None))  # per row: the circle's half-width
    half[dy2 > r_px ** 2] = -1.0  # rows beyond the circle: no pixel
    dx = np.abs(np.arange(width, dtype=np.float64) + 0.5 - cx)
    return dx[None, :] <= half[:, None]


def _circle_mask(x: float, y: float, radius_m: float):
    """Which pixels of a grid (its transform, some rows, its width) lie within ``radius_m`` of (x, y)."""
    def within(t, rows: slice, width: int) -> np.ndarray:
        return _circle(rows, width, (x - t.c) / t.a, (t.f - y) / -t.e, radius_m / t.a)

    return within


def _polygon_mask(polygon):
    """Which pixels of a grid (its transform, some rows, its width) have their centre in ``polygon``."""
    from rasterio.features import geometry_mask
    from rasterio.transform import Affine

    def within(t, rows: slice, width: int) -> np.ndarray:
        return geometry_mask([polygon], out_shape=(rows.stop - rows.start, width),
                             transform=t * Affine.translation(0, rows.start), invert=True)

    return within


def _perimeter(area, atlas: Atlas):
    """The one polygon ``area`` names, in EPSG:5179, its label, a folder name for it, and whether its
    layer is private."""
    from .inside import resolve_area
    from .userlayers import private_names

    frame = resolve_area(area, atlas)
    if len(frame) != 1:
        raise InputError(f"--perimeter names {len(frame)} polygons; name one: LAYER:FEATURE (by id or name)")
    layer = atlas.layer_name(str(area).partition(":")[0].strip()) if isinstance(area, str) else None
    label = f"{layer}:{frame['area_id'].iloc[0]} {frame['area_name'].iloc[0]}" if layer else "the area given"
    polygon = frame.to_crs(PLANAR_CRS).geometry.iloc[0]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{layer}-{frame['area_id'].iloc[0]}" if layer else "area")[:80]
    return polygon, label, slug, bool(layer and layer in private_names(atlas))


def _profile(src, width: int, height: int, transform, count: int, dtype: str, nodata) -> dict:
    p = {"driver": "GTiff", "width": width, "height": height, "count": count, "dtype": dtype, "crs": PLANAR_CRS,
         "transform": transform, "nodata": nodata, "compress": "deflate", "tiled": True,
         "blockxsize": 256, "blockysize": 256, "BIGTIFF": "IF_SAFER"}
    return p


# --- the comparison ---------------------------------------------------------------------------


def _site_point(site, atlas: Atlas) -> tuple[str, str, float, float]:
    from .search import resolve

    s = resolve(site, atlas)
    if s.geometry is None or s.geometry.is_empty:
        raise InputError(f"{s.id} {s.name} has no public coordinate: nothing to compare around")
    pt = s.geometry.representative_point()
    return s.id, s.name, float(pt.x), float(pt.y)


def compare(site, before: str | date, after: str | date, *, out: Path | str | None = None,
            buffer_m: float = DEFAULT_BUFFER_M, threshold: float = DEFAULT_THRESHOLD,
            resolution_m: float | None = None, gpkg: Atlas | Path | str | None = None,
            scenes: list[Scene] | None = None, perimeter=None) -> Comparison:
    """Compare a site before and after: the pair on one grid, their difference, the area that changed.

    Parameters
    ----------
    site : str or atlas.Site
        Any id, number or name (as ``atlas find``).
    before, after : str or datetime.date
        ``YYYY-MM-DD``: the scene nearest each is used (:func:`pick_scenes`).
    out : pathlib.Path or str, optional
        Folder to write; default ``compare/<site>_<before>_<after>/`` in
        ``output/`` when both scenes are shareable, else in ``output-private/``.
    buffer_m : float, default 500
        Radius of the circle around the site's point in which change is measured.
    threshold : float, default 3
        Robust standard deviations of the difference past which a pixel has changed.
    resolution_m : float, optional
        Pixel size of the grid; default the coarser of the two scenes'.
    gpkg : Atlas, pathlib.Path or str, optional
    scenes : list of Scene, optional
        The register, already read (``compare_all``).
    perimeter : str or shapely polygon, optional
        Measure the change inside this polygon instead of the circle of ``buffer_m``: a
        user's camp perimeter, ``LAYER:FEATURE`` as :func:`atlas.inside` reads it (one
        polygon) or a (Multi)Polygon in EPSG:4326. The grid covers the polygon; the scenes
        are those covering the site's point. Written to the private folder when the
        polygon's layer is private, and never where the map and dossier look for a figure.

    Returns
    -------
    Comparison

    Raises
    ------
    InputError
        Fewer than two scenes cover the site; bad dates, buffer or threshold; the scenes share no data there.
    SourceError
        A chosen scene moved or was altered since registration.

    Examples
    --------
    >>> import atlas
    >>> c = atlas.compare("KLS-15", "2012", "2016", buffer_m=500)   # doctest: +SKIP
    >>> round(c.changed_m2), f"{c.changed_share:.1%}", c.before.date   # doctest: +SKIP
    (29908, '6.0%', '2012-05-04')
    """
    from .raster import north_up, positive

    buffer_m = positive(buffer_m, "the buffer", "--buffer-m")
    threshold = positive(threshold, "the threshold", "--threshold")
    atlas = open_atlas(gpkg)
    site_id, site_name, lon, lat = _site_point(site, atlas)
    pool = covering(lon, lat, load_register(atlas) if scenes is None else scenes)
    b, a = pick_scenes(pool, _day(before, "--before"), _day(after, "--after"))
    verify(b)
    verify(a)
    res = positive(resolution_m, "the resolution", "--resolution-m") if resolution_m else max(b.resolution_m,
                                                                                              a.resolution_m)
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", PLANAR_CRS, always_xy=True).transform(lon, lat)
    private = not (b.shareable and a.shareable)
    label = None
    if perimeter is None:
        nx = ny = max(8, math.ceil(2 * buffer_m / res))
        if nx * ny > MAX_GRID_PIXELS:
            raise InputError(f"a {buffer_m:g} m buffer at {res:.3g} m per pixel is a grid of {nx:,} x {ny:,} pixels "
                             f"(limit {MAX_GRID_PIXELS:,}); pass a coarser --resolution-m or a smaller --buffer-m")
        res = 2 * buffer_m / nx
        transform = north_up(x - buffer_m, y + buffer_m, res, res)
        within = _circle_mask(x, y, buffer_m)
    else:
        polygon, label, slug, private_area = _perimeter(perimeter, atlas)
        private = private or private_area
        x0, y0, x1, y1 = polygon.bounds
        nx, ny = max(1, math.ceil((x1 - x0) / res)), max(1, math.ceil((y1 - y0) / res))
        if nx * ny > MAX_GRID_PIXELS:
            raise InputError(f"the perimeter at {res:.3g} m per pixel is a grid of {nx:,} x {ny:,} pixels "
                             f"(limit {MAX_GRID_PIXELS:,}); pass a coarser --resolution-m")
        transform = north_up(x0, y1, res, res)
        within = _polygon_mask(polygon)
    name = f"{_safe(site_id)}_{b.date}_{a.date}" + (f"_perimeter-{slug}" if label else "")
    folder = Path(out) if out else _compare_root(atlas, private) / name
    result = Comparison(site_id, site_name, lon, lat, buffer_m, res, threshold, b, a, 0.0, 0.0, 0.0, folder,
                        private=private, perimeter=label)
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), open_scene_file(b.path) as sb, \
                open_scene_file(a.path) as sa:
            _measure(sb, sa, transform, (nx, ny), within, result)
    except RasterioError as exc:  # a CRS GDAL cannot transform, a damaged tile: said, not a traceback
        raise InputError(f"the scenes {b.short} ({b.date}) and {a.short} ({a.date}) could not be warped onto "
                         f"one grid: {exc}; nothing written") from None
    return result


def _compare_root(atlas: Atlas, private: bool) -> Path:
    """``compare/`` beside the atlas GeoPackage (``output/``), or in its private folder (``output-private/``)."""
    path = getattr(atlas, "path", None)
    folder = Path(path).absolute().parent if path is not None else io.output_dir()
    return (io.private_folder(folder) if private else folder) / "compare"


def _safe(text: str) -> str:
    from .owned import safe_name

    return safe_name(text) or "site"


def _stats(src_b, src_a, transform, size: tuple[int, int], within) -> tuple[float, float, float, float, float, float]:
    """Robust statistics of both scenes and of their difference, from a sample grid of at most
    :data:`SAMPLE_PIXELS` pixels (every ``step``-th pixel of the grid, warped by nearest neighbour)."""
    from rasterio.enums import Resampling
    from rasterio.transform import Affine

    nx, ny = size
    step = max(1, math.ceil(math.sqrt(nx * ny / SAMPLE_PIXELS)))
    mx, my = max(1, math.ceil(nx / step)), max(1, math.ceil(ny / step))
    t = transform
    coarse = Affine(t.a * step, 0.0, t.c, 0.0, t.e * step, t.f)
    with _vrt(src_b, coarse, mx, my, Resampling.nearest) as vb, \
            _vrt(src_a, coarse, mx, my, Resampling.nearest) as va:
        _, xb, vb_ok = _read(vb, _bands(src_b), src_b.count)
        _, xa, va_ok = _read(va, _bands(src_a), src_a.count)
    ok = vb_ok & va_ok & within(coarse, slice(0, my), mx)
    if not ok.any():
        raise InputError("the two scenes hold no data together in the area compared around the site")
    mb, sb = _robust(xb[ok], "the before scene")
    ma, sa = _robust(xa[ok], "the after scene")
    d = (xa[ok] - ma) / sa - (xb[ok] - mb) / sb
    md, sd = _robust(d, "the difference")
    return mb, sb, ma, sa, md, sd


def _measure(src_b, src_a, transform, size: tuple[int, int], within, result: Comparison) -> None:
    """Warp both scenes onto the grid in strips, write the four rasters, count the pixels that changed."""
    import rasterio
    from rasterio.windows import Window

    folder = result.out_dir
    nx, ny = size
    bb, ba = _bands(src_b), _bands(src_a)
    names = {k: folder / f"{k}.tif" for k in ("before", "after", "difference", "change")}
    from .owned import check_replace

    check_replace([*list(names.values()), folder / "compare.json"])
    mb, sb, ma, sa, md, sd = _stats(src_b, src_a, transform, size, within)
    with _vrt(src_b, transform, nx, ny) as vb, _vrt(src_a, transform, nx, ny) as va:
        cut = result.threshold * sd
        compared = changed = in_circle = 0
        with io.atomic_path(names["before"]) as tb, io.atomic_path(names["after"]) as ta, \
                io.atomic_path(names["difference"]) as td, io.atomic_path(names["change"]) as tc:
            with rasterio.open(tb, "w", **_profile(src_b, nx, ny, transform, src_b.count, src_b.dtypes[0],
                                                  src_b.nodata)) as ob, \
                    rasterio.open(ta, "w", **_profile(src_a, nx, ny, transform, src_a.count, src_a.dtypes[0],
                                                      src_a.nodata)) as oa, \
                    rasterio.open(td, "w", **_profile(None, nx, ny, transform, 1, "float32", float("nan"))) as od, \
                    rasterio.open(tc, "w", **_profile(None, nx, ny, transform, 1, "uint8", 255)) as oc:
                for row in range(0, ny, STRIP_ROWS):
                    h = min(STRIP_ROWS, ny - row)
                    win = Window(0, row, nx, h)
                    pb, xb, okb = _read(vb, bb, src_b.count, window=win)
                    pa, xa, oka = _read(va, ba, src_a.count, window=win)
                    ob.write(pb, window=win)
                    oa.write(pa, window=win)
                    del pb, pa
                    inside = within(transform, slice(row, row + h), nx)
                    ok = okb & oka
                    d = np.where(ok, (xa - ma) / sa - (xb - mb) / sb, np.nan).astype(np.float32)
                    hit = ok & (np.abs(d - md) > cut)
                    od.write(d[None], window=win)
                    oc.write(np.where(ok, hit.astype(np.uint8), 255).astype(np.uint8)[None], window=win)
                    in_circle += int(inside.sum())
                    compared += int((ok & inside).sum())
                    changed += int((hit & inside).sum())
                    del xb, xa, okb, oka, d, hit, ok, inside
                tags = {"method": METHOD, "threshold_robust_sd": f"{result.threshold:g}",
                        "before_sha256": result.before.sha256, "after_sha256": result.after.sha256,
                        "before_date": result.before.date, "after_date": result.after.date,
                        "site_id": result.site_id}
                for o in (ob, oa, od, oc):
                    o.update_tags(**tags)
    if compared == 0:
        raise InputError("the two scenes hold no data together in the area compared around the site")
    px = result.resolution_m ** 2
    result.compared_m2, result.changed_m2 = compared * px, changed * px
    result.coverage = compared / in_circle if in_circle else 0.0
    result.files = [*names.values(), folder / "compare.json"]
    with io.atomic_path(folder / "compare.json") as tmp:
        tmp.write_text(json.dumps(result.as_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def compare_all(before: str | date, after: str | date, *, layer: str = "camps", out: Path | str | None = None,
                buffer_m: float = DEFAULT_BUFFER_M, threshold: float = DEFAULT_THRESHOLD,
                resolution_m: float | None = None, gpkg: Atlas | Path | str | None = None,
                progress=None) -> tuple[list[Comparison], list[tuple[str, str]]]:
    """:func:`compare` every site of ``layer`` that two registered scenes cover, saying its progress.

    Parameters
    ----------
    before, after : str or datetime.date
    layer : str, default "camps"
    out : pathlib.Path or str, optional
        A folder that receives one sub-folder per site.
    buffer_m, threshold, resolution_m, gpkg
        As :func:`compare`.
    progress : callable, optional
        Told ``k/n SITE`` before each site.

    Returns
    -------
    (list of Comparison, list of (site id, reason))
        The comparisons made, and the sites skipped with why.
    """
    from .raster import ids_and_names, point_layer

    atlas = open_atlas(gpkg)
    scenes = load_register(atlas)
    if len(scenes) < 2:
        raise InputError(f"{len(scenes)} scene(s) registered: a comparison needs two")
    df = point_layer(layer, atlas)
    ids, _ = ids_and_names(df, layer)
    pts = df.geometry.to_crs("EPSG:4326")
    todo = []
    for idx, geom in pts.items():
        if geom is None or geom.is_empty:
            continue
        p = geom.representative_point()
        if len(covering(p.x, p.y, scenes)) >= 2:
            todo.append(ids.loc[idx])
    if not todo:
        raise NotFoundError(f"no site of {layer!r} is covered by two registered scenes")
    done, skipped = [], []
    for k, site_id in enumerate(todo, 1):
        if progress:
            progress(f"{k}/{len(todo)} {site_id}")
        folder = Path(out) / _safe(site_id) if out else None
        try:
            done.append(compare(site_id, before, after, out=folder, buffer_m=buffer_m, threshold=threshold,
                                resolution_m=resolution_m, gpkg=atlas, scenes=scenes))
        except InputError as exc:
            skipped.append((site_id, str(exc)))
    return done, skipped


# --- the pair for a shared product (the map, the dossier) -------------------------------------

#: The side (m) of the square around a site that the map and the dossier show of a pair.
PAIR_SIDE_M = 1000.0
#: The largest side (pixels) of each image of a pair in a shared product: a small page.
PAIR_MAX_PX = 320


def _png_uri(data: np.ndarray, valid: np.ndarray, alpha: bool = False) -> str:
    """A PNG data URI of 1 or 3 bands, each stretched over median ± 2.5 robust SD of its valid pixels.

    A robust stretch, not a percentile one: new bright roofs covering a few per cent of the image
    saturate instead of darkening the rest, so the two images of a pair look alike where nothing changed.
    """
    import base64
    import warnings

    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    out = np.zeros(data.shape, dtype="uint8")
    for i, band in enumerate(data):
        v = band[valid]
        if v.size:
            med = float(np.median(v))
            sd = 1.4826 * float(np.median(np.abs(v - med))) or float(v.std()) or 1.0
            lo, hi = med - 2.5 * sd, med + 2.5 * sd
            out[i] = np.clip((band - lo) / (hi - lo) * 255.0, 0, 255).astype("uint8")
    if alpha:
        out = np.concatenate([out if len(out) == 3 else np.repeat(out, 3, axis=0),
                              (valid * 255).astype("uint8")[None]])
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(driver="PNG", width=out.shape[2], height=out.shape[1], count=out.shape[0],
                      dtype="uint8") as dst:
            dst.write(out)
        png = mem.read()
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _pair_image(scene: Scene, crs: str, bounds, n: int, alpha: bool) -> str:
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    from .raster import north_up

    west, south, east, north = bounds
    t = north_up(west, north, (east - west) / n, (north - south) / n)
    with open_scene_file(scene.path) as src, WarpedVRT(
            src, crs=crs, transform=t, width=n, height=n, resampling=Resampling.average, src_nodata=src.nodata,
            nodata=src.nodata, add_alpha=_needs_alpha(src)) as vrt:
        bands = _bands(src)
        data = vrt.read(bands).astype(np.float32)
        valid = (vrt.read(vrt.count) > 0) if src.nodata is None else (vrt.dataset_mask() > 0)
    return _png_uri(data, valid, alpha)


def site_pair(lon: float, lat: float, gpkg: Atlas | Path | str | None = None, *, site_id: str = "",
              crs: str = PLANAR_CRS, side_m: float = PAIR_SIDE_M, max_px: int = PAIR_MAX_PX,
              alpha: bool = False) -> dict | None:
    """The oldest and the newest **shareable** scene covering a point, downsampled, for a shared product.

    Only scenes registered with ``--shareable`` are considered
    (:func:`atlas.scenes.shareable_scenes`): a private scene never reaches a
    shared product. Each scene is verified (sha256) first; one that moved or was
    altered is left out with a warning, never used.

    Parameters
    ----------
    lon, lat : float
    gpkg : Atlas, pathlib.Path or str, optional
    site_id : str, optional
        The site, to find the change figure of an ``atlas compare`` of the same pair
        (``compare/<site>_<before>_<after>/compare.json`` in the shareable output folder).
    crs : str, default EPSG:5179
        The images' grid (``EPSG:3857`` for a web map, where they lie on the tiles).
    side_m : float, default 1000
        The side of the square shown (metres, EPSG:5179).
    max_px : int, default 320
        The images' side in pixels.
    alpha : bool, default False
        Pixels without data transparent (for an overlay).

    Returns
    -------
    dict or None
        ``before``/``after`` (``uri``, ``date``, ``sensor``, ``licence``, ``sha256``, ``name``,
        ``resolution_m``), ``bounds`` (in ``crs``), ``bounds_lonlat`` (south, west, north, east),
        ``side_m``, ``change`` (from compare.json, or None); None when fewer than two shareable
        scenes cover the point.
    """
    import warnings

    from pyproj import Transformer

    from .errors import SourceError
    from .scenes import shareable_scenes

    pool = []
    for s in covering(lon, lat, shareable_scenes(gpkg)):
        try:
            pool.append(verify(s))
        except SourceError as exc:
            warnings.warn(f"{exc}; left out of the shared product", UserWarning, stacklevel=2)
    if len(pool) < 2 or pool[0].day == pool[-1].day:
        return None
    b, a = pool[0], pool[-1]
    to = Transformer.from_crs("EPSG:4326", PLANAR_CRS, always_xy=True)
    x, y = to.transform(lon, lat)
    h = side_m / 2
    back = Transformer.from_crs(PLANAR_CRS, crs, always_xy=True)
    xs, ys = back.transform([x - h, x + h, x - h, x + h], [y - h, y - h, y + h, y + h])
    bounds = (min(xs), min(ys), max(xs), max(ys))
    lo = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    (w_lon, e_lon), (s_lat, n_lat) = lo.transform([bounds[0], bounds[2]], [bounds[1], bounds[3]])
    n = int(max_px)

    def one(s: Scene) -> dict:
        return {"uri": _pair_image(s, crs, bounds, n, alpha), "date": s.date, "sensor": s.sensor,
                "licence": s.licence, "sha256": s.sha256, "name": s.name, "resolution_m": s.resolution_m}

    change = None
    if site_id:
        done = _compare_root(open_atlas(gpkg), False) / f"{_safe(site_id)}_{b.date}_{a.date}" / "compare.json"
        try:
            got = json.loads(done.read_text(encoding="utf-8"))
            if got["before"]["sha256"] == b.sha256 and got["after"]["sha256"] == a.sha256:
                change = {k: got[k] for k in ("changed_m2", "compared_m2", "changed_share", "buffer_m",
                                              "threshold_robust_sd", "method")}
        except (OSError, ValueError, KeyError, TypeError):
            change = None
    return {"before": one(b), "after": one(a), "bounds": bounds, "bounds_lonlat": (s_lat, w_lon, n_lat, e_lon),
            "side_m": side_m, "change": change}


def imagery_map_spec(atlas: Atlas, layer: str = "camps") -> dict | None:
    """The map's layer of before/after pairs (``atlas map --imagery``): shareable scenes only.

    One pair per site of ``layer`` that two shareable scenes cover
    (:func:`site_pair`, in EPSG:3857 so that the images lie on the map's
    grid, pixels without data transparent). The legend says, per site, the
    dates, sensors and licences and the change figure where ``atlas compare``
    measured it.

    Parameters
    ----------
    atlas : Atlas
        The atlas the map's gate gave (public layers unless asked).
    layer : str, default "camps"

    Returns
    -------
    dict or None
        The layer's spec (kind ``swipe``), or None when no site has a pair.
    """
    from .raster import ids_and_names

    if not shareable_count(atlas):
        return None
    df = atlas.layer(layer)
    ids, names = ids_and_names(df, layer)
    pts = df.geometry.to_crs("EPSG:4326")
    feats, lines = [], []
    for idx, geom in pts.items():
        if geom is None or geom.is_empty:
            continue
        p = geom.representative_point()
        pair = site_pair(p.x, p.y, atlas, site_id=str(ids.loc[idx]), crs="EPSG:3857", alpha=True)
        if pair is None:
            continue
        s, w, n, e = pair["bounds_lonlat"]
        b, a = pair["before"], pair["after"]
        text = gettext("%(id)s %(name)s: before %(before)s (%(before_sensor)s; licence %(before_licence)s), "
                       "after %(after)s (%(after_sensor)s; licence %(after_licence)s)") % {
            "id": ids.loc[idx], "name": names.loc[idx], "before": format_date(b["date"]),
            "before_sensor": b["sensor"] or "-", "before_licence": b["licence"] or "-",
            "after": format_date(a["date"]), "after_sensor": a["sensor"] or "-", "after_licence": a["licence"] or "-"}
        if pair["change"]:
            c = pair["change"]
            text += gettext("; %(changed)s m² changed of %(compared)s m² (%(share)s) within %(buffer)s m") % {
                "changed": f"{c['changed_m2']:,.0f}", "compared": f"{c['compared_m2']:,.0f}",
                "share": f"{c['changed_share']:.1%}", "buffer": f"{c['buffer_m']:g}"}
        feats.append({"before": b["uri"], "after": a["uri"], "bounds": [[s, w], [n, e]], "t": text})
        lines.append(text)
    if not feats:
        return None
    note = gettext("%(n)s before/after pair(s) of shareable scenes, %(side)s m around each site; drag the handle "
                   "or focus it and press Left/Right.") % {"n": len(feats), "side": f"{PAIR_SIDE_M:g}"}
    note += " " + " · ".join(lines)
    return {"kind": "swipe", "features": feats, "legend": {"items": [], "note": note}}


def shareable_count(atlas: Atlas) -> int:
    """How many shareable scenes the register holds (0: the map has no imagery layer)."""
    from .scenes import shareable_scenes

    return len(shareable_scenes(atlas))
