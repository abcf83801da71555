"""The map's time control in a real headless Chromium: a year filters the findings and recolours the camps."""

from __future__ import annotations

import re
from datetime import date

import pytest

import atlas
from atlas import _browser, style
from atlas import status as ev

from .conftest import close_popup


@pytest.fixture(scope="module")
def session(gpkg, browser, tmp_path_factory):
    html = atlas.write_map(tmp_path_factory.mktemp("time_map") / "atlas.html", gpkg=gpkg)
    with _browser.open_page(html, browser=browser) as s:
        yield s


def _located(camps):
    return camps[~(camps.geometry.isna() | camps.geometry.is_empty)].reset_index(drop=True)


def _on_record_by(findings, year: int) -> int:
    """The GeoPackage's findings whose first day (start, else end) falls in or before ``year``."""
    first = findings["date_start"].fillna(findings["date_end"])
    return int(sum(isinstance(d, str) and int(d[:4]) <= year for d in first))


def _set_year_with_keyboard(page, year: int) -> None:
    slider = page.locator("input#atlas-year")
    slider.focus()
    page.keyboard.press("Home")
    current = int(slider.input_value())
    for _ in range(year - current):
        page.keyboard.press("ArrowRight")
    assert int(slider.input_value()) == year


def test_time_control_is_a_native_range_opening_at_the_build_date(session, layers):
    """The map opens at the build date's status, whatever the viewer's clock says (issue 22, item 5)."""
    page = session.page
    assert session.console_errors == [] and session.page_errors == []
    build = date.fromisoformat(str(layers["camps"]["status_as_of"].iloc[0])[:10])
    slider = page.locator("input#atlas-year")
    assert slider.get_attribute("type") == "range"
    assert int(slider.get_attribute("max")) == build.year
    assert int(slider.input_value()) == build.year
    assert f"as of {build.isoformat()}" in page.inner_text(".atlas-time-note")
    assert page.locator(".atlas-time-play").count() == 1
    assert page.locator(".atlas-time-all").count() == 1


@pytest.mark.parametrize("year", [1995, 2010, 2014, 2020])
def test_a_year_filters_findings_and_recolours_camps_as_status_at(session, gpkg, layers, year):
    page = session.page
    _set_year_with_keyboard(page, year)
    findings, camps = layers["camp_findings"], _located(layers["camps"])
    note = page.inner_text(".atlas-time-note")
    shown = int(re.match(r"(\d+) of (\d+) findings", note).group(1))
    assert shown == _on_record_by(findings, year)
    assert int(re.match(r"(\d+) of (\d+) findings", note).group(2)) == len(findings)
    want = ev.status_table(str(year), gpkg).set_index("site_id")["status"]
    got = page.evaluate("window.atlasLayers.camps.getLayers().map(m => m.atlasStatus)")
    icons = page.evaluate("window.atlasLayers.camps.getLayers().map(m => m.options.icon.options.html)")
    assert len(got) == len(camps)
    for site, status, icon in zip(camps["site_id"], got, icons):
        assert status == want[site], site
        assert f'fill="{style.STATUS_COLOURS[status]}"' in icon
    # the popup of the camp with most findings shows exactly those on the record by then
    site = camps.loc[camps["n_findings"].idxmax()]
    i = int(camps.index[camps["site_id"] == site["site_id"]][0])
    page.evaluate(f"() => {{ window.atlasLayers.camps.getLayers()[{i}].openPopup(); }}")
    page.wait_for_selector(".leaflet-popup-content .atlas-findings")
    visible = page.locator(".leaflet-popup-content li.atlas-finding:visible").count()
    assert visible == _on_record_by(findings[findings["site_id"] == site["site_id"]], year)
    assert f"As of 31 December {year}: {want[site['site_id']]}" in page.inner_text(".leaflet-popup-content")
    close_popup(page)


def test_all_time_shows_every_finding_and_the_status_text_colours(session, layers):
    page = session.page
    page.click(".atlas-time-all")
    try:
        assert page.get_attribute(".atlas-time-all", "aria-pressed") == "true"
        camps = _located(layers["camps"])
        icons = page.evaluate("window.atlasLayers.camps.getLayers().map(m => m.options.icon.options.html)")
        for status, icon in zip(camps["status_class"], icons):
            assert f'fill="{style.STATUS_COLOURS[status]}"' in icon
        site = camps.loc[camps["n_findings"].idxmax()]
        i = int(camps.index[camps["site_id"] == site["site_id"]][0])
        page.evaluate(f"() => {{ window.atlasLayers.camps.getLayers()[{i}].openPopup(); }}")
        page.wait_for_selector(".leaflet-popup-content .atlas-findings")
        assert page.locator(".leaflet-popup-content li.atlas-finding:visible").count() == site["n_findings"]
        text = page.inner_text(".leaflet-popup-content")
        assert "Evidence" in text and f"tier {site['evidence_tier']}" in text
        for basis in set(layers["camp_findings"].query("site_id == @site.site_id")["evidence_basis"]):
            assert basis in text
    finally:
        close_popup(page)
        page.evaluate("() => { window.atlas.time.setYear(window.atlas.time.top); }")


def test_play_steps_through_the_years(session):
    page = session.page
    first = page.evaluate("window.atlas.time.first")
    page.click(".atlas-time-play")
    page.wait_for_function(f"() => Number(document.querySelector('input#atlas-year').value) > {first}", timeout=15_000)
    year = int(page.locator("input#atlas-year").input_value())
    assert page.get_attribute(".atlas-time-play", "aria-pressed") == "true"
    page.click(".atlas-time-play")  # pause
    assert page.get_attribute(".atlas-time-play", "aria-pressed") == "false"
    assert first < year < first + 5
    page.evaluate("() => { window.atlas.time.setYear(window.atlas.time.top); }")


@pytest.mark.parametrize("year", [2005, 2016, 2017, 2020])
def test_mine_popups_give_sanctions_and_gem_status_as_of_the_year(session, layers, year):
    from atlas import sanctions

    page = session.page
    _set_year_with_keyboard(page, year)
    mines = _located(layers["mines"])
    assert "sanctions_measure" in mines.columns  # the build always adds them
    want = sanctions.measures_on(mines["commodity"], f"{year}-12-31")
    checked = 0
    for i, r in mines.iterrows():
        if not isinstance(r.get("gem_status"), str) or not r["gem_status"] or checked >= 4:
            continue
        page.evaluate(f"() => {{ window.atlasLayers.mines.getLayers()[{i}].openPopup(); }}")
        page.wait_for_selector(".leaflet-popup-content .atlas-asof-mine b")
        text = page.inner_text(".leaflet-popup-content .atlas-asof-mine")
        assert f"As of 31 December {year}:" in text
        assert f"UN sanctions: {want.iloc[i]}." in text
        start = str(r.get("gem_start_year") or "")
        if start.isdigit() and int(start) > year:
            assert "GEM: not started" in text
        else:
            assert f"GEM: {r['gem_status']} (GEM's status at its release)" in text
        close_popup(page)
        checked += 1
    assert checked == 4
    if year == 2005:
        assert all(w in ("none", "no measure in the atlas's table") or w.count(": none") == w.count(":")
                   for w in want)
