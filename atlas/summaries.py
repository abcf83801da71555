"""Summaries: the report's Table 2 beside the atlas's geolocated features, by province or county.

:func:`province_summary` sets the report's Table 2 beside the atlas's
geolocated features, counted by a spatial join
(:func:`atlas.admin.assign_admin`) against the GeoPackage's boundaries,
never from a column of a source file; :func:`county_summary` does the same
by county; :func:`summary` is either, as ``atlas summary --by``.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from . import io
from .admin import TOLERANCE_KM, admin_units, assign_admin
from .errors import InputError
from .i18n import gettext
from .shares import admin_by_share
from .store import Atlas, open_atlas
from .userlayers import gate

__all__ = ["county_summary", "province_summary", "summary"]

# --- summaries -------------------------------------------------------------------------------


def _by_type(classes: pd.Series) -> str:
    from .schema import COMMODITY_CLASSES

    counts = classes.value_counts()
    return "; ".join(f"{c} {int(counts[c])}" for c in COMMODITY_CLASSES if counts.get(c, 0))


def _joined(layer: str, atlas: Atlas, cols: list[str]) -> gpd.GeoDataFrame:
    df = atlas.layer(layer)
    return assign_admin(df[[*cols, "geometry"]], atlas)


def _province_of_text(texts: pd.Series, provinces: pd.DataFrame) -> pd.Series:
    """The report province a province text names ('South Pyongan' -> 'South Pyongan Province'), or None."""
    def norm(t) -> str:
        return re.sub(r"[^a-z]", "", str(t or "").lower())

    bases = [(norm(re.sub(r" (Province|City)$", "", n)), n) for n in provinces["name_en"]]
    bases.sort(key=lambda b: -len(b[0]))  # 'south pyongan' before 'pyongan'

    def one(t):
        t = norm(t)
        return next((name for base, name in bases if t and t.startswith(base)), None)

    return texts.map(one)


def _with_given_province(df: gpd.GeoDataFrame, layer: str, id_col: str, atlas: Atlas) -> gpd.GeoDataFrame:
    """Features without a coordinate count in the province their sources give, flagged (``_given``)."""
    raw = atlas.layer(layer)
    cols = [c for c in ("province_inferred", "province_as_given") if c in raw.columns]
    df = df.copy()
    df["_given"] = False
    if not cols:
        return df
    missing = (df.geometry.isna() | df.geometry.is_empty).to_numpy()
    if missing.any():
        texts = raw.set_index(id_col)[cols].reindex(df.loc[missing, id_col]).fillna("").astype(str)
        given = texts.apply(lambda r: next((v for v in r if v.strip()), ""), axis=1)
        named = _province_of_text(given, atlas.layer("provinces")).to_numpy()
        df.loc[missing, "province"] = named
        df.loc[missing, "_given"] = pd.notna(named)
    return df


def camp_provinces(gpkg: Atlas | Path | str | None = None) -> pd.Series:
    """The province each camp counts in, as :func:`province_summary` counts it.

    A located camp gets the province of its point (spatial join); a camp
    without a public coordinate gets the province its sources give; a camp
    with neither gets ``"Atlas: no province known"`` (never the report's own
    ``Unidentified or unknown`` row of Table 2).

    Parameters
    ----------
    gpkg : path, optional
        The atlas GeoPackage; defaults to the current atlas.

    Returns
    -------
    pandas.Series
        Province name, indexed by ``site_id``.

    Examples
    --------
    >>> import atlas.summaries as s
    >>> s.camp_provinces()["KLS-15"]
    'South Hamgyong Province'
    """
    atlas = open_atlas(gpkg)
    camps = _with_given_province(_joined("camps", atlas, ["site_id"]), "camps", "site_id", atlas)
    return camps.set_index("site_id")["province"].fillna(_NO_PROVINCE).replace("", _NO_PROVINCE)


def _features(atlas: Atlas, *, include_private: bool = False) -> dict[str, gpd.GeoDataFrame]:
    mines = _with_given_province(_joined("mines", atlas, ["mine_id", "commodity_class", "commodity"]), "mines",
                                 "mine_id", atlas)
    camps = _with_given_province(_joined("camps", atlas, ["site_id", "kind", "number", "status_class",
                                                                     "status_as_of"]), "camps",
                                 "site_id", atlas)
    named = _with_given_province(_joined("named_mines", atlas, ["named_id", "commodity_class"]), "named_mines",
                                 "named_id", atlas)
    feats = {"mines": mines, "camps": camps, "named_mines": named}
    allowed = gate(atlas, "summary", include_private=include_private)  # a private one only when asked
    for name in allowed.names:  # a user's layer: one column
        feats[name] = _joined_user(name, allowed.atlas)
    return feats


def _joined_user(name: str, atlas: Atlas) -> pd.DataFrame:
    """A user layer's province and county per feature (no geometry, no attributes): located a chunk at a
    time, so that a layer of a million points is never held whole."""
    keys = ["province", "county_id"]  # what the summaries count by
    parts = [pd.DataFrame(_locate(part, atlas)[keys]) for part in io.layer_chunks(atlas, name, columns=[])]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=keys)


def _locate(part, atlas: Atlas) -> pd.DataFrame:
    """Province and county of a chunk of a user layer: points by :func:`assign_admin`, lines and polygons
    by the largest share of their length or area (:func:`atlas.shares.admin_by_share`), as imported."""
    geoms = part.geometry.to_crs(4326) if part.crs is not None and part.crs.to_epsg() != 4326 else part.geometry
    kinds = set(geoms.dropna().geom_type)
    if not kinds & {"LineString", "MultiLineString", "Polygon", "MultiPolygon"}:
        return assign_admin(part[["geometry"]], atlas)
    family = "polygons" if kinds & {"Polygon", "MultiPolygon"} else "lines"
    return admin_by_share(admin_units(atlas), np.asarray(geoms.values, dtype=object), family, TOLERANCE_KM)


def _user_columns(feats: dict) -> list[str]:
    return [k for k in feats if k.startswith("user_")]


_UNKNOWN = "Unidentified or unknown"
_NO_PROVINCE = "Atlas: no province known"
#: Camp status columns (``status_class``: the rule of :mod:`atlas.evidence` on the build date,
#: ``status_as_of``): camps are counted by status, not all together.
_STATUS_COLUMNS = {"active": "camps_active", "contested": "camps_contested", "closed": "camps_closed",
                   "relocated": "camps_relocated", "unknown": "camps_status_unknown"}
_SUMMARY_COUNTS = ["geolocated_mines", "geolocated_by_type", "kwan_li_so", "kyo_hwa_so",
                   "other_camp_sites", *_STATUS_COLUMNS.values(), "named_mines", "counted_without_coordinate"]


_SANCTIONS_COUNTS = ["sanctioned_mines", "sanctioned_by_commodity"]


def _sanctioned(mines: gpd.GeoDataFrame, sanctions) -> dict:
    """``sanctioned_mines`` and ``sanctioned_by_commodity`` of these mines (see :mod:`atlas.sanctions`)."""
    if sanctions is None:
        return {}
    from . import sanctions as sx

    n, by = sx.count_sanctioned(mines["commodity"], sanctions["date"], sanctions["table"])
    return {"sanctioned_mines": n, "sanctioned_by_commodity": by}


def _counts(feats: dict[str, gpd.GeoDataFrame], key: str, value, sanctions=None) -> dict:
    """The geolocated columns for the features whose ``key`` equals ``value`` (None: unassigned)."""
    def sel(df):
        v = df[key].astype(object)
        return df[v.isna()] if value is None else df[v == value]

    m, c, n = sel(feats["mines"]), sel(feats["camps"]), sel(feats["named_mines"])
    users = {k: len(sel(feats[k])) for k in _user_columns(feats)}
    flagged = [f"{i} ({layer})" for layer, df, col in (("camps", c, "site_id"), ("named_mines", n, "named_id"),
                                                       ("mines", m, "mine_id"))
               if key == "province" and "_given" in df for i in df.loc[df["_given"].astype(bool), col]]
    return {
        **_sanctioned(m, sanctions),
        "geolocated_mines": int((~m.geometry.isna() & ~m.geometry.is_empty).sum()),
        "geolocated_by_type": _by_type(m["commodity_class"]),
        "kwan_li_so": _kwan_li_so(c),
        "kyo_hwa_so": int((c["kind"] == "kyo-hwa-so").sum()),
        "other_camp_sites": int((c["kind"] == "other").sum()),
        **{col: int((c["status_class"] == st).sum()) for st, col in _STATUS_COLUMNS.items()},
        "named_mines": len(n),
        "counted_without_coordinate": "; ".join(flagged),
        **users,
    }


def _kwan_li_so(camps: pd.DataFrame) -> int:
    """Kwan-li-so counted as camps, by number: camp 18's original site and its Tongrim-ri remnant are one.

    The report names six (camps 14, 15, 16, 18, 22, 25); the camps layer holds seven sites of them.
    """
    kls = camps[camps["kind"] == "kwan-li-so"]
    return int(kls["number"].astype(str).nunique()) if "number" in kls else len(kls)


def _empty_counts(feats, sx=None) -> dict:
    """The atlas's columns on the report's own 'Unidentified or unknown' row: nothing of the atlas."""
    text = ("geolocated_by_type", "counted_without_coordinate", "sanctioned_by_commodity")
    return {c: ("" if c in text else 0)
            for c in [*_SUMMARY_COUNTS, *(_SANCTIONS_COUNTS if sx else []), *_user_columns(feats)]}


def _proposed_note(atlas: Atlas) -> str:
    mines = atlas.layer("mines")
    n = int((mines["status"].astype(str) == "proposed").sum()) if "status" in mines else 0
    return gettext("; geolocated_mines includes %(n)s proposed mine(s) (Global Energy Monitor status "
                   "'proposed', not yet a working mine)") % {"n": n} if n else ""


def _status_day(atlas: Atlas) -> str:
    """The day the camps' ``status_class`` speaks of (the build date): stated with every summary."""
    camps = atlas.layer("camps")
    days = sorted(set(camps["status_as_of"].astype(str))) if "status_as_of" in camps else []
    return days[0] if len(days) == 1 else str(atlas.build_date or "")[:10]


def _summary_attrs(atlas: Atlas, sx=None) -> dict:
    prov = atlas.layer("provinces")
    cnty = atlas.layer("counties")
    # the notes in the language of the product being written (atlas.i18n.use_lang; English elsewhere)
    extra = {} if not sx else {"sanctions": (
        gettext("sanctioned_mines: geolocated mines producing a commodity under a UN Security Council measure "
                "in force %(when)s (ban, ban with exception or cap; the sanctions_measures layer); "
                "sanctioned_by_commodity counts a mine once per such commodity")
        % {"when": sx["as_of"] if sx["date"] is None else gettext("on %(date)s") % {"date": sx["as_of"]}})}
    return {**extra,
        "boundary_source": f"provinces: {prov['boundary_source'].iloc[0]}; counties: "
                           f"{cnty['source'].iloc[0]} ({cnty['attribution'].iloc[0]})",
        "boundary_vintage": f"{prov['boundary_vintage'].iloc[0]}; counties: "
                            f"{cnty['boundary_vintage'].iloc[0]}",
        "report": str(prov["report_ref"].iloc[0]),
        "method": (gettext("features counted by a spatial join in EPSG:5179 against the "
                           "GeoPackage's boundaries (atlas.assign_admin; points up to 5 km outside every "
                           "polygon go to the nearest); a feature without a public coordinate counts in the "
                           "province its sources give, listed in counted_without_coordinate; by province, "
                           "'Unidentified or unknown' is the report's own row (Table 2) and holds none of the "
                           "atlas's features, which go to '%(no_province)s' when no province is known; "
                           "kwan_li_so counts camps by number (camp 18's original site and its Tongrim-ri remnant "
                           "are one camp: the report names six), kyo_hwa_so and other_camp_sites count sites; "
                           "camp sites are counted by kind and by status as of the build date (status_class, the "
                           "rule of docs/evidence.md on that day: active, contested, closed, relocated, unknown)")
                   % {"no_province": _NO_PROVINCE} + _proposed_note(atlas)),
        "status_as_of": _status_day(atlas),
        "gpkg": atlas.shown,
    }


def _sanctions_arg(sanctions, atlas: Atlas) -> dict | None:
    """None (no sanctions columns), or the measures table and the day: True means after the last resolution."""
    if sanctions is None or sanctions is False:
        return None
    from . import sanctions as sx

    table = atlas.layer("sanctions_measures")  # the GeoPackage's copy
    day = None if sanctions is True else sx.day_or_latest(sanctions, table)
    return {"table": table, "date": day,
            "as_of": day or gettext("after %(date)s (latest resolution)") % {"date": table["adopted"].max()}}


def province_summary(gpkg: Atlas | Path | str | None = None, sanctions=None, *,
                     include_private: bool = False) -> pd.DataFrame:
    """The report's Table 2 beside the atlas's geolocated features, per province.

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas (a GeoPackage, a PostGIS URL or an open :class:`~atlas.store.Atlas`);
        defaults to ``output/atlas.gpkg``.
    sanctions : True or date, optional
        Also count the geolocated mines whose commodity is under a UN measure
        (``sanctioned_mines``, ``sanctioned_by_commodity``): True after the
        last resolution of the table, or on a date (``YYYY-MM-DD``); see
        :func:`atlas.sanctions_status`.
    include_private : bool, default False
        Also count the user layers imported with ``private=True`` (never by
        default: a summary is pasted into reports).

    Returns
    -------
    pandas.DataFrame
        One row per report province in Table 2's order, then
        ``Unidentified or unknown`` and ``Total``. Columns: ``province``,
        ``reported_mines`` and ``reported_share_pct`` (Table 2 as printed),
        ``geolocated_mines`` and ``geolocated_by_type`` (the mines layer, by
        Table 1 class), ``kwan_li_so``, ``kyo_hwa_so``, ``other_camp_sites``
        (camps), ``named_mines`` (the mines and districts the report names,
        by their point; town proxies included) - each counted by spatial
        join, and in the unknown row the features with no public coordinate;
        then one count column per layer a user imported (``user_<name>``,
        see :func:`atlas.import_layer`; a layer imported with ``private=True``
        only with ``include_private=True``: a summary is pasted into reports). ``attrs`` holds ``boundary_source``, ``boundary_vintage``, ``report``
        and ``method``.

    Raises
    ------
    NotFoundError
        No GeoPackage at ``gpkg``.

    Examples
    --------
    >>> import atlas
    >>> t = atlas.province_summary().set_index("province")
    >>> int(t.loc["Total", "reported_mines"]), float(t.loc["South Pyongan Province", "reported_share_pct"])
    (360, 22.8)
    """
    allowed = gate(gpkg, "summary", include_private=include_private)  # the one gate
    atlas = allowed.atlas
    prov = atlas.layer("provinces").sort_values("table2_order")
    t2 = atlas.layer("report_table_2")
    feats = _features(atlas, include_private=include_private)
    sx = _sanctions_arg(sanctions, atlas)
    rows = []
    for _, p in prov.iterrows():
        rows.append({"province": p["name_en"], "reported_mines": int(p["reported_mines"]),
                     "reported_share_pct": float(p["reported_share_pct"]),
                     **_counts(feats, "province", p["name_en"], sx)})
    unk = t2[t2["row_kind"] == "unidentified"].iloc[0]
    rows.append({"province": _UNKNOWN, "reported_mines": int(unk["mines"]),
                 "reported_share_pct": float(unk["share_pct_printed"]), **_empty_counts(feats, sx)})
    nowhere = _counts(feats, "province", None, sx)
    if any(v for k, v in nowhere.items() if k not in ("geolocated_by_type", "sanctioned_by_commodity")):
        rows.append({"province": _NO_PROVINCE, "reported_mines": None, "reported_share_pct": None, **nowhere})
    total = t2[t2["row_kind"] == "total"].iloc[0]
    rows.append(_total(rows, "province", {"reported_mines": int(total["mines"]),
                                          "reported_share_pct": float(total["share_pct_printed"])},
                       feats, sx))
    out = pd.DataFrame(rows, columns=["province", "reported_mines", "reported_share_pct",
                                      *_SUMMARY_COUNTS, *(_SANCTIONS_COUNTS if sx else []),
                                      *_user_columns(feats)])
    out["reported_mines"] = out["reported_mines"].astype("Int64")  # blank on the atlas's own row
    out.attrs.update(_summary_attrs(atlas, sx), **({"banner": allowed.banner} if allowed.banner else {}))
    return out


def _total(rows: list[dict], label_col: str, fixed: dict, feats, sx=None) -> dict:
    tot = {label_col: "Total", **fixed}
    m = feats["mines"]
    for c in [*_SUMMARY_COUNTS, *_user_columns(feats)]:
        if c == "geolocated_by_type":
            tot[c] = _by_type(m.loc[~(m.geometry.isna() | m.geometry.is_empty), "commodity_class"])
        elif c == "kwan_li_so":  # a camp whose sites lie in two provinces counts once in the total
            tot[c] = _kwan_li_so(feats["camps"])
        elif c == "counted_without_coordinate":
            tot[c] = "; ".join(r[c] for r in rows if r.get(c))
        else:
            tot[c] = int(sum(r[c] for r in rows))
    if sx:
        tot.update(_sanctioned(m, sx))
    return tot


def county_summary(gpkg: Atlas | Path | str | None = None, include_empty: bool = False,
                   sanctions=None, *, include_private: bool = False) -> pd.DataFrame:
    """The atlas's geolocated features per county (the report gives no county figures).

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas (a GeoPackage, a PostGIS URL or an open :class:`~atlas.store.Atlas`);
        defaults to ``output/atlas.gpkg``.
    include_empty : bool, default False
        Also list the counties holding no feature.
    sanctions : True or date, optional
        As in :func:`province_summary`.
    include_private : bool, default False
        As in :func:`province_summary`.

    Returns
    -------
    pandas.DataFrame
        One row per county (by its report province in Table 2's order, then
        name), then ``Unidentified or unknown`` and ``Total``. Columns:
        ``county``, ``county_ko``, ``county_id``, ``province`` (the county's
        province in the counties layer) and the geolocated columns of
        :func:`province_summary`, counted by spatial join. ``attrs`` as there.

    Raises
    ------
    NotFoundError
        No GeoPackage at ``gpkg``.

    Examples
    --------
    >>> import atlas
    >>> t = atlas.county_summary()
    >>> t.iloc[-1]["county"], int(t.iloc[-1]["kwan_li_so"]) >= 6
    ('Total', True)
    """
    allowed = gate(gpkg, "summary", include_private=include_private)  # the one gate
    atlas = allowed.atlas
    cnty = atlas.layer("counties")
    order = {n: i for i, n in enumerate(atlas.layer("provinces").sort_values("table2_order")["name_en"])}
    cnty = cnty.assign(_o=cnty["province"].map(order)).sort_values(["_o", "name_en"])
    feats = _features(atlas, include_private=include_private)
    sx = _sanctions_arg(sanctions, atlas)
    rows = []
    for _, c in cnty.iterrows():
        counts = _counts(feats, "county_id", c["county_id"], sx)
        if not include_empty and not any(v for k, v in counts.items()
                                         if k not in ("geolocated_by_type", *_SANCTIONS_COUNTS)):
            continue
        rows.append({"county": c["name_en"], "county_ko": c["name_ko"], "county_id": c["county_id"],
                     "province": c["province"], **counts})
    rows.append({"county": _UNKNOWN, "county_ko": "", "county_id": "", "province": "",
                 **_counts(feats, "county_id", None, sx)})
    tot = _total(rows, "county", {"county_ko": "", "county_id": "", "province": ""}, feats, sx)
    rows.append(tot)
    out = pd.DataFrame(rows, columns=["county", "county_ko", "county_id", "province", *_SUMMARY_COUNTS,
                                      *(_SANCTIONS_COUNTS if sx else []), *_user_columns(feats)])
    out.attrs.update(_summary_attrs(atlas, sx), **({"banner": allowed.banner} if allowed.banner else {}))
    return out


def summary(by: str = "province", gpkg: Atlas | Path | str | None = None,
            include_empty: bool = False, sanctions=None, *, include_private: bool = False) -> pd.DataFrame:
    """:func:`province_summary` or :func:`county_summary`, as ``atlas summary --by``.

    Parameters
    ----------
    by : {"province", "county"}, default "province"
    gpkg : pathlib.Path or str, optional
    include_empty : bool, default False
        By county: also list the counties holding no feature.
    sanctions : True or date, optional
        Also count the mines under a UN measure (see :func:`province_summary`).
    include_private : bool, default False
        Also count the user layers imported with ``private=True``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    InputError
        ``by`` is neither ``province`` nor ``county``.

    Examples
    --------
    >>> import atlas
    >>> list(atlas.summary(by="province")["province"])[-2:]
    ['Unidentified or unknown', 'Total']
    """
    if by == "province":
        return province_summary(gpkg, sanctions, include_private=include_private)
    if by == "county":
        return county_summary(gpkg, include_empty, sanctions, include_private=include_private)
    raise InputError(f"summary by {by!r}: use province or county")
