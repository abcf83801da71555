"""The queries: ``atlas find``, ``near``, ``nearest``, ``inside``, ``status``, ``summary`` and ``show``.

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
from .options import (
    QUERY_FORMATS,
    answer_out_option,
    columns_option,
    emit,
    format_option,
    sanctions_on_option,
    source_option,
)


@click.command("find")
@click.argument("query")
@click.option("--layer", "layers", multiple=True,
              help="Search only this layer (repeatable): camps, mines, named_mines, counties, "
                   "provinces, mineral_deposits or a user_ layer.")
@format_option(QUERY_FORMATS)
@click.option("--no-fuzzy", is_flag=True, help="Fail instead of listing names close in spelling.")
@answer_out_option
@source_option
@handle_errors
def find_cmd(query: str, layers: tuple[str, ...], fmt: str, no_fuzzy: bool, out: Path | None,
             gpkg: Path | None) -> None:
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
    from ..provenance import citation_block

    meta = {"query": query, "candidates": len(hits), **citation_block(gpkg)}
    cols = ["layer", "id", "name", "kind", "match", "score", "province", "county", "precision"]
    head = [f"{len(hits)} candidate(s) for {query!r}, best first:"]
    foot = []
    private = hits["layer"].isin(private_names(gpkg))
    if private.any():  # an answer on this machine: private rows marked
        hits = mark_private(hits, private, at=1)
        cols.insert(1, "private")
        foot = ["", PRIVATE_NOTE]
    emit(format_table(hits, fmt, cols, header=head, footer=foot, meta=meta), fmt, out)


def _print_near(result, fmt: str, gpkg, columns: list[str] | None, out: Path | None = None) -> None:
    from ..distance import near_report

    report = near_report(result, fmt, gpkg, columns)
    for line in report.notes:
        echo_err(f"atlas: {line}")
    why = near_report(result, "table", gpkg, columns).text if out is not None and not len(result) else None
    emit(report.text, fmt, out, why)


_NEAR_LAYER_HELP = "Layer to search: mines, named_mines, camps, mineral_deposits, counties or a user_ layer."
_FROM = click.option("--from", "from_points", type=click.Choice(["site", "all"]), default="site", show_default=True,
                     help="all: measure from every published coordinate of the site (a camp's point and each "
                          "coordinate candidate); the answer says which point gave each distance.")


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
@click.option("--status-as-of", "status_as_of", default=None, metavar="DATE",
              help="Add each camp's or mine's status on DATE (active, closed, relocated, contested, "
                   "unknown; the rule of 'atlas status').")
@click.option("--status", "keep_status", multiple=True,
              type=click.Choice(["active", "closed", "relocated", "contested", "unknown"]),
              help="Keep only features with this status (repeatable); on --status-as-of DATE, "
                   "else on the atlas's build date.")
@_FROM
@format_option(QUERY_FORMATS)
@columns_option
@answer_out_option
@source_option
@handle_errors
def near_cmd(site: str, km: float, layer: str, site_layer: str | None, sanctions: bool,
             sanctions_on: str | None, status_as_of: str | None, keep_status: tuple[str, ...], from_points: str,
             fmt: str, columns: list[str] | None, out: Path | None, gpkg: Path | None) -> None:
    """Every feature of a layer within --km of SITE, nearest first.

    SITE is resolved like `atlas find` and must be unambiguous (exit code 2
    lists the candidates otherwise). Distances are geodesic (WGS 84); the
    output states how precise the site's own location is. With --sanctions,
    each mine also shows the UN measure on its commodities (as in
    atlas.sanctions_status). With --status-as-of DATE, each camp's or mine's
    status on that day (--status active keeps only those).
    """
    import atlas

    gpkg = atlas.open_atlas(gpkg)  # once: every call below takes the object
    result = atlas.near(site, km=km, layer=layer, gpkg=gpkg, site_layer=site_layer, from_points=from_points)
    if sanctions or sanctions_on:
        from ..sanctions import with_sanctions

        result = with_sanctions(result, sanctions_on, gpkg)
    if status_as_of or keep_status:
        from ..status import with_status

        result = with_status(result, status_as_of, gpkg, keep_status)
    _print_near(result, fmt, gpkg, columns, out)


@click.command("nearest")
@click.argument("site")
@click.option("--layer", default="mines", show_default=True, help=_NEAR_LAYER_HELP)
@click.option("-k", "k", type=int, default=5, show_default=True, help="How many features.")
@click.option("--site-layer", default=None, help="Resolve SITE in this layer only.")
@_FROM
@format_option(QUERY_FORMATS)
@columns_option
@answer_out_option
@source_option
@handle_errors
def nearest_cmd(site: str, layer: str, k: int, site_layer: str | None, from_points: str, fmt: str,
                columns: list[str] | None, out: Path | None, gpkg: Path | None) -> None:
    """The k features of a layer nearest SITE, on the ellipsoid."""
    import atlas

    gpkg = atlas.open_atlas(gpkg)  # once: every call below takes the object
    result = atlas.nearest(site, layer=layer, k=k, gpkg=gpkg, site_layer=site_layer, from_points=from_points)
    _print_near(result, fmt, gpkg, columns, out)


@click.command("inside")
@click.argument("area")
@click.option("--layer", "layers", multiple=True,
              help="Look in this layer (repeatable, or comma-separated); default camps, mines and named_mines. "
                   "Any layer with geometry: a user_ layer of footprints, mineral_deposits.")
@click.option("--findings", is_flag=True,
              help="List the dated findings of the camps and mines inside instead of the features.")
@click.option("--count", is_flag=True, help="Only how many features of each layer lie inside each area.")
@format_option(QUERY_FORMATS)
@answer_out_option
@source_option
@handle_errors
def inside_cmd(area: str, layers: tuple[str, ...], findings: bool, count: bool, fmt: str, out: Path | None,
               gpkg: Path | None) -> None:
    """What lies inside AREA: the camps, mines and findings within a polygon.

    AREA is LAYER:FEATURE, a polygon named by its id or name
    (perimeters:P1 for a user layer imported --as perimeters,
    counties:Kaechon), or LAYER alone: each of its polygons, every row
    saying which. A point inside or on the boundary counts; a line or
    polygon counts when it meets the area. Each camp and mine shows how many
    dated findings it has; --findings lists them.
    """
    import atlas

    from ..formats import format_table
    from ..provenance import citation_block

    gpkg = atlas.open_atlas(gpkg)
    names = [n.strip() for v in layers for n in v.split(",") if n.strip()] or None
    result = atlas.inside(area, names, gpkg)
    areas = result.attrs["areas"]
    meta = {"area": area, "areas": len(areas), "features": len(result), **citation_block(gpkg)}
    head = [f"{len(result)} feature(s) inside {area} ({len(areas)} area(s)); {result.attrs['method']}."]
    if count:
        import pandas as pd

        looked = result.attrs["layers"]
        every = pd.MultiIndex.from_product([areas, looked], names=["area_id", "layer"])  # zeros too
        table = (result.assign(area_id=result["area_id"].astype(str)).groupby(["area_id", "layer"]).size()
                 .reindex(every, fill_value=0).rename("features").reset_index())
        emit(format_table(table, "json" if fmt == "geojson" else fmt, header=head, meta=meta), fmt, out)
        return
    if findings:
        table = result.attrs["findings"]
        cols = [c for c in ("finding_id", "site_id", "date_start", "finding_type", "status_signal", "description")
                if c in table.columns]
        head = [f"{len(table)} finding(s) of the {result['id'].nunique()} camp(s) and mine(s) inside {area}:"]
        emit(format_table(table, "json" if fmt == "geojson" else fmt, cols, header=head, meta=meta), fmt, out)
        return
    cols = ["area_id", "layer", "id", "name", "kind", "county", "precision", "findings"]
    foot = [] if len(result) else [f"Nothing of {', '.join(names or ['camps', 'mines', 'named_mines'])} "
                                   f"lies inside {area}."]
    emit(format_table(result, fmt, cols, header=head, footer=foot, meta=meta), fmt, out)


@click.command("status")
@click.argument("site", required=False)
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="YYYY, YYYY-MM or YYYY-MM-DD (a month or year means its last day); "
                   "default: the atlas's build date (stated below the table).")
@click.option("--explain", is_flag=True,
              help="With SITE: every finding of the site, whether it counts on the day and why, "
                   "then the rule that decided.")
@click.option("--layer", "layer", type=click.Choice(["camps", "mines", "named_mines"]), default=None,
              help="Resolve SITE in this layer only; without SITE, list this layer (default camps).")
@format_option(["table", "csv", "json"])
@answer_out_option
@source_option
@handle_errors
def status_cmd(site: str | None, as_of: str | None, explain: bool, layer: str | None, fmt: str,
               out: Path | None, gpkg: Path | None) -> None:
    """Every camp's status on a day (or one camp's or mine's, with its findings).

    active, closed, relocated, contested or unknown, by the rule of
    docs/evidence.md: only dated, stated findings count (hedged and undated
    ones never decide); an 'active' finding counts until 5 years after its
    last day unless a later closure or hedged doubt ends it; a closure or
    relocation from its last day on; findings that disagree make the day
    'contested'; nothing counting is 'unknown', never 'active'. SITE may be a
    camp or a mine (M016); a name that fits both is ambiguous (exit code 2).
    """
    import atlas

    from ..formats import status_report

    if explain and not site:
        raise InputError("--explain explains one site: give SITE")
    gpkg = atlas.open_atlas(gpkg)  # once: every call below takes the object
    one = atlas.status_at(site, as_of, gpkg, layers=[layer] if layer else None) if site else None
    if one is not None:
        table = atlas.status_table(one.as_of, gpkg, sites=[one.site_id], layer=one.layer)
    else:
        table = atlas.status_table(as_of, gpkg, layer=layer or "camps")
    from ..provenance import citation_block

    table.attrs.update(citation_block(gpkg))  # what a JSON answer cites
    cited = _scenes_cited(one, gpkg) if explain and one is not None else []
    if cited and fmt == "json":
        table.attrs["scenes_cited"] = cited
    text = status_report(table, fmt, one if fmt in ("table", "json") else None, explain).text
    if cited and fmt == "table":
        from ..redact import terminal_text
        from ..scenes import citations_text

        text += "\n\n" + terminal_text(citations_text(cited))
    emit(text, fmt, out)


def _scenes_cited(one, gpkg) -> list[dict]:
    """The scenes the site's findings cite (docs/imagery.md), looked up in this machine's register."""
    from ..scenes import site_citations
    from ..status import FINDINGS
    from ..userlayers import gate

    return site_citations(one.site_id, gate(gpkg, "status").atlas, FINDINGS.get(one.layer, "camp_findings"))


@click.command("summary")
@click.option("--by", type=click.Choice(["province", "county"]), default="province",
              show_default=True, help="One row per report province, or per county.")
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="Instead: camps by status (active, closed, relocated, contested, unknown) per "
                   "province as of DATE (YYYY, YYYY-MM or YYYY-MM-DD). Without it, the camp columns "
                   "count statuses as of the atlas's build date, stated above the table.")
@click.option("--all", "include_empty", is_flag=True, help="By county: list counties holding nothing too.")
@click.option("--sanctions", is_flag=True,
              help="Also count the geolocated mines under a UN measure, by commodity "
                   "(after the last resolution, or on --sanctions-on DATE).")
@sanctions_on_option
@format_option(["table", "csv", "json", "markdown"])
@click.option("--include-private", is_flag=True,
              help="Also count the layers imported with --private (left out by default: a "
                   "summary is pasted into reports).")
@answer_out_option
@source_option
@pass_ctx
@handle_errors
def summary_cmd(ctx: Context, by: str, as_of: str | None, include_empty: bool, sanctions: bool,
                sanctions_on: str | None, fmt: str, include_private: bool, out: Path | None,
                gpkg: Path | None) -> None:
    """The report's Table 2 beside the atlas's geolocated features, by province or county.

    reported_mines and reported_share_pct reproduce Table 2; the other
    columns count the atlas's features by spatial join against the
    GeoPackage's boundaries, whose source and vintage are stated below the table.
    With --as-of DATE: camps by status per province as of that date (see
    'atlas status --help' for the rule).
    """
    import atlas

    from ..formats import summary_report

    gpkg = atlas.open_atlas(gpkg)  # once: every call below takes the object
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
    from ..provenance import citation_block

    table.attrs.update(citation_block(gpkg))  # what a JSON answer cites: the public GeoPackage
    report = summary_report(table, fmt)
    for line in report.notes:
        ctx.progress(line)
    emit(report.text, fmt, out)


@click.command("show")
@click.argument("site")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table",
              show_default=True, help="Output format.")
@click.option("--site-layer", "layer", default=None,
              help="Resolve SITE in this layer only (e.g. camps: Yodok means the camp), as in near.")
@click.option("--layer", "old_layer", default=None, hidden=True,
              help="The old name of --site-layer, kept until the next release.")
@source_option
@handle_errors
def show_cmd(site: str, fmt: str, layer: str | None, old_layer: str | None, gpkg: Path | None) -> None:
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

    if old_layer is not None:  # one option name per meaning: --layer names the layer to search or count
        echo_err("atlas: show --layer is now --site-layer (as in near and nearest); the old name works "
                 "until the next release")
        layer = layer or old_layer
    gpkg = atlas.open_atlas(gpkg)  # once: every call below takes the object
    rec = atlas.record(site, gpkg, layer)
    if rec.layer in private_names(gpkg):  # an answer on this machine: a private feature, marked
        rec.meta.update(private=True, banner=banner([{"layer": rec.layer, "private": True}]))
        if fmt != "json":
            echo(f"PRIVATE: {rec.id} is in your private layer {rec.layer}; keep it on this machine.\n")
    echo(rec.format(fmt), fmt=fmt)


COMMANDS = [find_cmd, near_cmd, nearest_cmd, inside_cmd, status_cmd, summary_cmd, show_cmd]
