"""``atlas export``: the atlas for other tools (QGIS, GeoParquet, KMZ, GeoJSON, CSV, PostGIS)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError
from .context import Context, echo, handle_errors, pass_ctx, state
from .options import out_target_option, overwrite_option, source_option

_EXPORT_FORMATS = ("geoparquet", "kmz", "geojson", "csv")


def _check_choice(to_qgis: bool, fmt: str | None, postgis_url: str | None, names: list[str],
                  coarsen_km: float | None, out: Path | None) -> None:
    """One kind of export, and the options that go with it."""
    chosen = [name for name, on in (("--qgis", to_qgis), ("--format", fmt), ("--postgis", postgis_url)) if on]
    if len(chosen) != 1:
        raise InputError("say what to export: one of --qgis, --format geoparquet|kmz|geojson|csv, "
                         "--postgis postgresql://…" + (f" (not {' and '.join(chosen)} together)" if chosen else ""))
    if names and not fmt:
        raise InputError("--layers goes with --format; --qgis and --postgis export every layer")
    if coarsen_km is not None and postgis_url:
        raise InputError("--coarsen-km goes with --qgis and --format (and with `atlas map`), "
                         "not with --postgis")
    if postgis_url and out:
        raise InputError("--out goes with --qgis or --format; --postgis writes to the database URL")


def _qgis(ctx: Context, out: Path | None, gpkg, include_private: bool, coarsen_km: float | None) -> None:
    import atlas

    from ..database import is_database_url

    if is_database_url(gpkg):
        raise InputError("--qgis copies the GeoPackage itself: give --gpkg FILE "
                         "(QGIS opens the PostGIS tables styled as they are)")
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder: --qgis writes a folder")
    if out is not None:
        state().make_folder(out)
    project = atlas.export_qgis(out, gpkg, progress=ctx.progress, include_private=include_private,
                                coarsen_km=coarsen_km)
    echo(str(project.parent / "atlas.gpkg"))
    echo(str(project))


def _postgis(ctx: Context, url: str, gpkg, include_private: bool) -> None:
    import atlas

    result = atlas.export_postgis(url, gpkg, include_private=include_private, progress=ctx.progress)
    rows = sum(w["rows"] for w in result["layers"])
    echo(f"{result['database']}: {len(result['layers'])} tables, {rows} rows, "
               f"{len(result['foreign_keys'])} foreign keys, {result['styles']} QGIS styles "
               f"(PostGIS {result['postgis']})")


@click.command("export")
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
                   "export: --qgis, --format, --postgis). A file holding one says so in its name and "
                   "metadata; the export goes to output-private/ unless --out says where.")
@out_target_option("--out", "out",
                   help="Where to write: a folder (default: output/qgis/ or output/<format>/), "
                        "or one file when one layer goes to a path with the format's suffix.")
@click.option("--coarsen-km", type=float, default=None, metavar="N",
              help="With --qgis or --format: snap the points of user layers to the centres of an "
                   "N-km grid (recorded in the export's metadata).")
@source_option
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
    names = [n.strip() for item in layer_names for n in item.split(",") if n.strip()]
    _check_choice(to_qgis, fmt, postgis_url, names, coarsen_km, out)
    if to_qgis:
        _qgis(ctx, out, gpkg, include_private, coarsen_km)
        return
    if postgis_url:
        _postgis(ctx, postgis_url, gpkg, include_private)
        return
    import atlas

    writer = {"geoparquet": atlas.export_geoparquet, "kmz": atlas.export_kmz,
              "geojson": atlas.export_geojson, "csv": atlas.export_csv}[fmt]
    for path in writer(out, names or None, gpkg, include_private=include_private, progress=ctx.progress,
                       coarsen_km=coarsen_km):
        echo(str(path))


COMMANDS = [export_cmd]
