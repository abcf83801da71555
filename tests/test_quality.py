"""Code quality gates that CI enforces: ruff clean, public API documented."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import atlas

from .conftest import REPO


def test_ruff_clean():
    ruff = str(Path(sys.executable).with_name("ruff")) if Path(sys.executable).with_name("ruff").exists() else shutil.which("ruff")
    result = subprocess.run([ruff, "check", "atlas", "tests", "benchmarks"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_api_has_numpydoc_docstrings():
    missing = []
    for name in atlas.__all__:
        obj = getattr(atlas, name)
        if inspect.isfunction(obj):
            doc = inspect.getdoc(obj) or ""
            if "Parameters" not in doc and inspect.signature(obj).parameters:
                missing.append(f"{name}: no Parameters section")
            if "Returns" not in doc and "Raises" not in doc:
                missing.append(f"{name}: no Returns section")
            if "Examples" not in doc:
                missing.append(f"{name}: no Examples section")
    assert not missing, missing


def test_python_m_atlas_runs():
    result = subprocess.run([sys.executable, "-m", "atlas", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "version" in result.stdout
