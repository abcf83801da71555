"""The ``atlas`` command: one sub-command per public function.

Errors the atlas raises on purpose (:class:`atlas.errors.AtlasError`) print a
one-line-per-problem message on stderr and exit with the error's code (2 for
bad input, 1 for failed checks); never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import textwrap
from pathlib import Path

import click

from . import builder as _build
from .errors import AtlasError


class _Source(click.ParamType):
    """A GeoPackage path, or a ``postgresql://`` URL of an atlas exported to PostGIS (kept as text)."""

    name = "PATH|URL"

    def convert(self, value, param, ctx):
        from .database import is_database_url

        if value is None or isinstance(value, Path) or is_database_url(value):
            return value
        return Path(value)


GPKG_OPTION = click.option(
    "--gpkg", "--source", "gpkg", type=_Source(), default=None,
    help="Atlas to read: a GeoPackage (default: output/atlas.gpkg) or an atlas exported to "
         "PostGIS, postgresql://user@host/dbname?schema=atlas.",
)
#: For the commands that write into the GeoPackage (import): a file, never a database.
GPKG_FILE_OPTION = click.option(
    "--gpkg", type=click.Path(path_type=Path), default=None,
    help="Atlas GeoPackage to write into (default: output/atlas.gpkg).",
)


def protect_options(func):
    """--include-private and --coarsen-km: what a shared product may hold of the user's layers."""
    func = click.option("--coarsen-km", type=float, default=None, metavar="N",
                        help="Snap the points of user layers to the centres of an N-km grid "
                             "(recorded in the product's metadata).")(func)
    return click.option("--include-private", is_flag=True,
                        help="Also include user layers imported with --private (left out by default).")(func)


def overwrite_option(func):
    """--overwrite: replace files of the same name that the atlas did not write (atlas.owned)."""

    @click.option("--overwrite", is_flag=True,
                  help="Replace files of the same name that the atlas did not write, or that were "
                       "changed since (by default it stops before writing anything and names them).")
    @functools.wraps(func)
    def wrapper(*args, overwrite: bool, **kwargs):
        from .owned import overwriting

        with overwriting(overwrite):
            return func(*args, **kwargs)

    return wrapper


def _echo_err(msg: str) -> None:
    click.echo(msg, err=True)


def handle_errors(func):
    """Turn AtlasError into a message and exit code; keep tracebacks for real bugs."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        done = False
        try:
            result = func(*args, **kwargs)
            done = True
            return result
        except AtlasError as exc:
            _echo_err(f"atlas: error: {exc}{_replaced_note()}")
            sys.exit(exc.exit_code)
        except OSError as exc:  # the system refused (disk full, permission): not a bug of the atlas
            where = f" ({exc.filename})" if exc.filename else ""
            _echo_err(f"atlas: error: {exc.strerror or exc}{where}{_replaced_note()}")
            sys.exit(2)
        except KeyboardInterrupt:
            from .io import REPLACED

            if REPLACED:
                _echo_err(f"atlas: interrupted after replacing {', '.join(map(str, REPLACED))}; "
                          "nothing else was replaced")
            else:
                _echo_err("atlas: interrupted; nothing was replaced")
            sys.exit(130)
        finally:
            _settle_created_folders(done)

    return wrapper


#: Output folders this command created, each with the topmost folder that was new; settled when it ends.
_CREATED_FOLDERS: list[tuple[Path, Path]] = []


def _settle_created_folders(done: bool) -> None:
    """Say which folders a command that succeeded created; remove them again, if still empty, when it failed."""
    import shutil

    for folder, top in _CREATED_FOLDERS:
        if done:
            _echo_err(f"atlas: created the folder {folder}")
        elif top.is_dir() and not any(p.is_file() for p in top.rglob("*")):
            shutil.rmtree(top, ignore_errors=True)  # nothing was written: leave no trace
    _CREATED_FOLDERS.clear()


def _replaced_note() -> str:
    """What a failing command had already replaced, if anything (so that no message lies)."""
    from .io import REPLACED

    return f" (already replaced: {', '.join(map(str, REPLACED))})" if REPLACED else ""


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from .io import Notice

    _echo_err(f"atlas: {message}" if issubclass(category, Notice) else f"atlas: warning: {message}")


def _private_layers(gpkg) -> set[str]:
    """The private layers a local answer may show (atlas.userlayers' gate), to mark their rows."""
    from .userlayers import gate

    return {r["layer"] for r in gate(gpkg, "find").records if r["private"]}


_PRIVATE_NOTE = "Rows marked private come from your private layers: keep them on this machine."


def _out_file(ctx: click.Context, param: click.Parameter, value):
    """Refuse an --out that is empty, a directory, a device or read-only (before any work)."""
    if value is None:
        return None
    from .errors import OutputError
    from .io import check_output_file

    try:
        path = check_output_file(value, "--out")
    except OutputError as exc:
        raise click.BadParameter(str(exc)) from None
    _make_folder(path.parent)
    return path


def _make_folder(folder: Path) -> None:
    """Create a missing output folder: said when the command succeeds, removed again if it fails."""
    if folder.exists():
        return
    top = folder
    while not top.parent.exists():
        top = top.parent
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise click.BadParameter(f"cannot create the folder {folder}: {exc.strerror}") from None
    _CREATED_FOLDERS.append((folder, top))


def _out_path(ctx: click.Context, param: click.Parameter, value):
    """An output that may be a folder or a file: refuse '', devices and read-only targets."""
    if value is None:
        return None
    if str(value).strip() == "":
        raise click.BadParameter("--out is empty: give a folder or a file")
    path = Path(value)
    if path.exists() and not (path.is_dir() or path.is_file()):
        raise click.BadParameter(f"--out {path} is not a regular file or folder (a device or pipe)")
    if (path.exists() and not os.access(path, os.W_OK)) or (path.is_file() and not path.stat().st_mode & 0o222):
        raise click.BadParameter(f"--out {path} is read-only")
    return path


def _out_dir(ctx: click.Context, param: click.Parameter, value):
    """An output folder: refuse '' and anything in the way that is not a writable folder."""
    if value is None:
        return None
    if str(value).strip() == "":
        raise click.BadParameter("--out is empty: give a folder")
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise click.BadParameter(f"--out {path} exists and is not a folder")
    if path.is_dir() and not os.access(path, os.W_OK):
        raise click.BadParameter(f"--out {path} is a read-only folder")
    _make_folder(path)
    return path


class Context:
    """Options shared by every sub-command."""

    def __init__(self, verbose: int = 0, quiet: bool = False):
        import time

        self.verbose = verbose
        self.quiet = quiet
        self._clock = time.perf_counter
        self._started = time.perf_counter()

    def progress(self, msg: str) -> None:
        if self.quiet:
            return
        if self.verbose:  # -v: when each step started, in seconds since the command started
            _echo_err(f"atlas: [{self._clock() - self._started:6.1f} s] {msg}")
        else:
            _echo_err(f"atlas: {msg}")


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True,
              help="Time each step: progress lines say when it started (seconds since the command did).")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.version_option(package_name="gulag-inc-atlas")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Geospatial atlas of North Korea's mines and prison camps.

    Built on "Gulag, Inc." (HRNK 2016) and open, cited data. Start with
    `atlas build`, then query the layers in output/atlas.gpkg.
    """
    ctx.obj = Context(verbose, quiet)
    import warnings

    warnings.showwarning = _show_warning


@main.command()
@overwrite_option
@click.option("--out", type=str, default=None, callback=_out_file,
              help="GeoPackage to write (default: output/atlas.gpkg).")
@click.option("--no-products", is_flag=True,
              help="Write the GeoPackage only (no density surface, map or QGIS export).")
@pass_ctx
@handle_errors
def build(ctx: Context, out: Path | None, no_products: bool) -> None:
    """Build output/atlas.gpkg and its products (density, map, QGIS export) from the curated data.

    Verifies every source file against its manifest, builds and validates
    the layers, and replaces the output only when all of it is sound: a
    failed build leaves the earlier output untouched. The products are
    written beside the GeoPackage, as atlas.build() does.
    """
    written: list[str] = []

    def progress(msg: str) -> None:
        if msg.startswith("wrote "):
            written.append(msg[len("wrote "):])
        ctx.progress(msg)

    _build.build(out, progress=progress, products=() if no_products else tuple(_build.PRODUCTS))
    for path in written:
        click.echo(path)


@main.command()
@click.argument("path", type=_Source(), required=False)
@pass_ctx
@handle_errors
def validate(ctx: Context, path: Path | None) -> None:
    """Check a GeoPackage (default output/atlas.gpkg), or an atlas in PostGIS, against the layer schemas.

    Every problem is listed with its layer, feature id and field; the exit
    code is 1 when there is any.
    """
    from .store import open_atlas

    atlas = open_atlas(path)
    _build.validate(atlas)
    click.echo(f"{atlas.shown}: valid")


@main.command()
@GPKG_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--drop", "drop", default=None, metavar="NAME",
              help="Remove the user layer NAME (user_NAME) instead, atomically.")
@click.option("--details", is_flag=True,
              help="Also show where each private layer came from (its source file's name).")
@pass_ctx
@handle_errors
def layers(ctx: Context, gpkg: Path | None, fmt: str, as_json: bool, drop: str | None, details: bool) -> None:
    """List each layer with its feature count, geometry type and sources.

    User layers imported with --private are marked (private), their source
    file named only with --details: they are kept apart (output-private/), and
    no map, export or site includes them unless asked. --drop NAME removes a
    user layer (the GeoPackage that holds it is rewritten without it,
    atomically; nothing else changes).
    """
    if drop:
        from .importer import drop_layer

        click.echo(f"{drop_layer(drop, gpkg)}: removed")
        ctx.progress("run `atlas map` / `atlas export` again: products made earlier still hold it")
        return
    rows = _build.layer_summary(gpkg)
    private = _private_layers(gpkg)
    for r in rows:
        if r["layer"].startswith("user_"):
            r["private"] = r["layer"] in private
            if r["private"] and not details:  # its file's name can itself be telling
                r["sources"] = "private: user import (--details names the file)"
    if as_json or fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if fmt == "csv":
        import pandas as pd

        from .formats import csv_text

        click.echo(csv_text(pd.DataFrame(rows)), nl=False)
        return
    width = max(len(r["layer"]) + (10 if r.get("private") else 0) for r in rows)
    click.echo(f"{'layer':<{width}}  features  geometry            sources")
    for r in rows:
        geom = r["geometry"] + (f" ({r['with_geometry']} located)"
                                if r["geometry"] not in ("table",) and r["with_geometry"] != r["features"] else "")
        label = r["layer"] + (" (private)" if r.get("private") else "")
        click.echo(f"{label:<{width}}  {r['features']:>8}  {geom:<18}  {r['sources']}")


# Sub-commands of the other modules register themselves below, one import each.


@main.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--as", "name", required=True, help="Layer name (stored as user_NAME).")
@click.option("--kind", type=click.Choice(["sites", "mines", "camps"]), default="sites",
              show_default=True, help="What the features are.")
@click.option("--lat", default=None, help="CSV column with latitudes (decimal or DMS).")
@click.option("--lon", default=None, help="CSV column with longitudes (decimal or DMS).")
@click.option("--crs", default=None, help="CRS of the coordinates if the file does not say (e.g. 32652).")
@click.option("--name-field", default=None, help="Column holding each feature's name.")
@click.option("--private", is_flag=True,
              help="Keep the layer on this machine: no map, export or site includes it unless "
                   "run with --include-private.")
@click.option("--replace", is_flag=True, help="Replace an existing layer of that name.")
@GPKG_FILE_OPTION
@pass_ctx
@handle_errors
def import_(ctx: Context, path: Path, name: str, kind: str, lat, lon, crs, name_field, private: bool,
            replace: bool, gpkg) -> None:
    """Import a user's CSV, GeoJSON, KML/KMZ, GeoPackage, Shapefile or GeoParquet as a layer.

    The file is validated (names present, valid points, inside or near the
    DPRK with outliers reported, no repeated ids, lat/lon not swapped), given
    province and county by spatial join, and stored as user_NAME in the atlas
    GeoPackage; `atlas near`, `summary`, `map` and `export` then include it
    (a --private layer only find, near and nearest; summary, map, export and
    site only with --include-private). A layer of that name is replaced only with
    --replace. On any error the GeoPackage is unchanged and the exit code is 2.

    The file is read in chunks (progress on stderr) and opened only by the
    reader of its format: no GDAL virtual dataset, one KML of a KMZ
    (doc.kml, else the first at the root), archives refused past 200 MB
    inflated or 200:1. Columns the GeoPackage cannot hold are renamed, and
    said so. Another command writing the same GeoPackage is waited for.
    """
    import warnings

    import pyogrio

    from . import io
    from .importer import store_layer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            layer = store_layer(path, name, kind=kind, lat=lat, lon=lon, crs=crs, name_field=name_field,
                                gpkg=gpkg, progress=ctx.progress, private=private, replace=replace)
        finally:
            for w in caught:
                if issubclass(w.category, UserWarning):
                    _show_warning(w.message, w.category, w.filename, w.lineno)
    from .store import open_atlas, private_store

    public = gpkg or io.default_gpkg()
    n = pyogrio.read_info(open_atlas(public).store_of(layer).file(), layer=layer)["features"]
    click.echo(f"{layer}: {n} feature{'' if n == 1 else 's'}" + (" (private)" if private else ""))
    if private:
        ctx.progress(f"kept apart in {private_store(public)}, outside the folder of shareable products")


@main.command("density")
@overwrite_option
@click.option("--layer", default="mines", show_default=True, help="Point layer to count.")
@click.option("--cell-km", type=float, default=5.0, show_default=True, help="Cell size in km (> 0).")
@click.option("--bandwidth-km", type=float, default=25.0, show_default=True,
              help="Radius of the quartic kernel in km (> 0).")
@click.option("--weight", default=None, help="Numeric field to weight each point by.")
@click.option("--out", type=str, default=None, callback=_out_file,
              help="GeoTIFF to write (default: output/mine_density.tif).")
@GPKG_OPTION
@pass_ctx
@handle_errors
def density_cmd(ctx: Context, layer: str, cell_km: float, bandwidth_km: float, weight: str | None,
                out: Path | None, gpkg: Path | None) -> None:
    """Write a kernel density surface (Cloud Optimized GeoTIFF, EPSG:5179) of a point layer.

    Quartic kernel of radius --bandwidth-km, edge-corrected to the DPRK
    outline, in points (or weight) per km²; the surface integrates to the
    number of points. A QGIS style (.qml) is written beside it.
    """
    from .densities import density

    path = density(layer=layer, cell_km=cell_km, bandwidth_km=bandwidth_km, weight=weight,
                   out=out, gpkg=gpkg)
    click.echo(str(path))


@main.command("province-density")
@overwrite_option
@click.option("--out", type=str, default=None, callback=_out_file,
              help="Also write the layer province_mine_density to this GeoPackage.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@GPKG_OPTION
@handle_errors
def province_density_cmd(out: Path | None, as_json: bool, gpkg: Path | None) -> None:
    """The report's Table 2 mines per 1,000 km² of each province (geodesic area)."""
    from .densities import province_density

    table = province_density(gpkg=gpkg, out=out).drop(columns="geometry")
    cols = ["province_id", "name_en", "reported_mines", "area_km2", "mines_per_1000km2",
            "geolocated_mines"]
    if as_json:
        click.echo(json.dumps(table[cols].to_dict(orient="records"), ensure_ascii=False, indent=1))
        return
    click.echo(f"{'province':<24} {'Table 2':>7} {'area km²':>9} {'per 1,000 km²':>13} {'geolocated':>10}")
    for r in table.itertuples():
        click.echo(f"{r.name_en:<24} {r.reported_mines:>7} {r.area_km2:>9.1f} "
                   f"{r.mines_per_1000km2:>13.2f} {r.geolocated_mines:>10}")
    if out:
        click.echo(str(out))


@main.command("chips")
@overwrite_option
@click.argument("imagery", type=click.Path(path_type=Path))
@click.option("--sites", default="camps", show_default=True, help="Point layer of the sites.")
@click.option("--size-km", type=float, default=5.0, show_default=True, help="Side of each chip in km (> 0).")
@click.option("--out", "out_dir", type=str, default=None, callback=_out_dir,
              help="Folder of the chips (default: output/chips/).")
@click.option("--resolution-m", type=float, default=None,
              help="Pixel size of the chips (default: the imagery's own at each site).")
@click.option("--resampling", default="nearest", show_default=True,
              help="nearest keeps the imagery's values; bilinear, cubic, average, ...")
@GPKG_OPTION
@pass_ctx
@handle_errors
def chips_cmd(ctx: Context, imagery: Path, sites: str, size_km: float, out_dir: Path | None,
              resolution_m: float | None, resampling: str, gpkg: Path | None) -> None:
    """Cut one GeoTIFF per site from IMAGERY (any CRS, any bands), centred on the site.

    Chips are size-km squares in EPSG:5179 named <site id>.tif. Sites
    outside the imagery are listed on stderr; sites without a coordinate too.
    """
    import warnings

    from .imagery import chips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # reported below, one line per site
        result = chips(imagery, sites=sites, size_km=size_km, out_dir=out_dir, gpkg=gpkg,
                       resolution_m=resolution_m, resampling=resampling)
    for chip in result.written:
        click.echo(str(chip.path))
    total = len(result.written) + len(result.outside)
    if result.outside:
        _echo_err(f"atlas: {len(result.outside)} of {total} located sites are outside "
                  f"{imagery.name} (no chip):")
        for site_id, name in result.outside:
            _echo_err(f"  {site_id}  {name}")
    if result.refused:
        _echo_err(f"atlas: {len(result.refused)} site id(s) cannot be file names; no chip was written "
                  "for them: " + ", ".join(repr(i) for i in result.refused[:5]))
    if result.no_geometry:
        _echo_err(f"atlas: {len(result.no_geometry)} site(s) have no public coordinate: "
                  + ", ".join(i for i, _ in result.no_geometry))
    partial = [c for c in result.written if c.coverage < 1.0]
    for chip in partial:
        _echo_err(f"atlas: {chip.site_id}: chip only {chip.coverage:.0%} covered by the imagery")
    ctx.progress(f"{len(result.written)} chip(s) written")




@main.command("map")
@overwrite_option
@click.option("--out", type=str, default=None, callback=_out_file,
              help="HTML file to write (default: output/atlas.html).")
@click.option("--online", is_flag=True,
              help="Add OpenStreetMap and Esri satellite tiles as base layers (they need a network).")
@click.option("--screenshot", type=str, default=None, callback=_out_file,
              help="Also save a PNG of the page from headless Chromium.")
@protect_options
@GPKG_OPTION
@pass_ctx
@handle_errors
def map_cmd(ctx: Context, out: Path | None, online: bool, screenshot: Path | None, include_private: bool,
            coarsen_km: float | None, gpkg: Path | None) -> None:
    """Write the interactive map: one self-contained HTML file, every layer.

    Opens from disk with no network (Leaflet and everything else inlined; a
    Natural Earth vector basemap). Layers: provinces (Table 2 counts),
    counties, mines by commodity and location precision, the report's named
    mines (town proxies marked), deposit regions, camps with their findings,
    distance rings, other published coordinates, the density raster and image
    chips if present, and imported user layers (not the private ones unless
    --include-private). Search, measure, fullscreen; the about box says which
    GeoPackage (sha256) and which of your layers the page holds.
    """
    from .webmap import write_map

    path = write_map(out, gpkg=gpkg, online=online, screenshot=screenshot, progress=ctx.progress,
                     include_private=include_private, coarsen_km=coarsen_km)
    click.echo(str(path))
    if screenshot:
        click.echo(str(screenshot))




@main.command("dossier")
@overwrite_option
@click.argument("site")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder (default output/dossiers/) or .html file to write.")
@click.option("--pdf", is_flag=True, help="Also print the page to an A4 PDF beside it (WeasyPrint).")
@click.option("--km", type=float, default=25.0, show_default=True, help="Radius of the nearby list.")
@click.option("--include-private", is_flag=True, help="List nearby features of private user layers too.")
@GPKG_OPTION
@pass_ctx
@handle_errors
def dossier_cmd(ctx: Context, site: str, out: Path | None, pdf: bool, km: float, include_private: bool,
                gpkg: Path | None) -> None:
    """Write one self-contained HTML page about a camp or a mine.

    SITE is an id (KLS-15, M005), a number (camp 15) or any name in any
    romanization or Hangul. The page holds the site's record (names, kind,
    county and province, coordinates and every other published coordinate,
    area, agency, prisoners, status, evidence), its findings oldest first,
    the mines (or camps) within --km nearest first, a small offline map and
    your imagery chip if any, what the report says about it, the report's
    discrepancies touching it, sources with licences and a citation (atlas
    version, build date, GeoPackage sha256). It opens from disk with no
    network. --pdf prints it to A4 (Hangul in NanumGothic: fonts-nanum).
    """
    from .dossier import dossier

    path = dossier(site, out=out, gpkg=gpkg, pdf=pdf, km=km, include_private=include_private)
    click.echo(str(path))
    if pdf:
        click.echo(str(path.with_suffix(".pdf")))


@main.command("site")
@overwrite_option
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder to write (default output/site/).")
@click.option("--include-private", is_flag=True, help="Include user layers imported as private.")
@click.option("--no-downloads", is_flag=True, help="Leave out the downloads (GeoPackage, GeoJSON, CSV, QGIS).")
@GPKG_OPTION
@pass_ctx
@handle_errors
def site_cmd(ctx: Context, out: Path | None, include_private: bool, no_downloads: bool,
             gpkg: Path | None) -> None:
    """Write the whole atlas as a static website (a folder; relative links only).

    index.html (overview map, the interactive map, a searchable and sortable
    table of every site), a dossier per camp and mine, the province summary
    (Table 2 beside the atlas's counts), the report's tables, downloads with
    licences and sha256 checksums, and an about page. Works from disk and
    from any static host; the same GeoPackage gives byte-identical files.
    Private user layers are left out unless --include-private.
    """
    from .website import build_site

    index = build_site(out, gpkg=gpkg, include_private=include_private, progress=ctx.progress,
                       with_downloads=not no_downloads)
    click.echo(str(index))


_EXPORT_FORMATS = ("geoparquet", "kmz", "geojson", "csv")


@main.command("export")
@overwrite_option
@click.option("--qgis", "to_qgis", is_flag=True,
              help="A styled GeoPackage (atlas.gpkg) and a QGIS project (atlas.qgz).")
@click.option("--format", "fmt", type=click.Choice(_EXPORT_FORMATS), default=None,
              help="Files for other tools: GeoParquet 1.1, KMZ (Google Earth), GeoJSON or CSV.")
@click.option("--postgis", "postgis_url", metavar="URL", default=None,
              help="Write every layer to a PostGIS database, postgresql://user@host/dbname?schema=atlas, "
                   "in one transaction (replaces what an earlier export wrote there).")
@click.option("--layers", "layer_names", multiple=True, metavar="NAMES",
              help="With --format: only these layers (repeatable, or comma-separated).")
@click.option("--include-private", is_flag=True,
              help="Also the user layers imported with --private (left out otherwise, from every "
                   "export: --qgis, --format, --postgis).")
@click.option("--out", "out", type=str, default=None, callback=_out_path,
              help="Where to write: a folder (default: output/qgis/ or output/<format>/), "
                   "or one file when one layer goes to a path with the format's suffix.")
@click.option("--coarsen-km", type=float, default=None, metavar="N",
              help="With --qgis or --format: snap the points of user layers to the centres of an "
                   "N-km grid (recorded in the export's metadata).")
@GPKG_OPTION
@pass_ctx
@handle_errors
def export_cmd(ctx: Context, to_qgis: bool, fmt: str | None, postgis_url: str | None,
               layer_names: tuple[str, ...], include_private: bool, out: Path | None,
               coarsen_km: float | None, gpkg: Path | str | None) -> None:
    """Export the atlas for other tools: --qgis, --format FORMAT or --postgis URL.

    \b
    --qgis      atlas.gpkg (GeoPackage 1.3, a default style per layer in
                layer_styles), atlas.qgz (groups, EPSG:5179, the same styles,
                forms, map tips, relations, metadata) and, when present, the
                density raster and chips with styles: a folder to zip and send.
    --format    geoparquet: GeoParquet 1.1, zstd, rows in Hilbert order, a bbox
                covering column, the layer's provenance in the file metadata;
                kmz: one file for Google Earth, a folder per layer, the map's
                symbols and popups, the camps' findings on the time slider;
                geojson: RFC 7946; csv: coordinates as lon/lat columns, cells
                that a spreadsheet would run as formulas neutralised.
                All in WGS 84 and UTF-8.
    --postgis   every layer into one schema (default atlas) of a PostGIS
                database, in one transaction: SRID 4326, GiST indexes, keys,
                the findings->camps foreign key, QGIS styles in
                public.layer_styles. Re-running replaces the schema.

    Earlier files are replaced only once the new ones are complete; a
    failed PostGIS export leaves the database as it was.
    """
    from .errors import InputError

    chosen = [name for name, on in (("--qgis", to_qgis), ("--format", fmt), ("--postgis", postgis_url)) if on]
    if len(chosen) != 1:
        raise InputError("say what to export: one of --qgis, --format geoparquet|kmz|geojson|csv, "
                         "--postgis postgresql://…" + (f" (not {' and '.join(chosen)} together)" if chosen else ""))
    names = [n.strip() for item in layer_names for n in item.split(",") if n.strip()]
    if names and not fmt:
        raise InputError("--layers goes with --format; --qgis and --postgis export every layer")
    if coarsen_km is not None and postgis_url:
        raise InputError("--coarsen-km goes with --qgis and --format (and with `atlas map`), "
                         "not with --postgis")
    if to_qgis:
        from .database import is_database_url
        from .qgis import export_qgis

        if is_database_url(gpkg):
            raise InputError("--qgis copies the GeoPackage itself: give --gpkg FILE "
                             "(QGIS opens the PostGIS tables styled as they are)")

        if out is not None and out.exists() and not out.is_dir():
            raise InputError(f"--out {out} exists and is not a folder: --qgis writes a folder")
        if out is not None:
            _make_folder(out)
        project = export_qgis(out, gpkg, progress=ctx.progress, include_private=include_private,
                              coarsen_km=coarsen_km)
        click.echo(str(project.parent / "atlas.gpkg"))
        click.echo(str(project))
        return
    if postgis_url:
        if out:
            raise InputError("--out goes with --qgis or --format; --postgis writes to the database URL")
        from .postgis import export_postgis

        result = export_postgis(postgis_url, gpkg, include_private=include_private, progress=ctx.progress)
        rows = sum(w["rows"] for w in result["layers"])
        click.echo(f"{result['database']}: {len(result['layers'])} tables, {rows} rows, "
                   f"{len(result['foreign_keys'])} foreign keys, {result['styles']} QGIS styles "
                   f"(PostGIS {result['postgis']})")
        return
    from . import export

    writer = {"geoparquet": export.export_geoparquet, "kmz": export.export_kmz,
              "geojson": export.export_geojson, "csv": export.export_csv}[fmt]
    for path in writer(out, names or None, gpkg, include_private=include_private, progress=ctx.progress,
                       coarsen_km=coarsen_km):
        click.echo(str(path))




# --- a site's whole record (atlas.record) -------------------------------------------------


@main.command("show")
@click.argument("site")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table",
              show_default=True, help="Output format.")
@click.option("--layer", default=None,
              help="Resolve SITE in this layer only (e.g. camps: Yodok means the camp).")
@GPKG_OPTION
@handle_errors
def show_cmd(site: str, fmt: str, layer: str | None, gpkg: Path | None) -> None:
    """Print a site's whole record: every field, finding, coordinate and discrepancy.

    SITE is resolved like `atlas find` (an id, a camp number, a name in any
    romanization or Hangul) and must be unambiguous. A camp's record lists
    every finding (oldest first, with source and page), every published
    coordinate with its distance from the point the atlas uses, and the
    report's discrepancies that touch it; JSON carries the atlas version,
    build date and GeoPackage sha256 to cite.
    """
    from .record import record

    rec = record(site, gpkg, layer)
    if rec.layer in _private_layers(gpkg):  # an answer on this machine: a private feature, marked
        from .userlayers import banner

        rec.meta.update(private=True, banner=banner([{"layer": rec.layer, "private": True}]))
        if fmt != "json":
            click.echo(f"PRIVATE: {rec.id} is in your private layer {rec.layer}; keep it on this machine.\n")
    click.echo(rec.format(fmt))


# --- queries (atlas.search, .distance, .summaries, .formats): find, near, nearest, summary ---

_QUERY_FORMATS = ["table", "csv", "json", "geojson"]


@main.command("find")
@click.argument("query")
@click.option("--layer", "layers", multiple=True,
              help="Search only this layer (repeatable): camps, mines, named_mines, counties, "
                   "provinces, mineral_deposits or a user_ layer.")
@click.option("--format", "fmt", type=click.Choice(_QUERY_FORMATS), default="table",
              show_default=True, help="Output format.")
@click.option("--no-fuzzy", is_flag=True, help="Fail instead of listing names close in spelling.")
@GPKG_OPTION
@handle_errors
def find_cmd(query: str, layers: tuple[str, ...], fmt: str, no_fuzzy: bool, gpkg: Path | None) -> None:
    """Find a camp, mine, county or province by id, number or any name.

    QUERY may be an id (KLS-14), a camp number with or without its kind
    (kwan-li-so 14, camp 14, 14) or a name in any romanization or in Hangul
    (Kaechon, Kaech'ŏn, Gaecheon, 개천). Every candidate is listed, best
    first, with how it matched; an unknown name exits with code 2 and the
    closest names.
    """
    from . import formats, search

    hits = search.find(query, gpkg, layers or None, fuzzy=not no_fuzzy)
    meta = {"query": query, "candidates": len(hits)}
    cols = ["layer", "id", "name", "kind", "match", "score", "province", "county", "precision"]
    head = [f"{len(hits)} candidate(s) for {query!r}, best first:"]
    foot = []
    private = hits["layer"].isin(_private_layers(gpkg))
    if private.any():  # an answer on this machine: private rows marked
        hits = hits.copy()
        hits.insert(1, "private", private.map({True: "PRIVATE", False: ""}))
        cols.insert(1, "private")
        foot = ["", _PRIVATE_NOTE]
    click.echo(formats.format_table(hits, fmt, cols, header=head, footer=foot, meta=meta))


_SANCTIONS_HELP = ("Add the UN Security Council measure in force on each mine's commodities "
                   "(after the last resolution, or on --sanctions-on DATE).")
_SANCTIONS_ON_HELP = "The day for --sanctions (YYYY-MM-DD); implies --sanctions."


def _with_sanctions(result, on: str | None, gpkg):
    """The result with a ``sanctions`` column: the measure in force on ``on`` (or the latest)."""
    from . import sanctions as sx

    if result.attrs.get("layer") not in ("mines", "named_mines") or "commodity" not in result.columns:
        raise click.UsageError(f"--sanctions needs a layer of mines (mines, named_mines), not "
                               f"{result.attrs.get('layer')}")
    from .store import read_layer

    table = read_layer("sanctions_measures", gpkg)  # the GeoPackage's copy
    day = sx.day_or_latest(on, table)
    out = result.copy()
    out.insert(list(out.columns).index("commodity") + 1, "sanctions",
               sx.measures_on(out["commodity"], day, table))
    out.attrs.update(result.attrs)
    out.attrs["sanctions"] = (f"UN Security Council measures in force on {day}" if on else
                              f"UN Security Council measures in force after {day} (latest resolution)")
    out.attrs["sanctions_note"] = sx.NOT_CITED
    return out


def _near_output(result, fmt: str, what: str, gpkg: Path | None = None, columns: str | None = None) -> None:
    from . import formats
    from .distance import layer_columns
    from .provenance import about
    from .store import open_atlas
    from .userlayers import user_layer_records

    a = result.attrs
    meta = {k: a.get(k) for k in ("site_id", "site_name", "site_layer", "site_precision", "site",
                                  "layer", "km", "k", "features_without_geometry", "method",
                                  "nearest_beyond_radius", "site_area_km2", "area_caveat")
            if a.get(k) is not None}
    site = textwrap.fill(f"Site: {a['site']}", 100, subsequent_indent="  ") if fmt == "table" else a["site"]
    head = [site, "", f"{len(result)} feature(s) of layer {a['layer']} {what}, "
            "nearest first (distance on the WGS 84 ellipsoid; bearing from the site, ° from north):"]
    foot = [] if len(result) else [f"No feature of {a['layer']} {what}."]
    near1 = a.get("nearest_beyond_radius")
    if near1:
        bearing = f", bearing {near1['bearing_deg']:g}°" if near1.get("bearing_deg") is not None else ""
        foot.append(f"The nearest is {near1['id']} {near1['name']}, {near1['distance_km']:.1f} km from the "
                    f"site's point{bearing}.")
    if a.get("area_caveat"):
        foot.append(a["area_caveat"])
    if a.get("features_without_geometry"):
        foot.append(f"{a['features_without_geometry']} feature(s) of {a['layer']} have no public "
                    "coordinate and are not measured.")
    foot.append(f"Method: {a['method']}.")
    if fmt == "table":
        foot = [textwrap.fill(line, 100, subsequent_indent="  ") for line in foot]
    cols = ["id", "name", "commodity", "precision", "distance_km", "bearing_deg", "county", "source"]
    if "sanctions" in result.columns:
        cols.insert(3, "sanctions")
        meta.update(sanctions=a["sanctions"], sanctions_note=a["sanctions_note"])
        foot.append(f"Sanctions: {a['sanctions']}; a measure applies from the day of its resolution "
                    f"({a['sanctions_note']}).")
    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    if fmt != "table" or wanted:  # every column of the layer (or those asked for)
        result = layer_columns(result, gpkg, wanted)
        cols = wanted or cols
    if a.get("layer") in _private_layers(gpkg):  # an answer on this machine: its private rows marked
        result = result.copy()
        if "private" in result.columns:  # the layer's own flag (csv, json): said in the same words
            result["private"] = "PRIVATE"
        else:
            result.insert(0, "private", "PRIVATE")
        cols = ["private", *(c for c in cols if c != "private")]
        head.insert(0, f"PRIVATE: layer {a['layer']} is one of your private layers.")
        foot.insert(0, _PRIVATE_NOTE)
    if fmt in ("json", "geojson"):  # what a reader cites
        atlas = open_atlas(gpkg)
        users = [r for r in user_layer_records(atlas) if r["layer"] == a.get("layer")]
        gpkg = atlas
        meta.update(about(gpkg, user_layers=users))
    if fmt == "csv":
        _echo_err(f"atlas: site: {a['site']}")
        for line in foot[:-1]:
            _echo_err(f"atlas: {line}")
    if fmt == "table" and not len(result):  # an honest "none" in words, not an empty table
        click.echo("\n".join([site, "", *foot]))
        return
    click.echo(formats.format_table(result, fmt, cols, header=head, footer=["", *foot], meta=meta))


_COLUMNS_OPTION = click.option(
    "--columns", default=None, metavar="A,B,...",
    help="Only these columns, in this order (any column of the layer; csv, json and geojson carry "
         "every column by default).")


@main.command("near")
@click.argument("site")
@click.option("--km", type=float, default=25.0, show_default=True, help="Radius in km.")
@click.option("--layer", default="mines", show_default=True,
              help="Layer to search: mines, named_mines, camps, mineral_deposits, counties or a user_ layer.")
@click.option("--site-layer", default=None,
              help="Resolve SITE in this layer only (e.g. camps: Yodok means the camp).")
@click.option("--sanctions", is_flag=True, help=_SANCTIONS_HELP)
@click.option("--sanctions-on", "sanctions_on", default=None, metavar="DATE", help=_SANCTIONS_ON_HELP)
@click.option("--format", "fmt", type=click.Choice(_QUERY_FORMATS), default="table",
              show_default=True, help="Output format.")
@_COLUMNS_OPTION
@GPKG_OPTION
@handle_errors
def near_cmd(site: str, km: float, layer: str, site_layer: str | None, sanctions: bool,
             sanctions_on: str | None, fmt: str, columns: str | None, gpkg: Path | None) -> None:
    """Every feature of a layer within --km of SITE, nearest first.

    SITE is resolved like `atlas find` and must be unambiguous (exit code 2
    lists the candidates otherwise). Distances are geodesic (WGS 84); the
    output states how precise the site's own location is. With --sanctions,
    each mine also shows the UN measure on its commodities (as in
    atlas.sanctions_status).
    """
    from . import distance

    result = distance.near(site, km=km, layer=layer, gpkg=gpkg, site_layer=site_layer)
    if sanctions or sanctions_on:
        result = _with_sanctions(result, sanctions_on, gpkg)
    _near_output(result, fmt, f"within {km:g} km", gpkg, columns)


@main.command("nearest")
@click.argument("site")
@click.option("--layer", default="mines", show_default=True,
              help="Layer to search: mines, named_mines, camps, mineral_deposits, counties or a user_ layer.")
@click.option("-k", "k", type=int, default=5, show_default=True, help="How many features.")
@click.option("--site-layer", default=None, help="Resolve SITE in this layer only.")
@click.option("--format", "fmt", type=click.Choice(_QUERY_FORMATS), default="table",
              show_default=True, help="Output format.")
@_COLUMNS_OPTION
@GPKG_OPTION
@handle_errors
def nearest_cmd(site: str, layer: str, k: int, site_layer: str | None, fmt: str, columns: str | None,
                gpkg: Path | None) -> None:
    """The k features of a layer nearest SITE, on the ellipsoid."""
    from . import distance

    result = distance.nearest(site, layer=layer, k=k, gpkg=gpkg, site_layer=site_layer)
    _near_output(result, fmt, "nearest the site", gpkg, columns)


@main.command("status")
@click.argument("site", required=False)
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="YYYY, YYYY-MM or YYYY-MM-DD (a month or year means its last day); default today.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
@GPKG_OPTION
@handle_errors
def status_cmd(site: str | None, as_of: str | None, fmt: str, gpkg: Path | None) -> None:
    """Every camp's status as of a date (or one camp's, with its findings).

    active, closed, relocated or unknown, by the rule of atlas.evidence: an
    'active' finding counts until 5 years after its last day, a closure or
    relocation from its last day on; no finding counting on the day is
    'unknown', never 'active'. Also each camp's evidence tier, latest
    evidence and whether its sources disagree.
    """
    from . import formats, search
    from . import status as ev

    sites = None
    if site:
        sites = [search.resolve(site, gpkg, layers=["camps"]).id]
    table = ev.status_table(as_of, gpkg, sites=sites)
    a = table.attrs
    foot = ["", f"As of {a['as_of']}: {a['rule']} (window {a['window_years']} years)."]
    if site and fmt == "table":
        s = ev.status_at(sites[0], a["as_of"], gpkg)
        foot += ["", s.reason, "", "Deciding findings:", *_finding_lines(s.deciding)]
        foot += ["Contradicting findings:"] + (_finding_lines(s.contradicting) or ["  none"])
    if fmt == "json" and site:
        s = ev.status_at(sites[0], a["as_of"], gpkg)
        meta = {**dict(a), "findings": {k: _records(getattr(s, k)) for k in ("deciding", "contradicting")}}
    else:
        meta = dict(a)
    columns = ["site_id", "kind", "name", "status", "deciding", "contradicting",
               "evidence_tier", "latest_evidence_date", "sources_disagree"]
    click.echo(formats.format_table(table, fmt, columns=columns, footer=foot, meta=meta, width=40))


def _finding_lines(df) -> list[str]:
    return [f"  {r['finding_id']}  {r['observed_text']}  {r['status_signal']}  "
            f"[{r['evidence_basis']}] {r['description'][:70]}  ({r['source_report'][:60]})"
            for r in df.to_dict("records")]


def _records(df) -> list[dict]:
    return [{k: (None if v is None or v != v else v) for k, v in r.items()}
            for r in df.to_dict("records")]


@main.command("summary")
@click.option("--by", type=click.Choice(["province", "county"]), default="province",
              show_default=True, help="One row per report province, or per county.")
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="Instead: camps by status (active, closed, relocated, unknown) per province "
                   "as of DATE (YYYY, YYYY-MM or YYYY-MM-DD).")
@click.option("--all", "include_empty", is_flag=True, help="By county: list counties holding nothing too.")
@click.option("--sanctions", is_flag=True,
              help="Also count the geolocated mines under a UN measure, by commodity "
                   "(after the last resolution, or on --sanctions-on DATE).")
@click.option("--sanctions-on", "sanctions_on", default=None, metavar="DATE", help=_SANCTIONS_ON_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]),
              default="table", show_default=True, help="Output format.")
@click.option("--include-private", is_flag=True,
              help="Also count the layers imported with --private (left out by default: a "
                   "summary is pasted into reports).")
@GPKG_OPTION
@pass_ctx
@handle_errors
def summary_cmd(ctx: Context, by: str, as_of: str | None, include_empty: bool, sanctions: bool,
                sanctions_on: str | None, fmt: str, include_private: bool, gpkg: Path | None) -> None:
    """The report's Table 2 beside the atlas's geolocated features, by province or county.

    reported_mines and reported_share_pct reproduce Table 2; the other
    columns count the atlas's features by spatial join against the
    GeoPackage's boundaries, whose source and vintage are stated below the table.
    With --as-of DATE: camps by status per province as of that date (see
    'atlas status --help' for the rule).
    """
    from . import formats, summaries

    wanted = sanctions_on if sanctions_on else (True if sanctions else None)
    if wanted is not None and as_of is not None:
        raise click.UsageError("--sanctions counts mines; --as-of counts camps: use one")
    if as_of is not None:
        from . import status as ev

        if by != "province":
            raise click.UsageError("--as-of counts camps per province only (no --by county)")
        table = ev.status_summary(as_of, gpkg)
        a = table.attrs
        foot = ["", f"Camps by status as of {a['as_of']}: {a['rule']} (window {a['window_years']} "
                "years). Province by spatial join of each camp's point; no point: unidentified."]
        click.echo(formats.format_table(table, fmt, footer=foot, meta=dict(a), width=80))
        return

    table = summaries.summary(by, gpkg, include_empty, sanctions=wanted, include_private=include_private)
    a = table.attrs
    foot = ["", f"Reported: {a['report']}.", f"Geolocated: {a['method']}.",
            f"Boundaries: {a['boundary_source']}.", f"Boundary vintage: {a['boundary_vintage']}."]
    if "sanctions" in a:
        foot.append(f"Sanctions: {a['sanctions']}.")
    if fmt == "csv":
        for line in foot[1:]:
            ctx.progress(line)
    click.echo(formats.format_table(table, fmt, footer=foot, meta=dict(a), width=80))
