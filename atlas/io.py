"""Reading and writing the atlas GeoPackage.

Writes are atomic: layers go to a temporary file beside the target, which
replaces the target only once every layer is written (and, in
:func:`atlas.build`, validated). An interrupted or failed build leaves any
earlier file untouched.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from .errors import InputError, NotFoundError
from .sources import REPO_DIR

__all__ = [
    "atomic_path",
    "default_gpkg",
    "delete_layers",
    "list_layers",
    "output_dir",
    "read_layer",
    "read_layers",
    "write_layers",
]

#: Options every GeoPackage is written with: version 1.3, which QGIS 3.22 LTR reads without warning.
GPKG_OPTIONS = {"VERSION": "1.3"}


def output_dir() -> Path:
    """Folder of generated products: ``$ATLAS_OUTPUT`` or ``output/`` beside the package."""
    return Path(os.environ.get("ATLAS_OUTPUT", REPO_DIR / "output"))


def default_gpkg() -> Path:
    """The GeoPackage that queries read when none is given.

    Returns
    -------
    pathlib.Path
        ``output/atlas.gpkg`` (or ``$ATLAS_OUTPUT/atlas.gpkg``).

    Examples
    --------
    >>> import atlas
    >>> atlas.default_gpkg().name
    'atlas.gpkg'
    """
    return output_dir() / "atlas.gpkg"


@contextmanager
def atomic_path(target: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=suffix or target.suffix,
                               dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        for leftover in (tmp_path, Path(f"{tmp_path}-journal"), Path(f"{tmp_path}-wal")):
            if leftover.exists():
                leftover.unlink()


def _date_fields(df: pd.DataFrame, name: str) -> tuple[pd.DataFrame, dict]:
    """Fields the schema declares ``date`` as Arrow dates, so GDAL writes GeoPackage ``DATE``.

    pyogrio writes a pandas column as ``DATETIME`` at best; through Arrow a
    ``date32`` column becomes a ``DATE`` field (ISO ``YYYY-MM-DD`` text, any
    year, 1967 included). Returns the frame and the write options.
    """
    from .schema import schema_for

    schema = schema_for(name)
    dates = [f.name for f in (schema.fields if schema else ()) if f.kind == "date" and f.name in df]
    if not dates:
        return df, {}
    import pyarrow as pa

    df = df.copy()
    for col in dates:
        days = [None if v is None or (isinstance(v, float) and pd.isna(v)) or str(v) == ""
                else date.fromisoformat(str(v)[:10]) for v in df[col]]
        df[col] = pd.array(days, dtype=pd.ArrowDtype(pa.date32()))
    return df, {"use_arrow": True}


def _write_one(df: pd.DataFrame, path: Path, name: str, description: str = "") -> None:
    df, arrow = _date_fields(df, name)
    opts = {"dataset_options": GPKG_OPTIONS, **arrow} if not path.exists() else dict(arrow)
    layer_opts = {"DESCRIPTION": description} if description else {}
    if isinstance(df, gpd.GeoDataFrame):
        geom_type = df.geometry.geom_type.dropna()
        pyogrio.write_dataframe(
            df, path, layer=name, driver="GPKG", promote_to_multi=False,
            geometry_type=(geom_type.iloc[0] if len(geom_type) else "Point"),
            layer_options=layer_opts, **opts,
        )
    else:
        pyogrio.write_dataframe(df, path, layer=name, driver="GPKG",
                                layer_options=layer_opts, **opts)


def write_layers(
    layers: dict[str, pd.DataFrame],
    path: Path,
    descriptions: dict[str, str] | None = None,
    before_replace: Callable[[Path], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write layers to a GeoPackage 1.3, atomically.

    Parameters
    ----------
    layers : dict of str to (Geo)DataFrame
        Layers (GeoDataFrames) and attribute tables (DataFrames).
    path : pathlib.Path
        The GeoPackage to write; replaced only once all is written.
    descriptions : dict of str to str, optional
        A description per layer (``gpkg_contents.description``).
    before_replace : callable, optional
        Called with the temporary path after writing; raising aborts the
        write and leaves ``path`` untouched (used to validate the result).
    progress : callable, optional
        Called with a message per layer written.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    descriptions = descriptions or {}
    with atomic_path(Path(path)) as tmp:
        for name, df in layers.items():
            if progress:
                progress(f"writing {name} ({len(df)} rows)")
            _write_one(df, tmp, name, descriptions.get(name, ""))
        if before_replace:
            before_replace(tmp)
    return Path(path)


def _existing(path: Path | None) -> Path:
    path = Path(path or default_gpkg())
    if not path.is_file():
        hint = " (run `atlas build` first)" if path == default_gpkg() else ""
        raise NotFoundError(f"no GeoPackage at {path}{hint}")
    return path


def list_layers(path: Path | None = None) -> list[tuple[str, str | None]]:
    """Names and geometry types of the layers in a GeoPackage.

    Parameters
    ----------
    path : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.

    Returns
    -------
    list of (str, str or None)
        ``None`` as geometry type marks an attribute table.

    Examples
    --------
    >>> import atlas
    >>> ("camps", "Point") in atlas.list_layers()
    True
    """
    path = _existing(path)
    try:
        return [(str(n), None if g is None else str(g)) for n, g in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises DataSourceError for non-GeoPackage files
        raise InputError(f"{path} is not a readable GeoPackage: {exc}") from exc


def read_layer(name: str, path: Path | None = None) -> pd.DataFrame:
    """Read one layer (a GeoDataFrame) or attribute table (a DataFrame).

    Parameters
    ----------
    name : str
        Layer name, e.g. ``"camps"``.
    path : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.

    Returns
    -------
    geopandas.GeoDataFrame or pandas.DataFrame

    Examples
    --------
    >>> import atlas
    >>> len(atlas.read_layer("provinces"))
    10
    """
    path = _existing(path)
    names = dict(list_layers(path))
    if name not in names:
        raise NotFoundError(f"no layer {name!r} in {path}", sorted(names)[:5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if names[name] is None:
            return pyogrio.read_dataframe(path, layer=name, read_geometry=False,
                                          datetime_as_string=True)
        return pyogrio.read_dataframe(path, layer=name, datetime_as_string=True)


def read_layers(path: Path | None = None) -> dict[str, pd.DataFrame]:
    """Read every layer of a GeoPackage, keyed by name.

    Parameters
    ----------
    path : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.

    Returns
    -------
    dict of str to (Geo)DataFrame

    Examples
    --------
    >>> import atlas
    >>> len(atlas.read_layers()["mines"])
    35
    """
    path = _existing(path)
    return {name: read_layer(name, path) for name, _ in list_layers(path)}


def delete_layers(path: Path, names: list[str]) -> None:
    """Remove layers from a GeoPackage in place, leaving no trace of their data in the file.

    Drops each table with its spatial index and its rows in the GeoPackage's
    own tables (contents, geometry columns, extensions, feature counts,
    styles), then ``VACUUM`` so that the deleted rows do not linger in free
    pages of the file (a copy of it is then safe to share). Work on a copy
    (:func:`atomic_path`) to make it atomic.

    Parameters
    ----------
    path : pathlib.Path
        A GeoPackage.
    names : list of str
        Layer names; unknown names are ignored.
    """
    import sqlite3

    con = sqlite3.connect(str(path))
    try:
        known = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        with con:
            for name in names:
                if name not in known:
                    continue
                geom_cols = [r[0] for r in con.execute(
                    "SELECT column_name FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)",
                    (name,))]
                for meta in ("gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents",
                             "gpkg_metadata_reference", "gpkg_data_columns", "gpkg_contents"):
                    if meta in tables:
                        con.execute(f"DELETE FROM {meta} WHERE lower(table_name) = lower(?)", (name,))
                if "layer_styles" in tables:
                    con.execute("DELETE FROM layer_styles WHERE lower(f_table_name) = lower(?)", (name,))
                quoted = name.replace('"', '""')
                for col in geom_cols:
                    rtree = f"rtree_{name}_{col}".replace('"', '""')
                    con.execute(f'DROP TABLE IF EXISTS "{rtree}"')
                con.execute(f'DROP TABLE IF EXISTS "{quoted}"')
        con.execute("VACUUM")
    finally:
        con.close()
