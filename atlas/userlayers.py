"""A user's own layers: which there are, what each is, and which a product may hold.

A layer a user imports (``atlas import FILE --as NAME``) is stored as
``user_NAME`` beside the atlas layers, each row carrying the import's record:
the source file's name and sha256, the import time, the kind of features, and
whether it was imported as private (``--private``). This module is the
catalogue of those layers and the one gate that decides which of them a
product may hold: :func:`user_layers` (names), :func:`user_layer_records` (one
record per layer), :func:`private_layers` (the private ones among some names).
A private layer goes into no shared product unless it is asked for
(``include_private=True``); every product asks here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .store import USER_PREFIX, Atlas, open_atlas

__all__ = ["USER_PREFIX", "layer_name", "private_layers", "user_layer_records", "user_layers"]


def layer_name(name: str) -> str:
    """The stored name of a user layer: ``interviews`` and ``user_interviews`` are ``user_interviews``.

    Examples
    --------
    >>> layer_name("interviews"), layer_name("user_interviews")
    ('user_interviews', 'user_interviews')
    """
    name = str(name or "")
    return name if name.startswith(USER_PREFIX) else f"{USER_PREFIX}{name}"


def user_layer_records(gpkg: Atlas | Path | str | None = None, include_private: bool = True) -> list[dict]:
    """One record per user layer: what a product that includes it says about it.

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas; defaults to ``output/atlas.gpkg``.
    include_private : bool, default True
        Also list the layers imported with ``private=True``.

    Returns
    -------
    list of dict
        ``layer``, ``features``, ``private``, ``kind``, ``source_file``,
        ``source_sha256`` and ``imported_at``, by layer name.

    Examples
    --------
    >>> all(r["layer"].startswith("user_") for r in user_layer_records())
    True
    """
    records = open_atlas(gpkg).user_layer_records()
    return [r for r in records if include_private or not r["private"]]


def user_layers(gpkg: Atlas | Path | str | None = None, include_private: bool = True) -> list[str]:
    """Names of the user layers in the atlas.

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional
        Defaults to ``output/atlas.gpkg``.
    include_private : bool, default True
        Also the layers imported with ``private=True`` (``atlas import
        --private``), which no map, export or site includes unless asked.

    Returns
    -------
    list of str
        Layer names, each starting with ``user_``.

    Examples
    --------
    >>> import atlas
    >>> all(name.startswith("user_") for name in atlas.user_layers())
    True
    """
    a = open_atlas(gpkg)
    shown = {r["layer"] for r in user_layer_records(a, include_private)}
    return [n for n in a.layers() if n in shown]  # in the atlas's order


def private_layers(gpkg: Atlas | Path | str | None, names: Iterable[str]) -> set[str]:
    """The user layers among ``names`` imported as private (``atlas import --private``).

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str
        The atlas (a GeoPackage or a PostGIS URL).
    names : iterable of str
        Layer names.

    Returns
    -------
    set of str
    """
    wanted = {n for n in names if str(n).startswith(USER_PREFIX)}
    if not wanted:
        return set()
    return {r["layer"] for r in open_atlas(gpkg).user_layer_records() if r["private"] and r["layer"] in wanted}
