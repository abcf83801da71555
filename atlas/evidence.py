"""What does the evidence say about a site on a day, and why? The one rule, pure.

Each finding (``camp_findings``, ``mine_findings``) carries, curated in
``geodata/camps/findings.csv`` and ``geodata/mines/mine_findings.csv`` with its
reasons:

- ``evidence_basis``, one of :data:`BASES`: ``imagery``, ``testimony``
  (``testimony_hand``: ``first-hand``, ``second-hand``, ``unstated``),
  ``official`` (a government or UN statement), ``media``, ``report``;
- ``status_signal``, one of :data:`SIGNALS`: ``active``, ``closed``,
  ``relocated`` or ``none`` (says nothing of the site's status);
- ``signal_strength``: ``stated``, or ``hedged`` when its source withholds the
  conclusion ("too soon to say the camp is closed");
- ``date_start``/``date_end``: the first and last day its date text can mean
  (:mod:`atlas.dates`; ``None`` where open).

**The rule** (docs/evidence.md, with P1, P2 and P3 adopted), applied by
:func:`status_from_findings` (and, for every site and year, :func:`yearly_status`):

1. A finding **counts** only if it is dated, ``stated`` and its signal is not
   ``none``. Hedged and undated findings never count; the explanation says so.
2. An ``active`` finding counts from its first day until :data:`WINDOW_YEARS`
   years after its last day. With an open start it counts on its last day only
   (an open-start or undated account never makes a site active after its
   latest possible day); with an open end, for the window from its first day.
   **P1**: the window after its last day ends the day before a later
   ``closed``/``relocated`` finding begins to count. **P2**: it also ends the
   day before the first day of a later *hedged* ``closed``/``relocated``
   finding (doubt ends a presumption; it decides nothing).
3. A ``closed`` or ``relocated`` finding counts from its last day and holds
   until later evidence: the day before a counting finding of another signal,
   known after that last day, begins to count. **P3**: a closure or relocation
   whose first day is after an earlier closure's last day says the site
   operated until then: it stands against that earlier closure on every day
   the earlier one counts before the later one does.
4. On the day: nothing counts → ``unknown``; everything that counts agrees →
   its signal; otherwise ``contested``, naming both sides (``deciding``: the
   side of the finding known latest; ``against``: the other).

Statuses: :data:`STATUSES`. ``sources_disagree`` is true exactly when the
status is ``contested``. The evidence tier and its label (:func:`tier_of`) say
which bases count on the day and whether they agree.

Examples
--------
>>> import atlas
>>> s = atlas.status_at("KLS-22", "2014-01-01")
>>> s.status, list(s.deciding["finding_id"]), s.sources_disagree
('closed', ['F025', 'F027'], False)
>>> atlas.status_at("KLS-18", "2010-01-01").summary
'as of 2010-01-01: contested (F019 against F052); latest evidence 2006-12-31, stated'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

import pandas as pd

from .dates import parse_as_of
from .errors import InputError
from .i18n import DEFAULT_LANG, N_, current_lang, format_date, gettext, term, use_lang

__all__ = [
    "BASES",
    "SIGNALS",
    "STATUSES",
    "STRENGTHS",
    "TIERS",
    "WINDOW_YEARS",
    "SiteStatus",
    "first_year",
    "rows_by_site",
    "site_evidence",
    "status_from_findings",
    "tier_of",
    "year_span",
    "yearly_status",
]

BASES = ("imagery", "testimony", "official", "media", "report")
HANDS = ("first-hand", "second-hand", "unstated")
SIGNALS = ("active", "closed", "relocated", "none")
STRENGTHS = ("stated", "hedged")
#: The one set of status values, everywhere (status, show, summary, the map, the products).
STATUSES = ("active", "closed", "relocated", "contested", "unknown")

#: How long an ``active`` finding keeps a site "active" after its last day.
WINDOW_YEARS = 5

#: The evidence tiers of a day: ``(tier, name, rule)``; the label of a row names the bases
#: (:func:`tier_of`). "Counting" findings are those that count on the day (the rule above).
TIERS = (
    (1, "imagery and testimony agree",
     "findings that count on the day rest on imagery and on testimony, and all agree"),
    (2, "sources disagree", "findings that count on the day disagree: the status is contested"),
    (3, "imagery, no testimony", "counting findings rest on imagery, none on testimony; they agree"),
    (4, "testimony, no imagery", "counting findings rest on testimony, none on imagery; they agree"),
    (5, "secondary sources only",
     "counting findings rest only on official statements, the press or reports; they agree"),
    (6, "nothing counts", "no finding counts on the day: the status is unknown"),
)

# The rule's sentences (a tier's label, the reason, each finding's line) are written in the language of the
# product being written (atlas.i18n.use_lang: English unless a page in another language asks): each is
# one string of the catalogue with its parts as placeholders, dates in that language's form.
_NOUN = {"imagery": N_("imagery"), "testimony": N_("testimony"), "official": N_("an official statement"),
         "media": N_("the press"), "report": N_("a report")}
_PLURAL = {"imagery": N_("imagery readings"), "testimony": N_("testimonies"), "official": N_("official statements"),
           "media": N_("press reports"), "report": N_("reports")}


def _day(value) -> str:
    """A date of the rule's sentences in the language being written (ISO in English)."""
    return format_date(value, current_lang())
_FAR_PAST, _FAR_FUTURE = date.min, date.max
_DAY = timedelta(days=1)


def _phrase(bases) -> str:
    words = [gettext(_NOUN.get(b, b)) for b in BASES if b in bases] + sorted(set(bases) - set(BASES))
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + gettext(" and ") + words[-1]


def tier_of(bases: set[str] | frozenset[str], disagree: bool) -> tuple[int, str]:
    """The tier of :data:`TIERS` and a label naming who agrees (or disagrees) on the day.

    Parameters
    ----------
    bases : set of str
        The ``evidence_basis`` of the findings that count on the day (both sides).
    disagree : bool
        Whether they disagree (the status is ``contested``).

    Returns
    -------
    (int, str)
        The tier and its label: the label never says "agree" of findings that disagree,
        and never names a basis that does not count.

    Examples
    --------
    >>> tier_of({"imagery", "testimony"}, False)
    (1, 'imagery and testimony agree')
    >>> tier_of({"imagery", "official"}, True)
    (2, 'imagery and an official statement disagree')
    >>> tier_of({"imagery"}, False), tier_of({"imagery", "report"}, False)
    ((3, 'imagery only'), (3, 'imagery and a report agree'))
    >>> tier_of({"media", "official"}, False)
    (5, 'an official statement and the press agree')
    >>> tier_of(set(), False)
    (6, 'nothing counts on the day')
    """
    bases = set(bases)
    if not bases:
        return 6, gettext("nothing counts on the day")
    if disagree:
        who = gettext(_PLURAL.get(next(iter(bases)), N_("sources"))) if len(bases) == 1 else _phrase(bases)
        return 2, gettext("%(who)s disagree") % {"who": who}
    label = (gettext("%(who)s only") if len(bases) == 1 else gettext("%(who)s agree")) % {"who": _phrase(bases)}
    if {"imagery", "testimony"} <= bases:
        return 1, label
    if "imagery" in bases:
        return 3, label
    if "testimony" in bases:
        return 4, label
    return 5, label


def _d(value) -> date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, date):
        return value
    text = str(value).strip()
    return date.fromisoformat(text[:10]) if text and text.lower() != "nan" else None


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


@dataclass(eq=False)
class _F:
    """One finding of a site, with the days the rule gives it (``count_from``..``count_to``)."""

    row: dict
    fid: str
    signal: str
    strength: str
    basis: str
    start: date | None
    end: date | None
    count_from: date | None = None
    count_to: date | None = None
    ended_by: _F | None = None   # the finding that ended its counting early (P1, P2, rule 3)
    ended_how: str = ""

    @property
    def dated(self) -> bool:
        return self.start is not None or self.end is not None

    @property
    def first(self) -> date | None:
        return self.start or self.end

    @property
    def last(self) -> date | None:
        return self.end or self.start

    @property
    def counts(self) -> bool:
        """Whether it may count at all: dated, stated, with a signal."""
        return self.dated and self.strength == "stated" and self.signal != "none"


def _parse(df: pd.DataFrame | list[dict]) -> list[_F]:
    out = []
    for row in (df.to_dict("records") if isinstance(df, pd.DataFrame) else df):
        signal = str(row.get("status_signal") or "none")
        if signal not in SIGNALS:
            raise InputError(f"finding {row.get('finding_id')}: status_signal {signal!r} "
                             f"is not one of {', '.join(SIGNALS)}")
        strength = row.get("signal_strength")
        strength = strength if isinstance(strength, str) and strength else "stated"
        if strength not in STRENGTHS:
            raise InputError(f"finding {row.get('finding_id')}: signal_strength {strength!r} "
                             f"is not one of {', '.join(STRENGTHS)}")
        basis = row.get("evidence_basis")
        out.append(_F(row, str(row.get("finding_id", "")), signal, strength,
                      basis if isinstance(basis, str) else "", _d(row.get("date_start")),
                      _d(row.get("date_end"))))
    return out


@dataclass
class _Site:
    """A site's findings with their counting days worked out once (the day-free part of the rule)."""

    items: list[_F]
    counting: list[_F]
    p3: list[tuple[_F, _F, date, date]]   # (earlier closure, later closure/relocation, from, to)


def _prepare(items: list[_F]) -> _Site:
    counting = [f for f in items if f.counts]
    stops = [f for f in counting if f.signal in ("closed", "relocated")]
    doubts = [f for f in items if f.strength == "hedged" and f.dated and f.signal in ("closed", "relocated")]
    for f in counting:
        if f.signal == "active":
            if f.start is None:             # open start: its last day only
                f.count_from = f.count_to = f.end
                continue
            f.count_from = f.start
            f.count_to = _add_years(f.last, WINDOW_YEARS)
        else:
            f.count_from, f.count_to = f.last, _FAR_FUTURE
    for f in counting:  # P1, P2 and rule 3: what ends a finding's counting early
        if f.signal == "active" and f.start is not None:
            cuts = [(c.count_from, c, "P1") for c in stops if c.count_from > f.last]
            cuts += [(h.first, h, "P2") for h in doubts if h.first > f.last]
        elif f.signal != "active":
            cuts = [(g.count_from, g, "later") for g in counting
                    if g.signal != f.signal and g.count_from > f.count_from]
        else:
            cuts = []
        if cuts:
            day, by, how = min(cuts, key=lambda c: (c[0], c[1].fid))
            if day - _DAY < f.count_to:
                f.count_to, f.ended_by, f.ended_how = day - _DAY, by, how
    p3 = []
    for e in (f for f in counting if f.signal == "closed"):
        for later in stops:
            if later.start is not None and later.start > e.last:
                to = min(e.count_to, later.count_from - _DAY)
                if to >= e.count_from:
                    p3.append((e, later, e.count_from, to))
    return _Site(items, counting, p3)


def _decide(site: _Site, day: date) -> tuple[str, list[_F], list[_F]]:
    """The rule on a prepared site: status, the deciding side, the side against."""
    on = [f for f in site.counting if f.count_from <= day <= f.count_to]
    if not on:
        return "unknown", [], []
    implied = [(e, later) for e, later, a, b in site.p3 if a <= day <= b]
    key = lambda f: (f.count_from, f.last, f.fid)  # noqa: E731
    top = max(on, key=key)
    deciding = sorted((f for f in on if f.signal == top.signal), key=key, reverse=True)
    against = sorted((f for f in on if f.signal != top.signal), key=key, reverse=True)
    if top.signal == "closed":
        against += [later for e, later in implied if e in deciding and later not in against]
    if not against:
        return top.signal, deciding, []
    return "contested", deciding, against


def _ids(items) -> str:
    return ", ".join(f.fid for f in items)


def _window(f: _F) -> str:
    if f.count_to == _FAR_FUTURE:
        return gettext("from %(date)s until later evidence") % {"date": _day(f.count_from)}
    return gettext("%(start)s to %(end)s") % {"start": _day(f.count_from), "end": _day(f.count_to)}


def _why(f: _F, day: date, site: _Site, status: str, deciding, against) -> tuple[bool, str]:
    """Whether a finding counts on the day, and why (one line of the explanation)."""
    signal = term(f.signal)
    if f.signal == "none":
        return False, gettext("says nothing of the site's status (signal none)")
    if f.strength == "hedged":
        why = str(f.row.get("strength_reason") or gettext("its source withholds the conclusion"))
        cut = [g.fid for g in site.counting if g.ended_by is f and g.ended_how == "P2"]
        tail = gettext("; it ends the active window of %(ids)s (P2)") % {"ids": ", ".join(cut)} if cut else ""
        return False, gettext("hedged (%(signal)s): never decides: %(why)s%(tail)s") % {
            "signal": signal, "why": why, "tail": tail}
    if not f.dated:
        return False, gettext("undated (%(signal)s): cannot be placed in time, never counts") % {"signal": signal}
    if (f in deciding or f in against) and f.count_from <= day <= f.count_to:
        side = gettext("deciding") if f in deciding else gettext("against")
        return True, gettext("counts (%(signal)s, %(side)s): %(window)s") % {
            "signal": signal, "side": side, "window": _window(f)}
    if f in against:  # P3: a later closure or relocation against an earlier closure
        earlier = [e for e, later, a, b in site.p3 if later is f and a <= day <= b]
        return True, gettext("stands against %(ids)s (P3): a %(signal)s dated from %(first)s says the site "
                             "operated until then; it counts itself from %(start)s") % {
            "ids": _ids(earlier), "signal": signal, "first": _day(f.first), "start": _day(f.count_from)}
    if day < f.count_from:
        open_start = gettext(" (open start: its last day only)") if f.signal == "active" and f.start is None else ""
        return False, gettext("not yet known: counts from %(date)s%(open_start)s") % {
            "date": _day(f.count_from), "open_start": open_start}
    if f.signal == "active" and f.start is None:
        return False, gettext("open start: counts on its last day only (%(date)s), never after") % {"date": _day(f.end)}
    if f.ended_by is not None:
        by = {"signal": term(f.ended_by.signal), "id": f.ended_by.fid}
        how = {"P1": gettext("ended by the later %(signal)s %(id)s (P1)") % by,
               "P2": gettext("ended by the later hedged %(signal)s %(id)s (P2)") % by,
               "later": gettext("superseded by the later %(signal)s %(id)s") % by}[f.ended_how]
        return False, gettext("outside its window: counted %(window)s, %(how)s") % {"window": _window(f), "how": how}
    return False, gettext("outside its window: counted %(window)s (%(years)s years after its last day, %(last)s)") % {
        "window": _window(f), "years": WINDOW_YEARS, "last": _day(f.last)}


def _latest(items: list[_F], day: date) -> _F | None:
    """The status finding (signal not none) whose evidence is latest on or before the day."""
    seen = [f for f in items if f.signal != "none" and f.dated and f.first <= day]
    return max(seen, key=lambda f: (min(f.last, day), f.strength == "stated", f.fid)) if seen else None


@dataclass
class SiteStatus:
    """A site's status on a day, who decides it, and why. Made by :func:`status_from_findings`.

    The names here are stable: the products (map, QGIS style, KMZ, dossier, site) read them.

    Attributes
    ----------
    site_id : str
    as_of : datetime.date
    status : str
        One of :data:`STATUSES`.
    deciding : pandas.DataFrame
        The findings that count on the day on the status's side (for ``contested``: the side
        of the finding known latest), latest first.
    against : pandas.DataFrame
        The other side of a ``contested`` day (empty otherwise).
    reason : str
        The rule that decided, in one sentence.
    tier, tier_label : int, str
        :func:`tier_of` of the findings that count on the day.
    sources_disagree : bool
        True exactly when the status is ``contested``.
    latest_evidence : datetime.date or None
        The latest day, up to ``as_of``, that a dated finding speaking to the status covers.
    latest_strength : str
        ``stated`` or ``hedged`` (that finding's), or ``""``.
    latest_finding : str
        That finding's id, or ``""``.
    layer : str
        The layer of the site (``camps``, ``mines``, ``named_mines``) when a query set it.
    summary : str
        One line: ``as of 2026-12-07: unknown; latest evidence 2017-09-19, hedged``.
    explain : str
        Every finding of the site, whether it counts on the day and why, then the rule
        that decided (built on first use).
    explanation : pandas.DataFrame
        The same as rows: ``finding_id``, ``observed_text``, ``status_signal``,
        ``signal_strength``, ``evidence_basis``, ``counts``, ``why``.
    contradicting : pandas.DataFrame
        Former name of ``against``.
    """

    site_id: str
    as_of: date
    status: str
    reason: str = ""
    tier: int = 6
    tier_label: str = ""
    latest_evidence: date | None = None
    latest_strength: str = ""
    latest_finding: str = ""
    layer: str = ""
    _site: _Site | None = field(default=None, repr=False, compare=False)
    _sides: tuple = field(default=((), ()), repr=False, compare=False)
    _columns: tuple = field(default=(), repr=False, compare=False)

    def _frame(self, items) -> pd.DataFrame:
        return pd.DataFrame([f.row for f in items], columns=list(self._columns) or None)

    @cached_property
    def deciding(self) -> pd.DataFrame:
        return self._frame(self._sides[0])

    @cached_property
    def against(self) -> pd.DataFrame:
        return self._frame(self._sides[1])

    @property
    def sources_disagree(self) -> bool:
        return self.status == "contested"

    @property
    def contradicting(self) -> pd.DataFrame:
        return self.against

    @property
    def summary(self) -> str:
        status = term(self.status)
        if self.status == "contested":
            status = gettext("%(status)s (%(deciding)s against %(against)s)") % {
                "status": status, "deciding": " ".join(f.fid for f in self._sides[0]),
                "against": " ".join(f.fid for f in self._sides[1])}
        latest = (gettext("latest evidence %(date)s, %(strength)s") % {
            "date": _day(self.latest_evidence), "strength": term(self.latest_strength)}
                  if self.latest_evidence else gettext("no dated evidence"))
        return gettext("as of %(date)s: %(status)s; %(latest)s") % {"date": _day(self.as_of), "status": status,
                                                                    "latest": latest}

    @cached_property
    def explanation(self) -> pd.DataFrame:
        rows = []
        site = self._site or _Site([], [], [])
        deciding, against = self._sides
        for f in sorted(site.items, key=lambda f: (f.first or _FAR_FUTURE, f.fid)):
            counts, why = _why(f, self.as_of, site, self.status, deciding, against)
            rows.append({"finding_id": f.fid, "observed_text": f.row.get("observed_text", ""),
                         "status_signal": f.signal, "signal_strength": f.strength,
                         "evidence_basis": f.basis, "counts": counts, "why": why})
        return pd.DataFrame(rows, columns=["finding_id", "observed_text", "status_signal",
                                           "signal_strength", "evidence_basis", "counts", "why"])

    @cached_property
    def explain(self) -> str:
        lines = [f"{self.site_id} {self.summary}"]
        english = current_lang() == "en"
        for r in self.explanation.to_dict("records"):
            mark = ("counts " if r["counts"] else "no     ") if english else \
                gettext("counts") if r["counts"] else gettext("does not count")
            lines.append(f"  {r['finding_id']}  {mark} {r['why']}")
        if self.explanation.empty:
            lines.append("  " + gettext("(no findings)"))
        lines.append(gettext("Rule: %(reason)s") % {"reason": self.reason})
        return "\n".join(lines)

    def as_dict(self, explain: bool = False) -> dict:
        """Plain values for JSON (with ``explain``: every finding and why)."""
        out = {
            "site_id": self.site_id, "as_of": self.as_of.isoformat(), "status": self.status,
            "deciding": [f.fid for f in self._sides[0]], "against": [f.fid for f in self._sides[1]],
            "sources_disagree": self.sources_disagree, "evidence_tier": self.tier,
            "evidence_tier_label": self.tier_label,
            "latest_evidence_date": self.latest_evidence.isoformat() if self.latest_evidence else None,
            "latest_evidence_strength": self.latest_strength or None, "summary": self.summary,
            "window_years": WINDOW_YEARS, "reason": self.reason,
        }
        if explain:
            out["explanation"] = self.explanation.to_dict("records")
        return out


def _reason(site: _Site, day: date, status: str, deciding: list[_F], against: list[_F]) -> str:
    if status == "contested":
        sides = gettext("%(deciding)s (%(signal)s) against %(against)s") % {
            "deciding": _ids(deciding), "signal": term(deciding[0].signal), "against": _ids(against)}
        p3 = [f for f in against if f.signal != "active" and f.count_from > day]
        extra = gettext(" (%(ids)s: a later %(signal)s says the site operated until then, P3)") % {
            "ids": ", ".join(f.fid for f in p3), "signal": term(p3[0].signal)} if p3 else ""
        return gettext("contested: the findings that count on %(date)s disagree: %(sides)s%(extra)s") % {
            "date": _day(day), "sides": sides, "extra": extra}
    if status != "unknown":
        top = deciding[0]
        until = "" if top.count_to == _FAR_FUTURE else gettext(", which counts to %(date)s") % {
            "date": _day(top.count_to)}
        rule = gettext("an active finding counts from its first day to five years after its last (P1, P2: "
                       "until later closure or doubt)") if status == "active" else (
                gettext("a %(status)s finding counts from its last day until later evidence") % {"status": term(status)})
        text = (gettext("%(status)s: %(ids)s counts on %(date)s; decided by %(id)s (%(basis)s, counts from "
                        "%(start)s%(until)s); %(rule)s") if len(deciding) == 1 else
                gettext("%(status)s: %(ids)s count and agree on %(date)s; decided by %(id)s (%(basis)s, counts from "
                        "%(start)s%(until)s); %(rule)s"))
        return text % {"status": term(status), "ids": _ids(deciding), "date": _day(day), "id": top.fid,
                       "basis": term(top.basis), "start": _day(top.count_from), "until": until, "rule": rule}
    hedged = [f for f in site.items if f.strength == "hedged" and f.signal != "none" and f.dated
              and f.first <= day]
    lapsed = [f for f in site.counting if f.count_to < day]
    parts = []
    if lapsed:
        last = max(lapsed, key=lambda f: (f.count_to, f.fid))
        parts.append(gettext("the last stated finding, %(id)s, counted to %(date)s") % {
            "id": last.fid, "date": _day(last.count_to)})
    elif site.counting:
        parts.append(gettext("the first stated finding counts from %(date)s") % {
            "date": _day(min(f.count_from for f in site.counting))})
    if hedged:
        parts.append(gettext("%(ids)s hedged, never deciding") % {"ids": _ids(hedged)})
    undated = [f for f in site.items if not f.dated and f.signal != "none"]
    if undated:
        parts.append(gettext("%(ids)s undated, never counting") % {"ids": _ids(undated)})
    if not parts:
        parts.append(gettext("no finding speaks to the site's status"))
    return gettext("unknown: no dated, stated finding counts on %(date)s (%(parts)s)") % {
        "date": _day(day), "parts": "; ".join(parts)}


def _status(site: _Site, day: date, site_id: str, columns) -> SiteStatus:
    status, deciding, against = _decide(site, day)
    counted = {f.basis for f in (*deciding, *against)}
    tier, label = tier_of(counted, status == "contested")
    latest = _latest(site.items, day)
    if status == "unknown":
        hedged = {f.basis for f in site.items
                  if f.strength == "hedged" and f.signal != "none" and f.dated and f.first <= day}
        if hedged:
            label += gettext("; %(who)s, hedged") % {"who": _phrase(hedged)}
    return SiteStatus(site_id, day, status, _reason(site, day, status, deciding, against), tier, label,
                      min(latest.last, day) if latest else None,
                      latest.strength if latest else "", latest.fid if latest else "",
                      _site=site, _sides=(deciding, against), _columns=tuple(columns))


def status_from_findings(findings: pd.DataFrame | list[dict], as_of: str | date,
                         site_id: str = "", columns=None) -> SiteStatus:
    """The status of one site on a day, from its findings (the rule of this module).

    Parameters
    ----------
    findings : pandas.DataFrame or list of dict
        The site's findings (``finding_id``, ``date_start``, ``date_end``,
        ``status_signal``; ``signal_strength`` defaults to ``stated``,
        ``evidence_basis`` to ``""``), as a frame or as its rows.
    as_of : str or datetime.date
        ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; a month or year means its last day.
    site_id : str, optional
    columns : sequence of str, optional
        The columns of ``deciding`` and ``against`` when ``findings`` is a list of rows.

    Returns
    -------
    SiteStatus

    Examples
    --------
    >>> f = pd.DataFrame({"finding_id": ["F1", "F2"], "date_start": ["2010-01-01", "2012-03-01"],
    ...                   "date_end": ["2012-10-31", "2012-06-30"],
    ...                   "status_signal": ["active", "closed"]})
    >>> [status_from_findings(f, d).status for d in ("2009", "2012-06-29", "2012-06-30", "2013", "2030")]
    ['unknown', 'active', 'contested', 'contested', 'closed']
    >>> status_from_findings(f.iloc[:1], "2018").status   # 2012-10-31 + 5 years < 2018-12-31
    'unknown'
    """
    day = parse_as_of(as_of)
    if columns is None:
        columns = findings.columns if isinstance(findings, pd.DataFrame) else list(findings[0]) if findings else []
    return _status(_prepare(_parse(findings)), day, site_id, columns)


def site_evidence(findings: pd.DataFrame, site_ids, as_of: str | date) -> pd.DataFrame:
    """Per site, as of one day, by the rule of this module: status, tier, latest evidence.

    The camps layer carries these columns as of the atlas's build date
    (``status_as_of``), so that no field of a row contradicts another.

    Parameters
    ----------
    findings : pandas.DataFrame
        All sites' findings.
    site_ids : iterable of str
        Every site to describe (a site without findings is ``unknown``, tier 6).
    as_of : str or datetime.date

    Returns
    -------
    pandas.DataFrame
        Indexed by ``site_id``: ``status_class`` (the status on the day),
        ``status_as_of``, ``evidence_tier``, ``evidence_tier_label``,
        ``latest_evidence_date`` (ISO text or None), ``sources_disagree``,
        ``status_summary``: in English whatever product is being written (the columns the
        GeoPackage stores, and checks its rows against: data, never translated).
    """
    day = parse_as_of(as_of)
    groups = rows_by_site(findings)
    rows = []
    with use_lang(DEFAULT_LANG):
        for site in site_ids:
            s = _status(_prepare(_parse(groups.get(site, []))), day, site, findings.columns)
            rows.append({
                "site_id": site, "status_class": s.status, "status_as_of": day.isoformat(),
                "evidence_tier": s.tier, "evidence_tier_label": s.tier_label,
                "latest_evidence_date": s.latest_evidence.isoformat() if s.latest_evidence else None,
                "sources_disagree": s.sources_disagree, "status_summary": s.summary,
            })
    return pd.DataFrame(rows).set_index("site_id")


def first_year(date_start, date_end) -> int | None:
    """The year from which a finding is on the record: its start's, else its end's; None undated.

    Examples
    --------
    >>> first_year("2013-09-01", "2014-12-31"), first_year(None, "2008-12-31"), first_year(None, None)
    (2013, 2008, None)
    """
    day = _d(date_start) or _d(date_end)
    return day.year if day else None


def yearly_status(findings: pd.DataFrame, site_ids, first: int, last: int,
                  month: int = 12, day: int = 31) -> dict[str, list[str]]:
    """Each site's status on one day of every year from ``first`` to ``last`` (31 December by default).

    The day-free part of the rule is worked out once per site; each year is then a scan of
    the site's counting findings (no frames, no explanations).

    Parameters
    ----------
    findings : pandas.DataFrame
    site_ids : iterable of str
    first, last : int
        Years, inclusive.
    month, day : int, optional
        The day of each year (e.g. the build date's month and day).

    Returns
    -------
    dict of str to list of str
        One status of :data:`STATUSES` per year.

    Examples
    --------
    >>> f = pd.DataFrame({"finding_id": ["F1"], "site_id": ["S"], "date_start": ["2010-11-01"],
    ...                   "date_end": ["2012-10-31"], "status_signal": ["active"]})
    >>> yearly_status(f, ["S"], 2009, 2018)["S"]
    ['unknown', 'active', 'active', 'active', 'active', 'active', 'active', 'active', 'unknown', 'unknown']
    """
    out = {}
    groups = rows_by_site(findings)
    days = [_on(y, month, day) for y in range(first, last + 1)]
    for site in site_ids:
        prepared = _prepare(_parse(groups.get(site, [])))
        out[site] = [_decide(prepared, d)[0] for d in days]
    return out


def rows_by_site(findings: pd.DataFrame) -> dict[str, list[dict]]:
    """The findings' rows grouped by site, read from the frame once (no per-site frames)."""
    groups: dict[str, list[dict]] = {}
    for row in findings.to_dict("records"):
        groups.setdefault(row["site_id"], []).append(row)
    return groups


def _on(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:  # 29 February
        return date(year, month, 28)


def year_span(findings: pd.DataFrame) -> tuple[int, int]:
    """The first year any finding covers, and the last year after which no status can change.

    After the last dated day of any finding plus :data:`WINDOW_YEARS`, every
    ``active`` finding has lapsed and closures hold: statuses are constant.
    """
    days = [d for v in (*findings["date_start"], *findings["date_end"]) if (d := _d(v))]
    if not days:
        return 1970, 1970
    return min(days).year, max(days).year + WINDOW_YEARS + 1
