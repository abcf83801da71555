"""The queries: ``atlas find``, ``near``, ``nearest``, ``status``, ``summary`` and ``show``.

Each command asks the public API (:func:`atlas.find`, :func:`atlas.near`, ...)
and prints the report that the query's module offers beside it
(:func:`atlas.distance.near_report`, :func:`atlas.formats.status_report`,
:func:`atlas.formats.summary_report`), so that a script gets the same words.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError
from .context import Context, echo, echo_err, handle_errors, pass_ctx
from .options import QUERY_FORMATS, columns_option, format_option, sanctions_on_option, source_option


@click.command("find")
@click.argument("query")
@click.option("--layer", "layers", multiple=True,
              help="Search only this layer (repeatable): camps, mines, named_mines, counties, "
                   "provinces, mineral_deposits or a user_ layer.")
@format_option(QUERY_FORMATS)
@click.option("--no-fuzzy", is_flag=True, help="Fail instead of listing names close in spelling.")
@source_option
@handle_errors
def find_cmd(query: str, layers: tuple[str, ...], fmt: str, no_fuzzy: bool, gpkg: Path | None) -> None:
    """Find a camp, mine, county or province by id, number or any name.

    QUERY may be an id (KLS-14), a camp number with or without its kind
    (kwan-li-so 14, camp 14, 14) or a name in any romanization or in Hangul
    (Kaechon, Kaech'ŏn, Gaecheon, 개천). Every candidate is listed, best
    first, with how it matched; an unknown name exits with code 2 and the
    closest names.
    """
    import atlas

    from ..formats import format_table
    from ..userlayers import PRIVATE_NOTE, mark_private, private_names

    gpkg = atlas.open_atlas(gpkg)  # once: every call below takes the object
    hits = atlas.find(query, gpkg, layers or None, fuzzy=not no_fuzzy)
    meta = {"query": query, "candidates": len(hits)}
    cols = ["layer", "id", "name", "kind", "match", "score", "province", "county", "precision"]
    head = [f"{len(hits)} candidate(s) for {query!r}, best first:"]
    foot = []
    private = hits["layer"].isin(private_names(gpkg))
    if private.any():  # an answer on this machine: private rows marked
        hits = mark_private(hits, private, at=1)
        cols.insert(1, "private")
        foot = ["", PRIVATE_NOTE]
    echo(format_table(hits, fmt, cols, header=head, footer=foot, meta=meta), fmt=fmt)


def _print_near(result, fmt: str, gpkg, columns: list[str] | None) -> None:
    from ..distance import near_report

    report = near_report(result, fmt, gpkg, columns)
    for line in report.notes:
        echo_err(f"atlas: {line}")
    echo(report.text, fmt=fmt)


_NEAR_LAYER_HELP = "Layer to search: mines, named_mines, camps, mineral_deposits, counties or a user_ layer."


@click.command("near")
@click.argument("site")
@click.option("--km", type=float, default=25.0, show_default=True, help="Radius in km.")
@click.option("--layer", default="mines", show_default=True, help=_NEAR_LAYER_HELP)
@click.option("--site-layer", default=None,
              help="Resolve SITE in this layer only (e.g. camps: Yodok means the camp).")
@click.option("--sanctions", is_flag=True,
              help="Add the UN Security Council measure in force on each mine's commodities "
                   "(after the last resolution, or on --sanctions-on DATE).")
@sanctions_on_option
@format_option(QUERY_FORMATS)
@columns_option
@source_option
@handle_errors
def near_cmd(site: str, km: float, layer: str, site_layer: str | None, sanctions: bool,
             sanctions_on: str | None, fmt: str, columns: list[str] | None, gpkg: Path | None) -> None:
    """Every feature of a layer within --km of SITE, nearest first.

    SITE is resolved like `atlas find` and must be unambiguous (exit code 2
    lists the candidates otherwise). Distances are geodesic (WGS 84); the
    output states how precise the site's own location is. With --sanctions,
    each mine also shows the UN measure on its commodities (as in
    atlas.sanctions_status).
    """
    import atlas

    gpkg = atlas.open_atlas(gpkg)  # once: every call below takes the object
    result = atlas.near(site, km=km, layer=layer, gpkg=gpkg, site_layer=site_layer)
    if sanctions or sanctions_on:
        from ..sanctions import with_sanctions

        result = with_sanctions(result, sanctions_on, gpkg)
    _print_near(result, fmt, gpkg, columns)


@click.command("nearest")
@click.argument("site")
@click.option("--layer", default="mines", show_default=True, help=_NEAR_LAYER_HELP)
@click.option("-k", "k", type=int, default=5, show_default=True, help="How many features.")
@click.option("--site-layer", default=None, help="Resolve SITE in this layer only.")
@format_option(QUERY_FORMATS)
@columns_option
@source_option
@handle_errors
def nearest_cmd(site: str, layer: str, k: int, site_layer: str | None, fmt: str, columns: list[str] | None,
                gpkg: Path | None) -> None:
    """The k features of a layer nearest SITE, on the ellipsoid."""
    import atlas

    gpkg = atlas.open_atlas(gpkg)  # once: every call below takes the object
    result = atlas.nearest(site, layer=layer, k=k, gpkg=gpkg, site_layer=site_layer)
    _print_near(result, fmt, gpkg, columns)


@click.command("status")
@click.argument("site", required=False)
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="YYYY, YYYY-MM or YYYY-MM-DD (a month or year means its last day); default today.")
@format_option(["table", "csv", "json"])
@source_option
@handle_errors
def status_cmd(site: str | None, as_of: str | None, fmt: str, gpkg: Path | None) -> None:
    """Every camp's status as of a date (or one camp's, with its findings).

    active, closed, relocated or unknown, by the rule of atlas.evidence: an
    'active' finding counts until 5 years after its last day, a closure or
    relocation from its last day on; no finding counting on the day is
    'unknown', never 'active'. Also each camp's evidence tier, latest
    evidence and whether its sources disagree.
    """
    import atlas

    from ..formats import status_report

    gpkg = atlas.open_atlas(gpkg)  # once: every call below takes the object
    sites = [atlas.resolve(site, gpkg, layers=["camps"]).id] if site else None
    table = atlas.status_table(as_of, gpkg, sites=sites)
    one = atlas.status_at(sites[0], table.attrs["as_of"], gpkg) if site and fmt in ("table", "json") else None
    echo(status_report(table, fmt, one).text, fmt=fmt)


@click.command("summary")
@click.option("--by", type=click.Choice(["province", "county"]), default="province",
              show_default=True, help="One row per report province, or per county.")
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="Instead: camps by status (active, closed, relocated, unknown) per province "
                   "as of DATE (YYYY, YYYY-MM or YYYY-MM-DD).")
@click.option("--all", "include_empty", is_flag=True, help="By county: list counties holding nothing too.")
@click.option("--sanctions", is_flag=True,
              help="Also count the geolocated mines under a UN measure, by commodity "
                   "(after the last resolution, or on --sanctions-on DATE).")
@sanctions_on_option
@format_option(["table", "csv", "json", "markdown"])
@click.option("--include-private", is_flag=True,
              help="Also count the layers imported with --private (left out by default: a "
                   "summary is pasted into reports).")
@source_option
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
    import atlas

    from ..formats import summary_report

    wanted = sanctions_on if sanctions_on else (True if sanctions else None)
    if wanted is not None and as_of is not None:
        raise InputError("--sanctions counts mines; --as-of counts camps: use one")
    if as_of is not None:
        if by != "province":
            raise InputError("--as-of counts camps per province only (no --by county)")
        from ..status import status_summary

        table = status_summary(as_of, gpkg)
    else:
        table = atlas.summary(by, gpkg, include_empty, sanctions=wanted, include_private=include_private)
    report = summary_report(table, fmt)
    for line in report.notes:
        ctx.progress(line)
    echo(report.text, fmt=fmt)


@click.command("show")
@click.argument("site")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table",
              show_default=True, help="Output format.")
@click.option("--layer", default=None,
              help="Resolve SITE in this layer only (e.g. camps: Yodok means the camp).")
@source_option
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
    import atlas

    from ..userlayers import banner, private_names

    gpkg = atlas.open_atlas(gpkg)  # once: every call below takes the object
    rec = atlas.record(site, gpkg, layer)
    if rec.layer in private_names(gpkg):  # an answer on this machine: a private feature, marked
        rec.meta.update(private=True, banner=banner([{"layer": rec.layer, "private": True}]))
        if fmt != "json":
            echo(f"PRIVATE: {rec.id} is in your private layer {rec.layer}; keep it on this machine.\n")
    echo(rec.format(fmt), fmt=fmt)


COMMANDS = [find_cmd, near_cmd, nearest_cmd, status_cmd, summary_cmd, show_cmd]
