"""What a reader meets on the map, measured in a real headless Chromium.

Panels that fold (and how much of the view they cover at 1200×800 and on a
375×667 phone), camp labels that never collide, the camp popup's order, the
about box, the print stylesheet, private layers kept out of the page.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import atlas
from atlas import _browser

#: The fraction of the map a set of elements covers (their union, on a 2-px grid).
COVER_JS = """(selector) => {
  const box = window.atlas.map.getContainer().getBoundingClientRect(), cell = 2;
  const cols = Math.ceil(box.width / cell), rows = Math.ceil(box.height / cell), grid = new Uint8Array(cols * rows);
  document.querySelectorAll(selector).forEach(e => {
    const s = getComputedStyle(e); if (s.display === 'none' || s.visibility === 'hidden') return;
    const r = e.getBoundingClientRect();
    for (let y = Math.max(0, Math.floor((r.top - box.top) / cell)); y < Math.min(rows, Math.ceil((r.bottom - box.top) / cell)); y++)
      for (let x = Math.max(0, Math.floor((r.left - box.left) / cell)); x < Math.min(cols, Math.ceil((r.right - box.left) / cell)); x++)
        grid[y * cols + x] = 1; });
  let n = 0; grid.forEach(v => n += v); return n / grid.length; }"""
PANELS = ".atlas-layers, .atlas-legend"
CONTROLS = ".leaflet-control"


@pytest.fixture(scope="module")
def map_html(gpkg, tmp_path_factory) -> Path:
    return atlas.write_map(tmp_path_factory.mktemp("reader_map") / "atlas.html", gpkg=gpkg)


def _assert_controls_apart(page, width: int) -> None:
    """No control hides another, none leaves the screen."""
    rects = page.evaluate("""Array.from(document.querySelectorAll('.leaflet-control')).filter(e =>
        getComputedStyle(e).display !== 'none').map(e => { const r = e.getBoundingClientRect();
        return [e.className, r.left, r.top, r.right, r.bottom]; })""")
    for i, a in enumerate(rects):
        assert a[1] >= 0 and a[3] <= width + 0.5, a
        for b in rects[i + 1:]:
            overlap = min(a[3], b[3]) - max(a[1], b[1]), min(a[4], b[4]) - max(a[2], b[2])
            assert not (overlap[0] > 1 and overlap[1] > 1), (a[0], b[0])


def _folded(page, selector: str) -> bool:
    return page.evaluate(f"document.querySelector('{selector}').classList.contains('atlas-folded')")


def test_panels_fold_and_cover_at_most_a_quarter_at_1200x800(browser, map_html):
    with _browser.open_page(map_html, size=(1200, 800), browser=browser) as s:
        page = s.page
        cover = page.evaluate(COVER_JS, PANELS)
        assert cover <= 0.25, cover
        assert page.evaluate(COVER_JS, CONTROLS) <= 0.35  # every control, the time slider included
        _assert_controls_apart(page, 1200)
        for box in (".atlas-layers", ".atlas-legend"):  # each folds and unfolds with its button
            before = _folded(page, box)
            page.click(f"{box} .atlas-fold-head")
            assert _folded(page, box) != before
            page.click(f"{box} .atlas-fold-head")
            assert _folded(page, box) == before
        page.click(".atlas-legend .atlas-fold-head") if not _folded(page, ".atlas-legend") else None
        assert page.evaluate("getComputedStyle(document.querySelector('.atlas-legend-body')).display") == "none"
        assert not s.page_errors and not s.blocked


def test_phone_viewport_leaves_the_map_usable(browser, map_html, tmp_path):
    with _browser.open_page(map_html, size=(375, 667), browser=browser) as s:
        page = s.page
        assert _folded(page, ".atlas-layers") and _folded(page, ".atlas-legend")
        assert page.evaluate(COVER_JS, PANELS) <= 0.05
        assert page.evaluate(COVER_JS, CONTROLS) <= 0.25
        _assert_controls_apart(page, 375)
        # a camp in the middle of the screen takes a tap: the control layer does not cover it
        page.evaluate("window.atlas.map.setView([39.674163, 126.851406], 9, {animate: false}); new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(0))))")
        hit = page.evaluate("""(() => { const m = window.atlasLayers.camps.getLayers().find(l =>
            Math.abs(l.getLatLng().lat - 39.674163) < 1e-6); const p = window.atlas.map.latLngToContainerPoint(m.getLatLng());
            const r = window.atlas.map.getContainer().getBoundingClientRect();
            return !!document.elementFromPoint(r.left + p.x, r.top + p.y).closest('.atlas-sym'); })()""")
        assert hit
        shot = tmp_path / "phone.png"
        page.screenshot(path=str(shot))
        assert shot.read_bytes()[1:4] == b"PNG"
        assert not s.page_errors


def test_print_shows_the_map_and_the_open_popup_without_controls(browser, map_html, tmp_path):
    with _browser.open_page(map_html, size=(1200, 800), browser=browser) as s:
        page = s.page
        page.evaluate("""(() => { const hits = window.atlas.search('KLS-15');
            window.atlas.reveal(hits.find(h => h.l === 'camps')); })()""")
        assert page.evaluate("!!document.querySelector('.leaflet-popup')")
        page.emulate_media(media="print")
        shown = page.evaluate("""Array.from(document.querySelectorAll('.leaflet-control')).filter(e =>
            getComputedStyle(e).display !== 'none').map(e => e.className)""")
        assert all("attribution" in c or "scale" in c for c in shown), shown
        visible = page.evaluate("""['.atlas-print-popup', '.leaflet-container', '.atlas-sym'].map(q => {
            const e = document.querySelector(q), r = e.getBoundingClientRect();
            return getComputedStyle(e).display !== 'none' && r.width > 0 && r.height > 0; })""")
        assert all(visible)  # the popup is printed beside the map, both on the page
        boxes = page.evaluate("""['.atlas-print-popup', '.folium-map'].map(q => {
            const r = document.querySelector(q).getBoundingClientRect(); return [r.left, r.right]; })""")
        assert boxes[1][1] <= boxes[0][0] + 1  # side by side, not on top of each other
        assert "Yodok" in page.inner_text(".atlas-print-popup")
        pdf = tmp_path / "map.pdf"
        page.pdf(path=str(pdf), print_background=True)
        assert pdf.read_bytes()[:5] == b"%PDF-"
        import pypdf  # read the printed text back

        text = "\n".join(p.extract_text() for p in pypdf.PdfReader(pdf).pages)
        assert "Yodok" in text and "Find:" not in text and "Legend" not in text
        assert re.search(r"Made with Natural Earth", text)


def test_camp_labels_show_name_and_number_and_never_collide(browser, map_html, layers):
    with _browser.open_page(map_html, size=(1200, 800), browser=browser) as s:
        page = s.page
        visible = {}
        for zoom in (6, 7, 9, 11):
            page.evaluate(f"window.atlas.map.setView([39.6, 126.9], {zoom}, {{animate: false}}); window.atlas.declutter(); new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(0))))")
            rects = page.evaluate("""Array.from(document.querySelectorAll('.atlas-label:not(.atlas-label-hidden)'))
                .map(e => { const r = e.getBoundingClientRect(); return [e.textContent, r.left, r.top, r.right, r.bottom]; })""")
            controls = page.evaluate("""Array.from(document.querySelectorAll('.leaflet-control, .atlas-proxy'))
                .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
            for i, a in enumerate(rects):
                for b in [r[1:] for r in rects[i + 1:]] + controls:
                    assert not (min(a[3], b[2]) - max(a[1], b[0]) > 0.5 and min(a[4], b[3]) - max(a[2], b[1]) > 0.5), a
            visible[zoom] = {r[0] for r in rects}
        assert visible[7] and "Yodok (Camp 15)" in visible[9] | visible[11]
        labels = page.evaluate("Array.from(document.querySelectorAll('.atlas-label')).map(e => e.textContent)")
        camps = layers["camps"][~layers["camps"].geometry.is_empty & layers["camps"].geometry.notna()]
        assert len(labels) == len(camps)
        for _, c in camps.iterrows():  # each label holds the camp's number (in its name or added)
            if isinstance(c["number"], str) and c["number"].strip().isdigit():
                assert any(c["number"].strip() in lb for lb in labels), c["site_id"]


def test_camp_popup_puts_what_a_reader_needs_first(browser, map_html):
    with _browser.open_page(map_html, size=(1200, 800), browser=browser) as s:
        page = s.page
        page.evaluate("""(() => { const hits = window.atlas.search('KLS-15');
            window.atlas.reveal(hits.find(h => h.l === 'camps')); })()""")
        text = page.inner_text(".leaflet-popup-content")
        order = ["Yodok (Camp 15)", "요덕", "kwan-li-so (political prison camp)", "Status as of 20", "Why:",
                 "Findings, oldest first", "Coordinates", "Precision", "Provenance"]
        positions = [text.index(t) for t in order]
        assert positions == sorted(positions), list(zip(order, positions))
        assert "km²" in text  # units: the camp's area
        assert "_" not in text.split("Findings, oldest first")[1].split("Coordinates")[0]  # types in words
        closed = page.evaluate("document.querySelector('.leaflet-popup-content details.atlas-prov').open")
        assert closed is False  # the provenance chain is folded
        assert page.evaluate("""(() => { const d = document.querySelector('.leaflet-popup-content details.atlas-prov');
            return d.textContent.includes('Published coordinates') && d.textContent.includes('Licence'); })()""")


def test_about_box_says_what_the_page_is(browser, map_html, gpkg):
    import hashlib

    with _browser.open_page(map_html, size=(1200, 800), browser=browser) as s:
        page = s.page
        page.click(".atlas-about summary")
        text = page.inner_text(".atlas-about")
    assert hashlib.sha256(gpkg.read_bytes()).hexdigest() in text
    assert atlas.about(gpkg)["build_date"] in text and atlas.about(gpkg)["atlas_version"] in text
    assert "Your layers included" in text


def test_search_finds_user_features_and_outside_points_look_outside(browser, gpkg, layers, tmp_path):
    copy = tmp_path / "atlas.gpkg"
    shutil.copyfile(gpkg, copy)
    camp = layers["camps"].set_index("site_id").loc["KLS-15"].geometry
    csv_path = tmp_path / "synthetic_points.csv"
    # one point beside Camp 15, one in the sea ~200 km east of the coast (synthetic, kept and flagged)
    csv_path.write_text(f"name,lat,lon\nSynthetic Qwerty place,{camp.y + 0.02},{camp.x + 0.02}\n"
                        f"Synthetic offshore Zyx,{camp.y},{camp.x + 2.6}\n", encoding="utf-8")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        atlas.import_layer(csv_path, "probe", gpkg=copy)
    html = atlas.write_map(tmp_path / "map.html", gpkg=copy)
    with _browser.open_page(html, size=(1200, 800), browser=browser) as s:
        page = s.page
        page.wait_for_function("() => !!window.atlasLayers['user:0'].atlasPoints")
        hits = page.evaluate("window.atlas.search('qwerty').map(h => [h.l, h.i, h.n])")
        assert hits == [["user:0", 0, "Synthetic Qwerty place"]]
        page.fill(".atlas-search input", "qwerty")
        page.click(".atlas-hit >> text=Synthetic Qwerty place")
        page.wait_for_selector(".leaflet-popup-content >> text=Synthetic Qwerty place", timeout=10_000)
        legend = page.inner_text(".atlas-legend") if not _folded(page, ".atlas-legend") else ""
        spec_legend = page.evaluate("JSON.stringify(window.atlasLayers['user:0'].atlasSpec.legend)")
        assert "1 point(s) more than 5 km outside the DPRK" in spec_legend + legend
        # the canvas: the inside point's centre has the layer's colour, the outside one's is white
        page.evaluate(f"window.atlas.map.setView([{camp.y}, {camp.x + 1.3}], 7, {{animate: false}}); new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(0))))")
        page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")  # drawn
        centres = page.evaluate("""(() => { const pts = window.atlasLayers['user:0'].atlasPoints, map = window.atlas.map;
            const c = pts._canvas, ctx = c.getContext('2d'), r = c.getBoundingClientRect(), ratio = c.width / r.width;
            return [0, 1].map(i => { const p = map.latLngToContainerPoint(pts.latLng(i)), box = map.getContainer().getBoundingClientRect();
              const x = Math.round((box.left + p.x - r.left) * ratio), y = Math.round((box.top + p.y - r.top) * ratio);
              return Array.from(ctx.getImageData(x, y, 1, 1).data); }); })()""")
        assert centres[0][:3] != [255, 255, 255] and centres[0][3] == 255
        assert centres[1] == [255, 255, 255, 255]
        assert not s.page_errors
