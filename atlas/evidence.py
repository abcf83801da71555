"""What does the evidence say about a site, as of when, and how sure is it?

Each finding of ``camp_findings`` carries, curated in
``geodata/camps/findings.csv`` with its reason (``evidence_reason``):

- ``evidence_basis``: what it rests on, one of :data:`BASES`: ``imagery``
  (dated satellite imagery, read by a named analyst), ``testimony`` (former
  prisoners' or witnesses' accounts; ``testimony_hand`` says ``first-hand``,
  ``second-hand`` or ``unstated``), ``official`` (a government or UN
  statement), ``media`` (a news service), ``report`` (an analyst's or NGO's
  conclusion that names no other basis);
- ``status_signal``: what it says about the site as a place of detention, one
  of :data:`SIGNALS`: ``active`` (it operated then), ``closed``, ``relocated``,
  or ``none`` (it says nothing of that: a dismantled mine, a camp's extent).

From these, by rules stated here and in docs/evidence-and-time.md (never typed by hand):

**Status as of a date** (:func:`status_at`). A finding counts from the day it
is known: an ``active`` finding from its first day (from its last day when its
start is open: "by 2014-10"), a ``closed`` or ``relocated`` finding from its
**last** day (a closure dated 2012-03..2012-06 is certain only from 2012-06-30).
An ``active`` finding supports "active" until :data:`WINDOW_YEARS` years after
its last day; a closure or relocation holds until later evidence. Of the
findings that count on the day, the one known latest decides (ties: the later
end, then the finding id); the status is its signal. No finding counting on
the day: ``unknown`` (no evidence in the window is not "active"). Findings
whose signal differs and whose time overlaps the deciding finding's state
(``active``: its own interval; ``closed``/``relocated``: from its start on),
and undated findings whose signal differs, are returned as contradicting.

**Sources disagree** (``sources_disagree``) when two findings of a site with
different signals overlap in that sense (undated ones overlap everything).

**Evidence tier** (``evidence_tier``): the first row of :data:`TIERS` that
holds for the site's findings that speak to its status (signal not ``none``).

**Latest evidence** (``latest_evidence_date``): the latest day any dated
finding of the site covers (its end; its start when the end is open).

Examples
--------
>>> import atlas
>>> s = atlas.status_at("KLS-22", "2012-01")
>>> s.status, list(s.deciding["finding_type"])
('active', ['mine_active', 'prisoner_transfer'])
>>> atlas.status_at("KLS-22", "2013").status
'closed'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from .dates import parse_as_of
from .errors import InputError

__all__ = [
    "BASES",
    "SIGNALS",
    "STATUSES",
    "TIERS",
    "WINDOW_YEARS",
    "SiteStatus",
    "first_year",
    "site_evidence",
    "status_from_findings",
    "tier_of",
    "year_span",
    "yearly_status",
]

BASES = ("imagery", "testimony", "official", "media", "report")
HANDS = ("first-hand", "second-hand", "unstated")
SIGNALS = ("active", "closed", "relocated", "none")
STATUSES = ("active", "closed", "relocated", "unknown")

#: How long an ``active`` finding keeps a site "active" after its last day.
WINDOW_YEARS = 5

#: The evidence tier rule table: ``(tier, label, rule)``, first match wins. "Status findings"
#: are a site's findings whose ``status_signal`` is not ``none``.
TIERS = (
    (1, "imagery and testimony agree",
     "status findings rest on imagery and on testimony, and the sources do not disagree"),
    (2, "imagery and testimony disagree",
     "status findings rest on imagery and on testimony, and the sources disagree"),
    (3, "imagery only", "status findings rest on imagery, none on testimony"),
    (4, "testimony only", "status findings rest on testimony, none on imagery"),
    (5, "secondary sources only",
     "status findings rest only on official statements, media or reports"),
    (6, "no status evidence", "no finding speaks to the site's status"),
)

_FAR_PAST, _FAR_FUTURE = date.min, date.max


def tier_of(bases: set[str] | frozenset[str], disagree: bool) -> tuple[int, str]:
    """The tier and label of :data:`TIERS` for a site.

    Parameters
    ----------
    bases : set of str
        The ``evidence_basis`` values of the site's status findings.
    disagree : bool
        Whether its sources disagree.

    Examples
    --------
    >>> tier_of({"imagery", "testimony"}, False)
    (1, 'imagery and testimony agree')
    >>> tier_of({"imagery", "media"}, True)
    (3, 'imagery only')
    >>> tier_of({"media", "official"}, False)
    (5, 'secondary sources only')
    >>> tier_of(set(), False)
    (6, 'no status evidence')
    """
    both = {"imagery", "testimony"} <= bases
    checks = {
        1: both and not disagree,
        2: both and disagree,
        3: "imagery" in bases and "testimony" not in bases,
        4: "testimony" in bases and "imagery" not in bases,
        5: bool(bases),
        6: True,
    }
    for tier, label, _rule in TIERS:
        if checks[tier]:
            return tier, label
    raise AssertionError("unreachable: the last tier always holds")


def _d(value) -> date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, date):
        return value
    text = str(value).strip()
    return date.fromisoformat(text[:10]) if text else None


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


@dataclass(frozen=True)
class _F:
    """One status finding, with the days its rule uses."""

    row: dict
    signal: str
    start: date | None
    end: date | None

    @property
    def dated(self) -> bool:
        return self.start is not None or self.end is not None

    @property
    def known_from(self) -> date:
        if self.signal == "active":
            return self.start or self.end
        return self.end or self.start

    def holds_to(self) -> date:
        if self.signal == "active":
            return _add_years(self.end, WINDOW_YEARS) if self.end else _FAR_FUTURE
        return _FAR_FUTURE

    def state(self) -> tuple[date, date]:
        """The days over which the finding states its signal (for disagreement)."""
        if not self.dated:
            return _FAR_PAST, _FAR_FUTURE
        if self.signal == "active":
            return self.start or _FAR_PAST, self.end or _FAR_FUTURE
        return self.start or self.end, _FAR_FUTURE

    def overlaps(self, other: _F) -> bool:
        a, b = self.state(), other.state()
        return a[0] <= b[1] and b[0] <= a[1]


def _findings(df: pd.DataFrame) -> list[_F]:
    out = []
    for row in df.to_dict("records"):
        signal = str(row.get("status_signal") or "none")
        if signal not in SIGNALS:
            raise InputError(f"finding {row.get('finding_id')}: status_signal {signal!r} "
                             f"is not one of {', '.join(SIGNALS)}")
        if signal != "none":
            out.append(_F(row, signal, _d(row.get("date_start")), _d(row.get("date_end"))))
    return out


@dataclass
class SiteStatus:
    """A site's status as of a day, and the findings behind it.

    Attributes
    ----------
    site_id : str
    as_of : datetime.date
    status : str
        One of :data:`STATUSES`.
    deciding : pandas.DataFrame
        The findings that count on the day with the status's signal, the
        deciding one first.
    contradicting : pandas.DataFrame
        Findings that say otherwise over the same time (undated ones included).
    reason : str
        One sentence: why this status (the rule and the window).
    """

    site_id: str
    as_of: date
    status: str
    deciding: pd.DataFrame = field(repr=False)
    contradicting: pd.DataFrame = field(repr=False)
    reason: str = ""

    def as_dict(self) -> dict:
        """Plain values for JSON."""
        return {
            "site_id": self.site_id, "as_of": self.as_of.isoformat(), "status": self.status,
            "deciding": list(self.deciding.get("finding_id", [])),
            "contradicting": list(self.contradicting.get("finding_id", [])),
            "window_years": WINDOW_YEARS, "reason": self.reason,
        }


def _frame(items: list[_F], columns) -> pd.DataFrame:
    return pd.DataFrame([f.row for f in items], columns=list(columns))


def status_from_findings(findings: pd.DataFrame, as_of: str | date,
                         site_id: str = "") -> SiteStatus:
    """The status of one site as of a day, from its findings (the rule of this module).

    Parameters
    ----------
    findings : pandas.DataFrame
        The site's rows of ``camp_findings`` (``date_start``, ``date_end``,
        ``status_signal``, ``finding_id``, ...).
    as_of : str or datetime.date
        ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; a month or year means its last day.
    site_id : str, optional

    Returns
    -------
    SiteStatus

    Examples
    --------
    >>> f = pd.DataFrame({"finding_id": ["F1", "F2"], "date_start": ["2010-01-01", "2012-03-01"],
    ...                   "date_end": ["2012-10-31", "2012-06-30"],
    ...                   "status_signal": ["active", "closed"]})
    >>> [status_from_findings(f, d).status for d in ("2009", "2012-06-29", "2012-06-30", "2030")]
    ['unknown', 'active', 'closed', 'closed']
    >>> list(status_from_findings(f, "2012-07").contradicting["finding_id"])
    ['F1']
    >>> status_from_findings(f.iloc[:1], "2018").status   # 2012-10-31 + 5 years < 2018-12-31
    'unknown'
    """
    day = parse_as_of(as_of)
    columns = findings.columns
    status, deciding, contra, why = _decide(_findings(findings), day)
    return SiteStatus(site_id, day, status, _frame(deciding, columns), _frame(contra, columns), why)


def _decide(items: list[_F], day: date) -> tuple[str, list[_F], list[_F], str]:
    """The rule of this module on parsed findings: status, deciding, contradicting, reason."""
    counting = [f for f in items if f.dated and f.known_from <= day <= f.holds_to()]
    if not counting:
        dated = [f for f in items if f.dated]
        earlier = [f for f in dated if f.known_from <= day]
        if earlier:
            last = max(earlier, key=lambda f: f.end or f.start)
            why = (f"no finding counts on {day}: the last, {last.row.get('finding_id')} "
                   f"({last.signal}, to {last.end or last.start}), is more than {WINDOW_YEARS} "
                   "years earlier")
        elif dated:
            why = f"no finding known by {day} (the first is from {min(f.known_from for f in dated)})"
        elif items:
            why = "only undated findings: they cannot be placed in time"
        else:
            why = "no finding speaks to the site's status"
        return "unknown", [], [f for f in items if not f.dated], f"unknown: {why}"
    decisive = max(counting, key=lambda f: (f.known_from, f.end or _FAR_FUTURE,
                                            str(f.row.get("finding_id"))))
    status = decisive.signal
    deciding = [decisive, *sorted(
        (f for f in counting if f.signal == status and f is not decisive),
        key=lambda f: (f.known_from, str(f.row.get("finding_id"))), reverse=True)]
    contra = [f for f in items if f.signal != status
              and (not f.dated or (f.known_from <= day and f.overlaps(decisive)))]
    until = ("" if status != "active" or decisive.holds_to() == _FAR_FUTURE
             else f", which counts to {decisive.holds_to()} ({WINDOW_YEARS}-year window)")
    why = (f"{status}: decided by {decisive.row.get('finding_id')} "
           f"({decisive.row.get('evidence_basis', '')}, known from {decisive.known_from}{until})")
    if contra:
        why += f"; contradicted by {', '.join(str(f.row.get('finding_id')) for f in contra)}"
    return status, deciding, contra, why


def site_evidence(findings: pd.DataFrame, site_ids) -> pd.DataFrame:
    """Per site, by the rules of this module: tier, latest evidence, disagreement.

    Parameters
    ----------
    findings : pandas.DataFrame
        ``camp_findings`` (all sites).
    site_ids : iterable of str
        Every site to describe (sites without findings get tier 6).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``site_id``: ``evidence_tier``, ``evidence_tier_label``,
        ``latest_evidence_date`` (ISO text or None), ``sources_disagree``,
        ``evidence_bases`` (``basis n; ...`` over all findings).
    """
    rows = []
    for site in site_ids:
        f = findings[findings["site_id"] == site]
        items = _findings(f)
        disagree = any(a.signal != b.signal and a.overlaps(b)
                       for i, a in enumerate(items) for b in items[i + 1:])
        tier, label = tier_of({str(x.row.get("evidence_basis")) for x in items}, disagree)
        days = [_d(e) or _d(s) for s, e in zip(f["date_start"], f["date_end"])]
        days = [d for d in days if d]
        counts = f["evidence_basis"].value_counts()
        rows.append({
            "site_id": site, "evidence_tier": tier, "evidence_tier_label": label,
            "latest_evidence_date": max(days).isoformat() if days else None,
            "sources_disagree": disagree,
            "evidence_bases": "; ".join(f"{b} {counts[b]}" for b in BASES if b in counts),
        })
    return pd.DataFrame(rows).set_index("site_id")


def first_year(date_start, date_end) -> int | None:
    """The year from which a finding is on the record: its start's, else its end's; None undated.

    The map's year slider shows, for a year, the findings whose first year is
    that year or earlier (undated findings only under "all time").

    Examples
    --------
    >>> first_year("2013-09-01", "2014-12-31"), first_year(None, "2008-12-31"), first_year(None, None)
    (2013, 2008, None)
    """
    day = _d(date_start) or _d(date_end)
    return day.year if day else None


def yearly_status(findings: pd.DataFrame, site_ids, first: int, last: int) -> dict[str, list[str]]:
    """Each site's status as of 31 December of every year from ``first`` to ``last``.

    Parameters
    ----------
    findings : pandas.DataFrame
        ``camp_findings``.
    site_ids : iterable of str
    first, last : int
        Years, inclusive.

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
    groups = dict(iter(findings.groupby("site_id"))) if len(findings) else {}
    for site in site_ids:
        items = _findings(groups[site]) if site in groups else []
        out[site] = [_decide(items, date(y, 12, 31))[0] for y in range(first, last + 1)]
    return out


def year_span(findings: pd.DataFrame) -> tuple[int, int]:
    """The first year any finding covers, and the last year after which no status can change.

    After the last dated day of any finding plus :data:`WINDOW_YEARS`, every
    ``active`` finding has lapsed and closures hold: statuses are constant.
    """
    days = [d for v in (*findings["date_start"], *findings["date_end"]) if (d := _d(v))]
    if not days:
        year = date.today().year
        return year, year
    return min(days).year, max(days).year + WINDOW_YEARS + 1
