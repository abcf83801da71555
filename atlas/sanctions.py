"""Is what a mine produces under UN sanctions, and since when?

The UN Security Council's measures on the DPRK's mineral exports (resolutions
2270, 2321, 2371 and 2397; ``geodata/sanctions/unscr_dprk_commodity_measures.csv``)
become the table layer ``sanctions_measures``. For a commodity and a date, the
measure in force is the latest one adopted **on or before** that date that names
the commodity (a later resolution on the same commodity supersedes the earlier
one: coal's ban with the livelihood exception of 2016-03-02, its cap of
2016-11-30, its full ban of 2017-08-05). A measure applies from the day of its
resolution's adoption.

Paragraph numbers and HS codes are not given: no copy of the resolutions' text
was read for the atlas, so none is cited. A commodity the table does not name
(uranium, for one) has no measure *in this table*; that is not a statement that
no other UN measure touches it.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd

from . import sources
from .errors import InputError, NotFoundError
from .i18n import N_, current_lang, format_date, gettext, term
from .search import resolve
from .store import Atlas, open_atlas

__all__ = ["SOURCE", "commodity_names", "count_sanctioned", "day_or_latest", "measures_on", "measures_table", "mine_commodities",
           "sanctions_columns", "sanctions_status", "status_on", "with_sanctions"]

SOURCE = "sanctions/unscr_dprk_commodity_measures.csv"
LICENCE = "UN documents: facts, cite the resolution"
NOT_CITED = ("paragraph numbers and HS codes not given: no copy of the resolution text was read "
             "for the atlas")
NO_MEASURE = N_("no measure in the atlas's table")
_COAL = re.compile(r"coal|lignite|anthracite", re.I)


def measures_table(root: Path | None = None) -> pd.DataFrame:
    """The UN commodity measures as a table, one row per measure, oldest first.

    Parameters
    ----------
    root : pathlib.Path, optional
        The geodata folder.

    Returns
    -------
    pandas.DataFrame
        ``measure_id``, ``resolution``, ``adopted`` (ISO date), ``measure``,
        ``commodities_as_worded``, ``atlas_commodities`` (``;``-separated),
        ``note``, ``source``, ``licence`` and ``citation_note``.

    Examples
    --------
    >>> from atlas.sanctions import measures_table
    >>> t = measures_table()
    >>> t[["resolution", "adopted", "measure"]].iloc[0].tolist()
    ['S/RES/2270 (2016)', '2016-03-02', 'ban with exception']
    """
    df = sources.read_csv(SOURCE, root)
    df = df.sort_values("adopted", kind="stable").reset_index(drop=True)
    df.insert(0, "measure_id", [f"UNSC-{i:02d}" for i in range(1, len(df) + 1)])
    df["licence"] = LICENCE
    df["citation_note"] = NOT_CITED
    return df


def mine_commodities(commodity: str, table: pd.DataFrame | None = None) -> list[str]:
    """The commodity names of the measures table that a mine's commodity text covers.

    Examples
    --------
    >>> mine_commodities("thermal coal"), mine_commodities("lead; zinc"), mine_commodities("uranium")
    (['coal'], ['lead', 'zinc'], [])
    """
    out: list[str] = []
    for part in re.split(r"[;,/]", str(commodity or "")):
        p = part.strip().lower()
        if not p:
            continue
        name = "coal" if _COAL.search(p) else "iron ore" if "iron" in p else p
        if name in (_known() if table is None else commodity_names(table)) and name not in out:
            out.append(name)
    return out


_KNOWN: set[str] | None = None


def commodity_names(table: pd.DataFrame) -> set[str]:
    """The commodities a measures table names (its ``atlas_commodities``)."""
    return {c.strip() for cs in table["atlas_commodities"] for c in cs.split(";") if c.strip()}


def _known() -> set[str]:
    global _KNOWN
    if _KNOWN is None:
        _KNOWN = commodity_names(measures_table())
    return _KNOWN


def _date(value) -> dt.date:
    if value is None:
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"not a date: {value!r} (write it as YYYY-MM-DD)") from None


def status_on(commodity: str, date, table: pd.DataFrame | None = None) -> dict:
    """The measure in force for one commodity on one date.

    Parameters
    ----------
    commodity : str
        A commodity name of the measures table (``coal``, ``iron ore``, ``magnesite``, ...).
    date : datetime.date or str
        The day asked about (``YYYY-MM-DD``).
    table : pandas.DataFrame, optional
        :func:`measures_table`.

    Returns
    -------
    dict
        ``commodity``, ``date``, ``resolution``, ``measure``, ``adopted``, ``note``
        (empty strings and ``measure = "none"`` before the first measure).

    Examples
    --------
    >>> status_on("coal", "2016-03-01")["measure"]
    'none'
    >>> s = status_on("coal", "2016-03-02")
    >>> s["resolution"], s["measure"], s["adopted"]
    ('S/RES/2270 (2016)', 'ban with exception', '2016-03-02')
    >>> status_on("coal", "2017-08-05")["measure"], status_on("magnesite", "2017-12-22")["resolution"]
    ('ban', 'S/RES/2397 (2017)')
    """
    table = measures_table() if table is None else table
    day = _date(date)
    names = table["atlas_commodities"].map(lambda s: {c.strip() for c in s.split(";")})
    rows = table[names.map(lambda s: commodity in s) & (table["adopted"] <= day.isoformat())]
    if rows.empty:
        return {"commodity": commodity, "date": day.isoformat(), "resolution": "", "measure": "none",
                "adopted": "", "note": ""}
    r = rows.iloc[-1]
    return {"commodity": commodity, "date": day.isoformat(), "resolution": r["resolution"],
            "measure": r["measure"], "adopted": r["adopted"], "note": r["note"]}


def day_or_latest(date, table: pd.DataFrame) -> str:
    """``date`` as ISO text; None means after the table's last resolution."""
    return table["adopted"].max() if date is None else _date(date).isoformat()


def measures_on(commodities: pd.Series, date=None, table: pd.DataFrame | None = None) -> pd.Series:
    """Per feature, the measure in force on ``date`` for each of its commodities, as text.

    Parameters
    ----------
    commodities : pandas.Series
        The ``commodity`` column of mines or named mines.
    date : datetime.date or str, optional
        Default: after the table's last resolution.
    table : pandas.DataFrame, optional
        :func:`measures_table`.

    Returns
    -------
    pandas.Series
        ``coal: cap (S/RES/2321 (2016), 2016-11-30)``; ``none`` before a first
        measure; ``no measure in the atlas's table`` for a commodity it does not name.

    Examples
    --------
    >>> import pandas as pd
    >>> measures_on(pd.Series(["thermal coal", "uranium"]), "2016-12-01").tolist()
    ['coal: cap (S/RES/2321 (2016), 2016-11-30)', "no measure in the atlas's table"]
    """
    table = measures_table() if table is None else table
    day = day_or_latest(date, table)
    out = []
    for text in commodities:
        parts = []
        for c in mine_commodities(text, table):
            st = status_on(c, day, table)
            # the commodity and the measure in the words of the product being written (atlas.i18n.use_lang)
            parts.append(f"{term(c)}: {term(st['measure'])}" + (
                f" ({st['resolution']}, {format_date(st['adopted'], current_lang())})" if st["resolution"] else ""))
        out.append("; ".join(parts) if parts else gettext(NO_MEASURE))
    return pd.Series(out, index=commodities.index, dtype=object)


def count_sanctioned(commodities: pd.Series, date=None, table: pd.DataFrame | None = None) -> tuple[int, str]:
    """How many of these mines produce a commodity under a measure on ``date``, and by commodity.

    Returns
    -------
    (int, str)
        The number of mines with at least one commodity under a measure, and
        ``coal 5; iron ore 3`` (a mine counts once per commodity under a measure).

    Examples
    --------
    >>> import pandas as pd
    >>> count_sanctioned(pd.Series(["coal", "lead; zinc", "uranium"]), "2016-12-01")
    (2, 'coal 1; zinc 1')
    """
    table = measures_table() if table is None else table
    day = day_or_latest(date, table)
    counts: dict[str, int] = {}
    mines = 0
    for text in commodities:
        hit = [c for c in mine_commodities(text, table) if status_on(c, day, table)["measure"] != "none"]
        mines += bool(hit)
        for c in hit:
            counts[c] = counts.get(c, 0) + 1
    return mines, "; ".join(f"{c} {n}" for c, n in sorted(counts.items()))


def _history(commodity: str, table: pd.DataFrame) -> list[dict]:
    names = table["atlas_commodities"].map(lambda s: {c.strip() for c in s.split(";")})
    return table[names.map(lambda s: commodity in s)].to_dict("records")


def sanctions_columns(commodities: pd.Series, table: pd.DataFrame) -> pd.DataFrame:
    """Per feature: the sanctioned commodities, the measure in force, since when, every step.

    The measure "in force" is the one after the last resolution in the table
    (the table's latest date), so a rebuild gives the same values on any day.

    Returns
    -------
    pandas.DataFrame
        ``sanctions_commodities``, ``sanctions_measure``, ``sanctions_first_date``
        (the first day a measure covered one of its commodities), ``sanctions_history``.
    """
    last = table["adopted"].max()
    out = []
    for text in commodities:
        names = mine_commodities(text, table)
        now, history, first = [], [], []
        for c in names:
            s = status_on(c, last, table)
            now.append(f"{c}: {s['measure']} since {s['adopted']} ({s['resolution']})")
            steps = _history(c, table)
            history.append(f"{c}: " + "; ".join(f"{h['adopted']} {h['measure']} ({h['resolution']})"
                                                  for h in steps))
            first += [h["adopted"] for h in steps]
        out.append({
            "sanctions_commodities": "; ".join(names),
            "sanctions_measure": " | ".join(now) if names else NO_MEASURE,
            "sanctions_first_date": min(first) if first else None,
            "sanctions_history": " | ".join(history),
        })
    return pd.DataFrame(out, index=commodities.index)


def sanctions_status(mine, date=None, gpkg: Atlas | Path | str | None = None) -> pd.DataFrame:
    """The UN measure in force on a date for each commodity a mine produces.

    Parameters
    ----------
    mine : str or Site
        A mine of the ``mines`` layer (or, failing that, of ``named_mines``): id
        (``M002``), name or any spelling :func:`atlas.find` knows; or a resolved
        :class:`atlas.Site`.
    date : datetime.date or str, optional
        The day asked about (``YYYY-MM-DD``); defaults to today. A measure is in
        force from the day its resolution was adopted.
    gpkg : pathlib.Path or str, optional
        The atlas GeoPackage; defaults to ``output/atlas.gpkg``.

    Returns
    -------
    pandas.DataFrame
        One row per commodity: ``mine_id``, ``name``, ``commodity``, ``date``,
        ``resolution``, ``measure``, ``adopted``, ``note``. A mine whose
        commodity the table does not name gets one row with
        ``measure = "no measure in the atlas's table"``.

    Raises
    ------
    NotFoundError, AmbiguousError
        The name does not resolve to exactly one mine.
    InputError
        The date is not a date.

    Examples
    --------
    >>> import atlas
    >>> s = atlas.sanctions_status("Cheongnam Coal Mine", "2016-11-30")
    >>> s[["commodity", "resolution", "measure", "adopted"]].iloc[0].tolist()
    ['coal', 'S/RES/2321 (2016)', 'cap', '2016-11-30']
    >>> atlas.sanctions_status("M001", "2017-08-04")[["commodity", "measure"]].values.tolist()
    [['lead', 'none'], ['zinc', 'ban']]
    """
    atlas = open_atlas(gpkg)
    if hasattr(mine, "layer"):
        site = mine
    else:
        try:  # the mines layer first: a named district sharing the name is not the mine
            site = resolve(str(mine), atlas, layers=["mines"])
        except NotFoundError:
            site = resolve(str(mine), atlas, layers=["mines", "named_mines"])
    layer = atlas.layer(site.layer)
    id_col = "mine_id" if site.layer == "mines" else "named_id"
    row = layer[layer[id_col] == site.id].iloc[0]
    table = atlas.layer("sanctions_measures")  # the GeoPackage's copy: one input
    day = _date(date)
    names = mine_commodities(row["commodity"], table)
    rows = [status_on(c, day, table) for c in names] or [
        {"commodity": row["commodity"], "date": day.isoformat(), "resolution": "",
         "measure": NO_MEASURE, "adopted": "", "note": "uranium and other commodities the table "
         "does not name: no statement about other UN measures"}]
    out = pd.DataFrame(rows)
    out.insert(0, "name", site.name)
    out.insert(0, "mine_id", site.id)
    out.attrs["citation_note"] = NOT_CITED
    return out


#: The layers whose features carry a ``commodity`` that :func:`with_sanctions` can judge.
MINE_LAYERS = ("mines", "named_mines")


def _prose(commodity, day: str, table: pd.DataFrame) -> str:
    """``cap since 2016-11-30, S/RES/2321 (2016)``: the measure of each commodity, in words.

    The commodity is named only when a mine has several (as :func:`sanctions_status` lists them).
    """
    names = mine_commodities(commodity, table)
    if not names:
        return gettext(NO_MEASURE)
    parts = []
    for c in names:  # in the words of the product being written (atlas.i18n.use_lang)
        st = status_on(c, day, table)
        what = f"{term(c)}: " if len(names) > 1 else ""
        parts.append(f"{what}{term(st['measure'])}" + (gettext(" since %(date)s, %(resolution)s") % {
            "date": format_date(st["adopted"], current_lang()), "resolution": st["resolution"]}
            if st["resolution"] else ""))
    return "; ".join(parts)


def with_sanctions(mines: pd.DataFrame, date=None, gpkg: Path | str | None = None, *,
                   prose: bool = False) -> pd.DataFrame:
    """Mines with a ``sanctions`` column: the UN measure in force on a day on each one's commodities.

    The one place where a table of mines (a result of :func:`atlas.near` or
    :func:`atlas.nearest` on ``mines`` or ``named_mines``, or rows of those
    layers) gets its sanctions: ``atlas near --sanctions`` prints it, and the
    dossiers list it for the site and for every mine nearby.

    Parameters
    ----------
    mines : pandas.DataFrame
        Features with a ``commodity`` column and ``attrs["layer"]`` naming a
        layer of mines (``mines`` or ``named_mines``).
    date : datetime.date or str, optional
        The day (``YYYY-MM-DD``); default: after the table's last resolution.
    gpkg : pathlib.Path or str, optional
        The atlas whose ``sanctions_measures`` table is read (default
        ``output/atlas.gpkg``, or an atlas in PostGIS).
    prose : bool
        Word each measure as a sentence does (``cap since 2016-11-30,
        S/RES/2321 (2016)``, the commodity named only when a mine has several),
        as the dossiers print it; default as :func:`measures_on` does
        (``coal: cap (S/RES/2321 (2016), 2016-11-30)``).

    Returns
    -------
    pandas.DataFrame
        A copy with ``sanctions`` after ``commodity`` and, in ``attrs``,
        ``sanctions`` (what was asked: the day, or "after" the latest
        resolution) and ``sanctions_note`` (what is not cited).

    Raises
    ------
    InputError
        ``mines`` is not a layer of mines, or ``date`` is not a date.

    Examples
    --------
    >>> import atlas
    >>> from atlas.sanctions import with_sanctions
    >>> near = with_sanctions(atlas.near("KLS-14", km=20), "2016-12-01")
    >>> near.attrs["sanctions"]
    'UN Security Council measures in force on 2016-12-01'
    >>> near[["commodity", "sanctions"]].iloc[-1].tolist()
    ['thermal coal', 'coal: cap (S/RES/2321 (2016), 2016-11-30)']
    >>> with_sanctions(atlas.near("KLS-14", km=20), "2016-12-01", prose=True)["sanctions"].iloc[-1]
    'cap since 2016-11-30, S/RES/2321 (2016)'
    """
    layer = mines.attrs.get("layer")
    if layer not in MINE_LAYERS or "commodity" not in mines.columns:
        raise InputError(f"a sanctions column needs a layer of mines ({', '.join(MINE_LAYERS)}), not {layer}")
    table = open_atlas(gpkg).layer("sanctions_measures")  # the GeoPackage's copy: one input
    day = day_or_latest(date, table)
    if prose:
        column = pd.Series([_prose(c, day, table) for c in mines["commodity"]], index=mines.index,
                           dtype=object)
    else:
        column = measures_on(mines["commodity"], day, table)
    out = mines.copy()
    out.insert(list(out.columns).index("commodity") + 1, "sanctions", column)
    out.attrs.update(mines.attrs)
    out.attrs["sanctions"] = (f"UN Security Council measures in force on {day}" if date else
                              f"UN Security Council measures in force after {day} (latest resolution)")
    out.attrs["sanctions_note"] = NOT_CITED
    return out
