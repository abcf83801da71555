"""Export the atlas to QGIS: a styled GeoPackage and a project beside it.

:func:`export_qgis` writes a folder a user can zip and send:

- ``atlas.gpkg``: a copy of the atlas GeoPackage (version 1.3, which QGIS
  3.22 LTR reads without warning) with a ``layer_styles`` table, registered
  in ``gpkg_contents``, holding one default style (QML) per layer. Dragging
  the GeoPackage alone into QGIS shows every layer styled.
- ``atlas.qgz``: a QGIS project referencing ``./atlas.gpkg`` by relative
  path. Layers are in groups (Reference, Mining, Penal system, Tables), the
  project CRS is EPSG:5179, every ``<maplayer>`` carries its own style (a
  project never applies ``layer_styles`` defaults), camps are related to their
  findings and published coordinates, and the project metadata names the
  licence and attribution of every source.
- ``rasters/``: the mine density GeoTIFF and imagery chips, when present,
  each with a ``.qml`` sidecar style (a pseudocolour ramp for the density,
  the highest density the most visible colour).

The XML is written without QGIS, so the package does not depend on it; the
tests open the result in a real headless QGIS 3.22. Traps found there (see
the field guide): layer ids must be longer than 10 characters, a
``<spatialrefsys>`` needs its WKT, the project CRS needs
``ProjectionsEnabled``, and a broken QML is reported as loaded while QGIS
draws a random symbol, so the tests check every renderer.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import uuid
import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS

from . import io, schema
from .distance import LARGE_LAYER
from .errors import InputError, ValidationError
from .owned import Stage, safe_name
from .protect import coarsen
from .provenance import about, build_date
from .qml import (
    DOCTYPE,
    QGIS_VERSION,
    TIER_STYLE,
    LayerStyle,
    RasterInfo,
    el,
    layer_qml,
    raster_document,
    raster_elements,
    read_raster,
    tier_style,
    vector_style,
)
from .raster import creation_time
from .redact import xml_text
from .store import USER_PREFIX, Atlas, open_atlas, read_layer, read_layers
from .userlayers import Allowed, copy_records, gate

__all__ = ["GROUPS", "PROJECT_CRS", "RELATIONS", "TITLES", "export_qgis"]

#: The project CRS: Korea 2000 / Unified CS, the best planar CRS over the whole peninsula.
PROJECT_CRS = "EPSG:5179"
# QGIS's internal srs.db ids; with an authid QGIS resolves the CRS by authid, else by the WKT.
_SRSID = {4326: 3452, 5179: 28043}
_ID_NAMESPACE = uuid.UUID("6f1c7a64-4a51-4b7e-9d0f-2b1e7e6a0c11")
#: Display names in the project's layer tree.
TITLES = {n: s.title for n, s in schema.SCHEMAS.items()}  # the schema's titles
#: The project's groups, top of the drawing order first; each lists table names.
GROUPS = (
    ("Penal system", ("camps", "coordinate_candidates")),
    ("Mining", ("mines", "named_mines", "steel_plants", "mineral_deposits")),
    ("Reference", ("geonames_places", "counties", "provinces", "dprk_outline", "basemap_countries")),
    ("Tables", ("camp_findings", "mine_findings", "report_table_1", "report_table_2", "report_table_3",
                "report_table_4", "report_table_5", "report_discrepancies", "report_passages",
                "gem_records", "sanctions_measures", "retired_ids", "sources")),
)
#: Layers drawn but switched off when the project opens (they cover the others).
HIDDEN = ("mineral_deposits", "coordinate_candidates", "geonames_places", "dprk_outline")
#: Relations in the project: (id, name, referenced layer, referencing layer, field).
RELATIONS = (
    ("camps_camp_findings_site_id", "Findings", "camps", "camp_findings", "site_id"),
    ("camps_coordinate_candidates_site_id", "Published coordinates", "camps",
     "coordinate_candidates", "site_id"),
)


# --- the GeoPackage ---------------------------------------------------------------------------------


def _copy_gpkg(atlas: Atlas, dst: Path) -> None:
    """Copy a GeoPackage with SQLite's backup API; rewrite it as 1.3 if it is another version."""
    src = atlas.file("export --qgis")
    with io.read_only(src) as s, sqlite3.connect(dst) as d:
        s.backup(d)
    with sqlite3.connect(dst) as con:
        (app_id,) = con.execute("PRAGMA application_id").fetchone()
        (version,) = con.execute("PRAGMA user_version").fetchone()
    if app_id != 0x47504B47:
        raise InputError(f"{src} is not a GeoPackage")
    if version != 10300:
        dst.unlink()
        layers = read_layers(atlas.public())  # the public layers: private ones are added when asked
        layers.pop("layer_styles", None)
        io.write_layers(layers, dst, {n: s.description for n, s in schema.SCHEMAS.items()})


def _protect_user_layers(allowed: Allowed, gpkg: Path, coarsen_km: float | None,
                         say: Callable[[str], None]) -> str:
    """Add the private user layers to the copy of the public GeoPackage when asked, coarsen the user
    layers when asked; the note for the project's abstract."""
    src = allowed.atlas
    kept = [dict(r) for r in allowed.records]
    private = [r["layer"] for r in kept if r["private"]]
    if private:  # asked for: copied in from the private store, with their records
        say(f"adding {len(private)} private layer(s), as asked")
        for name in private:  # a chunk at a time: memory bounded by a chunk
            for i, part in enumerate(io.layer_chunks(src, name)):
                pyogrio.write_dataframe(part, gpkg, layer=name, driver="GPKG", promote_to_multi=False,
                                        append=i > 0, layer_options={"DESCRIPTION": "PRIVATE user layer"})
        copy_records(src.store_of(private[0]).path, gpkg, private)
    if coarsen_km:
        coarse = {r["layer"]: coarsen(read_layer(r["layer"], gpkg), coarsen_km, gpkg=src) for r in kept}
        if coarse:
            say(f"snapping the points of {len(coarse)} user layer(s) to a {coarsen_km:g} km grid")
            io.delete_layers(gpkg, list(coarse))  # vacuumed: the exact points leave the file
            for name, df in coarse.items():
                pyogrio.write_dataframe(df, gpkg, layer=name, driver="GPKG",
                                        layer_options={"DESCRIPTION": f"user layer, points coarsened to "
                                                                      f"{coarsen_km:g} km"})
        for r in kept:
            r.update(coarse[r["layer"]].attrs["coarsened"])
    meta = about(src, user_layers=kept, coarsen_km=coarsen_km)
    return _product_note(meta)


def _geometry_columns(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as con:
        return dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))


def export_time(src: Atlas | Path) -> datetime:
    """The time an export stamps on its styles and project: never the clock, if it can help it.

    ``SOURCE_DATE_EPOCH`` when set, else the source GeoPackage's build date
    (:func:`atlas.provenance.build_date`), so exporting the same GeoPackage twice
    gives the same bytes; the clock only for a GeoPackage with no date.
    """
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return creation_time()
    try:
        when = datetime.fromisoformat(build_date(src).replace("Z", "+00:00"))
    except ValueError:
        return creation_time()
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    return max(when.replace(microsecond=0), datetime(1980, 1, 1, tzinfo=timezone.utc))  # zip dates start 1980


def _write_layer_styles(path: Path, styles: dict[str, str], descriptions: dict[str, str],
                        stamp: datetime) -> None:
    """(Re)create ``layer_styles`` as QGIS does and store one default style per layer."""
    geom_cols = _geometry_columns(path)
    now = stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with sqlite3.connect(path) as con:
        con.execute("DROP TABLE IF EXISTS layer_styles")
        con.execute("DELETE FROM gpkg_contents WHERE table_name = 'layer_styles'")
        has_ogr = con.execute("SELECT count(*) FROM sqlite_master WHERE name = "
                              "'gpkg_ogr_contents'").fetchone()[0]
        if has_ogr:
            con.execute("DELETE FROM gpkg_ogr_contents WHERE table_name = 'layer_styles'")
        con.execute(
            'CREATE TABLE "layer_styles" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
            '"f_table_catalog" TEXT(256), "f_table_schema" TEXT(256), "f_table_name" TEXT(256), '
            '"f_geometry_column" TEXT(256), "styleName" TEXT(30), "styleQML" TEXT, '
            '"styleSLD" TEXT, "useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30), '
            '"ui" TEXT(30), "update_time" DATETIME DEFAULT '
            "(strftime('%Y-%m-%dT%H:%M:%fZ','now')))")
        con.executemany(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
            "owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', NULL, ?)",
            [(name, geom_cols.get(name, ""), f"atlas {name}", qml,
              f"Gulag, Inc. atlas default style: {descriptions.get(name, name)}", now)
             for name, qml in styles.items()])
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            "last_change) VALUES ('layer_styles', 'attributes', 'layer_styles', "
            "'QGIS default style of each layer', ?)", (now,))
        if has_ogr:
            con.execute("INSERT INTO gpkg_ogr_contents (table_name, feature_count) "
                        "VALUES ('layer_styles', ?)", (len(styles),))


# --- the project -----------------------------------------------------------------------------------


def _layer_id(name: str) -> str:
    """A stable id longer than 10 characters (QGIS replaces shorter ones on load)."""
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "layer"
    return f"{safe}_{uuid.uuid5(_ID_NAMESPACE, name).hex}"


def _spatialrefsys(parent: ET.Element, crs: CRS | None) -> None:
    srs = el(parent, "spatialrefsys")
    if crs is None:
        for tag in ("wkt", "proj4", "srsid", "srid", "authid", "description",
                    "projectionacronym", "ellipsoidacronym"):
            el(srs, tag, text="0" if tag in ("srsid", "srid") else "")
        el(srs, "geographicflag", text="false")
        return
    epsg = crs.to_epsg()
    with warnings.catch_warnings():  # a PROJ string is lossy; QGIS reads the WKT first
        warnings.simplefilter("ignore", UserWarning)
        proj4 = crs.to_proj4() or ""
    acronym = next((p.split("=", 1)[1] for p in proj4.split() if p.startswith("+proj=")), "")
    el(srs, "wkt", text=crs.to_wkt())
    el(srs, "proj4", text=proj4)
    el(srs, "srsid", text=str(_SRSID.get(epsg or -1, 0)))
    el(srs, "srid", text=str(epsg or 0))
    el(srs, "authid", text=f"EPSG:{epsg}" if epsg else "")
    el(srs, "description", text=crs.name)
    el(srs, "projectionacronym", text=acronym)
    el(srs, "ellipsoidacronym", text="")
    el(srs, "geographicflag", text="true" if crs.is_geographic else "false")


def _layer_metadata(parent: ET.Element, title: str, abstract: str, licences: list[str],
                    rights: list[str], crs: CRS | None) -> None:
    md = el(parent, "resourceMetadata")
    for tag, text in (("identifier", ""), ("parentidentifier", ""), ("language", "en"),
                      ("type", "dataset"), ("title", title), ("abstract", abstract)):
        el(md, tag, text=text)
    el(md, "links")
    el(md, "fees", text="")
    for right in rights:
        el(md, "rights", text=right)
    for lic in licences:
        el(md, "license", text=lic)
    el(md, "encoding", text="")
    _spatialrefsys(el(md, "crs"), crs)
    el(md, "extent")


def _split_values(series: pd.Series) -> list[str]:
    out: list[str] = []
    for v in series.dropna().astype(str):
        for part in v.split(";"):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


#: Features read of a large user layer to style it and describe it in the project (its columns and
#: geometry type); its licences and attributions are counted by the store, its rows checked a chunk at a time.
SAMPLE_FEATURES = 1_000


def _project_layers(path: Path) -> tuple[dict[str, pd.DataFrame], dict[str, tuple[list[str], list[str]]]]:
    """The exported GeoPackage's layers, a large user layer as its first :data:`SAMPLE_FEATURES`
    features (never read whole); and for each large one its licences and attributions (the store's counts)."""
    a = open_atlas(path)
    layers, large = {}, {}
    for name in a.layers():
        if name == "layer_styles":
            continue
        if name.startswith(USER_PREFIX) and a.tally(name, "")[0] > LARGE_LAYER:
            layers[name] = a.read(name, max_features=SAMPLE_FEATURES)
            large[name] = tuple(_split_values(pd.Series(list(a.tally(name, column)[2]), dtype=object))[:20]
                                for column in ("licence", "attribution"))
        else:
            layers[name] = a.read(name)
    return layers, large


def _validate_export(path: Path, layers: dict[str, pd.DataFrame], large: dict) -> None:
    """The atlas checks on the exported GeoPackage; a large user layer checked a chunk at a time."""
    whole = {n: df for n, df in layers.items() if n not in large}
    problems = schema.check_layers(whole)
    if large:
        outline = whole.get("dprk_outline")
        outline = outline.to_crs("EPSG:5179").union_all() if hasattr(outline, "crs") else None
        a = open_atlas(path)
        for name in large:
            problems += io.check_layer_chunks(a, name, outline)
    if problems:
        raise ValidationError(problems)


def _layer_licences(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    licences = _split_values(df["licence"]) if "licence" in df else []
    rights = _split_values(df["attribution"]) if "attribution" in df else []
    return licences[:20], rights[:20]


def _product_note(meta: dict) -> str:
    """What this export was made from and which of the user's layers it holds (for the abstract)."""
    users = meta.get("user_layers") or []
    listing = "\n".join(
        f"- {u['layer']}: {u['features']} features from {u.get('source_file')} (sha256 "
        f"{u.get('source_sha256')}), imported {u.get('imported_at')}"
        + (", PRIVATE (included on request)" if u.get("private") else "")
        + (f"; points snapped to the centres of a {u['coarsen_km']:g} km grid, columns dropped: "
           f"{', '.join(u.get('columns_dropped') or []) or 'none'}" if u.get("coarsen_km") else "")
        for u in users) or "- none"
    private = (f"{meta['banner']}.\n\nPrivate layers from {meta.get('private_gpkg')} "
               f"(sha256 {meta.get('private_gpkg_sha256')}).\n\n") if meta.get("banner") else ""
    return (private + f"Made by gulag-inc-atlas {meta.get('atlas_version')} from {meta.get('gpkg')} "
            f"(sha256 {meta.get('gpkg_sha256')}), built {meta.get('build_date')}.\n\n"
            f"Your layers included:\n{listing}")


def _project_metadata(parent: ET.Element, sources: pd.DataFrame | None, note: str = "") -> None:
    licences = sorted(set(_split_values(sources["licence"]))) if sources is not None else []
    attributions = _split_values(sources["attribution"]) if sources is not None else []
    abstract = (
        "Geospatial atlas of North Korea's mines and prison camps, built on the report "
        "'Gulag, Inc.: The Use of Forced Labor in North Korea's Export Industries' (Committee "
        "for Human Rights in North Korea, 2016) and on open, cited data. The report counts 360 "
        "mines by province (Table 2, the province choropleth); only the mines with open "
        "coordinates are drawn as points. Every feature carries its source, licence and how "
        "precise its location is (precision, location_precision): town proxies and "
        "approximate points are drawn apart from sites.\n\n"
        "The GeoPackage is ODbL 1.0 because the counties derive from OpenStreetMap.\n\n"
        "Licences of the sources:\n" + "\n".join(f"- {x}" for x in licences) + "\n\n"
        "Attribution (reproduce these lines):\n" + "\n".join(f"- {x}" for x in attributions)
        + "\n\nSources, one per file (path: origin; licence; attribution):\n"
        + "\n".join(f"- {r.path}: {r.origin}; {r.licence}; {r.attribution}"
                    for r in (sources.itertuples() if sources is not None else []))
        + (f"\n\n{note}" if note else "")
    )
    md = el(parent, "projectMetadata")
    for tag, text in (("identifier", "gulag-inc-atlas"), ("parentidentifier", ""),
                      ("language", "en"), ("type", "dataset"),
                      ("title", "Gulag, Inc. atlas: North Korea's mines and prison camps"),
                      ("abstract", abstract)):
        el(md, tag, text=text)
    kw = el(md, "keywords", {"vocabulary": "gmd:topicCategory"})
    for word in ("mining", "prison camps", "forced labour", "North Korea", "DPRK",
                 "human rights"):
        el(kw, "keyword", text=word)
    kw = el(md, "keywords", {"vocabulary": "licences"})
    for lic in licences:
        el(kw, "keyword", text=lic)
    kw = el(md, "keywords", {"vocabulary": "attribution"})
    for att in attributions:
        el(kw, "keyword", text=att)
    el(md, "links")
    el(md, "author", text="Gulag, Inc. atlas contributors")


def _layer_tree_layer(parent: ET.Element, lid: str, title: str, source: str, provider: str,
                      checked: bool = True, expanded: bool = False) -> None:
    node = el(parent, "layer-tree-layer", {
        "id": lid, "name": title, "source": source, "providerKey": provider,
        "checked": "Qt::Checked" if checked else "Qt::Unchecked", "expanded": int(expanded),
        "legend_exp": "", "patch_size": "-1,-1", "legend_split_behavior": 0})
    el(el(node, "customproperties"), "Option")


def _group(parent: ET.Element, name: str, expanded: bool = True) -> ET.Element:
    g = el(parent, "layer-tree-group", {"name": name, "checked": "Qt::Checked",
                                         "expanded": int(expanded)})
    el(el(g, "customproperties"), "Option")
    return g


@dataclass
class _Entry:
    """A layer of the project."""

    name: str  # table name or raster stem
    lid: str
    title: str
    source: str
    provider: str
    element: ET.Element  # the <maplayer>
    checked: bool = True


def _vector_maplayer(name: str, df: pd.DataFrame, style: LayerStyle, title: str,
                     description: str, licences: tuple[list[str], list[str]] | None = None) -> _Entry:
    lid = _layer_id(name)
    source = f"./atlas.gpkg|layername={name}"
    geometry = style.geometry
    wkb = "NoGeometry"
    if geometry != "No geometry":
        types = set(df.geometry.dropna().geom_type)
        wkb = sorted(types)[0] if len(types) == 1 else ("MultiPolygon" if geometry == "Polygon"
                                                        else "Point")
    ml = el(None, "maplayer", {
        "type": "vector", "geometry": geometry, "wkbType": wkb,
        "labelsEnabled": int(style.labels), "readOnly": 0, "styleCategories": "AllStyleCategories",
        "hasScaleBasedVisibilityFlag": 0, "minScale": "100000000", "maxScale": 0,
        "simplifyDrawingHints": 1 if geometry == "Polygon" else 0, "simplifyDrawingTol": 1,
        "simplifyLocal": 1, "simplifyMaxScale": 1, "simplifyAlgorithm": 0,
        "autoRefreshEnabled": 0, "autoRefreshTime": 0, "refreshOnNotifyEnabled": 0,
        "refreshOnNotifyMessage": "", "legendPlaceholderImage": ""})
    crs = CRS.from_user_input(df.crs) if geometry != "No geometry" and df.crs else None
    el(ml, "id", text=lid)
    el(ml, "datasource", text=source)
    el(el(ml, "keywordList"), "value", text="")
    el(ml, "layername", text=title)
    _spatialrefsys(el(ml, "srs"), crs)
    licences, rights = licences or _layer_licences(df)
    _layer_metadata(ml, title, f"{description}. Table '{name}' of atlas.gpkg.", licences,
                    rights, crs)
    el(ml, "provider", {"encoding": "UTF-8"}, text="ogr")
    ml.extend(style.elements)
    if name == "camps" and "evidence_tier" in df.columns:
        manager = el(ml, "map-layer-style-manager", {"current": "default"})
        el(manager, "map-layer-style", {"name": "default"})
        el(manager, "map-layer-style", {"name": TIER_STYLE}).append(tier_style(df))
    return _Entry(name, lid, title, source, "ogr", ml, name not in HIDDEN)


def _copy_styled_raster(src: Path, dst: Path, density: bool) -> RasterInfo:
    """Copy a raster into the export with its QGIS style (``.qml``) beside it; what it holds."""
    shutil.copy2(src, dst)
    r = read_raster(dst)
    dst.with_suffix(".qml").write_text(raster_document(r, density), encoding="utf-8")
    return r


def _raster_maplayer(r: RasterInfo, rel_source: str, title: str, abstract: str,
                     density: bool) -> _Entry:
    lid = _layer_id(f"raster_{rel_source}")
    ml = el(None, "maplayer", {
        "type": "raster", "styleCategories": "AllStyleCategories",
        "hasScaleBasedVisibilityFlag": 0, "minScale": "1e+08", "maxScale": 0,
        "autoRefreshEnabled": 0, "autoRefreshTime": 0, "refreshOnNotifyEnabled": 0,
        "refreshOnNotifyMessage": "", "legendPlaceholderImage": ""})
    el(ml, "id", text=lid)
    el(ml, "datasource", text=rel_source)
    el(el(ml, "keywordList"), "value", text="")
    el(ml, "layername", text=title)
    _spatialrefsys(el(ml, "srs"), r.crs)
    _layer_metadata(ml, title, abstract, [], [], r.crs)
    el(ml, "provider", text="gdal")
    nd = el(ml, "noData")
    for b in range(1, r.bands + 1):
        el(nd, "noDataList", {"bandNo": b, "useSrcNoData": 1})
    ml.extend(raster_elements(r, density))
    return _Entry(rel_source, lid, title, rel_source, "gdal", ml)


def _extent_5179(layers: dict[str, pd.DataFrame]) -> tuple[float, float, float, float]:
    prov = layers.get("provinces")
    frames = [prov] if isinstance(prov, gpd.GeoDataFrame) and len(prov) else [
        df for df in layers.values() if isinstance(df, gpd.GeoDataFrame) and len(df)]
    if not frames:
        return (750000.0, 1750000.0, 1350000.0, 2350000.0)
    bounds = np.array([f.to_crs(PROJECT_CRS).total_bounds for f in frames])
    xmin, ymin = bounds[:, 0].min(), bounds[:, 1].min()
    xmax, ymax = bounds[:, 2].max(), bounds[:, 3].max()
    pad = 0.10 * max(xmax - xmin, ymax - ymin)
    return (xmin - pad, ymin - pad, xmax + pad, ymax + pad)


def _project_xml(entries: list[_Entry], groups: list[tuple[str, list[_Entry]]],
                 relations: list[tuple[str, str, _Entry, _Entry, str]],
                 extent: tuple[float, float, float, float], sources: pd.DataFrame | None,
                 note: str = "", banner: str = "") -> str:
    title = (f"{banner} \u00b7 " if banner else "") + "Gulag, Inc. atlas: North Korea's mines and prison camps"
    root = el(None, "qgis", {"version": QGIS_VERSION, "projectname": title})
    el(root, "homePath", {"path": ""})
    el(root, "title", text=title)
    el(root, "autotransaction", {"active": 0})
    el(root, "evaluateDefaultValues", {"active": 0})
    el(root, "trust", {"active": 0})
    project_crs = CRS.from_user_input(PROJECT_CRS)
    _spatialrefsys(el(root, "projectCrs"), project_crs)
    tree = el(root, "layer-tree-group")
    el(el(tree, "customproperties"), "Option")
    for gname, members in groups:
        g = _group(tree, gname, expanded=gname != "Tables")
        for e in members:
            _layer_tree_layer(g, e.lid, e.title, e.source, e.provider, e.checked,
                              expanded=e.name in ("provinces", "mines", "named_mines", "camps"))
    order = el(tree, "custom-order", {"enabled": 0})
    for _, members in groups:
        for e in members:
            el(order, "item", text=e.lid)
    rels = el(root, "relations")
    for rid, rname, referenced, referencing, fld in relations:
        rel = el(rels, "relation", {"id": rid, "name": rname, "strength": "Association",
                                     "referencedLayer": referenced.lid,
                                     "referencingLayer": referencing.lid})
        el(rel, "fieldRef", {"referencedField": fld, "referencingField": fld})
    el(root, "polymorphicRelations")
    canvas = el(root, "mapcanvas", {"name": "theMapCanvas", "annotationsVisible": 1})
    el(canvas, "units", text="meters")
    ext = el(canvas, "extent")
    for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), extent):
        el(ext, tag, text=repr(float(v)))
    el(canvas, "rotation", text="0")
    _spatialrefsys(el(canvas, "destinationsrs"), project_crs)
    el(canvas, "rendermaptile", text="0")
    layers = el(root, "projectlayers")
    for e in entries:
        layers.append(e.element)
    lo = el(root, "layerorder")
    for _, members in groups:
        for e in members:
            el(lo, "layer", {"id": e.lid})
    props = el(root, "properties")
    el(el(props, "Paths"), "Absolute", {"type": "bool"}, text="false")
    el(el(props, "SpatialRefSys"), "ProjectionsEnabled", {"type": "int"}, text="1")
    meas = el(props, "Measurement")
    el(meas, "DistanceUnits", {"type": "QString"}, text="km")
    el(meas, "AreaUnits", {"type": "QString"}, text="km2")
    el(meas, "Ellipsoid", {"type": "QString"}, text="EPSG:7030")
    gui = el(props, "Gui")
    for tag, v in (("CanvasColorRedPart", 244), ("CanvasColorGreenPart", 246),
                   ("CanvasColorBluePart", 248)):
        el(gui, tag, {"type": "int"}, text=str(v))
    pos = el(props, "PositionPrecision")
    el(pos, "Automatic", {"type": "bool"}, text="true")
    el(pos, "DecimalPlaces", {"type": "int"}, text="2")
    _project_metadata(root, sources, note)
    view = el(root, "ProjectViewSettings", {"UseProjectScales": 0, "rotation": 0})
    el(view, "Scales")
    dve = el(view, "DefaultViewExtent", dict(zip(("xmin", "ymin", "xmax", "ymax"),
                                                  (repr(float(v)) for v in extent))))
    _spatialrefsys(dve, project_crs)
    ET.indent(root, "  ")
    return DOCTYPE + "\n" + xml_text(ET.tostring(root, encoding="unicode")) + "\n"  # valid whatever the data


# --- the export ------------------------------------------------------------------------------------


def _default_out_dir(private: bool = False) -> Path:
    return io.output_dir(private=private) / "qgis"


def _find_rasters(gpkg: Path | None, density: Path | None, chips: Path | None
                  ) -> tuple[Path | None, list[Path]]:
    beside = gpkg.parent if gpkg is not None else io.output_dir()  # an atlas in PostGIS: output/
    density = Path(density) if density else beside / "mine_density.tif"
    chips = Path(chips) if chips else beside / "chips"
    found_density = density if density.is_file() else None
    found_chips = sorted(p for p in chips.glob("*.tif")) if chips.is_dir() else []
    return found_density, found_chips


def export_qgis(
    out_dir: Path | None = None,
    gpkg: Atlas | Path | str | None = None,
    *,
    density: Path | None = None,
    chips: Path | None = None,
    progress: Callable[[str], None] | None = None,
    include_private: bool = False,
    coarsen_km: float | None = None,
) -> Path:
    """Write a styled GeoPackage and a QGIS project that opens it.

    Writes ``out_dir/atlas.gpkg`` (a GeoPackage 1.3 copy of every layer, with
    a default style per layer in ``layer_styles``), ``out_dir/atlas.qgz`` (a
    project referencing ``./atlas.gpkg`` by relative path, CRS EPSG:5179) and,
    when present, the density raster and imagery chips under
    ``out_dir/rasters/`` with their styles. Everything is written to a
    temporary folder and checked first; an earlier export is replaced file by
    file only then, so a failure leaves it intact.

    Parameters
    ----------
    out_dir : pathlib.Path, optional
        Folder to write; default ``output/qgis/``.
    gpkg : pathlib.Path, optional
        Atlas GeoPackage to export; default ``output/atlas.gpkg``.
    density : pathlib.Path, optional
        Density GeoTIFF to include; default ``mine_density.tif`` beside ``gpkg``
        (left out when absent).
    chips : pathlib.Path, optional
        Folder of imagery chips (``*.tif``); default ``chips/`` beside ``gpkg``.
    progress : callable, optional
        Called with a short message per step.
    include_private : bool, default False
        Also export the user layers imported with ``private=True`` (left out
        by default, without a trace in the exported file).
    coarsen_km : float, optional
        Snap the user layers' points to the centres of an N-km grid
        (:func:`atlas.protect.coarsen`).

    The project's abstract says which user layers the export holds (file,
    sha256, import time, coarsening), and the atlas version, build date and
    sha256 of the public GeoPackage it came from; of a private layer, nothing
    unless it was asked for, and then a banner in the project's title and
    abstract and the private store's sha256 apart. Asked for, the export goes
    to ``output-private/qgis/`` by default, outside the folder you share.

    Returns
    -------
    pathlib.Path
        The project, ``out_dir/atlas.qgz`` (``atlas.gpkg`` is beside it).

    Raises
    ------
    NotFoundError
        No GeoPackage at ``gpkg``.
    ValidationError
        The exported GeoPackage fails the atlas checks (nothing is replaced).

    Examples
    --------
    >>> import atlas, tempfile, pathlib
    >>> project = atlas.export_qgis(pathlib.Path(tempfile.mkdtemp()))
    >>> sorted(p.name for p in project.parent.glob("atlas.*"))
    ['atlas.gpkg', 'atlas.qgz']
    """
    say = progress or (lambda _msg: None)
    allowed = gate(gpkg, "qgis", include_private=include_private)  # the one gate
    src = allowed.atlas
    out_dir = Path(out_dir or _default_out_dir(private=include_private))
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    density_src, chip_srcs = _find_rasters(src.path, density, chips)
    chip_srcs = [c for c in chip_srcs if safe_name(c.name)]  # a chip's name becomes a path in the export
    with Stage(out_dir, prune=("", "rasters", "rasters/chips")) as stage:  # moved into place together
        tmp = stage.tmp
        say(f"copying {src.shown} to a GeoPackage 1.3")
        tmp_gpkg = tmp / "atlas.gpkg"
        _copy_gpkg(src, tmp_gpkg)  # the public GeoPackage: never a private layer in it
        note = _protect_user_layers(allowed, tmp_gpkg, coarsen_km, say)
        layers, large = _project_layers(tmp_gpkg)
        descriptions = {n: s.description for n, s in schema.SCHEMAS.items()}
        rel_by_layer: dict[str, list[tuple[str, str]]] = {}
        for rid, rname, referenced, referencing, _ in RELATIONS:
            if referenced in layers and referencing in layers:
                rel_by_layer.setdefault(referenced, []).append((rid, rname))
        say("writing a default style per layer into layer_styles")
        stamp = export_time(src)  # the same GeoPackage gives the same bytes
        _write_layer_styles(tmp_gpkg, {n: layer_qml(n, df) for n, df in layers.items()},
                            descriptions, stamp)
        say("checking the exported GeoPackage")
        _validate_export(tmp_gpkg, layers, large)

        entries: dict[str, _Entry] = {}
        for name, df in layers.items():
            style = vector_style(name, df, rel_by_layer.get(name, []))
            title = TITLES.get(name) or (descriptions.get(name) or name)
            entries[name] = _vector_maplayer(name, df, style, title,
                                             descriptions.get(name, name), large.get(name))
        raster_files: list[Path] = []
        raster_entries: dict[str, list[_Entry]] = {"Mining": [], "Imagery chips": []}
        if density_src or chip_srcs:
            (tmp / "rasters").mkdir()
        if density_src:
            say(f"adding {density_src.name} with a pseudocolour ramp")
            r = _copy_styled_raster(density_src, tmp / "rasters" / "mine_density.tif", True)
            raster_files += [r.path, r.path.with_suffix(".qml")]
            abstract = r.description or "Kernel density of the geolocated mines"
            raster_entries["Mining"].append(_raster_maplayer(
                r, "./rasters/mine_density.tif", "Mine density (kernel)", abstract, True))
        if chip_srcs:
            (tmp / "rasters" / "chips").mkdir()
        for chip in chip_srcs:
            r = _copy_styled_raster(chip, tmp / "rasters" / "chips" / chip.name, False)
            raster_files += [r.path, r.path.with_suffix(".qml")]
            raster_entries["Imagery chips"].append(_raster_maplayer(
                r, f"./rasters/chips/{chip.name}", f"Imagery chip {chip.stem}",
                f"Imagery chip around site {chip.stem}", False))

        groups: list[tuple[str, list[_Entry]]] = []
        placed: set[str] = set()
        for gname, members in GROUPS:
            items = [entries[m] for m in members if m in entries]
            placed.update(m for m in members if m in entries)
            if gname == "Mining":
                items += raster_entries["Mining"]
            groups.append((gname, items))
            if gname == "Penal system" and raster_entries["Imagery chips"]:
                groups.append(("Imagery chips", raster_entries["Imagery chips"]))
        others = [e for n, e in entries.items() if n not in placed]
        if others:
            groups.insert(0, ("Your data", others))
        relations = [(rid, rname, entries[a], entries[b], fld)
                     for rid, rname, a, b, fld in RELATIONS if a in entries and b in entries]
        all_entries = [e for _, members in groups for e in members]
        say("writing the project atlas.qgz (EPSG:5179)")
        qgs = _project_xml(all_entries, groups, relations, _extent_5179(layers),
                           layers.get("sources"), note, allowed.banner)
        tmp_qgz = tmp / "atlas.qgz"
        with zipfile.ZipFile(tmp_qgz, "w", zipfile.ZIP_DEFLATED) as z:
            info = zipfile.ZipInfo("atlas.qgs", date_time=stamp.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, qgs)

        say(f"replacing the export in {out_dir}")
    return out_dir / "atlas.qgz"
