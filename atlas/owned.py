"""Which files in a folder did the atlas write? It replaces those, and nothing else.

An output folder is often a folder the user already uses (``--out output``,
``--out ~/Desktop``). The atlas records every file it writes into a folder in
that folder's manifest, ``.written-by-atlas.json`` (file names and sha256, nothing
else: never a private layer's name, since no private product is written into a
shared folder by default), and:

- **replaces** a file only when the manifest lists it with the sha256 it has now
  (a file changed since, or one it never wrote, is left alone: the command
  stops before writing anything and says how to proceed, ``--overwrite``);
- **removes** a file only when the manifest lists it, unchanged, and the product
  no longer holds it (a dossier of a site since withdrawn), never by removing a
  whole folder;
- **never follows a symbolic link** when it writes: files are written to a
  temporary name and renamed over the target, which replaces a planted link
  itself, never the file it points to (and a link is not the atlas's: without
  ``--overwrite`` it is refused).

Names that come from data (a site id, a layer name) become file names only
through :func:`safe_name`, which refuses anything but a plain name (no folder
separator, no ``..``, no control or bidi character, no device name), so that a
crafted GeoPackage cannot write outside the output folder.

:class:`Stage` writes a product's files into a hidden folder inside the target
folder and moves them into place together, once every file is written and every
target checked: an interrupted or refused command leaves the folder as it was.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from .errors import OutputError

__all__ = ["MANIFEST", "Stage", "check_replace", "in_stage", "overwriting", "record", "record_replaced", "remove_owned", "replaced",
           "safe_name", "safe_relpath"]

MANIFEST = ".written-by-atlas.json"
_GENERATOR = "gulag-inc-atlas"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,119}$")
_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
#: The lists that :func:`record_replaced` blocks collect replaced files into (innermost last).
_RECORDERS: contextvars.ContextVar[tuple[list[Path], ...]] = contextvars.ContextVar("atlas_replaced", default=())
_OVERWRITE: contextvars.ContextVar[bool] = contextvars.ContextVar("atlas_overwrite", default=False)


def safe_name(text: object) -> str | None:
    """``text`` as a file name, if it is a plain one; else ``None`` (the caller reports it).

    Examples
    --------
    >>> safe_name("KLS-14"), safe_name("user_interviews.csv")
    ('KLS-14', 'user_interviews.csv')
    >>> [safe_name(t) for t in ("../../etc/x", "/tmp/x", "a\\u202eb", "..", "CON", "")]
    [None, None, None, None, None, None]
    """
    name = str(text)
    if not _SAFE.fullmatch(name) or ".." in name or name.endswith("."):
        return None
    if name.split(".", 1)[0].lower() in _DEVICES:
        return None
    return name


def safe_relpath(rel: str | os.PathLike) -> PurePosixPath:
    """A relative path whose every part is a :func:`safe_name`; else :class:`OutputError`."""
    parts = PurePosixPath(Path(rel).as_posix()).parts
    if not parts or any(safe_name(p) is None for p in parts):
        raise OutputError(f"refusing to write {str(rel)!r}: not a plain relative file name")
    return PurePosixPath(*parts)


def in_stage(path: Path) -> bool:
    """Whether ``path`` lies in the hidden folder of a :class:`Stage` (written there, committed later)."""
    return any(part.startswith(".atlas-") for part in Path(path).parent.parts)


@contextmanager
def record_replaced(files: list[Path] | None = None) -> Iterator[list[Path]]:
    """Collect every file that :func:`atlas.io.atomic_path` or a :class:`Stage` replaces inside the block, in order.

    What an interrupted or failed command reports ("interrupted after
    replacing ..."). Blocks nest: a file counts in every open block.

    Parameters
    ----------
    files : list of pathlib.Path, optional
        The list to append to (default: a new one).

    Yields
    ------
    list of pathlib.Path

    Examples
    --------
    >>> import atlas.io, pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atlas.owned.record_replaced() as replaced:
    ...     with atlas.io.atomic_path(target) as tmp:
    ...         _ = tmp.write_text("a")
    >>> replaced == [target]
    True
    """
    files = [] if files is None else files
    token = _RECORDERS.set((*_RECORDERS.get(), files))
    try:
        yield files
    finally:
        _RECORDERS.reset(token)


def replaced(path: Path) -> None:
    """Note that ``path`` was just replaced, in every open :func:`record_replaced` block."""
    for files in _RECORDERS.get():
        files.append(Path(path))


@contextmanager
def overwriting(allow: bool = True) -> Iterator[None]:
    """Within the block, files the atlas did not write may be replaced (``--overwrite``)."""
    token = _OVERWRITE.set(bool(allow))
    try:
        yield
    finally:
        _OVERWRITE.reset(token)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _manifest(folder: Path) -> dict[str, str]:
    path = folder / MANIFEST
    if path.is_symlink() or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _write_manifest(folder: Path, files: dict[str, str]) -> None:
    path = folder / MANIFEST
    if not files:
        if path.is_file() and not path.is_symlink():
            path.unlink()
        return
    text = json.dumps({"generator": _GENERATOR, "files": dict(sorted(files.items()))}, indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".atlas-manifest-tmp-", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)  # replaces a planted link itself, never its target


def _is_atlas_gpkg(path: Path) -> bool:
    """An atlas GeoPackage (the store a build or an import rewrites): its layers ``sources`` and ``camps``."""
    try:
        with path.open("rb") as f:
            head = f.read(72)
        if not head.startswith(b"SQLite format 3\x00") or head[68:72] not in (b"GPKG", b"GP10", b"GP11"):
            return False
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
        finally:
            con.close()
    except (OSError, sqlite3.Error):
        return False
    return {"sources", "camps"} <= names


def _owned(path: Path, manifest: dict[str, str]) -> bool:
    if path.is_symlink():
        return False
    digest = manifest.get(path.name)
    if digest is not None and _sha256(path) == digest:
        return True
    return path.suffix.lower() == ".gpkg" and _is_atlas_gpkg(path)


def check_replace(targets: Iterable[Path]) -> None:
    """Refuse, before anything is written, to replace a file the atlas did not write.

    Parameters
    ----------
    targets : iterable of pathlib.Path
        The files about to be written.

    Raises
    ------
    OutputError
        Naming the files in the way, and how to proceed.
    """
    if _OVERWRITE.get():
        return
    blocked, manifests = [], {}
    for target in targets:
        target = Path(target)
        if target.is_dir() and not target.is_symlink():
            raise OutputError(f"{target} is a folder; the atlas writes a file of that name there")
        if not (target.exists() or target.is_symlink()):
            continue
        folder = target.parent
        if folder not in manifests:
            manifests[folder] = _manifest(folder)
        if not _owned(target, manifests[folder]):
            blocked.append(target)
    if blocked:
        shown = ", ".join(str(p) for p in blocked[:5]) + (f" and {len(blocked) - 5} more" if len(blocked) > 5 else "")
        raise OutputError(f"{shown}: already there, and not written by the atlas (or changed since it was); "
                          "nothing was written. Run again with --overwrite to replace "
                          f"{'them' if len(blocked) > 1 else 'it'}, or choose another --out")


def remove_owned(path: Path) -> bool:
    """Remove a file only if the atlas wrote it (and nobody changed it since); say whether it did.

    A file of that name that the atlas did not write is left alone: the atlas
    never deletes what it did not write.
    """
    path = Path(path)
    if not path.is_file() or not _owned(path, _manifest(path.parent)):
        return False
    path.unlink()
    record((), [path])
    return True


def record(written: Iterable[Path], removed: Iterable[Path] = ()) -> None:
    """Note in their folders' manifests the files the atlas has just written (and removed).

    A manifest names only files that are in its folder: the name of a file since
    deleted (a product made with private layers, written there by mistake and
    removed) leaves the manifest at the next write (:mod:`atlas.userlayers`:
    nothing shared names a private layer).
    """
    by_folder: dict[Path, tuple[list[Path], list[Path]]] = {}
    for p in written:
        by_folder.setdefault(Path(p).parent, ([], []))[0].append(Path(p))
    for p in removed:
        by_folder.setdefault(Path(p).parent, ([], []))[1].append(Path(p))
    for folder, (new, gone) in by_folder.items():
        files = {name: digest for name, digest in _manifest(folder).items()
                 if safe_name(name) and (folder / name).is_file()}
        for p in gone:
            files.pop(p.name, None)
        for p in new:
            files[p.name] = _sha256(p)
        _write_manifest(folder, files)


class Stage:
    """A product's files, written into a hidden folder, moved into ``folder`` together.

    Parameters
    ----------
    folder : pathlib.Path
        The output folder (created if missing).
    prune : iterable of str, optional
        Subfolders (relative, ``""`` for ``folder`` itself) whose earlier atlas files
        that this product no longer writes are removed on commit (only files the
        manifest lists, unchanged).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with Stage(out) as stage:
    ...     _ = stage.path("pages/KLS-14.html").write_text("<p>Camp 14</p>")
    >>> sorted(p.name for p in (out / "pages").iterdir())
    ['.written-by-atlas.json', 'KLS-14.html']
    >>> _ = (out / "pages" / "KLS-14.html").write_text("the user's own notes")
    >>> try:
    ...     with Stage(out) as stage:
    ...         _ = stage.path("pages/KLS-14.html").write_text("<p>Camp 14</p>")
    ... except OutputError as exc:
    ...     print("refused")
    refused
    >>> (out / "pages" / "KLS-14.html").read_text()
    "the user's own notes"
    """

    def __init__(self, folder: Path | str, prune: Iterable[str] = ()):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(f"{self.folder} is a file, not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prune = [safe_relpath(p) if p else PurePosixPath() for p in prune]
        self.tmp = Path(tempfile.mkdtemp(prefix=f".atlas-{os.getpid()}-", dir=self.folder))
        self.files: dict[PurePosixPath, Path] = {}  # filled on commit: every file under tmp
        self.written: list[Path] = []
        self.removed: list[Path] = []

    def path(self, rel: str | os.PathLike) -> Path:
        """The temporary path at which to write the file that will be ``folder/rel``.

        Anything written under :attr:`tmp` is part of the product, whether through
        this method or by a writer given a folder inside it.
        """
        tmp = self.tmp.joinpath(*safe_relpath(rel).parts)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        return tmp

    def _staged(self) -> dict[PurePosixPath, Path]:
        files = {}
        for p in sorted(self.tmp.rglob("*")):
            rel = PurePosixPath(p.relative_to(self.tmp).as_posix())
            if p.is_symlink() or not p.is_file() or p.name == MANIFEST \
                    or any(part.startswith(".atlas-") for part in rel.parts):
                continue  # a nested writer's manifest or leftovers: the manifests are written on commit
            files[safe_relpath(rel)] = p
        return files

    def final(self, rel: str | os.PathLike) -> Path:
        """Where ``rel`` will be once committed."""
        return self.folder.joinpath(*safe_relpath(rel).parts)

    def _stale(self) -> list[Path]:
        keep = {self.folder.joinpath(*r.parts) for r in self.files}
        stale = []
        for sub in self.prune:
            folder = self.folder.joinpath(*sub.parts)
            if folder.is_symlink() or not folder.is_dir():
                continue
            manifest = _manifest(folder)
            for name in manifest:
                p = folder / name
                if p not in keep and safe_name(name) and p.is_file() and _owned(p, manifest):
                    stale.append(p)
        return stale

    def commit(self) -> list[Path]:
        """Check every target, then move every file into place; remove stale atlas files."""
        self.files = self._staged()
        finals = {rel: self.folder.joinpath(*rel.parts) for rel in self.files}
        for final in finals.values():  # a planted link as a folder on the way: refuse
            for parent in list(final.relative_to(self.folder).parents)[:-1]:
                if (self.folder / parent).is_symlink():
                    raise OutputError(f"{self.folder / parent} is a symbolic link; the atlas does not "
                                      "write through links inside an output folder")
        check_replace(finals.values())
        stale = self._stale()
        for rel, final in finals.items():
            tmp = self.files[rel]
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            self.written.append(final)
            replaced(final)
        for p in stale:
            p.unlink()
            self.removed.append(p)
        record(self.written, self.removed)
        return self.written

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
