"""Which Global Energy Monitor records are the atlas's mines, and where the ore goes.

Global Energy Monitor (GEM) publishes, under CC BY 4.0, the records behind most
of the atlas's mine points: its Global Iron Ore Mines Tracker (GIOMT) and Global
Coal Mine Tracker (GCMT). :func:`gem_records` reads both into one table;
:func:`join_gem` matches each record to an atlas mine **by position and name**
and says, for every record, what became of it:

- ``same mine``: within :data:`MATCH_KM` of an atlas mine of the same commodity
  class, with the same name (romanization folded); its values become the
  mine's ``gem_`` columns;
- ``second name at an existing point``: within :data:`MATCH_KM` of an atlas mine
  of the same class that already has its own GEM record (GEM's Hwapung at
  Cheongnam's point, Ryongdeung at Ryongmun's): an alternative name, not a point;
- ``new point (proposed mine)``: no atlas mine within :data:`MATCH_KM` and GEM's
  status is ``proposed`` (Seonhaeri): it joins the mines layer as a new row;
- ``unmatched``: anything else, with the reason.

:func:`steel_plants_layer` turns GEM's Global Iron and Steel Tracker into a layer
of its own: steel plants process ore, they are not mines.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from . import sources
from .names import keys

__all__ = ["CITATIONS", "MATCH_KM", "gem_records", "join_gem", "steel_plants_layer"]

#: A GEM record and an atlas mine are one point when they lie within this distance.
MATCH_KM = 0.5
GEOD = Geod(ellps="WGS84")
LICENCE = "CC BY 4.0 (Global Energy Monitor)"
IRON = "mines/gem_giomt_2024-11_prk.csv"
COAL = "mines/gem_gcmt_2024-05_prk.csv"
STEEL = "mines/gem_gist_2025-03_prk.csv"
#: GEM's citation per release, as GEM asks for it.
CITATIONS = {
    IRON: "Global Energy Monitor, Global Iron Ore Mines Tracker, November 2024 (V1) release.",
    COAL: "Global Energy Monitor, Global Coal Mine Tracker, May 2024 release (map data of 2024-05-22).",
    STEEL: "Global Energy Monitor, Global Iron and Steel Tracker, March 2025 release.",
}
_NOISE = re.compile(r"\b(mmi|coal|mine|mines|mining|complex|youth|hero|iron|ore)\b", re.I)

#: The ``gem_`` columns of the mines layer, in order.
GEM_COLUMNS = (
    "gem_id", "gem_name", "gem_name_ko", "gem_status", "gem_owner", "gem_owner_ko",
    "gem_coordinate_accuracy", "gem_capacity_mtpa", "gem_production_mtpa", "gem_reserves_mt",
    "gem_resources_mt", "gem_workforce", "gem_start_year", "gem_mine_type", "gem_coal_type",
    "gem_wiki", "gem_second_names", "gem_match_km", "gem_citation",
)


_NUMERIC = ("gem_capacity_mtpa", "gem_production_mtpa", "gem_reserves_mt", "gem_resources_mt",
            "gem_workforce", "gem_start_year", "gem_match_km")
_INTEGER = ("gem_workforce", "gem_start_year")


def _num(value: str, scale: float = 1.0) -> float:
    try:
        return round(float(str(value).strip()) * scale, 6)
    except ValueError:
        return np.nan  # GEM writes "unknown", "N/A" or nothing


def _year(value: str) -> float:
    m = re.match(r"\s*(\d{4})", str(value))
    return float(m.group(1)) if m else np.nan


def _ko(text: str) -> str:
    return re.sub(r"\s*\(Korean\)\s*$", "", str(text)).strip()


def gem_records(root: Path | None = None) -> pd.DataFrame:
    """GEM's iron ore and coal mine records of the DPRK, in one table.

    Parameters
    ----------
    root : pathlib.Path, optional
        The geodata folder.

    Returns
    -------
    pandas.DataFrame
        One row per GEM record: ``gem_id``, ``tracker`` (the source file),
        ``commodity_class``, ``lat``, ``lon`` and the ``gem_`` values, capacities
        and reserves in million tonnes (GIOMT's thousand tonnes divided by 1,000).

    Examples
    --------
    >>> from atlas.gem import gem_records
    >>> recs = gem_records()
    >>> recs.groupby("commodity_class").size().to_dict()
    {'coal': 14, 'iron ore': 19}
    """
    iron = sources.read_csv(IRON, root)
    coal = sources.read_csv(COAL, root)
    rows = []
    for _, r in iron.iterrows():
        rows.append({
            "gem_id": r["GEM Asset ID"], "tracker": IRON, "commodity_class": "iron ore",
            "gem_name": r["Asset name (English)"], "gem_name_ko": _ko(r["Asset name (other language)"]),
            "gem_status": r["Operating status"], "gem_owner": r["Owner"],
            "gem_owner_ko": r["Owner name in local language/script"],
            "gem_coordinate_accuracy": r["Coordinate accuracy"],
            "gem_capacity_mtpa": _num(r["Design capacity (ttpa)"], 1e-3),
            "gem_production_mtpa": _num(r["Production 2023 (ttpa)"], 1e-3),
            "gem_reserves_mt": _num(r["Total reserves (proven and probable, thousand metric tonnes)"], 1e-3),
            "gem_resources_mt": _num(
                r["Total resource (inferred, indicated and measured, thousand metric tonnes)"], 1e-3),
            "gem_workforce": np.nan, "gem_start_year": _year(r["Start date"]),
            "gem_mine_type": "", "gem_coal_type": "", "gem_wiki": r["GEM wiki page URL"],
            "lat": float(r["lat"]), "lon": float(r["lon"]),
        })
    for _, r in coal.iterrows():
        rows.append({
            "gem_id": r["id"], "tracker": COAL, "commodity_class": "coal",
            "gem_name": r["project"], "gem_name_ko": "", "gem_status": r["status"],
            "gem_owner": r["owner"], "gem_owner_ko": "",
            "gem_coordinate_accuracy": "",  # the GCMT map data gives none
            "gem_capacity_mtpa": _num(r["capacity"]), "gem_production_mtpa": _num(r["production"]),
            "gem_reserves_mt": _num(r["reserves"]), "gem_resources_mt": _num(r["resources"]),
            "gem_workforce": _num(r["workforce"]), "gem_start_year": _year(r["opening_year"]),
            "gem_mine_type": r["mine-type"], "gem_coal_type": r["coal_type"], "gem_wiki": r["url"],
            "lat": float(r["lat"]), "lon": float(r["lng"]),
        })
    out = pd.DataFrame(rows)
    out["gem_citation"] = out["tracker"].map(CITATIONS)
    return out


def _name_keys(name: str) -> set[str]:
    core = _NOISE.sub(" ", str(name))
    return keys(core) - {""}


def _same_name(a: str, b: str) -> bool:
    return bool(_name_keys(a) & _name_keys(b))


def join_gem(mines: gpd.GeoDataFrame, records: pd.DataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Match GEM records to the atlas's mines by position and name.

    Parameters
    ----------
    mines : geopandas.GeoDataFrame
        The mines layer (EPSG:4326) with ``name``, ``alt_names`` and ``commodity_class``.
    records : pandas.DataFrame
        :func:`gem_records`.

    Returns
    -------
    (mines, records)
        The mines with the ``gem_`` columns filled where a record is the same
        mine, second names added to ``alt_names``; the records with ``match``,
        ``mine_id``, ``match_km`` and ``reason`` for every one of them.

    Examples
    --------
    >>> import shapely, geopandas as gpd
    >>> from atlas.gem import gem_records, join_gem
    >>> synthetic = gpd.GeoDataFrame({"mine_id": ["M001"], "name": ["Musan"], "alt_names": [""],
    ...     "commodity_class": ["iron ore"]}, geometry=[shapely.Point(129.2636, 42.2395)], crs=4326)
    >>> _, recs = join_gem(synthetic, gem_records())
    >>> recs.set_index("gem_name").loc["MMI Musan Mine", "match"]
    'same mine'
    """
    mines = mines.copy()
    lon = mines.geometry.x.to_numpy()
    lat = mines.geometry.y.to_numpy()
    # name matches first, so a second name never takes a point from the record that owns it
    order = sorted(range(len(records)), key=lambda i: records.iloc[i]["gem_id"])
    decided, matched = _match_by_name(mines, records, order, lon, lat)
    for i in order:
        if i not in decided:
            decided[i] = _decide_without_name(mines, records, i, matched, lon, lat)
    recs = pd.DataFrame([{**records.iloc[i].to_dict(), **decided[i]} for i in range(len(records))])
    _fill_gem_columns(mines, recs)
    _add_second_names(mines, recs)
    for frame in (mines, recs):
        for col in _INTEGER:
            frame[col] = pd.to_numeric(frame[col]).round().astype("Int64")
    return mines, recs


def _nearest_mine(mines: gpd.GeoDataFrame, r: pd.Series, lon: np.ndarray,
                  lat: np.ndarray) -> tuple[int, float]:
    """The nearest mine of a record's commodity class: its position and distance in km (inf if none)."""
    same_class = (mines["commodity_class"] == r["commodity_class"]).to_numpy()
    _, _, dist = GEOD.inv(np.full(len(lon), r["lon"]), np.full(len(lat), r["lat"]), lon, lat)
    km = np.where(same_class, np.asarray(dist) / 1000.0, np.inf)
    j = int(np.argmin(km))
    return j, km[j]


def _names_the_mine(gem_name: str, mines: gpd.GeoDataFrame, j: int) -> bool:
    """Whether a GEM name is the name or one of the alternative names of mine ``j``."""
    return any(_same_name(gem_name, n) for n in
               [mines["name"].iloc[j], *str(mines["alt_names"].iloc[j]).split(";")]
               if str(n).strip())


def _match_by_name(mines: gpd.GeoDataFrame, records: pd.DataFrame, order: list[int],
                   lon: np.ndarray, lat: np.ndarray) -> tuple[dict[int, dict], dict[str, int]]:
    """The records that are the same mine (near, same name, point free), and the points they take."""
    decided: dict[int, dict] = {}
    matched: dict[str, int] = {}
    for i in order:
        r = records.iloc[i]
        j, km = _nearest_mine(mines, r, lon, lat)
        mine_id = mines["mine_id"].iloc[j]
        if km <= MATCH_KM and _names_the_mine(r["gem_name"], mines, j) and mine_id not in matched:
            matched[mine_id] = i
            decided[i] = {"match": "same mine", "mine_id": mine_id,
                          "match_km": round(float(km), 3), "reason": "same point and name"}
    return decided, matched


def _decide_without_name(mines: gpd.GeoDataFrame, records: pd.DataFrame, i: int, matched: dict[str, int],
                         lon: np.ndarray, lat: np.ndarray) -> dict:
    """What a record no name matched is: a second name at a taken point, a new proposed point, or none."""
    r = records.iloc[i]
    j, km = _nearest_mine(mines, r, lon, lat)
    near = km <= MATCH_KM
    mine_id = mines["mine_id"].iloc[j]
    if near and mine_id in matched:
        owner = records.iloc[matched[mine_id]]["gem_name"]
        return {"match": "second name at an existing point", "mine_id": mine_id,
                "match_km": round(float(km), 3),
                "reason": f"GEM places it on the point of {owner}: an alternative name, not a new point"}
    if not near and r["gem_status"] == "proposed":
        return {"match": "new point (proposed mine)", "mine_id": "", "match_km": round(float(km), 3),
                "reason": (f"no atlas mine of its class within {MATCH_KM} km (nearest "
                           f"{km:.1f} km); GEM's status is proposed: added to the mines layer")}
    return {"match": "unmatched", "mine_id": "",
            "match_km": round(float(km), 3) if np.isfinite(km) else np.nan,
            "reason": ("names differ" if near else f"no atlas mine of its class within {MATCH_KM} km")}


def _fill_gem_columns(mines: gpd.GeoDataFrame, recs: pd.DataFrame) -> None:
    """Add the ``gem_`` columns to the mines, filled from the record that is the same mine."""
    for col in GEM_COLUMNS:
        mines[col] = np.nan if col in _NUMERIC else ""
    by_id = mines.set_index("mine_id").index
    for _, r in recs[recs["match"] == "same mine"].iterrows():
        k = by_id.get_loc(r["mine_id"])
        for col in GEM_COLUMNS:
            if col in r and col not in ("gem_second_names", "gem_match_km"):
                mines.iloc[k, mines.columns.get_loc(col)] = r[col]
        mines.iloc[k, mines.columns.get_loc("gem_match_km")] = r["match_km"]


def _add_second_names(mines: gpd.GeoDataFrame, recs: pd.DataFrame) -> None:
    """Add the names of records at an existing point to that mine's ``gem_second_names`` and ``alt_names``."""
    by_id = mines.set_index("mine_id").index
    for _, r in recs[recs["match"] == "second name at an existing point"].iterrows():
        k = by_id.get_loc(r["mine_id"])
        note = f'{r["gem_name"]} (GEM {r["gem_id"]})'
        cur = mines.iloc[k, mines.columns.get_loc("gem_second_names")]
        mines.iloc[k, mines.columns.get_loc("gem_second_names")] = "; ".join(x for x in (cur, note) if x)
        alts = [a.strip() for a in str(mines.iloc[k, mines.columns.get_loc("alt_names")]).split(";") if a.strip()]
        if r["gem_name"] not in alts:
            mines.iloc[k, mines.columns.get_loc("alt_names")] = "; ".join([*alts, r["gem_name"]])


def proposed_mines(records: pd.DataFrame) -> pd.DataFrame:
    """Rows for the mines layer: GEM records that are new points of proposed mines."""
    new = records[records["match"] == "new point (proposed mine)"]
    return pd.DataFrame({
        "name": new["gem_name"], "alt_names": new["gem_name_ko"],
        "commodity": new["commodity_class"],
        "location_precision": "GEM coordinate accuracy: " + new["gem_coordinate_accuracy"],
        "precision": np.where(new["gem_coordinate_accuracy"] == "exact", "site", "approximate"),
        "town_centroid_flag": False, "status": new["gem_status"], "feature_type": "Mine (proposed)",
        "source": new["gem_citation"], "source_ref": new["gem_wiki"] + " ; GEM " + new["gem_id"],
        "licence": LICENCE, "notes": new["reason"], "record_origin": "gem",
        "lat": new["lat"], "lon": new["lon"],
    })


def steel_plants_layer(root: Path | None = None) -> gpd.GeoDataFrame:
    """GEM's steel plants in the DPRK: where the iron ore goes (processing, not mines).

    Parameters
    ----------
    root : pathlib.Path, optional
        The geodata folder.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points; province and county are added by the caller.
    """
    df = sources.read_csv(STEEL, root)
    lat = pd.to_numeric(df["lat"].str.strip())
    lon = pd.to_numeric(df["lng"].str.strip())
    out = pd.DataFrame({
        "plant_id": df["plant-id"], "name": df["plant-name-(english)"],
        "name_ko": df["plant-name-(other-language)"], "owner": df["owner"], "parent": df["parent"],
        "status": df["plant-status"], "start_year": df["start-date"].map(_year).astype("Int64"),
        "equipment": df["main-production-equipment"],
        "coordinate_accuracy": df["coordinate-accuracy"],
        "precision": np.where(df["coordinate-accuracy"] == "exact", "site", "approximate"),
        "kind": "steel plant (processing, not a mine)",
        "gem_wiki": df["gem-wiki-page"], "source": CITATIONS[STEEL], "licence": LICENCE,
        "lat": lat, "lon": lon,
    })
    geoms = [shapely.Point(x, y) for x, y in zip(lon, lat)]
    return gpd.GeoDataFrame(out, geometry=geoms, crs="EPSG:4326")
