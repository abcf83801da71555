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
from .importer import import_layer, user_layers
from .io import default_gpkg, list_layers, read_layer, read_layers
from .qgis import export_qgis
from .query import (
    Site,
    county_summary,
    find,
    near,
    nearest,
    province_summary,
    resolve,
    summary,
    within,
)
from .raster import ChipsResult, chips, density, province_density
from .schema import SCHEMAS
from .site import build_site
from .webmap import build_map, write_map

__all__ = [
    "PLANAR_CRS",
    "SCHEMAS",
    "TOLERANCE_KM",
    "AmbiguousError",
    "AtlasError",
    "ChipsResult",
    "InputError",
    "NoGeometryError",
    "NotFoundError",
    "Site",
    "SourceError",
    "ValidationError",
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
    "export_qgis",
    "find",
    "import_layer",
    "layer_summary",
    "list_layers",
    "near",
    "nearest",
    "province_density",
    "province_summary",
    "read_layer",
    "read_layers",
    "resolve",
    "summary",
    "user_layers",
    "validate",
    "within",
    "write_map",
]
