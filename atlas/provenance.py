"""What a product was made from: atlas version, build date, GeoPackage sha256, sources, user layers.

Every product a reader may cite (the map's about box, the JSON and GeoJSON of
the queries, the QGIS project's metadata, a record view) carries the block
:func:`about` returns, so a figure can be traced to the exact GeoPackage it
came from. The build date is the time the build wrote the ``sources`` table
(``gpkg_contents.last_change``, which imports into the GeoPackage leave
alone); the sha256 is that of the GeoPackage file as it is now.
"""

from __future__ import annotations

from pathlib import Path

from . import io

__all__ = ["about", "atlas_version", "build_date", "gpkg_sha256"]

_SHA_CACHE: dict[tuple, str] = {}


def atlas_version() -> str:
    """The installed atlas's version (``gulag-inc-atlas``), or ``"unknown"``.

    Examples
    --------
    >>> atlas_version().count(".") >= 1
    True
    """
    try:
        from importlib.metadata import version

        return version("gulag-inc-atlas")
    except Exception:  # run from a checkout that was never installed
        return "unknown"


def _key(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def gpkg_sha256(gpkg: Path | str | None = None) -> str:
    """The sha256 of a GeoPackage file (hex), computed once per file version.

    Parameters
    ----------
    gpkg : path, optional
        Defaults to ``output/atlas.gpkg``.

    Returns
    -------
    str

    Examples
    --------
    >>> len(gpkg_sha256())
    64
    """
    path = Path(gpkg or io.default_gpkg())
    io.list_layers(path)  # a clear error if it is missing or not a GeoPackage
    key = _key(path)
    if key not in _SHA_CACHE:
        if len(_SHA_CACHE) > 32:
            _SHA_CACHE.clear()
        _SHA_CACHE[key] = io.file_sha256(path)
    return _SHA_CACHE[key]


def build_date(gpkg: Path | str | None = None) -> str:
    """When the atlas layers of a GeoPackage were built (ISO 8601, UTC), or ``""``.

    Read from ``gpkg_contents.last_change`` of the ``sources`` table (the
    build's last layer; a user's import does not touch it), else the latest
    change of any table.

    Parameters
    ----------
    gpkg : path, optional
        Defaults to ``output/atlas.gpkg``.

    Returns
    -------
    str

    Examples
    --------
    >>> build_date()[:2]
    '20'
    """
    path = Path(gpkg or io.default_gpkg())
    io.list_layers(path)
    with io.read_only(path) as con:
        row = con.execute("SELECT last_change FROM gpkg_contents WHERE table_name = 'sources'").fetchone()
        if row is None:
            row = con.execute("SELECT max(last_change) FROM gpkg_contents").fetchone()
    return str(row[0] or "") if row else ""


def _sources(path: Path) -> list[dict]:
    names = dict(io.list_layers(path))
    if "sources" not in names:
        return []
    table = io.read_layer("sources", path)
    cols = [c for c in ("path", "origin", "licence", "attribution", "sha256") if c in table.columns]
    return table[cols].astype(str).to_dict("records")


def about(gpkg: Path | str | None = None, user_layers: list[dict] | None = None, **extra) -> dict:
    """The metadata block a product carries so that a reader can cite it.

    Parameters
    ----------
    gpkg : path, optional
        The atlas GeoPackage the product was made from (default ``output/atlas.gpkg``).
    user_layers : list of dict, optional
        The user layers the product includes (see
        :func:`atlas.importer.user_layer_records`); default: none listed.
    **extra
        More keys to carry (e.g. ``coarsen_km``).

    Returns
    -------
    dict
        ``atlas_version``, ``build_date``, ``gpkg`` (file name), ``gpkg_sha256``,
        ``sources`` (path, origin, licence, attribution, sha256 of every
        source file), ``user_layers`` and the extra keys.

    Examples
    --------
    >>> import atlas
    >>> meta = atlas.about()
    >>> sorted(meta)[:4], len(meta["gpkg_sha256"])
    (['atlas_version', 'build_date', 'gpkg', 'gpkg_sha256'], 64)
    """
    from .postgis import Database, export_stamp, is_database_url

    if is_database_url(gpkg):  # an atlas exported to PostGIS: what its export recorded
        stamp = export_stamp(gpkg)
        return {"atlas_version": atlas_version(), "build_date": stamp.get("build_date", ""),
                "gpkg": stamp.get("source", ""), "gpkg_sha256": stamp.get("sha256", ""),
                "sources": _sources(gpkg), "user_layers": list(user_layers or []),
                "database": Database.parse(gpkg).shown, **extra}
    path = Path(gpkg or io.default_gpkg())
    return {
        "atlas_version": atlas_version(),
        "build_date": build_date(path),
        "gpkg": path.name,
        "gpkg_sha256": gpkg_sha256(path),
        "sources": _sources(path),
        "user_layers": list(user_layers or []),
        **extra,
    }
