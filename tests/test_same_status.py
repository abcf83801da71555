"""One status everywhere (issue 22, item 5): for a site and a day, ``atlas status``, ``show``, ``summary``,
the map (read in headless Chromium), the dossier, the KMZ and the QGIS style say the same status, from
the one rule (:func:`atlas.status_at` and its table), and each says the day it speaks of.

The days are the build date (the default everywhere: the map opens at it, whatever the viewer's clock)
and 31 December of years the map's year control offers.
"""

from __future__ import annotations

import json
import re
import zipfile
from datetime import date
from html import unescape

import pytest

import atlas
from atlas import _browser, status
from atlas.dossier import REPORT_DATE, dossier_record
from atlas.qml import layer_qml
from atlas.record import record

from .conftest import close_popup, run_cli

YEARS = (2010, 2014, 2016, 2018)


def _build_day(layers) -> str:
    days = set(str(d)[:10] for d in layers["camps"]["status_as_of"])
    assert len(days) == 1
    return days.pop()


def _located(camps):
    return camps[~(camps.geometry.isna() | camps.geometry.is_empty)].reset_index(drop=True)


@pytest.fixture(scope="module")
def want(gpkg, layers) -> dict[str, dict[str, str]]:
    """The one rule's answer per day and site (``atlas.status.status_table``)."""
    days = [_build_day(layers), *(f"{y}-12-31" for y in YEARS), REPORT_DATE]
    return {d: status.status_table(d, gpkg).set_index("site_id")["status"].to_dict() for d in days}


def test_the_cli_status_and_summary_give_the_tables_status(gpkg, layers, want):
    for day, by_site in want.items():
        r = run_cli("status", "--as-of", day, "--format", "json", "--gpkg", str(gpkg))
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert data["meta"]["as_of"] == day
        assert {row["site_id"]: row["status"] for row in data["rows"]} == by_site
        s = run_cli("summary", "--as-of", day, "--format", "json", "--gpkg", str(gpkg))
        total = next(row for row in json.loads(s.stdout)["rows"] if row["province"] == "Total")
        for st in ("active", "closed", "relocated", "contested", "unknown"):
            assert total[st] == sum(v == st for v in by_site.values()), (day, st)
    # the default: the build date, said above the table
    build = _build_day(layers)
    r = run_cli("summary", "--format", "json", "--gpkg", str(gpkg))
    data = json.loads(r.stdout)
    assert data["meta"]["status_as_of"] == build
    total = next(row for row in data["rows"] if row["province"] == "Total")
    assert total["camps_unknown" if "camps_unknown" in total else "camps_status_unknown"] == sum(
        v == "unknown" for v in want[build].values())


def test_show_the_dossier_and_the_layer_give_the_same_status_on_the_build_date(gpkg, layers, want):
    build = _build_day(layers)
    camps = layers["camps"].set_index("site_id")
    for site in [s for s in camps.index if s.startswith("KLS-")]:
        expected = want[build][site]
        assert camps.loc[site, "status_class"] == expected, site
        assert record(site, gpkg).status["status"] == expected, site
        rec = dossier_record(site, gpkg)
        now, report = rec["status"]["as_of"]
        assert (now["date"], now["status"]) == (build, expected), site
        assert now["summary"] == status.status_at(site, build, gpkg).summary
        assert (report["date"], report["status"]) == (REPORT_DATE, want[REPORT_DATE][site]), site
        # the explanation under the status names every finding of the site
        ids = set(layers["camp_findings"].query("site_id == @site")["finding_id"])
        assert {e["finding_id"] for e in now["explanation"]} == ids, site
    # as of the report's own information (May 2016) the report describes camp 15 in the present tense
    # (report text L2480-2484, L2568-2577): active then, whatever later imagery says (it is hedged)
    assert want[REPORT_DATE]["KLS-15"] == "active"
    r = run_cli("show", "KLS-15", "--format", "json", "--gpkg", str(gpkg))
    assert json.loads(r.stdout)["status"]["status"] == want[build]["KLS-15"]


def test_a_mines_dossier_states_its_status_by_the_rule(gpkg):
    rec = dossier_record("M016", gpkg)
    now = rec["status"]["as_of"][0]
    st = status.status_at("M016", now["date"], gpkg, layers=["mines"])
    assert now["status"] == st.status and now["summary"] == st.summary
    assert rec["timeline"] and all(f["id"].startswith("MF") for f in rec["timeline"])


def test_the_map_opens_at_the_build_date_and_each_year_gives_the_tables_status(browser, gpkg, layers, want,
                                                                               tmp_path):
    html = atlas.write_map(tmp_path / "atlas.html", gpkg=gpkg)
    build = _build_day(layers)
    camps = _located(layers["camps"])
    with _browser.open_page(html, browser=browser) as s:
        page = s.page
        assert s.console_errors == [] and s.page_errors == []
        # as opened: the build date, not the viewer's clock, not 31 December
        assert page.evaluate("window.atlas.time.asof") == build
        assert int(page.input_value("input#atlas-year")) == date.fromisoformat(build).year
        got = page.evaluate("window.atlasLayers.camps.getLayers().map(m => m.atlasStatus)")
        assert dict(zip(camps["site_id"], got)) == {k: want[build][k] for k in camps["site_id"]}
        # the popup says the same line as `atlas status`
        i = int(camps.index[camps["site_id"] == "KLS-15"][0])
        page.evaluate(f"() => {{ window.atlasLayers.camps.getLayers()[{i}].openPopup(); }}")
        page.wait_for_selector(".leaflet-popup-content .atlas-status")
        text = page.inner_text(".leaflet-popup-content")
        assert f"Status {status.status_at('KLS-15', build, gpkg).summary}" in text
        assert f"As of {build}: {want[build]['KLS-15']}" in text
        page.evaluate("() => { window.atlas.map.closePopup(); }")
        for y in YEARS:
            page.evaluate(f"() => {{ window.atlas.time.setYear({y}); }}")
            got = page.evaluate("window.atlasLayers.camps.getLayers().map(m => m.atlasStatus)")
            assert dict(zip(camps["site_id"], got)) == {k: want[f"{y}-12-31"][k] for k in camps["site_id"]}, y
        # a mine's popup: the rule's line for the build date, and its status on the year's day
        mines = _located(layers["mines"])
        for mid in ("M016", "M002", "M036"):
            i = int(mines.index[mines["mine_id"] == mid][0])
            for y, day in ((2016, "2016-12-31"), (date.fromisoformat(build).year, build)):
                page.evaluate(f"() => {{ window.atlas.time.setYear({y}); "
                              f"window.atlasLayers.mines.getLayers()[{i}].openPopup(); }}")
                page.wait_for_selector(".leaflet-popup-content .atlas-asof-mine b")
                name = mines.loc[i, "name"]
                page.wait_for_function("n => document.querySelector('.leaflet-popup-content h3')"
                                       ".textContent.includes(n)", arg=name)
                text = page.inner_text(".leaflet-popup-content")
                assert status.status_at(mid, build, gpkg, layers=["mines"]).summary in text, mid
                st = status.status_at(mid, day, gpkg, layers=["mines"]).status
                label = f"As of {build}" if day == build else "As of 31 December 2016"
                assert f"{label}: status {st}." in text, (mid, day)
                close_popup(page)


def test_the_kmz_and_the_qgis_style_give_the_build_dates_status(gpkg, layers, want, tmp_path):
    build = _build_day(layers)
    kmz = atlas.export_kmz(tmp_path / "kmz", gpkg=gpkg, layers=["camps"])[0]
    with zipfile.ZipFile(kmz) as z:
        kml = z.read("doc.kml").decode("utf-8")
    # the KML may carry a namespace prefix (another test's ElementTree.register_namespace is global)
    folder = kml[re.search(r'<(?:\w+:)?Folder id="layer-camps">', kml).start():]
    balloons = [unescape(b) for b in re.findall(r"<(?:\w+:)?description>(.*?)</(?:\w+:)?description>", folder, re.S)]
    for site in set(_located(layers["camps"])["site_id"]):
        line = f"Status {status.status_at(site, build, gpkg).summary}"
        assert any(line in b and site in b for b in balloons), site
    qml = layer_qml("camps", layers["camps"])
    labels = re.findall(r'label="([^"]*)"', qml)
    for st in set(want[build].values()):
        assert any(lb.endswith(f": {st} as of {build}") for lb in labels), st
