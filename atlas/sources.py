"""The registry of source files in ``geodata/`` and their provenance.

``geodata/manifest.csv`` lists every file the atlas reads, with its origin,
licence, attribution line and sha256. :func:`verify` recomputes the hashes;
:func:`read_csv` and :func:`read_geojson` read a registered file only after
its hash matched, so a build can never run on a silently altered source.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .errors import SourceError
from .io import file_sha256

__all__ = ["Source", "geodata_dir", "manifest", "project_file", "read_csv", "read_geojson", "verify"]

REPO_DIR = Path(__file__).resolve().parents[1]
#: Where an installed wheel carries the curated data (``geodata/`` of the repository).
PACKAGED_GEODATA = Path(__file__).resolve().parent / "geodata"


def project_file(name: str) -> Path | None:
    """A file of the project's top folder (``CITATION.cff``, ``CHANGELOG.md``): the copy the build put
    in the installed package (``setup.py``), else the checkout's own; None when neither exists.

    Examples
    --------
    >>> project_file("CITATION.cff").name
    'CITATION.cff'
    """
    for path in (PACKAGED_GEODATA.parent / name, REPO_DIR / name):
        if path.is_file():
            return path
    return None


def geodata_dir() -> Path:
    """Return the folder holding the curated source data.

    Returns
    -------
    pathlib.Path
        ``$ATLAS_GEODATA`` if set; else the data installed with the package
        (``atlas/geodata/`` of a wheel); else ``geodata/`` of the source
        checkout (an editable install).
    """
    env = os.environ.get("ATLAS_GEODATA")
    if env:
        return Path(env)
    if (PACKAGED_GEODATA / "manifest.csv").is_file():
        return PACKAGED_GEODATA
    return REPO_DIR / "geodata"


@dataclass(frozen=True)
class Source:
    """One registered source file (a row of ``geodata/manifest.csv``)."""

    path: str
    description: str
    origin: str
    licence: str
    attribution: str
    sha256: str


def manifest(root: Path | None = None) -> dict[str, Source]:
    """Read the provenance manifest.

    Parameters
    ----------
    root : pathlib.Path, optional
        The geodata folder; defaults to :func:`geodata_dir`.

    Returns
    -------
    dict of str to Source
        Keyed by the file's path relative to the geodata folder.

    Examples
    --------
    >>> import atlas.sources
    >>> m = atlas.sources.manifest()
    >>> m["report/table_2_mines_by_region.csv"].licence.startswith("facts")
    True
    """
    root = Path(root or geodata_dir())
    path = root / "manifest.csv"
    if not path.is_file():
        raise SourceError(f"no provenance manifest at {path}")
    with path.open(encoding="utf-8", newline="") as f:
        return {row["path"]: Source(**row) for row in csv.DictReader(f)}


def verify(root: Path | None = None) -> dict[str, Source]:
    """Check every registered file against its recorded sha256.

    Parameters
    ----------
    root : pathlib.Path, optional
        The geodata folder; defaults to :func:`geodata_dir`.

    Returns
    -------
    dict of str to Source
        The manifest, once every hash matched.

    Raises
    ------
    SourceError
        Listing every file that is missing or whose hash differs.

    Examples
    --------
    >>> import atlas.sources
    >>> len(atlas.sources.verify()) >= 20
    True
    """
    root = Path(root or geodata_dir())
    sources = manifest(root)
    problems = []
    for rel, src in sources.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif (actual := file_sha256(path)) != src.sha256:
            problems.append(f"{rel}: sha256 {actual[:12]}… differs from manifest {src.sha256[:12]}…")
    if problems:
        raise SourceError(
            "source files do not match geodata/manifest.csv:\n  - " + "\n  - ".join(problems)
        )
    return sources


def _registered(rel: str, root: Path | None) -> Path:
    root = Path(root or geodata_dir())
    if rel not in manifest(root):
        raise SourceError(f"{rel} is not registered in geodata/manifest.csv")
    return root / rel


def read_csv(rel: str, root: Path | None = None) -> pd.DataFrame:
    """Read a registered CSV with every column as text (codes keep leading zeros).

    Parameters
    ----------
    rel : str
        Path relative to the geodata folder, e.g. ``"camps/camps.csv"``.
    root : pathlib.Path, optional
        The geodata folder.

    Returns
    -------
    pandas.DataFrame
        Empty cells are empty strings, never NaN.
    """
    return pd.read_csv(
        _registered(rel, root), dtype=str, keep_default_na=False, encoding="utf-8"
    )


def read_geojson(rel: str, root: Path | None = None) -> gpd.GeoDataFrame:
    """Read a registered GeoJSON file (EPSG:4326).

    Parameters
    ----------
    rel : str
        Path relative to the geodata folder.
    root : pathlib.Path, optional
        The geodata folder.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    return gpd.read_file(_registered(rel, root))
