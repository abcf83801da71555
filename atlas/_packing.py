"""How a user layer's points travel inside the map page: packed columns the browser unpacks.

A layer of many points is written as a few compact parts instead of one JSON
object per point (``atlas/_points.js`` unpacks them and draws the points on one
canvas):

* **Coordinates**: longitude and latitude as whole micro-degrees (the six
  decimals the map keeps, about 0.1 m) counted from the layer's south-west
  corner, in unsigned 32-bit integers.
* **A column with one value on every row** (source file, its sha256, the
  import time): the value, once.
* **A column with few distinct values** (province, county, a category): each
  distinct value once, and per row a 1-, 2- or 4-byte code (dictionary
  encoding).
* **A column of numbers with at most six decimals** (ids, row numbers,
  scores): 32-bit integers (the value times a power of ten), written as
  differences from the previous row when that packs smaller.
* **Any other column**: a JSON array.

Integer arrays are byte-shuffled (every first byte, then every second byte,
...; little-endian) and every part is compressed with zlib's deflate, which
the browser inflates with its built-in ``DecompressionStream``; the result is
base64 text, so nothing from the data is ever HTML or script: attribute text
reaches the page only through ``textContent``.
"""

from __future__ import annotations

import base64
import json
import zlib

import numpy as np
import pandas as pd

__all__ = ["json_values", "pack_columns", "pack_points", "section", "unpack_section"]

_MICRO = 1_000_000
_INT32 = 2**31 - 1
_LEVEL = 6


def _z(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw, _LEVEL)).decode("ascii")


def _shuffle(arr: np.ndarray) -> bytes:
    """Bytes of a little-endian integer array, grouped by byte position."""
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return np.ascontiguousarray(le.view(np.uint8).reshape(-1, arr.dtype.itemsize).T).tobytes()


def _typed(arr: np.ndarray, kind: str, *, try_delta: bool = False) -> dict:
    """A section holding an integer array; as differences when that compresses smaller."""
    arr = np.ascontiguousarray(arr)
    width = arr.dtype.itemsize
    shuffle = width > 1
    plain = {"t": kind, "z": _z(_shuffle(arr) if shuffle else arr.tobytes()), "shuffle": int(shuffle),
             "delta": 0}
    if not try_delta or len(arr) < 2:
        return plain
    with np.errstate(over="ignore"):
        diff = np.diff(arr, prepend=arr.dtype.type(0)).astype(arr.dtype)  # wraps like the JS decoder
    delta = {"t": kind, "z": _z(_shuffle(diff) if shuffle else diff.tobytes()), "shuffle": int(shuffle),
             "delta": 1}
    return delta if len(delta["z"]) < len(plain["z"]) else plain


def section(values) -> dict:
    """A JSON section: ``values`` (a list of JSON values) as deflated UTF-8 in base64.

    Examples
    --------
    >>> unpack_section(section(["a", None, 3]))
    ['a', None, 3]
    """
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return {"t": "json", "z": _z(text.encode("utf-8"))}


def unpack_section(sec: dict):
    """Decode a section in Python, as the browser does (for tests and checks).

    Examples
    --------
    >>> unpack_section(_typed(np.array([5, 6, 7, 9], np.int32), "i32", try_delta=True)).tolist()
    [5, 6, 7, 9]
    """
    raw = zlib.decompress(base64.b64decode(sec["z"]))
    if sec["t"] == "json":
        return json.loads(raw.decode("utf-8"))
    dtype = np.dtype({"u8": "<u1", "u16": "<u2", "u32": "<u4", "i32": "<i4"}[sec["t"]])
    if sec.get("shuffle"):
        raw = np.frombuffer(raw, np.uint8).reshape(dtype.itemsize, -1).T.tobytes()
    arr = np.frombuffer(raw, dtype).copy()
    if sec.get("delta"):
        with np.errstate(over="ignore"):
            arr = np.cumsum(arr, dtype=dtype)
    return arr


def _codes(index: np.ndarray, distinct: int) -> dict:
    for kind, dtype, top in (("u8", np.uint8, 2**8), ("u16", np.uint16, 2**16), ("u32", np.uint32, 2**32)):
        if distinct <= top:
            return _typed(index.astype(dtype), kind)
    raise ValueError("too many distinct values")


def _decimals(values: list) -> int | None:
    """The fewest decimals (0..6) that write every value exactly as an int32, or None."""
    if not values or not all(type(v) in (int, float) for v in values):
        return None
    arr = np.asarray(values, dtype=np.float64)
    if not np.isfinite(arr).all() or np.abs(arr).max() > _INT32:
        return None
    for k in range(7):
        scaled = np.round(arr * 10**k)
        if np.abs(scaled).max() > _INT32:
            return None
        if np.array_equal(scaled / 10**k, arr):
            return k
    return None


def _column(name: str, values: list) -> dict:
    """One attribute column in its smallest fitting encoding (dict, int or json)."""
    n = len(values)
    if len(set(map(type, values)) - {type(None)}) <= 1:  # one type: factorize (order of first use)
        index, uniques = pd.factorize(np.array(values, dtype=object), use_na_sentinel=False)
        distinct = list(uniques)
    else:  # (type, value) keys: 1, 1.0, True and "1" stay apart
        order: dict[tuple, int] = {}
        index = np.fromiter((order.setdefault((type(v), v), len(order)) for v in values), dtype=np.int64,
                            count=n)
        distinct = [v for _, v in order]
    if len(distinct) * 2 <= n:
        return {"name": name, "enc": "dict", "values": section(distinct), "codes": _codes(index, len(distinct))}
    k = _decimals(values)
    if k is not None:
        ints = np.round(np.asarray(values, dtype=np.float64) * 10**k).astype(np.int32)
        return {"name": name, "enc": "int", "decimals": k, "data": _typed(ints, "i32", try_delta=True)}
    return {"name": name, "enc": "json", "data": section(values)}


def json_values(values) -> list:
    """A column's values as JSON values: None for missing, Python bool, int, float or str.

    Examples
    --------
    >>> json_values(pd.Series([1.5, np.nan, 3.0]))
    [1.5, None, 3.0]
    >>> json_values(pd.Series(["a", None, 7, True], dtype=object))
    ['a', None, 7, True]
    >>> json_values(pd.to_datetime(pd.Series(["2020-01-02", None])))
    ['2020-01-02 00:00:00', None]
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "mM":  # dates and durations as text
        return [None if pd.isna(v) else str(v) for v in pd.Series(arr).astype(object)]
    if arr.dtype.kind in "biu":
        return arr.tolist()
    if arr.dtype.kind == "f":
        out = arr.tolist()
        bad = np.flatnonzero(~np.isfinite(arr))
        for i in bad:
            out[i] = None
        return out
    out = []
    missing = pd.isna(pd.Series(arr, dtype=object)).to_numpy()
    for v, na in zip(arr.tolist(), missing):
        if na:
            out.append(None)
        elif isinstance(v, bool | np.bool_):
            out.append(bool(v))
        elif isinstance(v, int | np.integer):
            out.append(int(v))
        elif isinstance(v, float | np.floating):
            out.append(float(v) if np.isfinite(v) else None)
        elif isinstance(v, str):
            out.append(v)
        else:
            out.append(str(v))
    return out


def pack_columns(columns: dict[str, list]) -> tuple[list[dict], list[list]]:
    """Columns of JSON values packed: (packed columns, [name, value] of the constant ones).

    Parameters
    ----------
    columns : dict of str to list
        Column name to its values (``None``, bool, int, float or str), every list
        of the same length.

    Returns
    -------
    tuple of (list of dict, list of [str, value])

    Examples
    --------
    >>> cols, consts = pack_columns({"province": ["A", "B", "A", "A"], "file": ["f.csv"] * 4,
    ...                              "score": [1.5, 2.25, 3.0, 4.125]})
    >>> [(c["name"], c["enc"]) for c in cols], consts
    ([('province', 'dict'), ('score', 'int')], [['file', 'f.csv']])
    """
    packed, consts = [], []
    for name, values in columns.items():
        if len(values) > 1 and all(v == values[0] and type(v) is type(values[0]) for v in values):
            consts.append([name, values[0]])
        else:
            packed.append(_column(name, values))
    return packed, consts


def pack_points(lon: np.ndarray, lat: np.ndarray) -> dict:
    """Longitudes and latitudes (degrees) as micro-degree offsets from the south-west corner.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Coordinates in degrees (WGS84); rounded to six decimals.

    Returns
    -------
    dict
        ``x0``, ``y0`` (the corner in micro-degrees) and the sections ``x``, ``y``.

    Examples
    --------
    >>> p = pack_points(np.array([126.055466, 129.5]), np.array([39.571086, 41.0]))
    >>> p["x0"], (p["x0"] + unpack_section(p["x"])).tolist()
    (126055466, [126055466, 129500000])
    """
    qx = np.round(np.asarray(lon, dtype=np.float64) * _MICRO).astype(np.int64)
    qy = np.round(np.asarray(lat, dtype=np.float64) * _MICRO).astype(np.int64)
    x0 = int(qx.min()) if len(qx) else 0
    y0 = int(qy.min()) if len(qy) else 0
    return {"x0": x0, "y0": y0,
            "x": _typed((qx - x0).astype(np.uint32), "u32", try_delta=True),
            "y": _typed((qy - y0).astype(np.uint32), "u32", try_delta=True)}
