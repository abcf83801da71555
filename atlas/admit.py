"""May the atlas open this file? The one check before GDAL or SQLite reads a file it was given.

GDAL opens whatever a file's bytes let one of its drivers claim: a GDAL
virtual dataset (VRT) named ``atlas.gpkg`` or ``scene.tif`` reads other files
of the machine (``/etc/passwd``, a private key) and hands their lines or bytes
on as if they were the atlas's data. So every file the atlas is given to read,
an atlas GeoPackage (``--gpkg``, ``--source``, ``validate``) or a raster
(``chips``, the imagery register), is admitted here first, by its bytes, the
same way ``atlas import`` admits a user's file:

- a **GeoPackage** is an SQLite 3 file whose header carries the GeoPackage
  application id (``GPKG``, or ``GP10``/``GP11`` of GeoPackage 1.0/1.1);
- a **raster** is a TIFF (GeoTIFF, Cloud Optimized GeoTIFF, BigTIFF) or a JPEG
  2000 file, recognised by its signature and opened only by the GDAL driver of
  that format (:data:`RASTER_DRIVERS`): never a VRT, never a ``/vsi…`` path.

A file that fails is refused with one :class:`~atlas.errors.InputError`
(exit code 2) naming it and what it is not.
"""

from __future__ import annotations

import stat
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError, NotFoundError

__all__ = ["GPKG_APPLICATION_IDS", "RASTER_DRIVERS", "admit_gpkg", "admit_raster", "open_raster"]

#: The application ids (offset 68 of the SQLite header) of GeoPackage 1.2+ and of 1.0/1.1.
GPKG_APPLICATION_IDS = (b"GPKG", b"GP10", b"GP11")
#: The raster formats the atlas reads, by file signature, each with the only GDAL driver allowed.
RASTER_DRIVERS = {"GeoTIFF": "GTiff", "JPEG 2000": "JP2OpenJPEG"}
_RASTER_SIGNATURES = (
    (b"II*\x00", "GeoTIFF"), (b"MM\x00*", "GeoTIFF"), (b"II+\x00", "GeoTIFF"), (b"MM\x00+", "GeoTIFF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"), (b"\xffO\xffQ", "JPEG 2000"),
)


def _regular_file(path: Path | str, what: str) -> Path:
    text = str(path)
    if text.startswith("/vsi") or "://" in text:
        raise InputError(f"{text}: a {what} must be a local file, not a GDAL virtual path or URL; refused")
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotFoundError(f"no {what} at {path}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path} is not a regular file (a folder, device or pipe); refused")
    return path


def _head(path: Path, n: int) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(n)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None


def admit_gpkg(path: Path | str) -> Path:
    """The path, once its bytes show a GeoPackage; else refused.

    Parameters
    ----------
    path : pathlib.Path or str
        The file to read as an atlas GeoPackage.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    NotFoundError
        Nothing at ``path``.
    InputError
        Not a regular file, or not an SQLite file with the GeoPackage application id
        (a GDAL VRT, a CSV, a plain SQLite database ...).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> vrt = pathlib.Path(tempfile.mkdtemp()) / "atlas.gpkg"
    >>> _ = vrt.write_text("<OGRVRTDataSource><OGRVRTLayer name='camps'/></OGRVRTDataSource>")
    >>> try:
    ...     admit_gpkg(vrt)
    ... except InputError as exc:
    ...     print(str(exc).split(": ", 1)[1])
    not a GeoPackage (it is not an SQLite database); refused
    """
    path = _regular_file(path, "GeoPackage")
    head = _head(path, 100)
    if not head.startswith(b"SQLite format 3\x00"):
        raise InputError(f"{path}: not a GeoPackage (it is not an SQLite database); refused")
    if len(head) < 72 or head[68:72] not in GPKG_APPLICATION_IDS:
        raise InputError(f"{path}: not a GeoPackage (an SQLite database without the GeoPackage "
                         "application id); refused")
    return path


def admit_raster(path: Path | str) -> str:
    """The GDAL driver that may open the raster at ``path``; refused if it is no allowed format.

    Parameters
    ----------
    path : pathlib.Path or str

    Returns
    -------
    str
        ``"GTiff"`` or ``"JP2OpenJPEG"`` (:data:`RASTER_DRIVERS`).

    Raises
    ------
    NotFoundError, InputError

    Examples
    --------
    >>> import pathlib, tempfile
    >>> vrt = pathlib.Path(tempfile.mkdtemp()) / "scene.tif"
    >>> _ = vrt.write_text('<VRTDataset rasterXSize="1" rasterYSize="1"></VRTDataset>')
    >>> try:
    ...     admit_raster(vrt)
    ... except InputError as exc:
    ...     print(str(exc).split(": ", 1)[1])
    not a GeoTIFF or JPEG 2000 file (by its first bytes); refused
    """
    path = _regular_file(path, "raster")
    head = _head(path, 16)
    for signature, fmt in _RASTER_SIGNATURES:
        if head.startswith(signature):
            return RASTER_DRIVERS[fmt]
    raise InputError(f"{path}: not a GeoTIFF or JPEG 2000 file (by its first bytes); refused")


@contextmanager
def open_raster(path: Path | str):
    """Open an admitted raster with its format's own GDAL driver only (a ``rasterio`` dataset).

    Raises
    ------
    InputError
        Refused by :func:`admit_raster`, or its driver cannot read it.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    driver = admit_raster(path)
    try:
        src = rasterio.open(path, driver=driver)
    except RasterioIOError as exc:
        raise InputError(f"{path}: cannot be read as {driver} ({exc})") from None
    try:
        yield src
    finally:
        src.close()
