"""``atlas build``: sources → validated layers → ``output/atlas.gpkg``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import io, schema, sources
from .errors import AtlasError
from .layers import build_layers

__all__ = ["build", "layer_summary", "validate"]


def build(
    out: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Build the atlas GeoPackage from the curated geodata.

    Verifies every source file's sha256, builds the layers, validates them,
    writes them to a temporary GeoPackage, validates that file as read back,
    and only then replaces ``out``. Any failure leaves an earlier ``out``
    untouched.

    Parameters
    ----------
    out : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.
    progress : callable, optional
        Called with a short message per step.

    Returns
    -------
    pathlib.Path
        The GeoPackage written.

    Raises
    ------
    SourceError
        A source file is missing or its sha256 differs from the manifest.
    ValidationError
        The layers break their schema (every problem is listed).

    Examples
    --------
    >>> import atlas, tempfile, pathlib
    >>> path = atlas.build(pathlib.Path(tempfile.mkdtemp()) / "atlas.gpkg")
    >>> path.name
    'atlas.gpkg'
    """
    say = progress or (lambda _msg: None)
    out = Path(out or io.default_gpkg())
    say("verifying source hashes against geodata/manifest.csv")
    sources.verify()
    say("building layers and joining provinces/counties")
    layers = build_layers()
    say("validating layers")
    schema.validate_layers(layers)
    kept = _user_layers(out)
    if kept:
        say(f"keeping {len(kept)} user layer(s) from the previous build: {', '.join(kept)}")
        layers.update(kept)
    descriptions = {n: s.description for n, s in schema.SCHEMAS.items()}
    io.write_layers(layers, out, descriptions, before_replace=validate, progress=say)
    say(f"wrote {out}")
    return out


def _user_layers(path: Path) -> dict:
    """User layers (``user_*``) of an existing GeoPackage, so a rebuild never loses them."""
    if not path.is_file():
        return {}
    try:
        names = [n for n, g in io.list_layers(path) if n.startswith("user_")]
    except AtlasError:
        return {}
    kept = {n: io.read_layer(n, path) for n in names}
    # layers imported before the private flag existed were shared: say so, explicitly
    return {n: df if "private" in df.columns else df.assign(private=False) for n, df in kept.items()}


def validate(path: Path | None = None) -> None:
    """Check a GeoPackage against the atlas layer schemas.

    Parameters
    ----------
    path : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.

    Raises
    ------
    ValidationError
        Listing every problem with its layer, feature id and field.

    Examples
    --------
    >>> import atlas
    >>> atlas.validate()  # silent when the atlas is sound
    """
    schema.validate_layers(io.read_layers(path))


def layer_summary(path: Path | None = None) -> list[dict]:
    """One row per layer: name, feature count, geometry type, sources.

    Parameters
    ----------
    path : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.

    Returns
    -------
    list of dict
        Keys ``layer``, ``features``, ``with_geometry``, ``geometry``, ``sources``.

    Examples
    --------
    >>> import atlas
    >>> {r["layer"]: r["with_geometry"] for r in atlas.layer_summary()}["camps"]
    26
    """
    rows = []
    for name, df in io.read_layers(path).items():
        geom = getattr(df, "geometry", None) if hasattr(df, "crs") else None
        with_geom = int((~(geom.isna() | geom.is_empty)).sum()) if geom is not None else 0
        gtype = None if geom is None else (geom.geom_type.dropna().iloc[0] if with_geom else "none")
        rows.append({"layer": name, "features": len(df), "with_geometry": with_geom,
                     "geometry": gtype or "table", "sources": schema.layer_source_summary(name, df)})
    return rows
