"""Shared fixtures: one atlas built per test session, in a temporary folder.

External tools (a real QGIS, a real Chromium) are required when ``CI`` is set:
a test that needs one then fails instead of skipping, so CI cannot pass by
skipping the tests that matter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import atlas

REPO = Path(__file__).resolve().parents[1]


def require_tool(available: bool, what: str) -> None:
    """Skip locally, fail under CI, when an external tool is missing."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required under CI but is not installed")
    pytest.skip(f"{what} not installed")


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole test session (each test opens its own page)."""
    from atlas import _browser

    require_tool(_browser.available(), "Chromium (/usr/bin/chromium) and the playwright package")
    with _browser.chromium() as b:
        yield b


@pytest.fixture(scope="session")
def out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("atlas_output")


@pytest.fixture(scope="session")
def gpkg(out_dir: Path) -> Path:
    """The atlas GeoPackage, built once from the repository's geodata."""
    return atlas.build(out_dir / "atlas.gpkg", products=())


@pytest.fixture(scope="session")
def layers(gpkg: Path) -> dict:
    return atlas.read_layers(gpkg)


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m atlas ARGS`` in a subprocess and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "atlas", *args], capture_output=True, text=True,
        env=full_env, cwd=cwd or REPO, input=input, timeout=600,
    )


def close_popup(page) -> None:
    """Close the map's popup and wait until it has left the page.

    Leaflet fades a closed popup out for 200 ms: until then a selector still finds it,
    and the popup opened next is the second match, so a test would read the old one.
    """
    page.evaluate("() => { window.atlas.map.closePopup(); }")
    page.wait_for_selector(".leaflet-popup", state="detached", timeout=10_000)


@pytest.fixture
def geodata_copy(tmp_path: Path) -> Path:
    """A private copy of geodata/ that a test may alter."""
    dest = tmp_path / "geodata"
    shutil.copytree(REPO / "geodata", dest)
    return dest
