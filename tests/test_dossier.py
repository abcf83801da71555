"""Dossiers (one page per camp or mine, HTML and PDF) and the static website, opened for real.

The HTML is opened in headless Chromium (``atlas/_browser.py``) with every request outside
the site's folder aborted and recorded; the PDF is read back with pypdf.
"""

from __future__ import annotations

import csv
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import markupsafe
import numpy as np
import pandas as pd
import pytest

import atlas
from atlas import _browser, io
from atlas.dossier import REPORT_DATE, Product, dossier_record, render_dossier
from atlas.owned import MANIFEST

from .conftest import run_cli

HOSTILE = ("<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"
           "{{ 7*7 }} {% if 1 %}x{% endif %} ${window.__pwned=3} `tick` 'single' \"double\" &amp; </div>")
SECRET = "SECRET-WITNESS-Kim-7731"


class _Links(HTMLParser):
    """Every href/src of a page, every element id, and every <script> element."""

    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()
        self.scripts = 0
        self.web: list[str] = []  # links a reader follows to a source's web page (<a href="https://..."> only)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and str(a.get("href", "")).startswith(("https://", "http://")):
            assert a.get("rel") == "noopener noreferrer", a
            self.web.append(a["href"])
            return
        for key in ("href", "src"):
            if a.get(key) is not None:
                self.refs.append(a[key])


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


@pytest.fixture(scope="module")
def site(gpkg, tmp_path_factory) -> Path:
    """The whole site, built once from the test atlas."""
    return atlas.build_site(tmp_path_factory.mktemp("site") / "site", gpkg=gpkg).parent


# --- dossiers ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_dossier_for_every_camp_and_every_mine(gpkg, layers, tmp_path):
    ids = list(layers["camps"]["site_id"]) + list(layers["mines"]["mine_id"])
    assert len(ids) == len(layers["camps"]) + len(layers["mines"]) >= 60
    shared = Product(gpkg)
    for site_id in ids:
        rec = dossier_record(site_id, atlas=shared)
        assert rec["header"]["id"] == site_id
        path = tmp_path / f"{site_id}.html"
        path.write_text(render_dossier(rec), encoding="utf-8")
        links = _parse(path)
        assert links.scripts == 0
        # self-contained: no reference to anything outside the page but data: images and in-page anchors
        assert all(r.startswith(("#", "data:image/png;base64,")) for r in links.refs), (site_id, links.refs)
        text = path.read_text(encoding="utf-8")
        assert "Cite this page" in text and rec["about"]["gpkg_sha256"] in text
        # every figure has its place: the site's coordinate or the statement that it has none
        if rec["header"]["lat"] is None:
            assert "no public coordinate" in text
        else:
            assert f"{rec['header']['lat']:.6f}" in text and "<svg" in text


def _rows(html: str, table_heading: str) -> list[list[str]]:
    """The body rows of the table following a heading, as cell texts."""
    part = html.split(table_heading, 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", part.split("<tbody>", 1)[1], re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in rows]


def test_camp_15_dossier_holds_hangul_findings_in_order_and_nearby_equal_to_near(gpkg, layers, tmp_path):
    page = atlas.dossier("camp 15", out=tmp_path, gpkg=gpkg)
    assert page.name == "KLS-15.html"
    html = page.read_text(encoding="utf-8")
    assert "요덕 제15호 관리소" in html and "Yodŏk" in html
    # findings: every KLS-15 finding of the GeoPackage, oldest first by its parsed interval
    f = layers["camp_findings"]
    f = f[f["site_id"] == "KLS-15"].copy()
    f["key"] = f["date_start"].fillna(f["date_end"]).astype(str)
    expected = list(f.sort_values(["key", "finding_id"])["finding_id"])
    shown = re.findall(r'<tr id="(F\d{3})">', html)
    assert shown == expected and len(shown) == 9  # 6 before issue 22, + the report's F046, F047, F048
    starts = [s for s in f.set_index("finding_id").loc[shown, "date_start"].fillna("") if s]
    assert starts == sorted(starts)
    # nearby mines: exactly `atlas near`, and when it is empty, the nearest one named
    near = atlas.near("KLS-15", km=25, gpkg=gpkg)
    rows = _rows(html, "nearest first</h2>") if "<tbody>" in html.split("nearest first</h2>", 1)[1][:3000] \
        and len(near) else []
    assert [r[1] for r in rows] == list(near["id"])
    if not len(near):
        nearest = atlas.nearest("KLS-15", "mines", k=1, gpkg=gpkg).iloc[0]
        assert "No feature of layer mines within 25 km" in html
        assert f"{nearest['name']} ({nearest['id']})" in html and f"{nearest['distance_km']:.1f} km" in html
    assert "The camp is an area, not a point" in html
    # the report's discrepancy about its province (D01) and both readings
    assert "D01" in html and "North Hamgyong Province" in html


def test_camp_14_nearby_mines_equal_atlas_near_with_distances_and_bearings(gpkg, tmp_path):
    html = atlas.dossier("KLS-14", out=tmp_path, gpkg=gpkg).read_text(encoding="utf-8")
    near = atlas.near("KLS-14", km=25, gpkg=gpkg)
    assert len(near) >= 3
    rows = _rows(html, "nearest first</h2>")
    assert [r[1] for r in rows] == list(near["id"])
    assert [r[6] for r in rows] == [f"{d:.1f} km" for d in near["distance_km"]]
    assert [int(r[7].split("°")[0]) for r in rows] == [round(b) for b in near["bearing_deg"]]


def test_mine_dossier_has_gem_status_and_sanctions_in_force(gpkg, layers, tmp_path):
    mines = layers["mines"]
    mine = mines[mines["gem_status"].astype(str).str.len() > 0].iloc[0]
    html = atlas.dossier(mine["mine_id"], out=tmp_path, gpkg=gpkg).read_text(encoding="utf-8")
    assert str(mine["gem_status"]) in html
    today = atlas.provenance.build_date(gpkg)[:10]
    for when in (today, REPORT_DATE):
        for r in atlas.sanctions_status(mine["mine_id"], when, gpkg=gpkg).itertuples():
            if r.resolution:
                assert f"{r.measure} since {r.adopted}, {r.resolution}" in html, when
    # a camp's nearby table carries the sanction in force for each mine
    camp_html = atlas.dossier("KLS-14", out=tmp_path, gpkg=gpkg).read_text(encoding="utf-8")
    first = atlas.near("KLS-14", km=25, gpkg=gpkg).iloc[0]["id"]
    row = next(r for r in _rows(camp_html, "nearest first</h2>") if r[1] == first)
    rule = atlas.sanctions_status(first, today, gpkg=gpkg).iloc[0]
    assert rule["adopted"] in row[5] and rule["resolution"] in row[5]


def test_mine_dossier_lists_camps_nearby(gpkg, tmp_path):
    mine = atlas.near("KLS-14", km=25, gpkg=gpkg).iloc[0]["id"]
    html = atlas.dossier(mine, out=tmp_path, gpkg=gpkg).read_text(encoding="utf-8")
    camps = atlas.near(mine, km=25, layer="camps", gpkg=gpkg)
    assert "KLS-14" in list(camps["id"])
    assert [r[1] for r in _rows(html, "nearest first</h2>")] == list(camps["id"])


#: A kwan-li-so's dossier prints on at most this many A4 pages: with the report's own dated
#: statements, its forced-labour passages and every finding, camps 15, 16 and 18 take three.
MAX_PDF_PAGES = 3


@pytest.mark.slow
def test_pdf_is_a_few_a4_pages_with_the_text(gpkg, tmp_path):
    import pypdf
    page = atlas.dossier("KLS-15", out=tmp_path, gpkg=gpkg, pdf=True)
    reader = pypdf.PdfReader(page.with_suffix(".pdf"))
    assert 1 <= len(reader.pages) <= MAX_PDF_PAGES
    for p in reader.pages:  # A4: 595 x 842 pt
        assert abs(float(p.mediabox.width) - 595.3) < 1 and abs(float(p.mediabox.height) - 841.9) < 1
    text = "\n".join(p.extract_text() for p in reader.pages)
    flat = re.sub(r"\s+", "", text)
    for needle in ("Yodok (Camp 15)", "요덕제15호관리소", "Timeline of findings", "Cite this page",
                   atlas.provenance.gpkg_sha256(gpkg)[:32]):
        assert re.sub(r"\s+", "", needle) in flat, needle
    # every kwan-li-so prints on a few A4 pages too
    for site in ("KLS-14", "KLS-16", "KLS-18", "KLS-22", "KLS-25"):
        pdf = atlas.dossier(site, out=tmp_path, gpkg=gpkg, pdf=True).with_suffix(".pdf")
        assert 1 <= len(pypdf.PdfReader(pdf).pages) <= MAX_PDF_PAGES, site
    # the Hangul is drawn with a real font, not boxes: the embedded fonts include Nanum
    fonts = {str(f.get_object().get("/BaseFont")) for p in reader.pages
             for f in (p.get("/Resources") or {}).get("/Font", {}).values()}
    assert any("Nanum" in f for f in fonts), fonts


def test_cli_dossier_and_errors(gpkg, tmp_path):
    r = run_cli("dossier", "camp 15", "--out", str(tmp_path), "--gpkg", str(gpkg))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "KLS-15.html").is_file()
    r = run_cli("dossier", "Kaechon", "--out", str(tmp_path), "--gpkg", str(gpkg))
    assert r.returncode == 2 and "KLS-14" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("dossier", "Nowhere-that-exists", "--out", str(tmp_path), "--gpkg", str(gpkg))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != MANIFEST) == ["KLS-15.html"]


def test_imagery_chip_of_the_site_is_inlined(gpkg, tmp_path):
    import rasterio
    from affine import Affine

    folder = tmp_path / "atlas"
    folder.mkdir()
    copy = folder / "atlas.gpkg"
    copy.write_bytes(Path(gpkg).read_bytes())
    scene = tmp_path / "synthetic_scene.tif"  # synthetic imagery, made here
    data = (np.arange(200 * 200, dtype="uint16").reshape(200, 200) % 251).astype("uint8")
    with rasterio.open(scene, "w", driver="GTiff", width=200, height=200, count=1, dtype="uint8",
                       crs="EPSG:4326", transform=Affine(0.001, 0, 126.75, 0, -0.001, 39.77)) as dst:
        dst.write(data, 1)
    with pytest.warns(UserWarning, match="outside"):
        result = atlas.chips(scene, sites="camps", size_km=3, out_dir=folder / "chips", gpkg=copy)
    assert [c.site_id for c in result.written] == ["KLS-15"]
    html = atlas.dossier("KLS-15", out=tmp_path, gpkg=copy).read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in html and "KLS-15.tif" in html


# --- hostile names and private layers -------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_gpkg(gpkg, tmp_path_factory) -> Path:
    """A synthetic copy of the atlas whose texts try to run script, with a user layer and a private one."""
    lays = atlas.read_layers(gpkg)
    lays = {k: v for k, v in lays.items() if not k.startswith("user_")}
    camps = lays["camps"]
    i = camps.index[camps["site_id"] == "KLS-15"][0]
    for col in ("alt_names", "agency", "source", "status"):
        camps.loc[i, col] = HOSTILE
    f = lays["camp_findings"]
    f.loc[f["site_id"] == "KLS-15", "description"] = HOSTILE
    lays["coordinate_candidates"].loc[0, "source"] = HOSTILE
    lays["mines"].loc[0, "name"] = HOSTILE
    folder = tmp_path_factory.mktemp("hostile")
    out = folder / "atlas.gpkg"
    io.write_layers(lays, out)
    for name, private, label in (("shared", False, HOSTILE), ("secret", True, SECRET)):
        src = folder / f"synthetic_{name}.csv"
        with src.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["name", "lat", "lon"])
            w.writerow([label, 39.69, 126.86])
            w.writerow([label + " 2", 39.60, 126.90])
        atlas.import_layer(src, name, gpkg=out, private=private)
    return out


def test_hostile_names_stay_text_in_dossier_and_site(browser, hostile_gpkg, tmp_path):
    page = atlas.dossier("KLS-15", out=tmp_path / "d", gpkg=hostile_gpkg)
    html = page.read_text(encoding="utf-8")
    assert "<script>window.__pwned" not in html and "{{ 7*7 }}" in html
    assert _parse(page).scripts == 0
    index = atlas.build_site(tmp_path / "site", gpkg=hostile_gpkg, with_downloads=False, with_map=False)
    for path in (page, index, index.parent / "dossiers" / "KLS-15.html", index.parent / "dossiers" / "M001.html"):
        with _browser.open_page(path, browser=browser, wait_for=None,
                                allow=(index.parent.resolve().as_uri(),)) as s:
            text = s.page.evaluate("document.body.innerText")
            assert s.page.evaluate("typeof window.__pwned") == "undefined"
            assert not s.page_errors and not s.blocked
            assert "<script>window.__pwned=1</script>" in text, path
            n_scripts = s.page.evaluate("document.scripts.length")
            assert n_scripts == (1 if path == index else 0)
    # the dossier lists the shared user layer's features nearby, escaped; never the private one
    assert "user_shared" in html and str(markupsafe.escape(HOSTILE)) in html
    assert SECRET not in html


@pytest.mark.slow
def test_private_layer_is_in_no_file_of_the_site_unless_asked(hostile_gpkg, tmp_path):
    site = atlas.build_site(tmp_path / "site", gpkg=hostile_gpkg).parent
    assert "user_secret" in dict(atlas.list_layers(hostile_gpkg))
    found = []
    for p in site.rglob("*"):
        if not p.is_file():
            continue
        blobs = [p.read_bytes()]
        if p.suffix == ".zip":
            with zipfile.ZipFile(p) as z:
                blobs += [z.read(n) for n in z.namelist()]
                for n in z.namelist():
                    if n.endswith(".qgz"):
                        inner = tmp_path / "inner.qgz"
                        inner.write_bytes(z.read(n))
                        with zipfile.ZipFile(inner) as zz:
                            blobs += [zz.read(m) for m in zz.namelist()]
        if any(SECRET.encode() in b or b"user_secret" in b for b in blobs):
            found.append(p.relative_to(site).as_posix())
    assert found == []
    assert "user_shared" in dict(atlas.list_layers(site / "downloads" / "atlas.gpkg"))
    asked = atlas.dossier("KLS-15", out=tmp_path / "asked", gpkg=hostile_gpkg, include_private=True)
    assert SECRET in asked.read_text(encoding="utf-8")


# --- the site ------------------------------------------------------------------------------


def test_every_page_loads_offline_without_errors_and_every_link_resolves(browser, site):
    pages = sorted(site.rglob("*.html"))
    top = {"index.html", "map.html", "provinces.html", "tables.html", "downloads.html", "changes.html",
           "about.html"}
    assert top <= {p.name for p in pages}
    assert len(list((site / "dossiers").glob("*.html"))) == len(pages) - len(top)
    root = site.resolve().as_uri()
    n_links = 0
    for path in pages:
        links = _parse(path)
        for ref in links.refs:
            assert not re.match(r"^[a-z][a-z0-9+.-]*:", ref) or ref.startswith("data:"), (path, ref)
            if ref.startswith("data:"):
                continue
            target, _, frag = ref.partition("#")
            dest = (path.parent / unquote(target)).resolve() if target else path
            assert dest.is_file(), (path, ref)
            assert site.resolve() in dest.parents, (path, ref)
            if frag and dest.name == "map.html" and "@" in frag:  # a site on the map at a date (docs/map.md)
                site_id, _, day = frag.partition("@")
                assert re.fullmatch(r"\d{4}(-\d{2}){0,2}", day), (path, ref)
                assert re.search(rf'"id":\s*"{re.escape(site_id)}"', dest.read_text(encoding="utf-8")), (path, ref)
            elif frag:
                assert frag in _parse(dest).ids, (path, ref)
            n_links += 1
        wait = "window.atlasReady === true" if path.name in ("index.html", "map.html") else None
        with _browser.open_page(path, browser=browser, wait_for=wait, allow=(root,)) as s:
            assert s.blocked == [], (path, s.blocked)
            assert s.console_errors == [] and s.page_errors == [], (path, s.console_errors, s.page_errors)
            assert all(urlsplit(u).scheme in ("file", "data") for u in s.requests), s.requests
    assert n_links > 500


def test_pages_fit_a_phone_screen_without_sideways_scrolling(browser, site):
    """At 375 px only the wide tables scroll (inside their frame), never the page itself."""
    root = site.resolve().as_uri()
    for rel in ("index.html", "provinces.html", "about.html", "dossiers/KLS-15.html", "dossiers/M013.html"):
        with _browser.open_page(site / rel, browser=browser, size=(375, 667), wait_for=None, allow=(root,)) as s:
            width = s.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, (rel, width)


def test_index_table_searches_and_sorts(browser, site, layers):
    with _browser.open_page(site / "index.html", browser=browser, size=(375, 667)) as s:
        page = s.page
        n = len(layers["camps"]) + len(layers["mines"])
        assert page.locator("#sites tbody tr").count() == n
        page.fill("#q", "요덕")
        visible = page.evaluate("Array.from(document.querySelectorAll('#sites tbody tr'))"
                                ".filter(r => !r.hidden).map(r => r.cells[0].textContent.trim())")
        assert visible == ["KLS-15"]
        page.fill("#q", "Yodŏk")
        assert "KLS-15" in page.evaluate("Array.from(document.querySelectorAll('#sites tbody tr'))"
                                         ".filter(r => !r.hidden).map(r => r.cells[0].textContent.trim())")
        page.fill("#q", "")
        page.click("#sites thead th:nth-child(5) button")
        status = page.evaluate("Array.from(document.querySelectorAll('#sites tbody tr'))"
                               ".map(r => r.cells[4].textContent.trim())")
        assert status == sorted(status, key=lambda v: v.lower()) and len(status) == n
        page.click("#sites thead th:nth-child(5) button")
        assert page.evaluate("document.querySelector('#sites tbody tr').cells[4].textContent.trim()") == max(
            status, key=lambda v: v.lower())
        # every overview-map marker is a link to an existing dossier
        hrefs = page.evaluate("Array.from(document.querySelectorAll('.overview svg a')).map(a => a.getAttribute('href'))")
        located = int((~(layers["camps"].geometry.isna() | layers["camps"].geometry.is_empty)).sum()) + len(
            layers["mines"])
        assert len(hrefs) == located and all((site / h).is_file() for h in hrefs)


@pytest.mark.slow
def test_provinces_page_sets_table_2_beside_the_atlas(site, gpkg):
    html = (site / "provinces.html").read_text(encoding="utf-8")
    summary = atlas.province_summary(gpkg)
    assert "reported_mines" in html and "geolocated_mines" in html
    for prov, reported in zip(summary["province"], summary["reported_mines"]):
        assert f'<td>{prov}</td><td class="num">{int(reported)}</td>' in html
    assert re.search(r"\b35 of (the )?360\b", html) is None
    for p in site.rglob("*.html"):
        assert re.search(r"\b35 of (the )?360\b", p.read_text(encoding="utf-8")) is None, p


@pytest.mark.slow
def test_downloads_have_checksums_that_match_and_open(site):
    sums = dict(reversed(line.split("  ", 1)) for line in
                (site / "downloads" / "SHA256SUMS").read_text().splitlines())
    import hashlib

    for name, digest in sums.items():
        assert hashlib.sha256((site / "downloads" / name).read_bytes()).hexdigest() == digest
    html = (site / "downloads.html").read_text(encoding="utf-8")
    for name, digest in sums.items():
        assert digest in html and f'href="downloads/{name}"' in html
    assert {"atlas.gpkg", "atlas-qgis.zip", "geojson/camps.geojson", "csv/camps.csv"} <= set(sums)
    atlas.validate(site / "downloads" / "atlas.gpkg")
    camps = pd.read_csv(site / "downloads" / "csv" / "camps.csv")
    assert {"lon", "lat", "site_id"} <= set(camps.columns)
    with zipfile.ZipFile(site / "downloads" / "atlas-qgis.zip") as z:
        assert {"atlas.qgz", "atlas.gpkg"} <= set(z.namelist())


@pytest.mark.slow
def test_csv_cells_cannot_run_as_formulas(hostile_gpkg, tmp_path):
    lays = atlas.read_layers(hostile_gpkg)
    camps = lays["camps"]
    camps.loc[0, "name"] = '=HYPERLINK("http://example.invalid","x")'
    camps.loc[1, "agency"] = "+1+cmd"
    copy = tmp_path / "atlas.gpkg"
    io.write_layers({k: v for k, v in lays.items()}, copy)
    site = atlas.build_site(tmp_path / "site", gpkg=copy, with_map=False).parent
    with (site / "downloads" / "csv" / "camps.csv").open(encoding="utf-8") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert "'=HYPERLINK(\"http://example.invalid\",\"x\")" in cells and "'+1+cmd" in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)


@pytest.mark.slow
def test_site_rebuild_is_byte_identical(site, gpkg, tmp_path):
    again = atlas.build_site(tmp_path / "again", gpkg=gpkg).parent
    a = {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    b = {p.relative_to(again).as_posix(): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []


@pytest.mark.slow
def test_cli_site(gpkg, tmp_path):
    r = run_cli("site", "--out", str(tmp_path / "s"), "--gpkg", str(gpkg), "--no-downloads")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s" / "index.html").is_file() and not (tmp_path / "s" / "downloads").exists()
    (tmp_path / "file").write_text("x")
    r = run_cli("site", "--out", str(tmp_path / "file"), "--gpkg", str(gpkg))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_source_web_addresses_are_links_in_the_dossier_and_the_map_popup(gpkg, tmp_path):
    """A source cited with its web page (Hyesan's article, GEM's wiki) gives the reader a link to follow."""
    rec = atlas.record("M035", gpkg)
    urls = re.findall(r"https?://[^\s;]+", " ".join(str(v) for v in rec.fields.values()))
    assert urls, "M035's record cites no web page"
    page = Path(atlas.dossier("M035", out=tmp_path, gpkg=gpkg)).read_text(encoding="utf-8")
    links = _Links()
    links.feed(page)
    assert set(urls) <= set(links.web)
    from atlas.map_layers import mine_popup

    popup = mine_popup(rec)
    assert all(f'<a href="{u}" rel="noopener noreferrer">' in popup for u in urls)


@pytest.mark.slow
def test_the_overview_map_labels_the_story_camps_and_has_a_legend_with_the_maps_symbols(site, layers):
    """Issue 24: the site's overview map labels the kwan-li-so (sites closer than a label share one),
    draws kyo-hwa-so as triangles as the interactive map does, and explains its symbols."""
    page = (site / "index.html").read_text(encoding="utf-8")
    svg = page[page.index("<svg"):page.index("</svg>")]
    labels = " ".join(re.findall(r'<text class="label"[^>]*>([^<]*)<', svg))
    camps = layers["camps"]
    located = camps[(camps["kind"] == "kwan-li-so") & ~camps.geometry.isna()]
    for number in set(located["number"]):
        assert re.search(rf"\b{number}\b", labels), (number, labels)
    kyo = camps[(camps["kind"] == "kyo-hwa-so") & ~camps.geometry.isna()]
    assert svg.count("<path d=\"M") >= len(kyo)  # triangles (and diamonds): paths, not squares
    legend = page[page.index('<ul class="legend"'):]
    legend = legend[:legend.index("</ul>")]
    assert all(word in legend for word in ("kwan-li-so", "kyo-hwa-so", "active", "contested", "coal"))


@pytest.mark.slow
def test_the_provinces_page_shows_words_not_column_names(site):
    page = (site / "provinces.html").read_text(encoding="utf-8")
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", page)
    assert "Mines reported (Table 2)" in heads and "Mines with an open coordinate" in heads
    assert not any("_" in h for h in heads), heads
    assert 'title="reported_mines"' in page  # the name as the downloads spell it, on pointing


def test_a_table_wider_than_a_phone_says_it_scrolls(browser, site):
    """Issue 24: a site table that does not fit a phone scrolls in its frame with a shadow at the edge."""
    root = site.resolve().as_uri()
    with _browser.open_page(site / "provinces.html", browser=browser, size=(375, 667), wait_for=None, allow=(root,)) as s:
        frame = s.page.evaluate("""() => { const w = document.querySelector('.table-wrap'); const cs = getComputedStyle(w);
            return {scroll: w.scrollWidth, client: w.clientWidth, overflow: cs.overflowX, bg: cs.backgroundImage}; }""")
    assert frame["scroll"] > frame["client"] and frame["overflow"] == "auto"
    assert frame["bg"].count("gradient") == 4, frame["bg"]
