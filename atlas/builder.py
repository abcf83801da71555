"""``atlas build``: sources → validated layers → ``output/atlas.gpkg``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from . import io, schema, search, sources
from .errors import AtlasError, InputError, ValidationError
from .layers import build_layers
from .provenance import atlas_version, release_id
from .store import RELEASE, USER_PREFIX, Atlas, open_atlas, open_store
from .userlayers import copy_records, migrate

__all__ = ["PRODUCTS", "build", "build_products", "layer_summary", "validate"]


def _density_product(gpkg: Path, say: Callable[[str], None]) -> list[Path]:
    """mine_density.tif (+ .qml) and province_mine_density.gpkg beside the GeoPackage."""
    from .densities import density, province_density

    say("writing the mine density surface and mines per province area")
    tif = density(gpkg=gpkg, out=gpkg.parent / "mine_density.tif")
    prov = gpkg.parent / "province_mine_density.gpkg"
    province_density(gpkg=gpkg, out=prov)
    return [tif, tif.with_suffix(".qml"), prov]


def _map_product(gpkg: Path, say: Callable[[str], None]) -> list[Path]:
    """atlas.html beside the GeoPackage (+ map.png when Chromium is installed)."""
    from . import _browser
    from .webmap import write_map

    html_path = write_map(gpkg.parent / "atlas.html", gpkg=gpkg, progress=say)
    if not _browser.available():
        say("map: no Chromium/playwright installed, so no screenshot")
        return [html_path]
    png = gpkg.parent / "map.png"
    try:
        _browser.screenshot(html_path, png)
    except Exception as exc:  # a screenshot is a convenience: never fail the build for it
        say(f"map: screenshot failed ({exc.__class__.__name__}: {exc})")
        return [html_path]
    return [html_path, png]


def _qgis_product(gpkg: Path, say: Callable[[str], None]) -> list[Path]:
    """qgis/atlas.gpkg and qgis/atlas.qgz beside the GeoPackage."""
    from .qgis import export_qgis

    project = export_qgis(gpkg.parent / "qgis", gpkg, progress=say)
    return [project.parent / "atlas.gpkg", project]


#: The products :func:`build` writes beside the GeoPackage, in the order they run: rasters
#: first, so that the map and the QGIS export include them. Each is ``(gpkg, progress) -> paths``.
PRODUCTS: dict[str, Callable[[Path, Callable[[str], None]], list[Path]]] = {
    "density": _density_product,
    "map": _map_product,
    "qgis": _qgis_product,
}


def _product_names(products: Iterable[str]) -> set[str]:
    wanted = {products} if isinstance(products, str) else set(products)
    unknown = wanted - set(PRODUCTS)
    if unknown:
        raise InputError(f"unknown product(s) {', '.join(sorted(unknown))}: choose from "
                         + ", ".join(PRODUCTS))
    return wanted


def build_products(gpkg: Path | None = None, products: Iterable[str] = tuple(PRODUCTS),
                   progress: Callable[[str], None] | None = None) -> list[Path]:
    """Write the products of an atlas GeoPackage beside it (density, map, QGIS export).

    Parameters
    ----------
    gpkg : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.
    products : iterable of str
        Names from :data:`PRODUCTS` (run in that order whatever the order given).
    progress : callable, optional
        Called with a short message per step.

    Returns
    -------
    list of pathlib.Path
        Every file written.

    Raises
    ------
    InputError
        An unknown product name.
    """
    say = progress or (lambda _msg: None)
    wanted = _product_names(products)
    gpkg = Path(gpkg or io.default_gpkg())
    written: list[Path] = []
    for name, make in PRODUCTS.items():
        if name in wanted:
            written += make(gpkg, say)
    return written


def build(
    out: Path | None = None,
    progress: Callable[[str], None] | None = None,
    products: Iterable[str] = tuple(PRODUCTS),
) -> Path:
    """Build the atlas GeoPackage from the curated geodata, then its products.

    Verifies every source file's sha256, builds the layers, validates them,
    writes them to a temporary GeoPackage, validates that file as read back,
    and only then replaces ``out``. Any failure leaves an earlier ``out``
    untouched. The user layers of an earlier ``out`` are kept, with their
    records; they are read under the GeoPackage's writer lock, so an import
    running meanwhile is either waited for and kept, or waits for the build.
    Private layers are not in ``out`` (they live in its private store, which a
    build leaves alone): with no public user layer, a build writes the same
    bytes every time, the file that products cite. An ``out`` laid out the old
    way has its private layers moved out first (:func:`atlas.userlayers.migrate`).
    Then writes the products beside it (:func:`build_products`): the density
    surface, the map and the QGIS export, as ``atlas build`` does.

    Parameters
    ----------
    out : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.
    progress : callable, optional
        Called with a short message per step (and ``wrote <path>`` per file).
    products : iterable of str, default all of :data:`PRODUCTS`
        The products to write; ``()`` builds the GeoPackage only.

    Returns
    -------
    pathlib.Path
        The GeoPackage written.

    Raises
    ------
    SourceError
        A source file is missing or its sha256 differs from the manifest.
    ValidationError
        The layers break their schema (every problem is listed).

    Examples
    --------
    >>> import atlas, tempfile, pathlib
    >>> path = atlas.build(pathlib.Path(tempfile.mkdtemp()) / "atlas.gpkg", products=["density"])
    >>> sorted(p.name for p in path.parent.iterdir())  # and the record of what the atlas wrote there
    ['.written-by-atlas.json', 'atlas.gpkg', 'mine_density.qml', 'mine_density.tif', 'province_mine_density.gpkg']
    """
    say = progress or (lambda _msg: None)
    products = _product_names(products)
    out = Path(out or io.default_gpkg())
    say("verifying source hashes against geodata/manifest.csv")
    sources.verify()
    epoch = build_epoch()
    say("building layers and joining provinces/counties")
    layers = build_layers(as_of=datetime.fromtimestamp(epoch, timezone.utc).date())  # the build date
    say("validating layers")
    schema.validate_layers(layers)
    descriptions = {n: s.description for n, s in schema.SCHEMAS.items()}
    migrate(out, say)  # private layers of the layout before private stores: moved out, once
    with io.writer_lock(out, say), io.fixed_timestamp(epoch):
        # no import may land between reading its layer and the replace
        kept = _user_layers(out)
        if kept:
            say(f"keeping {len(kept)} user layer(s) from the previous build: {', '.join(kept)}")

        def carry_keys_and_validate(tmp: Path) -> None:
            if kept:
                old = open_store(out).public()
                for layer in kept:  # copied a chunk at a time: a million points never in memory at once
                    say(f"writing {layer} ({io.copy_layer_chunks(old, layer, tmp, say):,} rows)")
            search.copy_name_keys(out, tmp, kept)  # the user layers' name keys (atlas.search)
            copy_records(out, tmp, kept)  # and their records (atlas.userlayers)
            missing = set(kept) - set(search.keyed_layers(tmp, list(kept)))
            for layer in sorted(missing):  # imported before names were keyed: key them now
                say(f"keying the names of {layer} for atlas find")
                search.write_name_keys(tmp, layer, say)
            write_release(tmp, release)
            validate(tmp)

        release = _release(layers["sources"], epoch)
        say(f"release {release['release']}")
        io.write_layers(layers, out, descriptions, before_replace=carry_keys_and_validate, progress=say)
    say(f"wrote {out}")
    with io.fixed_timestamp(epoch):  # the products' dates too: a rebuild gives the same bytes
        for path in build_products(out, products, say):
            say(f"wrote {path}")
    return out


def _release(sources_table: pd.DataFrame, epoch: int) -> dict:
    """What the build stamps as its release: the id (version and data), the version, the build date."""
    version = atlas_version()
    rid, digest = release_id(version, sources_table)
    day = datetime.fromtimestamp(epoch, tz=timezone.utc).date().isoformat()
    return {"release": rid, "atlas_version": version, "build_date": day, "data_sha256": digest}


def write_release(path: Path, release: dict) -> None:
    """Stamp a GeoPackage with its release (the table :data:`atlas.store.RELEASE`, read by
    :attr:`atlas.store.Atlas.release`)."""
    con = sqlite3.connect(str(path))
    try:
        with con:
            con.execute(f"DROP TABLE IF EXISTS {RELEASE}")
            con.execute(f"CREATE TABLE {RELEASE} (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
            con.executemany(f"INSERT INTO {RELEASE} (key, value) VALUES (?, ?)", sorted(release.items()))
    finally:
        con.close()


def build_epoch() -> int:
    """The time a build writes in its outputs, so that rebuilding is byte-identical.

    ``$SOURCE_DATE_EPOCH`` when set (the reproducible-builds convention), else the
    source date stamped into an installed package when it was built
    (``atlas/SOURCE_DATE_EPOCH``, written by ``setup.py``), else the time of the
    repository's last commit, else the modification time of
    ``geodata/manifest.csv``: never the clock, so the same sources and code give
    the same bytes (``gpkg_contents.last_change``, the density GeoTIFF's tags, the
    QGIS export's style dates).

    Returns
    -------
    int
        Seconds since 1970-01-01 UTC.

    Examples
    --------
    >>> build_epoch() == build_epoch()
    True
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    stamped = Path(__file__).with_name("SOURCE_DATE_EPOCH")  # in a wheel: the source's date
    if not epoch.isdigit() and stamped.is_file():
        epoch = stamped.read_text(encoding="ascii").strip()
    if not epoch.isdigit():
        try:
            epoch = subprocess.run(
                ["git", "log", "-1", "--format=%ct"], cwd=sources.REPO_DIR, capture_output=True,
                text=True, timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            epoch = ""
    if not epoch.isdigit():
        epoch = str(int((sources.geodata_dir() / "manifest.csv").stat().st_mtime))
    return int(epoch)




def _user_layers(path: Path) -> list[str]:
    """User layers (``user_*``) of an existing GeoPackage, so a rebuild never loses them."""
    if not path.is_file():
        return {}
    try:
        atlas = open_store(path).public()  # never a private layer (those of the old layout were moved)
    except AtlasError:
        return {}
    return [n for n in atlas.layers() if n.startswith(USER_PREFIX)]


def validate(path: Atlas | Path | str | None = None) -> None:
    """Check a GeoPackage against the atlas layer schemas.

    Parameters
    ----------
    path : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.

    Raises
    ------
    ValidationError
        Listing every problem with its layer, feature id and field.

    Examples
    --------
    >>> import atlas
    >>> atlas.validate()  # silent when the atlas is sound
    """
    a = open_atlas(path)
    names = list(a.layers())
    layers = {n: a.read(n) for n in names if not n.startswith(USER_PREFIX)}
    problems = schema.check_layers(layers)
    outline = layers.get("dprk_outline")
    outline = outline.to_crs("EPSG:5179").union_all() if hasattr(outline, "crs") else None
    for name in (n for n in names if n.startswith(USER_PREFIX)):  # a chunk at a time: memory bounded
        problems += io.check_layer_chunks(a, name, outline)
    if problems:
        raise ValidationError(problems)


def layer_summary(path: Atlas | Path | str | None = None) -> list[dict]:
    """One row per layer: name, feature count, geometry type, sources.

    Parameters
    ----------
    path : pathlib.Path, optional
        Defaults to ``output/atlas.gpkg``.

    Returns
    -------
    list of dict
        Keys ``layer``, ``features``, ``with_geometry``, ``geometry``, ``sources``.

    Examples
    --------
    >>> import atlas
    >>> {r["layer"]: r["with_geometry"] for r in atlas.layer_summary()}["camps"]
    26
    """
    rows = []
    a = open_atlas(path)
    for name, gtype in a.layers().items():
        if name.startswith(USER_PREFIX):  # counted by the store (SQL in a GeoPackage): never read whole
            n, with_geom, values = a.tally(name, "source")
            counts = pd.Series(values, dtype="int64")
            counts = counts.groupby(counts.index.str.split(r" \(|;", regex=True).str[0]).sum() \
                .sort_values(ascending=False, kind="stable")
            sources = "; ".join(f"{k} ({v})" for k, v in counts.head(3).items()) + (
                f"; +{len(counts) - 3} more" if len(counts) > 3 else "")
            rows.append({"layer": name, "features": n, "with_geometry": with_geom,
                         "geometry": (gtype if with_geom else "none") if gtype else "table", "sources": sources})
            continue
        df = a.read(name)
        geom = getattr(df, "geometry", None) if hasattr(df, "crs") else None
        with_geom = int((~(geom.isna() | geom.is_empty)).sum()) if geom is not None else 0
        gtype = None if geom is None else (geom.geom_type.dropna().iloc[0] if with_geom else "none")
        rows.append({"layer": name, "features": len(df), "with_geometry": with_geom,
                     "geometry": gtype or "table", "sources": schema.layer_source_summary(name, df)})
    return rows
