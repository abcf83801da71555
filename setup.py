"""Setuptools hook: stamp the source date into the built package.

A wheel has no git history, so ``atlas.builder.build_epoch`` could otherwise
only fall back to the time pip unpacked the files. Building the package writes
``atlas/SOURCE_DATE_EPOCH``: ``$SOURCE_DATE_EPOCH`` if set (the
reproducible-builds convention), else the time of the checkout's last commit.
It also copies ``CITATION.cff`` into the package (``atlas/CITATION.cff``), so an
installed atlas carries how to cite it (:func:`atlas.citation.citation_file`).
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
        cff = Path(__file__).with_name("CITATION.cff")  # how to cite the atlas, in the installed package too
        if cff.is_file():
            (Path(self.build_lib) / "atlas" / "CITATION.cff").write_bytes(cff.read_bytes())
        epoch = _source_date()
        if epoch.isdigit():
            (Path(self.build_lib) / "atlas" / "SOURCE_DATE_EPOCH").write_text(epoch + "\n")


setup(cmdclass={"build_py": BuildPyWithSourceDate})
