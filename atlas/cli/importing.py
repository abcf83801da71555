"""``atlas import``: a user's file becomes a layer of the atlas."""

from __future__ import annotations

from pathlib import Path

import click

from .context import Context, echo, echo_err, handle_errors, pass_ctx
from .options import gpkg_file_option


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--as", "name", required=True, help="Layer name (stored as user_NAME).")
@click.option("--kind", type=click.Choice(["sites", "mines", "camps"]), default="sites",
              show_default=True, help="What the features are.")
@click.option("--lat", default=None, help="CSV column with latitudes (decimal or DMS).")
@click.option("--lon", default=None, help="CSV column with longitudes (decimal or DMS).")
@click.option("--crs", default=None, help="CRS of the coordinates if the file does not say (e.g. 32652).")
@click.option("--name-field", default=None, help="Column holding each feature's name.")
@click.option("--private", is_flag=True,
              help="Keep the layer on this machine, stored apart (output-private/, beside output/): "
                   "no map, export or site includes it unless run with --include-private.")
@click.option("--replace", is_flag=True, help="Replace an existing layer of that name.")
@gpkg_file_option
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

    import atlas

    from ..importer import store_layer
    from ..io import Notice
    from ..store import private_store

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            layer = store_layer(path, name, kind=kind, lat=lat, lon=lon, crs=crs, name_field=name_field,
                                gpkg=gpkg, progress=ctx.progress, private=private, replace=replace)
        finally:
            for w in caught:
                if issubclass(w.category, Notice):
                    echo_err(f"atlas: {w.message}")
                elif issubclass(w.category, UserWarning):
                    echo_err(f"atlas: warning: {w.message}")
    public = gpkg or atlas.default_gpkg()
    n = pyogrio.read_info(atlas.open_atlas(public).store_of(layer).file(), layer=layer)["features"]
    echo(f"{layer}: {n} feature{'' if n == 1 else 's'}" + (" (private)" if private else ""))
    if private:
        ctx.progress(f"kept apart in {private_store(public)}, outside the folder of shareable products")


COMMANDS = [import_]
