"""How do people write a coordinate? Decimal degrees, degrees-minutes-seconds, a pair in one cell.

Researchers copy coordinates from articles, imagery reports and spreadsheets:
``39.5711``, ``39°34′N``, ``126°03'30"E``, ``N 39 34 15``, or a pair in one
cell, ``39°34′N 126°03′E`` or ``39.57, 126.05``. :func:`parse_coordinate`
reads one, :func:`split_pair` splits a pair into its two halves.
"""

from __future__ import annotations

import re

__all__ = ["parse_coordinate", "parse_lat_lon", "split_pair"]

_DMS = re.compile(
    r"""^\s*(?P<h1>[NSEW])?\s*(?P<deg>[-+]?\d+(?:\.\d+)?)\s*(?:°|º|d|\s|(?=[NSEW]\s*$))\s*
        (?:(?P<min>\d+(?:\.\d+)?)\s*(?:′|'|’|m|\s|(?=[NSEW]?\s*$))\s*)?
        (?:(?P<sec>\d+(?:\.\d+)?)\s*(?:″|"|”|''|s)?\s*)?
        (?P<h2>[NSEW])?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)


def parse_coordinate(text: str) -> tuple[float, str | None]:
    """Parse one coordinate: decimal degrees or degrees-minutes-seconds.

    Parameters
    ----------
    text : str
        ``"39.5711"``, ``"39°34′N"``, ``"126°03'30\\"E"``, ``"N 39 34 15"``.

    Returns
    -------
    tuple of (float, str or None)
        Decimal degrees (negative for S/W) and the hemisphere letter if given.

    Raises
    ------
    ValueError
        If the text is not a coordinate.

    Examples
    --------
    >>> parse_coordinate("39°34′N")
    (39.56666666666667, 'N')
    >>> parse_coordinate("126.05")
    (126.05, None)
    """
    s = str(text).strip()
    try:
        return float(s), None
    except ValueError:
        pass
    m = _DMS.match(s)
    if not m or (m.group("h1") and m.group("h2")):
        raise ValueError(f"{text!r} is not a coordinate")
    value = float(m.group("deg"))
    minutes = float(m.group("min") or 0)
    seconds = float(m.group("sec") or 0)
    if minutes >= 60 or seconds >= 60:
        raise ValueError(f"{text!r}: minutes and seconds must be below 60")
    value = abs(value) + minutes / 60 + seconds / 3600
    hemi = (m.group("h1") or m.group("h2") or "").upper() or None
    if hemi in ("S", "W") or str(m.group("deg")).startswith("-"):
        value = -value
    return value, hemi


def split_pair(text: str) -> tuple[str, str]:
    """Split ``"39°34′N 126°03′E"`` or ``"39.57, 126.05"`` into its two halves."""
    s = str(text).strip()
    halves = re.split(r"\s*[,;]\s*", s)
    if len(halves) == 2 and all(halves):  # one comma or semicolon: the pair's own separator
        return halves[0], halves[1]
    m = re.match(r"^(.*?[NS])[\s,;/]+(.*?[EW])$", s, re.IGNORECASE)
    if m:
        return m.group(1), m.group(2)
    parts = [p for p in re.split(r"[,;/]\s*|\s+(?=[-+]?\d)", s) if p.strip()]
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a latitude/longitude pair")
    return parts[0], parts[1]


def parse_lat_lon(text: str) -> tuple[float, float] | None:
    """Read a point as people write it, latitude first: ``"41.29, 129.27"``, ``"41°17′N 129°16′E"``.

    Hemisphere letters decide the order where given (``"129.27E 41.29N"`` is the same point);
    without them the first number is the latitude, as in articles, imagery reports and
    mapping apps.

    Returns
    -------
    tuple of (float, float) or None
        ``(lat, lon)`` in decimal degrees, or None when the text is not a coordinate pair
        (a name, an id, a camp number).

    Raises
    ------
    ValueError
        A pair out of range (latitude beyond ±90, longitude beyond ±180), or two
        latitudes or two longitudes by their letters.

    Examples
    --------
    >>> parse_lat_lon("41.29, 129.27")
    (41.29, 129.27)
    >>> parse_lat_lon("129°16′12″E 41°17′24″N")
    (41.29, 129.27)
    >>> parse_lat_lon("129.27E, 41.29N")
    (41.29, 129.27)
    >>> parse_lat_lon("kwan-li-so 14") is None, parse_lat_lon("KLS-14") is None
    (True, True)
    """
    try:
        first, second = split_pair(text)
        (a, ha), (b, hb) = parse_coordinate(first), parse_coordinate(second)
    except ValueError:
        return None
    if ha in ("E", "W") or hb in ("N", "S"):
        (a, ha), (b, hb) = (b, hb), (a, ha)
    if ha in ("E", "W") or hb in ("N", "S"):
        raise ValueError(f"{text!r} names two latitudes or two longitudes")
    if not (-90 <= a <= 90 and -180 <= b <= 180):
        raise ValueError(f"{text!r}: latitude {a:g} or longitude {b:g} is out of range "
                         "(a point is written latitude first, e.g. \"41.29, 129.27\")")
    return round(a, 9), round(b, 9)
