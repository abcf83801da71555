"""Exceptions raised by the atlas.

Every error the atlas raises on purpose derives from :class:`AtlasError`, so a
caller (or the command line) can catch one class. Each class carries the exit
code the ``atlas`` command uses for it: ``2`` for bad input from the user,
``1`` for data that failed a check.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousError",
    "AtlasError",
    "InputError",
    "NoGeometryError",
    "NotFoundError",
    "OutputError",
    "SourceError",
    "ValidationError",
]


class AtlasError(Exception):
    """Base class of every error the atlas raises on purpose."""

    exit_code = 1


class InputError(AtlasError, ValueError):
    """An argument or a user's file is not acceptable (exit code 2)."""

    exit_code = 2


class NotFoundError(InputError, LookupError):
    """A site, layer or file that was asked for does not exist.

    Parameters
    ----------
    message : str
        What was not found.
    suggestions : list of str, optional
        The closest known names, best first.
    """

    def __init__(self, message: str, suggestions: list[str] | None = None):
        self.suggestions = list(suggestions or [])
        if self.suggestions:
            message = f"{message}; closest: {', '.join(self.suggestions)}"
        super().__init__(message)


class AmbiguousError(InputError):
    """A query matches several sites where exactly one is needed.

    Parameters
    ----------
    message : str
        The query and why it is ambiguous.
    candidates : list
        Every candidate, ranked.
    """

    def __init__(self, message: str, candidates: list | None = None):
        self.candidates = list(candidates or [])
        super().__init__(message)


class NoGeometryError(InputError):
    """A site has no public coordinate, so no distance can be measured."""


class OutputError(AtlasError):
    """An output cannot be written: a full disk, a read-only folder, a directory or
    device in the way, or another atlas command holding the GeoPackage (exit code 2)."""

    exit_code = 2


class SourceError(AtlasError):
    """A source file is missing, unreadable or differs from its recorded sha256."""


class ValidationError(AtlasError):
    """One or more layers break their schema.

    Parameters
    ----------
    problems : list of Problem
        Every problem found, each naming its layer, feature id and field.
    """

    def __init__(self, problems: list):
        self.problems = list(problems)
        lines = [f"{len(self.problems)} validation problem(s):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))
