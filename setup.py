"""Setuptools hook: stamp the source date into the built package.

A wheel has no git history, so ``atlas.builder.build_epoch`` could otherwise
only fall back to the time pip unpacked the files. Building the package writes
``atlas/SOURCE_DATE_EPOCH``: ``$SOURCE_DATE_EPOCH`` if set (the
reproducible-builds convention), else the time of the checkout's last commit.
It also copies ``CITATION.cff`` and ``CHANGELOG.md`` into the package, so an installed
atlas carries how to cite it (:func:`atlas.sources.project_file`) and what changed
(the site's Changes page).
Everything else is declared in ``pyproject.toml``.
"""

import os
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


def _source_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return epoch
    try:
        return subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=Path(__file__).parent,
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


class BuildPyWithSourceDate(build_py):
    """``build_py`` that also writes ``atlas/SOURCE_DATE_EPOCH`` when the date is known."""

    def run(self):
        super().run()
        for name in ("CITATION.cff", "CHANGELOG.md"):  # how to cite it, what changed: in the package too
            source = Path(__file__).with_name(name)
            if source.is_file():
                (Path(self.build_lib) / "atlas" / name).write_bytes(source.read_bytes())
        epoch = _source_date()
        if epoch.isdigit():
            (Path(self.build_lib) / "atlas" / "SOURCE_DATE_EPOCH").write_text(epoch + "\n")


setup(cmdclass={"build_py": BuildPyWithSourceDate})
