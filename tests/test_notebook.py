"""The tour notebook runs top to bottom from a fresh kernel and is committed without outputs."""

from __future__ import annotations

import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import REPO

NOTEBOOK = REPO / "notebooks" / "atlas_tour.ipynb"


def test_notebook_committed_with_outputs_cleared():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(gpkg, tmp_path, monkeypatch):
    out = tmp_path / "output"
    out.mkdir()
    shutil.copyfile(gpkg, out / "atlas.gpkg")
    monkeypatch.setenv("ATLAS_OUTPUT", str(out))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except Exception as exc:  # nbclient raises CellExecutionError with the cell's traceback
        pytest.fail(f"the notebook failed: {exc}")
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
    )
    assert "KLS-15" in text  # the Hangul search found Yodok
    assert "360" in text  # Table 2's total reproduced
    assert "status 2010" in text and "status at the build date" in text  # the kwan-li-so then and now
    assert "2012-03..2012-06" in text and "2016-06-02..2017-02-19" in text  # Camp 22's, Camp 15's timelines
    assert (out / "qgis" / "atlas.qgz").is_file()
    assert "user_notebook_demo" in {n for n, _ in __import__("atlas").list_layers(out / "atlas.gpkg")}
    images = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the production and reserves charts, the two timelines
