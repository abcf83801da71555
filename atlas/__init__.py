"""Gulag, Inc. atlas: North Korea's mines and prison camps, cited and checked.

The public API mirrors the ``atlas`` command:

>>> import atlas
>>> path = atlas.build(products=())   # writes output/atlas.gpkg (and no map, ...)
>>> camps = atlas.read_layer("camps")   # a GeoDataFrame
>>> sorted(camps["kind"].unique())
['kwan-li-so', 'kyo-hwa-so', 'other']
"""

import sys
import types

from .errors import (
    AmbiguousError,
    AtlasError,
    InputError,
    NoGeometryError,
    NotFoundError,
    SourceError,
    ValidationError,
)

#: Where each public name lives; imported on first use (PEP 562), so that ``import atlas``
#: stays light: folium, rasterio and the other heavy libraries load only when needed.
_LAZY = {
    "PLANAR_CRS": "admin",
    "TOLERANCE_KM": "admin",
    "assign_admin": "admin",
    "build": "builder",
    "layer_summary": "builder",
    "validate": "builder",
    "DateInterval": "dates",
    "DateParseError": "dates",
    "parse_date_text": "dates",
    "density": "densities",
    "province_density": "densities",
    "near": "distance",
    "inside": "inside",
    "count_inside": "inside",
    "count_near": "inside",
    "nearest": "distance",
    "within": "distance",
    "Citation": "citation",
    "cite": "citation",
    "citation": "citation",
    "Diff": "diff",
    "diff": "diff",
    "dossier": "dossier",
    "dossier_record": "dossier",
    "SiteStatus": "evidence",
    "status_at": "status",
    "status_table": "status",
    "export_csv": "export",
    "export_geojson": "export",
    "export_geoparquet": "export",
    "export_kmz": "export",
    "ChipsResult": "imagery",
    "chips": "imagery",
    "Comparison": "compare",
    "compare": "compare",
    "add_scene": "scenes",
    "drop_layer": "importer",
    "import_layer": "importer",
    "user_layers": "userlayers",
    "default_gpkg": "io",
    "Atlas": "store",
    "list_layers": "store",
    "open_atlas": "store",
    "read_layer": "store",
    "read_layers": "store",
    "export_postgis": "postgis",
    "about": "provenance",
    "export_qgis": "qgis",
    "Record": "record",
    "record": "record",
    "records": "record",
    "show": "record",
    "sanctions_status": "sanctions",
    "SCHEMAS": "schema",
    "find": "search",
    "resolve": "search",
    "retired_id": "search",
    "Site": "sites",
    "county_summary": "summaries",
    "province_summary": "summaries",
    "summary": "summaries",
    "build_map": "webmap",
    "write_map": "webmap",
    "build_site": "website",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'atlas' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function (and win over a submodule)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """``atlas`` itself: importing the submodule ``atlas.record`` (or ``atlas.dossier``) never
    hides the function of that name, as an eager ``from .record import record`` never did."""

    def __setattr__(self, name: str, value) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "PLANAR_CRS",
    "SCHEMAS",
    "TOLERANCE_KM",
    "AmbiguousError",
    "Atlas",
    "AtlasError",
    "ChipsResult",
    "Citation",
    "Comparison",
    "DateInterval",
    "DateParseError",
    "Diff",
    "InputError",
    "NoGeometryError",
    "NotFoundError",
    "Record",
    "Site",
    "SiteStatus",
    "SourceError",
    "ValidationError",
    "about",
    "add_scene",
    "assign_admin",
    "build",
    "build_map",
    "build_site",
    "chips",
    "citation",
    "cite",
    "compare",
    "count_inside",
    "count_near",
    "county_summary",
    "default_gpkg",
    "density",
    "diff",
    "dossier",
    "dossier_record",
    "drop_layer",
    "export_csv",
    "export_geojson",
    "export_geoparquet",
    "export_kmz",
    "export_postgis",
    "export_qgis",
    "find",
    "import_layer",
    "inside",
    "layer_summary",
    "list_layers",
    "near",
    "nearest",
    "open_atlas",
    "parse_date_text",
    "province_density",
    "province_summary",
    "read_layer",
    "read_layers",
    "record",
    "records",
    "resolve",
    "retired_id",
    "sanctions_status",
    "show",
    "status_at",
    "status_table",
    "summary",
    "user_layers",
    "validate",
    "within",
    "write_map",
]
