"""Where the atlas may write: the one policy for output paths.

Every output the atlas writes is checked here first, whether the API asks
(:func:`atlas.io.atomic_path` checks each file it replaces) or the command
line does (each ``--out`` is checked while the options are parsed, before
any work):

- a **file** (:func:`check_output_file`): not empty, not a directory, not a
  device, pipe or broken link, not read-only, and its parent a folder;
- a **folder** (:func:`check_output_folder`): not empty, and nothing in the
  way that is not a writable folder;
- **either** (:func:`check_output_target`, for ``atlas export --out``): not
  empty, not a device or pipe, not read-only.

A missing folder is created by :func:`make_folder`, which says which topmost
folder was new, so that a command that fails can remove what it created.

Every refusal is an :class:`~atlas.errors.OutputError` naming the path and
what is wrong with it. This module imports nothing heavy: the command line
calls it while it parses its options.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import OutputError

__all__ = ["check_output_file", "check_output_folder", "check_output_target", "make_folder"]


def check_output_file(target: Path | str, what: str = "output") -> Path:
    """Refuse an output path that is empty, a directory, a device or read-only.

    Parameters
    ----------
    target : pathlib.Path or str
        The file about to be written (it may not exist yet).
    what : str
        How to name it in a message (e.g. ``"--out"``).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        Naming the path and what is wrong with it.

    Examples
    --------
    >>> import atlas.outputs, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> atlas.outputs.check_output_file(folder + "/atlas.html").name
    'atlas.html'
    >>> try:
    ...     atlas.outputs.check_output_file(folder, "--out")
    ... except atlas.errors.OutputError as exc:
    ...     print(str(exc).replace(folder, "FOLDER"))
    --out FOLDER is a directory; give a file path inside it
    """
    if str(target).strip() == "":
        raise OutputError(f"{what} is empty: give a file path")
    target = Path(target)
    if target.is_dir():
        raise OutputError(f"{what} {target} is a directory; give a file path inside it")
    if target.exists() or target.is_symlink():
        st = target.stat() if target.exists() else None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise OutputError(f"{what} {target} is not a regular file (a device, pipe or broken "
                              "link); refusing to write to it")
        if not st.st_mode & 0o222 or not os.access(target, os.W_OK):
            raise OutputError(f"{what} {target} is read-only; refusing to replace it")
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"{what} {target}: {parent} is not a folder")
    return target


def check_output_folder(target: Path | str, what: str = "--out") -> Path:
    """Refuse an output folder that is empty text or has something in the way.

    Parameters
    ----------
    target : pathlib.Path or str
        The folder about to be written into (it may not exist yet).
    what : str
        How to name it in a message.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        The path is empty, exists and is not a folder, or is a read-only folder.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> check_output_folder(folder + "/chips").name
    'chips'
    >>> try:
    ...     check_output_folder("")
    ... except OutputError as exc:
    ...     print(exc)
    --out is empty: give a folder
    """
    if str(target).strip() == "":
        raise OutputError(f"{what} is empty: give a folder")
    path = Path(target)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path} exists and is not a folder")
    if path.is_dir() and not os.access(path, os.W_OK):
        raise OutputError(f"{what} {path} is a read-only folder")
    return path


def check_output_target(target: Path | str, what: str = "--out") -> Path:
    """Refuse an output that may be a folder or a file: empty text, a device, read-only.

    Whether a folder or a file is wanted is decided later, by what is exported
    (``atlas export`` writes one file when one layer goes to a path with the
    format's suffix).

    Parameters
    ----------
    target : pathlib.Path or str
        The folder or file about to be written.
    what : str
        How to name it in a message.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        The path is empty, is neither a regular file nor a folder, or is read-only.

    Examples
    --------
    >>> try:
    ...     check_output_target("/dev/null")
    ... except OutputError as exc:
    ...     print(exc)
    --out /dev/null is not a regular file or folder (a device or pipe)
    """
    if str(target).strip() == "":
        raise OutputError(f"{what} is empty: give a folder or a file")
    path = Path(target)
    if path.exists() and not (path.is_dir() or path.is_file()):
        raise OutputError(f"{what} {path} is not a regular file or folder (a device or pipe)")
    if (path.exists() and not os.access(path, os.W_OK)) or (path.is_file() and not path.stat().st_mode & 0o222):
        raise OutputError(f"{what} {path} is read-only")
    return path


def make_folder(folder: Path) -> Path | None:
    """Create a missing output folder (with its missing parents).

    Parameters
    ----------
    folder : pathlib.Path
        The folder an output goes into.

    Returns
    -------
    pathlib.Path or None
        The topmost folder that was created (what to remove again, if still
        empty, when the command fails), or None when ``folder`` existed.

    Raises
    ------
    OutputError
        The system refused to create it.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> make_folder(root / "a" / "b") == root / "a", make_folder(root / "a" / "b")
    (True, None)
    """
    folder = Path(folder)
    if folder.exists():
        return None
    top = folder
    while not top.parent.exists():
        top = top.parent
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {folder}: {exc.strerror}") from exc
    return top
