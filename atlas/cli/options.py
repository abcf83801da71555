"""Options shared by the sub-commands of ``atlas`` (rasterio's ``rio`` keeps its own the same way).

Each is a decorator: ``@source_option`` (``--gpkg/--source``), ``@gpkg_file_option``,
``@format_option(choices)``, ``@columns_option``, the three kinds of ``--out``
(:func:`out_file_option`, :func:`out_folder_option`, :func:`out_target_option`, all
checked by :mod:`atlas.outputs` while the options are parsed, before any work),
``@protect_options`` (``--include-private``, ``--coarsen-km``), ``@lang_option``
(``--lang en|ko``) and the ``--sanctions`` pair. Nothing here imports more than click: ``atlas --help``
stays fast.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

from ..errors import OutputError
from ..i18n import DEFAULT_LANG, LANGS
from .context import echo, state

__all__ = [
    "QUERY_FORMATS",
    "Source",
    "answer_out_option",
    "columns_option",
    "format_option",
    "gpkg_file_option",
    "out_file_option",
    "out_folder_option",
    "out_target_option",
    "overwrite_option",
    "protect_options",
    "sanctions_on_option",
    "source_option",
]

#: The formats of a query's result (find, near, nearest).
QUERY_FORMATS = ["table", "csv", "json", "geojson"]


class Source(click.ParamType):
    """A GeoPackage path, or a ``postgresql://`` URL of an atlas exported to PostGIS (kept as text)."""

    name = "PATH|URL"

    def convert(self, value, param, ctx):
        from ..database import is_database_url

        if value is None or isinstance(value, Path) or is_database_url(value):
            return value
        return Path(value)


source_option = click.option(
    "--gpkg", "--source", "gpkg", type=Source(), default=None,
    help="Atlas to read: a GeoPackage (default: output/atlas.gpkg) or an atlas exported to "
         "PostGIS, postgresql://user@host/dbname?schema=atlas.",
)
#: For the commands that write into the GeoPackage (import): a file, never a database.
gpkg_file_option = click.option(
    "--gpkg", type=click.Path(path_type=Path), default=None,
    help="Atlas GeoPackage to write into (default: output/atlas.gpkg).",
)


lang_option = click.option(
    "--lang", type=click.Choice(LANGS), default=DEFAULT_LANG, show_default=True,
    help="Language of the pages' interface (headings, labels, notes, dates): en or ko (Korean; names in "
         "Hangul first where the data has Hangul). Data values stay as the sources give them.")


def format_option(choices, help: str = "Output format."):
    """``--format`` (into the argument ``fmt``), one of ``choices``, default ``table``."""
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default="table",
                        show_default=True, help=help)


columns_option = click.option(
    "--columns", default=None, metavar="A,B,...",
    callback=lambda ctx, param, value: [c.strip() for c in value.split(",") if c.strip()] if value else None,
    help="Only these columns, in this order (any column of the layer; csv, json and geojson carry "
         "every column by default).")

_SANCTIONS_ON_HELP = "The day for --sanctions (YYYY-MM-DD); implies --sanctions."
sanctions_on_option = click.option("--sanctions-on", "sanctions_on", default=None, metavar="DATE",
                                   help=_SANCTIONS_ON_HELP)


def overwrite_option(func):
    """--overwrite: replace files of the same name that the atlas did not write (:mod:`atlas.owned`)."""

    @click.option("--overwrite", is_flag=True,
                  help="Replace files of the same name that the atlas did not write, or that were "
                       "changed since (by default it stops before writing anything and names them).")
    @functools.wraps(func)
    def wrapper(*args, overwrite: bool, **kwargs):
        from ..owned import overwriting

        with overwriting(overwrite):
            return func(*args, **kwargs)

    return wrapper


def protect_options(func):
    """--include-private and --coarsen-km: what a shared product may hold of the user's layers."""
    func = click.option("--coarsen-km", type=float, default=None, metavar="N",
                        help="Snap the points of user layers to the centres of an N-km grid "
                             "(recorded in the product's metadata).")(func)
    return click.option("--include-private", is_flag=True,
                        help="Also include user layers imported with --private (left out by default)."
                             " The product then says so on its face and goes to output-private/ unless --out says where.")(func)


# --- --out: checked by atlas.outputs before any work; a folder made for it is said or removed ---


def _out_file(ctx: click.Context, param: click.Parameter, value):
    """Refuse an --out that is empty, a directory, a device or read-only (before any work)."""
    if value is None:
        return None
    from ..outputs import check_output_file

    try:
        path = check_output_file(value, "--out")
        state(ctx).make_folder(path.parent)
    except OutputError as exc:
        raise click.BadParameter(str(exc)) from None
    return path


def _out_target(ctx: click.Context, param: click.Parameter, value):
    """An output that may be a folder or a file: refuse '', devices and read-only targets."""
    if value is None:
        return None
    from ..outputs import check_output_target

    try:
        return check_output_target(value, "--out")
    except OutputError as exc:
        raise click.BadParameter(str(exc)) from None


def _out_folder(ctx: click.Context, param: click.Parameter, value):
    """An output folder: refuse '' and anything in the way that is not a writable folder."""
    if value is None:
        return None
    from ..outputs import check_output_folder

    try:
        path = check_output_folder(value, "--out")
        state(ctx).make_folder(path)
    except OutputError as exc:
        raise click.BadParameter(str(exc)) from None
    return path


def out_file_option(*names: str, help: str):
    """An output file (``--out`` unless ``names`` say otherwise), its folder made if missing."""
    return click.option(*(names or ("--out",)), type=str, default=None, callback=_out_file, help=help)


def out_folder_option(*names: str, help: str):
    """An output folder, made if missing."""
    return click.option(*(names or ("--out",)), type=str, default=None, callback=_out_folder, help=help)


def out_target_option(*names: str, help: str):
    """An output that is a folder or one file, decided by the command."""
    return click.option(*(names or ("--out",)), type=str, default=None, callback=_out_target, help=help)


def answer_out_option(func):
    """``--out FILE`` (and ``--overwrite``) of a query: its answer written to a file (:func:`emit`)."""
    func = overwrite_option(func)
    return out_file_option(help="Write the answer to this file instead of standard output (a CSV file gets a "
                                "byte-order mark and CRLF line ends, as Excel wants; an empty answer says why "
                                "in FILE.note.txt beside it).")(func)


def emit(text: str, fmt: str, out: Path | None, empty_note: str | None = None) -> None:
    """Print a query's answer, or write it to ``--out FILE`` (:func:`atlas.formats.write_answer`) and
    print the file names."""
    if out is None:
        echo(text, fmt=fmt)  # safe for a terminal; data formats exact (atlas.cli.context.echo)
        return
    from ..formats import write_answer

    for path in write_answer(out, text, fmt, empty_note):
        echo(str(path))
