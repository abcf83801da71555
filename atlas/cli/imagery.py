"""The imagery register and comparisons: ``atlas imagery add|list`` and ``atlas compare``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .context import Context, echo, echo_err, handle_errors, pass_ctx
from .options import Source, out_folder_option, overwrite_option, source_option

#: ``imagery add`` has a ``--source`` of its own (where the scene came from): the atlas is ``--gpkg`` only.
gpkg_only_option = click.option(
    "--gpkg", "gpkg", type=Source(), default=None,
    help="Atlas whose private folder keeps the register (default: output/atlas.gpkg, register in "
         "output-private/).")


@click.group("imagery")
def imagery_group() -> None:
    """Your register of imagery scenes (kept in the private folder, output-private/).

    A scene is a georeferenced GeoTIFF/COG or JPEG 2000 file, identified by
    its sha256; it is private unless added with --shareable (docs/imagery.md).
    """


@imagery_group.command("add")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--date", "date_text", default=None, metavar="YYYY-MM-DD",
              help="Acquisition date (overrides the file's tags; required when it has none).")
@click.option("--sensor", default="", help="Sensor or satellite (default: from the file's tags).")
@click.option("--licence", default="", help="The licence the scene is held under.")
@click.option("--source", "source_text", default="", help="Where the scene came from (a provider, an order id).")
@click.option("--shareable", is_flag=True,
              help="The licence allows sharing the pixels: the map and dossier may show this scene.")
@gpkg_only_option
@pass_ctx
@handle_errors
def imagery_add_cmd(ctx: Context, file: Path, date_text: str | None, sensor: str, licence: str, source_text: str,
                    shareable: bool, gpkg) -> None:
    """Register FILE as a scene: footprint, date, sensor, resolution, licence, sha256, where it lives."""
    from ..scenes import add_scene, register_path

    scene, what = add_scene(file, date_text, sensor=sensor, licence=licence, source=source_text,
                            shareable=shareable, gpkg=gpkg)
    echo(f"{scene.short}  {scene.date}  {scene.sensor or '-'}  {scene.resolution_m:.3g} m  "
         f"{'shareable' if scene.shareable else 'private'}  {scene.name}")
    ctx.progress(f"scene {what} (date from {scene.date_from}) in {register_path(gpkg)}")


@imagery_group.command("list")
@click.argument("site", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--verify", is_flag=True,
              help="Read every file and compare its sha256 (default: its size and modification time).")
@source_option
@handle_errors
def imagery_list_cmd(site: str | None, as_json: bool, verify: bool, gpkg) -> None:
    """The registered scenes (with SITE: those covering it), oldest first, and whether each is intact."""
    from ..scenes import covering, load_register, scene_state

    scenes = load_register(gpkg)
    if site:
        from ..compare import _site_point
        from ..store import open_atlas

        site_id, name, lon, lat = _site_point(site, open_atlas(gpkg))
        scenes = covering(lon, lat, scenes)
    rows = [{"sha256": s.sha256, "date": s.date, "sensor": s.sensor, "resolution_m": s.resolution_m,
             "licence": s.licence, "shareable": s.shareable, "state": scene_state(s, full=verify), "name": s.name,
             "path": s.path} for s in scenes]
    if as_json:
        echo(json.dumps(rows, ensure_ascii=False, indent=1), fmt="json")
        return
    if site:
        echo(f"{site_id} {name}: {len(rows)} scene(s) cover it")
    for r, s in zip(rows, scenes):
        flag = "" if r["state"] == "ok" else f"  ** {r['state'].upper()}: {_state_note(r['state'])}"
        echo(f"{s.short}  {r['date']}  {r['sensor'] or '-':<12} {r['resolution_m']:>7.3g} m  "
             f"{'shareable' if r['shareable'] else 'private  '}  {r['licence'] or '-'}  {r['name']}{flag}")
    if not rows:
        echo_err("atlas: no scene registered" + (" covers it" if site else "") + " (atlas imagery add FILE)")


def _state_note(state: str) -> str:
    return {"missing": "moved or deleted; add it again where it is now",
            "altered": "changed since registered; it will not be used"}.get(state, "")


@click.command("compare")
@overwrite_option
@click.argument("site", required=False)
@click.option("--before", "before", required=True, metavar="DATE", help="The scene nearest this date is 'before'.")
@click.option("--after", "after", required=True, metavar="DATE", help="The scene nearest this date is 'after'.")
@out_folder_option("--out", help="Folder to write (default: output/compare/SITE_BEFORE_AFTER/, or "
                                 "output-private/ when a scene is private).")
@click.option("--buffer-m", type=float, default=500.0, show_default=True,
              help="Radius around the site's point in which change is measured.")
@click.option("--perimeter", metavar="AREA", default=None,
              help="Measure the change inside this polygon instead of --buffer-m: LAYER:FEATURE, e.g. "
                   "perimeters:P1 for a layer imported --as perimeters (as atlas inside reads it).")
@click.option("--threshold", type=float, default=3.0, show_default=True,
              help="Robust standard deviations of the difference past which a pixel has changed.")
@click.option("--resolution-m", type=float, default=None, help="Grid pixel size (default: the coarser scene's).")
@click.option("--all", "every", is_flag=True, help="Every site of --layer that two scenes cover (SITE not given).")
@click.option("--layer", default="camps", show_default=True, help="With --all: the point layer of the sites.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@source_option
@pass_ctx
@handle_errors
def compare_cmd(ctx: Context, site: str | None, before: str, after: str, out: Path | None, buffer_m: float,
                perimeter: str | None, threshold: float, resolution_m: float | None, every: bool, layer: str, as_json: bool, gpkg) -> None:
    """Compare SITE before and after: the pair on one grid, a difference image and the area changed.

    Picks the registered scenes covering SITE nearest each date, checks both
    against their sha256, reprojects both onto one EPSG:5179 grid around the
    site and measures the change within --buffer-m of its point, or inside
    --perimeter (docs/imagery.md states the method). Writes before.tif, after.tif,
    difference.tif, change.tif and compare.json.
    """
    from ..compare import compare, compare_all
    from ..errors import InputError

    if every == bool(site):
        raise InputError("give SITE, or --all for every site two scenes cover (not both)")
    if every and perimeter:
        raise InputError("--perimeter is one polygon: give SITE, not --all")
    if every:
        done, skipped = compare_all(before, after, layer=layer, out=out, buffer_m=buffer_m, threshold=threshold,
                                    resolution_m=resolution_m, gpkg=gpkg, progress=ctx.progress)
    else:
        done = [compare(site, before, after, out=out, buffer_m=buffer_m, threshold=threshold,
                        resolution_m=resolution_m, gpkg=gpkg, perimeter=perimeter)]
        skipped = []
    if as_json:
        echo(json.dumps([c.as_dict() for c in done] if every else done[0].as_dict(), ensure_ascii=False,
                        indent=1), fmt="json")
    else:
        for c in done:
            echo(c.summary)
            echo(f"  written: {c.out_dir}")
    for site_id, why in skipped:
        echo_err(f"atlas: {site_id}: not compared: {why}")


COMMANDS = [imagery_group, compare_cmd]
