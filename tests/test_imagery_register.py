"""The imagery register and before/after comparisons (issue 26), on synthetic scenes.

Every scene here is a synthetic fixture built in pytest's temporary folder: a
smooth "landscape" with a little noise around a real camp's point, written in
two CRSs (UTM 52N at 1 m, geographic at about 2 m) with different band counts,
bit depths and nodata; the "after" scene has a rectangle of new "buildings"
drawn in, whose area is known in EPSG:5179 metres.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import Affine

import atlas
from atlas import scenes as reg
from atlas.errors import InputError, SourceError
from atlas.io import file_sha256

from .conftest import run_cli

SITE = "KLS-15"
#: The drawn rectangle, relative to the site's point in EPSG:5179 metres: x0, y0, x1, y1 (200 m x 150 m).
RECT = (-60.0, -40.0, 140.0, 110.0)
RECT_M2 = (RECT[2] - RECT[0]) * (RECT[3] - RECT[1])
#: How close the change figure must come to the drawn area.
TOLERANCE = 0.10


def _site_xy(gpkg) -> tuple[float, float, float, float]:
    s = atlas.resolve(SITE, gpkg)
    pt = s.geometry.representative_point()
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:5179", always_xy=True).transform(pt.x, pt.y)
    return pt.x, pt.y, x, y


def _landscape(x5, y5, cx, cy, rng, buildings: bool) -> np.ndarray:
    """Brightness at EPSG:5179 points: smooth hills, a little noise, and the rectangle when asked."""
    dx, dy = x5 - cx, y5 - cy
    v = 80 + 30 * np.sin(dx / 70.0) * np.cos(dy / 90.0) + rng.uniform(-3, 3, size=np.shape(x5))
    if buildings:
        inside = (dx >= RECT[0]) & (dx < RECT[2]) & (dy >= RECT[1]) & (dy < RECT[3])
        v = np.where(inside, 240.0, v)
    return v


def synthetic_scene(path: Path, crs: str, res: float, half_m: float, centre5179, *, buildings: bool,
                    bands: int = 3, dtype: str = "uint8", scale: float = 1.0, nodata=None, seed: int = 0,
                    tags: dict | None = None) -> Path:
    """Write a synthetic scene covering ``half_m`` around the point, in ``crs`` at ``res`` (its units)."""
    cx, cy = centre5179
    to_crs = Transformer.from_crs("EPSG:5179", crs, always_xy=True)
    to_5179 = Transformer.from_crs(crs, "EPSG:5179", always_xy=True)
    xs, ys = to_crs.transform([cx - half_m, cx + half_m, cx - half_m, cx + half_m],
                              [cy - half_m, cy - half_m, cy + half_m, cy + half_m])
    west, east, south, north = min(xs), max(xs), min(ys), max(ys)
    rx, ry = (res, res) if crs != "EPSG:4326" else (res / 88000.0, res / 111000.0)
    w, h = int(np.ceil((east - west) / rx)), int(np.ceil((north - south) / ry))
    t = Affine(rx, 0, west, 0, -ry, north)
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    px, py = t.c + cols * t.a, t.f + rows * t.e
    x5, y5 = to_5179.transform(px, py)
    rng = np.random.default_rng(seed)
    v = _landscape(np.asarray(x5), np.asarray(y5), cx, cy, rng, buildings) * scale
    data = np.stack([v * (1 - 0.1 * b) for b in range(bands)]).astype(dtype)
    if nodata is not None:
        data[data == nodata] = nodata + 1
        data[:, :5, :] = nodata  # a strip without data along the top
    profile = {"driver": "GTiff", "width": w, "height": h, "count": bands, "dtype": dtype, "crs": crs,
               "transform": t, "nodata": nodata, "tiled": True, "blockxsize": 256, "blockysize": 256,
               "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if tags:
            dst.update_tags(**tags)
    return path


@pytest.fixture(scope="module")
def scene_files(gpkg, tmp_path_factory):
    """Two synthetic scenes of camp 15, written once: 2012 in UTM at 1 m (3 bands), 2016 geographic at
    ~2 m (4 bands, uint16, nodata 0), the latter with the rectangle drawn in."""
    _, _, x, y = _site_xy(gpkg)
    folder = tmp_path_factory.mktemp("synthetic_scenes")
    before = synthetic_scene(folder / "synthetic_before_utm.tif", "EPSG:32652", 1.0, 600, (x, y),
                             buildings=False, seed=1, tags={"TIFFTAG_DATETIME": "2012:05:04 10:00:00"})
    after = synthetic_scene(folder / "synthetic_after_geo.tif", "EPSG:4326", 2.0, 600, (x, y), buildings=True,
                            bands=4, dtype="uint16", scale=40.0, nodata=0, seed=2)
    return before, after


@pytest.fixture
def scenes(atlas_copy, scene_files, tmp_path):
    """The atlas copy of this test and its own copies of the two synthetic scenes."""
    folder = tmp_path / "imagery"
    folder.mkdir()
    return (atlas_copy, *(Path(shutil.copyfile(p, folder / p.name)) for p in scene_files))


def _add(gpkg, path, *extra):
    res = run_cli("imagery", "add", str(path), "--gpkg", str(gpkg), *extra)
    assert res.returncode == 0, res.stderr
    return res


def test_add_reads_the_date_from_tags_and_needs_one_otherwise(scenes):
    gpkg, before, after = scenes
    _add(gpkg, before, "--sensor", "SyntheticSat-1", "--licence", "synthetic, no licence")
    res = run_cli("imagery", "add", str(after), "--gpkg", str(gpkg))
    assert res.returncode == 2 and "Traceback" not in res.stderr and "--date" in res.stderr
    _add(gpkg, after, "--date", "2016-09-30", "--shareable")
    listed = reg.load_register(gpkg)
    assert [s.date for s in listed] == ["2012-05-04", "2016-09-30"]
    assert listed[0].date_from == "TIFFTAG_DATETIME" and listed[1].date_from == "--date"
    assert listed[0].crs == "EPSG:32652" and listed[1].crs == "EPSG:4326"
    assert abs(listed[0].resolution_m - 1.0) < 0.05 and 1.5 < listed[1].resolution_m < 2.5
    assert listed[0].sha256 == file_sha256(before)
    # the register is in the private folder, never beside the shareable products
    where = reg.register_path(gpkg)
    assert where.parent.name.endswith("-private") and where.parent != Path(gpkg).parent
    assert not any(p.suffix == ".json" for p in Path(gpkg).parent.iterdir())


def test_list_site_oldest_first_and_a_vrt_is_refused(scenes, tmp_path):
    gpkg, before, after = scenes
    _add(gpkg, after, "--date", "2016-09-30")
    _add(gpkg, before)
    res = run_cli("imagery", "list", SITE, "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if "synthetic_" in ln]
    assert [ln.split()[1] for ln in lines] == ["2012-05-04", "2016-09-30"]
    far = run_cli("imagery", "list", "KLS-14", "--gpkg", str(gpkg))  # another camp: neither scene covers it
    assert far.returncode == 0 and "synthetic_" not in far.stdout
    vrt = tmp_path / "scene.tif"
    vrt.write_text(f'<VRTDataset rasterXSize="1" rasterYSize="1"><VRTRasterBand band="1"><SimpleSource>'
                   f'<SourceFilename>{before}</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>')
    res = run_cli("imagery", "add", str(vrt), "--date", "2020-01-01", "--gpkg", str(gpkg))
    assert res.returncode == 2 and "not a GeoTIFF or JPEG 2000" in res.stderr


@pytest.mark.slow
def test_compare_recovers_the_drawn_rectangle_across_crs_resolution_bands_and_nodata(scenes, tmp_path):
    gpkg, before, after = scenes
    _add(gpkg, before, "--sensor", "SyntheticSat-1", "--licence", "CC0 (synthetic)")
    _add(gpkg, after, "--date", "2016-09-30", "--sensor", "SyntheticSat-2", "--licence", "commercial (synthetic)")
    out = tmp_path / "cmp"
    res = run_cli("compare", SITE, "--before", "2011-01-01", "--after", "2020-01-01", "--out", str(out),
                  "--buffer-m", "400", "--json", "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert abs(got["changed_m2"] - RECT_M2) / RECT_M2 < TOLERANCE, got
    assert got["before"]["date"] == "2012-05-04" and got["after"]["date"] == "2016-09-30"
    assert got["before"]["sensor"] == "SyntheticSat-1" and got["after"]["licence"] == "commercial (synthetic)"
    assert "threshold" in got["method"] and got["threshold_robust_sd"] > 0
    circle = np.pi * 400 ** 2
    assert 0.85 < got["compared_m2"] / circle < 1.05  # the top strip of nodata is outside the 400 m circle
    assert abs(got["changed_share"] - got["changed_m2"] / got["compared_m2"]) < 1e-6
    for name in ("before.tif", "after.tif", "difference.tif", "change.tif", "compare.json"):
        assert (out / name).is_file()
    with rasterio.open(out / "before.tif") as b, rasterio.open(out / "after.tif") as a:
        assert b.crs == a.crs == rasterio.crs.CRS.from_epsg(5179)
        assert b.transform == a.transform and b.shape == a.shape
        assert (b.count, a.count) == (3, 4)
    with rasterio.open(out / "change.tif") as c:
        mask = c.read(1)
        assert (mask == 1).sum() * c.res[0] ** 2 == pytest.approx(RECT_M2, rel=TOLERANCE)
    assert json.loads((out / "compare.json").read_text())["changed_m2"] == got["changed_m2"]
    # a private scene in the pair: no --out writes under the private folder
    res = run_cli("compare", SITE, "--before", "2012", "--after", "2016-09-30", "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    assert "-private" in res.stdout and not (Path(gpkg).parent / "compare").exists()


def test_an_altered_or_moved_scene_is_refused_never_used(scenes, tmp_path):
    gpkg, before, after = scenes
    _add(gpkg, before)
    _add(gpkg, after, "--date", "2016-09-30")
    with open(after, "r+b") as f:  # one byte changed after registration
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))
    res = run_cli("compare", SITE, "--before", "2012-05-04", "--after", "2016-09-30", "--out",
                  str(tmp_path / "c"), "--gpkg", str(gpkg))
    assert res.returncode == 1 and "altered since it was registered" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "c" / "change.tif").exists()
    listed = run_cli("imagery", "list", "--gpkg", str(gpkg))
    assert "ALTERED" in listed.stdout
    os.utime(after, ns=(reg.load_register(gpkg)[1].mtime_ns,) * 2)  # the same size and time: only the hash tells
    assert "ALTERED" not in run_cli("imagery", "list", "--gpkg", str(gpkg)).stdout
    assert "ALTERED" in run_cli("imagery", "list", "--verify", "--gpkg", str(gpkg)).stdout
    shutil.move(before, tmp_path / "elsewhere.tif")
    with pytest.raises(SourceError, match="moved or deleted"):
        reg.verify(reg.load_register(gpkg)[0])
    # registered again where it is now: the same scene (sha256), moved
    scene, what = reg.add_scene(tmp_path / "elsewhere.tif", gpkg=gpkg)
    assert what == "moved" and reg.scene_state(scene, full=True) == "ok"


def test_nearest_each_date_and_ties(scenes):
    mk = [reg.Scene(sha256=c * 64, path="", name="", date=d, resolution_m=1.0)
          for c, d in zip("abcd", ("2010-01-01", "2012-01-01", "2014-01-01", "2016-01-01"))]
    from atlas.compare import pick_scenes

    b, a = pick_scenes(mk, date(2011, 1, 1), date(2015, 1, 1))  # ties: the earlier before, the later after
    assert (b.date, a.date) == ("2010-01-01", "2016-01-01")
    b, a = pick_scenes(mk, date(2012, 2, 1), date(2013, 12, 1))
    assert (b.date, a.date) == ("2012-01-01", "2014-01-01")
    with pytest.raises(InputError, match="earlier"):
        pick_scenes(mk, date(2015, 1, 1), date(2011, 1, 1))
    with pytest.raises(InputError, match="not two scenes"):
        pick_scenes(mk[:2], date(2009, 1, 1), date(2009, 6, 1))


def test_scenes_that_share_no_data_are_refused_with_a_message(scenes, tmp_path):
    gpkg, before, _ = scenes
    _lon, _lat, x, y = _site_xy(gpkg)
    empty = synthetic_scene(tmp_path / "synthetic_empty.tif", "EPSG:32652", 2.0, 600, (x, y), buildings=False,
                            nodata=0, seed=3)
    with rasterio.open(empty, "r+") as f:
        f.write(np.zeros((3, f.height, f.width), dtype="uint8"))
    _add(gpkg, before)
    _add(gpkg, empty, "--date", "2018-01-01")
    res = run_cli("compare", SITE, "--before", "2012", "--after", "2018", "--out", str(tmp_path / "c"),
                  "--gpkg", str(gpkg))
    assert res.returncode == 2 and "no data together" in res.stderr and "Traceback" not in res.stderr


def test_findings_cite_scenes_and_explain_flags_a_date_mismatch(scenes, tmp_path):
    gpkg, before, _ = scenes
    _add(gpkg, before, "--sensor", "SyntheticSat-1")
    sha = file_sha256(before)
    lon, lat, _, _ = _site_xy(gpkg)
    findings = tmp_path / "my_findings.csv"
    findings.write_text(
        "id,name,lat,lon,site_id,date_start,scene_sha256\n"
        f"U1,fence seen,{lat},{lon},{SITE},2012-05-04,{sha}\n"
        f"U2,new barracks,{lat},{lon},{SITE},2015-06-01,{sha}\n"
        f"U3,guard post,{lat},{lon},{SITE},2015-06-01,{'0' * 64}\n", encoding="utf-8")
    res = run_cli("import", str(findings), "--as", "my_findings", "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    res = run_cli("status", SITE, "--explain", "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    tail = res.stdout.split("Scenes the findings rest on:")[1].splitlines()
    u1 = next(ln for ln in tail if ln.strip().startswith("U1"))
    u2 = next(ln for ln in tail if ln.strip().startswith("U2"))
    u3 = next(ln for ln in tail if ln.strip().startswith("U3"))
    assert sha[:12] in u1 and "2012-05-04" in u1 and "SyntheticSat-1" in u1 and "MISMATCH" not in u1
    assert "DATE MISMATCH" in u2 and "2015-06-01" in u2
    assert "not registered" in u3
    got = json.loads(run_cli("status", SITE, "--explain", "--format", "json", "--gpkg", str(gpkg)).stdout)
    cited = got["meta"]["scenes_cited"] if "meta" in got else got["scenes_cited"]
    assert {c["finding_id"]: bool(c["mismatch"]) for c in cited} == {"U1": False, "U2": True, "U3": False}


def _pdf_images(pdf: Path) -> list[tuple[int, int]]:
    import pypdf

    sizes = []
    for page in pypdf.PdfReader(pdf).pages:
        for img in page.images:
            sizes.append(img.image.size)
    return sizes


@pytest.mark.slow
def test_dossier_prints_the_shareable_pair_side_by_side_html_and_pdf(scenes, tmp_path):
    gpkg, before, after = scenes
    _add(gpkg, before, "--shareable", "--sensor", "SyntheticSat-1", "--licence", "CC-BY (synthetic)")
    _add(gpkg, after, "--shareable", "--date", "2016-09-30", "--sensor", "SyntheticSat-2")
    res = run_cli("compare", SITE, "--before", "2012", "--after", "2016", "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    page = atlas.dossier(SITE, out=tmp_path / "d", gpkg=gpkg, pdf=True)
    html = page.read_text(encoding="utf-8")
    pair = html.split('class="pair-images"')[1].split("</div>")[0]
    assert pair.count('src="data:image/png;base64,') == 2
    assert "Before: 2012-05-04" in html and "After: 2016-09-30" in html and "CC-BY (synthetic)" in html
    assert "Change:" in html and "robust SD" in html  # the figure of the compare run above
    assert str(before.parent) not in html  # a shareable scene's path is never in a shared product
    assert len(html.encode()) < 2_000_000
    sizes = _pdf_images(page.with_suffix(".pdf"))
    assert sum(1 for s in sizes if s == (320, 320)) >= 2, sizes  # both images, downsampled, in the PDF


def test_no_private_scene_in_shared_products(scenes, tmp_path):
    gpkg, before, after = scenes
    _add(gpkg, before, "--shareable")
    _add(gpkg, after, "--date", "2016-09-30")  # private: its existence stays on this machine
    secret = reg.load_register(gpkg)[1]
    assert not secret.shareable
    lon, lat, _, _ = _site_xy(gpkg)
    cites = tmp_path / "shared_findings.csv"  # a shared findings layer citing both scenes
    cites.write_text("id,name,lat,lon,site_id,date_start,scene_sha256\n"
                     f"S1,fence,{lat},{lon},{SITE},2012-05-04,{file_sha256(before)}\n"
                     f"S2,roofs,{lat},{lon},{SITE},2016-09-30,{secret.sha256}\n", encoding="utf-8")
    assert run_cli("import", str(cites), "--as", "shared_findings", "--gpkg", str(gpkg)).returncode == 0
    rec = atlas.dossier_record(SITE, gpkg=gpkg)
    assert rec["imagery_pair"] is None  # one shareable scene: no pair, and no hint of the other
    cited = {c["finding_id"]: c for c in rec["scenes_cited"]}
    assert cited["S1"]["registered"] and cited["S1"]["date"] == "2012-05-04"
    assert not cited["S2"]["registered"] and cited["S2"]["date"] == "" and cited["S2"]["name"] == ""
    page = atlas.dossier(SITE, out=tmp_path / "d", gpkg=gpkg)
    text = page.read_text(encoding="utf-8")
    assert "Scenes the findings rest on" in text and "not among the shareable scenes registered" in text
    for needle in (secret.name, str(after.parent)):
        assert needle not in text, needle
    assert [s.sha256 for s in reg.shareable_scenes(gpkg)] == [file_sha256(before)]


@pytest.fixture
def imagery_map(scenes, tmp_path):
    """A map with the shareable pair of camp 15, and a private scene that must not show."""
    gpkg, before, after = scenes
    lon, lat, x, y = _site_xy(gpkg)
    secret = synthetic_scene(tmp_path / "imagery" / "synthetic_secret_2018.tif", "EPSG:32652", 1.5, 600, (x, y),
                             buildings=True, seed=9)
    _add(gpkg, before, "--shareable", "--sensor", "SyntheticSat-1", "--licence", "CC-BY (synthetic)")
    _add(gpkg, after, "--shareable", "--date", "2016-09-30", "--sensor", "SyntheticSat-2")
    _add(gpkg, secret, "--date", "2018-03-03", "--sensor", "SecretSat")  # the newest: a leak would pair it
    res = run_cli("map", "--imagery", "--out", str(tmp_path / "m" / "atlas.html"), "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    return tmp_path / "m" / "atlas.html", secret, (lon, lat)


@pytest.mark.slow
def test_map_imagery_holds_the_shareable_pair_and_no_private_scene(imagery_map):
    page, secret, _ = imagery_map
    text = page.read_text(encoding="utf-8")
    assert "Imagery before/after (swipe)" in text and "2012-05-04" in text and "2016-09-30" in text
    for needle in (secret.name, file_sha256(secret)[:12], "SecretSat", "2018-03-03", str(secret.parent)):
        assert needle not in text, needle


def test_swipe_draws_both_images_and_the_handle_moves_by_keyboard(browser, imagery_map):
    from atlas import _browser

    page_path, _, (lon, lat) = imagery_map
    with _browser.open_page(page_path, browser=browser) as s:
        page = s.page
        page.evaluate(f"() => {{ const m = window.atlas.map; window.atlasLayers.imagery_pairs.addTo(m);"
                      f" m.setView([{lat}, {lon}], 16, {{animate: false}}); }}")
        page.wait_for_function("() => Array.from(document.querySelectorAll('img.atlas-swipe-before, "
                               "img.atlas-swipe-after')).every(i => i.complete && i.naturalWidth > 0)")
        drawn = page.evaluate("() => Array.from(document.querySelectorAll('img.atlas-swipe-before, img.atlas-swipe-after'))"
                              ".map(i => { const r = i.getBoundingClientRect(); return [i.className, i.naturalWidth, "
                              "Math.round(r.width)]; })")
        assert len(drawn) == 2 and all(n > 0 and w > 50 for _, n, w in drawn), drawn
        handle = page.locator(".atlas-swipe")
        assert handle.get_attribute("aria-valuenow") == "50"
        clip0 = float(page.evaluate("() => document.querySelector('img.atlas-swipe-after').dataset.clipLeft"))
        handle.focus()
        for _ in range(3):
            page.keyboard.press("ArrowLeft")
        assert handle.get_attribute("aria-valuenow") == "35"
        clip1 = float(page.evaluate("() => document.querySelector('img.atlas-swipe-after').dataset.clipLeft"))
        assert clip1 < clip0  # more of the 'after' image shows
        page.keyboard.press("End")
        assert handle.get_attribute("aria-valuenow") == "100"
        for _ in range(10):
            page.keyboard.press("ArrowLeft")
        assert handle.get_attribute("aria-valuenow") == "50"
        box = handle.locator(".atlas-swipe-knob").bounding_box()  # by pointer: drag the handle to a quarter of the map's width
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(1400 * 0.25, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        assert 20 <= int(handle.get_attribute("aria-valuenow")) <= 30
        assert s.console_errors == [] and s.page_errors == [] and s.blocked == []


def test_the_atlas_findings_carry_a_scene_sha256_column_when_the_curated_file_has_one(geodata_copy):
    import pandas as pd

    from atlas.layers import findings_table

    path = geodata_copy / "camps" / "findings.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert "scene_sha256" not in findings_table(geodata_copy).columns  # the atlas as shipped: no such column
    df["scene_sha256"] = ""
    df.loc[0, "scene_sha256"] = "ab" * 32
    df.to_csv(path, index=False)
    got = findings_table(geodata_copy)
    assert got.loc[got["finding_id"] == df.loc[0, "finding_id"], "scene_sha256"].item() == "ab" * 32
    cited = reg.cited_scenes(got[got["finding_id"] == df.loc[0, "finding_id"]], None)
    assert cited and cited[0]["registered"] is False and cited[0]["sha256"] == "ab" * 32


@pytest.mark.slow
def test_a_jpeg2000_scene_is_registered_and_compared(scenes, tmp_path):
    gpkg, before, after = scenes
    jp2 = tmp_path / "synthetic_after.jp2"
    with rasterio.open(after) as src:
        profile = {"driver": "JP2OpenJPEG", "width": src.width, "height": src.height, "count": 3,
                   "dtype": "uint16", "crs": src.crs, "transform": src.transform, "QUALITY": "100",
                   "REVERSIBLE": "YES"}
        with rasterio.open(jp2, "w", **profile) as dst:
            dst.write(src.read([1, 2, 3]))
    _add(gpkg, before)
    _add(gpkg, jp2, "--date", "2016-09-30", "--sensor", "SyntheticSat-J")
    assert [s.name for s in reg.load_register(gpkg)] == ["synthetic_before_utm.tif", "synthetic_after.jp2"]
    res = run_cli("compare", SITE, "--before", "2012", "--after", "2016", "--out", str(tmp_path / "c"),
                  "--buffer-m", "400", "--json", "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["after"]["sensor"] == "SyntheticSat-J"
    assert abs(got["changed_m2"] - RECT_M2) / RECT_M2 < TOLERANCE, got


@pytest.mark.slow
def test_no_private_scene_in_the_site_or_an_export(imagery_map, tmp_path):
    """The static site (its dossiers and map) and an export, made beside a register holding a private scene."""
    _, secret, _ = imagery_map
    gpkg = next((tmp_path / "atlas").glob("atlas.gpkg"))
    index = atlas.build_site(tmp_path / "site", gpkg=gpkg, with_downloads=False)
    res = run_cli("export", "--format", "geojson", "--out", str(tmp_path / "export"), "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    sha = file_sha256(secret)
    files = [p for folder in (index.parent, tmp_path / "export") for p in folder.rglob("*") if p.is_file()]
    assert len(files) > 20
    pair_seen = False
    for p in files:
        data = p.read_bytes()
        for needle in (secret.name, sha[:12], "SecretSat", "2018-03-03", str(secret.parent)):
            assert needle.encode() not in data, (p, needle)
        pair_seen |= b"pair-images" in data and b"2016-09-30" in data
    assert pair_seen  # the shareable pair is in camp 15's dossier


def _perimeters_csv(path: Path, x: float, y: float) -> Path:
    """Two synthetic perimeters (WKT, lon/lat) around the site: one holds the drawn rectangle, one lies beside it."""
    back = Transformer.from_crs("EPSG:5179", "EPSG:4326", always_xy=True)

    def square(x0, y0, x1, y1):
        xs, ys = back.transform([x + x0, x + x1, x + x1, x + x0, x + x0], [y + y0, y + y0, y + y1, y + y1, y + y0])
        return "POLYGON ((" + ", ".join(f"{a:.7f} {b:.7f}" for a, b in zip(xs, ys)) + "))"

    rows = [("Compound with the rectangle (synthetic)", square(-200, -200, 300, 250)),
            ("Compound beside it (synthetic)", square(-450, -450, -250, -250))]
    path.write_text("name,wkt\n" + "".join(f'"{n}","{w}"\n' for n, w in rows), encoding="utf-8")
    return path


@pytest.mark.slow
def test_compare_inside_a_perimeter_counts_the_change_within_the_polygon(scenes, tmp_path):
    gpkg, before, after = scenes
    _add(gpkg, before, "--shareable")
    _add(gpkg, after, "--date", "2016-09-30", "--shareable")
    _, _, x, y = _site_xy(gpkg)
    atlas.import_layer(_perimeters_csv(tmp_path / "synthetic_perimeters.csv", x, y), "compounds", gpkg=gpkg)
    holds = atlas.compare(SITE, "2012", "2016", perimeter="compounds:U000001", gpkg=gpkg, out=tmp_path / "a")
    assert abs(holds.changed_m2 - RECT_M2) / RECT_M2 < TOLERANCE
    assert holds.compared_m2 == pytest.approx(500 * 450, rel=0.02)  # the polygon's area, both scenes cover it
    assert holds.perimeter.startswith("user_compounds:U000001") and "inside the perimeter" in holds.summary
    beside = atlas.compare(SITE, "2012", "2016", perimeter="compounds:U000002", gpkg=gpkg, out=tmp_path / "b")
    assert beside.changed_share < 0.01 and beside.compared_m2 == pytest.approx(200 * 200, rel=0.05)
    # without --out: a folder of its own, never the one the map and the dossier read the circle's figure from
    res = run_cli("compare", SITE, "--before", "2012", "--after", "2016", "--perimeter", "compounds:U000001",
                  "--json", "--gpkg", str(gpkg))
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["perimeter"] == holds.perimeter and got["area_compared"].startswith("inside the perimeter")
    assert (Path(gpkg).parent / "compare" / "KLS-15_2012-05-04_2016-09-30_perimeter-user_compounds-U000001"
            / "compare.json").is_file()
    assert not (Path(gpkg).parent / "compare" / "KLS-15_2012-05-04_2016-09-30").exists()
    res = run_cli("compare", SITE, "--before", "2012", "--after", "2016", "--perimeter", "compounds",
                  "--gpkg", str(gpkg))
    assert res.returncode == 2 and "names 2 polygons" in res.stderr and "Traceback" not in res.stderr
    # a private perimeter keeps the comparison in the private folder
    atlas.import_layer(_perimeters_csv(tmp_path / "synthetic_private.csv", x, y), "mine", gpkg=gpkg, private=True)
    private = atlas.compare(SITE, "2012", "2016", perimeter="mine:U000001", gpkg=gpkg)
    assert private.private and "-private" in str(private.out_dir)
