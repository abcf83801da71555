"""The products' interface in more than one language: one catalogue a translator edits, read at run time.

The dossier (HTML and PDF) and the static site speak English by default and
Korean with ``lang="ko"`` (``atlas dossier --lang ko``, ``atlas site --lang ko``).
Every interface string (a heading, a label, a note, a status word) is marked in
the code (``N_("...")`` in Python, ``{{ _("...") }}`` in the templates) and its
translation lives in one gettext catalogue,
``atlas/locale/<lang>/LC_MESSAGES/atlas.po``, which a translator edits with any
PO editor (Poedit, Lokalize, a text editor). The catalogue is read when a
product is written (Babel parses it; no compiled ``.mo`` to keep in step).
Data values (names, descriptions, quotations, source titles) are never
translated: they are the sources' words. Dates are written in each language's
form (:func:`format_date`): ISO in English, as the pages always gave them,
``2014년 6월 1일`` in Korean.
"""

from __future__ import annotations

import gettext as _gettext
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from functools import cache
from importlib import resources

from .errors import InputError

__all__ = ["DEFAULT_LANG", "LANGS", "N_", "TERMS", "catalogue_path", "check_lang", "current_lang", "format_date",
           "gettext", "js_messages", "js_translations", "term", "translate", "translations", "use_lang"]

#: The languages a product can be written in; the first is the default.
LANGS = ("en", "ko")
DEFAULT_LANG = "en"


def N_(message: str) -> str:
    """Mark a string for the catalogue without translating it here (it is translated where it is shown).

    Examples
    --------
    >>> N_("closed")
    'closed'
    """
    return message


#: Interface words the products show from values the code chooses (status classes, kinds, labels of
#: dates, compass points): each is looked up in the catalogue where it is shown (``term`` in the
#: templates). A value that is not one of these (a data value) is shown as it is.
TERMS = (
    # status classes (atlas.evidence.STATUSES)
    N_("active"), N_("closed"), N_("relocated"), N_("contested"), N_("unknown"),
    # kinds (atlas.style.KIND_LABELS) and a mine
    N_("kwan-li-so (political prison camp)"), N_("kyo-hwa-so (prison labour camp)"),
    N_("suspected or other site"), N_("mine"), N_("Mine"), N_("kwan-li-so"), N_("kyo-hwa-so"), N_("other"),
    # the dates a status is given at
    N_("the build date"), N_("the report (May 2016)"),
    # the sources list's headings
    N_("location and record"), N_("published coordinates"), N_("findings"), N_("report quoted"),
    N_("facts cited to their sources"), N_("quoted for research and reporting; facts cited to the report"),
    # compass points (atlas.dossier.compass)
    N_("N"), N_("NNE"), N_("NE"), N_("ENE"), N_("E"), N_("ESE"), N_("SE"), N_("SSE"), N_("S"), N_("SSW"),
    N_("SW"), N_("WSW"), N_("W"), N_("WNW"), N_("NW"), N_("NNW"),
    # the report's Table 1 classes of a commodity (atlas.style.COMMODITY_COLOURS)
    N_("coal"), N_("iron ore"), N_("non-ferrous metal"), N_("non-metallic mineral"),
    # the notes under the province summary (atlas.summaries: the attrs of province_summary)
    N_("boundary source"), N_("boundary vintage"), N_("method"), N_("status as of"), N_("sanctions"),
    N_("gpkg"), N_("banner"),
    # the report's tables (the site's Report tables page)
    N_("report table 1"), N_("report table 2"), N_("report table 3"), N_("report table 4"), N_("report table 5"),
    N_("report discrepancies"),
    # kinds of change (atlas.diff.CHANGES)
    N_("layer added"), N_("layer removed"), N_("added"), N_("removed"), N_("moved"), N_("located"),
    N_("unlocated"), N_("reshaped"), N_("renamed"), N_("status"), N_("changed"),
    # evidence tiers (atlas.evidence.TIERS, their names) and how sure a finding is
    N_("imagery and testimony agree"), N_("sources disagree"), N_("imagery, no testimony"),
    N_("testimony, no imagery"), N_("secondary sources only"), N_("nothing counts"),
    N_("stated"), N_("hedged"),
    # what a finding rests on (atlas.style.evidence_label) and its date's precision
    N_("imagery"), N_("testimony"), N_("official"), N_("media"), N_("report"),
    N_("testimony (first-hand)"), N_("testimony (second-hand)"), N_("testimony (hand unstated)"),
    N_("day"), N_("month"), N_("year"), N_("decade"), N_("undated"),
    # finding types (atlas.style.FINDING_TYPE_LABELS)
    N_("mine in operation"), N_("mine present"), N_("mine inactive"), N_("mining facilities dismantled"),
    N_("economic activity"), N_("housing razed"), N_("housing added"), N_("closure"), N_("rail line"),
    N_("imagery coverage"), N_("security upgraded"), N_("extent of the camp"), N_("population increase"),
    N_("infrastructure"), N_("detention in operation"), N_("expansion"), N_("demolition"),
    N_("camp described"), N_("forced labour"), N_("mine identified"), N_("mine labour"), N_("mine operated"),
    N_("prisoner transfer"), N_("relocation"), N_("report statement"), N_("flooding"), N_("gem status"),
    N_("opening year"), N_("reduced output"),
    # the UN measures and the commodities they name (atlas.sanctions: the atlas's sanctions_measures table)
    N_("ban"), N_("cap"), N_("ban with exception"), N_("gold"), N_("titanium"), N_("vanadium"), N_("rare earths"),
    N_("copper"), N_("nickel"), N_("silver"), N_("zinc"), N_("lead"), N_("magnesite"),
    N_("other non-metallic minerals"),
    # location precision classes
    N_("site"), N_("camp-area"), N_("uncertain"), N_("none"), N_("approximate"), N_("town"),
)


def check_lang(lang: str | None) -> str:
    """The language asked for, checked (``None`` is the default, English).

    Raises
    ------
    InputError
        Not one of :data:`LANGS`.

    Examples
    --------
    >>> check_lang(None), check_lang("ko")
    ('en', 'ko')
    """
    lang = DEFAULT_LANG if lang is None else str(lang).strip().lower()
    if lang not in LANGS:
        raise InputError(f"language {lang!r} is not one of {', '.join(LANGS)}")
    return lang


def catalogue_path(lang: str):
    """The catalogue of a language (a PO file in the package), as an importlib resource.

    Examples
    --------
    >>> catalogue_path("ko").name
    'atlas.po'
    """
    return resources.files("atlas") / "locale" / check_lang(lang) / "LC_MESSAGES" / "atlas.po"


@cache
def translations(lang: str | None = None) -> _gettext.NullTranslations:
    """The translations of a language, read from its catalogue (English: none, every string as written).

    A message the catalogue leaves empty or marks fuzzy is shown in English (gettext's rule).

    Examples
    --------
    >>> translations("ko").gettext("closed")
    '폐쇄'
    >>> translations("en").gettext("closed")
    'closed'
    """
    lang = check_lang(lang)
    if lang == DEFAULT_LANG:
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with catalogue_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain="atlas")
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def translate(message: str, lang: str | None = None) -> str:
    """One interface string in a language (the string itself where the catalogue has none).

    Examples
    --------
    >>> translate("contested", "ko")
    '상충'
    """
    return translations(lang).gettext(message)


_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def format_date(value, lang: str | None = None) -> str:
    """A date (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, or a :class:`datetime.date`) in a language's form.

    English keeps the ISO form the pages have always shown; Korean writes
    ``2014년 6월 1일`` (Babel's CLDR data), ``2014년 6월``, ``2014년``. Anything
    else (empty, a date in words from a source) is returned as it is.

    Examples
    --------
    >>> format_date("2014-06-01", "ko"), format_date("2014-06", "ko"), format_date("2014-06-01")
    ('2014년 6월 1일', '2014년 6월', '2014-06-01')
    """
    lang = check_lang(lang)
    text = value.isoformat()[:10] if isinstance(value, date) else ("" if value is None else str(value))
    if lang == DEFAULT_LANG:
        return text
    text = text.strip()
    m = _PARTIAL.match(text[:10]) if len(text) <= 10 or text[10] in "T " else None  # a timestamp: its day
    if not m:
        return text
    from babel.dates import format_date as babel_date
    from babel.dates import format_skeleton

    year, month, day = m.groups()
    when = date(int(year), int(month or 1), int(day or 1))
    if day:
        return babel_date(when, format="long", locale=lang)
    return format_skeleton("yMMMM" if month else "y", when, locale=lang)


# --- the language of the product being written --------------------------------------------------
#
# The map's layers (atlas.map_layers) compose their popups, tooltips and legends in many small
# functions: rather than pass a language through each, the product being written sets it here
# (use_lang) and they look their strings up with gettext (marked ``_("...")`` where they are called).

_LANG: ContextVar[str] = ContextVar("atlas_lang", default=DEFAULT_LANG)


@contextmanager
def use_lang(lang: str | None) -> Iterator[str]:
    """Write a product in a language: :func:`gettext` and :func:`term` answer in it until the block ends.

    Examples
    --------
    >>> with use_lang("ko"):
    ...     gettext("Legend"), current_lang()
    ('범례', 'ko')
    >>> gettext("Legend")
    'Legend'
    """
    token = _LANG.set(check_lang(lang))
    try:
        yield _LANG.get()
    finally:
        _LANG.reset(token)


def current_lang() -> str:
    """The language of the product being written (:func:`use_lang`; English outside one).

    Examples
    --------
    >>> current_lang()
    'en'
    """
    return _LANG.get()


def gettext(message: str) -> str:
    """An interface string in the language of the product being written (:func:`use_lang`).

    Examples
    --------
    >>> gettext("Legend")
    'Legend'
    """
    lang = _LANG.get()
    return message if lang == DEFAULT_LANG else translations(lang).gettext(message)


def term(value):
    """An interface word the code chose (one of :data:`TERMS`: a status, a kind, a precision) in the
    language of the product being written; any other value (a data value) as it is.

    Examples
    --------
    >>> with use_lang("ko"):
    ...     term("closed"), term("Yodok")
    ('폐쇄', 'Yodok')
    """
    if not isinstance(value, str):  # not a word at all (None, a number, NaN): as it is
        return value
    return gettext(value) if value in _TERM_SET else value


_TERM_SET = frozenset(TERMS)


@cache
def js_messages() -> tuple[str, ...]:
    """The strings the map's script marks (``_("...")`` in ``atlas/_webmap.js``), read by Babel's extractor.

    The script holds only these English originals; their translations are in the one catalogue,
    and the map's page carries those the script needs (:func:`js_translations`).

    Examples
    --------
    >>> "Legend" in js_messages()
    True
    """
    from babel.messages.extract import extract

    with (resources.files("atlas") / "_webmap.js").open("rb") as f:  # as pybabel extract reads it (babel.cfg)
        found = {msg for _line, msg, _comments, _context in extract("javascript", f, keywords={"_": None})}
    return tuple(sorted(m for m in found if isinstance(m, str) and m))


def js_translations(lang: str | None) -> dict[str, str]:
    """The map script's strings translated into a language, from the catalogue (empty for English:
    the script then shows its own English originals).

    Examples
    --------
    >>> js_translations("ko")["Legend"], js_translations("en")
    ('범례', {})
    """
    lang = check_lang(lang)
    if lang == DEFAULT_LANG:
        return {}
    t = translations(lang)
    return {m: t.gettext(m) for m in js_messages()}
