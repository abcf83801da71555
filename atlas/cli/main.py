"""The ``atlas`` group: the options every sub-command shares, and the sub-commands.

Each sub-command lives in a small module of this package, grouped by what it
does, and registers itself through that module's ``COMMANDS``:

=================  ==============================================================
``build``          build, validate, layers
``importing``      import
``queries``        find, near, nearest, inside, status, summary, show
``products``       map, dossier, site, density, province-density, chips
``export``         export
``changes``        diff, cite
``imagery``        imagery add, imagery list, compare
=================  ==============================================================
"""

from __future__ import annotations

import click

from . import build, changes, export, imagery, importing, products, queries
from .context import Context, warnings_to_stderr

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True,
              help="Time each step: progress lines say when it started (seconds since the command did).")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.version_option(package_name="gulag-inc-atlas")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Geospatial atlas of North Korea's mines and prison camps.

    Built on "Gulag, Inc." (HRNK 2016) and open, cited data. Start with
    `atlas build`, then query the layers in output/atlas.gpkg.
    """
    ctx.obj = Context(verbose, quiet)
    ctx.with_resource(warnings_to_stderr())  # for this run only: restored when it ends


for _module in (build, importing, queries, products, imagery, export, changes):
    for _command in _module.COMMANDS:
        main.add_command(_command)
