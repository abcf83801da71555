"""Normalising North Korean place names so that any romanization matches.

Users write the same place as ``Kaechon``, ``Kaech'ŏn``, ``Gaecheon`` or
``개천``; ``Yodok``, ``Yodŏk``; ``Tanchon``, ``Dancheon``. :func:`normalize`
folds case, diacritics, apostrophes, hyphens and spaces; :func:`keys` adds the
folds between McCune-Reischauer and Revised Romanization spellings (k/g, t/d,
ch/j, p/b initials; ŏ → eo, ŭ → eu) so both forms meet on one key. Hangul is
kept as Hangul (NFC), with administrative suffixes such as 군/시/구역 removed.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["HANGUL_SUFFIXES", "LATIN_SUFFIXES", "is_hangul", "keys", "normalize", "rr_fold"]

HANGUL_SUFFIXES = re.compile(r"(특별시|직할시|특급시|구역|지구|군|시|구|읍|리|동|도)$")
LATIN_SUFFIXES = re.compile(
    r"(county|city|district|province|gun|si|guyok|kuyok|up|ri|dong|do|ku|nodongjagu)$"
)
_BREVE = str.maketrans({"ŏ": "eo", "ŭ": "eu", "Ŏ": "eo", "Ŭ": "eu"})


def is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"


def normalize(text: str) -> str:
    """Fold case, diacritics, apostrophes, hyphens and spaces; keep Hangul as Hangul.

    Parameters
    ----------
    text : str

    Returns
    -------
    str

    Examples
    --------
    >>> normalize("Kaech'ŏn")
    'kaechon'
    >>> normalize("Yodŏk-gun")
    'yodokgun'
    >>> normalize("개천시")
    '개천시'
    """
    text = str(text or "")
    if text.isascii():  # most names, and every row of a big user layer: no diacritics, no Hangul
        return _NOT_LATIN.sub("", text.lower())
    text = unicodedata.normalize("NFC", text)
    return _NOT_KEY.sub("", "".join(map(_fold_char, text)))


_NOT_KEY = re.compile(r"[^0-9a-z\uac00-\ud7a3]")
_NOT_LATIN = re.compile(r"[^a-z0-9]")
_WORDS = re.compile(r"[\s;,/()]+")


@functools.cache
def _fold_char(ch: str) -> str:
    """One character without case or diacritics; Hangul as it is (its NFD would split it into jamo)."""
    if is_hangul(ch):
        return ch
    return "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c)).lower()


_RR_STEPS = tuple((re.compile(pattern), repl) for pattern, repl in (
    (r"^g", "k"), (r"^d", "t"), (r"^b", "p"), (r"^j", "ch"),
))
_RR_AFTER_VOWEL = tuple((re.compile(pattern), repl) for pattern, repl in (
    (r"(?<=[aeiouwyN])g", "k"), (r"(?<=[aeiouwyN])d", "t"), (r"(?<=[aeiouwyN])b", "p"),
    (r"(?<=[aeiouwyN])j", "ch"),
))
_RR_INITIAL_R = re.compile(r"^r(?=[aeiouy])")


def rr_fold(latin: str) -> str:
    """Fold McCune-Reischauer and Revised Romanization onto one spelling.

    Examples
    --------
    >>> rr_fold("dancheon"), rr_fold("tanchon"), rr_fold("ryongyang")
    ('tanchon', 'tanchon', 'yongyang')
    """
    s = latin
    s = s.replace("eo", "o").replace("eu", "u").replace("oo", "u").replace("oi", "oe")
    for pattern, repl in _RR_STEPS:
        s = pattern.sub(repl, s)
    s = s.replace("ng", "N")  # protect 'ng' from the g→k fold
    for pattern, repl in _RR_AFTER_VOWEL:
        s = pattern.sub(repl, s)
    s = s.replace("N", "ng")
    s = _RR_INITIAL_R.sub("", s)  # Ryongyang / Yongyang
    return s.replace("ph", "p").replace("kh", "k").replace("th", "t").replace("chh", "ch")


def keys(text: str) -> set[str]:
    """Every normalised form under which ``text`` should be found.

    Parameters
    ----------
    text : str
        A name in any romanization or in Hangul.

    Returns
    -------
    set of str
        The normalised text, the same without an administrative suffix, and
        their romanization folds.

    Examples
    --------
    >>> keys("Dancheon") & keys("Tanchon") != set()
    True
    >>> "개천" in keys("개천시")
    True
    """
    text = str(text or "")
    ascii_only = text.isascii()  # no Hangul to look for
    text = text if ascii_only else unicodedata.normalize("NFC", text).translate(_BREVE)
    base = normalize(text)
    if not base:
        return set()
    out = {base}
    words = [] if ascii_only else [normalize(w) for w in _WORDS.split(text)]
    for hangul in {"".join(ch for ch in base if is_hangul(ch)), *words}:
        if not hangul or not all(is_hangul(ch) for ch in hangul):
            continue
        out.add(hangul)
        trimmed = HANGUL_SUFFIXES.sub("", hangul)
        if len(trimmed) >= 2:
            out.add(trimmed)
    latin = _NOT_LATIN.sub("", base)
    if latin:
        for form in {latin, LATIN_SUFFIXES.sub("", latin)}:
            if len(form) >= 3:
                out.add(form)
                out.add(rr_fold(form))
    return out
