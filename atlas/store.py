"""Which atlas? One object for the atlas a command reads: a GeoPackage file, or a schema in PostGIS.

:func:`open_atlas` turns what a user gives (``None`` for ``output/atlas.gpkg``,
a GeoPackage path, a ``postgresql://`` URL, or an :class:`Atlas` already open)
into an :class:`Atlas`: the file is admitted once (:func:`atlas.admit.admit_gpkg`:
never a VRT), the URL parsed once (its password masked wherever it is shown).
Every public function opens its ``gpkg``/``source`` argument once, at the top,
and passes the object down; nothing below asks "which atlas?" again.

The object answers what the rest of the atlas asks of a store: its layers and
their geometry types (:meth:`Atlas.layers`), a layer read once and shared
(:meth:`Atlas.layer`) or read fresh (:meth:`Atlas.read`), its provenance
(:attr:`Atlas.sha256`, :attr:`Atlas.build_date`), its user layers' records
(:meth:`Atlas.user_layer_records`), and a memo in which the queries keep what
they build once per atlas (the name index, spatial indexes, admin units):
:meth:`Atlas.memo`. An atlas is identified by what it is now (a file's path,
size, modification time and inode; an export's stamp), so an atlas that changes
(an import, a rebuild) is opened anew, and an unchanged one is the same object
for the whole process: one cache, one key.

A new back-end (a folder of GeoParquet, say) is one subclass that implements
``_list``, ``_read``, ``_sha256``, ``_build_date`` and ``_user_records``.
"""

from __future__ import annotations

import sqlite3
import warnings
from collections import OrderedDict
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from . import database, io
from .errors import InputError, NotFoundError

__all__ = ["USER_PREFIX", "Atlas", "GeoPackageAtlas", "PostGISAtlas", "list_layers", "open_atlas",
           "read_layer", "read_layers"]

#: The prefix of every user layer's name (``atlas import ... --as interviews``: ``user_interviews``).
USER_PREFIX = "user_"
#: How many atlases (versions of a file, databases) stay open in one process.
_KEEP = 8
_OPEN: OrderedDict[tuple, Atlas] = OrderedDict()
#: How many times an atlas was opened from a path or URL (not from an object): tests count it.
OPENED = {"count": 0}


class Atlas:
    """An atlas, opened once: its layers, provenance and what the queries build from it.

    Not made directly: :func:`open_atlas` returns one.
    """

    #: ``"gpkg"`` or ``"postgis"``.
    kind = ""

    def __init__(self, key: tuple, shown: str):
        self.key = key
        #: How the atlas is named in a message: the file's path, or the URL with its password masked.
        self.shown = shown
        self._frames: dict[str, pd.DataFrame] = {}
        self._memo: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.shown}>"

    # --- what a back-end implements ---------------------------------------------------------

    def _list(self) -> list[tuple[str, str | None]]:
        raise NotImplementedError

    def _read(self, name: str, **options) -> pd.DataFrame:
        raise NotImplementedError

    def _sha256(self) -> str:
        raise NotImplementedError

    def _build_date(self) -> str:
        raise NotImplementedError

    def _user_records(self) -> list[dict]:
        raise NotImplementedError

    # --- what the atlas asks of it ----------------------------------------------------------

    @cached_property
    def _layers(self) -> dict[str, str | None]:
        return dict(self._list())

    def layers(self) -> dict[str, str | None]:
        """Layer names and geometry types (``None``: an attribute table), in the atlas's order."""
        return dict(self._layers)

    def has(self, name: str) -> bool:
        """Whether the atlas holds the layer ``name``."""
        return name in self._layers

    def _check(self, name: str) -> None:
        if name not in self._layers:
            raise NotFoundError(f"no layer {name!r} in {self.shown}", sorted(self._layers)[:5])

    def read(self, name: str, **options) -> pd.DataFrame:
        """A layer read from the store, a frame of the caller's own (``options`` as :func:`read_layer`)."""
        self._check(name)
        if not options and name in self._frames:
            return self._frames[name].copy()
        return self._read(name, **options)

    def layer(self, name: str) -> pd.DataFrame:
        """A layer read once and shared by every query of this atlas: read it, never change it."""
        self._check(name)
        if name not in self._frames:
            self._frames[name] = self._read(name)
        return self._frames[name]

    def memo(self, key: Any, build: Callable[[], Any]) -> Any:
        """What ``build()`` returns, built once per atlas (an index, a table derived from layers)."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    @cached_property
    def sha256(self) -> str:
        """The sha256 of the GeoPackage (for PostGIS: of the GeoPackage the export copied)."""
        return self._sha256()

    @cached_property
    def build_date(self) -> str:
        """When the atlas layers were built (ISO 8601, UTC), or ``""``."""
        return self._build_date()

    def user_layer_records(self) -> list[dict]:
        """One record per user layer: ``layer``, ``features``, ``private``, ``kind``, ``source_file``,
        ``source_sha256``, ``imported_at`` (see :mod:`atlas.userlayers`, which decides who sees them)."""
        return [dict(r) for r in self.memo("user_records", self._user_records)]

    def layer_name(self, name: str) -> str:
        """A layer's name as the atlas holds it: ``NAME``, or ``user_NAME`` for a layer a user
        imported with ``--as NAME`` (when no layer is called ``NAME`` itself).

        Examples
        --------
        >>> open_atlas().layer_name("camps")
        'camps'
        """
        if not name or name.startswith(USER_PREFIX):
            return name
        user = f"{USER_PREFIX}{name}"
        return user if name not in self._layers and user in self._layers else name

    def outline(self, crs: str = "EPSG:5179"):
        """The DPRK outline the atlas holds (layer ``dprk_outline``), in ``crs``, as one geometry.

        Examples
        --------
        >>> round(open_atlas().outline().area / 1e6, -3)
        122000.0
        """
        return self.memo(("outline", crs), lambda: self.layer("dprk_outline").to_crs(crs).union_all())

    @property
    def path(self) -> Path | None:
        """The GeoPackage file, or ``None`` for an atlas in a database."""
        return None

    def file(self, what: str = "this") -> Path:
        """The GeoPackage file, for what needs one; a clear error for an atlas in a database."""
        if self.path is None:
            raise InputError(f"{what} needs a GeoPackage file (--gpkg FILE), not a database "
                             f"({self.shown}); an atlas in PostGIS is read by find, near, nearest, "
                             "summary, status, show, layers, validate and export --format/--postgis")
        return self.path

    @property
    def file_name(self) -> str:
        """The name a product cites for the GeoPackage it came from."""
        return ""


class GeoPackageAtlas(Atlas):
    """An atlas in a GeoPackage file (what ``atlas build`` writes)."""

    kind = "gpkg"

    def __init__(self, path: Path, key: tuple):
        super().__init__(key, str(path))
        self._path = path

    @property
    def path(self) -> Path:
        return self._path

    @property
    def file_name(self) -> str:
        return self._path.name

    def _list(self) -> list[tuple[str, str | None]]:
        import pyogrio

        try:
            return [(str(n), None if g is None else str(g)) for n, g in pyogrio.list_layers(self._path)]
        except Exception as exc:  # pyogrio's DataSourceError: not a readable GeoPackage after all
            raise InputError(f"{self._path} is not a readable GeoPackage: {exc}") from exc

    def _read(self, name: str, **options) -> pd.DataFrame:
        import pyogrio

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if self._layers[name] is None:
                return pyogrio.read_dataframe(self._path, layer=name, read_geometry=False,
                                              datetime_as_string=True, **options)
            return pyogrio.read_dataframe(self._path, layer=name, datetime_as_string=True, **options)

    def _sha256(self) -> str:
        return io.file_sha256(self._path)

    def _build_date(self) -> str:
        with io.read_only(self._path) as con:
            row = con.execute("SELECT last_change FROM gpkg_contents WHERE table_name = 'sources'").fetchone()
            if row is None:
                row = con.execute("SELECT max(last_change) FROM gpkg_contents").fetchone()
        return str(row[0] or "") if row else ""

    def _user_records(self) -> list[dict]:
        names = [n for n, g in self._layers.items() if n.startswith(USER_PREFIX) and g is not None]
        out = []
        with io.read_only(self._path) as con:
            for name in sorted(names):
                out.append(_user_record(con, name))
        return out


def _user_record(con: sqlite3.Connection, name: str) -> dict:
    q = name.replace('"', '""')
    cols = {r[1] for r in con.execute(f'PRAGMA table_info("{q}")')}
    wanted = [c for c in ("kind", "source_file", "source_sha256", "imported_at") if c in cols]
    first = con.execute(f'SELECT {", ".join(wanted) or "1"} FROM "{q}" LIMIT 1').fetchone() or ()
    private = False
    if "private" in cols:
        row = con.execute(f'SELECT max(private) FROM "{q}"').fetchone()
        private = bool(row and row[0])
    return {"layer": name, "features": con.execute(f'SELECT count(*) FROM "{q}"').fetchone()[0],
            "private": private, **{c: (first[i] if i < len(first) else None) for i, c in enumerate(wanted)}}


class PostGISAtlas(Atlas):
    """An atlas exported to PostGIS (``atlas export --postgis``), read back through :mod:`atlas.database`."""

    kind = "postgis"

    def __init__(self, url: str, db: database.Database, stamp: dict, key: tuple):
        super().__init__(key, db.shown)
        self.url = url
        self.db = db
        self.stamp = stamp

    @property
    def file_name(self) -> str:
        return str(self.stamp.get("source", ""))

    def _list(self) -> list[tuple[str, str | None]]:
        return [(str(n), g) for n, g in self.stamp.get("layers", [])]

    def _read(self, name: str, **options) -> pd.DataFrame:
        if options:
            raise InputError(f"reading part of a layer ({', '.join(options)}) needs a GeoPackage, "
                             f"not {self.shown}")
        return database.read_layer(name, self.url)

    def _sha256(self) -> str:
        return str(self.stamp.get("sha256", ""))

    def _build_date(self) -> str:
        return str(self.stamp.get("build_date", ""))

    def _user_records(self) -> list[dict]:
        out = []
        for name in sorted(n for n, g in self._layers.items() if n.startswith(USER_PREFIX) and g is not None):
            df = self.layer(name)
            first = df.iloc[0] if len(df) else {}
            private = "private" in df and bool(df["private"].fillna(False).astype(bool).any())
            out.append({"layer": name, "features": len(df), "private": private,
                        **{c: (first[c] if c in df else None)
                           for c in ("kind", "source_file", "source_sha256", "imported_at")}})
        return out


def _file_key(path: Path) -> tuple:
    st = path.stat()
    return ("gpkg", str(path.resolve()), st.st_mtime_ns, st.st_size, st.st_ino)


def open_atlas(source: Atlas | Path | str | None = None) -> Atlas:
    """The atlas at ``source``, opened (or the object itself, if already open).

    Parameters
    ----------
    source : Atlas, pathlib.Path or str, optional
        An atlas GeoPackage (default ``output/atlas.gpkg``), a
        ``postgresql://user@host/db?schema=atlas`` URL, or an open :class:`Atlas`.

    Returns
    -------
    Atlas
        The same object for an unchanged atlas, for the whole process.

    Raises
    ------
    NotFoundError
        No GeoPackage there (or no atlas in that schema).
    InputError
        Not a GeoPackage (a VRT, a plain SQLite file, ...), a bad URL, an
        unreachable database.

    Examples
    --------
    >>> import atlas
    >>> a = open_atlas()
    >>> a.kind, a.has("camps"), open_atlas(a) is a, open_atlas() is a
    ('gpkg', True, True, True)
    """
    if isinstance(source, Atlas):
        return source
    OPENED["count"] += 1
    if database.is_database_url(source):
        db, stamp = database.read_stamp(str(source))
        key = ("postgis", db.shown, stamp.get("exported_at"), stamp.get("sha256"))
        if key not in _OPEN:
            _keep(key, PostGISAtlas(str(source), db, stamp, key))
        return _OPEN[key]
    path = io.existing_gpkg(source)  # admitted: a GeoPackage by its bytes, never a VRT
    key = _file_key(path)
    if key not in _OPEN:
        _keep(key, GeoPackageAtlas(path, key))
    _OPEN.move_to_end(key)
    return _OPEN[key]


def _keep(key: tuple, atlas: Atlas) -> None:
    _OPEN[key] = atlas
    while len(_OPEN) > _KEEP:
        _OPEN.popitem(last=False)


def list_layers(source: Atlas | Path | str | None = None) -> list[tuple[str, str | None]]:
    """Names and geometry types of the layers of an atlas.

    Parameters
    ----------
    source : Atlas, pathlib.Path or str, optional
        Defaults to ``output/atlas.gpkg``; a ``postgresql://`` URL reads an
        atlas written by :func:`atlas.postgis.export_postgis`.

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
    return list(open_atlas(source).layers().items())


def read_layer(name: str, source: Atlas | Path | str | None = None, **options) -> pd.DataFrame:
    """Read one layer (a GeoDataFrame) or attribute table (a DataFrame).

    Parameters
    ----------
    name : str
        Layer name, e.g. ``"camps"``.
    source : Atlas, pathlib.Path or str, optional
        Defaults to ``output/atlas.gpkg``; or a ``postgresql://`` URL.
    **options
        Passed to :func:`pyogrio.read_dataframe` to read part of a layer
        (``fids=[...]``, ``where="..."``, ``columns=[...]``).

    Returns
    -------
    geopandas.GeoDataFrame or pandas.DataFrame

    Examples
    --------
    >>> import atlas
    >>> len(atlas.read_layer("provinces"))
    10
    """
    return open_atlas(source).read(name, **options)


def read_layers(source: Atlas | Path | str | None = None) -> dict[str, pd.DataFrame]:
    """Read every layer of an atlas, keyed by name.

    Parameters
    ----------
    source : Atlas, pathlib.Path or str, optional
        Defaults to ``output/atlas.gpkg``; or a ``postgresql://`` URL.

    Returns
    -------
    dict of str to (Geo)DataFrame

    Examples
    --------
    >>> import atlas
    >>> len(atlas.read_layers()["mines"])
    36
    """
    a = open_atlas(source)
    return {name: a.read(name) for name in a.layers()}

