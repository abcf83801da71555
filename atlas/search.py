"""Name search: find a camp, mine, county or province by any name, id or number.

:func:`find` resolves a camp, mine, county or province from its id
(``KLS-14``), its number with kind (``kwan-li-so 14``, ``camp 14``, ``14``)
or its name in any romanization or in Hangul (``Kaechon``, ``Kaech'ŏn``,
``Gaecheon``, ``개천``), through :func:`atlas.names.keys`. Every candidate
comes back, ranked, with how it matched; :func:`resolve` insists on exactly
one and raises :class:`~atlas.errors.AmbiguousError` (listing the
candidates) or :class:`~atlas.errors.NotFoundError` (with the closest names)
otherwise. The name index is cached per GeoPackage (path, modification
time, size).

The names of the atlas layers are indexed in memory; those of the layers a
user imported are keyed once, at import (:func:`write_name_keys`), into a
table of the GeoPackage (:data:`NAME_KEYS`, which GDAL and QGIS do not list),
and looked up there: a query reads only the user features whose keys it
shares, so its time does not grow with the size of user layers it does not
match.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import re
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from . import io, names
from .errors import AmbiguousError, InputError, NotFoundError
from .sites import Site, site_from_row, uniform_frame
from .store import USER_PREFIX, Atlas, open_atlas

__all__ = ["FIND_LAYERS", "MATCH_SCORES", "NAME_KEYS", "RETIRED", "find", "name_keys", "resolve", "retired_id", "retired_ids", "write_name_keys"]

#: Layers :func:`find` searches, in the order equal matches are listed.
FIND_LAYERS = ("camps", "mines", "named_mines", "counties", "provinces", "mineral_deposits")
#: How each kind of match scores (1 = certain).
MATCH_SCORES = {
    "exact id": 1.0,
    "number and kind": 0.95,
    "name and kind": 0.92,
    "exact name": 0.9,
    "number": 0.9,
    "romanization fold": 0.8,
    "part of name": 0.6,
    "name, not that kind": 0.3,  # Kaechon kyo-hwa-so: camp 14 (a kwan-li-so), the county of Kaechon
}
_CAMP_KINDS = {
    "kwanliso": "kwan-li-so", "kwalliso": "kwan-li-so", "kls": "kwan-li-so",
    "politicalprisoncamp": "kwan-li-so", "관리소": "kwan-li-so",
    "kyohwaso": "kyo-hwa-so", "khs": "kyo-hwa-so", "reeducationcamp": "kyo-hwa-so",
    "prisonlabourcamp": "kyo-hwa-so", "prisonlaborcamp": "kyo-hwa-so", "교화소": "kyo-hwa-so",
    "camp": None, "prisoncamp": None, "prison": None, "": None,
    # the Korean ways of naming a camp: 수용소 (a camp), 정치범수용소 (a political prison camp),
    # 노동교화소 (a labour re-education camp)
    "수용소": None, "정치범수용소": "kwan-li-so", "정치범관리소": "kwan-li-so", "노동교화소": "kyo-hwa-so",
}
#: A name followed by the kind of camp it names (``Kaechon kyo-hwa-so``, ``요덕수용소``, ``Yodok camp``).
_KIND_SUFFIX = re.compile(r"^(?P<name>.+?)(?P<kind>정치범수용소|정치범관리소|노동교화소|수용소|관리소|교화소|"
                          r"politicalprisoncamp|prisonlabou?rcamp|reeducationcamp|kwanliso|kwalliso|"
                          r"kyohwaso|prisoncamp|camp)$")
#: The score of a camp named by its name and its kind (between a number with its kind and an exact name).
NAME_AND_KIND = MATCH_SCORES["name and kind"]
_NUMBER = re.compile(
    r"(?P<kind>[a-z가-힣]*?)(?:no|number|nr|제)?(?P<num>\d{1,3})(?:호)?(?P<kind2>관리소|교화소|수용소)?"
)
# words too generic to identify a feature on their own
_STOPWORDS = {
    "mine", "mines", "coal", "mining", "complex", "youth", "hero", "district", "camp", "prison",
    "the", "of", "and", "at", "with", "no", "kyo", "hwa", "so", "kyohwaso", "kwanliso", "county",
    "city", "province", "site", "sites", "area", "mmi", "plant", "concentration", "uranium", "iron",
    "copper", "gold", "lead", "zinc", "magnesite", "enterprise", "facility", "suspected",
    "restricted", "remnant", "original", "mens", "womens", "associated", "second", "2nd",
    "other", "zones", "zone", "revolutionizing", "total", "control", "hq", "entrance", "gate",
    "km", "per", "gulag", "inc", "workers", "model", "village", "center", "correctional",
    "numbering", "disputed", "hrnk", "map", "deposit", "region", "joint", "venture", "company",
    "mineral", "ore", "blocks", "operated", "from", "by", "unclear", "link", "deposits",
    "광산", "탄광", "관리소", "교화소", "청년",
}


# --- finding a site by name ----------------------------------------------------------------


_ADMIN_LAYERS = {"counties", "provinces"}
_ADMIN_SUFFIX = re.compile(r"(county|gun|kun|city|si|shi|province|do|guyok|kuyok|district|"
                           r"특별시|직할시|특급시|구역|군|시|도)$")


def _admin_suffix(norm: str) -> bool:
    """The query ends with a county, city or province suffix (``Yodok County``, ``단천시``)."""
    m = _ADMIN_SUFFIX.search(norm)
    return bool(m) and len(norm) - len(m.group(1)) >= (2 if names.is_hangul(norm[0]) else 3)


def _strip_suffix(norm: str) -> str:
    if norm and all(names.is_hangul(ch) for ch in norm):
        stripped = names.HANGUL_SUFFIXES.sub("", norm)
        return stripped if len(stripped) >= 2 else norm
    stripped = names.LATIN_SUFFIXES.sub("", norm)
    return stripped if len(stripped) >= 3 else norm


_CAMP_NUMBER = re.compile(r"제?\d+호?")  # 제14호, 14: a number names nothing alone
_NAME_LIST = re.compile(r"[;|]")  # names listed in one cell
_LABEL = re.compile(r"^[^:]{1,20}:\s*")  # 'zones: Kuup-ri, ...'
_NAME_PARTS = re.compile(r"[,/()]")
_WORDS = re.compile(r"[\s,/();:&]+")


@functools.lru_cache(maxsize=100_000)
def _keys(text: str) -> frozenset[str]:
    """:func:`atlas.names.keys` without generic words (관리소, 제14호, mine) that name nothing."""
    return frozenset(k for k in names.keys(text)
                     if k not in _STOPWORDS and not _CAMP_NUMBER.fullmatch(k))


def _variants(*texts: object) -> list[str]:
    """Every name a text holds: the whole, each ``;`` part, each part split at , / ( )."""
    out: list[str] = []
    for text in texts:
        if text is None or (isinstance(text, float) and math.isnan(text)):
            continue
        text = str(text).strip()
        if not text:
            continue
        out.append(text)
        for part in _NAME_LIST.split(text):
            part = _LABEL.sub("", part.strip())  # 'zones: Kuup-ri, ...'
            out.append(part)
            out += [p.strip() for p in _NAME_PARTS.split(part)]
    seen, uniq = set(), []
    for v in out:
        if v and v not in seen and names.normalize(v):
            seen.add(v)
            uniq.append(v)
    return uniq


@functools.lru_cache(maxsize=100_000)
def _parts(variant: str) -> tuple[str, ...]:
    """Words (and pairs of words) of a name that could identify it on their own."""
    words = [w for w in _WORDS.split(variant) if w]
    good = []
    for w in words:
        n = names.normalize(w)
        if not n or n.isdigit() or n in _STOPWORDS or _strip_suffix(n) in _STOPWORDS:
            good.append(None)
            continue
        hangul = all(names.is_hangul(ch) for ch in n)
        good.append(w if len(n) >= (2 if hangul else 3) else None)
    out = [w for w in good if w]
    out += [f"{a} {b}" for a, b in itertools.pairwise(good) if a and b]
    return tuple(out)


@dataclass
class _Entry:
    layer: str
    pos: int  # row position in the layer
    id: str
    name: str
    kind: str
    number: str = ""


def _camp_number(row: dict) -> str:
    """A camp's number without leading zeros (``"015"`` → ``"15"``), or ``""``."""
    num = re.match(r"\s*0*(\d+)", str(row.get("number") or ""))
    return num.group(1) if num else ""


def _texts_and_ids(layer: str, row: dict, p: dict, extra: dict[str, list[str]]) -> tuple[list, list]:
    """The texts a feature's names are read from and the ids it is found by, per layer."""
    ids = [p["id"]]
    if layer == "camps":
        texts = [row.get("name"), row.get("alt_names"), row.get("name_ko")]
    elif layer == "mines":
        texts = [row.get("name"), row.get("alt_names")]
    elif layer == "named_mines":
        texts = [row.get("name_in_report"), row.get("alt_names")]
    elif layer == "counties":
        texts = [row.get("name_en"), row.get("name_ko"), row.get("name_hanja"),
                 *extra.get(str(p["id"]), [])]
        ids += [row.get("ocha_pcode"), row.get("wikidata")]
    elif layer == "provinces":
        texts = [row.get("name_en"), row.get("name_ko"), row.get("name_mr"),
                 row.get("name_rr"), row.get("name_variants")]
        ids += str(row.get("iso_3166_2") or "").split("|")
    elif layer == "mineral_deposits":
        texts = [p["name"], row.get("commodity")]
    else:
        texts = [p["name"]]
    return texts, ids


class _NameIndex:
    """Inverted indexes from name keys to features, at three levels of match."""

    def __init__(self, layers: dict[str, pd.DataFrame], geonames: pd.DataFrame | None):
        self.keyed: dict[str, int] = {}  # user layers searched through their keys in the GeoPackage
        self.entries: list[_Entry] = []
        self.ids: dict[str, list[int]] = {}
        self.exact: dict[str, list[tuple[int, str]]] = {}
        self.fold: dict[str, list[tuple[int, str]]] = {}
        self.part: dict[str, list[tuple[int, str]]] = {}
        self.numbers: dict[int, list[int]] = {}
        for layer, df in layers.items():
            self._add_layer(layer, df, geonames)

    def _add(self, table: dict, key: str, e: int, text: str) -> None:
        if key:
            table.setdefault(key, []).append((e, text))

    def _add_layer(self, layer: str, df: pd.DataFrame, geonames: pd.DataFrame | None) -> None:
        pres = uniform_frame(layer, df)
        extra: dict[str, list[str]] = {}
        if layer == "counties" and geonames is not None:
            extra = _geonames_variants(df, geonames)
        records = pd.DataFrame(df.drop(columns="geometry", errors="ignore")).to_dict("records")
        for pos, (row, p) in enumerate(zip(records, pres.to_dict("records"))):
            e = len(self.entries)
            entry = _Entry(layer, pos, str(p["id"]), str(p["name"]), str(p["kind"] or ""))
            if layer == "camps":
                entry.number = _camp_number(row)
                if entry.number:
                    self.numbers.setdefault(int(entry.number), []).append(e)
            texts, ids = _texts_and_ids(layer, row, p, extra)
            self.entries.append(entry)
            self._index_ids(e, ids)
            self._index_names(e, texts)

    def _index_ids(self, e: int, ids: list) -> None:
        """Index a feature under each of its ids that is not blank."""
        for i in ids:
            if i is not None and str(i).strip():
                self.ids.setdefault(names.normalize(str(i)), []).append(e)

    def _index_names(self, e: int, texts: list) -> None:
        """Index every name variant of a feature at the three levels: exact, romanization fold, part."""
        for v in _variants(*texts):
            norm = names.normalize(v)
            self._add(self.exact, norm, e, v)
            if _strip_suffix(norm) != norm:
                self._add(self.exact, _strip_suffix(norm), e, v)
            for k in _keys(v):
                self._add(self.fold, k, e, v)
            for w in _parts(v):
                for k in _keys(w):
                    self._add(self.part, k, e, v)

    def search(self, query: str, layers: Iterable[str] | None = None) -> list[dict]:
        """Candidates for a query, best match per feature; empty when nothing matches.

        A query with a county, city or province suffix (``Yodok County``,
        ``Kaechon-si``, ``요덕군``) asks for the unit: other layers then match
        it only as ``part of name`` unless one of their names is literally it.
        """
        allowed = set(layers) if layers else None
        found = self._found(query, allowed)
        return [self._row(e, *found[e]) for e in found]

    def _found(self, query: str, allowed: set | None) -> dict[int, tuple[float, str, str]]:
        """The best match per feature: entry -> (score, how it matched, the text matched)."""
        qn = names.normalize(query)
        admin_query = _admin_suffix(qn)
        found: dict[int, tuple[float, str, str]] = {}
        for e, match, text, literal in self._hits(query, qn):
            entry = self.entries[e]
            if allowed is not None and entry.layer not in allowed:
                continue
            if admin_query and not literal and entry.layer not in _ADMIN_LAYERS:
                match = "part of name"
            score = MATCH_SCORES[match]
            if e not in found or score > found[e][0]:
                found[e] = (score, match, text)
        for e, score, match, text in self._kind_hits(qn, allowed):
            if found.get(e, (0, "", ""))[1] not in ("exact id", "exact name", "number and kind"):
                found[e] = (score, match, text)  # the kind the query names decides between its namesakes
        return found

    def _kind_hits(self, qn: str, allowed: set | None) -> Iterator[tuple[int, float, str, str]]:
        """A name followed by a kind of camp (``개천 교화소``, ``요덕수용소``, ``Yodok camp``): the camps
        of that name and kind first; a camp of the other kind, or a county or mine of that name, below."""
        m = _KIND_SUFFIX.match(qn)
        if not m or _NUMBER.fullmatch(qn) or _CAMP_NUMBER.fullmatch(m.group("name")):
            return
        kind = _CAMP_KINDS.get(m.group("kind"))
        for e, (score, _match, text) in self._found(m.group("name"), allowed).items():
            entry = self.entries[e]
            if entry.layer == "camps" and (kind is None or entry.kind == kind) and score >= 0.8:
                yield e, NAME_AND_KIND, "name and kind", text
            else:  # the name fits, the kind does not: kept, below
                yield e, MATCH_SCORES["name, not that kind"], "name, not that kind", text

    def _hits(self, query: str, qn: str) -> Iterator[tuple[int, str, str, bool]]:
        """Every feature a query names: (entry, how it matched, the text matched, whether literally)."""
        for e in self.ids.get(qn, []):
            yield e, "exact id", self.entries[e].id, True
        yield from self._number_hits(qn)
        for e, text in self.exact.get(qn, []):
            yield e, "exact name", text, names.normalize(text) == qn
        if _strip_suffix(qn) != qn:
            for e, text in self.exact.get(_strip_suffix(qn), []):
                yield e, "exact name", text, False
        for k in _keys(query):
            for e, text in self.fold.get(k, []):
                yield e, "romanization fold", text, False
            for e, text in self.part.get(k, []):
                yield e, "part of name", text, False

    def _number_hits(self, qn: str) -> Iterator[tuple[int, str, str, bool]]:
        """The camps a query names by number (``Camp 15``, ``kwanliso 15``), of the kind it names if any."""
        m = _NUMBER.fullmatch(qn)
        if not m or (m.group("kind") or m.group("kind2") or "") not in _CAMP_KINDS:
            return
        kind = _CAMP_KINDS[m.group("kind") or m.group("kind2") or ""]
        for e in self.numbers.get(int(m.group("num")), []):
            entry = self.entries[e]
            if kind is None:
                yield e, "number", f"{entry.kind} {entry.number}", True
            elif entry.kind == kind:
                yield e, "number and kind", f"{entry.kind} {entry.number}", True

    def fuzzy(self, query: str, layers: Iterable[str] | None = None, n: int = 8,
              cutoff: float = 0.75) -> list[dict]:
        """Features whose names are close to the query (difflib), with the ratio as score."""
        qn = names.normalize(query)
        allowed = set(layers) if layers else None
        keys = [k for k, hits in self.exact.items()
                if allowed is None or any(self.entries[e].layer in allowed for e, _ in hits)]
        found: dict[int, tuple[float, str, str]] = {}
        for key in difflib.get_close_matches(qn, keys, n=n, cutoff=cutoff):
            ratio = difflib.SequenceMatcher(None, qn, key).ratio()
            for e, text in self.exact[key]:
                if allowed is not None and self.entries[e].layer not in allowed:
                    continue
                score = round(0.5 * ratio, 3)
                if e not in found or score > found[e][0]:
                    found[e] = (score, "fuzzy", text)
        return [self._row(e, *found[e]) for e in found]

    def _row(self, e: int, score: float, match: str, text: str) -> dict:
        entry = self.entries[e]
        return {"layer": entry.layer, "id": entry.id, "name": entry.name, "kind": entry.kind,
                "match": match, "score": score, "matched": text, "_pos": entry.pos}


def _geonames_variants(counties: pd.DataFrame, geonames: pd.DataFrame) -> dict[str, list[str]]:
    """GeoNames names of the towns a county is named after (Kaech'ŏn → Kaechon county)."""
    by_ko = {}
    for _, c in counties.iterrows():
        by_ko.setdefault(str(c.get("name_ko") or ""), []).append(c)
    out: dict[str, list[str]] = {}
    for _, g in geonames.iterrows():
        town = names.keys(g["name"])
        alts = [a for a in str(g["alternatenames"] or "").split("|") if a]
        for c in by_ko.get(str(g.get("osm_unit_ko") or ""), []):
            county = names.keys(c.get("name_en")) | names.keys(c.get("name_ko"))
            alt_keys = set().union(*(names.keys(a) for a in alts)) if alts else set()
            if town & county or alt_keys & county:  # the town the county is named after
                out.setdefault(str(c["county_id"]), []).extend([g["name"], *alts])
    return out


# --- name keys of user layers, kept in the GeoPackage ------------------------------------------

#: Table of the GeoPackage holding the name keys of user layers: (key, layer, fid). An
#: unregistered table, which GDAL does not list beside the atlas's attribute tables.
NAME_KEYS = "atlas_name_keys"
#: Which user layers are keyed, with their feature count and largest fid when keyed.
_KEYED = "atlas_name_layers"
#: Keyed user layers up to this size are also searched for names close in spelling.
FUZZY_USER_MAX = 20_000
#: A key of a query shared by more features of the user's layers than this is not used to find them
#: (it would read them all: "point" in a million "Synthetic point N"); the query says so.
MAX_KEY_MATCHES = 10_000


def name_keys(feature_id: object, name: object) -> set[str]:
    """Every key under which :func:`find` can reach a user feature (id, name, folds, words).

    Examples
    --------
    >>> sorted(name_keys("U000001", "Kaech'ŏn site"))
    ['kaecheon', 'kaecheonsite', 'kaechon', 'kaechonsite', 'u000001']
    """
    keys = {names.normalize(str(feature_id))} if feature_id is not None else set()
    keys_of, parts_of = _keys.__wrapped__, _parts.__wrapped__  # whole names: unique, not cached
    for v in _variants(name):
        norm = names.normalize(v)
        keys |= {norm, _strip_suffix(norm), *keys_of(v)}
        for w in parts_of(v):
            keys |= _keys(w)  # words recur from name to name: cached
    keys.discard("")
    return keys


#: A name keyed by :func:`_keyed_table`'s vectorised path: printable ASCII without the characters
#: that split a name into several (``;|,/():``); its keys then depend on its letters alone.
_PLAIN_NAME = r"^[\x20-\x27\x2a\x2b\x2d\x2e\x30-\x39\x3c-\x7b\x7d\x7e]*$"
_NOT_LATIN_RE2 = "[^a-z0-9]"
#: :func:`atlas.names.rr_fold` as steps Arrow can run (RE2 has no look-behind: the preceding
#: letter is captured and written back, which gives the same result since it is never a target).
_RR_ARROW = (
    ("lit", "eo", "o"), ("lit", "eu", "u"), ("lit", "oo", "u"), ("lit", "oi", "oe"),
    ("re", "^g", "k"), ("re", "^d", "t"), ("re", "^b", "p"), ("re", "^j", "ch"),
    ("lit", "ng", "N"),
    ("re", "([aeiouwyN])g", r"\1k"), ("re", "([aeiouwyN])d", r"\1t"), ("re", "([aeiouwyN])b", r"\1p"),
    ("re", "([aeiouwyN])j", r"\1ch"),
    ("lit", "N", "ng"), ("re", "^r([aeiouy])", r"\1"),
    ("lit", "ph", "p"), ("lit", "kh", "k"), ("lit", "th", "t"), ("lit", "chh", "ch"),
)


def _rr_fold_arrow(text):
    import pyarrow.compute as pc

    for how, pattern, repl in _RR_ARROW:
        text = (pc.replace_substring(text, pattern, repl) if how == "lit"
                else pc.replace_substring_regex(text, pattern, repl))
    return text


def _keyed_table(fids: np.ndarray, ids: list, labels: list) -> tuple[np.ndarray, np.ndarray]:
    """:func:`name_keys` of many features at once, as ``(fid, key)`` pairs without repeats.

    Plain names (:data:`_PLAIN_NAME`), nearly every row of a big layer, are keyed with Arrow's
    string kernels, their words once per distinct word; any other name by :func:`name_keys`.
    The pairs are exactly those of :func:`name_keys` (a test compares them on random names).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    fids = np.asarray(fids, dtype=np.int64)
    label = pa.array(labels, type=pa.string(), from_pandas=True)
    uid = pa.array([None if i is None else str(i) for i in ids], type=pa.string())
    plain = pc.fill_null(pc.match_substring_regex(label, _PLAIN_NAME), False).to_numpy(zero_copy_only=False)
    plain_id = pc.fill_null(pc.string_is_ascii(uid), False).to_numpy(zero_copy_only=False)
    out_fid: list[np.ndarray] = []
    out_key: list[pa.Array] = []

    def add(rows: np.ndarray, keys, keep=None) -> None:
        if keep is not None:
            rows, keys = rows[keep], keys.filter(pa.array(keep))
        out_fid.append(fids[rows])
        out_key.append(keys)

    rows = np.flatnonzero(plain_id)  # ids: normalised (ASCII: lower case, letters and digits)
    add(rows, pc.replace_substring_regex(pc.ascii_lower(uid.take(pa.array(rows))), _NOT_LATIN_RE2, ""))
    for i in np.flatnonzero(~plain_id & ~pd.isna(np.asarray(ids, dtype=object))):
        out_fid.append(np.array([fids[i]]))
        out_key.append(pa.array([names.normalize(str(ids[i]))], type=pa.string()))
    rows = np.flatnonzero(plain)
    text = pc.utf8_trim(label.take(pa.array(rows)), " ")
    base = pc.replace_substring_regex(pc.ascii_lower(text), _NOT_LATIN_RE2, "")
    named = pc.greater(pc.utf8_length(base), 0).to_numpy(zero_copy_only=False)
    rows, text, base = rows[named], text.filter(pa.array(named)), base.filter(pa.array(named))
    stripped = pc.replace_substring_regex(base, names.LATIN_SUFFIXES.pattern, "")
    long_base = pc.greater_equal(pc.utf8_length(base), 3).to_numpy(zero_copy_only=False)
    long_stripped = pc.greater_equal(pc.utf8_length(stripped), 3).to_numpy(zero_copy_only=False)
    add(rows, base)
    add(rows, stripped, long_stripped)  # _strip_suffix: the stripped name when 3 letters or more
    stop = pa.array(sorted(k for k in _STOPWORDS if k.isascii()), type=pa.string())
    for form, keep in ((base, long_base), (stripped, long_stripped)):
        folded = _rr_fold_arrow(form)
        good = keep & ~pc.is_in(folded, value_set=stop).to_numpy(zero_copy_only=False) \
            & ~pc.match_substring_regex(folded, "^[0-9]+$").to_numpy(zero_copy_only=False)
        add(rows, folded, good)
    # words: each distinct one judged once (_parts), pairs of neighbouring good words made by Arrow
    words = pc.split_pattern_regex(text, "[ &]+")
    flat = words.flatten()
    parent = np.asarray(words.value_parent_indices(), dtype=np.int64)
    nonempty = pc.greater(pc.utf8_length(flat), 0).to_numpy(zero_copy_only=False)
    flat, parent = flat.filter(pa.array(nonempty)), parent[nonempty]
    codes = pc.dictionary_encode(flat)
    folded = pc.replace_substring_regex(pc.ascii_lower(codes.dictionary), _NOT_LATIN_RE2, "")
    maybe = np.flatnonzero(pc.and_(pc.greater_equal(pc.utf8_length(folded), 3),  # shorter, or a number:
                                   pc.invert(pc.match_substring_regex(folded, "^[0-9]+$")))  # never a part
                           .to_numpy(zero_copy_only=False))
    good_word = np.zeros(len(codes.dictionary), dtype=bool)
    good_word[maybe] = [bool(_parts(w)) for w in codes.dictionary.take(pa.array(maybe)).to_pylist()]
    idx = np.asarray(codes.indices, dtype=np.int64)
    good = good_word[idx] if len(idx) else np.zeros(0, bool)
    pair = np.zeros(len(idx), bool)
    if len(idx) > 1:
        pair[:-1] = (parent[:-1] == parent[1:]) & good[:-1] & good[1:]
    at = np.flatnonzero(pair)
    pairs = pc.binary_join_element_wise(flat.take(pa.array(at)), flat.take(pa.array(at + 1)), " ")
    for parts, owners in ((flat.filter(pa.array(good)), parent[good]), (pairs, parent[at])):
        part_codes = pc.dictionary_encode(parts)
        part_keys = [sorted(_keys(w)) for w in part_codes.dictionary.to_pylist()]
        counts = np.array([len(k) for k in part_keys], dtype=np.int64)
        pidx = np.asarray(part_codes.indices, dtype=np.int64)
        if not len(pidx):
            continue
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        n = counts[pidx]
        which = np.repeat(starts[pidx], n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        flat_keys = pa.array([k for ks in part_keys for k in ks], type=pa.string())
        add(rows[np.repeat(owners, n)], flat_keys.take(pa.array(which)))
    for i in np.flatnonzero(~plain):  # every other name: the rule itself
        ks = name_keys(None, labels[i])
        out_fid.append(np.full(len(ks), fids[i], dtype=np.int64))
        out_key.append(pa.array(sorted(ks), type=pa.string()))
    table = pa.table({"fid": pa.array(np.concatenate(out_fid) if out_fid else np.zeros(0, np.int64)),
                      "key": pa.concat_arrays([k.cast(pa.string()) for k in out_key]) if out_key
                      else pa.array([], pa.string())})
    table = table.filter(pc.greater(pc.utf8_length(table["key"]), 0))
    table = table.group_by(["key", "fid"], use_threads=False).aggregate([]).sort_by([("key", "ascending"),
                                                                                    ("fid", "ascending")])
    return table["fid"].to_numpy(), table["key"].to_numpy(zero_copy_only=False)


def write_name_keys(gpkg: Path, layer: str, progress: Callable[[str], None] | None = None) -> int:
    """Key the names of a user layer into :data:`NAME_KEYS` (the importer calls it once).

    Parameters
    ----------
    gpkg : pathlib.Path
        A GeoPackage holding ``layer`` (the importer's temporary copy).
    layer : str
        A user layer (``user_id`` and ``name`` columns).
    progress : callable, optional
        Told how far it has got on a big layer.

    Returns
    -------
    int
        The number of keys written.
    """
    q = layer.replace('"', '""')
    con = sqlite3.connect(str(gpkg))
    con.execute("PRAGMA cache_size = -65536")  # 64 MB: a million names' keys go in without re-reading pages
    n = 0
    try:
        with con:
            con.execute(f"CREATE TABLE IF NOT EXISTS {NAME_KEYS} (key TEXT NOT NULL, layer TEXT NOT NULL, "
                        "fid INTEGER NOT NULL, PRIMARY KEY (key, layer, fid)) WITHOUT ROWID")
            con.execute(f"CREATE TABLE IF NOT EXISTS {_KEYED} (layer TEXT PRIMARY KEY, features INTEGER, "
                        "max_fid INTEGER)")
            con.execute(f"DELETE FROM {NAME_KEYS} WHERE layer = ?", (layer,))
            con.execute(f"DELETE FROM {_KEYED} WHERE layer = ?", (layer,))
            cur = con.execute(f'SELECT fid, user_id, name FROM "{q}" ORDER BY fid')
            done = 0
            while rows := cur.fetchmany(25_000):
                fids, ids, labels = zip(*rows)
                fid, key = _keyed_table(np.array(fids), list(ids), list(labels))
                con.executemany(f"INSERT OR IGNORE INTO {NAME_KEYS} VALUES (?, ?, ?)",
                                zip(key.tolist(), itertools.repeat(layer), fid.tolist()))
                n += len(key)
                done += len(rows)
                if progress and done % 100_000 == 0:
                    progress(f"keyed the names of {done:,} features")
            features, max_fid = con.execute(f'SELECT count(*), max(fid) FROM "{q}"').fetchone()
            con.execute(f"INSERT INTO {_KEYED} VALUES (?, ?, ?)", (layer, features, max_fid))
    finally:
        con.close()
    return n


def copy_name_keys(src: Path, dst: Path, layers: Iterable[str]) -> None:
    """Carry the keys of user layers copied unchanged (same fids) from ``src`` into ``dst``."""
    layers = list(layers)
    if not layers or not Path(src).is_file():
        return
    con = sqlite3.connect(str(dst))
    try:
        con.execute("ATTACH DATABASE ? AS src", (f"{Path(src).resolve().as_uri()}?mode=ro",))
        have = {r[0] for r in con.execute("SELECT name FROM src.sqlite_master WHERE type = 'table'")}
        if {NAME_KEYS, _KEYED} <= have:
            marks = ", ".join("?" * len(layers))
            with con:
                con.execute(f"CREATE TABLE IF NOT EXISTS {NAME_KEYS} (key TEXT NOT NULL, layer TEXT NOT "
                            "NULL, fid INTEGER NOT NULL, PRIMARY KEY (key, layer, fid)) WITHOUT ROWID")
                con.execute(f"CREATE TABLE IF NOT EXISTS {_KEYED} (layer TEXT PRIMARY KEY, features "
                            "INTEGER, max_fid INTEGER)")
                con.execute(f"INSERT OR IGNORE INTO {NAME_KEYS} SELECT * FROM src.{NAME_KEYS} "
                            f"WHERE layer IN ({marks})", layers)
                con.execute(f"INSERT OR REPLACE INTO {_KEYED} SELECT * FROM src.{_KEYED} "
                            f"WHERE layer IN ({marks})", layers)
        con.execute("DETACH DATABASE src")
    finally:
        con.close()


def keyed_layers(gpkg: Path, user: list[str]) -> dict[str, int]:
    """User layers whose keys are current (same count and largest fid as when keyed): features each."""
    if not user:
        return {}
    with io.read_only(gpkg) as con:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (_KEYED,)).fetchone():
            return {}
        keyed = {}
        for layer, features, max_fid in con.execute(f"SELECT layer, features, max_fid FROM {_KEYED}"):
            if layer in user:  # both read in constant time: GDAL keeps the count, fid is the key
                q = layer.replace('"', '""')
                try:
                    row = con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = ?",
                                      (layer,)).fetchone()
                except sqlite3.OperationalError:  # a GeoPackage written without GDAL's counts
                    row = None
                count = row[0] if row and row[0] is not None else \
                    con.execute(f'SELECT count(*) FROM "{q}"').fetchone()[0]
                if (count, con.execute(f'SELECT max(fid) FROM "{q}"').fetchone()[0]) == (features, max_fid):
                    keyed[layer] = features
        return keyed


def _read_fids(atlas: Atlas, layer: str, fids: list[int]) -> gpd.GeoDataFrame:
    frame = atlas.read(layer, fids=sorted(fids)) if fids else None
    return frame.reset_index(drop=True)


def _keyed_search(index: _NameIndex, atlas: Atlas, query: str, layers: Iterable[str] | None,
                  fuzzy: bool = False) -> list[dict]:
    """Matches in keyed user layers: their keys looked up in SQLite, only those rows read."""
    allowed = [n for n in index.keyed if layers is None or n in set(layers)]
    if not allowed:
        return []
    if fuzzy:  # names close in spelling: only small layers, read whole
        small = [n for n in allowed if index.keyed[n] <= FUZZY_USER_MAX]
        frames = {n: atlas.layer(n) for n in small}
        rows = _NameIndex(frames, None).fuzzy(query, small, **({} if fuzzy is True else fuzzy))
        return rows
    qn = names.normalize(query)
    whole = {qn, _strip_suffix(qn)} - {""}
    qkeys = sorted(whole) + sorted({*_keys(query)} - whole - {""})  # the whole name's keys first
    found: set[tuple[str, int]] = set()
    common = []
    for path, in_file in _by_file(atlas, allowed).items():  # the atlas GeoPackage, its private store
        with io.read_only(path) as con:
            for key in qkeys:  # each key's matches bounded: a word in every name reads no million rows
                hits = con.execute(
                    f"SELECT DISTINCT layer, fid FROM {NAME_KEYS} WHERE key = ? "
                    f"AND layer IN ({', '.join('?' * len(in_file))}) LIMIT ?",
                    [key, *in_file, MAX_KEY_MATCHES + 1]).fetchall()
                if len(hits) > MAX_KEY_MATCHES:
                    common.append(key)
                    continue
                found.update(hits)
    if common:
        warnings.warn(f"{', '.join(map(repr, common))}: in more than {MAX_KEY_MATCHES:,} names of your layers, "
                      "so not used to find them there; add words of the name", UserWarning, stacklevel=3)
    by_layer: dict[str, list[int]] = {}
    for layer, fid in found:
        by_layer.setdefault(layer, []).append(fid)
    rows = []
    for layer, fids in by_layer.items():
        frame = _read_fids(atlas, layer, fids)
        for r in _NameIndex({layer: frame}, None).search(query, [layer]):
            r["_frame"] = frame
            rows.append(r)
    return rows


def name_index(atlas: Atlas) -> _NameIndex:
    """The names of every searchable layer of an atlas, keyed once per atlas."""
    return atlas.memo("name_index", lambda: _build_index(atlas))


def _by_file(atlas: Atlas, layers: Iterable[str]) -> dict[Path, list[str]]:
    """Layers grouped by the GeoPackage that holds them (none for an atlas in a database)."""
    out: dict[Path, list[str]] = {}
    for name in layers:
        path = atlas.store_of(name).path
        if path is not None:
            out.setdefault(path, []).append(name)
    return out


def _build_index(atlas: Atlas) -> _NameIndex:
    available = atlas.layers()
    user = sorted(n for n in available if n.startswith(USER_PREFIX))
    keyed = {k: v for path, names in _by_file(atlas, user).items() for k, v in keyed_layers(path, names).items()}
    layers = {n: atlas.layer(n) for n in (*FIND_LAYERS, *user) if n in available and n not in keyed}
    # the GeoNames towns' names are a bonus; the atlas layers suffice without them
    geonames = atlas.layer("geonames_places") if "geonames_places" in available else None
    index = _NameIndex(layers, geonames)
    index.keyed = keyed
    return index


def _candidates_frame(rows: list[dict], atlas: Atlas) -> gpd.GeoDataFrame:
    layer_rank = {n: i for i, n in enumerate(FIND_LAYERS)}
    rows = sorted(rows, key=lambda r: (-r["score"], layer_rank.get(r["layer"], 99), r["id"]))
    extra = {"province": [], "county": [], "precision": [], "lon": [], "lat": [], "geometry": []}
    for r in rows:
        df = r["_frame"] if "_frame" in r else atlas.layer(r["layer"])
        row = df.iloc[[r["_pos"]]]
        p = uniform_frame(r["layer"], row).iloc[0]
        geom = row.geometry.iloc[0] if isinstance(row, gpd.GeoDataFrame) else None
        if geom is not None and geom.is_empty:
            geom = None
        rep = None if geom is None else (geom if geom.geom_type == "Point" else geom.representative_point())
        extra["province"].append(p["province"])
        extra["county"].append(p["county"])
        extra["precision"].append(p["precision"])
        extra["lon"].append(None if rep is None else round(rep.x, 6))
        extra["lat"].append(None if rep is None else round(rep.y, 6))
        extra["geometry"].append(geom)
    out = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
                       columns=["layer", "id", "name", "kind", "match", "score", "matched"])
    for k, v in extra.items():
        if k != "geometry":
            out[k] = pd.Series(v, dtype=object)
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(extra["geometry"], crs="EPSG:4326"))


def find(
    query: str,
    gpkg: Atlas | Path | str | None = None,
    layers: Iterable[str] | None = None,
    fuzzy: bool = True,
) -> gpd.GeoDataFrame:
    """Every camp, mine, county or province a query may mean, ranked.

    The query may be an id (``KLS-14``, ``M005``, ``KP-02``,
    ``relation/5453657``), a camp number with or without its kind
    (``kwan-li-so 14``, ``kyo-hwa-so 22``, ``camp 14``, ``14``) or a name in
    any romanization or in Hangul (``Kaechon``, ``Kaech'ŏn``, ``Gaecheon``,
    ``개천``); case, diacritics, apostrophes, hyphens and administrative
    suffixes (``-gun``, ``County``, ``군``, ``시``) are ignored. Names come
    from every name field of the layers and, for counties, from the GeoNames
    alternate names of the town the county is named after.

    Parameters
    ----------
    query : str
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas (a GeoPackage, a PostGIS URL or an open :class:`~atlas.store.Atlas`);
        defaults to ``output/atlas.gpkg``.
    layers : iterable of str, optional
        Search only these layers (default: camps, mines, named_mines,
        counties, provinces, mineral_deposits and any ``user_`` layer).
    fuzzy : bool, default True
        When nothing matches exactly, return names close in spelling
        (``match="fuzzy"``) instead of raising.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per feature, best first: ``layer``, ``id``, ``name``,
        ``kind``, ``match`` (``exact id``, ``number and kind``, ``name and
        kind``, ``exact name``, ``number``, ``romanization fold``, ``part of
        name``, ``name, not that kind`` or ``fuzzy``), ``score`` (see :data:`MATCH_SCORES`), ``matched`` (the
        name that matched), ``province``, ``county``, ``precision``, ``lon``,
        ``lat`` (a point on an area) and the feature's geometry (EPSG:4326;
        empty for a site without a public coordinate).

    Raises
    ------
    NotFoundError
        Nothing matches; the message lists the closest names (exit code 2).
    InputError
        An empty query.

    Examples
    --------
    >>> import atlas
    >>> hits = atlas.find("Kaech'ŏn")
    >>> {"KLS-14", "KHS-01", "M005"} <= set(hits["id"])
    True
    >>> sorted(atlas.find("22")["id"])
    ['KHS-22', 'KLS-22']
    >>> atlas.find("단천").iloc[0]["layer"] in {"counties", "camps"}
    True
    """
    if not names.normalize(query or ""):
        raise InputError("the query is empty: give a name, an id (KLS-14) or a camp number")
    atlas = open_atlas(gpkg)
    if layers:  # a layer imported with --as NAME is user_NAME
        layers = [atlas.layer_name(n) for n in ([layers] if isinstance(layers, str) else layers)]
    index = name_index(atlas)
    rows = index.search(query, layers) + _keyed_search(index, atlas, query, layers)
    if not rows and fuzzy:
        rows = index.fuzzy(query, layers) + _keyed_search(index, atlas, query, layers, fuzzy=True)
    if not rows:
        raise NotFoundError(f"nothing in the atlas matches {query!r}",
                            _suggestions(index, atlas, query, layers))
    return _candidates_frame(rows, atlas)


def _suggestions(index: _NameIndex, atlas: Atlas, query: str, layers: Iterable[str] | None) -> list[str]:
    rows = index.fuzzy(query, layers, n=12, cutoff=0.45)
    rows += _keyed_search(index, atlas, query, layers, fuzzy={"n": 12, "cutoff": 0.45})
    rows.sort(key=lambda r: -r["score"])
    out = []
    for r in rows:
        label = f"{r['name']} ({r['id']})" if r["id"] != r["name"] else r["name"]
        if label not in out:
            out.append(label)
    return out[:5]


#: The GeoPackage's table of retired ids (:mod:`atlas.ids`).
RETIRED = "retired_ids"


def retired_id(query: str, gpkg: Atlas | Path | str | None = None) -> dict | None:
    """What became of a retired id: merged into another, or withdrawn (None when ``query`` is not one).

    Parameters
    ----------
    query : str
        An id as written (case and surrounding spaces ignored).
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas; one without the ``retired_ids`` table (built before ids were registered) has none.

    Returns
    -------
    dict or None
        ``id``, ``layer``, ``state`` (``merged`` or ``withdrawn``), ``into``, ``reason``,
        ``retired_in`` (the release that retired it).

    Examples
    --------
    >>> import atlas
    >>> atlas.retired_id("KLS-15") is None  # a current id
    True
    """
    return retired_ids(gpkg).get(str(query).strip().upper())


def retired_ids(gpkg: Atlas | Path | str | None = None) -> dict[str, dict]:
    """Every retired id of an atlas (upper case) and what became of it, as :func:`retired_id` answers.

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas; one without the ``retired_ids`` table has none.

    Returns
    -------
    dict of str to dict
        Read once per opened atlas.
    """
    atlas = open_atlas(gpkg)
    if not atlas.has(RETIRED):
        return {}
    return atlas.memo("search:retired", lambda: {str(r["id"]).upper(): {k: str(v) for k, v in r.items()}
                                                  for r in atlas.layer(RETIRED).to_dict("records")})


#: Layers of places a site lies in: a site named like one (the camp Yodok, Yodok County) is the one meant.
_AREA_LAYERS = ("counties", "provinces", "mineral_deposits")


def _site_over_its_namesakes(named: pd.DataFrame):
    """The one site among ``named`` when every other is an area that shares its name, else None.

    ``Yodok`` names the camp (KLS-15) and the county it lies in: a person asking for
    ``Yodok`` with no kind means the camp, and ``Yodok County`` names the county. Two sites
    (``Kaechon``: kwan-li-so 14, kyo-hwa-so 1, ...) stay ambiguous.
    """
    areas = named["layer"].isin(_AREA_LAYERS)
    if (~areas).sum() != 1 or not areas.any():
        return None
    return named[~areas].iloc[0]


def resolve(
    query: str | Site,
    gpkg: Atlas | Path | str | None = None,
    layers: Iterable[str] | None = None,
) -> Site:
    """Exactly one feature for a query, or an error listing the candidates.

    A query resolves when exactly one feature matches it by id, number or
    name (in any romanization); features that only hold the query as a word
    of a longer name (``Gaecheon Coal Mine`` for ``Kaechon``) count only when
    nothing else matches. A site named like the areas it lies in is the
    one meant, with a warning naming the others: ``Yodok`` is kwan-li-so 15
    (not Yodok County, which ``Yodok County`` names). Otherwise it is
    ambiguous: ``Kaechon`` is a county, two camps and more.

    Parameters
    ----------
    query : str or Site
        As for :func:`find`; a :class:`Site` is returned as is.
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas (a GeoPackage, a PostGIS URL or an open :class:`~atlas.store.Atlas`);
        defaults to ``output/atlas.gpkg``.
    layers : iterable of str, optional
        Consider only these layers (e.g. ``["camps"]`` to make ``Yodok`` the camp).

    Returns
    -------
    Site
        With its geometry (None when it has no public coordinate) and a note
        on what its location means for distances.

    Raises
    ------
    AmbiguousError
        Several candidates; ``.candidates`` holds them, ranked (exit code 2).
    NotFoundError
        Nothing, or only names close in spelling, matches; the message lists
        the closest (exit code 2).

    Examples
    --------
    >>> import atlas
    >>> atlas.resolve("kwan-li-so 14").id
    'KLS-14'
    >>> atlas.resolve("Yodok", layers=["camps"]).id
    'KLS-15'
    >>> atlas.resolve("Kaechon")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atlas.errors.AmbiguousError: 'Kaechon' matches ...
    """
    if isinstance(query, Site):
        return query
    atlas = open_atlas(gpkg)
    gone = retired_id(query, atlas)
    if gone is not None:
        if gone["state"] != "merged":
            raise NotFoundError(f"{gone['id']} was withdrawn in release {gone['retired_in']}: {gone['reason']}")
        warnings.warn(f"{gone['id']} was merged into {gone['into']} in release {gone['retired_in']} "
                      f"({gone['reason']}): showing {gone['into']}", UserWarning, stacklevel=2)
        query = gone["into"]
    hits = find(query, atlas, layers, fuzzy=True)
    ids = hits[hits["match"] == "exact id"]
    named = hits[~hits["match"].isin(["part of name", "fuzzy", "name, not that kind"])]
    parts = hits[hits["match"] == "part of name"]
    if len(ids) == 1:
        top = ids.iloc[0]
    elif len(named) == 1 or (named.empty and len(parts) == 1):
        top = (named if len(named) else parts).iloc[0]
    elif (site := _site_over_its_namesakes(named)) is not None:
        top = site
        others = named[named["id"] != site["id"]]
        warnings.warn(f"{query!r} is also {'; '.join(f'{r.name} ({r.id}, {r.layer})' for r in others.itertuples())}: "
                      f"showing the {site['layer'].rstrip('s').replace('_', ' ')} {site['id']} {site['name']}; "
                      f"name the other by its kind ({others['name'].iloc[0]!r})", UserWarning, stacklevel=2)
    elif named.empty and parts.empty:
        labels = [f"{n} ({i})" for n, i in zip(hits["name"], hits["id"])][:5]
        raise NotFoundError(f"nothing in the atlas is named {query!r}", labels)
    else:
        cands = named if len(named) else parts
        listing = "; ".join(
            f"{r.id} {r.name} [{r.layer}, {r.match}]" for r in cands.head(12).itertuples())
        more = f" and {len(cands) - 12} more" if len(cands) > 12 else ""
        if len(named) and len(parts):
            more += ("; and by a word of a longer name: "
                     + "; ".join(f"{r.id} {r.name}" for r in parts.head(6).itertuples()))
        raise AmbiguousError(
            f"{query!r} matches {len(cands)} features: {listing}{more}. Give an id "
            "(e.g. KLS-14), add the kind (kwan-li-so 22, Yodok County) or restrict the layer.",
            hits.drop(columns="geometry").to_dict("records"))
    if top["layer"] in name_index(atlas).keyed:  # read only the feature, not the user's whole layer
        where = f"user_id = '{str(top['id']).replace(chr(39), chr(39) * 2)}'"
        frame = atlas.read(top["layer"], where=where).reset_index(drop=True)
    else:
        frame = atlas.layer(top["layer"])
    pos = int(np.flatnonzero(uniform_frame(top["layer"], frame)["id"].to_numpy() == top["id"])[0])
    return site_from_row(top["layer"], frame, pos)
