"""The atlas installs like a library: a wheel holds the curated data and works from any folder.

The wheel is built from a copy of the repository (so nothing is written into
the checkout), installed with its dependencies into a new venv, and every
command runs from an empty temporary folder, with no ``ATLAS_*`` variable
set: ``atlas build`` must write ``./output/`` there and every other command
must find that atlas the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

#: The source date the wheel is built with (2016-05-01, the report's year): a build made from the
#: installed wheel must date its products by it, not by the time pip unpacked the files.
SOURCE_DATE = 1462060800


def _run(cmd: list, cwd: Path, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, (cmd, res.stdout[-2000:], res.stderr[-4000:])
    return res


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """A new venv holding the wheel built from this repository, and a clean environment."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("atlas", "geodata", "docs"):  # docs/: present, so that a test sees it stays out
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE", "CITATION.cff", "CHANGELOG.md"):
        shutil.copy2(REPO / name, src / name)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ATLAS_", "PYTHON", "VIRTUAL_ENV"))}
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", root / "dist", "."], src,
         {**env, "SOURCE_DATE_EPOCH": str(SOURCE_DATE)})
    wheels = list((root / "dist").glob("*.whl"))
    assert len(wheels) == 1
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", venv], root, env)
    _run([venv / "bin" / "pip", "install", "-q", wheels[0]], root, env)
    return venv, env


def test_wheel_carries_the_curated_data(installed, tmp_path):
    venv, env = installed
    res = _run([venv / "bin" / "python", "-c",
                "import atlas, atlas.sources as s; print(atlas.__file__); print(s.geodata_dir())"],
               tmp_path, env)
    package, geodata = (Path(line) for line in res.stdout.split())
    assert venv in package.parents, "the test must run the installed atlas, not the checkout"
    assert geodata == package.parent / "geodata"
    manifest = (geodata / "manifest.csv").read_text(encoding="utf-8").splitlines()[1:]
    for line in manifest:  # every registered source file is in the wheel
        assert (geodata / line.split(",", 1)[0]).is_file(), line


def test_wheel_holds_the_package_and_its_data_only(installed):
    """No docs/ (the pages and their examples stay in the repository) and no py.typed (the
    annotations are not type-checked, docs/contributing.md); the templates and scripts are in."""
    venv, _ = installed
    record = next(venv.glob("lib/python*/site-packages/gulag_inc_atlas-*.dist-info/RECORD"))
    files = [line.split(",", 1)[0] for line in record.read_text(encoding="utf-8").splitlines()]
    assert {f.split("/", 1)[0] for f in files if not f.startswith("..")} == {"atlas", record.parent.name}
    assert not [f for f in files if f.startswith("docs/") or "/docs/" in f or f.endswith("conftest.py")]
    assert "atlas/py.typed" not in files
    for name in ("atlas/_webmap.js", "atlas/_points.js", "atlas/_webmap.css", "atlas/geodata/manifest.csv"):
        assert name in files, name
    source = {f.relative_to(REPO).as_posix() for f in (REPO / "atlas").rglob("*")
              if f.is_file() and "__pycache__" not in f.parts and ".egg-info" not in f.as_posix()}
    assert source - set(files) == set(), "a file of the package left out of the wheel (pyproject package-data)"
    assert any(f.startswith("atlas/templates/") for f in files)
    cff = next(venv.glob("lib/python*/site-packages/atlas/CITATION.cff"))  # how to cite it, installed
    assert cff.read_bytes() == (REPO / "CITATION.cff").read_bytes()
    changelog = next(venv.glob("lib/python*/site-packages/atlas/CHANGELOG.md"))  # the site's Changes page
    assert changelog.read_bytes() == (REPO / "CHANGELOG.md").read_bytes()


def test_commands_run_from_an_empty_folder(installed, tmp_path):
    venv, env = installed
    atlas = venv / "bin" / "atlas"
    work = tmp_path / "work"
    work.mkdir()
    build = _run([atlas, "build"], work, env)
    out = work / "output"
    assert build.stdout.split()[0] == str(out / "atlas.gpkg")
    for name in ("atlas.gpkg", "mine_density.tif", "atlas.html", "qgis/atlas.qgz"):
        assert (out / name).is_file(), name

    near = _run([atlas, "near", "KLS-14", "--km", "25", "--format", "csv"], work, env)
    assert near.stdout.startswith("id,") and "M0" in near.stdout  # mines near camp 14

    _run([atlas, "map", "--out", "page.html"], work, env)
    assert (work / "page.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    _run([atlas, "export", "--qgis", "--out", "qgis_export"], work, env)
    assert (work / "qgis_export" / "atlas.qgz").is_file()

    csv = work / "synthetic_sites.csv"  # a synthetic fixture: two points inside the DPRK
    csv.write_text("id,name,lat,lon\nS1,synthetic site one,39.60,126.90\n"
                   "S2,synthetic site two,40.10,127.40\n", encoding="utf-8")
    imp = _run([atlas, "import", csv, "--as", "mysites"], work, env)
    assert "user_mysites: 2 features" in imp.stdout
    layers = _run([atlas, "layers", "--json"], work, env)
    assert '"user_mysites"' in layers.stdout

    # $ATLAS_OUTPUT moves the default; --gpkg overrides it
    other = tmp_path / "elsewhere"
    _run([atlas, "build", "--no-products"], work, {**env, "ATLAS_OUTPUT": str(other)})
    assert (other / "atlas.gpkg").is_file()
    found = _run([atlas, "find", "Yodok", "--format", "csv", "--gpkg", out / "atlas.gpkg"],
                 tmp_path, env)
    assert "KLS-15" in found.stdout
    assert not list(venv.glob("lib/*/site-packages/output")), "nothing is written beside the package"


def test_a_wheel_dates_its_builds_by_its_source_not_by_the_install(installed, tmp_path):
    venv, env = installed
    res = _run([venv / "bin" / "python", "-c", "import atlas.builder as b; print(b.build_epoch())"],
               tmp_path, env)
    assert int(res.stdout) == SOURCE_DATE
