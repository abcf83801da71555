"""The products in Korean (``--lang ko``): one catalogue, complete; no interface string left in English.

The catalogue (``atlas/locale/ko/LC_MESSAGES/atlas.po``) is checked against the code: every string
marked in the Python modules and the templates is in it with a Korean translation that keeps its
placeholders and tags, and it holds nothing the code no longer marks. A Korean dossier of a camp and
of a mine, and the Korean site's pages, are read back as text: once the record's data values and the
parts marked ``lang="en"`` (names in romanization, the status rule's own sentences) are taken out,
no English string of the catalogue may be left, and the page is ``lang="ko"`` with Korean dates.
English stays the default, byte for byte.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from click.testing import CliRunner

import atlas
from atlas import i18n
from atlas.cli import main
from atlas.diff import CHANGES
from atlas.dossier import WHY_KINDS, dossier_record, render_dossier, why_kind
from atlas.evidence import STATUSES, TIERS
from atlas.style import COMMODITY_COLOURS, FINDING_TYPE_LABELS, KIND_LABELS, evidence_label

PACKAGE = Path(atlas.__file__).parent
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s")
TAG = re.compile(r"</?[a-z]+[^>]*>")
KOREAN_DATE = re.compile(r"\d{4}년 \d{1,2}월 \d{1,2}일")


def _catalogue():
    with i18n.catalogue_path("ko").open("rb") as f:
        return read_po(f, locale="ko")


def _marked() -> set:
    """Every string the code marks for the catalogue (Babel's extractors over atlas/, its templates and the map's script)."""
    method_map = [("**.py", "python"), ("templates/**.j2", "jinja2"), ("_webmap.js", "javascript")]
    options = {"templates/**.j2": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            PACKAGE, method_map, options_map=options, keywords=keywords):
        found.add(message)
    return found


# --- the catalogue ----------------------------------------------------------------------------


def test_every_message_has_a_korean_translation_keeping_placeholders_and_tags():
    catalog = _catalogue()
    messages = [m for m in catalog if m.id]
    assert len(messages) > 200
    for m in messages:
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strs = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(s.strip() for s in strs), f"no Korean for {m.id!r}"
        assert not m.fuzzy, f"fuzzy: {m.id!r}"
        assert strs[0] != ids[0], f"left as in English: {m.id!r}"
        if re.search(r"[A-Za-z]{3,}", PLACEHOLDER.sub("", TAG.sub("", ids[0]))):  # words, not "N" or "%(a)s to %(b)s"
            assert re.search(r"[\uac00-\ud7a3]", strs[0]), f"no Hangul in the translation of {m.id!r}"
        for s in strs:
            assert sorted(PLACEHOLDER.findall(s)) == sorted(set(PLACEHOLDER.findall(ids[0]))) or \
                set(PLACEHOLDER.findall(s)) == set(PLACEHOLDER.findall(ids[-1])), m.id
            assert sorted(TAG.findall(s)) == sorted(TAG.findall(ids[0])), f"tags differ in {m.id!r}"


def test_catalogue_holds_exactly_what_the_code_marks():
    in_catalogue = {m.id for m in _catalogue() if m.id}
    marked = _marked()
    assert marked - in_catalogue == set(), "marked in the code, missing from the catalogue (pybabel update)"
    assert in_catalogue - marked == set(), "in the catalogue, marked nowhere in the code (obsolete)"


def test_the_words_the_code_chooses_are_all_terms():
    """Values the pages show through ``|term`` come from these tables: each must be in the catalogue."""
    terms = set(i18n.TERMS) | {kind for _start, kind in WHY_KINDS}
    wanted = (set(STATUSES) | set(KIND_LABELS.values()) | {name for _t, name, _r in TIERS} | set(CHANGES)
              | set(FINDING_TYPE_LABELS.values()) | set(COMMODITY_COLOURS)
              | {evidence_label("testimony", h) for h in ("first-hand", "second-hand", "unstated")})
    assert wanted - terms == set()
    assert why_kind("hedged (closed): never decides: x") == "hedged: never decides"


def test_translate_and_dates():
    assert i18n.translate("contested", "ko") == "상충"
    assert i18n.translate("not a catalogue string", "ko") == "not a catalogue string"
    assert i18n.format_date("2014-06-01", "ko") == "2014년 6월 1일"
    assert i18n.format_date("2016-05", "ko") == "2016년 5월"
    assert i18n.format_date("2026-12-08T10:00:00+00:00", "ko") == "2026년 12월 8일"
    assert i18n.format_date("1970s-1990s", "ko") == "1970s-1990s"  # a date in a source's words: as given
    assert i18n.format_date("2014-06-01") == "2014-06-01"
    with pytest.raises(atlas.InputError, match="not one of en, ko"):
        i18n.check_lang("fr")


# --- the pages ---------------------------------------------------------------------------------


class _Visible(HTMLParser):
    """A page's visible text, node by node, leaving out scripts, styles, code and elements marked lang="en"."""

    VOID = frozenset({"br", "meta", "link", "input", "img", "hr", "path", "rect", "circle"})

    def __init__(self):
        super().__init__()
        self.nodes: list[str] = []
        self.stack: list[bool] = []  # per open element: whether its text is left out
        self.attrs: list[str] = []  # visible attribute text (title, alt, placeholder, aria-label)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        skip = (tag in ("style", "script", "code") or attrs.get("lang") == "en"  # code: commands, not words
                or (self.stack and self.stack[-1]))
        if not skip:
            self.attrs += [attrs[k] for k in ("title", "alt", "placeholder", "aria-label") if attrs.get(k)]
        if tag not in self.VOID:
            self.stack.append(bool(skip))

    def handle_startendtag(self, tag, attrs):
        if not (self.stack and self.stack[-1]):
            attrs = dict(attrs)
            self.attrs += [attrs[k] for k in ("title", "alt", "placeholder", "aria-label") if attrs.get(k)]

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if data.strip() and not (self.stack and self.stack[-1]):
            self.nodes.append(data)


def _visible(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    return parser.nodes + parser.attrs


def _strings(value) -> set[str]:
    """Every string a record holds (its data values), at any depth."""
    if isinstance(value, str):
        return {value} if len(value.strip()) > 1 else set()
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple | set):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


def _english_left(nodes: list[str], data: set[str], fields: set[str] = frozenset()) -> list[str]:
    """The catalogue's English strings still in the text once the data values are taken out.

    A value that is one of the interface words a page translates (:data:`atlas.i18n.TERMS`) is not
    taken out: left in English, it is found."""
    terms = set(i18n.TERMS) | {kind for _start, kind in WHY_KINDS}  # what a page translates with |term
    values = sorted((data - terms) | set(fields), key=len, reverse=True)  # field names: always data
    text = []
    for node in nodes:
        for v in values:
            if v in node:
                node = node.replace(v, " ")
        text.append(node)
    text = "\n".join(text)
    # a word, not part of a file name or an identifier (mine_findings.csv, status_date)
    return sorted({f for f in _english_fragments()
                   if re.search(rf"(?<![A-Za-z_/.-]){re.escape(f)}(?![A-Za-z_/-]|\.[a-z])", text)})


def _english_fragments() -> set[str]:
    """The catalogue's English text, cut at its placeholders and tags: each piece must not show on a
    Korean page. Pieces the Korean translations keep too (titles, formats: "Gulag, Inc", "sha256",
    "GeoPackage") are names, not English left, and so are pieces under three letters (N, id, km)."""
    catalog = [m for m in _catalogue() if m.id]
    korean = PLACEHOLDER.sub("", "\n".join(s for m in catalog
                                           for s in (m.string if isinstance(m.string, tuple) else (m.string,))))
    out = set()
    for m in catalog:
        for msgid in (m.id if isinstance(m.id, tuple) else (m.id,)):
            for part in PLACEHOLDER.split(TAG.sub("\x00", msgid)):
                for fragment in part.split("\x00"):
                    fragment = fragment.strip(" ;,.:()\n")
                    if len(re.findall(r"[A-Za-z]", fragment)) >= 3 and fragment not in korean:
                        out.add(fragment)
    return out


@pytest.fixture(scope="module")
def ko_records(gpkg):
    return {site: dossier_record(site, gpkg, lang="ko") for site in ("KLS-15", "M005")}


@pytest.mark.parametrize("site", ["KLS-15", "M005"])
def test_a_korean_dossier_has_no_interface_string_in_english(ko_records, site):
    rec = ko_records[site]
    page = render_dossier(rec, lang="ko")
    assert '<html lang="ko">' in page
    nodes = _visible(page)
    fields = {k.replace("_", " ") for k in rec["header"]["gem"]}  # Global Energy Monitor's field names: data
    assert _english_left(nodes, _strings(rec), fields) == []
    text = "\n".join(nodes)
    assert KOREAN_DATE.search(text), "no date in Korean form"
    assert "기록" in text and "출처 및 이용 허락" in text  # headings: Record, Sources and licences
    assert "빌드" in rec["citation"] and rec["header"]["id"] in rec["citation"]


def test_the_check_catches_an_english_string(ko_records):
    """The test above can fail: an English heading put back in a Korean page is found."""
    rec = ko_records["KLS-15"]
    page = render_dossier(rec, lang="ko").replace("<h2 id=\"record-h\">기록</h2>", "<h2>Timeline of findings, oldest first</h2>")
    assert "Timeline of findings, oldest first" in _english_left(_visible(page), _strings(rec))


def test_korean_names_hangul_first_and_never_invented(ko_records):
    camp = render_dossier(ko_records["KLS-15"], lang="ko")
    h1 = re.search(r"<h1>(.*?)</h1>", camp, re.S).group(1)
    assert h1.index("요덕 제15호 관리소") < h1.index("Yodok (Camp 15)")
    assert camp.index("함경남도") < camp.index("South Hamgyong Province")  # the layer's name_ko, then English
    mine = ko_records["M005"]
    assert mine["header"]["names"]["hangul"] == []  # the sources give this mine no Hangul name
    page = render_dossier(mine, lang="ko")
    h1 = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)
    assert not re.search(r"[\uac00-\ud7a3]", h1), "a Hangul name the data does not have"
    assert "출처에 한글 이름 없음" in page


def test_english_stays_the_default(gpkg):
    rec = dossier_record("KLS-15", gpkg)
    assert rec == dossier_record("KLS-15", gpkg, lang="en")
    page = render_dossier(rec)
    assert page == render_dossier(rec, lang="en")
    assert '<html lang="en">' in page and "Timeline of findings, oldest first" in page
    assert not KOREAN_DATE.search(page) and "기록" not in page


def test_cli_writes_a_korean_dossier_and_pdf(gpkg, tmp_path):
    pytest.importorskip("weasyprint")
    import pypdf

    res = CliRunner().invoke(main, ["dossier", "KLS-15", "--gpkg", str(gpkg), "--out", str(tmp_path),
                                    "--lang", "ko", "--pdf"])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "KLS-15.html").read_text(encoding="utf-8")
    assert '<html lang="ko">' in html
    text = "".join(p.extract_text() for p in pypdf.PdfReader(tmp_path / "KLS-15.pdf").pages)
    assert "요덕 제15호 관리소" in text and "조사 결과 연표" in text  # Hangul drawn, not boxes
    bad = CliRunner().invoke(main, ["dossier", "KLS-15", "--gpkg", str(gpkg), "--lang", "fr"])
    assert bad.exit_code == 2 and "fr" in bad.output


@pytest.mark.slow
def test_the_korean_site_has_no_interface_string_in_english(gpkg, tmp_path):
    index = atlas.build_site(tmp_path / "site", gpkg, with_map=True, with_downloads=True, lang="ko")
    site = index.parent
    from atlas.dossier import Product
    from atlas.summaries import province_summary

    product = Product(gpkg)
    summary = province_summary(gpkg)
    frames = [product.layer(name) for name in product.layer_names] + [summary]
    data, fields = set(), set(product.layer_names)
    for df in frames:  # every value of every layer is data, shown as it is; column names are field names
        df = df.drop(columns=["geometry"], errors="ignore")
        data |= {str(v) for col in df.columns for v in df[col].dropna().unique() if len(str(v)) > 1}
        fields |= {str(c) for c in df.columns}
    data |= _strings(product.about())
    from atlas.summaries import _NO_PROVINCE

    data.add(_NO_PROVINCE)  # a value of the summary's province column, quoted by its method note
    for page in sorted(site.glob("*.html")):
        html = page.read_text(encoding="utf-8")
        assert '<html lang="ko">' in html, page.name
        if page.name == "changes.html":  # the changelog is the project's record, in English
            html = html.split('<div class="changelog">')[0]
        # the report's tables and the province summary are tables of data: their cells as they are
        table_page = page.name in ("tables.html", "provinces.html")
        assert _english_left(_visible(html), data, fields | (data if table_page else set())) == [], page.name
    index_text = "\n".join(_visible(index.read_text(encoding="utf-8")))
    assert KOREAN_DATE.search(index_text) and "전체 시설" in index_text
    for dossier in sorted((site / "dossiers").glob("*.html"))[:5]:
        assert '<html lang="ko">' in dossier.read_text(encoding="utf-8")
    assert '"i18n":{' in (site / "map.html").read_text(encoding="utf-8")  # the site's map in Korean too


def test_the_catalogue_ships_with_the_package_and_site_takes_lang():
    """The wheel carries the PO file (pyproject's package-data) and Babel; ``atlas site`` has --lang."""
    import fnmatch

    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    shipped = re.findall(r'"([^"]+)"', re.search(r"^atlas = \[(.*)\]$", pyproject, re.M).group(1))
    po = Path(str(i18n.catalogue_path("ko"))).relative_to(PACKAGE).as_posix()
    assert po == "locale/ko/LC_MESSAGES/atlas.po" and any(fnmatch.fnmatch(po, g) for g in shipped)
    assert re.search(r'^    "babel>=', pyproject, re.M)
    res = CliRunner().invoke(main, ["site", "--help"])
    assert res.exit_code == 0 and "--lang [en|ko]" in res.output


# --- the interactive map ----------------------------------------------------------------------

LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]")


def _layer_data(gpkg) -> tuple[set[str], set[str]]:
    """Every value of every layer of the atlas (data, shown as the sources give it), and the column names."""
    from atlas.dossier import Product

    product = Product(gpkg)
    data, fields = set(), set(product.layer_names)
    for name in product.layer_names:
        df = product.layer(name).drop(columns=["geometry"], errors="ignore")
        data |= {str(v) for col in df.columns for v in df[col].dropna().unique() if len(str(v)) > 1}
        fields |= {str(c) for c in df.columns}
    return data | _strings(product.about()), fields


def _kept_in_korean() -> set[str]:
    """The Latin words the Korean translations keep (names and formats: GeoPackage, OpenStreetMap, WGS84)."""
    return {w.lower() for m in _catalogue() if m.id
            for s in (m.string if isinstance(m.string, tuple) else (m.string,))
            for w in LATIN_WORD.findall(PLACEHOLDER.sub(" ", s))}


def _english_words_left(nodes: list[str], data: set[str]) -> list[str]:
    """Latin words still in the text once the data values are taken out, other than those the Korean
    translations keep: an interface string left in English, marked in the catalogue or not."""
    text = "\n".join(nodes)
    for v in sorted((v for v in data if v in text), key=len, reverse=True):
        text = text.replace(v, " ")
    kept = _kept_in_korean()
    return sorted({w for w in LATIN_WORD.findall(text) if w.lower() not in kept})


def _js_strings(script: str) -> set[str]:
    """The string literals of a script (quotes, comments and regular expressions told apart the usual way:
    a ``/`` after an operator or a bracket opens an expression, after a value it divides)."""
    out, i, n, last = set(), 0, len(script), "("
    while i < n:
        c = script[i]
        if script.startswith("//", i):
            j = script.find("\n", i)
            i = n if j < 0 else j
        elif script.startswith("/*", i):
            i = script.index("*/", i) + 2
        elif c in "\"'`":
            j, buf = i + 1, []
            while script[j] != c:
                buf.append(script[j:j + 2] if script[j] == "\\" else script[j])
                j += 2 if script[j] == "\\" else 1
            out.add(re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), "".join(buf)).replace("\\n", "\n").replace("\\", ""))
            i, last = j + 1, "a"
        elif c == "/" and last in "(,=:[!&|?{};+-*%<>~^":
            j, klass = i + 1, False
            while klass or script[j] != "/":
                klass = (klass or script[j] == "[") and script[j] != "]"
                j += 2 if script[j] == "\\" else 1
            i, last = j + 1, "a"
        else:
            if not c.isspace():
                last = c if not (c.isalnum() or c in "_$)]") else "a"
            i += 1
    return out


def _spec_texts(spec: dict) -> list[str]:
    """The visible text of everything the map's spec holds for the page to show: layer titles, legends,
    tooltips, popups (HTML: parsed, lang="en" parts left out), search notes, the page's title and notes."""
    nodes = [spec["title"], spec["network_note"], spec["credit"], *(b["label"] for b in spec["bases"])]
    for layer in spec["layers"]:
        nodes += [layer["title"], layer["legend"].get("note", "")]
        nodes += [str(it.get(k, "")) for it in layer["legend"]["items"] for k in ("label", "min", "max")]
        for f in layer.get("features", []):
            for key in ("t", "p", "tn", "label"):  # not "lbl", a camp's name on the map (a test below)
                if f.get(key):
                    nodes += _visible(f"<div>{f[key]}</div>")
    nodes += [e["x"] for e in spec["search"]]
    return [n for n in nodes if n and n.strip()]


@pytest.fixture(scope="module")
def ko_map(gpkg, tmp_path_factory):
    """The Korean map (``atlas map --lang ko``), its spec, and the atlas's data values."""
    m = atlas.build_map(gpkg, lang="ko")
    out = tmp_path_factory.mktemp("ko_map") / "atlas.html"
    out.write_text(m.get_root().render(), encoding="utf-8")
    data, fields = _layer_data(gpkg)
    spec = m.atlas_spec
    data |= _strings(spec["sources"]) | _strings(spec["about"]) | _strings(spec["retired"])
    return {"path": out, "spec": spec, "data": data, "fields": fields}


def test_the_korean_map_spec_has_no_interface_string_in_english(ko_map):
    """Every title, legend, tooltip and popup the Python side writes for the Korean map is in Korean,
    but for data values and the parts marked lang="en"."""
    spec = ko_map["spec"]
    nodes = _spec_texts(spec)
    assert _english_left(nodes, ko_map["data"], ko_map["fields"]) == []
    assert _english_words_left(nodes, ko_map["data"] | ko_map["fields"]) == []
    camps = next(layer for layer in spec["layers"] if layer["id"] == "camps")
    yodok = next(f for f in camps["features"] if f["id"] == "KLS-15")
    assert yodok["lbl"].startswith("요덕 제15호 관리소") and "Yodok" in yodok["lbl"]  # Hangul first, romanization beside
    assert re.search(r"\d{4}년 \d{1,2}월 \d{1,2}일", camps["time"]["asof_text"])
    assert "<h3><span lang=\"ko\">요덕 제15호 관리소</span> <span lang=\"en\">Yodok" in yodok["p"]
    assert camps["title"].startswith("수용소와 의심 시설")
    assert spec["i18n"]["Legend"] == "범례" and spec["i18n"]["contested"] == "상충"


def test_the_check_of_the_map_catches_an_english_string(ko_map):
    """The checks above can fail: a string of the catalogue left in English is found by both, and a
    string the catalogue does not hold by the second."""
    nodes = [*_spec_texts(ko_map["spec"]), "Places found", "Zoomed to the site"]
    assert "Places found" in _english_left(nodes, ko_map["data"], ko_map["fields"])
    assert {"Places", "found", "Zoomed"} <= set(_english_words_left(nodes, ko_map["data"]))  # marked or not


def test_the_map_script_reads_every_string_from_the_catalogue():
    """The script marks its strings (_("...")) and shows no other English: every string literal of three
    Latin letters or more in it is marked, a name the code uses (a CSS class, an event, a key), or a
    pattern; the catalogue holds a Korean translation of each marked one."""
    script = (PACKAGE / "_webmap.js").read_text(encoding="utf-8")
    marked = set(i18n.js_messages())
    assert {"Legend", "Link to this site on the map", "No match", "Play"} <= marked
    ko = i18n.js_translations("ko")
    assert set(ko) == marked and all(ko[m] != m and re.search(r"[\uac00-\ud7a3]", ko[m]) for m in marked)
    # every string literal of the script: two words of letters, and not part of a marked string, would be
    # an interface sentence left in English (but for the code's own names: events, CSS, a label's side)
    literals = _js_strings(script)
    code = {"use strict", "above left", "above right", "below left", "below right"}
    unmarked = sorted(s for s in literals if re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", s)
                      and not any(s in m for m in marked) and s not in code
                      and not re.fullmatch(r"([a-z]*(end|add|remove|open|close|resize) ?)+", s)
                      and not re.search(r"[<>=#]|atlas-|leaflet-|gradient\(", s))
    assert len(literals) > 200 and {"Legend", "Layers", "use strict"} <= literals
    assert unmarked == [], "English in the map's script, not marked for the catalogue"


#: The text a reader meets on the page, as headless Chromium has it: every text node and every title,
#: placeholder, aria-label and aria-valuetext, but for scripts, styles and elements marked lang="en".
PAGE_TEXT_JS = """() => {
  const out = [], attrs = ["title", "alt", "placeholder", "aria-label", "aria-valuetext"];
  const walk = (node, skip) => {
    if (node.nodeType === 3) { if (!skip && node.textContent.trim()) out.push(node.textContent); return; }
    if (node.nodeType !== 1) return;
    const tag = node.tagName.toLowerCase();
    skip = skip || tag === "script" || tag === "style" || node.getAttribute("lang") === "en";
    if (!skip) attrs.forEach(a => { const v = node.getAttribute(a); if (v) out.push(v); });
    node.childNodes.forEach(c => walk(c, skip));
  };
  walk(document.documentElement, false);
  return out;
}"""
#: Every layer on, its legend shown, the folded boxes opened.
EVERYTHING_ON_JS = """() => { Object.values(window.atlas.layers).forEach(l => window.atlas.map.addLayer(l));
  window.atlas.legend.refresh(); document.querySelectorAll('details').forEach(d => { d.open = true; }); }"""


def test_the_korean_map_in_chromium_has_no_interface_string_in_english(browser, ko_map):
    """The Korean map as a reader meets it: the opening view, every layer and its legend, search, the measure
    tool, the year control, a link to a site at a date (and to a retired and an unknown id), the popup of
    the first feature of each layer and a stacked point's chooser. Once the data values (and the camps'
    names on the map) are taken out, no English is left; Hangul is drawn in a Korean font."""
    from atlas import _browser

    spec = ko_map["spec"]
    data = ko_map["data"] | {f["lbl"] for layer in spec["layers"] for f in layer.get("features", []) if f.get("lbl")}
    data |= {"NO-SUCH-1"}  # an id a link asks for: the reader's words
    texts: list[str] = []
    with _browser.open_page(ko_map["path"], size=(1200, 800), browser=browser) as s:
        page = s.page

        def grab():
            texts.extend(page.evaluate(PAGE_TEXT_JS))

        assert page.evaluate("document.documentElement.lang") == "ko"
        grab()
        page.evaluate(EVERYTHING_ON_JS)
        grab()
        for query in ("yodok", "요덕", "zzqqxx"):  # results, and "no match"
            page.fill(".atlas-search input", query)
            grab()
        page.evaluate("window.atlas.searchBox().close()")
        page.click(".atlas-measure .atlas-btn")
        page.evaluate("window.atlas.measure.add(L.latLng(39.6, 126.9)); window.atlas.measure.add(L.latLng(39.9, 127.3))")
        grab()
        page.click(".atlas-measure .atlas-btn")
        grab()  # "… km measured"
        page.click(".atlas-time-all")
        grab()
        page.click(".atlas-time-play")
        grab()  # "pause"
        page.evaluate("window.atlas.time.stop()")
        retired = next(iter(spec["retired"]), None)
        for link in ("#KLS-15@2014-06", "#KLS-15@1950", "#M005@2014", "#NO-SUCH-1", *([f"#{retired}"] if retired else [])):
            page.evaluate(f"window.atlas.openLink({link!r})")
            grab()
        for layer in spec["layers"]:  # the first feature of each layer, its popup open
            if layer.get("features") and layer["kind"] in ("points", "polygons", "candidates"):
                page.evaluate(f"window.atlas.map.closePopup(); window.atlas.reveal({{l: {layer['id']!r}, i: 0}}); new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(0))))")
                grab()
        page.evaluate("""() => { const k = Object.keys(window.atlas.stacks)[0];
                                 window.atlas.stackChooser(k, window.atlas.stacks[k][0].m.getLatLng()); }""")
        grab()
        cdp = page.context.new_cdp_session(page)  # the font Chromium draws the title's Hangul with
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": ".atlas-title"})["nodeId"]
        fonts = {f["familyName"] for f in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]}
        assert s.page_errors == [] and s.blocked == []
    text = "\n".join(texts)
    for korean in ("범례", "레이어", "전체 기간", "지도에서 이 시설로 가는 링크", "일치 없음", "측정 거리",
                   "이 지점의 객체", "2014년 12월 31일 기준"):
        assert korean in text, korean
    assert _english_left(texts, data, ko_map["fields"]) == []
    assert _english_words_left(texts, data | ko_map["fields"]) == []
    assert fonts & {"NanumGothic", "Noto Sans CJK KR", "NanumBarunGothic"}, fonts


def test_the_english_map_is_unchanged_by_korean(gpkg):
    """English stays the default and carries no translation: the page is the same with and without
    lang="en", its spec holds no table of translations and its <html> names no language (as before
    --lang existed: the page outside the map's script was compared byte for byte with one written before,
    docs/korean.md), and the script then shows its own English originals."""
    default = atlas.build_map(gpkg)
    page = default.get_root().render()
    assert atlas.build_map(gpkg, lang="en").get_root().render() == page
    assert "i18n" not in default.atlas_spec and "asof_text" not in default.atlas_spec["layers"][-1].get("time", {})
    assert "<!DOCTYPE html>\n<html>\n" in page
    assert not any(word in page for word in ("범례", "레이어", "전체 기간", "오프라인 지도", "이 지점의 객체"))
    assert default.atlas_layers["camps"] == "Prison camps and suspected sites (26 of 27 located)"
    assert i18n.js_translations("en") == {}
