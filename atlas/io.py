"""Reading and writing the atlas GeoPackage.

Writes are atomic: layers go to a temporary file beside the target, which
replaces the target only once every layer is written (and, in
:func:`atlas.build`, validated). An interrupted or failed build leaves any
earlier file untouched. Writers of one GeoPackage are serialised by a lock
file beside it (:func:`writer_lock`): a second writer waits, saying so, and
reads the GeoPackage only once the first has finished, so no update is lost.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .admit import admit_gpkg
from .errors import InputError, NotFoundError, OutputError
from .outputs import check_output_file, make_folder
from .owned import check_replace, in_stage, record, record_replaced, replaced

__all__ = [
    "CreatedFolder",
    "Notice",
    "atomic_path",
    "check_output_file",
    "copy_rows",
    "default_gpkg",
    "delete_layers",
    "existing_gpkg",
    "file_sha256",
    "output_dir",
    "private_folder",
    "read_only",
    "record_replaced",
    "remove_stale",
    "write_layers",
    "writer_lock",
]

#: Options every GeoPackage is written with: version 1.3, which QGIS 3.22 LTR reads without warning.
GPKG_OPTIONS = {"VERSION": "1.3"}


def output_dir(*, private: bool = False) -> Path:
    """Folder of generated products: ``$ATLAS_OUTPUT``, else ``output/`` in the current folder.

    Parameters
    ----------
    private : bool, default False
        The folder for what holds private layers instead: beside it, never inside
        (:func:`private_folder`: ``output-private/``), so that ``output/`` can be
        zipped and sent as it is.

    Examples
    --------
    >>> output_dir().name + " " + output_dir(private=True).name == (
    ...     f"{output_dir().name} {output_dir().name}-private")
    True
    """
    folder = Path(os.environ.get("ATLAS_OUTPUT") or Path.cwd() / "output")
    return private_folder(folder) if private else folder


def private_folder(folder: Path | str) -> Path:
    """The folder for private data that goes with a folder of shareable products: ``<folder>-private``.

    Beside the folder, never inside it: zipping or sending the folder (``output/``)
    leaves it behind; backing up the folder above keeps both. The one rule for
    every atlas: ``output/atlas.gpkg`` keeps its private layers in
    ``output-private/``, ``other/x.gpkg`` in ``other-private/``.

    Examples
    --------
    >>> private_folder("/work/project/output").as_posix()
    '/work/project/output-private'
    """
    folder = Path(folder).absolute()
    if folder.parent == folder or not folder.name:
        raise InputError(f"{folder}: the atlas keeps private data in a folder beside the folder of its "
                         "products, and the root of a file system has none: use a folder below it")
    return folder.with_name(f"{folder.name}-private")


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


#: Seconds a writer waits for another atlas command to finish writing the same GeoPackage
#: (``$ATLAS_LOCK_WAIT`` overrides it) before it refuses with a message.
LOCK_WAIT_S = 600.0


def lock_wait() -> float:
    """Seconds a writer waits for the lock: ``$ATLAS_LOCK_WAIT`` (a finite number ≥ 0) or :data:`LOCK_WAIT_S`.

    Examples
    --------
    >>> import os
    >>> os.environ["ATLAS_LOCK_WAIT"] = "nan"
    >>> try:
    ...     lock_wait()
    ... except InputError as exc:
    ...     print(exc)
    ATLAS_LOCK_WAIT='nan': give the seconds to wait for another writer, a number from 0 to 86400
    >>> del os.environ["ATLAS_LOCK_WAIT"]
    """
    text = os.environ.get("ATLAS_LOCK_WAIT", "").strip()
    if not text:
        return LOCK_WAIT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 86400:  # also false for nan
        raise InputError(f"ATLAS_LOCK_WAIT={text!r}: give the seconds to wait for another writer, "
                         "a number from 0 to 86400")
    return value


class Notice(UserWarning):
    """Something the atlas did that the user should know of (the command line says it as it is)."""


class CreatedFolder(Notice):
    """A folder the atlas created for an output (the command line says so)."""




def _make_parent(target: Path) -> None:
    parent = target.parent
    if make_folder(parent) is not None:
        warnings.warn(f"created the folder {parent}", CreatedFolder, stacklevel=3)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(target: Path) -> list[Path]:
    """Remove temporary files that killed atlas runs left beside ``target``.

    A temporary file is named ``.<stem>-<pid>-<random><suffix>`` (see
    :func:`atomic_path`); it is stale when that process no longer exists.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    target = Path(target)
    pattern = re.compile(rf"^\.{re.escape(target.stem)}-(\d+)-")
    removed = []
    if not target.parent.is_dir():
        return removed
    for p in target.parent.glob(f".{glob.escape(target.stem)}-*"):
        m = pattern.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


@contextmanager
def atomic_path(target: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left as
    it was. Temporary files of killed runs (their process gone) are removed
    first. A missing parent folder is created with a :class:`CreatedFolder`
    warning. Failures to write (a full disk, a read-only folder) raise
    :class:`~atlas.errors.OutputError`; every file replaced is recorded by
    the open :func:`record_replaced` blocks.
    """
    target = check_output_file(target)
    check_replace([target])  # never a file the atlas did not write (unless --overwrite)
    _make_parent(target)
    remove_stale(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-{os.getpid()}-",
                                   suffix=suffix or target.suffix, dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write in {target.parent}: {exc.strerror}; "
                          f"{target} was not replaced") from exc
    os.close(fd)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            os.replace(tmp_path, target)  # replaces a planted link itself, never the file it points to
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}; "
                              f"{target} was not replaced") from exc
        if not in_stage(target):  # a file of a staged product is replaced when the stage commits
            replaced(target)
            record([target])
    finally:
        for leftover in (tmp_path, *(Path(f"{tmp_path}{e}") for e in ("-journal", "-wal", "-shm"))):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover.exists():
                leftover.unlink()


_HELD: dict[Path, list] = {}


@contextmanager
def writer_lock(gpkg: Path, progress: Callable[[str], None] | None = None,
                wait_s: float | None = None) -> Iterator[Path]:
    """Hold the lock that serialises the writers of one GeoPackage.

    The lock is ``<gpkg>.lock`` beside it, held with ``flock`` (released by
    the system even when a process is killed) and removed on release. A
    second writer waits for it, saying so through ``progress``, and after
    ``wait_s`` seconds refuses. The lock is re-entrant within a process.

    Parameters
    ----------
    gpkg : pathlib.Path
        The GeoPackage about to be written.
    progress : callable, optional
        Told when the lock is busy and this writer waits.
    wait_s : float, optional
        Defaults to ``$ATLAS_LOCK_WAIT`` or :data:`LOCK_WAIT_S`.

    Raises
    ------
    OutputError
        Another command still holds the lock after ``wait_s`` seconds.

    Examples
    --------
    >>> import atlas.io, pathlib, tempfile
    >>> gpkg = pathlib.Path(tempfile.mkdtemp()) / "atlas.gpkg"
    >>> with atlas.io.writer_lock(gpkg) as lock:
    ...     lock.name
    'atlas.gpkg.lock'
    """
    gpkg = Path(gpkg).resolve()
    lock = gpkg.with_name(gpkg.name + ".lock")
    if gpkg in _HELD:
        _HELD[gpkg][1] += 1
        try:
            yield lock
        finally:
            _HELD[gpkg][1] -= 1
        return
    wait_s = lock_wait() if wait_s is None else wait_s
    _make_parent(gpkg)
    deadline, told = time.monotonic() + wait_s, False
    while True:  # the lock file is removed on release: lock it, then check it is still the file
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutputError(f"{lock} is a symbolic link; the atlas does not write through links "
                                  "(remove it if you did not make it); nothing was changed") from None
            raise OutputError(f"cannot write in {lock.parent}: {exc.strerror} (creating the lock file "
                              f"{lock.name}); nothing was changed") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            if not told and progress:
                progress(f"waiting for another atlas command writing {gpkg.name} ({holder}) "
                         f"to finish (at most {wait_s:.0f} s)")
            told = True
            if time.monotonic() > deadline:
                raise OutputError(
                    f"{gpkg} is being written by another atlas command ({holder}) for more "
                    f"than {wait_s:.0f} s; nothing was changed: try again when it has finished") from None
            time.sleep(0.1)
            continue
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        command = f" (atlas {sys.argv[1]})" if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else ""
        os.pwrite(fd, f"pid {os.getpid()}{command}".encode(), 0)
        _HELD[gpkg] = [fd, 1]
        try:
            yield lock
        finally:
            del _HELD[gpkg]
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


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


def _write_one(df: pd.DataFrame, path: Path, name: str, description: str = "", append: bool = False) -> None:
    df, arrow = _date_fields(df, name)
    opts = {"dataset_options": GPKG_OPTIONS, **arrow} if not path.exists() else dict(arrow)
    if append:
        opts["append"] = True
    layer_opts = {"DESCRIPTION": description} if description and not append else {}
    import pyogrio  # the GDAL binding: loaded by a writer, not by every command that locates the atlas

    gpd = sys.modules.get("geopandas")  # not loaded: then df cannot be a GeoDataFrame
    if gpd is not None and isinstance(df, gpd.GeoDataFrame):
        geom_type = df.geometry.geom_type.dropna()
        pyogrio.write_dataframe(
            df, path, layer=name, driver="GPKG", promote_to_multi=False,
            geometry_type=(geom_type.iloc[0] if len(geom_type) else "Point"),
            layer_options=layer_opts, **opts,
        )
    else:
        pyogrio.write_dataframe(df, path, layer=name, driver="GPKG",
                                layer_options=layer_opts, **opts)


#: Rows per chunk when a user layer is copied or checked a part at a time (a million points in ten).
LAYER_CHUNK = 100_000


def layer_chunks(atlas, name: str, size: int = LAYER_CHUNK, **options):
    """A layer of an opened atlas, read ``size`` features at a time (one frame from a store that cannot);
    ``options`` as :func:`atlas.store.read_layer` (``columns=[]``: the geometries only)."""
    start = 0
    while True:
        try:
            part = atlas.read(name, skip_features=start, max_features=size, **options)
        except InputError:  # a store that reads whole layers only (PostGIS): the whole layer, then its columns
            if start:
                raise
            whole = atlas.read(name)
            if options.get("columns") is not None:
                geometry = getattr(whole, "_geometry_column_name", None)
                whole = whole[[c for c in whole.columns if c in options["columns"] or c == geometry]]
            yield whole
            return
        if len(part) == 0 and start:
            return
        yield part
        if len(part) < size:
            return
        start += size


def check_layer_chunks(atlas, name: str, outline=None, size: int = LAYER_CHUNK) -> list:
    """The problems of a user layer (:data:`atlas.schema.USER_SCHEMA`), checked a chunk at a time: memory
    bounded by a chunk; an id repeated in another chunk is reported too.

    Parameters
    ----------
    atlas : Atlas
        The opened atlas holding the layer.
    name : str
        A user layer (``user_...``).
    outline : shapely geometry, optional
        The DPRK outline in EPSG:5179, for the inside-the-country test.
    size : int, default :data:`LAYER_CHUNK`
        Features a chunk.

    Returns
    -------
    list of atlas.schema.Problem
    """
    from . import schema  # the rules load geopandas: only a command that checks a layer needs them

    problems: list = []
    seen = np.empty(0, dtype=np.uint64)  # the ids of the chunks before, hashed and sorted: 8 bytes an id
    for part in layer_chunks(atlas, name, size):
        problems += schema.check_layers({name: part}, outline, required=False)
        ids = part[schema.USER_SCHEMA.id_field].astype(str).to_numpy(dtype=object)
        hashed = pd.util.hash_array(ids)
        at = np.minimum(np.searchsorted(seen, hashed), max(len(seen) - 1, 0))
        repeated = seen[at] == hashed if len(seen) else np.zeros(len(ids), bool)
        again = sorted(set(ids[repeated]))[:5]
        if again:
            problems.append(schema.Problem(name, ", ".join(again), schema.USER_SCHEMA.id_field,
                                           "id repeated in another part of the layer"))
        seen = np.union1d(seen, hashed)
    return problems


def release_memory() -> None:
    """Give memory freed by a finished step back to the system, before the next step of one long command
    (the site writes every export in one process): Python's garbage, Arrow's pool, the C heap's free pages.

    A step that read a million points a chunk at a time has freed them, but its allocators keep the pages
    for reuse; the next step's peak would stack on them.
    """
    import gc

    gc.collect()
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc only; elsewhere the pages stay with the process
    except (OSError, AttributeError):
        pass


def copy_layer_chunks(atlas, name: str, path: Path, progress: Callable[[str], None] | None = None) -> int:
    """Copy a (user) layer into the GeoPackage ``path`` a chunk at a time: memory bounded by a chunk."""
    n = 0
    for part in layer_chunks(atlas, name):
        if "private" not in part.columns:  # imported before the private flag existed: shared, said explicitly
            part = part.assign(private=False)
        _write_one(part, path, name, append=n > 0)
        n += len(part)
        if progress and n > LAYER_CHUNK:
            progress(f"copied {n:,} features of {name}")
    return n


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
    with writer_lock(Path(path), progress), atomic_path(Path(path)) as tmp:
        for name, df in layers.items():
            if progress:
                progress(f"writing {name} ({len(df)} rows)")
            _write_one(df, tmp, name, descriptions.get(name, ""))
        if before_replace:
            before_replace(tmp)
    return Path(path)


def existing_gpkg(path: Path | str | None) -> Path:
    """The GeoPackage at ``path`` (default ``output/atlas.gpkg``); a clear error when there is none."""
    if str(path or "").split(":/", 1)[0].lower() in ("postgresql", "postgres"):  # a URL made a Path
        raise InputError("this command reads a GeoPackage file (--gpkg FILE); an atlas in PostGIS "
                         "(--source postgresql://…) is read by find, near, nearest, summary, status, "
                         "show, layers, validate and export --format/--postgis")
    path = Path(path or default_gpkg())
    if not path.exists():
        hint = " (run `atlas build` first)" if path == default_gpkg() else ""
        raise NotFoundError(f"no GeoPackage at {path}{hint}")
    return admit_gpkg(path)


def file_sha256(path: Path | str) -> str:
    """The sha256 of a file's bytes, read 1 MiB at a time (hex).

    Examples
    --------
    >>> import atlas
    >>> len(atlas.io.file_sha256(atlas.default_gpkg()))
    64
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def fixed_timestamp(epoch: int) -> Iterator[None]:
    """GDAL's ``OGR_CURRENT_DATE`` and ``$SOURCE_DATE_EPOCH`` set to ``epoch`` for the duration.

    Whatever is written meanwhile carries that time, not the clock's: a rebuild gives the same bytes.
    """
    stamp = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    import pyogrio

    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
        if before is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before


@contextmanager
def read_only(path: Path | str) -> Iterator[sqlite3.Connection]:
    """A read-only SQLite connection to a GeoPackage, closed on leaving the ``with`` block.

    Opened with ``mode=ro``: it never writes, and never creates a missing file.

    Examples
    --------
    >>> import atlas
    >>> with atlas.io.read_only(atlas.default_gpkg()) as con:
    ...     con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
    True
    """
    con = sqlite3.connect(f"{admit_gpkg(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield con
    finally:
        con.close()


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
                # atlas.search's name keys and the layer's record (atlas.store.RECORDS)
                for keys in ("atlas_name_keys", "atlas_name_layers", "atlas_user_layers"):
                    if keys in tables:
                        con.execute(f"DELETE FROM {keys} WHERE layer = ?", (name,))
        con.execute("VACUUM")
    finally:
        con.close()


def copy_rows(src: Path, dst: Path, tables: Iterable[str], layers: Iterable[str]) -> None:
    """Carry the rows that belong to ``layers`` of the atlas's per-layer tables from ``src`` into ``dst``.

    The tables are the unregistered ones keyed by a ``layer`` column (the name
    keys of :mod:`atlas.search`, the records of :mod:`atlas.userlayers`); one
    missing from ``dst`` is created as ``src`` defines it. For layers copied
    with their fids.
    """
    layers = list(layers)
    if not layers or not Path(src).is_file():
        return
    marks = ", ".join("?" * len(layers))
    con = sqlite3.connect(str(dst))
    try:
        con.execute("ATTACH DATABASE ? AS src", (f"{Path(src).resolve().as_uri()}?mode=ro",))
        for table in tables:
            found = con.execute("SELECT sql FROM src.sqlite_master WHERE type = 'table' AND name = ?",
                                (table,)).fetchone()
            if found is None:
                continue
            with con:
                if not con.execute("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?",
                                   (table,)).fetchone():
                    con.execute(found[0])
                con.execute(f"DELETE FROM main.{table} WHERE layer IN ({marks})", layers)
                con.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table} WHERE layer IN ({marks})",
                            layers)
        con.execute("DETACH DATABASE src")
    finally:
        con.close()
