"""Offline assets for the interactive map: Leaflet inlined, images as data: URIs.

The map must open on a laptop with no network, so nothing in it may point to
a CDN. Leaflet comes from the PyPI package ``xstatic-leaflet`` (1.9.3, the
version folium 0.20 is written for): its script and stylesheet are read from
the installed package and inlined, the images its stylesheet refers to become
``data:`` URIs, and source-map comments are dropped (a browser with developer
tools open would otherwise try to fetch them). Nothing third-party is copied
into this repository.

The atlas's own scripts and stylesheet (``_points.js``, ``_webmap.js``, ``_webmap.css``)
live beside this module. :func:`png_rgba` encodes an RGBA array as PNG with the
standard library only, so raster overlays are byte-identical across builds.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from functools import cache
from pathlib import Path

import numpy as np

__all__ = [
    "atlas_css",
    "atlas_js",
    "data_uri",
    "leaflet_css",
    "leaflet_icon_js",
    "leaflet_js",
    "png_rgba",
    "script_safe",
]

_HERE = Path(__file__).resolve().parent
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}


def _leaflet_dir() -> Path:
    from xstatic.pkg import leaflet

    return Path(leaflet.BASE_DIR)


def _strip_source_maps(text: str) -> str:
    return re.sub(r"/[/*][#@] sourceMappingURL=[^\n*]*(\*/)?", "", text)


def data_uri(payload: bytes, mime: str) -> str:
    """A ``data:`` URI holding ``payload``.

    Parameters
    ----------
    payload : bytes
    mime : str
        Media type, e.g. ``"image/png"``.

    Returns
    -------
    str

    Examples
    --------
    >>> data_uri(b"GIF89a", "image/gif")
    'data:image/gif;base64,R0lGODlh'
    """
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


@cache
def leaflet_js() -> str:
    """Leaflet's minified script from ``xstatic-leaflet``, without source-map comments.

    Examples
    --------
    >>> "sourceMappingURL" in leaflet_js()
    False
    """
    return _strip_source_maps((_leaflet_dir() / "leaflet.js").read_text(encoding="utf-8"))


@cache
def leaflet_css() -> str:
    """Leaflet's stylesheet with every ``url(images/…)`` turned into a data: URI.

    Examples
    --------
    >>> "url(images/" in leaflet_css()
    False
    """
    root = _leaflet_dir()

    def inline(match: re.Match) -> str:
        rel = match.group(2)
        path = root / rel
        if rel.startswith(("#", "data:")) or not path.is_file():
            return match.group(0)
        return f'url("{data_uri(path.read_bytes(), _MIME[path.suffix])}")'

    css = (root / "leaflet.css").read_text(encoding="utf-8")
    return _strip_source_maps(re.sub(r"url\((['\"]?)([^)'\"]+)\1\)", inline, css))


@cache
def leaflet_icon_js() -> str:
    """Script pointing ``L.Icon.Default`` at data: URIs (its path detection fails once inlined).

    Examples
    --------
    >>> "L.Icon.Default.imagePath" in leaflet_icon_js()
    True
    """
    img = _leaflet_dir() / "images"
    urls = {key: data_uri((img / name).read_bytes(), "image/png") for key, name in (
        ("iconUrl", "marker-icon.png"), ("iconRetinaUrl", "marker-icon-2x.png"),
        ("shadowUrl", "marker-shadow.png"))}
    opts = ",".join(f'{k}:"{v}"' for k, v in urls.items())
    return f'L.Icon.Default.imagePath="";L.Icon.Default.mergeOptions({{{opts}}});'


@cache
def atlas_js() -> str:
    """The atlas map's own script: big point layers (``_points.js``), imagery pairs (``_swipe.js``), then the
    page (``_webmap.js``)."""
    return "\n".join((_HERE / name).read_text(encoding="utf-8") for name in ("_points.js", "_swipe.js", "_webmap.js"))


@cache
def atlas_css() -> str:
    """The atlas map's own stylesheet (and the swipe handle's, ``_swipe.css``)."""
    return "\n".join((_HERE / name).read_text(encoding="utf-8") for name in ("_webmap.css", "_swipe.css"))


def script_safe(text: str) -> str:
    """Make text (JSON or script) safe to place inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` become JavaScript escapes (so ``</script>`` and
    ``<!--`` cannot occur), as do the line separators U+2028 and U+2029.
    Apply it only to JSON, where every such character sits inside a string.

    Examples
    --------
    >>> script_safe('{"a": "</script><b>&"}')
    '{"a": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e\\\\u0026"}'
    """
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def png_rgba(rgba: np.ndarray) -> bytes:
    """Encode an ``(height, width, 4)`` uint8 array as a PNG (deterministic, no Pillow).

    Parameters
    ----------
    rgba : numpy.ndarray
        Red, green, blue and alpha per pixel.

    Returns
    -------
    bytes

    Examples
    --------
    >>> import numpy as np
    >>> png_rgba(np.zeros((2, 3, 4), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    arr = np.ascontiguousarray(rgba, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 4:
        raise ValueError(f"expected (height, width, 4), got {arr.shape}")
    height, width = arr.shape[:2]
    raw = np.concatenate([np.zeros((height, 1), np.uint8), arr.reshape(height, width * 4)], axis=1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9)) + chunk(b"IEND", b""))
