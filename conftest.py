"""Pytest set-up for the whole repository.

The docstring examples of the ``atlas`` package run as tests
(``--doctest-modules``). They read the default atlas (``output/atlas.gpkg``),
so the session points ``ATLAS_OUTPUT`` at a temporary folder and builds the
atlas there first: the tests never read or change a user's ``output/``.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from _pytest.doctest import DoctestItem

#: Scripts that are not test modules: the QGIS probe runs under Debian's own Python.
collect_ignore = ["tests/qgis_probe.py", "atlas/__main__.py"]

_OUTPUT = tempfile.mkdtemp(prefix="atlas-test-output-")
os.environ["ATLAS_OUTPUT"] = _OUTPUT
#: The default atlas as built, before any docstring example imports into it: what the docs' pages start from.
PRISTINE = os.path.join(tempfile.mkdtemp(prefix="atlas-test-pristine-"), "atlas.gpkg")
os.environ["ATLAS_TEST_PRISTINE"] = PRISTINE  # read by docs/conftest.py


@pytest.fixture(autouse=True)
def _default_atlas_for_doctests(request):
    """Build the default atlas (in the temporary ATLAS_OUTPUT) before the first doctest."""
    if isinstance(request.node, DoctestItem):
        import atlas

        if not atlas.default_gpkg().is_file():
            atlas.build(products=())
        if not os.path.exists(PRISTINE):
            shutil.copyfile(atlas.default_gpkg(), PRISTINE)
    yield


def pytest_unconfigure(config):
    shutil.rmtree(_OUTPUT, ignore_errors=True)
    shutil.rmtree(os.path.dirname(PRISTINE), ignore_errors=True)
