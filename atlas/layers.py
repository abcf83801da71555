"""Turn the registered source files into the atlas layers.

Data flows one way: :mod:`atlas.sources` (verified files) → this module
(layers as GeoDataFrames) → :mod:`atlas.schema` (validation) → the GeoPackage.
Province and county of every point come from :func:`atlas.admin.join_admin`,
never from a column of a source CSV.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from . import gem, sanctions, sources
from .admin import join_admin
from .dates import parse_date_text
from .errors import InputError
from .evidence import site_evidence
from .ids import assign_ids, check_held, check_register, retired

__all__ = ["BOUNDARY_VINTAGE", "build_layers"]

GEOD = Geod(ellps="WGS84")
REPORT = "Gulag, Inc. (HRNK 2016)"
BOUNDARY_SOURCE_PROVINCES = "Natural Earth 10m admin-1 v5.1 (public domain), special cities folded"
BOUNDARY_VINTAGE = (
    "provinces: Natural Earth v5.1 (Pyongyang at its pre-2010 extent, no Nampo/Kaesong units); "
    "counties: OpenStreetMap 2020 export"
)
FACT_LICENCE = "fact cited to its source (no open data licence)"
#: The id register: the permanent ids of mines and named mines, and every retired id (atlas.ids).
IDS = "ids.csv"
_HANGUL = re.compile(r"[\uac00-\ud7a3][\uac00-\ud7a3\s0-9제호]*")


def _geodesic_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist) / 1000.0


def _points(df: pd.DataFrame, lat: str = "lat", lon: str = "lon") -> gpd.GeoSeries:
    """Points from text lat/lon columns; an empty cell gives no geometry (never a guess)."""
    la = pd.to_numeric(df[lat].replace("", np.nan))
    lo = pd.to_numeric(df[lon].replace("", np.nan))
    geoms = [
        shapely.Point(x, y) if not (np.isnan(x) or np.isnan(y)) else None
        for x, y in zip(lo, la)
    ]
    return gpd.GeoSeries(geoms, index=df.index, crs="EPSG:4326")


def _hangul(*texts: str) -> str:
    for text in texts:
        found = _HANGUL.search(text or "")
        if found:
            return found.group(0).strip()
    return ""


# --- boundaries -----------------------------------------------------------------


def provinces_layer(root: Path | None = None) -> gpd.GeoDataFrame:
    """The report's 10 provinces with Table 2 attached."""
    ne = sources.read_geojson("boundaries/ne10m_admin1_prk.geojson", root)
    cross = sources.read_csv("boundaries/crosswalk_prk_adm1.csv", root)
    table2 = sources.read_csv("report/table_2_mines_by_region.csv", root)
    geom = ne.dissolve(by="report_name")["geometry"]
    rows = []
    for _, t in table2[table2["row_kind"] == "province"].iterrows():
        name = t["region"]
        cx = cross[cross["report_name"] == name]
        main = cx[~cx["unit"].str.contains("special city")].iloc[0]
        folded = cx[cx["unit"].str.contains("special city")]
        units = ne[ne["report_name"] == name]
        variants = set()
        for col in ("ne_name", "ne_name_en", "ne_name_alt", "iso_3166_2_name_pycountry",
                    "geonames_admin1_name_rg", "gadm_name_1_stiles", "revised_romanization",
                    "other_variants", "ne_name_ko"):
            for v in cx[col]:
                variants.update(x.strip() for x in str(v).split("|") if x.strip() and "(" not in x)
        variants.discard(name)
        poly = geom[name]
        area = abs(GEOD.geometry_area_perimeter(poly)[0]) / 1e6
        rows.append(
            {
                "province_id": main["iso_3166_2"],
                "name_en": name,
                "name_ko": main["ne_name_ko"],
                "name_mr": main["ne_name"],
                "name_rr": main["revised_romanization"],
                "name_variants": "|".join(sorted(variants)),
                "iso_3166_2": "|".join(cx["iso_3166_2"]),
                "folded_units": "|".join(u.split(" (")[0] for u in folded["unit"]),
                "ne_units": "|".join(sorted(units["name"])),
                "table2_order": int(t["table_order"]),
                "reported_mines": int(t["mines"]),
                "reported_share_pct": float(t["share_pct_printed"]),
                "report_ref": t["report_ref"],
                "area_km2": round(area, 1),
                "reported_mines_per_1000_km2": round(int(t["mines"]) / area * 1000.0, 3),
                "boundary_source": BOUNDARY_SOURCE_PROVINCES,
                "boundary_vintage": BOUNDARY_VINTAGE.split("; ")[0],
                "licence": "public domain (Natural Earth); counts: cite the report",
                "attribution": "Made with Natural Earth; counts: Gulag, Inc. (HRNK 2016), Table 2",
                "geometry": shapely.MultiPolygon(
                    [poly] if poly.geom_type == "Polygon" else list(poly.geoms)
                ),
            }
        )
    return gpd.GeoDataFrame(rows, crs="EPSG:4326").sort_values("table2_order").reset_index(drop=True)


def counties_layer(root: Path | None = None) -> gpd.GeoDataFrame:
    """The OSM 2020 county units, each with its report province."""
    osm = sources.read_geojson("boundaries/osm_adm2_prk_2020_landclip.geojson", root)
    geoms = [
        g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in osm.geometry
    ]
    out = gpd.GeoDataFrame(
        {
            "county_id": osm["osm_id"],
            "name_ko": osm["name_ko"].fillna(""),
            "name_en": osm["name_en"].fillna(""),
            "name_hanja": osm["name_hanja"].fillna(""),
            "admin_level": osm["admin_level"].astype(str),
            "wikidata": osm["wikidata"].fillna(""),
            "ocha_pcode": osm["ocha_pcodes"].fillna(""),
            "province": osm["report_name"],
            "province_basis": osm["report_name_basis"].fillna(""),
            "land_area_km2": osm["land_area_km2"].astype(float),
            "source": "OpenStreetMap boundary relations (2020 export), clipped to the Natural Earth land outline",
            "licence": "ODbL 1.0",
            "attribution": "© OpenStreetMap contributors",
            "boundary_vintage": "OpenStreetMap 2020",
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    return out.sort_values("county_id").reset_index(drop=True)


# --- mines ----------------------------------------------------------------------


def commodity_class(commodity: str) -> str:
    """Table 1's class of a commodity: coal, iron ore, non-ferrous metal or non-metallic mineral."""
    c = commodity.lower()
    if "coal" in c or "lignite" in c or "anthracite" in c:
        return "coal"
    if "iron" in c:
        return "iron ore"
    if any(m in c for m in ("magnesite", "graphite", "limestone", "apatite", "barite", "gypsum")):
        return "non-metallic mineral"
    return "non-ferrous metal"


def mine_precision(note: str, town_flag: str) -> str:
    """Precision class of a mine point: ``site``, ``approximate`` or ``town``."""
    n = note.lower()
    if town_flag == "True":
        return "town"
    if "confidence=high" in n or "exact (gem" in n or n.startswith("site-level"):
        return "site"
    return "approximate"


def id_register(root) -> pd.DataFrame:
    """The id register (``geodata/ids.csv``), checked (:func:`atlas.ids.check_register`)."""
    register = sources.read_csv(IDS, root)
    check_register(register)
    return register


def _mine_keys(df: pd.DataFrame) -> pd.Series:
    """A mine's key in the id register: where its record comes from, and its name there."""
    return df["record_origin"].astype(str) + ":" + df["name"].astype(str)


def mines_layer(root, provinces, counties, register: pd.DataFrame) -> gpd.GeoDataFrame:
    """The geolocated mines: the 34 distinct points, the Hyesan Youth Copper Mine, GEM's proposed mines.

    Every mine that Global Energy Monitor's iron ore and coal trackers hold carries
    GEM's record in its ``gem_`` columns (see :mod:`atlas.gem`); ``attrs["gem_records"]``
    holds what became of every GEM record.
    """
    distinct = sources.read_csv("mines/nk_mines_distinct.csv", root)
    extra = sources.read_csv("mines/article_cited_points_2.csv", root)
    rows = []
    for _, r in distinct.iterrows():
        rows.append(
            {
                "name": r["name"], "alt_names": r["alt_names"], "commodity": r["commodity"],
                "location_precision": r["location_precision"],
                "precision": mine_precision(r["location_precision"], r["town_centroid_flag"]),
                "town_centroid_flag": r["town_centroid_flag"] == "True",
                "status": r["status"], "feature_type": r["feature_type"],
                "source": r["source"], "source_ref": r["source_ref"], "licence": r["license"],
                "notes": r["notes"], "record_origin": r["record_origin"],
                "lat": r["lat"], "lon": r["lon"],
            }
        )
    hyesan = extra[extra["name"] == "Hyesan Youth Copper Mine"].iloc[0]
    rows.append(
        {
            "name": hyesan["name"], "alt_names": hyesan["alt_names"], "commodity": "copper",
            "location_precision": "deposit or mine-area level: " + hyesan["confidence_note"],
            "precision": "approximate", "town_centroid_flag": False,
            "status": hyesan["status_note"], "feature_type": hyesan["site_type"],
            "source": hyesan["source_title"],
            "source_ref": f'{hyesan["source_url"]} ; printed {hyesan["printed_coordinate"]}',
            "licence": FACT_LICENCE, "notes": hyesan["quote"], "record_origin": "article",
            "lat": hyesan["lat"], "lon": hyesan["lon"],
        }
    )
    df = pd.DataFrame(rows)
    df.insert(0, "mine_id", assign_ids(_mine_keys(df), register, "mines"))
    df["commodity_class"] = df["commodity"].map(commodity_class)
    gdf = gpd.GeoDataFrame(df, geometry=_points(df), crs="EPSG:4326")
    gdf, records = gem.join_gem(gdf, gem.gem_records(root))
    new = gem.proposed_mines(records)
    if len(new):
        new.insert(0, "mine_id", assign_ids(_mine_keys(new), register, "mines"))
        new["commodity_class"] = new["commodity"].map(commodity_class)
        new_gdf = gpd.GeoDataFrame(new, geometry=_points(new.astype({"lat": str, "lon": str})),
                                   crs="EPSG:4326")
        new_gdf, _ = gem.join_gem(new_gdf, records[records["match"] == "new point (proposed mine)"]
                                  .drop(columns=["match", "mine_id", "match_km", "reason"]))
        records.loc[records["match"] == "new point (proposed mine)", "mine_id"] = list(new["mine_id"])
        gdf = gpd.GeoDataFrame(pd.concat([gdf, new_gdf], ignore_index=True), crs="EPSG:4326")
    check_held(gdf["mine_id"], register, "mines")
    gdf["lat"] = gdf.geometry.y
    gdf["lon"] = gdf.geometry.x
    gdf["cross_checks"] = _mine_cross_checks(gdf, root)
    gdf.attrs["gem_records"] = records
    return _with_admin(gdf, provinces, counties)


def _mine_cross_checks(mines: gpd.GeoDataFrame, root) -> list[str]:
    """Other published coordinates of the same mine, with their distance to the atlas point."""
    extra = sources.read_csv("mines/article_cited_points_2.csv", root)
    text = sources.read_csv("mines/text_cited_points_nk.csv", root)
    checks: dict[str, list[str]] = {}
    pairs = [
        ("MMI Musan Mine", text[text["name"] == "Musan mine"], "source"),
        ("Pyongsan uranium mine and concentration plant",
         extra[extra["name"].str.startswith("Pyongsan")], "source_title"),
        ("MMI Musan Mine", extra[extra["name"].str.startswith("Musan")], "source_title"),
    ]
    for mine, other, src_col in pairs:
        m = mines[mines["name"] == mine]
        for _, o in other.iterrows():
            if m.empty:
                continue
            km = _geodesic_km(m.geometry.x.iloc[0], m.geometry.y.iloc[0], float(o["lon"]), float(o["lat"]))
            checks.setdefault(mine, []).append(
                f'{o[src_col]}: {float(o["lat"]):.6f}, {float(o["lon"]):.6f} ({float(km):.2f} km from this point)'
            )
    return [" | ".join(checks.get(n, [])) for n in mines["name"]]


_ROLE = {
    "same mine": ("the mine", True),
    "same mine (secondary coordinate)": ("the mine", True),
    "district member geolocated": ("a mine of the district", False),
    "district members geolocated": ("a mine of the district", False),
    "district geolocated": ("a mine of the district", False),
    "probable district member": ("a mine of the district", False),
    "nearby only": ("a nearby mine, not the named one", False),
    "town proxy only": ("town proxy, not the mine's location", False),
    "county-seat proxy only": ("town proxy, not the mine's location", False),
    "city proxy only": ("town proxy, not the mine's location", False),
    "not geolocated": ("no public coordinate", False),
    "probable same mine (inferred from the name)": ("probable same mine (inferred from the name)", False),
}
_NAMED_PRECISION = {
    "the mine": "site",
    "a mine of the district": "district member",
    "a nearby mine, not the named one": "nearby mine",
    "town proxy, not the mine's location": "town proxy",
    "no public coordinate": "none",
    "probable same mine (inferred from the name)": "probable same mine",
}
#: The report_discrepancies row of a named mine, where the report contradicts itself about it.
_NAMED_DISCREPANCY = {"Yongyang Mine": "D02", "Musan": "D12", "Hakpo Coal Mine": "D16"}


def named_mines_layer(root, provinces, counties, register: pd.DataFrame) -> gpd.GeoDataFrame:
    """The mines and districts the report names, with how each is located."""
    df = sources.read_csv("mines/gulag_inc_named_mines_gazetteer.csv", root)
    df = df.rename(columns={"license": "licence"})
    df.insert(0, "named_id", assign_ids(df["name_in_report"], register, "named_mines"))
    check_held(df["named_id"], register, "named_mines")
    df["location_role"] = df["match_type"].map(lambda m: _ROLE[m][0])
    df["is_mine_location"] = df["match_type"].map(lambda m: _ROLE[m][1])
    df["is_town_proxy"] = df["location_role"].str.startswith("town proxy")
    df["precision"] = df["location_role"].map(_NAMED_PRECISION)
    df["commodity_class"] = df["commodity"].map(commodity_class)
    df["discrepancy_ref"] = df["name_in_report"].map(_NAMED_DISCREPANCY).fillna("")
    df["source"] = df["source"].where(df["source"] != "", "Gulag, Inc. (HRNK 2016) names it; no open coordinate")
    df["licence"] = df["licence"].where(df["licence"] != "", "no coordinate")
    df["location_precision"] = df["location_precision"].where(df["location_precision"] != "", "none")
    gdf = gpd.GeoDataFrame(df, geometry=_points(df), crs="EPSG:4326")
    return _with_admin(gdf, provinces, counties)


# --- report regions -------------------------------------------------------------


def deposits_layer(root, provinces) -> gpd.GeoDataFrame:
    """Deposit regions by commodity, as the union of the provinces the text names."""
    df = sources.read_csv("report/mineral_regions.csv", root)
    by_name = provinces.set_index("name_en").geometry
    geoms = []
    for names in df["provinces"]:
        union = shapely.union_all([by_name[n] for n in names.split("|")])
        geoms.append(union if union.geom_type == "MultiPolygon" else shapely.MultiPolygon([union]))
    df["precision"] = "province-level: the named province(s), coarser than the deposit"
    df["source"] = REPORT
    df["licence"] = "facts cited to the report; geometry: Natural Earth (public domain)"
    return gpd.GeoDataFrame(df, geometry=geoms, crs="EPSG:4326")


# --- camps ----------------------------------------------------------------------


def camp_precision(note: str) -> str:
    """Precision class of a camp point: ``site``, ``camp-area``, ``uncertain`` or ``none``."""
    n = note.lower()
    for key in ("none", "uncertain", "camp-area", "site"):
        if n.startswith(key):
            return key
    return "uncertain"


def camps_layer(root, provinces, counties, findings, n_candidates, as_of) -> gpd.GeoDataFrame:
    """Every kwan-li-so, kyo-hwa-so and suspected site; sites without a coordinate keep their row.

    ``status`` is the status as a source words it (never decided from); ``status_class``, the
    evidence tier, latest evidence and ``sources_disagree`` are the rule's answer
    (:func:`atlas.evidence.site_evidence`) as of ``as_of``, the build date, stated in
    ``status_as_of``: one day for every field of the row, so no field contradicts another.
    """
    df = sources.read_csv("camps/camps.csv", root)
    out = pd.DataFrame(
        {
            "site_id": df["site_id"], "kind": df["kind"], "number": df["number"], "name": df["name"],
            "name_ko": [_hangul(a) for a in df["alt_names"]], "alt_names": df["alt_names"],
            "precision": df["location_precision"].map(camp_precision),
            "location_precision": df["location_precision"],
            "province_as_given": df["province"], "county_as_given": df["county"],
            "agency": df["agency"], "status": df["status"],
            "status_date": df["status_date"],
            "area_km2": df["area_km2"], "prisoners_estimate": df["prisoners_estimate"],
            "source": df["source"],  # a coordinate taken from open data carries that data's licence
            "licence": [f"{FACT_LICENCE}; coordinate: {c}" if isinstance(c, str) and c.strip() else FACT_LICENCE
                        for c in df["coordinate_licence"]],
            "lat": df["lat"], "lon": df["lon"],
        }
    )
    out["n_findings"] = out["site_id"].map(findings["site_id"].value_counts()).fillna(0).astype(int)
    evidence = site_evidence(findings, out["site_id"], as_of)
    for col in evidence.columns:
        out[col] = out["site_id"].map(evidence[col])
    out["n_coordinate_candidates"] = out["site_id"].map(n_candidates).fillna(0).astype(int)
    gdf = gpd.GeoDataFrame(out, geometry=_points(df), crs="EPSG:4326")
    gdf["lat"] = pd.to_numeric(gdf["lat"].replace("", np.nan))
    gdf["lon"] = pd.to_numeric(gdf["lon"].replace("", np.nan))
    return _with_admin(gdf, provinces, counties)


def findings_table(root, rel: str = "camps/findings.csv") -> pd.DataFrame:
    """The dated findings: each date text as an interval (:mod:`atlas.dates`), with its basis.

    ``evidence_basis``, ``testimony_hand``, ``status_signal``,
    ``evidence_reason``, ``signal_strength`` (``stated``, or ``hedged`` where
    the source withholds the conclusion, with ``strength_reason``) and
    ``report_cite`` (section, paragraph, page and lines of the report, where a
    finding rests on it) are curated in ``camps/findings.csv`` (see
    :mod:`atlas.evidence`); the dates are parsed here, so a text no rule
    reads fails the build. ``finding_id`` is read from the data, never
    derived from row order: adding a row renumbers nothing (the schema
    checks that ids are unique and of the form ``F001``). ``rel`` names
    another findings file of the same columns (the mines': :func:`mine_findings_table`).
    """
    df = sources.read_csv(rel, root)
    parsed = pd.DataFrame([parse_date_text(t).as_row() for t in df["observed_on_or_between"]])
    return pd.DataFrame(
        {
            "finding_id": df["finding_id"],
            "site_id": df["site_id"],
            "observed_text": df["observed_on_or_between"],
            **{c: parsed[c] for c in parsed.columns},
            "finding_type": df["finding_type"],
            "description": df["description"],
            "evidence_basis": df["evidence_basis"],
            "testimony_hand": df["testimony_hand"],
            "status_signal": df["status_signal"],
            "evidence_reason": df["evidence_reason"],
            "signal_strength": df["signal_strength"],
            "strength_reason": df["strength_reason"],
            "source_report": df["source_report"],
            "page": df["page"],
            "report_cite": df["report_cite"],
            # the scenes a finding rests on, by sha256 (docs/imagery.md), where the file names them
            **({"scene_sha256": df["scene_sha256"]} if "scene_sha256" in df.columns else {}),
        }
    )


def mine_findings_table(root) -> pd.DataFrame:
    """The mines' dated findings (``mines/mine_findings.csv``), as :func:`findings_table` reads the camps'.

    ``site_id`` is a mine of the ``mines`` layer (``M016``) or, for a mine the
    report names without a point of its own, of ``named_mines`` (``NM06``).
    """
    return findings_table(root, "mines/mine_findings.csv")


def candidates_layer(root, camps: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Every published coordinate of each camp, with its distance to the atlas point."""
    df = sources.read_csv("camps/coordinate_candidates.csv", root)
    gdf = gpd.GeoDataFrame(df, geometry=_points(df), crs="EPSG:4326")
    gdf.insert(0, "candidate_id", [f"C{i:03d}" for i in range(1, len(df) + 1)])
    atlas_pt = camps.set_index("site_id").geometry
    dist, same = [], []
    for site, geom in zip(gdf["site_id"], gdf.geometry):
        ref = atlas_pt.get(site)
        if ref is None or ref.is_empty or geom is None:
            dist.append(np.nan)
            same.append(False)
            continue
        km = float(_geodesic_km(ref.x, ref.y, geom.x, geom.y))
        dist.append(round(km, 3))
        same.append(km < 0.001)
    gdf["distance_km_from_atlas_point"] = dist
    gdf["is_atlas_point"] = same
    gdf["lat"] = gdf.geometry.y
    gdf["lon"] = gdf.geometry.x
    inferred = gdf["note"].fillna("").str.startswith("inferred")  # the atlas's reading, not a publication
    gdf["precision"] = np.where(inferred, "inferred by the atlas (see note)", "as published by the source (see note)")
    gdf["licence"] = [c if isinstance(c, str) and c.strip() else FACT_LICENCE for c in gdf["licence"]]
    return gdf


# --- attribute tables -----------------------------------------------------------


def report_tables(root) -> dict[str, pd.DataFrame]:
    """The report's Tables 1-5 and its discrepancies, typed."""
    num = lambda df, cols, kind=float: df.assign(  # noqa: E731
        **{c: pd.to_numeric(df[c].replace("", np.nan)).astype(kind) for c in cols}
    )
    t1 = num(sources.read_csv("report/table_1_mines_by_type.csv", root),
             ["mines_lee_2014", "mines_kores_2011"], "Int64")
    t2 = num(sources.read_csv("report/table_2_mines_by_region.csv", root), ["share_pct_printed"])
    t2 = num(t2, ["table_order", "mines"], "int64")
    t3 = num(sources.read_csv("report/table_3_reserves.csv", root),
             ["yearbook_1988_total", "survey_2013_proven_probable", "survey_2013_expected",
              "survey_2013_total"])
    t4 = num(num(sources.read_csv("report/table_4_production_1990_2012.csv", root), ["value"]),
             ["year"], "int64")
    t5 = num(num(sources.read_csv("report/table_5_coal_iron_1998_2014.csv", root), ["value"]),
             ["year"], "int64")
    disc = sources.read_csv("report/discrepancies.csv", root)
    passages = sources.read_csv("report/site_passages.csv", root)
    return {"report_table_1": t1, "report_table_2": t2, "report_table_3": t3,
            "report_table_4": t4, "report_table_5": t5, "report_discrepancies": disc,
            "report_passages": passages}


def _manifest_row(rel: str, root) -> dict:
    src = sources.manifest(root)[rel]
    return {"source": rel, "licence": src.licence, "attribution": src.attribution}


def _countries(rel: str, root) -> gpd.GeoDataFrame:
    """Natural Earth admin-0 polygons as a layer: code, names, provenance."""
    ne = sources.read_geojson(rel, root)
    out = gpd.GeoDataFrame({
        "country_code": ne["ADM0_A3"].astype(str), "name_en": ne["NAME_EN"].astype(str),
        "name_ko": ne["NAME_KO"].fillna("").astype(str), **_manifest_row(rel, root),
    }, geometry=ne.geometry.to_crs(4326).values, crs="EPSG:4326")
    out["geometry"] = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
                       for g in out.geometry]
    return out


def reference_layers(root) -> dict[str, pd.DataFrame]:
    """What products need besides the atlas's own layers: the DPRK outline (density mask,
    import checks), the offline basemap's countries, and the GeoNames towns whose alternate
    names let a county be found by its town's spellings."""
    geonames = sources.read_csv("boundaries/geonames_kp_cities500.csv", root)
    towns = gpd.GeoDataFrame({
        "geonameid": geonames["geonameid"].astype(str), "name": geonames["name"],
        "alternatenames": geonames["alternatenames"].fillna(""),
        "osm_unit_ko": geonames["osm_unit_ko"].fillna(""), "osm_unit_en": geonames["osm_unit_en"].fillna(""),
        "lat": pd.to_numeric(geonames["lat"]), "lon": pd.to_numeric(geonames["lon"]),
        **_manifest_row("boundaries/geonames_kp_cities500.csv", root),
    }, geometry=_points(geonames).values, crs="EPSG:4326")
    return {
        "dprk_outline": _countries("boundaries/ne10m_admin0_prk.geojson", root),
        "basemap_countries": _countries("boundaries/ne10m_admin0_context_clip.geojson", root),
        "geonames_places": towns,
    }


def sources_table(root) -> pd.DataFrame:
    """The provenance manifest as a table: every file, origin, licence, attribution, sha256."""
    rows = [vars(s) for s in sources.manifest(root).values()]
    return pd.DataFrame(rows)


def _with_admin(gdf: gpd.GeoDataFrame, provinces, counties) -> gpd.GeoDataFrame:
    admin = join_admin(gdf, provinces, counties)
    for col in admin.columns:
        gdf[col] = admin[col]
    return gdf


def build_layers(root: Path | None = None, as_of: str | date | None = None) -> dict[str, pd.DataFrame]:
    """Every atlas layer, from the verified sources.

    Parameters
    ----------
    root : pathlib.Path, optional
        The geodata folder; defaults to :func:`atlas.sources.geodata_dir`.
    as_of : str or datetime.date, optional
        The build date: the camps' ``status_class`` and evidence columns are the rule's
        answer on that day (:func:`atlas.builder.build` passes the day of its build epoch,
        the date the GeoPackage states). Defaults to 1 January 1970 UTC + ``$SOURCE_DATE_EPOCH``
        when set, else it is required.

    Returns
    -------
    dict of str to (Geo)DataFrame
        In the order they are written to the GeoPackage.
    """
    provinces = provinces_layer(root)
    counties = counties_layer(root)
    findings = findings_table(root)
    raw_candidates = sources.read_csv("camps/coordinate_candidates.csv", root)
    if as_of is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        if not epoch.isdigit():
            raise InputError("build_layers needs as_of, the build date (or $SOURCE_DATE_EPOCH)")
        as_of = datetime.fromtimestamp(int(epoch), timezone.utc).date()
    camps = camps_layer(
        root, provinces, counties, findings, raw_candidates["site_id"].value_counts(), as_of,
    )
    register = id_register(root)  # the permanent ids: read and checked once
    mines = mines_layer(root, provinces, counties, register)
    records = mines.attrs.pop("gem_records")
    layers: dict[str, pd.DataFrame] = {
        "provinces": provinces,
        "counties": counties,
        "mines": mines,
        "steel_plants": _with_admin(gem.steel_plants_layer(root), provinces, counties),
        "named_mines": named_mines_layer(root, provinces, counties, register),
        "mineral_deposits": deposits_layer(root, provinces),
        "camps": camps,
        "camp_findings": findings,
        "mine_findings": mine_findings_table(root),
        "coordinate_candidates": candidates_layer(root, camps),
    }
    layers["gem_records"] = records.assign(licence=gem.LICENCE)
    measures = sanctions.measures_table(root)
    for name in ("mines", "named_mines"):
        cols = sanctions.sanctions_columns(layers[name]["commodity"], measures)
        layers[name] = layers[name].assign(**{c: cols[c] for c in cols.columns})
    layers["sanctions_measures"] = measures
    layers.update(report_tables(root))
    layers["retired_ids"] = retired(register)
    layers.update(reference_layers(root))
    layers["sources"] = sources_table(root)
    return layers
