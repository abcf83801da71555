"""Pytest set-up for the whole repository.

The docstring examples of the ``atlas`` package run as tests
(``--doctest-modules``). They read the default atlas (``output/atlas.gpkg``),
so the session points ``ATLAS_OUTPUT`` at a temporary folder and builds the
atlas there first: the tests never read or change a user's ``output/``.

Markers (declared in ``pyproject.toml``) are applied here by the fixtures a
test uses, so that no test can forget its own: ``browser`` (headless
Chromium), ``qgis`` (Debian's QGIS), ``postgis`` (a PostgreSQL cluster),
``install`` (a wheel installed in a new venv). ``slow`` is written on the
tests themselves (over ~5 s here, needing none of those tools). The fast
loop leaves them out::

    pytest -m "not (browser or qgis or postgis or install or slow)"
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


@pytest.fixture(scope="session")
def built_gpkg(tmp_path_factory):
    """The atlas GeoPackage, built once per session from the repository's geodata (no products).

    The tests' ``gpkg`` and the doctests' default atlas are this one build
    (a rebuild gives the same bytes, so a copy is what a build would write).
    """
    import atlas

    return atlas.build(tmp_path_factory.mktemp("atlas_output") / "atlas.gpkg", products=())


@pytest.fixture(autouse=True)
def _default_atlas_for_doctests(request):
    """Put the session's atlas at the default place (the temporary ATLAS_OUTPUT) before a doctest."""
    if isinstance(request.node, DoctestItem):
        import atlas

        if not atlas.default_gpkg().is_file():
            atlas.default_gpkg().parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(request.getfixturevalue("built_gpkg"), atlas.default_gpkg())
        if not os.path.exists(PRISTINE):
            shutil.copyfile(request.getfixturevalue("built_gpkg"), PRISTINE)
    yield


#: The marker a test gets for using a fixture (directly or through another fixture).
MARKER_OF_FIXTURE = {
    "browser": "browser",  # tests/conftest.py: one headless Chromium for the session
    "qgis": "qgis",  # tests/conftest.py: the QGIS probe under Debian's Python
    "cluster": "postgis",  # tests/test_postgis.py: a PostgreSQL cluster with PostGIS
    "installed": "install",  # tests/test_install.py: the wheel installed in a new venv
}


#: Docstring examples carry no decorator: the marker of those that need one, by name.
MARKER_OF_DOCTEST = {
    "atlas._browser.screenshot": "browser",  # starts Chromium itself
    "atlas.website.build_site": "slow",  # writes the whole site, a dossier per camp and mine
    "atlas": "slow",  # atlas/__init__.py: a whole build
    "atlas.builder.build": "slow",  # a whole build, with its products
}


def pytest_collection_modifyitems(config, items):
    """Mark each test by the external tools its fixtures need (see :data:`MARKER_OF_FIXTURE`)."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in MARKER_OF_FIXTURE.items():
            if fixture in used:
                item.add_marker(marker)
        if isinstance(item, DoctestItem) and item.name in MARKER_OF_DOCTEST:
            item.add_marker(MARKER_OF_DOCTEST[item.name])


def pytest_unconfigure(config):
    shutil.rmtree(_OUTPUT, ignore_errors=True)
    shutil.rmtree(f"{_OUTPUT}-private", ignore_errors=True)  # private layers kept beside it (atlas.io)
    shutil.rmtree(os.path.dirname(PRISTINE), ignore_errors=True)
