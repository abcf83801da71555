"""Permanent ids: the register (geodata/ids.csv), retired ids, and links to a site at a date."""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from pathlib import Path

import pandas as pd
import pytest

import atlas
from atlas import _browser, sources
from atlas.errors import InputError, NotFoundError
from atlas.ids import check_register
from atlas.layers import build_layers

from .conftest import run_cli

AS_OF = "2026-01-01"


def _register(root: Path | None = None) -> pd.DataFrame:
    return sources.read_csv("ids.csv", root)


def _rewrite(root: Path, rel: str, frame: pd.DataFrame) -> None:
    """Write a changed source into a geodata copy and put its new sha256 in the copy's manifest."""
    (root / rel).write_text(frame.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
    digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    rows = list(csv.DictReader(io.StringIO((root / "manifest.csv").read_text(encoding="utf-8"))))
    for r in rows:
        if r["path"] == rel:
            r["sha256"] = digest
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (root / "manifest.csv").write_text(out.getvalue(), encoding="utf-8")


def _mine_ids(layers: dict) -> dict[str, str]:
    m = layers["mines"]
    return dict(zip(m["record_origin"] + ":" + m["name"], m["mine_id"]))


def test_every_mine_and_named_mine_holds_the_id_its_key_has_in_the_register(layers):
    reg = _register()
    current = reg[reg["state"] == "current"]
    want = {(r.layer, r.key): r.id for r in current.itertuples()}
    got = {("mines", k): i for k, i in _mine_ids(layers).items()}
    got |= {("named_mines", k): i for k, i in zip(layers["named_mines"]["name_in_report"], layers["named_mines"]["named_id"])}
    assert got == want
    assert layers["mines"]["mine_id"].is_unique and layers["named_mines"]["named_id"].is_unique


def test_ids_do_not_follow_row_order(geodata_copy, layers):
    """Synthetic change: the mine and named-mine files in reverse order; every record keeps its id."""
    distinct = sources.read_csv("mines/nk_mines_distinct.csv", geodata_copy)
    _rewrite(geodata_copy, "mines/nk_mines_distinct.csv", distinct.iloc[::-1])
    named = sources.read_csv("mines/gulag_inc_named_mines_gazetteer.csv", geodata_copy)
    _rewrite(geodata_copy, "mines/gulag_inc_named_mines_gazetteer.csv", named.iloc[::-1])
    rebuilt = build_layers(geodata_copy, as_of=AS_OF)
    assert list(rebuilt["mines"]["mine_id"]) != list(layers["mines"]["mine_id"])  # the order did change
    assert _mine_ids(rebuilt) == _mine_ids(layers)
    assert (dict(zip(rebuilt["named_mines"]["name_in_report"], rebuilt["named_mines"]["named_id"]))
            == dict(zip(layers["named_mines"]["name_in_report"], layers["named_mines"]["named_id"])))


def test_a_record_the_register_does_not_know_stops_the_build(geodata_copy):
    """Synthetic change: a mine renamed in its source but not in the register."""
    distinct = sources.read_csv("mines/nk_mines_distinct.csv", geodata_copy)
    old = distinct.loc[0, "name"]
    distinct.loc[0, "name"] = "Synthetic renamed mine"
    _rewrite(geodata_copy, "mines/nk_mines_distinct.csv", distinct)
    with pytest.raises(InputError, match="no id for 1 record") as err:
        build_layers(geodata_copy, as_of=AS_OF)
    assert "Synthetic renamed mine" in str(err.value)
    # and the id it held is not silently left for another record: the register must retire it or move its key
    reg = _register(geodata_copy)
    reg.loc[reg["key"] == f"{distinct.loc[0, 'record_origin']}:{old}", "key"] = (
        f"{distinct.loc[0, 'record_origin']}:Synthetic renamed mine")
    _rewrite(geodata_copy, "ids.csv", reg)
    assert "Synthetic renamed mine" in set(build_layers(geodata_copy, as_of=AS_OF)["mines"]["name"])


@pytest.mark.parametrize("change, message", [
    (lambda r: pd.concat([r, r.iloc[[0]]]), "lists an id twice"),
    (lambda r: r.assign(state=["gone", *r["state"][1:]]), "unknown state"),
    (lambda r: pd.concat([r, pd.DataFrame([{"id": "M900", "layer": "mines", "key": "", "state": "merged",
                                            "into": "M999", "reason": "synthetic", "retired_in": "x"}])]),
     "must name the id that holds"),
    (lambda r: pd.concat([r, pd.DataFrame([{"id": "M901", "layer": "mines", "key": "", "state": "withdrawn",
                                            "into": "", "reason": "", "retired_in": ""}])]),
     "needs its reason"),
])
def test_a_register_that_could_reuse_or_lose_an_id_is_refused(change, message):
    with pytest.raises(InputError, match=message):
        check_register(change(_register()).fillna(""))


def test_a_current_id_no_record_holds_must_be_retired(geodata_copy):
    """Synthetic change: a mine removed from its source while the register still calls its id current."""
    distinct = sources.read_csv("mines/nk_mines_distinct.csv", geodata_copy)
    _rewrite(geodata_copy, "mines/nk_mines_distinct.csv", distinct.iloc[1:])
    with pytest.raises(InputError, match="no record holds: M001"):
        build_layers(geodata_copy, as_of=AS_OF)


@pytest.fixture(scope="module")
def retired_atlas(tmp_path_factory) -> Path:
    """An atlas built from a geodata copy whose register retires two synthetic ids (M900, M901)."""
    import shutil

    root = tmp_path_factory.mktemp("geodata") / "geodata"
    shutil.copytree(sources.geodata_dir(), root)
    reg = _register(root)
    extra = pd.DataFrame([
        {"id": "M900", "layer": "mines", "key": "", "state": "merged", "into": "M034",
         "reason": "synthetic: a second record of the Taehung mine", "retired_in": "0.0.1+data.synthetic"},
        {"id": "M901", "layer": "mines", "key": "", "state": "withdrawn", "into": "",
         "reason": "synthetic: the source withdrew the point", "retired_in": "0.0.1+data.synthetic"},
    ])
    _rewrite(root, "ids.csv", pd.concat([reg, extra]))
    import os

    before = os.environ.get("ATLAS_GEODATA")
    os.environ["ATLAS_GEODATA"] = str(root)
    try:
        return atlas.build(tmp_path_factory.mktemp("retired") / "atlas.gpkg", products=())
    finally:
        if before is None:
            os.environ.pop("ATLAS_GEODATA")
        else:
            os.environ["ATLAS_GEODATA"] = before


def test_a_retired_id_says_what_became_of_it(retired_atlas):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        assert atlas.resolve("m900", retired_atlas).id == "M034"
    assert any("M900 was merged into M034" in str(w.message) for w in said)
    with pytest.raises(NotFoundError, match=r"M901 was withdrawn in release 0\.0\.1\+data\.synthetic: synthetic: the source"):
        atlas.resolve("M901", retired_atlas)
    assert atlas.retired_id("KLS-15", retired_atlas) is None
    res = run_cli("show", "M900", "--gpkg", str(retired_atlas))
    assert res.returncode == 0 and "Taehung" in res.stdout and "merged into M034" in res.stderr
    res = run_cli("show", "M901", "--gpkg", str(retired_atlas))
    assert res.returncode != 0 and "withdrawn" in res.stderr and "Traceback" not in res.stderr


def test_the_register_refuses_a_retired_id_a_record_still_holds(geodata_copy):
    reg = _register(geodata_copy)
    extra = pd.DataFrame([{"id": "KLS-15", "layer": "camps", "key": "", "state": "withdrawn", "into": "",
                           "reason": "synthetic", "retired_in": "x"}])
    _rewrite(geodata_copy, "ids.csv", pd.concat([reg, extra]))
    res = run_cli("build", "--no-products", "--out", str(geodata_copy.parent / "a.gpkg"),
                  env={"ATLAS_GEODATA": str(geodata_copy)})
    assert res.returncode != 0 and "retired_ids" in res.stderr and "KLS-15" in res.stderr
    assert not (geodata_copy.parent / "a.gpkg").exists()


def test_a_dossier_links_to_the_map_beside_its_folder(gpkg, tmp_path):
    out = tmp_path / "output" / "dossiers"
    page = Path(atlas.dossier("KLS-15", out=out, gpkg=gpkg))
    assert "atlas.html#" not in page.read_text(encoding="utf-8")  # no map there: no link to nothing
    (tmp_path / "output" / "atlas.html").write_text("synthetic map", encoding="utf-8")
    page = Path(atlas.dossier("KLS-15", out=out, gpkg=gpkg))
    build_date = atlas.about(gpkg)["build_date"][:10]
    assert f'href="../atlas.html#KLS-15@{build_date}"' in page.read_text(encoding="utf-8")


# the open popup is the map's own (a closed one fades out for 200 ms and is still in the page)
_STATE = """() => { const p = window.atlas.map._popup, open = p && window.atlas.map.hasLayer(p) ? p.getElement() : null;
  const a = open && open.querySelector('.atlas-link a');
  return {notes: Array.from(document.querySelectorAll('.atlas-link-note')).filter(e => !e.hidden).map(e => e.textContent),
          year: window.atlas.time.state.year, popup: open ? open.textContent : '', link: a ? a.getAttribute('href') : null}; }"""


def test_the_map_opens_at_a_site_and_a_date_from_its_address(browser, retired_atlas, tmp_path):
    html = atlas.write_map(tmp_path / "atlas.html", gpkg=retired_atlas)
    with _browser.open_page(html, browser=browser, size=(1200, 800)) as s:
        page = s.page
        page.evaluate("() => { window.location.hash = 'KLS-15@2014-06'; }")
        page.reload(wait_until="load")  # a page opened from the address, as a bookmark opens it
        page.wait_for_function("() => window.atlasReady === true")
        got = page.evaluate(_STATE)
        assert got["year"] == 2014
        assert "Yodok" in got["popup"]
        status = atlas.status_at("KLS-15", "2014-12-31", gpkg=retired_atlas).status
        assert any("asks for 2014-06" in n and "31 December 2014" in n for n in got["notes"])
        assert any(f"Status as of 31 December 2014: {status}" in n for n in got["notes"])
        assert got["link"] == "#KLS-15@2014"  # the popup offers its own link, at the year shown
        page.evaluate("() => { window.location.hash = 'M900@2019'; }")
        page.wait_for_function("() => window.atlas.time.state.year === 2019")
        got = page.evaluate(_STATE)
        assert "Taehung" in got["popup"] and any("M900 was merged into M034" in n for n in got["notes"])
        page.evaluate("() => { window.location.hash = 'M901'; }")
        page.wait_for_function("() => Array.from(document.querySelectorAll('.atlas-link-note'))"
                               ".some(e => !e.hidden && e.textContent.includes('withdrawn'))")
        assert page.evaluate(_STATE)["popup"] == ""
        assert not s.page_errors and not s.blocked
