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
  encoding); columns that a dictionary column determines (county -> its
  Hangul name, its id, its province) share its codes.
* **A column of numbers with at most six decimals** (ids, row numbers,
  scores; also numbers a CSV gave as text, when the browser writes them back
  identically): 32-bit integers (the value times a power of ten), written as
  differences from the previous row when that packs smaller.
* **A column repeating the point's coordinate** (a CSV's ``lat``, ``lon``): a
  reference to the coordinates.
* **Texts of one prefix and a number** (``U000123``, ``Placemark 17``): the
  prefix once, the numbers as integers.
* **Any other column**: a JSON array.

Where two encodings fit, the smaller one is written.

Integer arrays are byte-shuffled (every first byte, then every second byte,
...; little-endian) and every part is compressed with zlib's deflate, which
the browser inflates with its built-in ``DecompressionStream``; the result is
base64 text, so nothing from the data is ever HTML or script: attribute text
reaches the page only through ``textContent``.
"""

from __future__ import annotations

import base64
import json
import re
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


def _size(obj) -> int:
    """Characters of base64 in a packed column."""
    if isinstance(obj, dict):
        return len(obj.get("z", "")) + sum(_size(v) for v in obj.values() if isinstance(v, dict))
    return 0


def _factorize(values: list) -> tuple[np.ndarray, list]:
    """Codes (order of first use) and distinct values; 1, 1.0, True and "1" stay apart."""
    if len(set(map(type, values)) - {type(None)}) <= 1:
        index, uniques = pd.factorize(np.array(values, dtype=object), use_na_sentinel=False)
        return index, [None if pd.isna(u) else u for u in uniques]  # factorize turns None into NaN
    order: dict[tuple, int] = {}
    index = np.fromiter((order.setdefault((type(v), v), len(order)) for v in values), dtype=np.int64,
                        count=len(values))
    return index, [v for _, v in order]


def _js_text(v: float) -> str | None:
    """How JavaScript's String() writes a number of the int32 range (None: in exponent form)."""
    if v.is_integer():
        return str(int(v))  # String(12.0) is "12"; String(-0) is "0"
    text = repr(v)  # both give the shortest text that reads back as the same double
    return None if "e" in text else text


def _numbers(values: list) -> tuple[np.ndarray, bool] | None:
    """Values as float64 and whether they were texts; texts only if String() writes them back exactly."""
    types = set(map(type, values))
    if types <= {int, float}:
        arr = np.asarray(values, dtype=np.float64)
        return (arr, False) if len(arr) and np.isfinite(arr).all() else None
    if types != {str}:
        return None
    try:
        arr = np.asarray(values, dtype=np.float64)
    except ValueError:
        return None
    if not np.isfinite(arr).all() or np.abs(arr).max() > _INT32:
        return None
    if any(_js_text(v) != t for v, t in zip(arr.tolist(), values)):
        return None
    return arr, True


def _decimals(arr: np.ndarray) -> int | None:
    """The fewest decimals (0..6) that write every value exactly as an int32, or None."""
    if not len(arr) or np.abs(arr).max() > _INT32:
        return None
    for k in range(7):
        scaled = np.round(arr * 10**k)
        if np.abs(scaled).max() > _INT32:
            return None
        if np.array_equal(scaled / 10**k, arr):
            return k
    return None


_NUMBERED = re.compile(r"(\d+)$")


def _numbered(name: str, values: list) -> dict | None:
    """Texts made of one prefix and a number ("U000123", "Placemark 17"): the prefix once, the numbers."""
    if set(map(type, values)) != {str}:
        return None
    first = _NUMBERED.search(values[0])
    if first is None:
        return None
    prefix, cut, digits = values[0][:first.start()], first.start(), []
    for v in values:  # stops at the first text that does not fit
        m = _NUMBERED.search(v, cut)
        if m is None or m.start() != cut or not v.startswith(prefix):
            return None
        digits.append(m.group(1))
    widths = set(map(len, digits))
    if len(widths) == 1:
        width = widths.pop()  # zero-padded to one width (or all of one width)
    elif all(d == "0" or not d.startswith("0") for d in digits):
        width = 0
    else:
        return None
    if max(map(len, digits)) > 9:
        return None
    ints = np.array([int(d) for d in digits], dtype=np.int32)
    return {"names": [name], "enc": "numbered", "prefix": prefix, "width": width,
            "data": _typed(ints, "i32", try_delta=True)}


def _column(name: str, values: list, coords: dict[str, np.ndarray]) -> tuple[dict, tuple | None]:
    """One column in its smallest fitting encoding; and (codes, distinct) when dictionary-encoded."""
    numbers = _numbers(values)
    if numbers is not None:
        arr, text = numbers
        for axis, coord in coords.items():  # the point's own coordinate, as a number or as text
            if len(coord) == len(arr) and np.array_equal(arr, coord):
                return {"names": [name], "enc": "coord", "axis": axis, "text": int(text)}, None
    candidates = []
    index, distinct = _factorize(values)
    if len(distinct) * 2 <= len(values):  # a value repeated: written once, a code per row
        candidates.append(({"names": [name], "enc": "dict", "values": section([distinct]),
                            "codes": _codes(index, len(distinct))}, (index, distinct)))
    else:
        numbered = _numbered(name, values)
        if numbered is not None:
            return numbered, None
    k = _decimals(numbers[0]) if numbers is not None else None
    if k is not None:
        ints = np.round(numbers[0] * 10**k).astype(np.int32)
        candidates.append(({"names": [name], "enc": "int", "decimals": k, "text": int(numbers[1]),
                            "data": _typed(ints, "i32", try_delta=True)}, None))
    if not candidates:
        candidates.append(({"names": [name], "enc": "json", "data": section(values)}, None))
    return min(candidates, key=lambda c: _size(c[0]))


def _group_dicts(dicts: list[tuple[str, np.ndarray, list]]) -> list[dict]:
    """Dictionary columns a column determines (county -> county_ko, province) share its codes."""
    groups: list[tuple[list[str], np.ndarray, list[list]]] = []
    for name, index, distinct in sorted(dicts, key=lambda d: -len(d[2])):
        for names, codes, values in groups:
            joint = pd.factorize(codes.astype(np.int64) * len(distinct) + index)[1]
            if len(joint) == len(values[0]):  # one value of this column per code of the group
                first = np.unique(codes, return_index=True)[1]
                names.append(name)
                values.append([distinct[i] for i in index[first]])
                break
        else:
            groups.append(([name], index, [distinct]))
    return [{"names": names, "enc": "dict", "values": section(values), "codes": _codes(codes, len(values[0]))}
            for names, codes, values in groups]


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
    missing = pd.isna(pd.Series(arr, dtype=object)).to_numpy()
    out = arr.tolist()
    if pd.api.types.infer_dtype(arr, skipna=True) in ("string", "empty"):  # texts: the common case
        for i in np.flatnonzero(missing):
            out[i] = None
        return out
    for i, (v, na) in enumerate(zip(out, missing)):
        if na:
            out[i] = None
        elif isinstance(v, bool | np.bool_):
            out[i] = bool(v)
        elif isinstance(v, int | np.integer):
            out[i] = int(v)
        elif isinstance(v, float | np.floating):
            out[i] = float(v) if np.isfinite(v) else None
        elif not isinstance(v, str):
            out[i] = str(v)
    return out


def pack_columns(columns: dict[str, list], lon: np.ndarray | None = None,
                 lat: np.ndarray | None = None) -> tuple[list[dict], list[list]]:
    """Columns of JSON values packed: (packed columns, [name, value] of the constant ones).

    Parameters
    ----------
    columns : dict of str to list
        Column name to its values (``None``, bool, int, float or str), every list
        of the same length.
    lon, lat : numpy.ndarray, optional
        The points' coordinates (one per row, six decimals): a column that
        repeats them (a CSV's ``lat`` and ``lon``) refers to them instead.

    Returns
    -------
    tuple of (list of dict, list of [str, value])
        Each packed column names the column(s) it holds (``names``): columns a
        dictionary column determines (county -> county_ko) share its codes.

    Examples
    --------
    >>> cols, consts = pack_columns({"county": ["A", "B", "A", "A"], "province": ["P", "Q", "P", "P"],
    ...                              "file": ["f.csv"] * 4, "score": [1.5, 2.25, 3.0, 4.125],
    ...                              "id": ["U01", "U02", "U03", "U04"], "lat": ["40.5", "41", "39.25", "38"]},
    ...                             lon=np.array([127.0, 127.5, 128.0, 128.5]),
    ...                             lat=np.array([40.5, 41.0, 39.25, 38.0]))
    >>> [(c["names"], c["enc"]) for c in cols], consts
    ([(['score'], 'int'), (['id'], 'numbered'), (['lat'], 'coord'), (['county', 'province'], 'dict')], [['file', 'f.csv']])
    """
    coords = {}
    for axis, arr in (("x", lon), ("y", lat)):
        if arr is not None:  # as the page reads them: micro-degree integers over 10^6
            coords[axis] = np.round(np.asarray(arr, dtype=np.float64) * _MICRO) / _MICRO
    packed, consts, dicts = [], [], []
    for name, values in columns.items():
        if len(values) > 1 and all(v == values[0] and type(v) is type(values[0]) for v in values):
            consts.append([name, values[0]])
            continue
        col, codes = _column(name, values, coords)
        if col["enc"] == "dict":
            dicts.append((name, *codes))
        else:
            packed.append(col)
    return packed + _group_dicts(dicts), consts


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
