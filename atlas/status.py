"""Is the camp operating, as of a day? The status queries over an atlas's findings.

:func:`status_at` (one camp, with the findings that decide and contradict),
:func:`status_table` (every camp, the rows of ``atlas status``) and
:func:`status_summary` (camps by status per province, ``atlas summary
--as-of``) read the atlas's ``camps`` and ``camp_findings`` and apply the one
rule of :mod:`atlas.evidence`, which knows nothing of where the findings are
stored.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from .dates import parse_as_of
from .errors import InputError
from .evidence import STATUSES, WINDOW_YEARS, SiteStatus, status_from_findings
from .search import resolve
from .store import Atlas, open_atlas
from .summaries import camp_provinces

__all__ = ["status_at", "status_summary", "status_table"]


def _resolve(site, atlas: Atlas) -> str:
    if isinstance(site, str) and site.strip():
        return resolve(site, atlas, layers=["camps"]).id
    if hasattr(site, "id"):
        return site.id
    raise InputError(f"{site!r} is not a site")


def status_at(site, as_of: str | date | None = None, gpkg: Atlas | Path | str | None = None) -> SiteStatus:
    """A camp's status as of a day: active, closed, relocated or unknown, with its findings.

    Parameters
    ----------
    site : str or atlas.Site
        Any id, number or name of a camp (``"KLS-15"``, ``"camp 22"``, ``"Yodok"``).
    as_of : str or datetime.date, optional
        ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (a month or year means its last
        day); defaults to today.
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas; defaults to ``output/atlas.gpkg``.

    Returns
    -------
    SiteStatus

    Raises
    ------
    NotFoundError, AmbiguousError
        The site is not one camp.
    DateParseError
        ``as_of`` is not a date.

    Examples
    --------
    >>> import atlas
    >>> s = atlas.status_at("Hoeryong", "2012-07-01")
    >>> s.status, list(s.contradicting["finding_type"])
    ('closed', ['mine_active'])
    """
    atlas = open_atlas(gpkg)
    site_id = _resolve(site, atlas)
    day = parse_as_of(as_of or date.today())
    findings = atlas.layer("camp_findings")
    return status_from_findings(findings[findings["site_id"] == site_id], day, site_id)


def status_table(as_of: str | date | None = None, gpkg: Atlas | Path | str | None = None,
                 sites=None) -> pd.DataFrame:
    """Every camp's status as of a day (the rows of ``atlas status``).

    Parameters
    ----------
    as_of : str or datetime.date, optional
        Defaults to today.
    gpkg : pathlib.Path or str, optional
    sites : list of str, optional
        Site ids to keep (default: every camp).

    Returns
    -------
    pandas.DataFrame
        ``site_id, kind, name, province, as_of, status, deciding, contradicting,
        evidence_tier, evidence_tier_label, latest_evidence_date, sources_disagree,
        reason``, in the camps layer's order; ``attrs`` holds the window and the rule.

    Examples
    --------
    >>> import atlas
    >>> t = atlas.status_table("2013", sites=["KLS-22", "KLS-25"])
    >>> t[["site_id", "status", "deciding"]].values.tolist()
    [['KLS-22', 'closed', 'F025 F027'], ['KLS-25', 'active', 'F028']]
    """
    atlas = open_atlas(gpkg)
    day = parse_as_of(as_of or date.today())
    camps = atlas.layer("camps")
    findings = atlas.layer("camp_findings")
    if sites is not None:
        camps = camps[camps["site_id"].isin(list(sites))]
    rows = []
    for c in camps.to_dict("records"):
        s = status_from_findings(findings[findings["site_id"] == c["site_id"]], day, c["site_id"])
        rows.append({
            "site_id": c["site_id"], "kind": c["kind"], "name": c["name"],
            "province": c.get("province") or "", "as_of": day.isoformat(), "status": s.status,
            "deciding": " ".join(s.deciding.get("finding_id", [])),
            "contradicting": " ".join(s.contradicting.get("finding_id", [])),
            "evidence_tier": c["evidence_tier"], "evidence_tier_label": c["evidence_tier_label"],
            "latest_evidence_date": c["latest_evidence_date"],
            "sources_disagree": bool(c["sources_disagree"]), "reason": s.reason,
        })
    out = pd.DataFrame(rows)
    out.attrs.update({
        "as_of": day.isoformat(), "window_years": WINDOW_YEARS,
        "rule": (f"status as of the day from the camp's dated findings; an 'active' finding counts "
                 f"until {WINDOW_YEARS} years after its last day, a closure or relocation from its "
                 "last day on; no finding counting on the day is 'unknown'"),
    })
    return out


def status_summary(as_of: str | date | None = None, gpkg: Atlas | Path | str | None = None) -> pd.DataFrame:
    """Camps by status per province as of a day (``atlas summary --as-of``).

    Each camp counts in the province :func:`atlas.province_summary` counts
    it in (:func:`atlas.summaries.camp_provinces`): its point's, else the
    province its sources give; the report's own ``Unidentified or unknown``
    row of Table 2 holds no camp.

    Returns
    -------
    pandas.DataFrame
        ``province`` (Table 2's order, then ``Atlas: no province known`` if
        any camp has none, and ``Total``), one column per status of :data:`STATUSES`, ``camps``;
        ``attrs`` holds the day, the window and the rule.
    """
    atlas = open_atlas(gpkg)
    table = status_table(as_of, atlas)
    table["where"] = table["site_id"].map(camp_provinces(atlas))
    order = list(atlas.layer("provinces").sort_values("table2_order")["name_en"])
    rest = sorted(set(table["where"]) - set(order))  # 'Atlas: no province known', if any camp
    rows = []
    for name in [*order, *rest]:
        sub = table[table["where"] == name]
        rows.append({"province": name, **{s: int((sub["status"] == s).sum()) for s in STATUSES},
                     "camps": len(sub)})
    out = pd.DataFrame(rows)
    total = {"province": "Total", **{c: int(out[c].sum()) for c in [*STATUSES, "camps"]}}
    out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    out.attrs.update(table.attrs)
    return out
