"""The products: ``atlas map``, ``dossier``, ``site``, ``density``, ``province-density`` and ``chips``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .context import Context, echo, echo_err, handle_errors, pass_ctx
from .options import (
    lang_option,
    out_file_option,
    out_folder_option,
    overwrite_option,
    protect_options,
    source_option,
)


@click.command("density")
@overwrite_option
@click.option("--layer", default="mines", show_default=True, help="Point layer to count.")
@click.option("--cell-km", type=float, default=5.0, show_default=True, help="Cell size in km (> 0).")
@click.option("--bandwidth-km", type=float, default=25.0, show_default=True,
              help="Radius of the quartic kernel in km (> 0).")
@click.option("--weight", default=None, help="Numeric field to weight each point by.")
@out_file_option(help="GeoTIFF to write (default: output/mine_density.tif).")
@source_option
@pass_ctx
@handle_errors
def density_cmd(ctx: Context, layer: str, cell_km: float, bandwidth_km: float, weight: str | None,
                out: Path | None, gpkg: Path | None) -> None:
    """Write a kernel density surface (Cloud Optimized GeoTIFF, EPSG:5179) of a point layer.

    Quartic kernel of radius --bandwidth-km, edge-corrected to the DPRK
    outline, in points (or weight) per km²; the surface integrates to the
    number of points. A QGIS style (.qml) is written beside it.
    """
    import atlas

    path = atlas.density(layer=layer, cell_km=cell_km, bandwidth_km=bandwidth_km, weight=weight,
                         out=out, gpkg=gpkg)
    echo(str(path))


@click.command("province-density")
@overwrite_option
@out_file_option(help="Also write the layer province_mine_density to this GeoPackage.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@source_option
@handle_errors
def province_density_cmd(out: Path | None, as_json: bool, gpkg: Path | None) -> None:
    """The report's Table 2 mines per 1,000 km² of each province (geodesic area)."""
    import atlas

    table = atlas.province_density(gpkg=gpkg, out=out).drop(columns="geometry")
    cols = ["province_id", "name_en", "reported_mines", "area_km2", "mines_per_1000km2",
            "geolocated_mines"]
    if as_json:
        echo(json.dumps(table[cols].to_dict(orient="records"), ensure_ascii=False, indent=1), fmt="json")
        return
    echo(f"{'province':<24} {'Table 2':>7} {'area km²':>9} {'per 1,000 km²':>13} {'geolocated':>10}")
    for r in table.itertuples():
        echo(f"{r.name_en:<24} {r.reported_mines:>7} {r.area_km2:>9.1f} "
                   f"{r.mines_per_1000km2:>13.2f} {r.geolocated_mines:>10}")
    if out:
        echo(str(out))


def _say_chips(ctx: Context, result, imagery: Path) -> None:
    """The chips written on stdout; on stderr the sites left without one, and partial chips."""
    for chip in result.written:
        echo(str(chip.path))
    total = len(result.written) + len(result.outside)
    if result.outside:
        echo_err(f"atlas: {len(result.outside)} of {total} located sites are outside "
                 f"{imagery.name} (no chip):")
        for site_id, name in result.outside:
            echo_err(f"  {site_id}  {name}")
    if result.refused:
        echo_err(f"atlas: {len(result.refused)} site id(s) cannot be file names; no chip was written "
                 "for them: " + ", ".join(repr(i) for i in result.refused[:5]))
    if result.no_geometry:
        echo_err(f"atlas: {len(result.no_geometry)} site(s) have no public coordinate: "
                 + ", ".join(i for i, _ in result.no_geometry))
    partial = [c for c in result.written if c.coverage < 1.0]
    for chip in partial:
        echo_err(f"atlas: {chip.site_id}: chip only {chip.coverage:.0%} covered by the imagery")
    ctx.progress(f"{len(result.written)} chip(s) written")


@click.command("chips")
@overwrite_option
@click.argument("imagery", type=click.Path(path_type=Path))
@click.option("--sites", default="camps", show_default=True, help="Point layer of the sites.")
@click.option("--size-km", type=float, default=5.0, show_default=True, help="Side of each chip in km (> 0).")
@out_folder_option("--out", "out_dir", help="Folder of the chips (default: output/chips/).")
@click.option("--resolution-m", type=float, default=None,
              help="Pixel size of the chips (default: the imagery's own at each site).")
@click.option("--resampling", default="nearest", show_default=True,
              help="nearest keeps the imagery's values; bilinear, cubic, average, ...")
@source_option
@pass_ctx
@handle_errors
def chips_cmd(ctx: Context, imagery: Path, sites: str, size_km: float, out_dir: Path | None,
              resolution_m: float | None, resampling: str, gpkg: Path | None) -> None:
    """Cut one GeoTIFF per site from IMAGERY (any CRS, any bands), centred on the site.

    Chips are size-km squares in EPSG:5179 named <site id>.tif. Sites
    outside the imagery are listed on stderr; sites without a coordinate too.
    """
    import warnings

    import atlas

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # reported below, one line per site
        result = atlas.chips(imagery, sites=sites, size_km=size_km, out_dir=out_dir, gpkg=gpkg,
                             resolution_m=resolution_m, resampling=resampling)
    _say_chips(ctx, result, imagery)


@click.command("map")
@overwrite_option
@out_file_option(help="HTML file to write (default: output/atlas.html).")
@click.option("--online", is_flag=True,
              help="Add OpenStreetMap and Esri satellite tiles as base layers (they need a network).")
@out_file_option("--screenshot", help="Also save a PNG of the page from headless Chromium.")
@click.option("--imagery", is_flag=True,
              help="Add each site's before/after pair of shareable registered scenes, with a swipe handle.")
@protect_options
@lang_option
@source_option
@pass_ctx
@handle_errors
def map_cmd(ctx: Context, out: Path | None, online: bool, screenshot: Path | None, imagery: bool,
            include_private: bool, coarsen_km: float | None, lang: str, gpkg: Path | None) -> None:
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
    import atlas

    path = atlas.write_map(out, gpkg=gpkg, online=online, screenshot=screenshot, progress=ctx.progress,
                           include_private=include_private, coarsen_km=coarsen_km, imagery=imagery,
                           lang=lang)
    echo(str(path))
    if screenshot:
        echo(str(screenshot))


@click.command("dossier")
@overwrite_option
@click.argument("site")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder (default output/dossiers/) or .html file to write.")
@click.option("--pdf", is_flag=True, help="Also print the page to an A4 PDF beside it (WeasyPrint).")
@click.option("--km", type=float, default=25.0, show_default=True, help="Radius of the nearby list.")
@click.option("--include-private", is_flag=True,
              help="List nearby features of private user layers too. The product then says so on its face and goes to output-private/ unless --out says where.")
@lang_option
@source_option
@pass_ctx
@handle_errors
def dossier_cmd(ctx: Context, site: str, out: Path | None, pdf: bool, km: float, include_private: bool,
                lang: str, gpkg: Path | None) -> None:
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
    --lang ko writes it in Korean (docs/korean.md).
    """
    import atlas

    path = atlas.dossier(site, out=out, gpkg=gpkg, pdf=pdf, km=km, include_private=include_private, lang=lang)
    echo(str(path))
    if pdf:
        echo(str(path.with_suffix(".pdf")))


@click.command("site")
@overwrite_option
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder to write (default output/site/).")
@click.option("--include-private", is_flag=True,
              help="Include user layers imported as private. The product then says so on its face and goes to output-private/ unless --out says where.")
@click.option("--no-downloads", is_flag=True, help="Leave out the downloads (GeoPackage, GeoJSON, CSV, QGIS).")
@click.option("--since", type=str, default=None, metavar="OLD.gpkg",
              help="The previous release's GeoPackage: the Changes page then lists what changed since it "
                   "(atlas diff; private layers never compared).")
@lang_option
@source_option
@pass_ctx
@handle_errors
def site_cmd(ctx: Context, out: Path | None, include_private: bool, no_downloads: bool, since: str | None,
             lang: str, gpkg: Path | None) -> None:
    """Write the whole atlas as a static website (a folder; relative links only).

    index.html (overview map, the interactive map, a searchable and sortable
    table of every site), a dossier per camp and mine, the province summary
    (Table 2 beside the atlas's counts), the report's tables, downloads with
    licences and sha256 checksums, a Changes page (this release, the changelog,
    and with --since what changed since an earlier release) and an about
    page. Works from disk and
    from any static host; the same GeoPackage gives byte-identical files.
    Private user layers are left out unless --include-private. --lang ko
    writes the pages in Korean (the interactive map stays in English: docs/korean.md).
    """
    import atlas

    index = atlas.build_site(out, gpkg=gpkg, include_private=include_private, progress=ctx.progress,
                             with_downloads=not no_downloads, since=since, lang=lang)
    echo(str(index))


COMMANDS = [density_cmd, province_density_cmd, chips_cmd, map_cmd, dossier_cmd, site_cmd]
