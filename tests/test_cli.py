"""The ``atlas`` command as a package of thin faces: light to load, one run never seen by the next.

Most tests run the command in-process (:func:`conftest.run_cli`); the few
here that need a process of their own say why.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import atlas
from atlas import io, owned

from .conftest import REPO, run_cli, spawn_cli

#: Libraries that take seconds to import: printing help must not need them.
HEAVY = ("geopandas", "pandas", "pyproj", "rasterio", "folium", "shapely", "pyogrio")


@pytest.mark.parametrize("args", [["--help"], ["near", "--help"], ["export", "-h"], ["build", "--help"]])
def test_help_imports_no_heavy_library(args):
    """A new interpreter (this one has them all loaded): import the CLI, render the help, look."""
    code = ("import json, sys, atlas.cli\n"
            "try:\n"
            f"    atlas.cli.main({args!r}, prog_name='atlas')\n"
            "except SystemExit as exc:\n"
            "    code = exc.code\n"
            f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]), file=sys.stderr)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    exit_code, loaded = json.loads(res.stderr.strip().splitlines()[-1])
    assert exit_code == 0 and "Usage: atlas" in res.stdout
    assert loaded == [], f"{' '.join(args)} imported {loaded}"


def test_the_installed_entry_point_runs_the_group():
    """`atlas` (the console script of pyproject.toml) and `python -m atlas` are the same command."""
    script = Path(sys.executable).with_name("atlas")
    if not script.exists():
        pytest.skip("no console script beside this Python (not installed with pip)")
    res = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout == spawn_cli("--help").stdout


def test_a_process_exits_with_the_errors_code(gpkg, tmp_path):
    """The real exit codes, from a process: 2 for bad input in one line (no traceback), 2 for bad usage."""
    res = spawn_cli("find", "Nowhere-that-exists", "--no-fuzzy", "--gpkg", str(gpkg))
    assert res.returncode == 2 and res.stderr.startswith("atlas: error:") and "Traceback" not in res.stderr
    res = spawn_cli("near", "KLS-14", "--sanctions", "--as-of", "2016", "--gpkg", str(gpkg))
    assert res.returncode == 2 and "No such option '--as-of'" in res.stderr  # click's own parse error


def test_option_conflicts_are_one_atlas_error_line(gpkg):
    """One style for every conflict of options: the atlas's InputError, exit 2, one line."""
    res = run_cli("summary", "--sanctions", "--as-of", "2016", "--gpkg", str(gpkg))
    assert (res.returncode, res.stderr) == (2, "atlas: error: --sanctions counts mines; --as-of counts camps: use one\n")
    res = run_cli("export", "--qgis", "--format", "csv", "--gpkg", str(gpkg))
    assert res.returncode == 2 and res.stderr.startswith("atlas: error: say what to export")
    res = run_cli("near", "KLS-14", "--layer", "camps", "--sanctions", "--gpkg", str(gpkg))
    assert res.returncode == 2 and res.stderr.startswith("atlas: error:") and "layer of mines" in res.stderr


def test_runs_in_one_process_do_not_see_each_other(gpkg, tmp_path):
    """Folders created, files replaced and the warning hook belong to one run only."""
    hook = warnings.showwarning
    made = tmp_path / "made" / "deeper"
    ok = run_cli("province-density", "--out", str(made / "p.gpkg"), "--gpkg", str(gpkg))
    assert ok.returncode == 0, ok.stderr
    assert f"atlas: created the folder {made}" in ok.stderr
    # a failing run after it: no word of the other run's folder or file, and its own new folder removed
    failed = run_cli("density", "--cell-km", "0", "--out", str(tmp_path / "gone" / "d.tif"), "--gpkg", str(gpkg))
    assert failed.returncode == 2 and failed.stderr.startswith("atlas: error:")
    assert "created the folder" not in failed.stderr and "already replaced" not in failed.stderr
    assert not (tmp_path / "gone").exists()
    assert warnings.showwarning is hook and owned._RECORDERS.get() == ()


def test_an_interrupt_names_only_what_this_run_replaced(gpkg, tmp_path, monkeypatch):
    def interrupted(*args, out=None, **kwargs):
        with io.atomic_path(out) as tmp:
            tmp.write_text("half a product")
        raise KeyboardInterrupt

    monkeypatch.setattr(atlas, "density", interrupted)
    first = run_cli("density", "--out", str(tmp_path / "d.tif"), "--gpkg", str(gpkg))
    assert first.returncode == 130, first.stderr
    assert f"atlas: interrupted after replacing {tmp_path / 'd.tif'}; nothing else was replaced" in first.stderr
    monkeypatch.setattr(atlas, "density", lambda **kwargs: (_ for _ in ()).throw(KeyboardInterrupt()))
    second = run_cli("density", "--out", str(tmp_path / "e.tif"), "--gpkg", str(gpkg))
    assert second.returncode == 130 and "atlas: interrupted; nothing was replaced" in second.stderr


def test_near_report_is_what_the_command_prints(gpkg):
    """The API offers the command's words: the same text for the same result."""
    from atlas.distance import near_report

    for fmt in ("table", "csv", "json"):
        res = run_cli("near", "KLS-14", "--km", "20", "--format", fmt, "--gpkg", str(gpkg))
        report = near_report(atlas.near("KLS-14", km=20, gpkg=gpkg), fmt, gpkg)
        assert res.returncode == 0 and res.stdout == (report.text + "\n").replace("\r\n", "\n")
        assert res.stderr == "".join(f"atlas: {line}\n" for line in report.notes)
    assert report.notes == () and json.loads(report.text)["meta"]["gpkg_sha256"]


@pytest.mark.slow
def test_dossiers_and_near_word_sanctions_from_one_function(gpkg):
    """The dossier's sanctions (for the mine, and each mine nearby) read as atlas.sanctions_status says."""

    def stated(mine_id: str, day: str) -> str:
        rows = atlas.sanctions_status(mine_id, day, gpkg=gpkg)
        one = len(rows) == 1
        return "; ".join(("" if one else f"{r.commodity}: ") + r.measure
                         + (f" since {r.adopted}, {r.resolution}" if r.resolution else "")
                         for r in rows.itertuples())

    camp = atlas.dossier_record("KLS-14", gpkg=gpkg)
    build_day = camp["about"]["build_date"][:10]
    nearby = camp["nearby"]["rows"]
    assert nearby and all(r["sanction"] == stated(r["id"], build_day) for r in nearby)
    mine = atlas.dossier_record("M001", gpkg=gpkg)
    for s in mine["header"]["sanctions"]:
        assert s["text"] == stated("M001", s["date"])
    assert "lead: " in mine["header"]["sanctions"][0]["text"]  # two commodities: each named


_ONE_OPEN = [
    ["find", "Yodok"], ["near", "KLS-14", "--km", "30"], ["near", "KLS-14", "--format", "json"],
    ["near", "KLS-14", "--format", "csv", "--sanctions"], ["nearest", "Yodok", "--site-layer", "camps"],
    ["show", "KLS-15", "--format", "json"], ["status"], ["status", "KLS-22", "--as-of", "2012-07"],
    ["summary"], ["summary", "--as-of", "2012"], ["summary", "--sanctions"], ["layers"],
    ["province-density"], ["map", "--out", "{tmp}/m.html"], ["dossier", "KLS-15", "--out", "{tmp}/d"],
    ["export", "--format", "csv", "--out", "{tmp}/csv"], ["export", "--format", "kmz", "--out", "{tmp}/kmz"],
    ["density", "--out", "{tmp}/d.tif"],
]


@pytest.mark.parametrize("args", _ONE_OPEN, ids=lambda a: " ".join(a[:3]))
def test_every_command_opens_the_atlas_once(gpkg, tmp_path, args):
    """One atlas object per command: its source is admitted and opened once, then passed down."""
    import atlas.store

    atlas.store.OPENED["count"] = 0
    res = run_cli(*[a.format(tmp=tmp_path) for a in args], "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    assert atlas.store.OPENED["count"] == 1, f"atlas {' '.join(args)} opened its atlas {atlas.store.OPENED['count']} times"


def test_validate_opens_the_atlas_once(gpkg):
    import atlas.store

    atlas.store.OPENED["count"] = 0
    assert run_cli("validate", str(gpkg)).returncode == 0
    assert atlas.store.OPENED["count"] == 1
