"""The one place that knows every layer's schema, and checks layers against it.

:data:`SCHEMAS` declares, per layer, the geometry type, the id field and its
pattern, and each field's type, whether it is required and its allowed
values. :func:`validate_layers` checks a set of layers against it (plus CRS,
geometry validity, points inside the DPRK, unique ids, foreign keys and the
report's Table 2 arithmetic) and collects **every** problem before raising a
single :class:`~atlas.errors.ValidationError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .dates import PRECISIONS
from .errors import ValidationError
from .evidence import BASES, HANDS, SIGNALS, STATUSES, site_evidence
from .i18n import N_  # the titles are looked up where a product in another language shows them

__all__ = [
    "FOREIGN_KEYS",
    "INSIDE_TOLERANCE_KM",
    "REPORT_PROVINCES",
    "SCHEMAS",
    "Field",
    "LayerSchema",
    "Problem",
    "check_layers",
    "id_column",
    "name_column",
    "schema_for",
    "validate_layers",
]

#: How far outside the Natural Earth DPRK outline a point may lie (generalised coast and rivers).
INSIDE_TOLERANCE_KM = 5.0

REPORT_PROVINCES = (
    "Gangwon Province", "Ryanggang Province", "Jagang Province", "South Pyongan Province",
    "North Pyongan Province", "South Hamgyong Province", "North Hamgyong Province",
    "South Hwanghae Province", "North Hwanghae Province", "Pyongyang City",
)


@dataclass(frozen=True)
class Field:
    """One attribute of a layer.

    Parameters
    ----------
    name : str
    kind : {"str", "int", "float", "bool", "date"}
    required : bool
        A required field may not be empty on any row.
    allowed : tuple of str, optional
        The only values a non-empty cell may take.
    """

    name: str
    kind: str = "str"
    required: bool = False
    allowed: tuple | None = None


@dataclass(frozen=True)
class LayerSchema:
    """A layer: its geometry type (None for a table), id field and pattern, fields."""

    name: str
    geometry: str | None
    id_field: str | None
    id_pattern: str | None
    fields: tuple[Field, ...] = field(default_factory=tuple)
    geometry_required: bool = True
    inside_dprk: bool = True
    description: str = ""
    #: What the map's layer control and the QGIS layer tree call the layer.
    title: str = ""
    #: The field that names a feature (a camp's ``name``, a county's ``name_en``).
    name_field: str | None = None


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (layer, id, field) and what."""

    layer: str
    feature: str
    field: str
    message: str

    def __str__(self) -> str:
        where = self.layer + (f"[{self.feature}]" if self.feature else "")
        return f"{where}.{self.field}: {self.message}" if self.field else f"{where}: {self.message}"


def _f(spec: str) -> tuple[Field, ...]:
    """Compact field list: ``name:kind!`` (``!`` = required)."""
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        req = kind.endswith("!") or name.endswith("!")
        out.append(Field(name.rstrip("!"), (kind or "str").rstrip("!"), req))
    return tuple(out)


def _with(fields: tuple[Field, ...], **allowed: tuple) -> tuple[Field, ...]:
    return tuple(
        Field(f.name, f.kind, f.required, allowed.get(f.name, f.allowed)) for f in fields
    )


#: Whether a finding's source states its conclusion or withholds it ("too soon to say", "unclear whether").
STRENGTHS = ("stated", "hedged")
COMMODITY_CLASSES = ("coal", "iron ore", "non-ferrous metal", "non-metallic mineral")
ADMIN = "province county county_ko county_id admin_method admin_distance_km:float"
ADMIN_METHODS = ("within", "nearest", "outside")
#: Global Energy Monitor's record of a mine (see :mod:`atlas.gem`), empty where GEM has none.
GEM = ("gem_id gem_name gem_name_ko gem_status gem_owner gem_owner_ko gem_coordinate_accuracy "
       "gem_capacity_mtpa:float gem_production_mtpa:float gem_reserves_mt:float "
       "gem_resources_mt:float gem_workforce:int gem_start_year:int gem_mine_type gem_coal_type "
       "gem_wiki gem_second_names gem_match_km:float gem_citation ")
#: What UN measure covers a mine's commodities (see :mod:`atlas.sanctions`).
SANCTIONS = "sanctions_commodities sanctions_measure! sanctions_first_date:date sanctions_history "
GEM_STATUS = ("operating", "proposed", "cancelled", "shelved", "mothballed", "retired", "closed")
GEM_MATCH = ("same mine", "second name at an existing point", "new point (proposed mine)", "unmatched")

SCHEMAS: dict[str, LayerSchema] = {s.name: s for s in [
    LayerSchema(
        "provinces", "MultiPolygon", "province_id", r"^KP-\d{2}$",
        _with(_f("province_id! name_en! name_ko! name_mr name_rr name_variants iso_3166_2! "
                 "folded_units ne_units table2_order:int! reported_mines:int! "
                 "reported_share_pct:float! report_ref! area_km2:float! "
                 "reported_mines_per_1000_km2:float! boundary_source! "
                 "boundary_vintage! licence! attribution!"), name_en=REPORT_PROVINCES),
        description="The report's 10 provinces (special cities folded in) with Table 2",
    ),
    LayerSchema(
        "counties", "MultiPolygon", "county_id", r"^relation/\d+$",
        _with(_f("county_id! name_ko! name_en name_hanja admin_level wikidata ocha_pcode "
                 "province! province_basis land_area_km2:float source! licence! attribution! "
                 "boundary_vintage!"), province=REPORT_PROVINCES),
        description="OpenStreetMap 2020 county-level units",
    ),
    LayerSchema(
        "mines", "Point", "mine_id", r"^M\d{3}$",
        _with(_f("mine_id! name! alt_names commodity! commodity_class! precision! "
                 "location_precision! town_centroid_flag:bool status feature_type source! "
                 "source_ref licence! notes record_origin! lat:float! lon:float! cross_checks "
                 + GEM + SANCTIONS + ADMIN),
              commodity_class=COMMODITY_CLASSES, precision=("site", "approximate", "town"),
              province=REPORT_PROVINCES, admin_method=ADMIN_METHODS, gem_status=GEM_STATUS,
              gem_coordinate_accuracy=("exact", "approximate")),
        description="Geolocated mines (open coordinates only), with Global Energy Monitor's records",
    ),
    LayerSchema(
        "steel_plants", "Point", "plant_id", r"^P\d+$",
        _with(_f("plant_id! name! name_ko owner parent status! start_year:int equipment "
                 "coordinate_accuracy! precision! kind! gem_wiki! source! licence! lat:float! "
                 "lon:float! " + ADMIN),
              status=GEM_STATUS, precision=("site", "approximate"),
              coordinate_accuracy=("exact", "approximate"),
              province=REPORT_PROVINCES, admin_method=ADMIN_METHODS),
        description="Steel plants (Global Energy Monitor): where the iron ore goes; processing, not mines",
    ),
    LayerSchema(
        "gem_records", None, "gem_id", r"^(P\d+|M\d+)$",
        _with(_f("gem_id! tracker! commodity_class! gem_name! gem_status! lat:float! lon:float! "
                 "match! mine_id match_km:float reason! gem_citation! licence!"),
              commodity_class=COMMODITY_CLASSES, gem_status=GEM_STATUS, match=GEM_MATCH),
        description="Every Global Energy Monitor mine record and what the atlas made of it",
    ),
    LayerSchema(
        "named_mines", "Point", "named_id", r"^NM\d{2}$",
        _with(_f("named_id! name_in_report! alt_names commodity! commodity_as_given commodity_inferred "
                 "commodity_class! "
                 "province_as_given place_as_given report_lines! report_cite! province_inferred "
                 "county_or_place_inferred match_type! location_role! "
                 "is_mine_location:bool! is_town_proxy:bool! precision! location_precision! source! "
                 "licence! notes discrepancy_ref " + SANCTIONS + ADMIN),
              location_role=("a mine of the district", "a nearby mine, not the named one",
                             "no public coordinate", "the mine",
                             "probable same mine (inferred from the name)",
                             "town proxy, not the mine's location"),
              precision=("site", "district member", "nearby mine", "probable same mine",
                         "town proxy", "none"),
              commodity_class=COMMODITY_CLASSES, province=REPORT_PROVINCES,
              admin_method=ADMIN_METHODS),
        geometry_required=False,
        description=("The mines and districts the report names: province_as_given and "
                     "place_as_given as printed (blank where the report gives none), "
                     "province_inferred the atlas's reading with its reason; commodity_as_given as printed, "
                     "commodity_inferred what the atlas adds and why; town proxies flagged"),
    ),
    LayerSchema(
        "mineral_deposits", "MultiPolygon", "region_id", r"^DEP-[A-Z-]+$",
        _with(_f("region_id! commodity! commodity_class! provinces! region_note quote! "
                 "section! report_ref! precision! source! licence!"),
              commodity_class=COMMODITY_CLASSES),
        description="Deposit regions the report's text names, as provinces",
    ),
    LayerSchema(
        "camps", "Point", "site_id", r"^(KLS|KHS|OTH)-[0-9A-Z]+$",
        _with(_f("site_id! kind! number name! name_ko alt_names precision! location_precision! "
                 "province_as_given county_as_given agency status! status_date "
                 "area_km2 prisoners_estimate source! licence! lat:float lon:float "
                 "n_findings:int! status_class! status_as_of:date! evidence_tier:int! "
                 "evidence_tier_label! latest_evidence_date:date sources_disagree:bool! status_summary! "
                 "n_coordinate_candidates:int! " + ADMIN),
              kind=("kwan-li-so", "kyo-hwa-so", "other"),
              precision=("site", "camp-area", "uncertain", "none"),
              status_class=STATUSES,
              province=REPORT_PROVINCES, admin_method=ADMIN_METHODS),
        geometry_required=False,
        description="Political prison camps, prison labour camps and suspected sites",
    ),
    LayerSchema(
        "camp_findings", None, "finding_id", r"^F\d{3,}$",
        _with(_f("finding_id! site_id! observed_text! date_start:date date_end:date "
                 "date_precision! date_rule! finding_type! description! evidence_basis! "
                 "testimony_hand status_signal! evidence_reason! signal_strength! strength_reason "
                 "source_report! page report_cite"),
              date_precision=PRECISIONS, evidence_basis=BASES, testimony_hand=HANDS,
              status_signal=SIGNALS, signal_strength=STRENGTHS),
        description="Dated observations per site (imagery and testimony)",
    ),
    LayerSchema(
        "mine_findings", None, "finding_id", r"^MF\d{3,}$",
        _with(_f("finding_id! site_id! observed_text! date_start:date date_end:date "
                 "date_precision! date_rule! finding_type! description! evidence_basis! "
                 "testimony_hand status_signal! evidence_reason! signal_strength! strength_reason "
                 "source_report! page report_cite"),
              date_precision=PRECISIONS, evidence_basis=BASES, testimony_hand=HANDS,
              status_signal=SIGNALS, signal_strength=STRENGTHS),
        description=("Dated observations per mine (Global Energy Monitor's status by its release, the report, "
                     "imagery, testimony); site_id a mine (M...) or a mine the report names (NM...)"),
    ),
    LayerSchema(
        "coordinate_candidates", "Point", "candidate_id", r"^C\d{3}$",
        _f("candidate_id! site_id! source! lat:float! lon:float! note precision! licence! "
           "distance_km_from_atlas_point:float is_atlas_point:bool!"),
        description="Every published coordinate of each camp",
    ),
    LayerSchema(
        "sanctions_measures", None, "measure_id", r"^UNSC-\d{2}$",
        _with(_f("measure_id! resolution! adopted:date! measure! commodities_as_worded! "
                 "atlas_commodities! note source! licence! citation_note!"),
              measure=("ban", "ban with exception", "cap")),
        description="UN Security Council measures on DPRK mineral exports (no paragraph numbers or "
                    "HS codes: no copy of the resolution text was read)",
    ),
    LayerSchema("report_table_1", None, "resource", None,
                _f("resource! mines_lee_2014:int mines_kores_2011:int printed_cells_note "
                   "report_ref!"), description="Report Table 1: mines by type"),
    LayerSchema("report_table_2", None, "region", None,
                _f("table_order:int! region! row_kind! mines:int! share_pct_printed:float! "
                   "report_ref!"), description="Report Table 2: mines by region"),
    LayerSchema("report_table_3", None, "resource", None,
                _f("resource_group resource! unit! yearbook_1988_total:float "
                   "survey_2013_proven_probable:float survey_2013_expected:float "
                   "survey_2013_total:float printed_cells_note report_ref!"),
                description="Report Table 3: reserves"),
    LayerSchema("report_table_4", None, None, None,
                _f("resource! unit! year:int! value:float printed_cells_note report_ref!"),
                description="Report Table 4: production 1990-2012"),
    LayerSchema("report_table_5", None, None, None,
                _f("resource! unit! year:int! value:float! printed! printed_cells_note "
                   "report_ref!"), description="Report Table 5: coal and iron ore 1998-2014"),
    LayerSchema("report_discrepancies", None, "discrepancy_id", r"^D\d{2}$",
                _f("discrepancy_id! subject! reading_a! reading_a_where! reading_b! "
                   "reading_b_where! geography_or_check atlas_treatment!"),
                description="Where the report contradicts itself or geography"),
    LayerSchema("dprk_outline", "MultiPolygon", "country_code", r"^PRK$",
                _f("country_code! name_en! name_ko source! licence! attribution!"),
                inside_dprk=False,
                description="The DPRK outline (Natural Earth admin-0): the density mask and import checks"),
    LayerSchema("basemap_countries", "MultiPolygon", "country_code", r"^[A-Z]{3}$",
                _f("country_code! name_en! name_ko source! licence! attribution!"),
                inside_dprk=False,
                description="Countries around the DPRK (Natural Earth admin-0): the map's offline basemap"),
    LayerSchema("geonames_places", "Point", "geonameid", r"^\d+$",
                _f("geonameid! name! alternatenames osm_unit_ko osm_unit_en lat:float! lon:float! "
                   "source! licence! attribution!"),
                inside_dprk=False,
                description="GeoNames towns (cities500): their alternate names find a county by its town"),
    LayerSchema("report_passages", None, "passage_id", r"^P\d{2}$",
                _with(_f("passage_id! site_ids! about! forced_labour! quote! lines! section! paragraph! "
                         "paragraph_opens! page report_cites report_ref!"), forced_labour=("yes", "no")),
                description=("What the report says about each camp and mine, quoted with its section, "
                             "paragraph (and its opening words), page where known, and lines; "
                             "forced_labour: whether it speaks of forced or prison labour there")),
    LayerSchema("retired_ids", None, "id", None,
                _with(_f("id! layer! state! into reason! retired_in!"), state=("merged", "withdrawn")),
                description=("Ids no longer in use, never given to another record: merged into another id, "
                             "or withdrawn with the reason, and the release that retired each (geodata/ids.csv)")),
    LayerSchema("sources", None, "path", None,
                _f("path! description! origin! licence! attribution! sha256!"),
                description="Provenance of every source file"),
]}


#: What the map and QGIS call each layer (a report table is called by its description).
_TITLES = {
    "provinces": N_("Provinces: mines reported (report Table 2)"),
    "counties": N_("Counties (OpenStreetMap 2020)"),
    "mines": N_("Mines with open coordinates, by commodity class"),
    "steel_plants": N_("Steel plants (where the iron ore goes; not mines)"),
    "named_mines": N_("Mines the report names"),
    "mineral_deposits": N_("Mineral-deposit regions named in the report"),
    "camps": N_("Prison camps and suspected sites"),
    "coordinate_candidates": N_("Other published coordinates of camps"),
    "gem_records": N_("Global Energy Monitor records and their join"),
    "sanctions_measures": N_("UN sanctions on mineral exports"),
    "camp_findings": N_("Camp findings (dated)"),
    "mine_findings": N_("Mine findings (dated)"),
    "report_discrepancies": N_("Report discrepancies"),
    "report_passages": N_("What the report says (quotes)"),
    "retired_ids": N_("Retired ids"),
    "sources": N_("Sources"),
    "dprk_outline": N_("DPRK outline (Natural Earth)"),
    "basemap_countries": N_("Countries (Natural Earth, basemap)"),
    "geonames_places": N_("Towns (GeoNames)"),
}
_NAMES = {"provinces": "name_en", "counties": "name_en", "mines": "name", "named_mines": "name_in_report",
          "camps": "name", "steel_plants": "name", "geonames_places": "name", "dprk_outline": "name_en",
          "basemap_countries": "name_en", "mineral_deposits": "commodity", "coordinate_candidates": "source"}
SCHEMAS = {n: replace(s, title=_TITLES.get(n) or s.description, name_field=_NAMES.get(n))
           for n, s in SCHEMAS.items()}

#: Layers a user imports (``user_<name>``, see :mod:`atlas.importer`) share one schema.
#: Points outside the DPRK are kept and flagged (``outside_dprk_km``), not refused; ``private``
#: marks a layer that no map, export or site includes unless asked. A user layer holds one geometry
#: family (points, lines or polygons; see :mod:`atlas.shapes`), stored as Multi* for lines and polygons.
USER_SCHEMA = LayerSchema(
    "user_*", "Point|LineString|MultiLineString|Polygon|MultiPolygon", "user_id", r"^\S.*$",
    _with(_f("user_id! name! kind! outside_dprk_km:float source_file! source_sha256! imported_at! "
             "source! licence! precision! private:bool! " + ADMIN),
          kind=("sites", "mines", "camps"), admin_method=ADMIN_METHODS, province=REPORT_PROVINCES),
    geometry_required=False, inside_dprk=False,
    description="A layer imported by a user",
)


#: Foreign keys between layers: (table, column, referenced table, referenced column).
FOREIGN_KEYS = (
    ("camp_findings", "site_id", "camps", "site_id"),
    ("coordinate_candidates", "site_id", "camps", "site_id"),
)


#: Where an id or a name is looked for in a layer the schema does not know, in this order.
_ID_FALLBACK = ("user_id", "id", "site_id", "mine_id", "fid")
_NAME_FALLBACK = ("name", "name_in_report", "name_en", "title", "label", "subject", "region",
                  "resource", "commodity", "description", "path")


def id_column(layer: str, columns: Iterable[str]) -> str | None:
    """The column holding a layer's feature ids: the schema's, else a common id column.

    Examples
    --------
    >>> id_column("camps", ["site_id", "name"]), id_column("my_points", ["fid", "id"])
    ('site_id', 'id')
    """
    cols = list(columns)
    sch = schema_for(layer)
    if sch and sch.id_field in cols:
        return sch.id_field
    return next((c for c in _ID_FALLBACK if c in cols), None)


def name_column(layer: str, columns: Iterable[str]) -> str | None:
    """The column naming a layer's features: the schema's, else a common name column.

    Examples
    --------
    >>> name_column("named_mines", ["named_id", "name_in_report"]), name_column("x", ["a", "name"])
    ('name_in_report', 'name')
    """
    cols = list(columns)
    sch = schema_for(layer)
    if sch and sch.name_field in cols:
        return sch.name_field
    return next((c for c in _NAME_FALLBACK if c in cols), None)


def schema_for(name: str) -> LayerSchema | None:
    """The schema of a layer name: an atlas layer, a user layer, or None."""
    if name in SCHEMAS:
        return SCHEMAS[name]
    if name.startswith("user_"):
        return USER_SCHEMA
    return None


#: Every character Python's ``str.strip()`` removes (``str.isspace``), as an RE2 class.
_SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
           "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_BLANK = "^[" + "".join(f"\\x{{{ord(c):x}}}" for c in _SPACES) + "]*$"


def _empty(series: pd.Series) -> np.ndarray:
    """Cells that are missing, or text that ``str.strip()`` leaves empty (one vectorised pass over text)."""
    missing = series.isna().to_numpy()
    try:
        text = pa.array(series, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text: each value as it prints
        s = series.astype(object)
        return (s.isna() | (s.astype(str).str.strip() == "")).to_numpy()
    blank = pc.fill_null(pc.match_substring_regex(text, _BLANK), True).to_numpy(zero_copy_only=False)
    return missing | blank


def _check_kind(values: pd.Series, kind: str, empty: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of non-empty cells that do not parse as ``kind``."""
    present = ~(_empty(values) if empty is None else empty)
    if kind == "str":
        return np.zeros(len(values), bool)
    if kind in ("int", "float"):
        num = pd.to_numeric(values.where(present), errors="coerce")
        bad = present & num.isna().to_numpy()
        if kind == "int":
            bad |= present & ~num.isna().to_numpy() & ((num.fillna(0) % 1) != 0).to_numpy()
        return bad
    if kind == "bool":
        return present & ~values.astype(object).isin([True, False, 0, 1, "True", "False"]).to_numpy()
    if kind == "date":
        parsed = pd.to_datetime(values.where(present), errors="coerce", format="%Y-%m-%d")
        return present & parsed.isna().to_numpy()
    raise ValueError(f"unknown field kind {kind!r}")


def _check_schema(name: str, df: pd.DataFrame, schema: LayerSchema, outline) -> list[Problem]:
    problems: list[Problem] = []
    ids = (df[schema.id_field].astype(str) if schema.id_field and schema.id_field in df
           else pd.Series([str(i) for i in range(len(df))], index=df.index))

    def add(i, fld, msg):
        problems.append(Problem(name, ids.iloc[i] if i is not None else "", fld, msg))

    _check_fields(df, schema, add)
    if schema.id_field and schema.id_field in df:
        for dup in sorted(set(ids[ids.duplicated()])):
            problems.append(Problem(name, dup, schema.id_field, "id is not unique"))
        if schema.id_pattern:
            pat = re.compile(schema.id_pattern)
            for i, v in enumerate(ids):
                if not pat.match(v):
                    add(i, schema.id_field, f"{v!r} does not match {schema.id_pattern}")
    if schema.geometry is not None:
        _check_geometry(df, schema, outline, add)
    return problems


def _check_fields(df: pd.DataFrame, schema: LayerSchema, add) -> None:
    """Every field present, required values set, values of the field's kind and allowed set."""
    for f in schema.fields:
        if f.name not in df.columns:
            add(None, f.name, "field missing")
            continue
        col = df[f.name]
        empty = _empty(col)
        if f.required:
            for i in np.flatnonzero(empty):
                add(i, f.name, "required value is empty")
        for i in np.flatnonzero(_check_kind(col, f.kind, empty)):
            add(i, f.name, f"{col.iloc[i]!r} is not a valid {f.kind}")
        if f.allowed:
            bad = ~empty & ~col.astype(str).isin(f.allowed).to_numpy()
            for i in np.flatnonzero(bad):
                add(i, f.name, f"{col.iloc[i]!r} is not one of {', '.join(f.allowed)}")


def _check_geometry(df: pd.DataFrame, schema: LayerSchema, outline, add) -> None:
    """A geometry column in EPSG:4326, of the schema's type, valid, and (points) inside the DPRK."""
    if not isinstance(df, gpd.GeoDataFrame) or df.geometry.name not in df:
        add(None, "geometry", f"no geometry column (expected {schema.geometry})")
        return
    if df.crs is None or df.crs.to_epsg() != 4326:
        add(None, "geometry", f"CRS is {df.crs}, expected EPSG:4326")
    geoms = df.geometry
    missing = (geoms.isna() | geoms.is_empty).to_numpy()
    for i in np.flatnonzero(missing):
        if schema.geometry_required:
            add(i, "geometry", "geometry is empty")
    present = ~missing
    allowed = schema.geometry.split("|")  # a user layer: any one family (checked on import)
    for i in np.flatnonzero(present & ~geoms.geom_type.isin(allowed).to_numpy()):
        add(i, "geometry", f"{geoms.iloc[i].geom_type} where {' or '.join(allowed)} is expected")
    for i in np.flatnonzero(present & ~geoms.is_valid.to_numpy()):
        add(i, "geometry", "invalid geometry")
    if outline is not None and schema.inside_dprk and schema.geometry == "Point" and present.any():
        pts = geoms[present].to_crs("EPSG:5179")
        dist_km = pts.distance(outline).to_numpy() / 1000.0
        for i, d in zip(np.flatnonzero(present), dist_km):
            if d > INSIDE_TOLERANCE_KM:
                add(i, "geometry", f"point lies {d:.1f} km outside the DPRK "
                    f"(tolerance {INSIDE_TOLERANCE_KM} km)")


def _check_cross(layers: dict[str, pd.DataFrame]) -> list[Problem]:
    """Checks between layers: Table 2 arithmetic, foreign keys."""
    problems: list[Problem] = []
    t2 = layers.get("report_table_2")
    if t2 is not None and {"row_kind", "mines", "share_pct_printed"} <= set(t2.columns):
        problems += _check_table_2(t2)
    prov = layers.get("provinces")
    if prov is not None and t2 is not None and "reported_mines" in prov:
        problems += _check_province_total(prov, t2)
    problems += _check_gem(layers) + _check_sanctions(layers)
    camps = layers.get("camps")
    if camps is not None and "site_id" in camps:
        problems += _check_camp_keys(layers, set(camps["site_id"]))
    passages, mines, named = layers.get("report_passages"), layers.get("mines"), layers.get("named_mines")
    if passages is not None and camps is not None and mines is not None and "site_ids" in passages:
        known = set(camps["site_id"]) | set(mines["mine_id"])
        if named is not None and "named_id" in named:
            known |= set(named["named_id"])
        problems += _check_passage_sites(passages, known)
    problems += _check_no_outside_paths(layers)
    problems += _check_retired(layers)
    findings = layers.get("camp_findings")
    if findings is not None and {"evidence_basis", "testimony_hand", "date_start",
                                 "date_end"} <= set(findings.columns):
        problems += _check_evidence(findings, camps)
    mf = layers.get("mine_findings")
    if mf is not None and {"evidence_basis", "testimony_hand", "date_start", "date_end"} <= set(mf.columns):
        problems += _check_evidence(mf, None, "mine_findings")
        if mines is not None and named is not None and "site_id" in mf:
            known = set(mines["mine_id"]) | set(named["named_id"])
            for fid, site in zip(mf["finding_id"], mf["site_id"]):
                if site not in known:
                    problems.append(Problem("mine_findings", str(fid), "site_id",
                                            f"{site!r} is not a mine or a named mine"))
    return problems


#: Where each kind of record keeps its own id: a retired id must be none of these, a merge's target one.
ID_COLUMNS = {"camps": "site_id", "mines": "mine_id", "named_mines": "named_id", "camp_findings": "finding_id",
              "mine_findings": "finding_id", "report_passages": "passage_id",
              "report_discrepancies": "discrepancy_id"}


def _check_retired(layers: dict[str, pd.DataFrame]) -> list[Problem]:
    """A retired id is held by no record of the release; a merged one names an id that is."""
    retired = layers.get("retired_ids")
    if retired is None or not len(retired) or "id" not in retired:
        return []
    current = {str(v) for name, col in ID_COLUMNS.items()
               if name in layers and col in layers[name] for v in layers[name][col]}
    problems = [Problem("retired_ids", str(i), "id", "a retired id is held by a record of this release")
                for i in retired["id"] if str(i) in current]
    problems += [Problem("retired_ids", str(i), "into", f"{into!r} is not the id of a record of this release")
                 for i, s, into in zip(retired["id"], retired["state"], retired["into"])
                 if s == "merged" and str(into) not in current]
    return problems


#: A folder outside the package's own data: a relative path up (``../``), the project's source folders,
#: an absolute path of the build machine. No published value may name one (it ships in every download).
_OUTSIDE_PATH = re.compile(r"(?:^|[\s(\"'`])\.\./|shared/seed|/work/|/home/|/tmp/|\b[A-Z]:\\")


#: Text every match of :data:`_OUTSIDE_PATH` holds: found first, in one vectorised pass.
_OUTSIDE_TEXT = r"\.\./|shared/seed|/work/|/home/|/tmp/|:\\"


def _outside_path_rows(col: pd.Series) -> np.ndarray:
    """Positions of the values of ``col`` that name a folder outside the package's data."""
    text = col.astype(str)
    maybe = pc.match_substring_regex(pa.array(text, type=pa.string()), _OUTSIDE_TEXT)
    rows = np.flatnonzero(maybe.to_numpy(zero_copy_only=False))
    return rows[[bool(_OUTSIDE_PATH.search(text.iat[i])) for i in rows]].astype(int)


def _check_no_outside_paths(layers: dict[str, pd.DataFrame]) -> list[Problem]:
    """No value of any layer names a folder outside the package's data (e.g. the report's text file)."""
    problems: list[Problem] = []
    for name, df in layers.items():
        id_field = SCHEMAS[name].id_field if name in SCHEMAS else None
        for col in df.columns:
            if col == "geometry" or not (df[col].dtype == object or str(df[col].dtype).startswith("str")):
                continue
            for i in _outside_path_rows(df[col]):
                fid = str(df[id_field].iloc[i]) if id_field and id_field in df else str(i)
                problems.append(Problem(name, fid, col, "names a folder outside the package's data"))
    return problems


def _check_table_2(t2: pd.DataFrame) -> list[Problem]:
    """Table 2 adds up: 11 regions, 360 mines as printed, shares that are each region's mines / 360."""
    problems: list[Problem] = []
    body = t2[t2["row_kind"] != "total"]
    total_row = t2[t2["row_kind"] == "total"]
    mines = pd.to_numeric(body["mines"], errors="coerce")
    if len(body) != 11:
        problems.append(Problem("report_table_2", "", "", f"{len(body)} region rows, expected 11"))
    if total_row.empty or int(mines.sum()) != int(total_row["mines"].iloc[0]) or mines.sum() != 360:
        problems.append(Problem("report_table_2", "Total", "mines",
                                f"regions sum to {int(mines.sum())}, expected 360 = printed total"))
    shares = pd.to_numeric(body["share_pct_printed"], errors="coerce")
    if abs(shares.sum() - 100.0) > 0.05 * len(body) + 1e-9:
        problems.append(Problem("report_table_2", "", "share_pct_printed",
                                f"shares sum to {shares.sum():.1f}, not 100 within rounding"))
    for region, n, pct in zip(body["region"], mines, shares):
        if abs(100.0 * n / 360.0 - pct) > 0.05 + 1e-9:
            problems.append(Problem("report_table_2", region, "share_pct_printed",
                                    f"{pct} printed but {n}/360 = {100 * n / 360:.2f}%"))
    return problems


def _check_province_total(prov: pd.DataFrame, t2: pd.DataFrame) -> list[Problem]:
    """The provinces' reported mines plus Table 2's unidentified ones make the report's 360."""
    unk = t2.loc[t2["row_kind"] == "unidentified", "mines"]
    total = int(pd.to_numeric(prov["reported_mines"]).sum()) + int(unk.sum())
    if total != 360:
        return [Problem("provinces", "", "reported_mines",
                        f"provinces + unidentified = {total}, expected 360")]
    return []


def _check_camp_keys(layers: dict[str, pd.DataFrame], known: set) -> list[Problem]:
    """Every ``site_id`` of a layer that refers to camps is a camp."""
    problems: list[Problem] = []
    for layer in (t for t, _c, target, _tc in FOREIGN_KEYS if target == "camps"):
        df = layers.get(layer)
        if df is None or "site_id" not in df:
            continue
        id_field = SCHEMAS[layer].id_field
        for fid, site in zip(df[id_field], df["site_id"]):
            if site not in known:
                problems.append(Problem(layer, str(fid), "site_id", f"{site!r} is not a camp"))
    return problems


def _check_passage_sites(passages: pd.DataFrame, sites: set) -> list[Problem]:
    """Every site a report passage names is a camp, a mine or a mine the report names."""
    problems: list[Problem] = []
    for pid, ids in zip(passages["passage_id"], passages["site_ids"]):
        for site in str(ids).split(";"):
            if site.strip() not in sites:
                problems.append(Problem("report_passages", str(pid), "site_ids",
                                        f"{site.strip()!r} is not a camp, a mine or a named mine"))
    return problems


def _check_evidence(findings: pd.DataFrame, camps: pd.DataFrame | None,
                    layer: str = "camp_findings") -> list[Problem]:
    """Testimony says its hand, intervals run forward, hedging says why, camps' evidence columns follow the rule."""
    problems = []
    for fid, basis, hand, start, end in zip(findings["finding_id"], findings["evidence_basis"],
                                            findings["testimony_hand"], findings["date_start"],
                                            findings["date_end"]):
        has_hand = isinstance(hand, str) and hand.strip() != ""
        if (basis == "testimony") != has_hand:
            problems.append(Problem(layer, str(fid), "testimony_hand",
                                    "set for testimony (first-hand, second-hand, unstated) only"))
        if isinstance(start, str) and isinstance(end, str) and start and end and start > end:
            problems.append(Problem(layer, str(fid), "date_end",
                                    f"{end} is before date_start {start}"))
    if {"signal_strength", "strength_reason"} <= set(findings.columns):
        for fid, strength, why in zip(findings["finding_id"], findings["signal_strength"],
                                      findings["strength_reason"]):
            if strength == "hedged" and not (isinstance(why, str) and why.strip()):
                problems.append(Problem(layer, str(fid), "strength_reason",
                                        "a hedged finding says why (what its source withholds)"))
    cols = ["status_class", "evidence_tier", "evidence_tier_label", "latest_evidence_date",
            "sources_disagree", "status_summary"]
    if (camps is None or not {*cols, "status_as_of"} <= set(camps.columns) or "status_signal" not in findings
            or camps.empty):
        return problems
    days = set(camps["status_as_of"].astype(str))
    if len(days) != 1:
        return [*problems, Problem("camps", "", "status_as_of", f"one build date expected, not {sorted(days)}")]
    expected = site_evidence(findings, camps["site_id"], days.pop())
    for row in camps[["site_id", *cols]].to_dict("records"):
        for col in cols:
            want, got = expected.at[row["site_id"], col], row[col]
            if not (pd.isna(want) and pd.isna(got)) and str(want) != str(got):
                problems.append(Problem("camps", row["site_id"], col,
                                        f"{got!r} but the rule of atlas.evidence gives {want!r}"))
    return problems


def _check_gem(layers: dict[str, pd.DataFrame]) -> list[Problem]:
    """GEM columns against the GEM records: every join within 0.5 km, every id known."""
    problems: list[Problem] = []
    mines, recs = layers.get("mines"), layers.get("gem_records")
    if mines is None or recs is None or "gem_id" not in mines or "mine_id" not in recs:
        return problems
    known = set(mines["mine_id"])
    same = {}
    for gid, mid, match, km in zip(recs["gem_id"], recs["mine_id"], recs["match"], recs["match_km"]):
        if match == "unmatched":
            continue
        if str(mid or "") not in known:
            problems.append(Problem("gem_records", str(gid), "mine_id", f"{mid!r} is not a mine"))
        if match != "new point (proposed mine)" and not (pd.notna(km) and float(km) <= 0.5):
            problems.append(Problem("gem_records", str(gid), "match_km", f"{km} km: a join must lie within 0.5 km"))
        if match in ("same mine", "new point (proposed mine)"):
            same[str(gid)] = str(mid)
    for mid, gid, cit in zip(mines["mine_id"], mines["gem_id"], mines.get("gem_citation", [""] * len(mines))):
        if gid is None or (isinstance(gid, float) and np.isnan(gid)) or not str(gid).strip():
            continue
        if same.get(str(gid)) != str(mid):
            problems.append(Problem("mines", str(mid), "gem_id", f"{gid!r} is not a GEM record joined to this mine"))
        if not str(cit or "").strip():
            problems.append(Problem("mines", str(mid), "gem_citation", "a GEM value without GEM's citation"))
    return problems


def _check_sanctions(layers: dict[str, pd.DataFrame]) -> list[Problem]:
    """Each feature's sanctioned commodities and first date against the measures table."""
    problems: list[Problem] = []
    table = layers.get("sanctions_measures")
    if table is None or not {"atlas_commodities", "adopted"} <= set(table.columns):
        return problems
    first: dict[str, str] = {}
    for names, adopted in zip(table["atlas_commodities"], table["adopted"]):
        for c in str(names).split(";"):
            c = c.strip()
            first[c] = min(first.get(c, str(adopted)), str(adopted))
    for name in ("mines", "named_mines"):
        df = layers.get(name)
        if df is None or "sanctions_commodities" not in df:
            continue
        id_field = SCHEMAS[name].id_field
        for fid, comms, date in zip(df[id_field], df["sanctions_commodities"], df["sanctions_first_date"]):
            names = [c.strip() for c in str(comms or "").split(";") if c.strip() and str(comms) != "nan"]
            unknown = [c for c in names if c not in first]
            if unknown:
                problems.append(Problem(name, str(fid), "sanctions_commodities",
                                        f"{', '.join(unknown)} not in sanctions_measures"))
                continue
            want = min((first[c] for c in names), default=None)
            got = None if date is None or (isinstance(date, float) and np.isnan(date)) else str(date)[:10]
            if want != got:
                problems.append(Problem(name, str(fid), "sanctions_first_date",
                                        f"{got} but the measures table gives {want}"))
    return problems


def check_layers(layers: dict[str, pd.DataFrame], outline=None, required=True) -> list[Problem]:
    """Every problem in a set of layers, without raising.

    Parameters
    ----------
    layers : dict of str to (Geo)DataFrame
    outline : shapely geometry, optional
        The DPRK outline in EPSG:5179 for the inside-the-country test;
        defaults to the layers' own ``dprk_outline`` (without it, and
        without ``outline``, the test is skipped: the layer is reported missing).
    required : bool, default True
        Report a missing atlas layer as a problem.

    Returns
    -------
    list of Problem
    """
    if outline is None and isinstance(layers.get("dprk_outline"), gpd.GeoDataFrame):
        outline = layers["dprk_outline"].to_crs("EPSG:5179").union_all()
    problems: list[Problem] = []
    for name, schema in SCHEMAS.items():
        if name not in layers:
            if required:
                problems.append(Problem(name, "", "", "layer missing"))
            continue
        problems += _check_schema(name, layers[name], schema, outline)
    for name, df in layers.items():
        if name.startswith("user_"):
            problems += _check_schema(name, df, USER_SCHEMA, outline)
    return problems + _check_cross(layers)


def validate_layers(layers: dict[str, pd.DataFrame], outline=None) -> None:
    """Raise :class:`~atlas.errors.ValidationError` listing every problem, if any."""
    problems = check_layers(layers, outline)
    if problems:
        raise ValidationError(problems)


def layer_source_summary(name: str, df: pd.DataFrame) -> str:
    """A one-line summary of the sources of a layer's features."""
    for col in ("source", "source_report", "report_ref", "origin"):
        if col in df.columns and len(df):
            counts = df[col].astype(str).str.split(r" \(|;", regex=True).str[0].value_counts()
            return "; ".join(f"{k} ({v})" for k, v in counts.head(3).items()) + (
                f"; +{len(counts) - 3} more" if len(counts) > 3 else "")
    return ""


