"""What one run of the ``atlas`` command carries, and how it ends.

:class:`Context` is the click context's object (``ctx.obj``): the ``-v``/``-q``
choice, the output folders the command created and the files it replaced.
Nothing of a run is kept at module level, so many runs in one process (the
tests run the command in-process with click's ``CliRunner``) never see each
other's. :func:`handle_errors` turns the atlas's own errors into one message
and an exit code; :func:`warnings_to_stderr` prints warnings as ``atlas:``
lines for the length of a run.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import click

from ..errors import AtlasError

__all__ = ["Context", "echo", "echo_err", "handle_errors", "pass_ctx", "state", "warnings_to_stderr"]


#: Optional dependencies, each with the extra that installs it (``pip install 'gulag-inc-atlas[EXTRA]'``).
OPTIONAL = {"sqlalchemy": "postgis", "psycopg": "postgis", "weasyprint": "pdf", "dask_geopandas": "dask",
            "dask": "dask", "playwright": "test"}


def echo(text: object, err: bool = False, fmt: str = "table", nl: bool = True) -> None:
    """Print what a command says, safe for a terminal: every line of the ``atlas`` command goes here.

    Text (tables, messages, warnings, progress) passes through
    :func:`atlas.redact.terminal_text`: control and escape characters from
    data are shown as ``\\x1b``, bidi controls as ``\\u202e``. Data keeps its
    data exact: ``json``/``geojson`` by JSON's own escapes
    (:func:`atlas.redact.json_text`), ``csv`` as it is when standard output is
    a file or a pipe (shown escaped, like a table, on a terminal).

    Parameters
    ----------
    text : object
    err : bool, default False
        Standard error rather than standard output.
    fmt : str, default "table"
        The format of ``text``: ``json``, ``geojson`` and ``csv`` are data.
    nl : bool, default True
        End with a newline.
    """
    from ..redact import json_text, terminal_text

    text = str(text)
    if fmt in ("json", "geojson"):
        click.echo(json_text(text), err=err, nl=nl)
    elif fmt == "csv" and not click.get_text_stream("stderr" if err else "stdout").isatty():
        click.echo(text.encode("utf-8", "surrogateescape"), err=err, nl=nl)  # the data, exact
    else:
        click.echo(terminal_text(text), err=err, nl=nl)


def echo_err(msg: str) -> None:
    """Print a line on standard error (escaped as :func:`echo` escapes text)."""
    echo(msg, err=True)


class Context:
    """Options shared by every sub-command, and what this run has done to the disk.

    Parameters
    ----------
    verbose : int
        ``-v``: progress lines say when each step started.
    quiet : bool
        ``-q``: print only results and errors.
    """

    def __init__(self, verbose: int = 0, quiet: bool = False):
        self.verbose = verbose
        self.quiet = quiet
        self._clock = time.perf_counter
        self._started = time.perf_counter()
        #: Output folders this run created, each with the topmost folder that was new.
        self.created_folders: list[tuple[Path, Path]] = []
        #: Files this run replaced, in order (see :func:`atlas.io.record_replaced`).
        self.replaced: list[Path] = []

    def progress(self, msg: str) -> None:
        """Say a step on standard error (not with ``-q``; timed with ``-v``)."""
        if self.quiet:
            return
        if self.verbose:  # -v: when each step started, in seconds since the command started
            echo_err(f"atlas: [{self._clock() - self._started:6.1f} s] {msg}")
        else:
            echo_err(f"atlas: {msg}")

    def make_folder(self, folder: Path) -> None:
        """Create a missing output folder: said when the command succeeds, removed again if it fails.

        Raises
        ------
        atlas.errors.OutputError
            The folder cannot be created.
        """
        from ..outputs import make_folder

        top = make_folder(folder)
        if top is not None:
            self.created_folders.append((folder, top))

    def settle(self, done: bool) -> None:
        """Say which folders a command that succeeded created; remove them, if still empty, when it failed."""
        import shutil

        for folder, top in self.created_folders:
            if done:
                echo_err(f"atlas: created the folder {folder}")
            elif top.is_dir() and not any(p.is_file() for p in top.rglob("*")):
                shutil.rmtree(top, ignore_errors=True)  # nothing was written: leave no trace
        self.created_folders.clear()

    def replaced_note(self) -> str:
        """What a failing command had already replaced, if anything (so that no message lies).

        A file written into a staging folder that the failure discarded is gone, so not named;
        past five, the rest are counted.
        """
        kept = [p for p in self.replaced if Path(p).exists()]
        if not kept:
            return ""
        more = f" and {len(kept) - 5} more" if len(kept) > 5 else ""
        return f" (already replaced: {', '.join(map(str, kept[:5]))}{more})"


pass_ctx = click.make_pass_decorator(Context)


def state(ctx: click.Context | None = None) -> Context:
    """The :class:`Context` of this run (a new one when a command runs outside the group)."""
    return (ctx or click.get_current_context()).ensure_object(Context)


@contextlib.contextmanager
def _recording(files: list[Path]) -> Iterator[None]:
    from ..io import record_replaced  # the GeoPackage layer: loaded when a command runs, not for --help

    with record_replaced(files):
        yield


def handle_errors(func):
    """Turn AtlasError into a message and exit code; keep tracebacks for real bugs."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        run = state()
        done = False
        try:
            with _recording(run.replaced):
                result = func(*args, **kwargs)
            done = True
            return result
        except AtlasError as exc:
            echo_err(f"atlas: error: {exc}{run.replaced_note()}")
            sys.exit(exc.exit_code)
        except OSError as exc:  # the system refused (disk full, permission): not a bug of the atlas
            where = f" ({exc.filename})" if exc.filename else ""
            echo_err(f"atlas: error: {exc.strerror or exc}{where}{run.replaced_note()}")
            sys.exit(2)
        except ImportError as exc:  # an optional dependency not installed: said, not a traceback
            extra = OPTIONAL.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            echo_err(f"atlas: error: this needs the optional dependency {exc.name.split('.')[0]}: "
                     f"pip install 'gulag-inc-atlas[{extra}]'{run.replaced_note()}")
            sys.exit(2)
        except KeyboardInterrupt:
            if run.replaced:
                echo_err(f"atlas: interrupted after replacing {', '.join(map(str, run.replaced))}; "
                         "nothing else was replaced")
            else:
                echo_err("atlas: interrupted; nothing was replaced")
            sys.exit(130)
        finally:
            run.settle(done)

    return wrapper


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from ..io import Notice

    echo_err(f"atlas: {message}" if issubclass(category, Notice) else f"atlas: warning: {message}")


@contextlib.contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """Within the block, print each warning as one ``atlas: warning: ...`` line on standard error.

    The previous warning machinery comes back when the block ends.
    """
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        yield
