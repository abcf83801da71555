"""Where is an atlas in PostGIS, and what does it hold? The reader of ``atlas export --postgis``.

An atlas exported to PostgreSQL + PostGIS (:mod:`atlas.postgis`) is one schema
marked by a comment the export writes (its version, source GeoPackage, sha256,
build date and layers). :class:`Database` parses a ``postgresql://`` URL into
the connection and that schema (its password masked wherever it is shown,
:func:`atlas.redact.mask_url`); :func:`list_layers` and :func:`read_layer` read
the schema back, so that every command reading the atlas accepts the URL
instead of a GeoPackage (``atlas near KLS-14 --source postgresql://…``). Needs
the ``postgis`` extra (SQLAlchemy and psycopg).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import AtlasError, InputError, NotFoundError
from .redact import mask_url

if TYPE_CHECKING:  # pandas is imported when a layer is read, not to parse a URL
    import pandas as pd

__all__ = ["DEFAULT_SCHEMA", "MARKER", "Database", "connect_error", "engine", "export_stamp",
           "is_database_url", "list_layers", "quote_name", "read_layer", "read_stamp", "schema_stamp"]

#: Schema written and read when the URL has no ``?schema=``.
DEFAULT_SCHEMA = "atlas"
#: Marker at the start of the comment on a schema the atlas wrote (nothing else is ever dropped).
MARKER = "gulag-inc-atlas export "
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_RESERVED = ("public", "information_schema", "topology", "tiger", "tiger_data")
_ENGINES: dict[str, object] = {}


def is_database_url(source: object) -> bool:
    """Whether a source is a PostgreSQL URL rather than a GeoPackage path.

    Examples
    --------
    >>> is_database_url("postgresql://me@localhost/gis?schema=atlas")
    True
    >>> is_database_url("output/atlas.gpkg")
    False
    """
    return isinstance(source, str) and source.split("://", 1)[0].lower() in _SCHEMES \
        and "://" in source


@dataclass(frozen=True)
class Database:
    """A PostgreSQL URL split into the connection and the schema the atlas uses.

    Parameters
    ----------
    url : str
        ``postgresql://[user[:password]@][host][:port]/dbname[?schema=NAME&…]``;
        libpq parameters such as ``host=/run/postgresql`` may follow ``?``.

    Examples
    --------
    >>> db = Database.parse("postgresql://me:secret@db.example/gis?schema=team_atlas")
    >>> db.schema, db.shown
    ('team_atlas', 'postgresql://me:***@db.example/gis?schema=team_atlas')
    """

    url: str
    schema: str
    shown: str

    @classmethod
    def parse(cls, url: str) -> Database:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if not is_database_url(url):
            raise InputError(f"not a PostgreSQL URL: {mask_url(url)!r} "
                             "(postgresql://user@host/dbname?schema=atlas)")
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise InputError(f"not a valid PostgreSQL URL: {mask_url(url)!r}") from None
        query = dict(parsed.query)
        name = query.pop("schema", DEFAULT_SCHEMA)
        if not isinstance(name, str) or not _NAME.match(name):
            raise InputError(f"schema {name!r}: use lower-case letters, digits and _ (at most 63)")
        if name in _RESERVED or name.startswith("pg_"):
            raise InputError(f"schema {name!r} is not the atlas's to replace: choose ?schema=atlas")
        if not parsed.database:
            raise InputError(f"no database name in {mask_url(url)!r} (postgresql://user@host/dbname)")
        conn = parsed.set(drivername="postgresql+psycopg", query=query)
        shown = conn.set(drivername=parsed.drivername.split("+")[0], query={**query, "schema": name})
        return cls(conn.render_as_string(hide_password=False), name,
                   mask_url(shown.render_as_string(hide_password=False)))




def engine(db: Database):
    try:
        import psycopg  # noqa: F401
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool
    except ImportError as exc:
        raise InputError(f"PostGIS needs the optional dependencies: pip install "
                         f"'gulag-inc-atlas[postgis]' ({exc.name} is missing)") from exc
    if db.url not in _ENGINES:
        _ENGINES[db.url] = create_engine(db.url, poolclass=NullPool)
    return _ENGINES[db.url]


def connect_error(db: Database, exc: Exception) -> AtlasError:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return InputError(f"cannot use the database {db.shown}: {msg[0] if msg else exc}")


def quote_name(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def schema_stamp(conn, db: Database) -> dict | None:
    """The atlas's marker comment on the schema, or None if the schema is not the atlas's."""
    from sqlalchemy import text

    row = conn.execute(text("SELECT obj_description(n.oid, 'pg_namespace') FROM pg_namespace n "
                            "WHERE nspname = :s"), {"s": db.schema}).first()
    if row is None:
        return None
    comment = row[0] or ""
    if not comment.startswith(MARKER):
        return {"foreign": True}
    try:
        return json.loads(comment[len(MARKER):])
    except ValueError:
        return {"foreign": True}


def read_stamp(url: str) -> tuple[Database, dict]:
    from sqlalchemy.exc import DBAPIError

    db = Database.parse(url)
    try:
        with engine(db).connect() as conn:
            stamp = schema_stamp(conn, db)
    except DBAPIError as exc:
        raise connect_error(db, exc) from exc
    if stamp is None:
        raise NotFoundError(f"no schema {db.schema!r} in {db.shown} (run `atlas export --postgis` first)")
    if stamp.get("foreign"):
        raise InputError(f"schema {db.schema!r} of {db.shown} was not written by `atlas export --postgis`")
    return db, stamp


def export_stamp(url: str) -> dict:
    """What an export recorded on its schema: atlas version, export time, the GeoPackage's name,
    sha256 and build date, and its layers."""
    _db, stamp = read_stamp(url)
    return dict(stamp)


def list_layers(url: str) -> list[tuple[str, str | None]]:
    """Names and geometry types of the layers of an exported atlas, in the GeoPackage's order.

    Parameters
    ----------
    url : str
        ``postgresql://…?schema=atlas``.

    Returns
    -------
    list of (str, str or None)
        ``None`` as geometry type marks an attribute table.
    """
    _db, stamp = read_stamp(url)
    return [(str(n), g) for n, g in stamp.get("layers", [])]


def read_layer(name: str, url: str) -> pd.DataFrame:
    """Read one layer of an exported atlas, as :func:`atlas.read_layer` reads it from a GeoPackage.

    Parameters
    ----------
    name : str
        Layer name, e.g. ``"camps"``.
    url : str
        ``postgresql://…?schema=atlas``.

    Returns
    -------
    geopandas.GeoDataFrame or pandas.DataFrame
        Rows in the GeoPackage's order, the same columns (without ``fid``).
    """
    import geopandas as gpd
    import pandas as pd
    from sqlalchemy.exc import DBAPIError

    db, stamp = read_stamp(url)
    names = dict(stamp.get("layers", []))
    if name not in names:
        raise NotFoundError(f"no layer {name!r} in {db.shown}", sorted(names)[:5])
    sql = f"SELECT * FROM {quote_name(db.schema)}.{quote_name(name)} ORDER BY fid"
    try:
        with engine(db).connect() as conn:
            if names[name] is None:
                df = pd.read_sql(sql, conn)
            else:
                df = gpd.read_postgis(sql, conn, geom_col="geometry")
    except DBAPIError as exc:
        raise connect_error(db, exc) from exc
    return df.drop(columns="fid")
