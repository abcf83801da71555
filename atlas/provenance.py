"""What a product was made from: atlas version, build date, GeoPackage sha256, sources, user layers.

Every product a reader may cite (the map's about box, the JSON and GeoJSON of
the queries, the QGIS project's metadata, a record view) carries the block
:func:`about` returns, so a figure can be traced to the exact GeoPackage it
came from. The build date is the time the build wrote the ``sources`` table
(``gpkg_contents.last_change``, which imports into the GeoPackage leave
alone); the sha256 is that of the public GeoPackage file as it is now: the
file a reader can get (the site ships it) and check, which never holds a
private layer (:func:`atlas.store.private_store`), so that importing, changing
or dropping one never changes the citation. A product that holds private
layers (asked for) names the private store's sha256 apart, and its banner.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .store import Atlas, open_atlas
from .userlayers import banner

__all__ = ["about", "atlas_version", "build_date", "citation_block", "gpkg_sha256", "release_id"]


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


def gpkg_sha256(gpkg: Atlas | Path | str | None = None) -> str:
    """The sha256 of a GeoPackage file (hex), computed once per file version.

    Parameters
    ----------
    gpkg : Atlas or path, optional
        Defaults to ``output/atlas.gpkg``.

    Returns
    -------
    str

    Examples
    --------
    >>> len(gpkg_sha256())
    64
    """
    return open_atlas(gpkg).sha256


def build_date(gpkg: Atlas | Path | str | None = None) -> str:
    """When the atlas layers of a GeoPackage were built (ISO 8601, UTC), or ``""``.

    Read from ``gpkg_contents.last_change`` of the ``sources`` table (the
    build's last layer; a user's import does not touch it), else the latest
    change of any table.

    Parameters
    ----------
    gpkg : Atlas or path, optional
        Defaults to ``output/atlas.gpkg``.

    Returns
    -------
    str

    Examples
    --------
    >>> build_date()[:2]
    '20'
    """
    return open_atlas(gpkg).build_date


def _sources(a: Atlas) -> list[dict]:
    if not a.has("sources"):
        return []
    table = a.layer("sources")
    cols = [c for c in ("path", "origin", "licence", "attribution", "sha256") if c in table.columns]
    return table[cols].astype(str).to_dict("records")


def release_id(version: str, sources) -> tuple[str, str]:
    """The id of a release: the version and a digest of the data, never a counter or the clock.

    The digest is the sha256 of the source files' paths and sha256s (the
    ``sources`` table, sorted by path), so the same code and the same curated
    data give the same id, and a data correction gives a new one.

    Parameters
    ----------
    version : str
        The atlas version (:func:`atlas_version`).
    sources : pandas.DataFrame
        The ``sources`` table (``path``, ``sha256``).

    Returns
    -------
    (str, str)
        The release id (``0.1.0+data.3f2a9c1b7e4d``) and the full data digest.

    Examples
    --------
    >>> import pandas as pd
    >>> a = release_id("0.1.0", pd.DataFrame({"path": ["b", "a"], "sha256": ["2", "1"]}))
    >>> a == release_id("0.1.0", pd.DataFrame({"path": ["a", "b"], "sha256": ["1", "2"]}))
    True
    >>> a[0].startswith("0.1.0+data."), a == release_id("0.1.0", pd.DataFrame({"path": ["a"], "sha256": ["1"]}))
    (True, False)
    """
    lines = sorted(f"{p}\t{h}" for p, h in zip(sources["path"].astype(str), sources["sha256"].astype(str)))
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return f"{version}+data.{digest[:12]}", digest


def about(gpkg: Atlas | Path | str | None = None, user_layers: list[dict] | None = None, **extra) -> dict:
    """The metadata block a product carries so that a reader can cite it.

    Parameters
    ----------
    gpkg : Atlas or path, optional
        The atlas the product was made from (default ``output/atlas.gpkg``), or
        a PostGIS URL (what its export recorded).
    user_layers : list of dict, optional
        The user layers the product includes (see
        :func:`atlas.userlayers.records`); default: none listed.
    **extra
        More keys to carry (e.g. ``coarsen_km``).

    Returns
    -------
    dict
        ``atlas_version``, ``build_date``, ``release`` (the release id the
        GeoPackage was built as, :func:`release_id`), ``gpkg`` (file name), ``gpkg_sha256``
        (of the public GeoPackage), ``sources`` (path, origin, licence,
        attribution, sha256 of every source file), ``user_layers`` and the
        extra keys; when a listed user layer is private, also
        ``private_gpkg``, ``private_gpkg_sha256`` (the private store, cited
        apart) and ``banner``.

    Examples
    --------
    >>> import atlas
    >>> meta = atlas.about()
    >>> sorted(meta)[:4], len(meta["gpkg_sha256"])
    (['atlas_version', 'build_date', 'gpkg', 'gpkg_sha256'], 64)
    """
    a = open_atlas(gpkg)
    out = {
        "atlas_version": atlas_version(),
        "build_date": a.build_date,
        "release": a.release.get("release", ""),
        "gpkg": a.file_name,
        "gpkg_sha256": a.sha256,
        "sources": _sources(a),
        "user_layers": list(user_layers or []),
    }
    if a.path is None:  # an atlas exported to PostGIS: the database it was read from, password masked
        out["database"] = a.shown
    if any(u.get("private") for u in out["user_layers"]):  # asked for: said on its face, cited apart
        cited = a.with_private().private_citation() or {}
        out.update(private_gpkg=cited.get("gpkg", ""), private_gpkg_sha256=cited.get("gpkg_sha256", ""),
                   banner=banner(out["user_layers"]))
    return {**out, **extra}


#: What every JSON answer carries to be cited: the atlas and the public GeoPackage it was read from.
CITATION_KEYS = ("atlas_version", "build_date", "release", "gpkg", "gpkg_sha256", "database")


def citation_block(gpkg: Atlas | Path | str | None = None) -> dict:
    """The citation block of a query's JSON answer: :func:`about` without the source-file list.

    Examples
    --------
    >>> import atlas
    >>> sorted(citation_block())[:3]
    ['atlas_version', 'build_date', 'gpkg']
    """
    meta = about(gpkg)
    return {k: meta[k] for k in CITATION_KEYS if k in meta}
