"""What changed between two atlases: sites added, removed, moved, renamed, their status, findings, fields.

:func:`diff` compares two atlas GeoPackages (two releases, or the shipped one
and yours; a PostGIS atlas works too) layer by layer, row by row, by each
layer's id (:func:`atlas.schema.id_column`), and returns one row per change:

========================  =====================================================
``change``                what happened
========================  =====================================================
``layer added/removed``   a layer or table only one atlas holds
``added`` / ``removed``   a row (a site, a finding, a passage) only one holds
``moved``                 a row's point moved; ``note`` gives the geodesic
                          distance in metres (WGS 84 ellipsoid)
``located`` / ``unlocated``  a row gained or lost its coordinate
``reshaped``              a polygon or line changed
``renamed``               the row's name changed
``changed``               another field changed (``field``, ``old``, ``new``)
``status``                a camp's or mine's status as of each atlas's own
                          build date (:func:`atlas.status.status_table`)
========================  =====================================================

Only what both atlases publish is compared: each is opened with
``include_private=False``, so a private layer never appears in a diff (one made
to be shared says nothing about one that is not). Provenance columns that a
rebuild restamps (``sha256`` of the sources table aside) are compared like any
other field: a changed licence or source is a change worth seeing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Geod

from .schema import id_column
from .status import status_table
from .store import USER_PREFIX, Atlas, open_atlas

__all__ = ["CHANGES", "COLUMNS", "Diff", "diff"]

#: The columns of a diff's table.
COLUMNS = ["change", "layer", "id", "name", "field", "old", "new", "note"]
#: Every kind of change, in the order a table lists them.
CHANGES = ("layer added", "layer removed", "added", "removed", "moved", "located", "unlocated", "reshaped",
           "renamed", "status", "changed")
#: A point that moved less than this many metres has not moved (float noise of a rewrite).
MOVED_M = 0.5
#: The columns holding a row's name, first found first.
_NAME_COLUMNS = ("name", "name_in_report", "name_en", "gem_name", "subject", "about", "measure")
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Diff:
    """Two atlases compared.

    Attributes
    ----------
    changes : pandas.DataFrame
        One row per change, columns :data:`COLUMNS`, ordered by layer, kind of
        change (:data:`CHANGES`) and id.
    old, new : dict
        What each atlas is: ``file`` (its name or masked URL), ``release``
        (the release it was built as, empty for an atlas built before
        releases were stamped), ``sha256``, ``build_date``.
    """

    changes: pd.DataFrame
    old: dict = field(default_factory=dict)
    new: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """How many changes of each kind (only kinds that occur), in :data:`CHANGES` order."""
        got = self.changes["change"].value_counts()
        return {c: int(got[c]) for c in CHANGES if c in got.index}

    def meta(self) -> dict:
        """The citation block of a diff: both atlases and the counts."""
        return {"old": self.old, "new": self.new, "changes": self.counts()}


def _about(a: Atlas) -> dict:
    return {"file": a.file_name, "release": a.release.get("release", ""), "sha256": a.sha256,
            "build_date": a.build_date}


def _text(v) -> str:
    """A cell as the diff prints it: missing values as empty, floats without noise."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, (float, np.floating)):
        return repr(round(float(v), 9))
    if isinstance(v, (pd.Timestamp, datetime)):  # a date read as a date-time by one writer: the same day
        return v.date().isoformat() if (v.hour, v.minute, v.second, v.microsecond) == (0, 0, 0, 0) \
            else v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _name(row: pd.Series) -> str:
    for c in _NAME_COLUMNS:
        if c in row.index and _text(row[c]):
            return _text(row[c])
    return ""


def _keyed(df: pd.DataFrame, layer: str) -> tuple[str, pd.DataFrame]:
    """The layer indexed by its id column, or, without one, by the whole row's text (a table of the report)."""
    col = id_column(layer, df.columns)
    if col is not None and df[col].notna().all() and df[col].is_unique:
        return col, df.set_index(df[col].map(_text), drop=False)
    attrs = [c for c in df.columns if c != "geometry"]
    keys = df[attrs].apply(lambda r: " | ".join(_text(v) for v in r), axis=1) if len(df) else pd.Series(dtype=str)
    return "", df.set_index(keys.to_numpy(), drop=False)[~keys.duplicated().to_numpy()]


def _geometry_change(a, b) -> tuple[str, str] | None:
    """How a row's geometry changed: ``(change, note)``, or None."""
    a_empty = a is None or getattr(a, "is_empty", True)
    b_empty = b is None or getattr(b, "is_empty", True)
    if a_empty and b_empty:
        return None
    if a_empty:
        return "located", ""
    if b_empty:
        return "unlocated", ""
    if a.geom_type == "Point" and b.geom_type == "Point":
        _, _, metres = _GEOD.inv(a.x, a.y, b.x, b.y)
        return ("moved", f"{metres:.0f} m") if metres >= MOVED_M else None
    return None if a.equals_exact(b, 1e-9) else ("reshaped", "")


def _layer_changes(layer: str, old: pd.DataFrame, new: pd.DataFrame) -> list[dict]:
    col, o = _keyed(old, layer)
    _, n = _keyed(new, layer)
    rows: list[dict] = []

    def add(change, key, name, fld="", before="", after="", note=""):
        rows.append({"change": change, "layer": layer, "id": key if col else "", "name": name, "field": fld,
                     "old": before, "new": after, "note": note if col else (note or key)})

    for key in o.index.difference(n.index, sort=False):
        add("removed", key, _name(o.loc[key]))
    for key in n.index.difference(o.index, sort=False):
        add("added", key, _name(n.loc[key]))
    if not col:
        return rows  # without ids a changed row is one removed and one added
    geo = "geometry" in o.columns and "geometry" in n.columns
    fields = [c for c in n.columns if c in o.columns and c != "geometry" and c != col]
    for key in o.index.intersection(n.index, sort=False):
        a, b = o.loc[key], n.loc[key]
        name = _name(b)
        if geo:
            moved = _geometry_change(a["geometry"], b["geometry"])
            if moved:
                add(moved[0], key, name, note=moved[1])
        if _name(a) != name:
            add("renamed", key, name, "name", _name(a), name)
        for c in fields:
            before, after = _text(a[c]), _text(b[c])
            if before != after and not (c in _NAME_COLUMNS and _name(a) != name and c == _first_name(b)):
                add("changed", key, name, c, before, after)
        for c in [c for c in n.columns if c not in o.columns and c != "geometry" and _text(b[c])]:
            add("changed", key, name, c, "", _text(b[c]), "a field the old atlas lacks")
    return rows


def _first_name(row: pd.Series) -> str | None:
    return next((c for c in _NAME_COLUMNS if c in row.index and _text(row[c])), None)


def _day(a: Atlas) -> str | None:
    """The day an atlas was built (its build date may carry a time)."""
    return (a.build_date or "")[:10] or None


def _status_changes(old: Atlas, new: Atlas) -> list[dict]:
    """Each site's status at its atlas's build date, where the two differ."""
    day_a, day_b = _day(old), _day(new)
    try:
        a = status_table(day_a, gpkg=old)
        b = status_table(day_b, gpkg=new)
    except (KeyError, LookupError, ValueError):  # an atlas too old or too odd to have findings
        return []
    key = "site_id"
    if key not in a.columns or key not in b.columns:
        return []
    a, b = a.set_index(key), b.set_index(key)
    rows = []
    for site in a.index.intersection(b.index, sort=False):
        before, after = _text(a.at[site, "status"]), _text(b.at[site, "status"])
        if before != after:
            name = _text(b.at[site, "name"]) if "name" in b.columns else ""
            rows.append({"change": "status", "layer": "camps", "id": site, "name": name, "field": "status",
                         "old": before, "new": after,
                         "note": f"as of {day_a or '?'} and {day_b or '?'}"})
    return rows


def diff(old: Atlas | Path | str, new: Atlas | Path | str) -> Diff:
    """Compare two atlases: every site, finding, passage and field that changed.

    Parameters
    ----------
    old, new : Atlas, pathlib.Path or str
        Two atlas GeoPackages (or PostGIS URLs, or atlases already open).
        Each is read without private layers.

    Returns
    -------
    Diff

    Examples
    --------
    >>> import atlas
    >>> shipped = atlas.default_gpkg()
    >>> same = atlas.diff(shipped, shipped)
    >>> len(same.changes), same.counts()
    (0, {})
    """
    a = open_atlas(old, include_private=False)
    b = open_atlas(new, include_private=False)
    la, lb = a.layers(), b.layers()
    rows: list[dict] = []
    for layer in sorted(set(la) | set(lb)):
        if layer not in lb:
            rows.append({"change": "layer removed", "layer": layer})
        elif layer not in la:
            rows.append({"change": "layer added", "layer": layer})
        else:
            rows += _layer_changes(layer, a.layer(layer), b.layer(layer))
    rows += _status_changes(a, b)
    table = pd.DataFrame(rows, columns=COLUMNS).fillna("")
    if len(table):
        order = {c: i for i, c in enumerate(CHANGES)}
        table = (table.assign(_user=table["layer"].str.startswith(USER_PREFIX),
                              _kind=table["change"].map(order))
                 .sort_values(["_user", "layer", "_kind", "id", "field"], kind="stable")
                 .drop(columns=["_user", "_kind"]).reset_index(drop=True))
    return Diff(table, _about(a), _about(b))


def diff_report(result: Diff, fmt: str = "table") -> str:
    """A diff as ``atlas diff`` prints it: ``table``, ``markdown``, ``csv`` or ``json``.

    A table and markdown open with both atlases (file, build date, sha256) and
    the counts; CSV holds the rows alone (one per change); JSON carries both
    atlases and the counts as ``meta``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = Diff(pd.DataFrame([{"change": "added", "layer": "camps", "id": "KLS-99"}], columns=COLUMNS),
    ...          {"file": "old.gpkg", "sha256": "a", "build_date": "2026-01-01"},
    ...          {"file": "new.gpkg", "sha256": "b", "build_date": "2026-12-07"})
    >>> print(diff_report(d).splitlines()[2])
    1 change: added 1
    """
    from .formats import format_table

    if fmt in ("csv", "json"):
        return format_table(result.changes, fmt, meta=result.meta())
    counts = result.counts()
    total = sum(counts.values())
    def side(label: str, a: dict) -> str:
        release = f"release {a['release']}, " if a.get("release") else ""
        return f"{label}: {a.get('file', '')} ({release}built {a.get('build_date') or '?'}, sha256 {a.get('sha256', '')})"

    head = [side("old", result.old), side("new", result.new),
            f"{total} change{'' if total == 1 else 's'}"
            + (": " + ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else ": none")]
    if not total:
        return "\n".join(head)
    return format_table(result.changes, fmt, COLUMNS, header=head)
