"""The interactive map, opened in a real headless Chromium.

Every page is opened with every request other than the file itself aborted
and recorded, so a map that needs the network fails here instead of showing
a white page on a researcher's laptop.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Geod

import atlas
from atlas import _browser, io, names, style, webmap

from .conftest import REPO, close_popup, run_cli

GEOD = Geod(ellps="WGS84")
HOSTILE = ("<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"
           "{{ 7*7 }} {% if 1 %}x{% endif %} ${window.__pwned=3} `tick` 'single' \"double\" &amp; </div>")
ATLAS_LAYERS = {"provinces", "counties", "mines", "named_mines", "mineral_deposits", "camps",
                "camp_rings", "coordinate_candidates", "steel_plants"}


def _located(df) -> int:
    return int((~(df.geometry.isna() | df.geometry.is_empty)).sum())


@pytest.fixture(scope="module")
def map_html(gpkg, tmp_path_factory) -> Path:
    return atlas.write_map(tmp_path_factory.mktemp("map") / "atlas.html", gpkg=gpkg)


@pytest.fixture(scope="module")
def session(browser, map_html):
    with _browser.open_page(map_html, browser=browser) as s:
        yield s


def _do(page, js: str) -> None:
    """Run statements in the page, returning nothing (a returned Leaflet object is slow to serialise)."""
    page.evaluate(f"() => {{ {js}; }}")


def _counts(page) -> dict:
    return page.evaluate("Object.fromEntries(Object.entries(window.atlasLayers)"
                         ".map(([k, v]) => [k, v.atlasCount ? v.atlasCount() : v.getLayers().length]))")


# --- offline, no errors -----------------------------------------------------------------


def test_page_makes_no_request_and_logs_no_error(session):
    assert session.requests == [session.url]
    assert session.blocked == []
    assert session.console_errors == []
    assert session.page_errors == []
    assert session.page.evaluate("typeof L") == "object"


def test_html_links_no_external_resource(map_html):
    text = map_html.read_text(encoding="utf-8")
    assert not re.search(r"<(script|img|iframe)[^>]+src\s*=", text, re.I)
    assert not re.search(r"<link[^>]+href", text, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text, re.I)
    assert "@import" not in text
    assert "sourceMappingURL" not in text
    assert "default-src 'none'" in text  # the page's CSP forbids any fetch


def test_spec_cannot_close_its_script_element(map_html):
    text = map_html.read_text(encoding="utf-8")
    data = text[text.index("atlasInit(map_"):]
    data = data[data.index(",") + 1:data.rindex("</script>")]
    assert "<" not in data and ">" not in data


# --- layers --------------------------------------------------------------------------------


def test_layer_control_lists_every_layer(session):
    labels = session.page.eval_on_selector_all(
        ".leaflet-control-layers-overlays label", "els => els.map(e => e.textContent.trim())")
    for lid in ATLAS_LAYERS:
        assert sum(label.startswith(webmap.LAYER_TITLES[lid]) for label in labels) == 1, lid
    assert len(labels) == len(ATLAS_LAYERS)  # no raster or user layer without their files
    bases = session.page.eval_on_selector_all(
        ".leaflet-control-layers-base label", "els => els.map(e => e.textContent.trim())")
    assert bases == [webmap.VECTOR_BASE]


def test_each_layer_holds_exactly_the_features_with_geometry(session, layers):
    counts = _counts(session.page)
    assert set(counts) == ATLAS_LAYERS
    for name in ("provinces", "counties", "mines", "named_mines", "mineral_deposits", "camps",
                 "coordinate_candidates", "steel_plants"):
        assert counts[name] == _located(layers[name]), name
    assert counts["camp_rings"] == _located(layers["camps"])
    rings = session.page.evaluate("window.atlasLayers.camp_rings.getLayers()"
                                  ".map(g => g.getLayers().length)")
    assert set(rings) == {len(webmap.RING_KM)}


def test_points_sit_at_their_coordinates(session, layers):
    for name in ("camps", "mines", "named_mines"):
        got = session.page.evaluate(
            f"window.atlasLayers.{name}.getLayers().map(m => [m.getLatLng().lat, m.getLatLng().lng])")
        gdf = layers[name][~(layers[name].geometry.isna() | layers[name].geometry.is_empty)]
        want = sorted(zip(gdf.geometry.y, gdf.geometry.x))
        assert np.allclose(sorted(map(tuple, got)), want, atol=1e-6), name


def test_only_overview_layers_shown_at_start(session):
    shown = session.page.evaluate(
        "Object.fromEntries(Object.entries(window.atlasLayers).map(([k, v]) => [k, window.atlas.map.hasLayer(v)]))")
    assert {k for k, v in shown.items() if v} == set(webmap.SHOWN)


def test_symbols_distinguish_precision_kind_and_status(session, layers):
    page = session.page
    mines = layers["mines"][~layers["mines"].geometry.is_empty]
    html_by_precision = {}
    for i, precision in enumerate(mines["precision"]):
        icon = page.evaluate(f"window.atlasLayers.mines.getLayers()[{i}].options.icon.options.html")
        html_by_precision.setdefault(precision, set()).add(re.sub(r'fill="#[0-9a-f]+"|stroke="#[0-9a-f]+"', "", icon))
    # the same shape for every mine of a precision class (colours aside), a different one per class
    assert all(len(v) == 1 for v in html_by_precision.values())
    assert len({next(iter(v)) for v in html_by_precision.values()}) == len(html_by_precision) == 3
    camps = layers["camps"][~(layers["camps"].geometry.isna() | layers["camps"].geometry.is_empty)]
    _do(page, "window.atlas.time.setAll(true)")  # "all time": colours from the status text
    icons = page.evaluate("window.atlasLayers.camps.getLayers().map(m => m.options.icon.options.html)")
    _do(page, "window.atlas.time.setYear(window.atlas.time.top)")  # back to the default, the build date
    by_kind = {}
    for kind, icon in zip(camps["kind"], icons):
        by_kind.setdefault(kind, set()).add(re.search(r'data-shape="(\w+)"', icon).group(1))
    assert len({frozenset(v) for v in by_kind.values()}) == len(by_kind)
    for status, icon in zip(camps["status_class"], icons):
        assert f'fill="{style.STATUS_COLOURS[status]}"' in icon


def test_town_proxies_are_labelled_not_the_mine(session, layers):
    named = layers["named_mines"]
    proxies = named[named["is_town_proxy"].astype(bool) & ~(named.geometry.isna() | named.geometry.is_empty)]
    assert len(proxies) > 0
    labels = session.page.eval_on_selector_all(".atlas-proxy", "els => els.map(e => e.textContent)")
    assert len(labels) == len(proxies)
    assert all("not the mine's location" in t for t in labels)


def test_province_tooltips_give_reported_and_geolocated_counts(session, layers):
    prov = layers["provinces"]
    mines = layers["mines"]
    joined = gpd.sjoin(mines.to_crs(5179), prov[["name_en", "geometry"]].to_crs(5179), predicate="within")
    tips = session.page.evaluate(
        "window.atlasLayers.provinces.getLayers().map(l => { const d = document.createElement('div');"
        " d.innerHTML = l.getTooltip().getContent(); return d.textContent; })")
    assert len(tips) == len(prov)
    for tip, (_, r) in zip(tips, prov.iterrows()):
        assert r["name_en"] in tip and r["name_ko"] in tip
        assert f"{r['reported_mines']} mines reported" in tip
        assert f"{r['reported_share_pct']:g}% of 360" in tip
        geolocated = int(re.search(r"(\d+) geolocated", tip).group(1))
        inside = int((joined["name_en"] == r["name_en"]).sum())
        # the atlas's spatial join also takes points up to 5 km outside (admin_method = nearest)
        nearest = int(((mines["province"] == r["name_en"]) & (mines["admin_method"] == "nearest")).sum())
        assert inside <= geolocated <= inside + nearest


def _popup_text(page, layer: str, index: int) -> str:
    """Open one feature's popup as a reader would (its layer switched on) and read what it shows."""
    shown = page.evaluate(f"window.atlas.map.hasLayer(window.atlasLayers.{layer})")
    marker = f"window.atlasLayers.{layer}.getLayers()[{index}]"
    close_popup(page)
    _do(page, f"window.atlas.map.addLayer(window.atlasLayers.{layer}); "
              f"window.atlas.map.setView({marker}.getLatLng(), 12, {{animate: false}}); {marker}.openPopup()")
    title = page.evaluate(f"(() => {{ const d = document.createElement('div'); d.innerHTML = "
                          f"{marker}.getPopup().getContent(); return d.querySelector('h3').textContent; }})()")
    page.wait_for_function("t => { const e = document.querySelector('.leaflet-popup-content h3'); "
                           "return e && e.textContent === t; }", arg=title)
    text = page.inner_text(".leaflet-popup-content")
    close_popup(page)
    if not shown:
        _do(page, f"window.atlas.map.removeLayer(window.atlasLayers.{layer})")
    return text


def _text(popup: str) -> str:
    """A popup's text as a reader sees it: tags dropped, entities decoded."""
    import html as _html

    return " ".join(_html.unescape(re.sub(r"<[^>]+>", " ", popup)).split())


def _record_coords(rec) -> str:
    c = rec.coordinates[0]
    return f"{c['lat']:.6f}, {c['lon']:.6f}"


@pytest.fixture(scope="module")
def map_spec(gpkg) -> dict:
    return {layer["id"]: layer for layer in atlas.build_map(gpkg=gpkg).atlas_spec["layers"]}


def test_camp_popups_are_views_of_the_record(map_spec, gpkg):
    """Each camp's popup says what ``atlas show`` says: status and why, its findings oldest first and their
    sources, its coordinates, precision and published coordinates (one gathering: atlas.records)."""
    feats = map_spec["camps"]["features"]
    assert len(feats) >= 20
    for feat in feats:
        rec = atlas.record(feat["id"], gpkg, layer="camps")
        text = _text(feat["p"])
        st = rec.status
        assert f"Status {st['summary']} (the build date)" in text and f"Why: {st['reason']}" in text, rec.id
        assert f"tier {st['evidence_tier']}: {st['evidence_tier_label']}" in text, rec.id
        if rec.findings:
            assert f"Findings, oldest first ({len(rec.findings)})" in text, rec.id
            assert feat["p"].count('<li class="atlas-finding"') == len(rec.findings), rec.id
            where = [text.find(" ".join(f["description"].split())) for f in rec.findings if f.get("description")]
            assert -1 not in where and where == sorted(where), rec.id  # the record's order: oldest first
            for f in rec.findings:
                assert f"Source: {f.get('source_report') or ''}" in text, (rec.id, f["finding_id"])
        else:
            assert "No dated findings recorded." in text and "atlas-finding" not in feat["p"], rec.id
        assert f"{_record_coords(rec)} (WGS84)" in text, rec.id
        assert f"{rec.fields['precision']}: {rec.fields['location_precision'] or ''}" in text, rec.id
        assert f"Coordinate source {rec.fields['source']}" in text, rec.id
        published = [c for c in rec.coordinates if c["role"].startswith("published coordinate")]
        if published:
            assert f"Published coordinates ({len(published)})" in text, rec.id
            located = [c for c in published if c["lat"] is not None]
            where = [text.find(f"{c['source']}: {c['lat']:.6f}, {c['lon']:.6f}") for c in located]
            assert -1 not in where and where == sorted(where), rec.id  # nearest first, as the record
        else:
            assert "Published coordinates (" not in text, rec.id


def test_mine_popups_are_views_of_the_record(map_spec, gpkg, layers):
    """A sample of mines (every third, and each with other published coordinates) and every named mine:
    the popup's status (the rule's line and why), coordinates, precision, source and other published
    coordinates are the record's."""
    for layer, id_col in (("mines", "mine_id"), ("named_mines", "named_id")):
        df = layers[layer]
        df = df[~(df.geometry.isna() | df.geometry.is_empty)]
        feats = map_spec[layer]["features"]
        assert len(feats) == len(df) > 10
        checks = df["cross_checks"].fillna("") if "cross_checks" in df else pd.Series("", index=df.index)
        crossed = [len(x.split(" | ")) if x else 0 for x in checks]
        sample = [k for k in range(len(df)) if layer == "named_mines" or k % 3 == 0 or crossed[k]]
        assert len(sample) >= 10 and (layer == "named_mines" or any(crossed))
        for k in sample:
            site, feat = df[id_col].iloc[k], feats[k]
            rec = atlas.record(site, gpkg, layer=layer)
            text = _text(feat["p"])
            assert rec.status, site
            assert f"{rec.status['summary']} (the build date)" in text, site
            assert f"Why: {rec.status['reason']}" in text, site
            assert f"{_record_coords(rec)} (WGS84)" in text, site
            assert f"{rec.fields['precision']}: {rec.fields['location_precision'] or ''}" in text, site
            assert f"Source {rec.fields['source']}" in text, site
            assert len(rec.coordinates) == 1 + crossed[k], site
            for c in rec.coordinates[1:]:
                assert f"{c['source']}: {c['lat']:.6f}, {c['lon']:.6f} ({c['distance_km']:g} km" in text, site


def test_camp_popup_cites_each_page_as_given_never_p_p(map_html, layers):
    """The findings' page column already names the page (``p. 29 (...)``): the popup adds no ``p.``."""
    text = map_html.read_text(encoding="utf-8")
    assert "p. p." not in text
    findings, camps = layers["camp_findings"], layers["camps"]
    drawn = camps.loc[~(camps.geometry.isna() | camps.geometry.is_empty), "site_id"]  # camps on the map
    pages = findings.loc[(findings["page"].fillna("").str.strip() != "") & findings["site_id"].isin(drawn), "page"]
    # the popups sit JSON- and HTML-encoded in the page: compare the pages whose text survives both as is
    plain = [p for p in pages if re.fullmatch(r"[\w .,()-]+", p)]
    assert len(plain) >= 5
    for page in plain:
        assert f", {page}" in text, page


def test_camp_popup_fits_a_phone_screen_clear_of_the_controls(browser, map_html):
    """At 375 x 667 a clicked camp's popup lies inside the screen and under no map control."""
    with _browser.open_page(map_html, browser=browser, size=(375, 667)) as s:
        page = s.page
        page.wait_for_timeout(1000)  # as a reader: the page drawn before the first click
        x, y = page.evaluate("""() => { const m = window.atlasLayers.camps.getLayers()
            .find(m => m.getPopup().getContent().includes('Camp 15'));
            const r = m._icon.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }""")
        page.mouse.click(x, y)
        page.wait_for_selector(".leaflet-popup-content h3")
        script = """() => {
            const rect = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
            return [rect(document.querySelector('.leaflet-popup-content-wrapper')),
                    [...document.querySelectorAll('.leaflet-control')].filter(e => e.offsetParent)
                        .map(e => [e.className, rect(e)])]; }"""
        box, controls = page.evaluate(script)
        for _ in range(20):  # the map pans the popup into view: read it once it stands still
            page.wait_for_timeout(300)
            again, controls = page.evaluate(script)
            if again == box:
                break
            box = again
        left, top, right, bottom = box
        assert left >= 0 and top >= 0 and right <= 375 and bottom <= 667, box
        for name, (cl, ct, cr, cb) in controls:
            assert cr <= left or cl >= right or cb <= top or ct >= bottom, (name, box)


def test_mine_popup_says_the_un_sanctions_and_gem_record(session, layers):
    page = session.page
    mines = layers["mines"][~layers["mines"].geometry.is_empty].reset_index(drop=True)
    names = page.evaluate("window.atlasLayers.mines.getLayers().map(m => m.getPopup().getContent())")
    for name in ("Cheongnam Coal Mine", "Ryongyang mine", "Pyongsan uranium mine and concentration plant"):
        i = next(k for k, html in enumerate(names) if f"<h3>{name}</h3>" in html)
        row = mines.set_index("name").loc[name]
        text = _popup_text(page, "mines", i)
        assert "UN sanctions" in text and row["sanctions_measure"] in text, name
        if name == "Cheongnam Coal Mine":
            assert "ban since 2017-08-05 (S/RES/2371 (2017))" in text and "2016-03-02" in text
            assert "Global Energy Monitor" in text and "M0745" in text and "Hwapung" in text
        if name.startswith("Pyongsan"):
            assert "no measure in the atlas's table" in text


def test_steel_plants_are_drawn_as_plants_not_mines(session, layers):
    page = session.page
    plants = layers["steel_plants"]
    html = page.evaluate("window.atlasLayers.steel_plants.getLayers().map(m => m.options.icon.options.html)")
    assert len(html) == len(plants) and all('data-shape="square"' in h for h in html)
    text = _popup_text(page, "steel_plants", 0)
    assert "not a mine" in text and "Global Iron and Steel Tracker" in text
    assert not webmap.LAYER_TITLES["steel_plants"].startswith("Mines")


def test_camp_popup_opened_by_click_lists_findings_oldest_first(session, layers):
    page = session.page
    camps, findings = layers["camps"], layers["camp_findings"]
    located = camps[~(camps.geometry.isna() | camps.geometry.is_empty)]
    site = located.loc[located["n_findings"].idxmax()]
    mine = findings[findings["site_id"] == site["site_id"]].copy()
    assert len(mine) >= 3
    mine["key"] = mine["date_start"].fillna(mine["date_end"]).fillna("9999")
    expected = mine.sort_values(["key", "date_end", "finding_id"], na_position="last")["description"].tolist()
    _do(page, "window.atlas.time.setAll(true)")  # every finding, undated ones included
    close_popup(page)
    _do(page, f"window.atlas.map.setView([{site.geometry.y}, {site.geometry.x}], 14,"
                  " {animate: false})")
    page.wait_for_timeout(200)
    box = page.locator("#" + page.evaluate("window.atlas.map.getContainer().id")).bounding_box()
    pt = page.evaluate(f"window.atlas.map.latLngToContainerPoint([{site.geometry.y}, {site.geometry.x}])")
    page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
    page.wait_for_selector(".leaflet-popup-content .atlas-findings")
    text = page.inner_text(".leaflet-popup-content")
    assert site["name"] in text and site["site_id"] in text
    assert "Findings, oldest first" in text
    positions = [text.find(d.split(" (")[0][:60]) for d in expected]
    assert all(p >= 0 for p in positions), expected
    assert positions == sorted(positions)
    for label in ("Coordinates", "Precision", "Status as of", "As the sources word it", "Agency",
                  "Prisoners (estimates)", "Location"):
        assert label in text
    folded = page.evaluate("document.querySelector('.leaflet-popup-content details.atlas-prov').textContent")
    assert "Coordinate source" in folded and "Licence" in folded  # the provenance chain, folded
    close_popup(page)
    _do(page, "window.atlas.time.setYear(window.atlas.time.top)")


def test_finding_says_its_type_and_basis_once_each(session, layers):
    """A testimony finding is tagged 'testimony (first-hand)', not 'testimony testimony, first-hand'."""
    findings = layers["camp_findings"]
    same = findings[findings["finding_type"] == findings["evidence_basis"]]
    assert len(same)  # the data holds findings whose type is their basis
    camps = layers["camps"]
    camps = camps[~(camps.geometry.isna() | camps.geometry.is_empty)].reset_index(drop=True)  # as drawn
    i = int(camps.index[camps["site_id"].isin(same["site_id"])][0])
    tags = session.page.evaluate(f"""(() => {{ const d = document.createElement('div');
        d.innerHTML = window.atlasLayers.camps.getLayers()[{i}].getPopup().getContent();
        return [...d.querySelectorAll('li.atlas-finding')].map(li =>
            [...li.querySelectorAll('.atlas-tag')].map(t => t.textContent)); }})()""")
    bases = set(findings["evidence_basis"].dropna())
    assert tags and all(sum(b in x for x in t) <= 1 for t in tags for b in bases), tags
    hands = [x for t in tags for x in t if x.startswith("testimony (")]
    assert hands and all(h.split(" (")[1].rstrip(")") in ("first-hand", "second-hand", "hand unstated")
                         for h in hands), hands


def test_rings_are_geodesic_distances(map_html, gpkg):
    m = atlas.build_map(gpkg)
    rings = next(la for la in m.atlas_spec["layers"] if la["id"] == "camp_rings")
    camps = atlas.read_layer("camps", gpkg)
    camps = camps[~(camps.geometry.isna() | camps.geometry.is_empty)]
    for feat, (_, camp) in zip(rings["features"], camps.iterrows()):
        for km, ring in zip(webmap.RING_KM, feat["rings"]):
            lat, lon = np.array(ring).T
            _, _, dist = GEOD.inv(np.full(lat.size, camp.geometry.x), np.full(lat.size, camp.geometry.y), lon, lat)
            assert np.abs(dist - km * 1000).max() < 2.0  # vertices rounded to 1e-5 degrees
        # a circle drawn on Web Mercator would be ~30 % too small north-south at 40° N
        lat, lon = np.array(feat["rings"][-1]).T
        _, _, ns = GEOD.inv(camp.geometry.x, lat.min(), camp.geometry.x, lat.max())
        assert abs(ns - 2 * webmap.RING_KM[-1] * 1000) < 50


def test_candidates_joined_to_the_atlas_point(session, layers):
    cands = layers["coordinate_candidates"]
    cands = cands[~cands.geometry.is_empty]
    lines = session.page.evaluate(
        "window.atlasLayers.coordinate_candidates.getLayers().map(g => g.getLayers()"
        ".filter(l => l instanceof L.Polyline).length)")
    assert sum(lines) == int((~cands["is_atlas_point"].astype(bool)).sum())


# --- search, measure, attribution ------------------------------------------------------------


@pytest.mark.parametrize("query, expected", [
    ("Yodok", "Yodok (Camp 15)"), ("Yodŏk", "Yodok (Camp 15)"), ("요덕", "Yodok (Camp 15)"),
    ("Kaech'ŏn", "Kaechon (Camp 14)"), ("Gaecheon", "Kaechon (Camp 14)"), ("개천", "Kaechon (Camp 14)"),
    ("Dancheon", "Kyo-hwa-so No. 77, Danchon"), ("Hoeryong", "Hoeryong (Camp 22)"),
])
def test_search_finds_names_in_any_romanization(session, query, expected):
    page = session.page
    page.fill(".atlas-search input", query)
    hits = page.eval_on_selector_all(".atlas-results .atlas-hit-name", "els => els.map(e => e.textContent)")
    assert expected in hits


def test_search_lists_sites_without_coordinates_as_not_on_the_map(session, layers):
    camps = layers["camps"]
    missing = camps[camps.geometry.isna() | camps.geometry.is_empty].iloc[0]
    session.page.fill(".atlas-search input", missing["name"])
    text = session.page.inner_text(".atlas-results")
    assert missing["name"] in text and "no public coordinate" in text


def test_search_click_opens_the_feature(session):
    page = session.page
    page.fill(".atlas-search input", "요덕")
    page.click(".atlas-results .atlas-hit >> text=Yodok (Camp 15)")
    page.wait_for_selector(".leaflet-popup-content")
    assert "KLS-15" in page.inner_text(".leaflet-popup-content")
    close_popup(page)
    page.fill(".atlas-search input", "")


def test_javascript_name_keys_equal_python_keys(session, layers):
    texts = set()
    for name, cols in (("camps", ["name", "name_ko", "alt_names", "county"]), ("mines", ["name", "alt_names"]),
                       ("named_mines", ["name_in_report", "alt_names"]),
                       ("provinces", ["name_en", "name_ko", "name_mr", "name_rr", "name_variants"]),
                       ("counties", ["name_en", "name_ko"])):
        for col in cols:
            texts |= {str(v) for v in layers[name][col].dropna()}
    texts |= {"Kaech'ŏn", "Yodŏk-gun", "개천시", "Ŭiju", "GAECHEON", "  Tan-ch'ŏn  ", HOSTILE, "", "평양직할시"}
    texts = sorted(texts)
    got = session.page.evaluate("ts => ts.map(t => window.atlas.keys(t))", texts)
    for text, js in zip(texts, got):
        assert js == sorted(names.keys(text)), text


def test_measure_tool_reports_geodesic_distance(session):
    page = session.page
    pairs = [(39.67, 126.85, 41.8, 129.8), (38.0, 125.0, 38.0, 125.001), (42.9, 130.6, 37.7, 124.7)]
    for lat1, lon1, lat2, lon2 in pairs:
        js = page.evaluate(f"window.atlas.geodesic({lat1}, {lon1}, {lat2}, {lon2})")
        _, _, ref = GEOD.inv(lon1, lat1, lon2, lat2)
        assert abs(js - ref) < 0.001
    # the page is shared by the session's tests: close what an earlier test left open (a popup
    # over the click points would take the clicks), and put every layer back even if this fails
    close_popup(page)
    _do(page, "window.atlas.map.setView([40.0, 127.0], 8, {animate: false})")
    for name in ("mines", "named_mines", "camps", "provinces"):  # clear the way for map clicks
        _do(page, f"window.atlas.map.removeLayer(window.atlasLayers.{name})")
    measuring = False
    try:
        box = page.locator(".leaflet-container").bounding_box()
        page.click(".atlas-measure .atlas-btn")
        measuring = True
        page.wait_for_function("() => window.atlas.measure._on === true", timeout=10_000)
        clicks = [(500, 400), (800, 300), (900, 600)]
        for i, (x, y) in enumerate(clicks, 1):
            page.mouse.click(box["x"] + x, box["y"] + y)
            # the renderer handles input apart from script evaluation: under load a read can
            # overtake a click, so wait for each click to reach the tool before the next
            page.wait_for_function(f"() => window.atlas.measure._pts.length >= {i}", timeout=10_000)
        text = page.inner_text(".atlas-measure-out")
        lls = page.evaluate(f"{json.dumps(clicks)}.map(p => window.atlas.map.containerPointToLatLng(p))")
        total = sum(GEOD.inv(a["lng"], a["lat"], b["lng"], b["lat"])[2] for a, b in itertools.pairwise(lls))
        found = re.search(r"([\d.]+) km", text)
        assert found, (text, page.evaluate("window.atlas.measure._pts.length"))
        km = float(found.group(1))
        assert abs(km - total / 1000) < 0.01 + total / 1e6 * 0.5, text  # pixel rounding of the clicks
        assert "geodesic" in text
    finally:
        if measuring:
            page.click(".atlas-measure .atlas-btn")
        for name in ("mines", "named_mines", "camps", "provinces"):
            _do(page, f"window.atlas.map.addLayer(window.atlasLayers.{name})")


def test_attribution_names_every_source_and_licence(session, layers):
    text = session.page.evaluate("document.querySelector('.atlas-sources').textContent")
    for _, row in layers["sources"].iterrows():
        assert row["attribution"] in text and row["licence"] in text and row["path"] in text
    line = session.page.inner_text(".leaflet-control-attribution")
    for must in ("OpenStreetMap contributors", "Natural Earth", "ICMM", "GeoNames", "Gulag, Inc."):
        assert must in line


def test_controls_present(session):
    page = session.page
    for sel in (".leaflet-control-scale", ".atlas-measure", ".atlas-full", ".atlas-search", ".atlas-legend",
                ".leaflet-control-layers"):
        assert page.locator(sel).count() == 1, sel
    assert page.inner_text(".atlas-net").startswith("Offline map")
    legend = page.inner_text(".atlas-legend")
    for words in ("kwan-li-so", "kyo-hwa-so", "status: contested", "town, not the mine", "mines reported"):
        assert words in legend


# --- safety, determinism ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_gpkg(gpkg, tmp_path_factory) -> Path:
    """A synthetic copy of the atlas whose names and texts try to run script."""
    lays = atlas.read_layers(gpkg)
    camps = lays["camps"]
    i = camps.index[camps["site_id"] == "KLS-15"][0]
    for col in ("name", "name_ko", "status", "agency", "source", "status_date"):
        camps.loc[i, col] = HOSTILE
    j = camps.index[camps.geometry.isna() | camps.geometry.is_empty][0]
    camps.loc[j, "name"] = HOSTILE + " unlocated"
    f = lays["camp_findings"]
    f.loc[f["site_id"] == "KLS-15", "description"] = HOSTILE
    f.loc[f["site_id"] == "KLS-15", "source_report"] = HOSTILE
    lays["mines"].loc[0, "name"] = HOSTILE
    named = lays["named_mines"]
    named.loc[named["is_town_proxy"].astype(bool).idxmax(), "name_in_report"] = HOSTILE
    lays["provinces"].loc[0, "name_ko"] = HOSTILE
    lays["counties"].loc[0, "name_en"] = HOSTILE
    lays["coordinate_candidates"].loc[0, "source"] = HOSTILE
    lays["mineral_deposits"].loc[0, "quote"] = HOSTILE
    lays["sources"].loc[0, "attribution"] = HOSTILE
    out = tmp_path_factory.mktemp("hostile") / "synthetic_hostile.gpkg"
    io.write_layers(lays, out)
    return out


def test_hostile_text_is_shown_literally_and_never_runs(browser, hostile_gpkg, tmp_path):
    extra = gpd.GeoDataFrame({"label": [HOSTILE, "plain"]}, crs=4326,
                             geometry=[shapely.Point(127.0, 40.0), shapely.Point(127.5, 40.5)])
    page_path = atlas.write_map(tmp_path / "synthetic_hostile.html", gpkg=hostile_gpkg,
                                extra_layers={HOSTILE: extra})
    text = page_path.read_text(encoding="utf-8")
    assert text.count("{{ 7*7 }} {% if 1 %}x{% endif %}") >= 10  # never evaluated as a template
    with _browser.open_page(page_path, browser=browser) as s:
        page = s.page
        assert page.evaluate("typeof window.__pwned") == "undefined"
        page.fill(".atlas-search input", "Yodok")
        page.fill(".atlas-search input", HOSTILE)
        results = page.evaluate("document.querySelector('.atlas-results').textContent")
        assert HOSTILE + " unlocated" in results
        _do(page, "window.atlas.reveal(window.atlas.search('KLS-15')[0])")
        page.wait_for_selector(".leaflet-popup-content .atlas-findings")
        popup = page.evaluate("document.querySelector('.leaflet-popup-content').textContent")
        assert popup.count(HOSTILE) >= 6  # name, Hangul, status, date, agency, source, findings
        assert page.locator(".leaflet-popup-content script, .leaflet-popup-content img").count() == 0
        close_popup(page)
        # the user layer: its title in the layer control, its attributes in the popup
        labels = page.evaluate("Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
                               ".map(e => e.textContent)")
        assert any(HOSTILE in la for la in labels)
        lid = page.evaluate("Object.keys(window.atlasLayers).find(k => k.startsWith('user:'))")
        assert page.evaluate(f"window.atlas.openUserRecord('{lid}', 0)") is True
        popup = page.evaluate("document.querySelector('.leaflet-popup-content').textContent")
        assert HOSTILE in popup
        _do(page, "window.atlas.map.addLayer(window.atlasLayers.mineral_deposits);"
                      "window.atlas.map.addLayer(window.atlasLayers.counties);"
                      "window.atlas.map.addLayer(window.atlasLayers.coordinate_candidates)")
        legend = page.evaluate("document.querySelector('.atlas-legend').textContent")
        assert HOSTILE + " unlocated" in legend
        assert HOSTILE in page.evaluate("document.querySelector('.atlas-sources').textContent")
        tip = page.evaluate("window.atlasLayers.provinces.getLayers()[0].getTooltip().getContent()")
        assert "&lt;script&gt;" in tip
        assert page.locator("body script").count() == 0 or page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert s.blocked == [] and s.console_errors == [] and s.page_errors == []


@pytest.mark.slow
def test_same_inputs_give_byte_identical_html(gpkg, tmp_path):
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"atlas_{seed}.html"
        code = f"import atlas; atlas.write_map({str(out)!r}, gpkg={str(gpkg)!r})"
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONHASHSEED": seed},
                       cwd=REPO, timeout=300)
        outs.append(out.read_bytes())
    assert hashlib.sha256(outs[0]).digest() == hashlib.sha256(outs[1]).digest()
    assert not re.search(rb"_[0-9a-f]{32}\b", outs[0])  # no random folium ids left


# --- optional layers: user layers, rasters, online tiles ------------------------------------------


def test_extra_layers_are_drawn_and_clickable(browser, gpkg, tmp_path):
    rng = np.random.default_rng(4)
    n = 2_000
    xy = gpd.points_from_xy(rng.uniform(900_000, 1_100_000, n), rng.uniform(1_900_000, 2_100_000, n),
                            crs=5179)
    pts = gpd.GeoDataFrame({"synthetic_id": np.arange(n), "score": rng.random(n)}, geometry=xy)
    poly = gpd.GeoDataFrame({"synthetic_id": [-1]}, geometry=[shapely.box(126, 39, 126.5, 39.5)], crs=4326)
    out = atlas.write_map(tmp_path / "synthetic_user.html", gpkg=gpkg,
                          extra_layers={"Synthetic points": pts, "Synthetic area": poly})
    with _browser.open_page(out, browser=browser) as s:
        page = s.page
        counts = _counts(page)
        assert counts["user:0"] == n and counts["user:1"] == 1
        got = page.evaluate("Array.from({length: 50}, (_, i) => window.atlasLayers['user:0'].atlasPoints.latLng(i))"
                            ".map(ll => [ll.lng, ll.lat])")
        want = pts.to_crs(4326).geometry.iloc[:50]
        assert np.allclose(got, np.column_stack([want.x, want.y]), atol=2e-6)
        _do(page, "window.atlas.map.removeLayer(window.atlasLayers.provinces)")
        target = pts.to_crs(4326).geometry.iloc[7]
        _do(page, f"window.atlas.map.setView([{target.y}, {target.x}], 17, {{animate: false}})")
        page.wait_for_timeout(300)
        box = page.locator(".leaflet-container").bounding_box()
        pt = page.evaluate(f"window.atlas.map.latLngToContainerPoint([{target.y}, {target.x}])")
        page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
        page.wait_for_selector(".leaflet-popup-content table")
        text = page.inner_text(".leaflet-popup-content")
        assert "Synthetic points" in text and "synthetic_id" in text and "\t7" in text.replace(" ", "\t")
        labels = page.eval_on_selector_all(".leaflet-control-layers-overlays label", "els => els.map(e => e.textContent)")
        assert any("Synthetic points" in la for la in labels)
        assert s.blocked == [] and s.console_errors == [] and s.page_errors == []


def test_extra_layer_without_crs_is_refused(gpkg):
    bad = gpd.GeoDataFrame(geometry=[shapely.Point(127, 40)])
    with pytest.raises(atlas.InputError, match="no CRS"):
        atlas.build_map(gpkg, extra_layers={"x": bad})


def test_imported_user_layers_from_the_geopackage_are_shown(gpkg, tmp_path):
    copy = tmp_path / "synthetic_atlas.gpkg"
    shutil.copy(gpkg, copy)
    pts = gpd.GeoDataFrame({"name": ["synthetic a", "synthetic b"]}, crs=4326,
                           geometry=[shapely.Point(127.1, 40.1), shapely.Point(127.2, 40.2)])
    pyogrio.write_dataframe(pts, copy, layer="user_synthetic_sites", driver="GPKG")
    m = atlas.build_map(copy)
    assert "Your layer: synthetic_sites" in m.atlas_layers.values()


def _synthetic_tif(path: Path, bands: int = 1, dtype: str = "float32") -> None:
    import rasterio
    from rasterio.transform import from_origin

    h, w = 60, 80
    yy, xx = np.mgrid[0:h, 0:w]
    data = np.stack([(xx + yy * (b + 1)).astype(dtype) for b in range(bands)])
    if dtype == "float32":
        data[0, :5, :5] = -9999.0  # nodata corner
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=bands, dtype=dtype,
                       crs="EPSG:5179", transform=from_origin(1_000_000, 2_000_000, 1000, 1000),
                       nodata=-9999.0 if dtype == "float32" else None) as dst:
        dst.write(data)
        dst.update_tags(1, units="points/km²")


def test_density_raster_and_chips_become_optional_overlays(browser, gpkg, tmp_path):
    folder = tmp_path / "out"
    (folder / "chips").mkdir(parents=True)
    shutil.copy(gpkg, folder / "atlas.gpkg")
    _synthetic_tif(folder / "mine_density.tif")
    _synthetic_tif(folder / "chips" / "SYN-1.tif", bands=3, dtype="uint8")
    _synthetic_tif(folder / "chips" / "SYN-2.tif", bands=1, dtype="float32")
    m = atlas.build_map(folder / "atlas.gpkg")
    spec = {la["id"]: la for la in m.atlas_spec["layers"]}
    assert "density" in spec and len(spec["chips"]["features"]) == 2
    dens = spec["density"]["features"][0]
    png = base64.b64decode(dens["url"].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(folder / "mine_density.tif") as src:
        w, s, e, n = transform_bounds(src.crs, 4326, *src.bounds)
    (bs, bw), (bn, be) = dens["bounds"]
    assert abs(bs - s) < 0.02 and abs(bn - n) < 0.02 and abs(bw - w) < 0.02 and abs(be - e) < 0.02
    assert "points/km²" in spec["density"]["legend"]["items"][0]["max"]
    out = atlas.write_map(folder / "atlas.html", gpkg=folder / "atlas.gpkg")
    with _browser.open_page(out, browser=browser) as sess:
        page = sess.page
        assert page.evaluate("window.atlas.map.hasLayer(window.atlasLayers.density)") is False
        assert _counts(page)["density"] == 1 and _counts(page)["chips"] == 2
        _do(page, "window.atlas.map.addLayer(window.atlasLayers.density)")
        assert "points/km²" in page.inner_text(".atlas-legend")
        assert page.locator(".leaflet-image-layer").count() == 1
        assert sess.blocked == [] and sess.console_errors == [] and sess.page_errors == []
    none = atlas.build_map(folder / "atlas.gpkg", density=False, chips=False)
    assert "density" not in none.atlas_layers and "chips" not in none.atlas_layers


def test_online_adds_tile_base_layers_that_say_they_need_a_network(browser, gpkg, tmp_path):
    out = atlas.write_map(tmp_path / "online.html", gpkg=gpkg, online=True)
    with _browser.open_page(out, browser=browser) as s:
        page = s.page
        bases = page.eval_on_selector_all(".leaflet-control-layers-base label", "els => els.map(e => e.textContent.trim())")
        assert bases[0] == webmap.VECTOR_BASE
        assert any("OpenStreetMap" in b and "needs a network" in b for b in bases)
        assert any("Esri World Imagery" in b and "needs a network" in b for b in bases)
        assert "need a network" in page.inner_text(".atlas-net")
        assert s.blocked == []  # nothing fetched until a tile base layer is chosen
        if page.evaluate("document.querySelector('.atlas-layers').classList.contains('atlas-folded')"):
            page.click(".atlas-layers .atlas-fold-head")  # unfold the layer list
        page.click(".leaflet-control-layers-base label >> text=OpenStreetMap")
        for _ in range(100):  # the tiles are asked for once the renderer has handled the click
            if any(u.startswith("https://tile.openstreetmap.org/") for u in s.blocked):
                break
            page.wait_for_timeout(100)
        assert any(u.startswith("https://tile.openstreetmap.org/") for u in s.blocked)


# --- command line, build product -------------------------------------------------------------------


def test_cli_map_writes_the_page(gpkg, tmp_path):
    out = tmp_path / "cli.html"
    result = run_cli("map", "--gpkg", str(gpkg), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.is_file() and str(out) in result.stdout
    assert "tile.openstreetmap.org" not in out.read_text(encoding="utf-8")
    result = run_cli("map", "--gpkg", str(gpkg), "--out", str(out), "--online")
    assert result.returncode == 0 and "tile.openstreetmap.org" in out.read_text(encoding="utf-8")


def test_cli_map_without_geopackage_is_a_clear_error(tmp_path):
    result = run_cli("map", "--gpkg", str(tmp_path / "missing.gpkg"), "--out", str(tmp_path / "x.html"))
    assert result.returncode == 2
    assert "no GeoPackage" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.html").exists()


@pytest.mark.slow
def test_build_registers_the_map_product(gpkg, tmp_path):
    from atlas import builder

    assert "map" in builder.PRODUCTS
    copy = tmp_path / "atlas.gpkg"
    shutil.copy(gpkg, copy)
    written = builder.build_products(copy, ["map"])
    assert written[0] == tmp_path / "atlas.html" and written[0].stat().st_size > 100_000
    if _browser.available():
        assert written[1] == tmp_path / "map.png" and written[1].read_bytes()[:4] == b"\x89PNG"


def test_file_stays_small(map_html):
    size = map_html.stat().st_size
    assert size < 4_000_000, size


def test_verbose_times_each_step(gpkg, tmp_path):
    quiet = run_cli("map", "--gpkg", str(gpkg), "--out", str(tmp_path / "a.html"))
    timed = run_cli("-v", "map", "--gpkg", str(gpkg), "--out", str(tmp_path / "b.html"))
    assert quiet.returncode == timed.returncode == 0, timed.stderr
    assert not re.search(r"\[\s*\d+\.\d s\]", quiet.stderr)
    assert re.search(r"^atlas: \[\s*\d+\.\d s\] map: ", timed.stderr, re.M), timed.stderr
