"""A user's own layers: which there are, what each is, and what each product may hold of them.

A layer a user imports (``atlas import FILE --as NAME``) is stored as
``user_NAME`` with one record (:data:`atlas.store.RECORDS`: whether it is
private, its source file's name and sha256, the import time, its kind and
feature count). A layer imported with ``--private`` is stored apart, in the
atlas's private store (:func:`atlas.store.private_store`:
``output-private/atlas-private.gpkg`` beside ``output/``), never in the public
GeoPackage that shared products are made from and cite.

This module is the catalogue of those layers and the **one gate**:
:func:`gate` decides, from the stored records, what a product may hold and
gives it the atlas to read, the public atlas alone or with the private store
laid over it. Shared products (:data:`SHARED`: the map, dossiers, the site,
the four file exports, QGIS, PostGIS, the summary, and anything else that
leaves the machine, such as the scenes of an imagery register and the
output folders' manifests) hold a private layer only when asked
(``include_private=True``) and then say so on their face (:func:`banner`,
:func:`marked`); answers on this machine (:data:`LOCAL`: ``find``, ``near``,
``nearest``, ``show``, ``status``, ``layers``) use private layers and mark them.
:func:`admits` is the rule itself, for anything that carries a ``private``
flag. :func:`migrate` moves the private layers of an atlas laid out the old way
(inside the public GeoPackage) into its private store, once.
"""

from __future__ import annotations

import shutil
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import io
from .errors import InputError
from .store import RECORD_FIELDS, RECORDS, USER_PREFIX, Atlas, open_atlas, open_store, private_store

__all__ = ["LOCAL", "PRIVATE_MARK", "PRIVATE_NOTE", "SHARED", "USER_PREFIX", "Allowed", "admits", "banner",
           "copy_records", "gate", "layer_name", "mark_private", "marked", "migrate", "private_names",
           "private_store_for", "user_layer_records", "user_layers", "write_record"]

#: What is made to leave this machine (a file, a page, a database, a table pasted into a report):
#: it holds a private layer only when asked (``include_private=True``), and then says so on its face.
SHARED = frozenset({"map", "dossier", "site", "geojson", "csv", "geoparquet", "kmz", "qgis", "postgis",
                    "summary", "density", "chips", "scenes", "manifest"})
#: Answers on this machine's terminal: they use private layers too, and mark them.
LOCAL = frozenset({"find", "near", "nearest", "show", "status", "layers"})
#: Shared products that only print (nothing written): an atlas laid out the old way is not moved for them.
_READ_ONLY = frozenset({"summary"})
#: Shared products with no ``--include-private``: never made from a private layer.
_NEVER_PRIVATE = frozenset({"density", "chips", "scenes", "manifest"})
#: What a data file holding a private layer has in its name: ``user_interviews.PRIVATE.csv``.
PRIVATE_MARK = "PRIVATE"
#: The private store's note to whoever opens its folder.
_README = """This folder holds the private layers of the atlas GeoPackage {public}
(atlas import --private), kept apart from the folder of shareable products.

Never send this folder or anything in it. Back it up with your other work.
Products made with --include-private are written here by default; each says on its
face that it contains private layers.
"""


def layer_name(name: str) -> str:
    """The stored name of a user layer: ``interviews`` and ``user_interviews`` are ``user_interviews``.

    Examples
    --------
    >>> layer_name("interviews"), layer_name("user_interviews")
    ('user_interviews', 'user_interviews')
    """
    name = str(name or "")
    return name if name.startswith(USER_PREFIX) else f"{USER_PREFIX}{name}"


# --- the rule ---------------------------------------------------------------------------------


def admits(record: Mapping, product: str, *, include_private: bool = False) -> bool:
    """Whether ``product`` may hold what ``record`` describes: the one rule of source protection.

    Parameters
    ----------
    record : mapping
        A user layer's record (or anything with a ``private`` flag: a scene of an
        imagery register, a file a manifest would name).
    product : str
        One of :data:`SHARED` or :data:`LOCAL`.
    include_private : bool, default False
        The product was asked for private layers (``--include-private``).

    Returns
    -------
    bool

    Examples
    --------
    >>> admits({"private": True}, "map"), admits({"private": True}, "map", include_private=True)
    (False, True)
    >>> admits({"private": True}, "near"), admits({"private": False}, "csv")
    (True, True)
    """
    if product in LOCAL:
        return True
    if product not in SHARED:
        raise ValueError(f"unknown product {product!r}: the gate knows {', '.join(sorted(SHARED | LOCAL))}")
    return not record.get("private") or bool(include_private)


def banner(records: Iterable[Mapping]) -> str:
    """What a product holding private layers says on its face (``""`` when it holds none).

    Examples
    --------
    >>> banner([{"layer": "user_interviews", "private": True}, {"layer": "user_mines", "private": False}])
    'CONTAINS PRIVATE LAYER interviews — do not share'
    >>> banner([{"layer": "user_mines", "private": False}])
    ''
    """
    names = [str(r["layer"])[len(USER_PREFIX):] if str(r["layer"]).startswith(USER_PREFIX) else str(r["layer"])
             for r in records if r.get("private")]
    if not names:
        return ""
    return f"CONTAINS PRIVATE LAYER{'S' if len(names) > 1 else ''} {', '.join(names)} \u2014 do not share"


def marked(path: Path | str) -> Path:
    """A data file's name saying that it holds a private layer: ``user_x.csv`` becomes ``user_x.PRIVATE.csv``.

    Examples
    --------
    >>> marked("out/user_interviews.csv").as_posix()
    'out/user_interviews.PRIVATE.csv'
    """
    path = Path(path)
    return path.with_name(f"{path.stem}.{PRIVATE_MARK}{path.suffix}")


@dataclass(frozen=True)
class Allowed:
    """What the gate lets a product hold.

    Attributes
    ----------
    product : str
    atlas : Atlas
        What the product reads: the public atlas alone, or with the private
        store laid over it (asked for, or an answer on this machine).
    records : tuple of dict
        The user layers the product may hold, one record each (``private`` marked).
    include_private : bool
        Private layers are in :attr:`atlas`.
    """

    product: str
    atlas: Atlas
    records: tuple[dict, ...]
    include_private: bool

    @property
    def names(self) -> list[str]:
        """The user layers the product may hold."""
        return [r["layer"] for r in self.records]

    @property
    def private(self) -> list[str]:
        """The private layers among them."""
        return [r["layer"] for r in self.records if r["private"]]

    @property
    def banner(self) -> str:
        """What the product says on its face (``""``: it holds no private layer)."""
        return banner(self.records)

    def refuse(self, names: Iterable[str], verb: str = "export") -> None:
        """Refuse, by name, a private layer asked for by a product not asked to hold one.

        Raises
        ------
        InputError
            Naming the layer and the option that would include it.
        """
        if self.include_private:
            return
        asked = {str(n) for n in names} | {layer_name(n) for n in names}  # --as NAME: user_NAME
        private = sorted(r["layer"] for r in self.atlas.with_private().user_layer_records()
                         if r["private"] and r["layer"] in asked and not self.atlas.has(r["layer"]))
        if private and self.product in _NEVER_PRIVATE:
            raise InputError(f"{', '.join(private)}: imported as private; {self.product} makes a file to "
                             "share, never from a private layer")
        if private:
            raise InputError(f"{', '.join(private)}: imported as private; add --include-private "
                             f"(include_private=True) to {verb} it")


def gate(gpkg: Atlas | Path | str | None, product: str, *, include_private: bool = False) -> Allowed:
    """What ``product`` may hold of the user's layers, and the atlas it is to read them from.

    The one place that decides: every product and every local answer asks
    here. A shared product that writes moves an atlas laid out the old way
    first (:func:`migrate`), so that it never cites a GeoPackage that holds
    private layers.

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas (a GeoPackage, its private store beside it, or a PostGIS URL).
    product : str
        One of :data:`SHARED` (``"map"``, ``"csv"``, ...) or :data:`LOCAL` (``"near"``, ...).
    include_private : bool, default False
        A shared product asked for the private layers too.

    Returns
    -------
    Allowed

    Examples
    --------
    >>> allowed = gate(None, "map")
    >>> allowed.private, allowed.banner
    ([], '')
    """
    admits({}, product)  # an unknown product is refused before anything is opened
    if product in SHARED and product not in _READ_ONLY and migrate(gpkg) and isinstance(gpkg, Atlas):
        gpkg = gpkg.path  # the file changed: opened anew
    local = product in LOCAL
    atlas = open_atlas(gpkg, include_private=local or bool(include_private))
    records = tuple(sorted((r for r in atlas.user_layer_records() if admits(r, product, include_private=include_private)),
                           key=lambda r: str(r["layer"])))
    return Allowed(product, atlas, records, local or bool(include_private))


# --- answers on this machine: private rows marked -------------------------------------------

#: What an answer on this machine says under rows of private layers.
PRIVATE_NOTE = "Rows marked private come from your private layers: keep them on this machine."


def private_names(gpkg: Atlas | Path | str | None) -> set[str]:
    """The private layers an answer on this machine may show, so that their rows are marked."""
    return set(gate(gpkg, "near").private)


def mark_private(frame, private, at: int = 0):
    """A local answer's rows, with a ``private`` column saying ``PRIVATE`` where ``private`` is true.

    Examples
    --------
    >>> import pandas as pd
    >>> mark_private(pd.DataFrame({"id": ["a", "b"]}), [True, False])["private"].tolist()
    ['PRIVATE', '']
    """
    out = frame.copy()
    values = ["PRIVATE" if p else "" for p in private]
    if "private" in out.columns:  # the layer's own flag (every column asked for): said in the same words
        out["private"] = values
    else:
        out.insert(at, "private", values)
    out.attrs.update(frame.attrs)
    return out


# --- the catalogue ----------------------------------------------------------------------------


def user_layer_records(gpkg: Atlas | Path | str | None = None, *, include_private: bool = True) -> list[dict]:
    """One record per user layer: what a product that includes it says about it.

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas; defaults to ``output/atlas.gpkg`` (with its private store).
    include_private : bool, default True
        Also list the layers imported with ``private=True``.

    Returns
    -------
    list of dict
        ``layer``, ``private``, ``kind``, ``source_file``, ``source_sha256``,
        ``imported_at`` and ``features``, by layer name.

    Examples
    --------
    >>> all(r["layer"].startswith("user_") for r in user_layer_records())
    True
    """
    return [dict(r) for r in open_atlas(gpkg, include_private=include_private).user_layer_records()]


def user_layers(gpkg: Atlas | Path | str | None = None, *, include_private: bool = True) -> list[str]:
    """Names of the user layers of the atlas.

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional
        Defaults to ``output/atlas.gpkg`` (with its private store).
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
    a = open_atlas(gpkg, include_private=include_private)
    shown = {r["layer"] for r in a.user_layer_records()}
    return [n for n in a.layers() if n in shown]  # in the atlas's order


# --- the stored records -----------------------------------------------------------------------


def write_record(gpkg: Path, record: Mapping) -> None:
    """Store a user layer's record in a GeoPackage (the importer, on a copy it then swaps in)."""
    row = [record.get(f) for f in RECORD_FIELDS]
    row[1] = int(bool(row[1]))
    con = sqlite3.connect(str(gpkg))
    try:
        with con:
            con.execute(f"CREATE TABLE IF NOT EXISTS {RECORDS} (layer TEXT PRIMARY KEY, private INTEGER NOT NULL, "
                        "kind TEXT, source_file TEXT, source_sha256 TEXT, imported_at TEXT, features INTEGER)")
            con.execute(f"INSERT OR REPLACE INTO {RECORDS} ({', '.join(RECORD_FIELDS)}) "
                        f"VALUES ({', '.join('?' * len(RECORD_FIELDS))})", row)
    finally:
        con.close()


def copy_records(src: Path, dst: Path, layers: Iterable[str]) -> None:
    """Carry the records of ``layers`` from the GeoPackage ``src`` into ``dst`` (a rebuild keeps them).

    A layer imported before records were stored gets one now, read once from its rows.
    """
    layers = set(layers)
    if not layers or not Path(src).is_file():
        return
    for rec in open_store(src).user_layer_records():
        if rec["layer"] in layers:
            write_record(dst, rec)


# --- the layout: private layers apart ---------------------------------------------------------


def _gpkg_path(gpkg: Atlas | Path | str | None) -> Path | None:
    """The public GeoPackage file of an atlas, or None (a database)."""
    from .database import is_database_url

    if isinstance(gpkg, Atlas):
        return None if getattr(gpkg, "role", "public") == "private" else gpkg.path
    if is_database_url(gpkg):
        return None
    path = Path(gpkg or io.default_gpkg())
    return path if path.is_file() else None


def _left_behind(path: Path) -> list[dict]:
    """Records of the private layers still inside a public GeoPackage (the layout before private stores)."""
    atlas = open_store(path)
    if not atlas.has("camps"):  # not an atlas (a private store itself, say): nothing to move
        return []
    return [r for r in atlas.user_layer_records() if r["private"]]


def migrate(gpkg: Atlas | Path | str | None = None, progress: Callable[[str], None] | None = None) -> list[str]:
    """Move the private layers of an atlas laid out the old way into its private store, once.

    An atlas whose private layers are still inside the public GeoPackage (the
    layout before private stores) has them copied, with their records and name
    keys, into :func:`atlas.store.private_store`, then removed from the public
    GeoPackage (no trace left in its free pages). Each file is replaced
    atomically, under its writer lock. Nothing happens for an atlas laid out
    as it should be, or in a database.

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas GeoPackage (default ``output/atlas.gpkg``).
    progress : callable, optional
        Told what moved; without it, a :class:`atlas.io.Notice` warning says so.

    Returns
    -------
    list of str
        The layers moved.
    """
    path = _gpkg_path(gpkg)
    if path is None or not _left_behind(path):
        return []
    store = private_store_for(path)
    with io.writer_lock(path, progress), io.writer_lock(store, progress):
        moved = _left_behind(path)  # again, now that no other writer can be at work
        names = [r["layer"] for r in moved]
        if not names:
            return []
        with io.atomic_path(store) as tmp:
            if store.is_file():
                shutil.copyfile(store, tmp)
                io.delete_layers(tmp, names)
            for rec in moved:
                _copy_layer(path, tmp, rec["layer"])
                write_record(tmp, {**rec, "private": True})
            io.copy_rows(path, tmp, ("atlas_name_keys", "atlas_name_layers"), names)
        with io.atomic_path(path) as tmp:
            shutil.copyfile(path, tmp)
            io.delete_layers(tmp, names)
    message = (f"moved {len(names)} private layer(s) ({', '.join(names)}) out of {path} into {store}, once: "
               f"private layers are kept apart from the folder of shareable products; {path.name} no longer "
               "holds them (`atlas build` rewrites it as a clean build would)")
    if progress:
        progress(message)
    else:
        warnings.warn(message, io.Notice, stacklevel=2)
    return names


def _copy_layer(src: Path, dst: Path, name: str) -> None:
    """Copy one layer between GeoPackages with its feature ids (its name keys refer to them)."""
    import pyogrio

    info = pyogrio.read_info(src, layer=name)
    df = pyogrio.read_dataframe(src, layer=name, fid_as_index=True)
    df = df.reset_index(names="fid")
    options = {} if dst.exists() else {"dataset_options": io.GPKG_OPTIONS}
    pyogrio.write_dataframe(df, dst, layer=name, driver="GPKG", geometry_type=info.get("geometry_type"),
                            promote_to_multi=False, **options)


def _new_private_folder(folder: Path, public: Path) -> None:
    """Create the private folder, with a note saying what it is, the first time it is needed."""
    if folder.is_dir():
        return
    folder.mkdir(parents=True)
    with io.atomic_path(folder / "README.txt") as tmp:
        tmp.write_text(_README.format(public=public.name), encoding="utf-8")


def private_store_for(gpkg: Path) -> Path:
    """The private store of the atlas GeoPackage ``gpkg``, its folder created (with a note) if needed."""
    store = private_store(gpkg)
    _new_private_folder(store.parent, Path(gpkg))
    return store
