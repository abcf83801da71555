"""The register of a user's imagery scenes: what each scene is, where it lives, and whether it is still it.

A scene is a georeferenced GeoTIFF (COG, BigTIFF) or JPEG 2000 file a user
holds (``atlas imagery add FILE``), admitted as every raster the atlas reads
(:func:`atlas.admit.admit_raster`: by its bytes, its format's own GDAL driver,
never a VRT). Its record holds the file's sha256 (the scene's identity: what a
finding cites, :func:`cited_scenes`), its footprint (lon/lat), acquisition date
(from the file's tags, :data:`atlas.imagery.DATE_TAGS`, unless ``--date`` is
given; required when the file has none), sensor, ground resolution (metres in
EPSG:5179 at the scene's centre), licence, source, size, and where it lives.

The register is one JSON file kept in the atlas's **private folder**
(:func:`register_path`: ``output-private/imagery-scenes.json`` beside
``output/``), never in the folder of shareable products: a scene's path and
name are facts of this machine. A scene is private unless registered as
shareable (``--shareable``); what leaves the machine (the map, the dossier, the
site, exports) reads the register through :func:`shareable_scenes` alone
(the source-protection gate, :func:`atlas.userlayers.admits`, product
``"scenes"``), and never a private scene's pixels, path, name or existence.

A scene is used only after :func:`verify`: the file is read again and its sha256
compared with the registered one. A moved file (nothing at its path) or an
altered one (another sha256) is refused with a :class:`~atlas.errors.SourceError`
saying which, never silently used; registering the file again at its new place
updates the record (the same sha256 is the same scene).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from . import io
from .admit import admit_raster
from .database import is_database_url
from .errors import InputError, NotFoundError, SourceError
from .store import Atlas

__all__ = [
    "REGISTER_NAME",
    "Scene",
    "add_scene",
    "citations_text",
    "cited_scenes",
    "covering",
    "find_scene",
    "load_register",
    "open_scene_file",
    "register_path",
    "scene_state",
    "shareable_scenes",
    "site_citations",
    "verify",
]

#: The register's file name, in the atlas's private folder.
REGISTER_NAME = "imagery-scenes.json"
#: The register's format version (written in the file).
_VERSION = 1
#: Tags read, in this order, for a scene's acquisition date (as :data:`atlas.imagery.DATE_TAGS`).
DATE_TAGS = (
    "ACQUISITIONDATE", "ACQUISITION_DATE", "ACQUISITIONDATETIME", "DATE_ACQUIRED",
    "SENSING_TIME", "SENSINGTIME", "DATATAKE_SENSING_START", "TIFFTAG_DATETIME", "DATETIME", "DATE",
)
#: Tags read for a scene's sensor when ``--sensor`` is not given.
SENSOR_TAGS = ("SENSOR", "SPACECRAFT_ID", "SPACECRAFT_NAME", "SATELLITE", "PLATFORM", "INSTRUMENT")


@dataclass
class Scene:
    """One registered scene.

    Attributes
    ----------
    sha256 : str
        The file's sha256: the scene's identity.
    path : str
        Where the file lives (absolute); kept in the private register only.
    name : str
        The file's name.
    date : str
        Acquisition date, ``YYYY-MM-DD``.
    date_from : str
        Where the date came from: ``--date`` or the tag read (``TIFFTAG_DATETIME``, ...).
    sensor, licence, source : str
        As given (the sensor read from the file's tags when not given).
    shareable : bool
        Registered with ``--shareable``: its pixels may go into shared products.
    footprint : list of [lon, lat]
        The scene's outline, a closed ring in EPSG:4326.
    resolution_m : float
        Ground size of a pixel (metres, EPSG:5179) at the scene's centre.
    crs : str
        The file's CRS (``EPSG:32652``, or its WKT).
    width, height, bands : int
    dtype : str
    nodata : float or None
    size : int
        Bytes, as registered.
    mtime_ns : int
        Modification time, as registered (a quick check; the sha256 decides).
    registered_at : str
    """

    sha256: str
    path: str
    name: str
    date: str
    date_from: str = ""
    sensor: str = ""
    licence: str = ""
    source: str = ""
    shareable: bool = False
    footprint: list = field(default_factory=list)
    resolution_m: float = 0.0
    crs: str = ""
    width: int = 0
    height: int = 0
    bands: int = 0
    dtype: str = ""
    nodata: float | None = None
    size: int = 0
    mtime_ns: int = 0
    registered_at: str = ""

    @property
    def short(self) -> str:
        """The first 12 hex digits of the sha256: how a scene is named in a message."""
        return self.sha256[:12]

    @property
    def day(self) -> date:
        """The acquisition date as a :class:`datetime.date`."""
        return date.fromisoformat(self.date)

    def public(self) -> dict:
        """What a shared product may say of a shareable scene: never its path.

        Raises
        ------
        InputError
            The scene is private.
        """
        if not self.shareable:
            raise InputError("a private scene never goes into a shared product")
        out = asdict(self)
        for key in ("path", "mtime_ns"):
            out.pop(key)
        return out


# --- where the register lives -----------------------------------------------------------------


def register_path(gpkg: Atlas | Path | str | None = None) -> Path:
    """The register of the atlas ``gpkg``: ``imagery-scenes.json`` in its private folder.

    ``output/atlas.gpkg`` keeps it in ``output-private/``; an atlas in a
    database keeps it in the private folder of ``output/`` (``$ATLAS_OUTPUT``).

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas (default ``output/atlas.gpkg``).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> register_path("/work/project/output/atlas.gpkg").as_posix()
    '/work/project/output-private/imagery-scenes.json'
    """
    if isinstance(gpkg, Atlas):
        gpkg = getattr(gpkg, "path", None)
    if gpkg is None or is_database_url(gpkg):
        return io.output_dir(private=True) / REGISTER_NAME
    return io.private_folder(Path(gpkg).absolute().parent) / REGISTER_NAME


def load_register(gpkg: Atlas | Path | str | None = None) -> list[Scene]:
    """Every registered scene, oldest first (then by sha256).

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional

    Returns
    -------
    list of Scene

    Raises
    ------
    SourceError
        The register is not one this atlas wrote (not JSON, another format).
    """
    path = register_path(gpkg)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        scenes = [Scene(**s) for s in data["scenes"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"{path}: not a register of scenes the atlas can read ({exc}); "
                          "move it aside and register the scenes again") from None
    return sorted(scenes, key=lambda s: (s.date, s.sha256))


def _save(path: Path, scenes: list[Scene]) -> None:
    data = {"format": "gulag-inc-atlas imagery register", "version": _VERSION,
            "note": "PRIVATE: the paths and names of your imagery. Never share this file.",
            "scenes": [asdict(s) for s in sorted(scenes, key=lambda s: (s.date, s.sha256))]}
    with io.atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def shareable_scenes(gpkg: Atlas | Path | str | None = None) -> list[Scene]:
    """The scenes a shared product may hold: those registered with ``--shareable``, and only them.

    The one door through which a shared product (map, dossier, site, export)
    reads the register: a private scene is not in the list, so nothing made
    from it can show its pixels, path, name or existence.

    Parameters
    ----------
    gpkg : Atlas, pathlib.Path or str, optional

    Returns
    -------
    list of Scene
    """
    from .userlayers import admits

    return [s for s in load_register(gpkg) if admits({"private": not s.shareable}, "scenes")]


# --- reading a file ---------------------------------------------------------------------------


def _parse_date(text: str, what: str) -> date:
    """A date from ``--date`` or a tag (``2014:10:05 10:12:00``, ``2014-10-05T...``, ``20141005``)."""
    t = str(text).strip()
    for fmt, n in (("%Y:%m:%d", 10), ("%Y-%m-%d", 10), ("%Y/%m/%d", 10), ("%Y%m%d", 8)):
        try:
            return datetime.strptime(t[:n], fmt).date()
        except ValueError:
            continue
    raise InputError(f"{what} {text!r} is not a date: give YYYY-MM-DD")


def _tag_date(tags: dict) -> tuple[date | None, str]:
    upper = {k.upper(): v for k, v in tags.items()}
    for key in DATE_TAGS:
        value = str(upper.get(key, "")).strip()
        if value:
            try:
                return _parse_date(value, key), key
            except InputError:
                continue
    return None, ""


def _tag_sensor(tags: dict) -> str:
    upper = {k.upper(): v for k, v in tags.items()}
    return next((str(upper[k]).strip() for k in SENSOR_TAGS if str(upper.get(k, "")).strip()), "")


def _footprint(src) -> list[list[float]]:
    """The scene's outline in lon/lat: its edges, 16 points each, transformed (a closed ring)."""
    from rasterio.warp import transform as warp_transform

    w, h, t = src.width, src.height, src.transform
    cols, rows = [], []
    for k in range(16):
        f = k / 16
        cols += [f * w, w, w - f * w, 0.0]
        rows += [0.0, f * h, h, h - f * h]
    order = [i for side in range(4) for i in range(side, len(cols), 4)]
    cols, rows = [cols[i] for i in order], [rows[i] for i in order]
    xs = [t.a * c + t.b * r + t.c for c, r in zip(cols, rows)]
    ys = [t.d * c + t.e * r + t.f for c, r in zip(cols, rows)]
    lon, lat = warp_transform(src.crs, "EPSG:4326", xs, ys)
    ring = [[round(x, 7), round(y, 7)] for x, y in zip(lon, lat) if math.isfinite(x) and math.isfinite(y)]
    if len(ring) < 3:
        raise InputError("the scene's outline cannot be placed on the earth (its CRS and geotransform "
                         "give no longitude and latitude)")
    return [*ring, ring[0]]


def _ground_resolution(src) -> float:
    """Ground size (m, EPSG:5179) of one pixel at the scene's centre: the smaller of its two sides."""
    from rasterio.warp import transform as warp_transform

    from .admin import PLANAR_CRS

    t = src.transform
    c, r = src.width / 2, src.height / 2
    pts = [(c, r), (c + 1, r), (c, r + 1)]
    xs = [t.a * a + t.b * b + t.c for a, b in pts]
    ys = [t.d * a + t.e * b + t.f for a, b in pts]
    px, py = warp_transform(src.crs, PLANAR_CRS, xs, ys)
    return min(math.hypot(px[1] - px[0], py[1] - py[0]), math.hypot(px[2] - px[0], py[2] - py[0]))


def open_scene_file(path: Path | str, refused: str = "not registered"):
    """Open an imagery file as the atlas reads every raster: admitted, its own driver, georeferenced.

    Parameters
    ----------
    path : pathlib.Path or str
    refused : str, default "not registered"
        What a refusal says happened (``atlas chips``: no chips written).

    Returns
    -------
    rasterio.io.DatasetReader
        Open: the caller closes it (a ``with`` block).

    Raises
    ------
    NotFoundError, InputError
        No file; not a GeoTIFF or JPEG 2000; not georeferenced; GCPs only.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    driver = admit_raster(path)  # never a VRT, never a /vsi path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path, driver=driver)
    except RasterioIOError as exc:
        raise InputError(f"{path}: cannot be read as {driver} ({exc})") from None
    problem = ""
    if src.crs is None:
        problem = "has no CRS: georeference it (e.g. gdal_edit.py -a_srs EPSG:32652)"
    elif src.transform.is_identity:
        problem = ("is georeferenced by GCPs only; warp it to a grid first (gdalwarp)" if src.gcps[0]
                   else "has a CRS but no geotransform (it is not georeferenced)")
    elif any(dt.startswith("complex") for dt in src.dtypes):
        problem = "holds complex numbers (radar phase?): the atlas compares real-valued imagery only"
    if problem:
        src.close()
        raise InputError(f"{path} {problem}; {refused}")
    return src


# --- the register's verbs ---------------------------------------------------------------------


def add_scene(path: Path | str, date_text: str | None = None, *, sensor: str = "", licence: str = "",
              source: str = "", shareable: bool = False,
              gpkg: Atlas | Path | str | None = None) -> tuple[Scene, str]:
    """Register an imagery file as a scene (or update its record: same sha256, same scene).

    Parameters
    ----------
    path : pathlib.Path or str
        A georeferenced GeoTIFF/COG or JPEG 2000 file, in any CRS.
    date_text : str, optional
        The acquisition date (``YYYY-MM-DD``); overrides the file's tags
        (:data:`DATE_TAGS`), required when it has none.
    sensor, licence, source : str, optional
        Said of the scene wherever it is shown; ``sensor`` defaults to the
        file's tags (:data:`SENSOR_TAGS`).
    shareable : bool, default False
        The licence allows sharing its pixels: the map and dossier may show it.
    gpkg : Atlas, pathlib.Path or str, optional
        The atlas whose private folder holds the register.

    Returns
    -------
    (Scene, str)
        The record, and what happened: ``"added"``, ``"updated"`` or ``"moved"``
        (the same file found at a new place).

    Raises
    ------
    NotFoundError, InputError
        No file, not an allowed raster, not georeferenced, no date.

    Examples
    --------
    >>> import atlas
    >>> scene, what = atlas.add_scene("scene_2014.tif", "2014-10-05", sensor="WorldView-2",
    ...                               licence="commercial, not shareable")  # doctest: +SKIP
    >>> scene.date, scene.shareable, what                                  # doctest: +SKIP
    ('2014-10-05', False, 'added')
    """
    from rasterio.errors import CRSError, RasterioError

    path = Path(path).absolute()
    try:
        scene = _read_scene(path, date_text, sensor, licence, source, shareable)
    except (CRSError, RasterioError) as exc:  # a CRS PROJ cannot use, a damaged file: said, not a traceback
        raise InputError(f"{path}: cannot be placed on the earth ({exc}); not registered") from None
    st = path.stat()
    scene.sha256 = io.file_sha256(path)
    scene.size, scene.mtime_ns = st.st_size, st.st_mtime_ns
    scene.registered_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    reg = register_path(gpkg)
    with io.writer_lock(reg):
        scenes = load_register(gpkg)
        old = next((s for s in scenes if s.sha256 == scene.sha256), None)
        what = "added" if old is None else ("moved" if old.path != scene.path else "updated")
        scenes = [s for s in scenes if s.sha256 != scene.sha256] + [scene]
        _new_private_folder(reg.parent)
        _save(reg, scenes)
    return scene, what


def _read_scene(path: Path, date_text, sensor, licence, source, shareable) -> Scene:
    """A scene's record from its file (all but its sha256, size and registration time)."""
    with open_scene_file(path) as src:
        tags = src.tags()
        if date_text:
            day, date_from = _parse_date(date_text, "--date"), "--date"
        else:
            day, date_from = _tag_date(tags)
            if day is None:
                raise InputError(f"{path.name} has no acquisition date in its tags "
                                 f"({', '.join(DATE_TAGS[:4])}, ...): give --date YYYY-MM-DD; not registered")
        epsg = src.crs.to_epsg()
        return Scene(
            sha256="", path=str(path), name=path.name, date=day.isoformat(), date_from=date_from,
            sensor=str(sensor or _tag_sensor(tags)), licence=str(licence or ""), source=str(source or ""),
            shareable=bool(shareable), footprint=_footprint(src), resolution_m=round(_ground_resolution(src), 4),
            crs=f"EPSG:{epsg}" if epsg else src.crs.to_wkt(), width=src.width, height=src.height,
            bands=src.count, dtype=src.dtypes[0], nodata=src.nodata,
        )


def _new_private_folder(folder: Path) -> None:
    if folder.is_dir():
        return
    folder.mkdir(parents=True)
    with io.atomic_path(folder / "README.txt") as tmp:
        tmp.write_text("This folder holds private data of the atlas (private layers, the register of your "
                       "imagery).\n\nNever send this folder or anything in it. Back it up with your other work.\n",
                       encoding="utf-8")


def scene_state(scene: Scene, full: bool = False) -> str:
    """Whether a registered scene is still the file registered.

    Parameters
    ----------
    scene : Scene
    full : bool, default False
        Read the whole file and compare its sha256 (else: its size and modification time).

    Returns
    -------
    str
        ``"ok"``, ``"missing"`` (moved or deleted) or ``"altered"`` (another size, time or sha256).
    """
    path = Path(scene.path)
    try:
        st = path.stat()
    except OSError:
        return "missing"
    if not path.is_file() or st.st_size != scene.size:
        return "altered"
    if full:
        return "ok" if io.file_sha256(path) == scene.sha256 else "altered"
    return "ok" if st.st_mtime_ns == scene.mtime_ns else "altered"


def verify(scene: Scene) -> Scene:
    """The scene, once its file is read again and its sha256 is the registered one.

    Parameters
    ----------
    scene : Scene

    Returns
    -------
    Scene

    Raises
    ------
    SourceError
        Nothing at its path (moved or deleted), or another sha256 (altered since registration).
    """
    state = scene_state(scene, full=True)
    if state == "missing":
        raise SourceError(f"scene {scene.short} ({scene.name}, {scene.date}) is no longer at {scene.path}: "
                          "moved or deleted; register it again where it is now (atlas imagery add NEWPATH)")
    if state == "altered":
        raise SourceError(f"scene {scene.short} ({scene.name}, {scene.date}) at {scene.path} was altered since "
                          "it was registered (its sha256 differs); not used. Register the file again if the "
                          "change is intended (it is then another scene)")
    return scene


def find_scene(ref: str, gpkg: Atlas | Path | str | None = None) -> Scene:
    """The registered scene a sha256 (or its first 8+ hex digits) names.

    Parameters
    ----------
    ref : str
    gpkg : Atlas, pathlib.Path or str, optional

    Returns
    -------
    Scene

    Raises
    ------
    NotFoundError
        No scene, or the prefix is shorter than 8 digits or names several.
    """
    ref = str(ref).strip().lower()
    hits = [s for s in load_register(gpkg) if len(ref) >= 8 and s.sha256.startswith(ref)]
    if len(hits) != 1:
        raise NotFoundError(f"no registered scene {ref!r}" if not hits else f"{ref!r} names {len(hits)} scenes")
    return hits[0]


def _contains(ring: list, lon: float, lat: float) -> bool:
    from shapely.geometry import Point, Polygon

    return len(ring) >= 4 and Polygon(ring).buffer(0).covers(Point(lon, lat))


def covering(lon: float, lat: float, scenes: list[Scene]) -> list[Scene]:
    """The scenes whose footprint covers a point (lon/lat), oldest first.

    Parameters
    ----------
    lon, lat : float
    scenes : list of Scene

    Returns
    -------
    list of Scene
    """
    return sorted((s for s in scenes if _contains(s.footprint, lon, lat)), key=lambda s: (s.date, s.sha256))


def cited_scenes(findings, gpkg: Atlas | Path | str | None = None, *, shared: bool = False) -> list[dict]:
    """The scenes findings rest on (their ``scene_sha256``), each with whether it is registered here.

    A finding names its scenes in a ``scene_sha256`` column: one sha256 or
    several separated by spaces, commas or semicolons. Each citation is
    looked up in the register of this machine; a registered scene's date is
    compared with the finding's dates (``date_start``..``date_end``, or
    ``observed_text`` when undated) and a difference is flagged.

    Parameters
    ----------
    findings : pandas.DataFrame
        Rows with ``finding_id`` and ``scene_sha256`` (others optional).
    gpkg : Atlas, pathlib.Path or str, optional
    shared : bool, default False
        For a shared product: only shareable scenes are looked up, a private
        one is shown as not registered (its existence is never revealed).

    Returns
    -------
    list of dict
        ``finding_id``, ``sha256``, ``registered`` (bool), ``date``, ``sensor``,
        ``licence``, ``name`` (empty for a shared product), ``mismatch`` (a
        sentence, or ``""``).
    """
    if findings is None or "scene_sha256" not in getattr(findings, "columns", ()):
        return []
    scenes = shareable_scenes(gpkg) if shared else load_register(gpkg)
    by_sha = {s.sha256: s for s in scenes}
    out = []
    for row in findings.to_dict("records"):
        cell = row.get("scene_sha256")
        if not isinstance(cell, str) or not cell.strip():
            continue
        for sha in cell.replace(",", " ").replace(";", " ").split():
            sha = sha.strip().lower()
            scene = by_sha.get(sha)
            item = {"finding_id": str(row.get("finding_id", "")), "sha256": sha, "registered": scene is not None,
                    "date": "", "sensor": "", "licence": "", "name": "", "mismatch": ""}
            if scene is not None:
                item.update(date=scene.date, sensor=scene.sensor, licence=scene.licence,
                            name="" if shared else scene.name, mismatch=_date_mismatch(row, scene))
            out.append(item)
    return out


def site_citations(site_id: str, atlas: Atlas, findings_layer: str = "camp_findings", *,
                   shared: bool = False) -> list[dict]:
    """The scenes the findings of one site cite: the atlas's findings and the user's findings layers.

    A user's findings layer is any user layer of ``atlas`` with a ``site_id``
    and a ``scene_sha256`` column (``atlas import findings.csv --as
    my_findings``); the atlas given decides which user layers are read (a
    shared product passes the atlas its gate gave it, private layers left out).

    Parameters
    ----------
    site_id : str
    atlas : Atlas
    findings_layer : str, default "camp_findings"
    shared : bool, default False
        As :func:`cited_scenes`: for a shared product, only shareable scenes are looked up.

    Returns
    -------
    list of dict
        As :func:`cited_scenes`, each with ``layer`` too.
    """
    out = []
    names = [findings_layer] + [r["layer"] for r in atlas.user_layer_records()]
    for name in dict.fromkeys(names):
        if not atlas.has(name) or not {"scene_sha256", "site_id"} <= _columns(atlas, name):
            continue
        df = atlas.layer(name)
        rows = df[df["site_id"].astype(str) == str(site_id)]
        if "finding_id" not in rows.columns:  # a user's layer: its own ids (user_id, id), else its row
            key = next((c for c in ("user_id", "id") if c in rows.columns), None)
            rows = rows.assign(finding_id=rows[key].astype(str) if key else [f"{name}:{i}" for i in rows.index])
        out += [{**c, "layer": name} for c in cited_scenes(rows, atlas, shared=shared)]
    return out


def _columns(atlas: Atlas, name: str) -> set[str]:
    """A layer's columns, without reading its rows from a GeoPackage (a user layer of a million points)."""
    try:
        return set(atlas.read(name, where="1=0").columns)
    except InputError:  # a store that reads whole layers only (PostGIS)
        return set(atlas.layer(name).columns)


def citations_text(cited: list[dict]) -> str:
    """The lines ``atlas status --explain`` prints under the findings (``""`` when none cite a scene).

    Examples
    --------
    >>> print(citations_text([{"finding_id": "F001", "sha256": "ab" * 32, "registered": False, "date": "",
    ...                        "sensor": "", "licence": "", "name": "", "mismatch": "", "layer": "camp_findings"}]))
    Scenes the findings rest on:
      F001  abababababab  not registered on this machine
    """
    if not cited:
        return ""
    lines = ["Scenes the findings rest on:"]
    for c in cited:
        if c["registered"]:
            what = f"{c['date']}  {c['sensor'] or '-'}  {c['licence'] or '-'}  {c['name']}".rstrip()
            if c["mismatch"]:
                what += f"  ** DATE MISMATCH: {c['mismatch']}"
        else:
            what = "not registered on this machine"
        lines.append(f"  {c['finding_id']}  {c['sha256'][:12]}  {what}")
    return "\n".join(lines)


def _day(value) -> date | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text or text in ("NaT", "nan", "None"):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _date_mismatch(row: dict, scene: Scene) -> str:
    """A sentence when the scene's date falls outside the finding's dates, else ``""``."""
    first, last = _day(row.get("date_start")), _day(row.get("date_end"))
    if first is None and last is None:
        from .dates import DateParseError, parse_date_text

        try:
            interval = parse_date_text(str(row.get("observed_text", "") or ""))
            first, last = interval.start, interval.end
        except (DateParseError, ValueError):  # an undated finding: nothing to compare
            return ""
    first, last = first or last, last or first
    if first is None:
        return ""
    if first <= scene.day <= last:
        return ""
    span = str(first) if first == last else f"{first}..{last}"
    return f"the scene is dated {scene.date}, the finding {span}"

