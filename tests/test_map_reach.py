"""Every feature on the map within reach, measured in a real headless Chromium (issue 24).

Search results above every control and picked by keyboard; every feature at a shared
coordinate opened through the chooser; the story's camps labelled at three screen sizes with no
label on another; the controls leaving the markers, the status colours and a phone's popup text
in view.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import atlas
from atlas import _browser

SIZES = [(1200, 800), (375, 667)]
#: The kwan-li-so the report's story is about.
STORY_CAMPS = ("14", "15", "16", "18", "22", "25")

#: Each search result: its text and whether the element at its centre (scrolled into view) is inside it.
RESULTS_JS = """() => Array.from(document.querySelectorAll('.atlas-results li[data-pick]')).map(li => {
  li.scrollIntoView({block: 'nearest'});
  const r = li.getBoundingClientRect(), e = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return [li.querySelector('.atlas-hit-name').textContent, !!e && li.contains(e), r.left + r.width / 2, r.top + r.height / 2]; })"""
#: The open popup (the map's own: a closed one fades out for a moment, and print keeps a copy).
OPEN_POPUP = "(window.atlas.map._popup && window.atlas.map._popup.isOpen() ? window.atlas.map._popup.getElement() : null)"
POPUP_TITLE_JS = f"() => {{ const p = {OPEN_POPUP}, h = p && p.querySelector('.leaflet-popup-content h3'); return h ? h.textContent : null; }}"
#: The chooser's entries in the open popup: [layer:index, x, y] each.
PICKS_JS = f"""() => {{ const p = {OPEN_POPUP}; return p ? [...p.querySelectorAll('.atlas-stack-pick')].map(b => {{
  const r = b.getBoundingClientRect(); return [b.dataset.layer + ':' + b.dataset.index, r.left + r.width / 2, r.top + r.height / 2]; }}) : []; }}"""


@pytest.fixture(scope="module")
def map_html(gpkg, tmp_path_factory) -> Path:
    return atlas.write_map(tmp_path_factory.mktemp("reach_map") / "atlas.html", gpkg=gpkg)


def _overlap(a, b, tol: float = 0.5) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > tol and min(a[3], b[3]) - max(a[1], b[1]) > tol


# --- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_search_result_takes_a_click_above_every_control(browser, map_html, size):
    with _browser.open_page(map_html, size=size, browser=browser) as s:
        page = s.page
        page.fill(".atlas-search input", "Taehung")
        results = page.evaluate(RESULTS_JS)
        assert len(results) >= 4, results  # the camp, the mine, the county, the named mine
        assert all(hit for _, hit, _, _ in results), results  # nothing on top of any result
        name, _, x, y = results[-1]  # the last one, under the year control before
        page.mouse.click(x, y)
        page.wait_for_function(POPUP_TITLE_JS)
        assert page.evaluate(POPUP_TITLE_JS) == name or page.evaluate(
            "() => document.querySelector('.leaflet-popup-content').textContent").find(name) >= 0
        assert page.evaluate("document.querySelectorAll('.atlas-results li').length") == 0  # closed on a pick
        assert page.get_attribute(".atlas-search input", "aria-expanded") == "false"
        assert not s.page_errors


def test_search_is_used_by_keyboard_alone(browser, map_html):
    with _browser.open_page(map_html, size=(1200, 800), browser=browser) as s:
        page = s.page
        for _ in range(12):  # the search box is reached with Tab from the top of the page
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.matches('.atlas-search input')"):
                break
        assert page.evaluate("document.activeElement.matches('.atlas-search input')")
        page.keyboard.type("Taehung")
        names = [r[0] for r in page.evaluate(RESULTS_JS)]
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")  # the second result
        page.wait_for_function(POPUP_TITLE_JS)
        assert names[1] in page.inner_text(".leaflet-popup-content")
        assert names[0] not in page.evaluate(POPUP_TITLE_JS)
        assert page.evaluate("document.querySelectorAll('.atlas-results li').length") == 0
        # ArrowUp from the first wraps to the last; Escape closes the list
        page.evaluate("window.atlas.map.closePopup(); new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(0))))")
        page.focus(".atlas-search input")
        page.fill(".atlas-search input", "Taehung")
        page.keyboard.press("ArrowUp")
        active = page.evaluate("document.querySelector('.atlas-search input').getAttribute('aria-activedescendant')")
        assert active == page.evaluate("[...document.querySelectorAll('.atlas-results li[data-pick]')].pop().id")
        page.keyboard.press("Escape")
        assert page.evaluate("document.querySelectorAll('.atlas-results li').length") == 0
        # Tab walks into the list; Enter on a result picks it
        page.fill(".atlas-search input", "Taehung")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.matches('.atlas-results li[data-pick]')")
        first = page.evaluate("document.activeElement.querySelector('.atlas-hit-name').textContent")
        page.keyboard.press("Enter")
        page.wait_for_function(POPUP_TITLE_JS)
        assert first[:20] in page.inner_text(".leaflet-popup-content")
        assert not s.page_errors


# --- features at one coordinate ----------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_feature_at_a_shared_coordinate_opens(browser, map_html, size):
    """A click on a stacked point lists every feature there; each entry opens that feature's popup."""
    with _browser.open_page(map_html, size=size, browser=browser) as s:
        page = s.page
        stacks = page.evaluate("""() => Object.entries(window.atlas.stacks).map(([k, v]) =>
            [k, v.map(x => [x.layer, x.i, new DOMParser().parseFromString(x.f.p, 'text/html').querySelector('h3').textContent])])""")
        assert len(stacks) >= 9, stacks  # nine mine pairs, and at Taehung a camp too
        assert any(len(v) == 3 for _, v in stacks)
        opened = set()
        for key, members in stacks:
            lat, lon = (float(v) for v in key.split(","))
            for layer, index, title in members:
                page.evaluate(f"window.atlas.map.closePopup(); window.atlas.map.setView([{lat}, {lon}], 9, {{animate: false}}); new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(0))))")
                els = ", ".join(f"window.atlasLayers['{la}'].atlasFeatures[{i}].getElement()" for la, i, _ in members)
                x, y = page.wait_for_function(f"""() => {{ const els = [{els}], r = els[els.length - 1].getBoundingClientRect();
                    const x = r.left + r.width / 2, y = r.top + r.height / 2, hit = document.elementFromPoint(x, y);
                    return els.some(e => e && e.contains(hit)) ? [x, y] : null; }}""").json_value()  # once a marker is on top
                page.mouse.click(x, y)  # a pointer on the point: whichever marker is on top
                page.wait_for_function(f"() => ({PICKS_JS})().length > 0")
                picks = page.evaluate(PICKS_JS)
                assert sorted(b for b, _, _ in picks) == sorted(f"{la}:{i}" for la, i, _ in members), (key, picks)
                _, bx, by = next(b for b in picks if b[0] == f"{layer}:{index}")
                page.mouse.click(bx, by)
                page.wait_for_function(POPUP_TITLE_JS)
                assert page.evaluate(POPUP_TITLE_JS) == title, (key, layer, title)
                opened.add((layer, index))
        assert sum(len(v) for _, v in stacks) == len(opened)
        assert "MMI Musan Mine" in {t for _, v in stacks for _, _, t in v}
        assert not s.page_errors


def test_a_stacked_point_opens_its_chooser_by_keyboard(browser, map_html):
    with _browser.open_page(map_html, size=(1200, 800), browser=browser) as s:
        page = s.page
        key = page.evaluate("Object.keys(window.atlas.stacks).find(k => window.atlas.stacks[k].length === 3)")
        lat, lon = (float(v) for v in key.split(","))
        page.evaluate(f"window.atlas.map.setView([{lat}, {lon}], 9, {{animate: false}}); new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(0))))")
        page.evaluate(f"window.atlas.stacks['{key}'][0].m.getElement().focus()")
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => ({PICKS_JS})().length > 0")
        assert page.evaluate("document.activeElement.classList.contains('atlas-stack-pick')")  # focus in the chooser
        assert len(page.evaluate(PICKS_JS)) == 3
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # the second entry
        page.wait_for_function(POPUP_TITLE_JS)
        assert page.evaluate(PICKS_JS) == []  # the chooser made way for the feature's own popup


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1200, 800), (1400, 900), (375, 667)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_story_camps_are_labelled_at_the_opening_view(browser, map_html, size):
    with _browser.open_page(map_html, size=size, browser=browser) as s:
        page = s.page
        page.wait_for_timeout(100)  # labels are placed on the first frame
        labels = page.evaluate("""() => [...document.querySelectorAll('.atlas-label:not(.atlas-label-hidden)')].map(e => {
            const r = e.getBoundingClientRect(), st = getComputedStyle(e);
            return [e.textContent, [r.left, r.top, r.right, r.bottom], st.visibility, parseFloat(st.fontSize)]; })""")
        controls = page.evaluate("""() => [...document.querySelectorAll('.leaflet-control')].filter(e =>
            getComputedStyle(e).display !== 'none').map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
        proxies = page.evaluate("""() => [...document.querySelectorAll('.atlas-proxy')].filter(e =>
            getComputedStyle(e).display !== 'none' && getComputedStyle(e).visibility !== 'hidden').map(e => parseFloat(getComputedStyle(e).fontSize))""")
        width, height = size
        for number in STORY_CAMPS:
            found = [lb for lb in labels if re.search(rf"\b{number}\b", lb[0]) and "Camp" in lb[0]]
            assert found, (number, [lb[0] for lb in labels])
            text, box, visibility, _ = found[0]
            assert visibility == "visible"
            assert box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height, (text, box)
            assert not any(_overlap(box, c) for c in controls), text
        for i, a in enumerate(labels):  # no label on another
            for b in labels[i + 1:]:
                assert not _overlap(a[1], b[1]), (a[0], b[0])
        # the town-proxy warnings yield: none at the opening view, and smaller than a camp's label
        assert proxies == []
        camp_size = min(lb[3] for lb in labels if "Camp" in lb[0])
        page.evaluate("""() => { const m = window.atlasLayers.named_mines.getLayers().find(m => m.getTooltip()
            && m.getTooltip().options.className === 'atlas-proxy');
            window.atlas.map.setView(m.getLatLng(), 10, {animate: false}); window.atlas.declutter(); }""")
        near = page.evaluate("""() => [...document.querySelectorAll('.atlas-proxy')].filter(e =>
            getComputedStyle(e).display !== 'none').map(e => [e.textContent, parseFloat(getComputedStyle(e).fontSize)])""")
        assert near and all(t == "town proxy, not the mine's location" and fs < camp_size for t, fs in near), near
        assert not s.page_errors


# --- controls over the map ---------------------------------------------------------------------


def test_controls_leave_markers_and_status_colours_in_view_at_1200x800(browser, map_html):
    with _browser.open_page(map_html, size=(1200, 800), browser=browser) as s:
        page = s.page
        legend = page.evaluate("""() => { const e = document.querySelector('.atlas-legend'), r = e.getBoundingClientRect();
            return [e.classList.contains('atlas-folded'), [r.left, r.top, r.right, r.bottom]]; }""")
        assert not legend[0]  # open on a desktop
        centres = page.evaluate("""() => [...document.querySelectorAll('.atlas-sym')].map(e => {
            const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })""")
        panels = page.evaluate("""() => [...document.querySelectorAll('.atlas-legend, .atlas-layers, .atlas-time, .atlas-info')]
            .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
        covered = [c for c in centres for p in panels if p[0] <= c[0] <= p[2] and p[1] <= c[1] <= p[3]]
        assert len(centres) > 50 and covered == [], covered
        # each status colour of the camps shows without scrolling the legend
        rows = page.evaluate("""() => { const box = document.querySelector('.atlas-legend').getBoundingClientRect();
            return [...document.querySelectorAll('.atlas-legend-label')].filter(e => e.textContent.startsWith('status: '))
              .map(e => { const r = e.getBoundingClientRect(); return [e.textContent, r.top >= box.top && r.bottom <= box.bottom]; }); }""")
        assert len(rows) == 5 and all(inside for _, inside in rows), rows
        # the attribution: one line, and a button that opens the rest
        one = page.evaluate("document.querySelector('.leaflet-control-attribution').getBoundingClientRect().height")
        assert one < 20, one
        page.click(".atlas-attr-more")
        opened = page.evaluate("document.querySelector('.leaflet-control-attribution').getBoundingClientRect().height")
        assert opened > 2 * one and page.get_attribute(".atlas-attr-more", "aria-expanded") == "true"
        page.click(".atlas-attr-more")
        assert page.get_attribute(".atlas-attr-more", "aria-expanded") == "false"
        assert not s.page_errors


@pytest.mark.parametrize("what", ["camp", "mine"])
def test_no_control_covers_a_popup_on_a_phone(browser, map_html, what):
    with _browser.open_page(map_html, size=(375, 667), browser=browser) as s:
        page = s.page
        assert page.evaluate("document.querySelector('.atlas-legend').classList.contains('atlas-folded')")
        page.wait_for_timeout(500)
        find = ("window.atlasLayers.camps.getLayers().find(m => m.getPopup().getContent().includes('Camp 15'))"
                if what == "camp" else
                "window.atlasLayers.mines.getLayers().find(m => m.getPopup().getContent().includes('MMI Musan Mine'))")
        page.evaluate(f"window.atlas.map.setView(({find}).getLatLng(), 8, {{animate: false}}); new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(0))))")
        x, y = page.evaluate(f"() => {{ const r = ({find}).getElement().getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }}")
        page.mouse.click(x, y)
        if what == "mine":  # a mine and the report's named mine share the point: the chooser first
            page.wait_for_function(f"() => ({PICKS_JS})().length > 0")
            _, bx, by = next(b for b in page.evaluate(PICKS_JS) if b[0].startswith("mines:"))
            page.mouse.click(bx, by)
        page.wait_for_selector(".leaflet-popup-content h3")
        page.wait_for_timeout(600)  # the map pans the popup into view
        # every point of the popup's text answers as the popup: no control on top of it
        uncovered = page.evaluate("""() => { const c = document.querySelector('.leaflet-popup-content-wrapper').getBoundingClientRect();
            const bad = [];
            for (let y = Math.max(0, c.top + 4); y < Math.min(667, c.bottom - 4); y += 12)
              for (let x = Math.max(0, c.left + 4); x < Math.min(375, c.right - 4); x += 12) {
                const e = document.elementFromPoint(x, y);
                if (!e || !e.closest('.leaflet-popup')) bad.push([x, y, e && e.className]); }
            return [bad, c.left, c.top, c.right, c.bottom]; }""")
        assert uncovered[0] == [], uncovered
        assert uncovered[1] >= 0 and uncovered[3] <= 375
        page.evaluate("window.atlas.map.closePopup(); new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(0))))")  # the controls come back
        assert page.evaluate("getComputedStyle(document.querySelector('.atlas-search')).display") != "none"
        assert not s.page_errors
