"""What changed and how to cite it: ``atlas diff`` and ``atlas cite``."""

from __future__ import annotations

from pathlib import Path

import click

from .context import echo, handle_errors
from .options import out_file_option, overwrite_option


@click.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json"]), default="table",
              show_default=True, help="Output format (csv: one row per change).")
@out_file_option(help="Write the answer to this file instead of standard output "
                      "(a CSV file gets a byte-order mark and CRLF line ends, as Excel wants).")
@overwrite_option
@handle_errors
def diff_cmd(old: str, new: str, fmt: str, out: Path | None) -> None:
    """What changed between two atlases, OLD and NEW: sites added, removed,
    moved (with the distance), renamed, their status at each atlas's build date,
    findings added or changed, fields changed.

    OLD and NEW are atlas GeoPackages (two releases, or the shipped one and
    yours) or PostGIS URLs. Private layers are never compared: a diff is made
    to be shared.

    \b
    Examples:
      atlas diff atlas-2026.11.gpkg output/atlas.gpkg
      atlas diff old.gpkg new.gpkg --format csv --out changes.csv
    """
    import atlas

    from ..diff import diff_report
    from ..owned import Stage

    text = diff_report(atlas.diff(old, new), fmt)
    if out is None:
        echo(text, fmt=fmt)
        return
    with Stage(out.parent) as stage:
        if fmt == "csv":
            stage.path(out.name).write_text(text, encoding="utf-8-sig", newline="")
        else:
            stage.path(out.name).write_text(text + "\n", encoding="utf-8")
    echo(str(out))


@click.command("cite")
@click.argument("target")
@click.option("--format", "fmt", type=click.Choice(["text", "bibtex", "csl-json", "ris"]), default="text",
              show_default=True, help="text for a footnote; bibtex, csl-json (Zotero, Pandoc) or ris (EndNote).")
@click.option("--gpkg", type=str, default=None, help="The atlas GeoPackage (default output/atlas.gpkg).")
@handle_errors
def cite_cmd(target: str, fmt: str, gpkg: str | None) -> None:
    """How to cite one record: a site (id, number or name) or a finding (F009, MF016).

    The citation names the atlas version, its build date, the sha256 of the
    public GeoPackage (a reader can check the very file) and the record's own
    sources, the report by section and paragraph. Set ATLAS_PUBLIC_URL to the
    address where the atlas is published to add the record's page; without it
    no address is given.

    \b
    Examples:
      atlas cite KLS-15
      atlas cite F047 --format bibtex >> references.bib
      atlas cite Musan --format csl-json
    """
    import atlas

    echo(atlas.cite(target, fmt, gpkg), fmt="json" if fmt == "csl-json" else "table")


COMMANDS = [diff_cmd, cite_cmd]
