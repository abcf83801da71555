"""``atlas build``, ``validate`` and ``layers``: make the GeoPackage, check it, list what it holds."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .context import Context, echo, handle_errors, pass_ctx
from .options import Source, out_file_option, overwrite_option, source_option


@click.command("build")
@overwrite_option
@out_file_option(help="GeoPackage to write (default: output/atlas.gpkg).")
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
    from .. import builder

    written: list[str] = []

    def progress(msg: str) -> None:
        if msg.startswith("wrote "):
            written.append(msg[len("wrote "):])
        ctx.progress(msg)

    builder.build(out, progress=progress, products=() if no_products else tuple(builder.PRODUCTS))
    for path in written:
        echo(path)


@click.command("validate")
@click.argument("path", type=Source(), required=False)
@pass_ctx
@handle_errors
def validate(ctx: Context, path: Path | None) -> None:
    """Check a GeoPackage (default output/atlas.gpkg), or an atlas in PostGIS, against the layer schemas.

    Every problem is listed with its layer, feature id and field; the exit
    code is 1 when there is any.
    """
    import atlas

    source = atlas.open_atlas(path)  # a URL's password masked when it is shown
    atlas.validate(source)
    echo(f"{source.shown}: valid")


def _layers_table(rows: list[dict]) -> str:
    """The layers as an aligned text table, private user layers marked."""
    width = max(len(r["layer"]) + (10 if r.get("private") else 0) for r in rows)
    lines = [f"{'layer':<{width}}  features  geometry            sources"]
    for r in rows:
        geom = r["geometry"] + (f" ({r['with_geometry']} located)"
                                if r["geometry"] not in ("table",) and r["with_geometry"] != r["features"] else "")
        label = r["layer"] + (" (private)" if r.get("private") else "")
        lines.append(f"{label:<{width}}  {r['features']:>8}  {geom:<18}  {r['sources']}")
    return "\n".join(lines)


@click.command("layers")
@source_option
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
    import atlas

    if drop:
        echo(f"{atlas.drop_layer(drop, gpkg)}: removed")
        ctx.progress("run `atlas map` / `atlas export` again: products made earlier still hold it")
        return
    from ..userlayers import private_names

    source = atlas.open_atlas(gpkg)
    rows = atlas.layer_summary(source)
    private = private_names(source)
    for r in rows:
        if r["layer"].startswith("user_"):
            r["private"] = r["layer"] in private
            if r["private"] and not details:  # its file's name can itself be telling
                r["sources"] = "private: user import (--details names the file)"
    if as_json or fmt == "json":
        echo(json.dumps(rows, ensure_ascii=False, indent=1), fmt="json")
    elif fmt == "csv":
        import pandas as pd

        from ..formats import csv_text

        echo(csv_text(pd.DataFrame(rows)), fmt="csv", nl=False)
    else:
        echo(_layers_table(rows))


COMMANDS = [build, validate, layers]
