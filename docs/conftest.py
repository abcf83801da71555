"""The Markdown pages' Python examples run as doctests (``--doctest-glob='*.md'``).

Each page runs in a folder of its own, holding a copy of the session's atlas as
built (the root ``conftest.py``'s ``PRISTINE``, ``$ATLAS_TEST_PRISTINE``, before any docstring example
imported into ``$ATLAS_OUTPUT/atlas.gpkg``) and the files
of ``docs/examples/``: a page may import, export and write maps without
touching another page's atlas, the repository or a user's ``output/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

collect_ignore = ["conf.py", "_build"]

EXAMPLES = Path(__file__).with_name("examples")


@pytest.fixture(autouse=True)
def _page_folder(request, _default_atlas_for_doctests, tmp_path, monkeypatch):
    if not isinstance(request.node, DoctestItem):
        yield
        return
    output = tmp_path / "output"
    output.mkdir()
    shutil.copyfile(os.environ["ATLAS_TEST_PRISTINE"], output / "atlas.gpkg")
    for path in EXAMPLES.iterdir():
        shutil.copyfile(path, tmp_path / path.name)
    monkeypatch.setenv("ATLAS_OUTPUT", str(output))
    monkeypatch.chdir(tmp_path)
    yield
