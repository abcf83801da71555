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

Private layers live apart (issue 23): a layer imported with ``--private`` is
stored in a GeoPackage of its own, :func:`private_store` (``output/atlas.gpkg``
keeps them in ``output-private/atlas-private.gpkg``), never in the public file
that shared products are made from and cite. :func:`open_atlas` decides, in one
place, whether the atlas a caller gets holds them: a question asked on this
machine (a path, no ``include_private``) gets the public atlas with its private
companion overlaid (:class:`OverlayAtlas`); a shared product asks with
``include_private=False`` and gets the public atlas alone (:meth:`Atlas.public`),
or with ``include_private=True`` and gets both (:meth:`Atlas.with_private`).
Each user layer has one stored record (:data:`RECORDS`), read by
:meth:`Atlas.user_layer_records`; :mod:`atlas.userlayers` decides from those
records what every product may hold.

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

__all__ = ["RECORDS", "RECORD_FIELDS", "RELEASE", "USER_PREFIX", "Atlas", "GeoPackageAtlas", "OverlayAtlas", "PostGISAtlas",
           "list_layers", "open_atlas", "open_store", "private_store", "read_layer", "read_layers"]

#: The prefix of every user layer's name (``atlas import ... --as interviews``: ``user_interviews``).
USER_PREFIX = "user_"
#: The table holding one record per user layer of a GeoPackage: an unregistered table, which GDAL
#: does not list among the layers (in a PostGIS schema, the records are in the export's stamp). The
#: importer writes a layer's record with it; a rebuild and an export carry it; nothing re-derives it
#: from rows (but for a layer imported before records were stored).
RECORDS = "atlas_user_layers"
#: A record's fields: the layer, whether it is private, what its features are, the source file's
#: name and sha256, when it was imported, and how many features it holds.
RECORD_FIELDS = ("layer", "private", "kind", "source_file", "source_sha256", "imported_at", "features")
#: The table holding the release a GeoPackage was built as (:attr:`Atlas.release`): unregistered, as
#: :data:`RECORDS`; written by ``atlas build``, carried by every rewrite of the file.
RELEASE = "atlas_release"
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

    def _release(self) -> dict:
        return {}

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

    def tally(self, name: str, column: str) -> tuple[int, int, dict[str, int]]:
        """A layer's features, those with a geometry, and the count of each value of ``column``.

        A GeoPackage answers in SQL, without reading the layer into memory (a user
        layer of a million points); other stores read it.
        """
        df = self.read(name)
        geom = df.geometry if hasattr(df, "crs") else None
        located = int((~(geom.isna() | geom.is_empty)).sum()) if geom is not None else 0
        values = df[column].astype(str).value_counts().to_dict() if column in df.columns else {}
        return len(df), located, values

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

    @cached_property
    def release(self) -> dict:
        """The release the atlas was built as: ``release`` (its id, from the version and the data,
        e.g. ``0.1.0+data.3f2a9c1b7e4d``), ``atlas_version``, ``build_date``, ``data_sha256``; ``{}``
        for an atlas built before releases were stamped."""
        return dict(self._release())

    def user_layer_records(self) -> list[dict]:
        """One record per user layer, as stored (:data:`RECORD_FIELDS`: ``layer``, ``private``, ``kind``,
        ``source_file``, ``source_sha256``, ``imported_at``, ``features``); :mod:`atlas.userlayers`
        decides from them what each product may hold."""
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

    # --- public and private ---------------------------------------------------------------

    def public(self) -> Atlas:
        """This atlas as a shared product may read it: without the user layers recorded as private."""
        hidden = {r["layer"] for r in self.user_layer_records() if r["private"]}
        return _PublicView(self, hidden) if hidden else self

    def with_private(self) -> Atlas:
        """This atlas with its private layers (for an answer on this machine, or a product asked for them)."""
        return self

    def store_of(self, name: str) -> Atlas:
        """The atlas of one store (a file, a schema) that holds the layer ``name``."""
        return self

    def private_citation(self) -> dict | None:
        """What a product that holds private layers cites for them apart: ``gpkg`` and ``gpkg_sha256``."""
        return None


class GeoPackageAtlas(Atlas):
    """An atlas in a GeoPackage file (what ``atlas build`` writes)."""

    kind = "gpkg"

    def __init__(self, path: Path, key: tuple, role: str = "public"):
        super().__init__(key, str(path))
        self._path = path
        #: ``"public"``: the atlas GeoPackage; ``"private"``: the private store beside it
        #: (:func:`private_store`), whose every layer is private whatever its rows say.
        self.role = role

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

    def tally(self, name: str, column: str) -> tuple[int, int, dict[str, int]]:
        self._check(name)
        con = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            geom = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (name,)).fetchone()
            cols = {r[1] for r in con.execute(f"PRAGMA table_info({database.quote_name(name)})")}
            n = con.execute(f"SELECT COUNT(*) FROM {database.quote_name(name)}").fetchone()[0]
            located = con.execute(f"SELECT COUNT({database.quote_name(geom[0])}) FROM {database.quote_name(name)}").fetchone()[0] \
                if geom else 0
            values = dict(con.execute(f"SELECT CAST({database.quote_name(column)} AS TEXT), COUNT(*) FROM {database.quote_name(name)} "
                                      f"GROUP BY 1 ORDER BY 2 DESC")) if column in cols else {}
        except sqlite3.Error as exc:
            raise InputError(f"{self._path}: layer {name!r} cannot be read ({exc})") from None
        finally:
            con.close()
        return n, located, values

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

    def _release(self) -> dict:
        with io.read_only(self._path) as con:
            if not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (RELEASE,)).fetchone():
                return {}
            return {str(k): str(v) for k, v in con.execute(f"SELECT key, value FROM {RELEASE}")}

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
            stored = _stored_records(con)
            for name in sorted(names):
                rec = stored.get(name) or _user_record(con, name)  # imported before records were stored
                if self.role == "private":
                    rec["private"] = True
                out.append(rec)
        return out

    def with_private(self) -> Atlas:
        if self.role != "public":
            return self
        store = private_store(self._path)
        if not store.is_file():
            return self
        return _overlay(self, store)


def _stored_records(con: sqlite3.Connection) -> dict[str, dict]:
    """The records of :data:`RECORDS`, by layer (none in a GeoPackage written before them)."""
    try:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (RECORDS,)).fetchone():
            return {}
        rows = con.execute(f"SELECT {', '.join(RECORD_FIELDS)} FROM {RECORDS}").fetchall()
    except sqlite3.Error:  # a table of that name the atlas did not write
        return {}
    return {str(r[0]): {**dict(zip(RECORD_FIELDS, r)), "private": bool(r[1])} for r in rows}


def _user_record(con: sqlite3.Connection, name: str) -> dict:
    q = name.replace('"', '""')
    cols = {r[1] for r in con.execute(f'PRAGMA table_info("{q}")')}
    wanted = [c for c in ("kind", "source_file", "source_sha256", "imported_at") if c in cols]
    first = con.execute(f'SELECT {", ".join(wanted) or "1"} FROM "{q}" LIMIT 1').fetchone() or ()
    private = False
    if "private" in cols:
        row = con.execute(f'SELECT max(private) FROM "{q}"').fetchone()
        private = bool(row and row[0])
    return {"layer": name, "private": private, **{c: (first[i] if i < len(first) else None)
                                                  for i, c in enumerate(wanted)},
            "features": con.execute(f'SELECT count(*) FROM "{q}"').fetchone()[0]}


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

    def _release(self) -> dict:
        release = self.stamp.get("release")
        return {str(k): str(v) for k, v in release.items()} if isinstance(release, dict) else {}

    def _user_records(self) -> list[dict]:
        stored = {str(r.get("layer")): r for r in self.stamp.get("user_layers") or [] if isinstance(r, dict)}
        out = []
        for name in sorted(n for n, g in self._layers.items() if n.startswith(USER_PREFIX) and g is not None):
            if name in stored:
                out.append({**{f: stored[name].get(f) for f in RECORD_FIELDS},
                            "private": bool(stored[name].get("private"))})
                continue
            df = self.layer(name)  # exported before records were stored
            first = df.iloc[0] if len(df) else {}
            private = "private" in df and bool(df["private"].fillna(False).astype(bool).any())
            out.append({"layer": name, "private": private,
                        **{c: (first[c] if c in df else None)
                           for c in ("kind", "source_file", "source_sha256", "imported_at")},
                        "features": len(df)})
        return out

    def private_citation(self) -> dict | None:
        cited = self.stamp.get("private")
        return dict(cited) if isinstance(cited, dict) and any(r["private"] for r in self.user_layer_records()) \
            else None


class OverlayAtlas(Atlas):
    """The public atlas with its private store laid over it: what a question on this machine reads.

    The layers of both, a user layer read from the store that holds it; the
    records of both (every layer of the private store private); the public
    GeoPackage's name, sha256 and build date (what a product cites), and the
    private store's apart (:meth:`private_citation`).
    """

    def __init__(self, public: Atlas, private: GeoPackageAtlas, key: tuple):
        super().__init__(key, public.shown)
        self.kind = public.kind
        self._public = public
        self._private = private

    def _private_names(self) -> set[str]:
        return {n for n in self._private.layers() if n.startswith(USER_PREFIX)}

    def _list(self) -> list[tuple[str, str | None]]:
        own = self._private_names()
        return [*((n, g) for n, g in self._public.layers().items() if n not in own),
                *((n, g) for n, g in self._private.layers().items() if n in own)]

    def store_of(self, name: str) -> Atlas:
        return self._private if name in self._private_names() else self._public

    def _read(self, name: str, **options) -> pd.DataFrame:
        return self.store_of(name).read(name, **options)

    def read(self, name: str, **options) -> pd.DataFrame:
        self._check(name)
        return self.store_of(name).read(name, **options)

    def layer(self, name: str) -> pd.DataFrame:
        self._check(name)
        return self.store_of(name).layer(name)  # shared with the store's own atlas: read once

    def tally(self, name: str, column: str) -> tuple[int, int, dict[str, int]]:
        self._check(name)
        return self.store_of(name).tally(name, column)

    def _sha256(self) -> str:
        return self._public.sha256

    def _build_date(self) -> str:
        return self._public.build_date

    def _release(self) -> dict:
        return self._public.release

    def _user_records(self) -> list[dict]:
        own = self._private_names()
        return [*(r for r in self._public.user_layer_records() if r["layer"] not in own),
                *self._private.user_layer_records()]

    @property
    def path(self) -> Path | None:
        return self._public.path

    @property
    def file_name(self) -> str:
        return self._public.file_name

    def public(self) -> Atlas:
        return self._public.public()

    def with_private(self) -> Atlas:
        return self

    def private_citation(self) -> dict | None:
        return {"gpkg": self._private.file_name, "gpkg_sha256": self._private.sha256}


class _PublicView(Atlas):
    """An atlas without some of its user layers: a store that holds private layers, as a shared
    product reads it (a PostGIS schema exported with them; a GeoPackage of the layout before
    private stores, until :func:`atlas.userlayers.migrate` moves them out)."""

    def __init__(self, base: Atlas, hidden: set[str]):
        super().__init__(("public", base.key), base.shown)
        self.kind = base.kind
        self._base = base
        self._hidden = set(hidden)

    def _list(self) -> list[tuple[str, str | None]]:
        return [(n, g) for n, g in self._base.layers().items() if n not in self._hidden]

    def _read(self, name: str, **options) -> pd.DataFrame:
        return self._base.read(name, **options)

    def layer(self, name: str) -> pd.DataFrame:
        self._check(name)
        return self._base.layer(name)

    def _sha256(self) -> str:
        return self._base.sha256

    def _build_date(self) -> str:
        return self._base.build_date

    def _release(self) -> dict:
        return self._base.release

    def _user_records(self) -> list[dict]:
        return [r for r in self._base.user_layer_records() if r["layer"] not in self._hidden]

    @property
    def path(self) -> Path | None:
        return self._base.path

    @property
    def file_name(self) -> str:
        return self._base.file_name

    def store_of(self, name: str) -> Atlas:
        return self._base.store_of(name)

    def public(self) -> Atlas:
        return self

    def with_private(self) -> Atlas:
        return self._base.with_private()


def private_store(gpkg: Path | str) -> Path:
    """Where the private layers of the atlas GeoPackage ``gpkg`` are kept: one rule for every atlas.

    ``<folder>-private/<name>-private.gpkg`` beside the GeoPackage's folder
    (:func:`atlas.io.private_folder`): ``output/atlas.gpkg`` keeps them in
    ``output-private/atlas-private.gpkg``, ``maps/x.gpkg`` in
    ``maps-private/x-private.gpkg``. Never inside the folder of the shareable
    products, so that it can be zipped and sent as it is.

    Examples
    --------
    >>> private_store("/work/project/output/atlas.gpkg").as_posix()
    '/work/project/output-private/atlas-private.gpkg'
    """
    gpkg = Path(gpkg).absolute()
    return io.private_folder(gpkg.parent) / f"{gpkg.stem}-private.gpkg"


def _overlay(public: GeoPackageAtlas, store: Path) -> Atlas:
    private = open_store(store, private=True)
    key = ("overlay", public.key, private.key)
    if key not in _OPEN:
        _keep(key, OverlayAtlas(public, private, key))
    _OPEN.move_to_end(key)
    return _OPEN[key]


def open_store(path: Path | str, *, private: bool = False) -> GeoPackageAtlas:
    """One GeoPackage as it is, nothing laid over it, nothing hidden: for the writers that move layers.

    Parameters
    ----------
    path : pathlib.Path or str
        The atlas GeoPackage, or (``private=True``) its :func:`private_store`.
    private : bool, default False
        The file is a private store: every layer in it is private.
    """
    path = io.existing_gpkg(path)
    key = ("private", *_file_key(path)) if private else _file_key(path)
    if key not in _OPEN:
        _keep(key, GeoPackageAtlas(path, key, role="private" if private else "public"))
    _OPEN.move_to_end(key)
    return _OPEN[key]


def _file_key(path: Path) -> tuple:
    st = path.stat()
    return ("gpkg", str(path.resolve()), st.st_mtime_ns, st.st_size, st.st_ino)


def open_atlas(source: Atlas | Path | str | None = None, *, include_private: bool | None = None) -> Atlas:
    """The atlas at ``source``, opened (or the object itself, if already open).

    Parameters
    ----------
    source : Atlas, pathlib.Path or str, optional
        An atlas GeoPackage (default ``output/atlas.gpkg``), a
        ``postgresql://user@host/db?schema=atlas`` URL, or an open :class:`Atlas`.
    include_private : bool, optional
        ``False``: the public atlas alone, as a shared product reads it
        (:meth:`Atlas.public`); ``True``: with its private layers
        (:meth:`Atlas.with_private`: for a GeoPackage, its :func:`private_store`
        overlaid). Not given: an open :class:`Atlas` as it is, and an atlas
        opened from a path or URL with its private layers: a question asked on
        this machine sees them, and :mod:`atlas.userlayers` marks them.

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
        atlas = source
    else:
        atlas = _open(source)
        include_private = True if include_private is None else include_private
    if include_private is None:
        return atlas
    return atlas.with_private() if include_private else atlas.public()


def _open(source: Path | str | None) -> Atlas:
    """The atlas of one store at a path or URL (its private store not yet laid over it)."""
    OPENED["count"] += 1
    if database.is_database_url(source):
        db, stamp = database.read_stamp(str(source))
        key = ("postgis", db.shown, stamp.get("exported_at"), stamp.get("sha256"))
        if key not in _OPEN:
            _keep(key, PostGISAtlas(str(source), db, stamp, key))
        return _OPEN[key]
    return open_store(io.existing_gpkg(source))  # admitted: a GeoPackage by its bytes, never a VRT


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

