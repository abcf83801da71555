"""Shared fixtures: one atlas built per test session, in a temporary folder.

External tools (a real QGIS, a real Chromium) are required when ``CI`` is set:
a test that needs one then fails instead of skipping, so CI cannot pass by
skipping the tests that matter.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

import atlas

REPO = Path(__file__).resolve().parents[1]
QGIS_PYTHON = "/usr/bin/python3"  # Debian's: the only Python that imports qgis.core
PROBE = Path(__file__).with_name("qgis_probe.py")


def require_tool(available: bool, what: str) -> None:
    """Skip locally, fail under CI, when an external tool is missing."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required under CI but is not installed")
    pytest.skip(f"{what} not installed")


@functools.cache
def qgis_available() -> bool:
    if not os.path.exists(QGIS_PYTHON):
        return False
    res = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True,
                         timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    return res.returncode == 0


def probe(tmp: Path, *args: str) -> tuple[dict, str]:
    """Run the probe in a headless QGIS with a throwaway profile; return (JSON, stderr).

    One QGIS process per probe, on purpose: QGIS starts in about 0.5 s here (the
    suite's 11 probes spend some 6 s starting it), and each probe then fails alone
    when QGIS crashes (3.22 segfaults on some invalid layers), with its own stderr.
    """
    require_tool(qgis_available(), "QGIS (python3-qgis, qgis-providers)")
    home = tmp / "qgis-home"
    runtime = tmp / "qgis-runtime"
    home.mkdir(exist_ok=True)
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_RUNTIME_DIR=str(runtime),
               QGIS_CUSTOM_CONFIG_PATH=str(home / "profile"))
    res = subprocess.run([QGIS_PYTHON, str(PROBE), *args], capture_output=True, text=True,
                         env=env, timeout=600, cwd=tmp)
    assert res.returncode == 0, f"probe failed ({res.returncode}):\n{res.stderr[-3000:]}"
    return json.loads(res.stdout.strip().splitlines()[-1]), res.stderr


@pytest.fixture(scope="session")
def qgis():
    """Debian's QGIS, required (the test is marked ``qgis``): returns :func:`probe`."""
    require_tool(qgis_available(), "QGIS (python3-qgis, qgis-providers)")
    return probe


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole test session (each test opens its own page)."""
    from atlas import _browser

    require_tool(_browser.available(), "Chromium (/usr/bin/chromium) and the playwright package")
    with _browser.chromium() as b:
        yield b


@pytest.fixture(scope="session")
def gpkg(built_gpkg: Path) -> Path:
    """The atlas GeoPackage, built once per session from the repository's geodata (conftest.py)."""
    return built_gpkg


@pytest.fixture(scope="session")
def layers(gpkg: Path) -> dict:
    return atlas.read_layers(gpkg)


@dataclass(frozen=True)
class CliResult:
    """What a run of the ``atlas`` command gave: as :class:`subprocess.CompletedProcess` names it."""

    returncode: int
    stdout: str
    stderr: str


#: The warning filters of a fresh ``python`` (no -W, no PYTHONWARNINGS), first match first: what
#: the command sees when a user runs it, rather than the filters pytest sets for the tests.
_PROCESS_WARNING_FILTERS = [("default", DeprecationWarning, "__main__"), ("ignore", DeprecationWarning, ""),
                            ("ignore", PendingDeprecationWarning, ""), ("ignore", ImportWarning, ""),
                            ("ignore", ResourceWarning, "")]


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None,
            input: str | None = None) -> CliResult:
    """Run ``atlas ARGS`` in this process (click's ``CliRunner``), as ``python -m atlas ARGS`` runs.

    The same exit code, standard output and standard error: the command runs
    in ``cwd`` (default the repository) with ``env`` added to the environment
    and a fresh process's warning filters, and an exception that escapes it
    is printed as Python prints one (a traceback, exit code 1). Use
    :func:`spawn_cli` for what only a process shows.
    """
    from click.testing import CliRunner

    from atlas.cli import main

    before = os.getcwd()
    os.chdir(cwd or REPO)
    try:
        with warnings.catch_warnings():
            warnings.resetwarnings()
            for action, category, module in _PROCESS_WARNING_FILTERS:
                warnings.filterwarnings(action, category=category, module=module, append=True)
            res = CliRunner().invoke(main, list(args), input=input, env=env, prog_name="atlas")
    finally:
        os.chdir(before)
    stdout, stderr, code = _text(res.stdout_bytes), _text(res.stderr_bytes), res.exit_code
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        stderr += "".join(traceback.format_exception(res.exception))  # as an uncaught one is printed
        code = 1
    return CliResult(code, stdout, stderr)


def _text(output: bytes) -> str:
    """Bytes written by the command as ``subprocess.run(text=True)`` reads them (universal newlines)."""
    return output.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def spawn_cli(*args: str, env: dict | None = None, cwd: Path | None = None,
              input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m atlas ARGS`` in a new process: for what only a process shows.

    A fresh interpreter (no cache of an earlier command), the real entry
    point's exit code, locks held by another process. About a second of
    start-up each: prefer :func:`run_cli`.
    """
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "atlas", *args], capture_output=True, text=True,
        env=full_env, cwd=cwd or REPO, input=input, timeout=600,
    )


@pytest.fixture
def atlas_copy(gpkg, tmp_path) -> Path:
    """A private copy of the built atlas, alone in its folder, that a test may import into."""
    dest = tmp_path / "atlas" / "atlas.gpkg"
    dest.parent.mkdir()
    shutil.copyfile(gpkg, dest)
    return dest


def sha256(path: Path) -> str:
    """The sha256 of a file: a refused write must leave it unchanged."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
