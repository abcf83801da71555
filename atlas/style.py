"""The one palette of the atlas: the HTML map, the QGIS styles and the raster style share it.

A reader who learns a colour or a shape on the map sees the same in QGIS.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .i18n import N_  # the legends' labels, translated where a product shows them

__all__ = ["COMMODITY_COLOURS", "DENSITY_RAMP", "FINDING_TYPE_LABELS", "KIND_LABELS", "KIND_SHAPES",
           "MINE_PRECISION_SYMBOLS", "NAMED_MINE_SYMBOLS", "PROVINCE_RAMP", "STATUS_COLOURS",
           "TIER_COLOURS", "PrecisionSymbol", "class_breaks", "evidence_label", "finding_order",
           "finding_type_label", "page_ref"]

#: Fill colour per Table 1 commodity class.
COMMODITY_COLOURS = {
    "coal": "#262626",
    "iron ore": "#b34a1d",
    "non-ferrous metal": "#1f6fb4",
    "non-metallic mineral": "#2e9d3a",
}
#: Fill colour per camp status class (contested: the sources disagree; relocated: as of a date,
#: :func:`atlas.status_at`).
STATUS_COLOURS = {"active": "#d7301f", "closed": "#8c8c8c", "contested": "#8e44ad",
                  "relocated": "#2b8cbe", "unknown": "#ffffff"}
#: Fill colour per evidence tier (:data:`atlas.evidence.TIERS`): dark blue for imagery and
#: testimony agreeing, purple where they disagree, paler for weaker bases, white for none.
TIER_COLOURS = {1: "#08306b", 2: "#8e44ad", 3: "#2171b5", 4: "#6baed6", 5: "#c6dbef", 6: "#ffffff"}
#: Marker shape per camp kind.
KIND_SHAPES = {"kwan-li-so": "square", "kyo-hwa-so": "triangle", "other": "diamond"}
#: What each camp kind is, in words.
KIND_LABELS = {
    "kwan-li-so": "kwan-li-so (political prison camp)",
    "kyo-hwa-so": "kyo-hwa-so (prison labour camp)",
    "other": "suspected or other site",
}


class PrecisionSymbol(NamedTuple):
    """How sure a point is, drawn the same on the map and in QGIS.

    The colour is the commodity's; the precision sets how solid the symbol is.
    """

    label: str  #: what the point is, in the legend
    fill: float  #: fill opacity: 1 filled, 0 hollow
    outline: str  #: outline style: ``solid``, ``dash`` or ``dot``
    mark: str = ""  #: a letter drawn in the symbol (``T``: a town, not the mine)


#: Mines by the ``precision`` of their point.
MINE_PRECISION_SYMBOLS = {
    "site": PrecisionSymbol(N_("the mine's site"), 1.0, "solid"),
    "approximate": PrecisionSymbol(N_("approximate (mine area or district)"), 0.35, "dash"),
    "town": PrecisionSymbol(N_("the town, not the mine's location"), 0.0, "dash", "T"),
}
#: The report's named mines by the ``precision`` of their point (what the point is).
NAMED_MINE_SYMBOLS = {
    "site": PrecisionSymbol(N_("the named mine itself"), 1.0, "solid"),
    "district member": PrecisionSymbol(N_("a mine of the named district"), 0.4, "solid"),
    "probable same mine": PrecisionSymbol(N_("probably the named mine (inferred from the name)"), 0.25, "dash"),
    "nearby mine": PrecisionSymbol(N_("a nearby mine, not the named one"), 0.15, "dash"),
    "town proxy": PrecisionSymbol(N_("town proxy, NOT the mine's location"), 0.0, "dash", "T"),
    "none": PrecisionSymbol(N_("no public coordinate"), 0.0, "dot"),
}
#: Light-to-dark ramp of the provinces' reported mine counts.
PROVINCE_RAMP = ("#fff4d2", "#fdc36f", "#f08a3c", "#c9352b", "#6d0f3a")
#: Density ramp (ColorBrewer YlOrRd): pale for the lowest value, darkest red for the highest.
DENSITY_RAMP = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c",
                "#bd0026", "#800026")
#: A finding's type (``camp_findings.finding_type``) in words, for readers.
FINDING_TYPE_LABELS = {
    "mine_active": "mine in operation",
    "mine_present": "mine present",
    "mine_inactive": "mine inactive",
    "mine_dismantled": "mining facilities dismantled",
    "economic_activity": "economic activity",
    "housing_razed": "housing razed",
    "housing_increase": "housing added",
    "closure": "closure",
    "rail_line": "rail line",
    "imagery_coverage": "imagery coverage",
    "security_upgrade": "security upgraded",
    "camp_extent": "extent of the camp",
    "population_increase": "population increase",
    "infrastructure": "infrastructure",
    "active_detention": "detention in operation",
    "expansion": "expansion",
    "demolition": "demolition",
    "testimony": "testimony",
    # types the data uses that are worded as their names say (named here so that a page in another language
    # can look them up: atlas.i18n.TERMS)
    "camp_described": "camp described",
    "forced_labour": "forced labour",
    "mine_identified": "mine identified",
    "mine_labour": "mine labour",
    "mine_operated": "mine operated",
    "prisoner_transfer": "prisoner transfer",
    "relocation": "relocation",
    "report_statement": "report statement",
    "flooding": "flooding",
    "gem_status": "gem status",
    "opening_year": "opening year",
    "reduced_output": "reduced output",
}


def finding_type_label(finding_type: str) -> str:
    """A finding type in words (an unknown type: its underscores as spaces).

    Examples
    --------
    >>> finding_type_label("mine_dismantled"), finding_type_label("new_type")
    ('mining facilities dismantled', 'new type')
    """
    key = str(finding_type or "").strip()
    return FINDING_TYPE_LABELS.get(key, key.replace("_", " "))


def evidence_label(basis, hand=None) -> str:
    """What a finding rests on, in words, with whose testimony it is.

    Examples
    --------
    >>> evidence_label("imagery"), evidence_label("testimony", "first-hand"), evidence_label("testimony", "unstated")
    ('imagery', 'testimony (first-hand)', 'testimony (hand unstated)')
    """
    basis, hand = _text(basis), _text(hand)
    if not basis or not hand:
        return basis
    return f"{basis} ({'hand unstated' if hand == 'unstated' else hand})"


def finding_order(date_start, date_end, finding_id) -> tuple[str, str, str]:
    """Sort key of a finding: oldest first by start (else end), undated last, then by id."""
    start, end = _text(date_start), _text(date_end)
    return (start or end or "9999", end or "9999", _text(finding_id))


def _text(value) -> str:
    from .formats import cell_text  # formats loads geopandas: only when a label is made

    return cell_text(value)


#: A locator that already says what it counts: a page (``p. 29``, ``pp. 17-21``), a paragraph
#: (``par. 790``, ``¶ 3``) or a footnote (``fn 70``).
_NAMES_A_PAGE = re.compile(r"(?:\b(?:pp?|pages?|paras?|par|fn|footnote)\.?\s*\d)|¶", re.IGNORECASE)


def page_ref(page) -> str:
    """A page as a reader cites it: as given when it already names one (``p. 29``), else ``p. `` + it.

    The findings' ``page`` column holds the page as its source prints it, prefix
    included (``p. 17-21 (...)``, ``Hawk 2013 p.31``); never print ``p. p.``.

    Examples
    --------
    >>> page_ref("p. 29 (Camp 14 imagery report)"), page_ref("yumpu p.34"), page_ref("35"), page_ref(None)
    ('p. 29 (Camp 14 imagery report)', 'yumpu p.34', 'p. 35', '')
    >>> page_ref("par. 790 (COI report)")
    'par. 790 (COI report)'
    """
    text = _text(page)
    if not text:
        return ""
    return text if _NAMES_A_PAGE.search(text) else f"p. {text}"


def class_breaks(values, n: int = 5) -> list[int]:
    """Upper limits of an equal-interval classification with round steps from 0 (the provinces).

    The map and the QGIS style draw the provinces' Table 2 counts with these
    classes; counts are whole numbers, so class ``k`` runs from the previous
    limit + 1 to its own limit.

    Examples
    --------
    >>> class_breaks([82, 12, 3])
    [20, 40, 60, 80, 100]
    >>> class_breaks([4])
    [1, 2, 3, 4, 5]
    """
    import math

    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    top = max(max(finite, default=1.0), 1.0)
    step = max(1, math.ceil(top / n / 5) * 5) if top > 25 else max(1, math.ceil(top / n))
    return [step * (i + 1) for i in range(n)]
