"""PostGIS: write the atlas to a PostgreSQL database (a product; :mod:`atlas.database` reads it back).

:func:`export_postgis` copies every layer of the atlas GeoPackage into one
schema of a PostGIS database (``postgresql://user@host/db?schema=atlas``) in
one transaction: geometry columns in SRID 4326 with GiST indexes, an integer
primary key ``fid`` (the GeoPackage's row order) and the layer's own id as a
unique key, the foreign keys of :data:`atlas.schema.FOREIGN_KEYS`, the
provenance tables (``sources``, the report's tables, ``report_discrepancies``),
and one default QGIS style per layer in QGIS's ``public.layer_styles`` table.
A failure rolls everything back; a second export replaces the first.

:mod:`atlas.database` reads such a schema back, so that every command
reading the atlas accepts the URL instead of a GeoPackage (``atlas near
KLS-14 --source postgresql://…``). Needs the ``postgis`` extra (SQLAlchemy
and psycopg).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import geopandas as gpd
import pandas as pd

from . import schema
from .database import MARKER, Database, connect_error, engine, quote_name, schema_stamp
from .errors import AtlasError, InputError
from .qml import layer_qml
from .store import RECORD_FIELDS, Atlas
from .userlayers import gate

__all__ = ["export_postgis"]

_GEOMETRY_TYPES = {t.upper(): t for t in ("Point", "MultiPoint", "LineString", "MultiLineString",
                                          "Polygon", "MultiPolygon", "GeometryCollection")}
#: QGIS's own definition of its style table (QGIS 3.22, PostgreSQL provider).
_LAYER_STYLES_DDL = (
    "CREATE TABLE IF NOT EXISTS public.layer_styles (id SERIAL PRIMARY KEY, "
    "f_table_catalog varchar, f_table_schema varchar, f_table_name varchar, "
    "f_geometry_column varchar, stylename text, styleqml xml, stylesld xml, "
    "useasdefault boolean, description text, owner varchar(63) DEFAULT CURRENT_USER, "
    "ui xml, update_time timestamp DEFAULT CURRENT_TIMESTAMP, type varchar)"
)


def _literal(value: str) -> str:
    """A quoted SQL string literal (COMMENT takes no parameters)."""
    from psycopg import sql

    return sql.Literal(value).as_string(None)


def _ensure_postgis(conn, db: Database) -> str:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    version = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
    if version:
        return version
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION postgis"))
    except DBAPIError as exc:
        raise InputError(f"PostGIS is not enabled in {db.shown} and could not be: "
                         "ask an administrator to run CREATE EXTENSION postgis") from exc
    return conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()


def _version() -> str:
    try:
        return metadata.version("gulag-inc-atlas")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _geometry_type(df: gpd.GeoDataFrame, declared: str | None) -> str:
    present = df.geometry.dropna()
    present = present[~present.is_empty]
    types = set(present.geom_type)
    if len(types) == 1:
        return types.pop()
    return declared or "Geometry"


def _cells(frame: pd.DataFrame) -> list[list]:
    """Rows as Python values, missing cells as None (NULL); empty strings stay empty strings."""
    cols = []
    for c in frame.columns:
        col = frame[c]
        values = col.astype(object).where(col.notna(), None).tolist()
        cols.append(values)
    return [list(r) for r in zip(*cols)] if cols else [[] for _ in range(len(frame))]


def _copy(conn, table: str, columns: list[str], rows: list[list]) -> None:
    """COPY rows into a table (psycopg keeps '' and NULL apart, unlike a CSV round trip)."""
    raw = conn.connection.driver_connection
    names = ", ".join(quote_name(c) for c in columns)
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


#: PostgreSQL's system columns: a user column of one of these names cannot be created.
SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid", "oid"})
#: The longest identifier PostgreSQL keeps (NAMEDATALEN - 1), in bytes; longer ones are cut.
MAX_IDENTIFIER_BYTES = 63


def _cut(name: str, limit: int) -> str:
    """``name`` cut to ``limit`` bytes of UTF-8, at a character boundary."""
    return name.encode("utf-8")[:limit].decode("utf-8", "ignore")


def pg_columns(columns: list[str], taken: tuple[str, ...] = ("fid", "geometry")) -> dict[str, str]:
    """Column names PostgreSQL can hold, each unique: the renamed ones, old name to new.

    A system column's name (``xmin``, ``ctid`` ...) or one of ``taken`` (the
    key and geometry the export adds) becomes ``attr_<name>``, as the import
    renames ``FID``; a NUL becomes ``_``; an empty name ``column_<n>``; a name
    over 63 bytes is cut there (PostgreSQL would cut it, and two cut names
    could collide); a name equal to an earlier one gets ``_2``, ``_3`` ...
    (kept within 63 bytes).

    Examples
    --------
    >>> long = "x" * 70
    >>> renamed = pg_columns(["xmin", "name", long + "one", long + "two", "Name", ""])
    >>> [(old[:5], new if len(new) < 20 else f"{new[:3]}...{new[-3:]} ({len(new)})") for old, new in renamed.items()]
    [('xmin', 'attr_xmin'), ('xxxxx', 'xxx...xxx (63)'), ('xxxxx', 'xxx...x_2 (63)'), ('', 'column_6')]
    """
    seen = {t for t in taken}
    renamed = {}
    for i, col in enumerate(map(str, columns), start=1):
        new = col.replace("\x00", "_") or f"column_{i}"
        if new.lower() in SYSTEM_COLUMNS or new in taken:
            new = f"attr_{new}"
        new = _cut(new, MAX_IDENTIFIER_BYTES)
        base, n = new, 1
        while new in seen:
            n += 1
            new = _cut(base, MAX_IDENTIFIER_BYTES - len(f"_{n}")) + f"_{n}"
        seen.add(new)
        if new != col:
            renamed[col] = new
    return renamed


def _write_table(conn, db: Database, name: str, df: pd.DataFrame, declared: str | None) -> dict:
    """One layer as a table: fid primary key, the id as unique key, GiST index on the geometry."""
    import shapely
    from sqlalchemy import text

    frame = df.copy()
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="fid")
    table = f"{quote_name(db.schema)}.{quote_name(name)}"
    geom = None
    attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name)
                         if isinstance(frame, gpd.GeoDataFrame) else frame)
    gname = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else "geometry"
    renamed = pg_columns(list(attrs.columns), taken=("fid", gname))
    if renamed:  # a system column's name, or two names alike in their first 63 bytes: safe and unique
        attrs = attrs.rename(columns=renamed)
        warnings.warn(f"{name}: column(s) renamed for PostgreSQL: "
                      + "; ".join(f"{old!r} -> {new!r}" for old, new in renamed.items()), UserWarning, stacklevel=2)
    attrs.head(0).to_sql(name, conn, schema=db.schema, index=True, index_label="fid")
    columns = ["fid", *map(str, attrs.columns)]
    rows = _cells(attrs.reset_index())
    if isinstance(frame, gpd.GeoDataFrame):
        if frame.crs is None:
            frame = frame.set_crs(4326)
        elif frame.crs.to_epsg() != 4326:
            frame = frame.to_crs(4326)
        gcol = frame.geometry.name
        geom = _geometry_type(frame, declared)
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {quote_name(gcol)} geometry({geom}, 4326)"))
        geoms = frame.geometry.to_numpy()
        # an empty geometry is stored as NULL: PostGIS and QGIS read both as "no location"
        geoms = [None if g is None or g.is_empty else g for g in geoms]
        wkb = shapely.to_wkb(shapely.set_srid(pd.Series(geoms, dtype=object).to_numpy(), 4326),
                             hex=True, include_srid=True)
        rows = [[*r, w] for r, w in zip(rows, wkb.tolist())]
        columns.append(gcol)
        _copy(conn, table, columns, rows)
        conn.execute(text(f"CREATE INDEX {quote_name(f'{name}_{gcol}_gist')} ON {table} USING GIST ({quote_name(gcol)})"))
    else:
        _copy(conn, table, columns, rows)
    conn.execute(text(f"ALTER TABLE {table} ADD PRIMARY KEY (fid)"))
    spec = schema.schema_for(name)
    if spec is not None and spec.id_field and spec.id_field in frame.columns:
        conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {quote_name(spec.id_field)} SET NOT NULL, "
                          f"ADD CONSTRAINT {quote_name(f'{name}_{spec.id_field}_key')} UNIQUE ({quote_name(spec.id_field)})"))
    description = spec.description if spec is not None and spec.name == name else ""
    if description:
        conn.execute(text(f"COMMENT ON TABLE {table} IS {_literal(description)}"))
    return {"name": name, "geometry": geom, "rows": len(frame)}


def _foreign_keys(conn, db: Database, names: set[str]) -> list[str]:
    from sqlalchemy import text

    done = []
    for table, column, target, target_column in schema.FOREIGN_KEYS:
        if table in names and target in names:
            conn.execute(text(
                f"ALTER TABLE {quote_name(db.schema)}.{quote_name(table)} ADD CONSTRAINT {quote_name(f'{table}_{column}_fkey')} "
                f"FOREIGN KEY ({quote_name(column)}) REFERENCES {quote_name(db.schema)}.{quote_name(target)} ({quote_name(target_column)})"))
            done.append(f"{table}.{column} -> {target}.{target_column}")
    return done


def _write_styles(conn, db: Database, layers: dict[str, pd.DataFrame]) -> int:
    """One default QGIS style per geometry layer in ``public.layer_styles``, replacing the atlas's."""
    from sqlalchemy import text


    conn.execute(text(_LAYER_STYLES_DDL))
    conn.execute(text("DELETE FROM public.layer_styles WHERE f_table_catalog = current_database() "
                      "AND f_table_schema = :s"), {"s": db.schema})
    rows = [{"s": db.schema, "t": name, "g": df.geometry.name, "n": f"atlas {name}",
             "q": layer_qml(name, df), "d": f"Gulag, Inc. atlas default style: {name}"}
            for name, df in layers.items() if isinstance(df, gpd.GeoDataFrame)]
    if rows:
        conn.execute(text(
            "INSERT INTO public.layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, stylename, styleqml, stylesld, useasdefault, description) "
            "VALUES (current_database(), :s, :t, :g, :n, XMLPARSE(DOCUMENT :q), NULL, true, :d)"), rows)
    return len(rows)


def _plain(value):
    """A record's value as JSON holds it (numpy integers and booleans as Python's)."""
    return value.item() if hasattr(value, "item") else value


def export_postgis(
    url: str,
    gpkg: Atlas | Path | str | None = None,
    *,
    include_private: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write every layer of the atlas to a PostGIS schema, in one transaction.

    The schema (``?schema=``, default ``atlas``) is dropped and written anew
    when the atlas wrote it before; a schema the atlas did not write is never
    touched (an error asks for another name). Any failure rolls the whole
    export back and leaves the database as it was.

    Parameters
    ----------
    url : str
        ``postgresql://user@host:port/dbname?schema=atlas``.
    gpkg : pathlib.Path, optional
        The atlas GeoPackage to copy; defaults to ``output/atlas.gpkg``.
    include_private : bool, default False
        Also the user layers imported as private (a database is shared: think
        twice); without it they stay on this machine, and the schema holds no
        trace of them. With it, the schema's records mark them private, so that
        products made from the schema leave them out unless asked too.
    progress : callable, optional
        Called with a message per layer.

    Returns
    -------
    dict
        ``schema``, ``layers`` (name, geometry type, rows), ``foreign_keys``,
        ``styles``, ``postgis`` version and the public GeoPackage's ``sha256``.

    Raises
    ------
    InputError
        A bad URL, an unreachable database, a schema the atlas does not own,
        PostGIS missing and not installable.
    AtlasError
        The database refused the data (e.g. a broken foreign key); nothing
        was changed.

    Examples
    --------
    A database that cannot be reached is one clear error, and nothing is written
    (``tests/test_postgis.py`` runs the real export against PostgreSQL 15 + PostGIS 3):

    >>> import atlas
    >>> try:
    ...     atlas.export_postgis("postgresql://nobody@/gis?host=/nonexistent-socket-dir&port=1")
    ... except atlas.InputError:
    ...     print("refused")
    refused
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError, OperationalError

    say = progress or (lambda _msg: None)
    db = Database.parse(url)
    allowed = gate(gpkg, "postgis", include_private=include_private)  # the one gate
    atlas = allowed.atlas
    path = atlas.file("export --postgis")
    declared = atlas.layers()
    declared.pop("layer_styles", None)
    layers = {n: atlas.read(n) for n in declared}
    eng = engine(db)
    stamp = {"atlas": _version(), "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "source": path.name, "sha256": atlas.sha256, "build_date": atlas.build_date,
             "release": atlas.release}
    # the user layers' records (atlas.store.RECORD_FIELDS), in the schema's stamp: a reader of the schema
    # decides from them, as from a GeoPackage's, what each product may hold
    stamp["user_layers"] = [{f: _plain(r.get(f)) for f in RECORD_FIELDS} for r in allowed.records]
    if allowed.private:  # asked for: the schema says so, and cites the private store apart
        stamp.update(banner=allowed.banner, private=atlas.private_citation())
    try:
        with eng.begin() as conn:
            postgis = _ensure_postgis(conn, db)
            old = schema_stamp(conn, db)
            if old and old.get("foreign"):
                raise InputError(f"schema {db.schema!r} of {db.shown} was not written by the atlas; "
                                 "choose another ?schema= (the atlas replaces only its own)")
            conn.execute(text(f"DROP SCHEMA IF EXISTS {quote_name(db.schema)} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {quote_name(db.schema)}"))
            written = []
            for name, df in layers.items():
                say(f"postgis: writing {name} ({len(df)} rows)")
                written.append(_write_table(conn, db, name, df, declared.get(name)))
            fks = _foreign_keys(conn, db, set(layers))
            styles = _write_styles(conn, db, layers)
            stamp["layers"] = [[w["name"], declared.get(w["name"]) if w["geometry"] else None]
                               for w in written]
            comment = _literal(MARKER + json.dumps(stamp, ensure_ascii=False))
            conn.execute(text(f"COMMENT ON SCHEMA {quote_name(db.schema)} IS {comment}"))
    except AtlasError:
        raise
    except OperationalError as exc:
        raise connect_error(db, exc) from exc
    except DBAPIError as exc:
        first = str(exc.orig or exc).strip().splitlines()[0]
        raise AtlasError(f"the database refused the export, nothing was changed: {first}") from exc
    say(f"postgis: {len(written)} tables in schema {db.schema} of {db.shown}")
    return {"schema": db.schema, "database": db.shown, "layers": written, "foreign_keys": fks,
            "styles": styles, "postgis": postgis, "sha256": stamp["sha256"]}




