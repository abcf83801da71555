"""When was it seen? A finding's date text as the interval it can mean.

Sources date what they saw in many ways: a day, a month, a year, a range of
imagery dates, "the 1970s", "2008 or earlier", a blog post's date. The atlas
keeps the text as given and stores the interval it means: the **first and last
day** the text can cover (``date_start``, ``date_end``; ``None`` where that end
is open) and how fine the text is (``date_precision``). :func:`parse_date_text`
applies one rule set, :data:`RULES`, in order; the first rule that matches
decides. A text no rule reads is an error, never a silent blank.

The rules (also in docs/evidence-and-time.md):

==============  ======================================  ===========================================
rule            text (examples)                         interval
==============  ======================================  ===========================================
undated         ``testimony``, ``undated (NK Pro)``,    no start, no end, precision ``undated``
                empty
published by    ``2014-12 (post)``, ``2016 (report)``,  the date is when a post or report was
                ``2016 (publication)``                  published: the observation **ended by**
                                                        then. No start; end = the last day of
                                                        the date
open start      ``by 2014-10``, ``to 2023``,            no start; end = the last day of the date
                ``2008 or earlier``, ``until 2012``,    (``before Y``: the last day of Y - 1)
                ``before 2012``
open end        ``since 2012``, ``from 2012``,          start = the first day of the date
                ``2015 or later``, ``after 2011``       (``after Y``: the first day of Y + 1);
                                                        no end
compound        ``1962-1972 & 2002-2019``               the envelope of the parts (the text
                                                        stays as given: it says where the gaps are)
range           ``2013-09..2014-12``, ``2016..2021``,   first day of the first date to the last
                ``1962-1972``, ``1974–2001``            day of the second
decades         ``1970s``, ``1970s-1990s``,             first day of the first decade (or its
                ``mid-1960s``                           early/mid/late third) to the last day of
                                                        the last
single          ``2014-12-31``, ``2014-12``, ``2006``,  the first to the last day the date covers
                ``May 2012``, ``c. 1997``
==============  ======================================  ===========================================

A date is ``YYYY-MM-DD``, ``YYYY-MM``, ``YYYY``, or a month name and year
(``May 2012``, ``Sep 2013``); ``c.``/``ca.``/``about``/``~`` before a date
marks it approximate (kept in ``date_rule``). A note in parentheses that is not
``(post)``, ``(report)`` or ``(publication)`` (``2006 (imagery)``,
``before 2012 (pre-relocation of Camp 18)``) is a note: the date before it is
read as usual. ``date_precision`` is the coarsest of the dates the text names:
``day``, ``month``, ``year``, ``decade`` or ``undated``.

Dates are plain :class:`datetime.date` objects, so dates before 1970
(declassified KH-4 imagery is from 1967) are ordinary values; the GeoPackage
stores them as ``DATE`` fields (ISO text), which QGIS, GDAL and pandas read.

Examples
--------
>>> from atlas.dates import parse_date_text
>>> parse_date_text("2013-09..2014-12")
DateInterval(start=datetime.date(2013, 9, 1), end=datetime.date(2014, 12, 31), precision='month', rule='range', text='2013-09..2014-12')
>>> parse_date_text("2014-12 (post)").as_row()
{'date_start': None, 'date_end': '2014-12-31', 'date_precision': 'month', 'date_rule': 'published by'}
>>> parse_date_text("1960s").start.isoformat()
'1960-01-01'
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from .errors import InputError

__all__ = ["PRECISIONS", "RULES", "DateInterval", "DateParseError", "parse_as_of",
           "parse_date_text"]

#: Finest to coarsest.
PRECISIONS = ("day", "month", "year", "decade", "undated")

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_name) if m})
_MONTHS["sept"] = 9


class DateParseError(InputError):
    """A date text that no rule of :data:`RULES` reads."""


@dataclass(frozen=True)
class DateInterval:
    """The days a date text can mean.

    Attributes
    ----------
    start, end : datetime.date or None
        First and last day covered; None where the text leaves that end open.
    precision : str
        One of :data:`PRECISIONS`.
    rule : str
        The rule of :data:`RULES` that read the text (``approximate`` added
        for ``c. 1997``).
    text : str
        The text as given.
    """

    start: date | None
    end: date | None
    precision: str
    rule: str
    text: str

    def as_row(self) -> dict:
        """The columns of the findings layer: ISO dates (or None), precision, rule."""
        return {
            "date_start": self.start.isoformat() if self.start else None,
            "date_end": self.end.isoformat() if self.end else None,
            "date_precision": self.precision,
            "date_rule": self.rule,
        }


_DATE = r"(?:(?:c\.|ca\.|about|~)\s*)?(?:\d{4}(?:-\d{1,2}(?:-\d{1,2})?)?|[A-Za-z]{3,9}\.?\s+\d{4})"


def _one(token: str) -> tuple[date, date, str, bool]:
    """First day, last day, precision and approximate-flag of one date."""
    token = token.strip()
    approx = bool(re.match(r"(c\.|ca\.|about|~)", token))
    token = re.sub(r"^(c\.|ca\.|about|~)\s*", "", token)
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", token):
            d = date(*map(int, m.groups()))
            return d, d, "day", approx
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})", token):
            y, mo = map(int, m.groups())
            return date(y, mo, 1), date(y, mo, calendar.monthrange(y, mo)[1]), "month", approx
        if m := re.fullmatch(r"([A-Za-z]{3,9})\.?\s+(\d{4})", token):
            mo = _MONTHS.get(m.group(1).lower())
            if mo is None:
                raise DateParseError(f"{m.group(1)!r} is not a month")
            y = int(m.group(2))
            return date(y, mo, 1), date(y, mo, calendar.monthrange(y, mo)[1]), "month", approx
        if m := re.fullmatch(r"(\d{4})", token):
            y = int(m.group(1))
            return date(y, 1, 1), date(y, 12, 31), "year", approx
    except ValueError as exc:  # month 13, day 31 of a 30-day month
        raise DateParseError(f"{token!r} is not a calendar date ({exc})") from None
    raise DateParseError(f"{token!r} is not a date")


def _coarsest(*precisions: str) -> str:
    return max(precisions, key=PRECISIONS.index)


def _decade(token: str) -> tuple[date, date]:
    m = re.fullmatch(r"(?:(early|mid|late)[- ])?(\d{3})0s", token.strip())
    if not m:
        raise DateParseError(f"{token!r} is not a decade")
    part, d0 = m.group(1), int(m.group(2)) * 10
    lo, hi = {"early": (0, 3), "mid": (3, 6), "late": (6, 9), None: (0, 9)}[part]
    return date(d0 + lo, 1, 1), date(d0 + hi, 12, 31)


def _decades(a: str, b: str, text: str) -> DateInterval:
    start, end = _decade(a)[0], _decade(b)[1]
    if end < start:
        raise DateParseError(f"{text!r}: the range ends before it starts")
    return DateInterval(start, end, "decade", "decades", text)


def _single(head: str, text: str) -> DateInterval:
    s, e, p, approx = _one(head)
    return DateInterval(s, e, p, "single" + (", approximate" if approx else ""), text)


def _range(a: str, b: str, text: str) -> DateInterval:
    s, _, p1, ap1 = _one(a)
    _, e, p2, ap2 = _one(b)
    if e < s:
        raise DateParseError(f"{text!r}: the range ends before it starts")
    return DateInterval(s, e, _coarsest(p1, p2), "range" + (", approximate" if ap1 or ap2 else ""),
                        text)


def _compound(head: str, text: str) -> DateInterval:
    parts = [_parse_head(p.strip(), text) for p in re.split(r"\s*(?:&|;|\band\b)\s*", head)]
    if any(p.start is None or p.end is None for p in parts):
        raise DateParseError(f"{text!r}: a compound date needs closed parts")
    return DateInterval(min(p.start for p in parts), max(p.end for p in parts),
                        _coarsest(*(p.precision for p in parts)), "compound", text)


#: The rules, in the order they are tried on the text with its trailing note removed:
#: ``(name, pattern, reader)``. ``reader(match, text)`` returns the interval.
RULES: tuple[tuple[str, str, Callable[[re.Match, str], DateInterval]], ...] = (
    ("undated", r"(?:testimony|undated|unknown|n\.d\.)?",
     lambda m, t: DateInterval(None, None, "undated", "undated", t)),
    ("open start", rf"(?:by|to|until|up to)\s+({_DATE})",
     lambda m, t: DateInterval(None, _one(m[1])[1], _one(m[1])[2], "open start", t)),
    ("open start", rf"({_DATE})\s+or\s+(?:earlier|before)",
     lambda m, t: DateInterval(None, _one(m[1])[1], _one(m[1])[2], "open start", t)),
    ("open start", r"before\s+(\d{4})",
     lambda m, t: DateInterval(None, date(int(m[1]) - 1, 12, 31), "year", "open start", t)),
    ("open end", rf"(?:since|from)\s+({_DATE})",
     lambda m, t: DateInterval(_one(m[1])[0], None, _one(m[1])[2], "open end", t)),
    ("open end", rf"({_DATE})\s+or\s+later",
     lambda m, t: DateInterval(_one(m[1])[0], None, _one(m[1])[2], "open end", t)),
    ("open end", r"after\s+(\d{4})",
     lambda m, t: DateInterval(date(int(m[1]) + 1, 1, 1), None, "year", "open end", t)),
    ("compound", rf"{_DATE}(?:\s*(?:\.\.|-|–)\s*{_DATE})?(?:\s*(?:&|;|\band\b)\s*"
                 rf"{_DATE}(?:\s*(?:\.\.|-|–)\s*{_DATE})?)+",
     lambda m, t: _compound(m[0], t)),
    ("range", rf"({_DATE})\s*\.\.\s*({_DATE})", lambda m, t: _range(m[1], m[2], t)),
    ("range", r"(\d{4})\s*[-–]\s*(\d{4})", lambda m, t: _range(m[1], m[2], t)),
    ("decades", r"((?:(?:early|mid|late)[- ])?\d{3}0s)(?:\s*(?:-|–|\.\.|to)\s*"
                r"((?:(?:early|mid|late)[- ])?\d{3}0s))?",
     lambda m, t: _decades(m[1], m[2] or m[1], t)),
    ("single", _DATE, lambda m, t: _single(m[0], t)),
)

_PUBLISHED = re.compile(r"\((?:post|report|publication|published)\)", re.I)


def _parse_head(head: str, text: str) -> DateInterval:
    for _name, pattern, reader in RULES:
        if m := re.fullmatch(pattern, head, flags=re.I):
            return reader(m, text)
    raise DateParseError(
        f"date text {text!r} matches no rule of atlas.dates.RULES "
        "(a day, month, year, range, decade, 'by …', '… or earlier', 'since …', or 'undated')"
    )


def parse_date_text(text: str | None) -> DateInterval:
    """The interval a finding's date text means, by the first rule of :data:`RULES` that reads it.

    Parameters
    ----------
    text : str or None
        The date as the source gives it (``observed_on_or_between``).

    Returns
    -------
    DateInterval

    Raises
    ------
    DateParseError
        No rule reads the text, or it names an impossible date.

    Examples
    --------
    >>> parse_date_text("2008 or earlier").as_row()
    {'date_start': None, 'date_end': '2008-12-31', 'date_precision': 'year', 'date_rule': 'open start'}
    >>> i = parse_date_text("1967-05 (imagery)")
    >>> i.start, i.end, i.precision
    (datetime.date(1967, 5, 1), datetime.date(1967, 5, 31), 'month')
    >>> parse_date_text("1962-1972 & 2002-2019").as_row()["date_rule"]
    'compound'
    """
    text = "" if text is None else str(text)
    raw = text.strip()
    published = bool(_PUBLISHED.search(raw))
    head = re.sub(r"\s*\([^()]*\)\s*$", "", raw).strip()
    if published:
        _s, e, p, _ = _one(head)
        return DateInterval(None, e, p, "published by", text)
    return _parse_head(head, text)


def parse_as_of(value: str | date) -> date:
    """The day an ``--as-of`` value means: the **last** day it covers.

    ``2014-06`` is 2014-06-30, ``2010`` is 2010-12-31: the status as of a
    month or year is the status at its end, with all its evidence known.

    Examples
    --------
    >>> parse_as_of("2014-06")
    datetime.date(2014, 6, 30)
    >>> parse_as_of("1967")
    datetime.date(1967, 12, 31)
    """
    if isinstance(value, date):
        return value
    try:
        return _one(str(value))[1]
    except DateParseError:
        raise DateParseError(
            f"--as-of {value!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)") from None
