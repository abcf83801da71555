"""Gulag, Inc. atlas: North Korea's mines and prison camps, cited and checked.

The public API mirrors the ``atlas`` command:

>>> import atlas
>>> path = atlas.build()                # writes output/atlas.gpkg
>>> camps = atlas.read_layer("camps")   # a GeoDataFrame
>>> sorted(camps["kind"].unique())
['kwan-li-so', 'kyo-hwa-so', 'other']
"""

from .admin import PLANAR_CRS, TOLERANCE_KM, assign_admin
from .builder import build, layer_summary, validate
from .dates import DateInterval, DateParseError, parse_date_text
from .densities import density, province_density
from .distance import near, nearest, within
from .dossier import dossier, dossier_record
from .errors import (
    AmbiguousError,
    AtlasError,
    InputError,
    NoGeometryError,
    NotFoundError,
    SourceError,
    ValidationError,
)
from .evidence import SiteStatus, status_at, status_table
from .export import export_csv, export_geojson, export_geoparquet, export_kmz
from .imagery import ChipsResult, chips
from .importer import drop_layer, import_layer, user_layers
from .io import default_gpkg, list_layers, read_layer, read_layers
from .postgis import export_postgis
from .provenance import about
from .qgis import export_qgis
from .record import Record, record, show
from .sanctions import sanctions_status
from .schema import SCHEMAS
from .search import find, resolve
from .sites import Site
from .summaries import county_summary, province_summary, summary
from .webmap import build_map, write_map
from .website import build_site

__all__ = [
    "PLANAR_CRS",
    "SCHEMAS",
    "TOLERANCE_KM",
    "AmbiguousError",
    "AtlasError",
    "ChipsResult",
    "DateInterval",
    "DateParseError",
    "InputError",
    "NoGeometryError",
    "NotFoundError",
    "Record",
    "Site",
    "SiteStatus",
    "SourceError",
    "ValidationError",
    "about",
    "assign_admin",
    "build",
    "build_map",
    "build_site",
    "chips",
    "county_summary",
    "default_gpkg",
    "density",
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
    "layer_summary",
    "list_layers",
    "near",
    "nearest",
    "parse_date_text",
    "province_density",
    "province_summary",
    "read_layer",
    "read_layers",
    "record",
    "resolve",
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
