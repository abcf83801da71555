"""Is the camp operating, was the mine working, on a day? The status queries over an atlas.

:func:`status_at` (one camp or mine: its status on a day, the findings on each side,
the explanation), :func:`status_table` (every camp, or the sites asked for: the rows of
``atlas status``) and :func:`status_summary` (camps by status per province, ``atlas summary
--as-of``) read the atlas's ``camp_findings`` and ``mine_findings`` and apply the one rule
of :mod:`atlas.evidence` (docs/evidence.md), which knows nothing of where findings are stored.

Every query that is given no day answers as of the atlas's **build date**
(:func:`as_of_day`), never the reader's clock, and says so (``as_of`` in the
result and its ``attrs``).

This is the API the products read (map, QGIS style, KMZ, dossier, site): one
:class:`~atlas.evidence.SiteStatus` per site and day, ``status``, ``summary``,
``tier_label``, ``explain``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from .dates import parse_as_of
from .errors import AmbiguousError, InputError
from .evidence import STATUSES, WINDOW_YEARS, SiteStatus, rows_by_site, status_from_findings
from .search import find, resolve
from .store import Atlas, open_atlas
from .summaries import camp_provinces

__all__ = ["FINDINGS", "RULE", "STATUS_LAYERS", "as_of_day", "status_at", "status_summary", "status_table",
           "with_status"]

#: The layers whose features have a status, and the layer of their findings.
FINDINGS = {"camps": "camp_findings", "mines": "mine_findings", "named_mines": "mine_findings"}
STATUS_LAYERS = tuple(FINDINGS)
_ID = {"camps": "site_id", "mines": "mine_id", "named_mines": "named_id"}

#: The rule in one sentence (printed under every status table).
RULE = (f"only dated, stated findings count (hedged and undated never decide); an 'active' finding "
        f"counts from its first day to {WINDOW_YEARS} years after its last (open start: its last day "
        "only), ended early by a later closure (P1) or a later hedged closure (P2); a closure or "
        "relocation from its last day until later evidence, a later one standing against an earlier "
        "closure (P3); nothing counting is 'unknown', findings that disagree 'contested' "
        "(docs/evidence.md)")


def as_of_day(as_of: str | date | None, atlas: Atlas) -> date:
    """The day a status is asked for: ``as_of``, else the atlas's build date.

    Raises
    ------
    DateParseError
        ``as_of`` is not a date.
    InputError
        No ``as_of`` and the atlas states no build date.
    """
    if as_of is not None and str(as_of).strip():
        return parse_as_of(as_of)
    built = str(atlas.build_date or "")[:10]
    if not built:
        raise InputError(f"{atlas} states no build date: give the day to count as of (as_of)")
    return parse_as_of(built)


def _site(site, atlas: Atlas, layers) -> tuple[str, str]:
    """(layer, id) of the one camp or mine ``site`` names: ambiguous between a camp and a mine is an error."""
    if hasattr(site, "id") and hasattr(site, "layer"):
        if site.layer not in FINDINGS:
            raise InputError(f"{site.id} is in {site.layer}: only camps and mines have a status")
        return site.layer, site.id
    if not (isinstance(site, str) and site.strip()):
        raise InputError(f"{site!r} is not a site")
    layers = list(layers or STATUS_LAYERS)
    ids = atlas.memo(("status:ids", tuple(layers)), lambda: {
        str(i): name for name in reversed(layers) if atlas.has(name) for i in atlas.layer(name)[_ID[name]]})
    if site.strip() in ids:  # an id (what the products pass): no search
        return ids[site.strip()], site.strip()
    hit = resolve(site, atlas, layers=layers)
    if hit.layer not in FINDINGS:  # pragma: no cover - resolve keeps to the layers given
        raise InputError(f"{site!r} is not a camp or a mine")
    hits = find(site, atlas, layers, fuzzy=False)
    if not (hits["match"] == "exact id").any():  # a name: it must not fit a camp and a mine both
        other = hits[(hits["layer"] == "camps") != (hit.layer == "camps")]
        if len(other):
            listing = "; ".join(f"{r.id} {r.name} [{r.layer}, {r.match}]"
                                for r in pd.concat([hits[hits["id"] == hit.id], other]).head(8).itertuples())
            raise AmbiguousError(
                f"{site!r} fits a camp and a mine: {listing}. A status is of one site: give its id "
                "or the layer (--layer camps, --layer mines).", hits.drop(columns="geometry").to_dict("records"))
    return hit.layer, hit.id


def _findings_of(atlas: Atlas, layer: str) -> tuple[dict[str, list[dict]], list[str]]:
    """The layer's findings as rows by site, and its columns: read once per atlas."""
    name = FINDINGS[layer]
    if not atlas.has(name):
        return {}, []
    return atlas.memo(("status:findings", name),
                      lambda: (rows_by_site(atlas.layer(name)), list(atlas.layer(name).columns)))


def _one(atlas: Atlas, layer: str, site_id: str, day: date) -> SiteStatus:
    groups, columns = _findings_of(atlas, layer)
    out = status_from_findings(groups.get(site_id, []), day, site_id, columns)
    out.layer = layer
    return out


def status_at(site, as_of: str | date | None = None, gpkg: Atlas | Path | str | None = None,
              layers=None) -> SiteStatus:
    """A camp's or a mine's status on a day, with the findings on each side and why.

    Parameters
    ----------
    site : str or atlas.Site
        Any id, number or name of a camp or mine (``"KLS-15"``, ``"camp 22"``, ``"Yodok"``,
        ``"M016"``). A name that fits a camp and a mine is ambiguous (an error listing both):
        a mine's status never answers for a camp of a similar name, nor the reverse.
    as_of : str or datetime.date, optional
        ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (a month or year means its last day);
        defaults to the atlas's build date (:func:`as_of_day`), never today's clock.
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas; defaults to ``output/atlas.gpkg``.
    layers : list of str, optional
        Resolve ``site`` in these of :data:`STATUS_LAYERS` only (``["camps"]``).

    Returns
    -------
    SiteStatus
        ``status`` (one of ``active``, ``closed``, ``relocated``, ``contested``, ``unknown``),
        ``deciding``, ``against``, ``reason``, ``tier``, ``tier_label``, ``sources_disagree``,
        ``latest_evidence``, ``summary`` and, on first use, ``explain``.

    Raises
    ------
    NotFoundError, AmbiguousError
        The site is not one camp or mine.
    DateParseError
        ``as_of`` is not a date.

    Examples
    --------
    >>> import atlas
    >>> s = atlas.status_at("Yodok", "2026-12-07", layers=["camps"])
    >>> s.summary
    'as of 2026-12-07: unknown; latest evidence 2017-09-19, hedged'
    >>> atlas.status_at("M002", "2024-05-21").status, atlas.status_at("M002", "2024-05-22").status
    ('unknown', 'active')
    """
    atlas = open_atlas(gpkg)
    layer, site_id = _site(site, atlas, layers)
    return _one(atlas, layer, site_id, as_of_day(as_of, atlas))


#: The columns of :func:`status_table`, in order.
TABLE_COLUMNS = ["site_id", "layer", "kind", "name", "province", "as_of", "status", "deciding", "against",
                 "evidence_tier", "evidence_tier_label", "latest_evidence_date", "latest_evidence_strength",
                 "sources_disagree", "summary", "reason"]


def status_table(as_of: str | date | None = None, gpkg: Atlas | Path | str | None = None,
                 sites=None, layer: str = "camps") -> pd.DataFrame:
    """Every camp's (or mine's) status on a day: the rows of ``atlas status``.

    Parameters
    ----------
    as_of : str or datetime.date, optional
        Defaults to the atlas's build date (stated in ``attrs["as_of"]`` and each row).
    gpkg : Atlas, pathlib.Path or str, optional
    sites : list of str, optional
        Ids to keep (default: every feature of ``layer``).
    layer : {"camps", "mines", "named_mines"}

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`, in the layer's order; ``attrs`` holds ``as_of``,
        ``window_years`` and ``rule``.

    Examples
    --------
    >>> import atlas
    >>> t = atlas.status_table("2014-01-01", sites=["KLS-22", "KLS-25"])
    >>> t[["site_id", "status", "deciding"]].values.tolist()
    [['KLS-22', 'closed', 'F025 F027'], ['KLS-25', 'active', 'F028']]
    """
    if layer not in FINDINGS:
        raise InputError(f"layer {layer!r} has no status: one of {', '.join(STATUS_LAYERS)}")
    atlas = open_atlas(gpkg)
    day = as_of_day(as_of, atlas)
    features = atlas.layer(layer)
    key = _ID[layer]
    if sites is not None:
        features = features[features[key].isin(list(sites))]
    rows = []
    for c in features.to_dict("records"):
        s = _one(atlas, layer, c[key], day)
        d = s.as_dict()
        rows.append({
            "site_id": c[key], "layer": layer, "kind": c.get("kind") or c.get("commodity") or "",
            "name": c.get("name") or "", "province": c.get("province") or "", "as_of": d["as_of"],
            "status": s.status, "deciding": " ".join(d["deciding"]), "against": " ".join(d["against"]),
            "evidence_tier": s.tier, "evidence_tier_label": s.tier_label,
            "latest_evidence_date": d["latest_evidence_date"],
            "latest_evidence_strength": d["latest_evidence_strength"],
            "sources_disagree": s.sources_disagree, "summary": s.summary, "reason": s.reason,
        })
    out = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    out.attrs.update({"as_of": day.isoformat(), "window_years": WINDOW_YEARS, "rule": RULE})
    return out


def status_summary(as_of: str | date | None = None, gpkg: Atlas | Path | str | None = None) -> pd.DataFrame:
    """Camps by status per province on a day (``atlas summary --as-of``).

    Each camp counts in the province :func:`atlas.province_summary` counts
    it in (:func:`atlas.summaries.camp_provinces`): its point's, else the
    province its sources give; the report's own ``Unidentified or unknown``
    row of Table 2 holds no camp.

    Parameters
    ----------
    as_of : str or datetime.date, optional
        Defaults to the atlas's build date, stated in ``attrs["as_of"]``.
    gpkg : Atlas, pathlib.Path or str, optional

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


def with_status(result: pd.DataFrame, as_of: str | date | None = None,
                gpkg: Atlas | Path | str | None = None, keep=None) -> pd.DataFrame:
    """A result of :func:`atlas.near` or :func:`atlas.nearest` with each feature's status on a day.

    ``atlas near ... --status-as-of DATE`` prints it (``--status active`` keeps those rows).

    Parameters
    ----------
    result : pandas.DataFrame
        Features with an ``id`` column and ``attrs["layer"]`` one of :data:`STATUS_LAYERS`.
    as_of : str or datetime.date, optional
        Defaults to the atlas's build date.
    gpkg : Atlas, pathlib.Path or str, optional
    keep : iterable of str, optional
        Keep only the features whose status is one of these.

    Returns
    -------
    pandas.DataFrame
        A copy with ``status`` after ``kind`` and ``status_summary`` at the end; ``attrs``
        gains ``status_as_of`` and ``status_rule``.

    Raises
    ------
    InputError
        The layer has no status, or ``keep`` names a value not in :data:`STATUSES`.

    Examples
    --------
    >>> import atlas
    >>> r = with_status(atlas.near("KLS-14", km=20), "2016-01-01")
    >>> r.attrs["status_as_of"], set(r["status"]) <= set(STATUSES)
    ('2016-01-01', True)
    """
    layer = result.attrs.get("layer")
    if layer not in FINDINGS:
        raise InputError(f"layer {layer!r} has no status: only {', '.join(STATUS_LAYERS)} do")
    wanted = [str(k) for k in (keep or [])]
    bad = sorted(set(wanted) - set(STATUSES))
    if bad:
        raise InputError(f"status {', '.join(bad)} is not one of {', '.join(STATUSES)}")
    atlas = open_atlas(gpkg)
    day = as_of_day(as_of, atlas)
    found = [_one(atlas, layer, str(i), day) for i in result["id"]]
    out = result.copy()
    at = list(out.columns).index("kind") + 1 if "kind" in out.columns else len(out.columns)
    out.insert(at, "status", [s.status for s in found])
    out["status_summary"] = [s.summary for s in found]
    if wanted:
        out = out[out["status"].isin(wanted)]
    out.attrs = {**result.attrs, "status_as_of": day.isoformat(), "status_rule": RULE}
    return out
