"""The ``atlas`` command: one sub-command per public function.

Errors the atlas raises on purpose (:class:`atlas.errors.AtlasError`) print a
one-line-per-problem message on stderr and exit with the error's code (2 for
bad input, 1 for failed checks); never a traceback. A conflict between
options is such an error too (:class:`atlas.errors.InputError`, exit 2), said
in the same ``atlas: error:`` line whether the command line or the function
below it finds it.

The package follows rasterio's ``rio``: :mod:`~atlas.cli.main` holds the
group, :mod:`~atlas.cli.options` the shared options, and one small module per
group of sub-commands only parses options and prints what the public API
returns (the words around a result come from the API too, e.g.
:func:`atlas.distance.near_report`). :mod:`~atlas.cli.context` carries what
one run has done (folders created, files replaced), so runs in one process
never share state. Importing this package loads click and nothing heavy:
``atlas --help`` needs no geopandas.
"""

from .main import main

__all__ = ["main"]
