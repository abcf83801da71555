"""The ``atlas`` command: one sub-command per public function.

Errors the atlas raises on purpose (:class:`atlas.errors.AtlasError`) print a
one-line-per-problem message on stderr and exit with the error's code (2 for
bad input, 1 for failed checks); never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from . import builder as _build
from .errors import AtlasError

GPKG_OPTION = click.option(
    "--gpkg", type=click.Path(path_type=Path), default=None,
    help="Atlas GeoPackage to read (default: output/atlas.gpkg).",
)


def _echo_err(msg: str) -> None:
    click.echo(msg, err=True)


def handle_errors(func):
    """Turn AtlasError into a message and exit code; keep tracebacks for real bugs."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except AtlasError as exc:
            _echo_err(f"atlas: error: {exc}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _echo_err("atlas: interrupted; nothing was replaced")
            sys.exit(130)

    return wrapper


class Context:
    """Options shared by every sub-command."""

    def __init__(self, verbose: int = 0, quiet: bool = False):
        self.verbose = verbose
        self.quiet = quiet

    def progress(self, msg: str) -> None:
        if not self.quiet:
            _echo_err(f"atlas: {msg}")


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="Say more.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.version_option(package_name="gulag-inc-atlas")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Geospatial atlas of North Korea's mines and prison camps.

    Built on "Gulag, Inc." (HRNK 2016) and open, cited data. Start with
    `atlas build`, then query the layers in output/atlas.gpkg.
    """
    ctx.obj = Context(verbose, quiet)


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="GeoPackage to write (default: output/atlas.gpkg).")
@pass_ctx
@handle_errors
def build(ctx: Context, out: Path | None) -> None:
    """Build output/atlas.gpkg (and the products) from geodata/.

    Verifies every source file against geodata/manifest.csv, builds and
    validates the layers, and replaces the output only when all of it is
    sound: a failed build leaves the earlier output untouched.
    """
    path = _build.build(out, progress=ctx.progress)
    click.echo(str(path))
    for name in PRODUCT_ORDER:
        if name in BUILD_PRODUCTS:
            for written in BUILD_PRODUCTS[name](ctx, path):
                click.echo(str(written))


#: Products `atlas build` writes after the GeoPackage, keyed by name: callables
#: ``(ctx, gpkg_path) -> list of paths written``, registered by each command below.
BUILD_PRODUCTS: dict = {}
#: The order they run in: rasters first, so that the map and the QGIS export include them.
PRODUCT_ORDER = ("density", "map", "qgis")


@main.command()
@click.argument("path", type=click.Path(path_type=Path), required=False)
@pass_ctx
@handle_errors
def validate(ctx: Context, path: Path | None) -> None:
    """Check a GeoPackage (default output/atlas.gpkg) against the layer schemas.

    Every problem is listed with its layer, feature id and field; the exit
    code is 1 when there is any.
    """
    _build.validate(path)
    click.echo(f"{path or 'output/atlas.gpkg'}: valid")


@main.command()
@GPKG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@handle_errors
def layers(gpkg: Path | None, as_json: bool) -> None:
    """List each layer with its feature count, geometry type and sources."""
    rows = _build.layer_summary(gpkg)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    width = max(len(r["layer"]) for r in rows)
    click.echo(f"{'layer':<{width}}  features  geometry            sources")
    for r in rows:
        geom = r["geometry"] + (f" ({r['with_geometry']} located)"
                                if r["geometry"] not in ("table",) and r["with_geometry"] != r["features"] else "")
        click.echo(f"{r['layer']:<{width}}  {r['features']:>8}  {geom:<18}  {r['sources']}")


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
@GPKG_OPTION
@pass_ctx
@handle_errors
def import_(ctx: Context, path: Path, name: str, kind: str, lat, lon, crs, name_field, gpkg) -> None:
    """Import a user's CSV, GeoJSON, KML/KMZ, GeoPackage or Shapefile as a layer.

    The file is validated (names present, valid points, inside or near the
    DPRK with outliers reported, no repeated ids, lat/lon not swapped), given
    province and county by spatial join, and stored as user_NAME in the atlas
    GeoPackage; `atlas near`, `summary`, `map` and `export` then include it.
    On any error the GeoPackage is unchanged and the exit code is 2.
    """
    import warnings

    from .importer import import_layer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        out = import_layer(path, name, kind=kind, lat=lat, lon=lon, crs=crs, name_field=name_field,
                           gpkg=gpkg, progress=ctx.progress)
    for w in caught:
        if issubclass(w.category, UserWarning):
            _echo_err(f"atlas: warning: {w.message}")
    click.echo(f"user_{name}: {len(out)} features")
