"""Which permanent id a record has, and what became of an id that is no longer used.

Camps, findings, the report's passages and its discrepancies carry their ids
in their own rows (``site_id``, ``finding_id``, ``passage_id``,
``discrepancy_id``). Mines and the report's named mines come from sources
that have none (ICMM, GEM, the report's text), so their ids live in the id
register, ``geodata/ids.csv``: one row per id with the layer, the record's
key (``record_origin:name`` for a mine, the name as the report prints it for
a named mine) and its state. A build gives each record the id its key holds
there and fails, saying which, on a record the register does not know: ids
are never derived from row order, so a rebuild never changes one, and a
removed or merged record never hands its id to another.

An id is retired, never deleted or reused: its row stays with the state
``merged`` (and ``into``, the id that now holds the record) or
``withdrawn`` (and ``reason``), and ``retired_in``, the release that retired
it. Retired rows may name an id of any kind (``KLS-…``, ``F…``, ``P…``,
``D…``). The build writes them to the GeoPackage's ``retired_ids`` table,
which :func:`atlas.resolve`, ``atlas show``, ``atlas cite`` and the map's
links read.
"""

from __future__ import annotations

import pandas as pd

from .errors import InputError

__all__ = ["COLUMNS", "STATES", "assign_ids", "check_held", "check_register", "retired"]

#: The register's columns, in order.
COLUMNS = ("id", "layer", "key", "state", "into", "reason", "retired_in")
#: ``current``: the id of a record in this release; ``merged``: the record is now ``into``;
#: ``withdrawn``: the record was removed, for ``reason``.
STATES = ("current", "merged", "withdrawn")


def check_register(register: pd.DataFrame) -> None:
    """Refuse a register that could give one id to two records or lose a retired one.

    Parameters
    ----------
    register : pandas.DataFrame
        ``geodata/ids.csv`` as text (:data:`COLUMNS`).

    Raises
    ------
    atlas.errors.InputError
        A missing column, an id listed twice, an unknown state, a key held by
        two current ids of one layer, a merged id whose ``into`` is not a
        current id, or a retired id without its reason or release.

    Examples
    --------
    >>> reg = pd.DataFrame({"id": ["M001", "M001"], "layer": ["mines"] * 2, "key": ["a", "b"],
    ...                     "state": ["current"] * 2, "into": "", "reason": "", "retired_in": ""})
    >>> check_register(reg)
    Traceback (most recent call last):
    ...
    atlas.errors.InputError: geodata/ids.csv lists an id twice (an id is never reused): M001
    """
    missing = [c for c in COLUMNS if c not in register.columns]
    if missing:
        raise InputError(f"geodata/ids.csv lacks the column(s) {', '.join(missing)}")
    twice = sorted(set(register.loc[register["id"].duplicated(), "id"]))
    if twice:
        raise InputError(f"geodata/ids.csv lists an id twice (an id is never reused): {', '.join(twice)}")
    bad = sorted(set(register["state"]) - set(STATES))
    if bad:
        raise InputError(f"geodata/ids.csv: unknown state(s) {', '.join(bad)} (one of {', '.join(STATES)})")
    current = register[register["state"] == "current"]
    shared = current[current.duplicated(["layer", "key"], keep=False)]
    if len(shared):
        raise InputError("geodata/ids.csv gives one record two current ids: "
                         + ", ".join(sorted(shared["id"])))
    merged = register[register["state"] == "merged"]
    lost = merged[~merged["into"].isin(register.loc[register["state"] != "merged", "id"])]
    if len(lost):
        raise InputError("geodata/ids.csv: a merged id must name the id that holds its record now "
                         f"(into): {', '.join(lost['id'])}")
    retired_rows = register[register["state"] != "current"]
    unsaid = retired_rows[(retired_rows["reason"].str.strip() == "") | (retired_rows["retired_in"].str.strip() == "")]
    if len(unsaid):
        raise InputError("geodata/ids.csv: a retired id needs its reason and the release that retired it: "
                         + ", ".join(unsaid["id"]))


def assign_ids(keys: pd.Series, register: pd.DataFrame, layer: str) -> list[str]:
    """The permanent id of each record of ``layer``, by its key in the register.

    Parameters
    ----------
    keys : pandas.Series
        Each record's key (for a mine ``record_origin:name``).
    register : pandas.DataFrame
        The checked register (:func:`check_register`).
    layer : str
        ``mines`` or ``named_mines``.

    Returns
    -------
    list of str
        One id per key, in the order of ``keys``.

    Raises
    ------
    atlas.errors.InputError
        A record the register does not know (a new record needs a new id, a
        renamed one its key updated).

    Examples
    --------
    >>> reg = pd.DataFrame({"id": ["M001", "M002"], "layer": ["mines"] * 2, "key": ["icmm:A", "gem:B"],
    ...                     "state": ["current"] * 2, "into": "", "reason": "", "retired_in": ""})
    >>> assign_ids(pd.Series(["gem:B", "icmm:A"]), reg, "mines")
    ['M002', 'M001']
    """
    current = register[(register["layer"] == layer) & (register["state"] == "current")]
    by_key = dict(zip(current["key"], current["id"]))
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise InputError(f"geodata/ids.csv has no id for {len(unknown)} record(s) of {layer}: "
                         + "; ".join(unknown[:5])
                         + ". A new record takes the next unused id; a renamed one keeps its id with its key updated")
    return [by_key[k] for k in keys]


def check_held(ids, register: pd.DataFrame, layer: str) -> None:
    """Refuse a register whose current ids of ``layer`` are not all held by a record of the build.

    Parameters
    ----------
    ids : iterable of str
        The ids the build gave the layer's records.
    register : pandas.DataFrame
        The checked register.
    layer : str
        ``mines`` or ``named_mines``.

    Raises
    ------
    atlas.errors.InputError
        An id the register calls current that no record holds any more: it
        must be retired (``merged`` with ``into``, or ``withdrawn`` with
        ``reason``), never left to be reused.
    """
    current = register[(register["layer"] == layer) & (register["state"] == "current")]
    unused = sorted(set(current["id"]) - set(ids))
    if unused:
        raise InputError(f"geodata/ids.csv: current id(s) of {layer} that no record holds: {', '.join(unused)}. "
                         "Retire them (state merged, with into, or withdrawn, with reason)")


def retired(register: pd.DataFrame) -> pd.DataFrame:
    """The retired ids (merged or withdrawn), as the GeoPackage's ``retired_ids`` table holds them.

    Parameters
    ----------
    register : pandas.DataFrame
        The checked register.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``layer``, ``state``, ``into``, ``reason``, ``retired_in``; possibly no rows.
    """
    cols = ["id", "layer", "state", "into", "reason", "retired_in"]
    return register.loc[register["state"] != "current", cols].reset_index(drop=True)
