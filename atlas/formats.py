"""Output formats: a query result as a text table, CSV, JSON, GeoJSON or Markdown.
"""

from __future__ import annotations

import html
import json
import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .owned import Stage, remove_owned
from .redact import terminal_text

__all__ = ["Report", "csv_text", "format_table", "link_urls", "neutralise_cell", "status_report", "summary_report",
           "write_answer"]

# --- CSV: the one writer of every CSV the atlas produces --------------------------------------

#: First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: A plain decimal number written as text: a spreadsheet reads it as that number, nothing runs.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


#: A web address in a source's text: http or https only (never javascript:, data: or a local file).
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)


def link_urls(text) -> str:
    """Text as HTML: escaped, each http(s) address in it a link (``rel="noopener noreferrer"``).

    Sources cite their web pages in free text (``GEM wiki https://...; printed
    ...``); in an HTML product the reader follows them with a click. Trailing
    punctuation stays text. Nothing but ``http``/``https`` becomes a link.

    Parameters
    ----------
    text : object
        A cell (None and NaN are empty).

    Returns
    -------
    str
        HTML, safe to place between tags.

    Examples
    --------
    >>> link_urls("GEM https://www.gem.wiki/Musan_mine; printed 42.2 N <b>")
    'GEM <a href="https://www.gem.wiki/Musan_mine" rel="noopener noreferrer">https://www.gem.wiki/Musan_mine</a>; printed 42.2 N &lt;b&gt;'
    >>> link_urls("javascript:alert(1)")
    'javascript:alert(1)'
    """
    s = cell_text(text)
    out, last = [], 0
    for m in _URL.finditer(s):
        url = m.group(0).rstrip(".,;:!?)]}")
        end = m.start() + len(url)
        out += [html.escape(s[last:m.start()]),
                f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer">{html.escape(url)}</a>']
        last = end
    out.append(html.escape(s[last:]))
    return "".join(out)


def neutralise_cell(value):
    """A CSV cell that no spreadsheet runs as a formula.

    A text value starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return gets a leading apostrophe (OWASP's advice: the spreadsheet then
    shows the text as text). Numbers are never changed, and neither is text
    that is only a plain number (``-12.5``), which a spreadsheet reads as
    that number.

    Parameters
    ----------
    value : object
        A cell.

    Returns
    -------
    object
        ``value``, or ``"'" + value`` for text a spreadsheet would run.

    Examples
    --------
    >>> neutralise_cell('=HYPERLINK("http://x.example","click")')
    '\\'=HYPERLINK("http://x.example","click")'
    >>> neutralise_cell("-2+3"), neutralise_cell("-12.5"), neutralise_cell(-12.5)
    ("'-2+3", '-12.5', -12.5)
    >>> neutralise_cell("Kaechon"), neutralise_cell("@SUM(A1)")
    ('Kaechon', "'@SUM(A1)")
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(df: pd.DataFrame) -> str:
    """The CSV of a table, every text cell and column name passed through :func:`neutralise_cell`.

    Every CSV the atlas writes (``--format csv`` of every command, ``atlas
    export --format csv``) comes from this function. Numeric columns are
    written as numbers; a geometry column, if any, is left out. Lines end
    with CRLF (RFC 4180), so that a field holding a carriage return is
    quoted, never read as the start of a new row.

    Parameters
    ----------
    df : pandas.DataFrame

    Returns
    -------
    str
        CSV text with a header row, no index.

    Examples
    --------
    >>> import pandas as pd
    >>> csv_text(pd.DataFrame({"name": ["=1+1", "Yodok"], "lon": [-0.5, 127.1]})).splitlines()
    ['name,lon', "'=1+1,-0.5", 'Yodok,127.1']
    """
    plain = pd.DataFrame(df.drop(columns="geometry")) if "geometry" in df.columns else pd.DataFrame(df)
    plain = plain.rename(columns=lambda c: neutralise_cell(str(c)))
    for col in plain.columns:
        s = plain[col]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)):
            plain[col] = s.astype(object).map(neutralise_cell)
    return plain.to_csv(index=False, lineterminator="\r\n")


# --- output formats --------------------------------------------------------------------------


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(df.drop(columns="geometry")) if "geometry" in df.columns else df


def cell_text(value) -> str:
    """A cell as plain text: ``''`` for a missing value, ``14`` for ``14.0``, stripped.

    Examples
    --------
    >>> [cell_text(v) for v in (None, float("nan"), 14.0, 2.5, " Yodok ")]
    ['', '', '14', '2.5', 'Yodok']
    """
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        if float(value).is_integer():
            return str(int(value))
    try:
        if pd.isna(value) is True:
            return ""
    except (TypeError, ValueError):
        pass
    return str(value).strip()


def _cell(v, width: int | None = None) -> str:
    if not cell_text(v):  # None, NaN, <NA>, NaT, blank text
        return ""
    if isinstance(v, float):
        s = f"{v:.3f}".rstrip("0") if abs(v) < 1e6 else f"{v:.0f}"
        s = s + "0" if s.endswith(".") else s
    else:
        s = terminal_text(str(v), keep="")  # a control character shown as \x1b, never acted on
    if width and len(s) > width:
        s = s[: width - 1] + "…"
    return s


def format_table(df: pd.DataFrame, fmt: str = "table", columns: list[str] | None = None,
                 header: Iterable[str] = (), footer: Iterable[str] = (), meta: dict | None = None,
                 width: int = 42) -> str:
    """Render a query result as text: ``table``, ``csv``, ``json``, ``geojson`` or ``markdown``.

    Parameters
    ----------
    df : pandas.DataFrame or geopandas.GeoDataFrame
    fmt : {"table", "csv", "json", "geojson", "markdown"}
    columns : list of str, optional
        Columns for ``table`` and ``markdown`` (all by default); ``csv``,
        ``json`` and ``geojson`` always carry every column.
    header, footer : iterable of str
        Lines around a ``table`` or ``markdown`` (notes on the site, sources).
    meta : dict, optional
        Carried as ``"meta"`` in ``json`` and as a foreign member ``"atlas"`` in ``geojson``.
    width : int, default 42
        Longest cell in a ``table``.

    Returns
    -------
    str

    Raises
    ------
    InputError
        An unknown format, or ``geojson`` for a result without geometry.

    Examples
    --------
    >>> import pandas as pd
    >>> from atlas.formats import format_table
    >>> print(format_table(pd.DataFrame({"a": [1], "b": ["x|y"]}), "markdown"))
    | a | b |
    |---|---|
    | 1 | x\\|y |
    """
    plain = _plain(df)
    if fmt == "csv":
        return csv_text(plain)
    if fmt == "json":
        rows = json.loads(plain.to_json(orient="records", force_ascii=False, double_precision=10))
        return json.dumps({"meta": meta or {}, "rows": rows}, ensure_ascii=False, indent=1)
    if fmt == "geojson":
        gpd = sys.modules.get("geopandas")  # not loaded: then df cannot be a GeoDataFrame
        if gpd is None or not isinstance(df, gpd.GeoDataFrame):
            raise InputError("geojson needs features with geometry; use csv or json")
        data = json.loads(df.to_json(na="null", drop_id=True, to_wgs84=True))
        data["atlas"] = meta or {}
        return json.dumps(data, ensure_ascii=False)
    cols = [c for c in (columns or list(plain.columns)) if c in plain.columns]
    if fmt == "markdown":
        def esc(v):
            return _cell(v).replace("|", "\\|")

        lines = [*header, *([""] if header else [])]
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "|".join("---" for _ in cols) + "|")
        lines += ["| " + " | ".join(esc(v) for v in row) + " |"
                  for row in plain[cols].itertuples(index=False)]
        if footer:
            lines += ["", *footer]
        return "\n".join(lines)
    if fmt == "table":
        cells = [[_cell(v, width) for v in row] for row in plain[cols].itertuples(index=False)]
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
        numeric = [pd.api.types.is_numeric_dtype(plain[c]) and not pd.api.types.is_bool_dtype(plain[c])
                   for c in cols]

        def line(vals):
            return "  ".join(v.rjust(w) if num else v.ljust(w)
                             for v, w, num in zip(vals, widths, numeric)).rstrip()

        out = [*header, line(cols), line(["-" * w for w in widths]), *(line(r) for r in cells)]
        return "\n".join([*out, *footer])
    raise InputError(f"unknown format {fmt!r}: use table, csv, json, geojson or markdown")


# --- reports: a query's result with the words around it, as the command line prints it -----------


@dataclass(frozen=True)
class Report:
    """A query's result as a command prints it.

    Attributes
    ----------
    text : str
        What goes to standard output: the table, CSV, JSON or GeoJSON with
        its header and footer lines (for ``table`` and ``markdown``).
    notes : tuple of str
        Lines for standard error, one each (the command line prefixes
        ``atlas:``): with ``csv``, the words that a table would have printed
        around the rows, so that the CSV itself stays plain.
    """

    text: str
    notes: tuple[str, ...] = ()


def summary_report(table: pd.DataFrame, fmt: str = "table") -> Report:
    """A summary (:func:`atlas.summary`, or camps by status) with its sources below it.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`atlas.summary` (by province or county: where the reported and
        geolocated counts come from, and the boundaries' source and vintage)
        or :func:`atlas.status.status_summary` (camps by status: the day,
        the rule and its window), whose ``attrs`` say which.
    fmt : {"table", "csv", "json", "markdown"}

    Returns
    -------
    Report
        ``json`` carries ``attrs`` as ``meta``; with ``csv`` the footer of a
        summary goes to ``notes``.

    Examples
    --------
    >>> import atlas
    >>> print(summary_report(atlas.summary("province"), "table").text.splitlines()[-4])
    Reported: Gulag, Inc. (HRNK 2016), Table 2 (Lee et al. 2014, p. 65).
    """
    a = table.attrs
    if "rule" in a:  # camps by status
        head = [f"Camps by status as of {a['as_of']}."]
        foot = ["", f"Camps by status as of {a['as_of']}: {a['rule']}. Province by spatial join of each "
                "camp's point; no point: unidentified."]
        return Report(format_table(table, fmt, header=head, footer=foot, meta=dict(a), width=80))
    foot = ["", f"Reported: {a['report']}.", f"Geolocated: {a['method']}.",
            f"Boundaries: {a['boundary_source']}.", f"Boundary vintage: {a['boundary_vintage']}."]
    if "sanctions" in a:
        foot.append(f"Sanctions: {a['sanctions']}.")
    head = [a["banner"], ""] if a.get("banner") else []  # counted with private layers: said on its face
    if a.get("status_as_of"):  # a table pasted into reports says the day its camp statuses speak of
        head.append(f"Camps counted by status as of {a['status_as_of']} (the build date; "
                    "atlas summary --as-of DATE for another day).")
    notes = (*head[:1], *foot[1:]) if fmt == "csv" else ()
    return Report(format_table(table, fmt, header=head, footer=foot, meta=dict(a), width=80), notes)


def _finding_lines(df: pd.DataFrame) -> list[str]:
    return [f"  {r['finding_id']}  {r['observed_text']}  {r['status_signal']}  "
            f"[{r['evidence_basis']}] {r['description'][:70]}  ({r['source_report'][:60]})"
            for r in df.to_dict("records")]


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if v is None or v != v else v) for k, v in r.items()}
            for r in df.to_dict("records")]


#: The columns of a status table, in the order a table shows them.
STATUS_COLUMNS = ["site_id", "kind", "name", "status", "deciding", "against",
                  "evidence_tier_label", "latest_evidence_date", "latest_evidence_strength"]


def status_report(table: pd.DataFrame, fmt: str = "table", status=None, explain: bool = False) -> Report:
    """Camps' (or mines') status on a day (:func:`atlas.status_table`), with the day and rule below it.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`atlas.status_table`; its ``attrs`` give the day, the rule and its window.
    fmt : {"table", "csv", "json"}
    status : atlas.SiteStatus, optional
        One site's status (:func:`atlas.status_at`, on the table's day): a
        ``table`` then adds its summary line, why, and the findings on each side;
        ``json`` adds them to ``meta``.
    explain : bool
        With ``status``: every finding of the site, whether it counts on the day and why,
        ending with the rule that decided (:attr:`atlas.SiteStatus.explain`).

    Returns
    -------
    Report

    Examples
    --------
    >>> import atlas
    >>> table = atlas.status_table("2014-06", sites=["KLS-15"])
    >>> print(status_report(table).text.splitlines()[-1][:17])
    As of 2014-06-30:
    """
    a = table.attrs
    foot = ["", f"As of {a['as_of']}: {a['rule']}."]
    meta = dict(a)
    if status is not None and fmt == "table":
        foot += ["", status.summary, status.reason, "", "Deciding findings:",
                 *(_finding_lines(status.deciding) or ["  none"])]
        foot += ["Findings against:"] + (_finding_lines(status.against) or ["  none"])
        if explain:
            foot += ["", "Every finding of the site on the day:", status.explain]
        foot = [terminal_text(x) for x in foot]
    if status is not None and fmt == "json":
        meta["findings"] = {k: _records(getattr(status, k)) for k in ("deciding", "against")}
        meta["status"] = status.as_dict(explain=explain)
    return Report(format_table(table, fmt, columns=STATUS_COLUMNS, footer=foot, meta=meta, width=40))


def write_answer(path: Path, text: str, fmt: str, empty_note: str | None = None) -> list[Path]:
    """Write a query's answer to a file, as ``--out FILE`` of ``find``, ``near``, ``status``... does.

    A CSV file gets a UTF-8 byte-order mark (Excel then reads Hangul) and keeps
    its CRLF line ends, as ``atlas export`` writes CSV; other formats are UTF-8.
    (Standard output stays plain UTF-8, no mark, for pipes.) An empty answer
    says why beside the file, in ``FILE.note.txt``, not only on the terminal.
    Nothing the atlas did not write is replaced (:class:`atlas.owned.Stage`).

    Parameters
    ----------
    path : pathlib.Path
    text : str
        What the command would print.
    fmt : str
        The answer's format (``csv`` gets the byte-order mark).
    empty_note : str, optional
        Why the answer holds no row: written to the sidecar note.

    Returns
    -------
    list of pathlib.Path
        The file, and its note when one was written.
    """
    path = Path(path)
    note = path.with_name(path.name + ".note.txt")
    with Stage(path.parent) as stage:
        if fmt == "csv":
            stage.path(path.name).write_text(text, encoding="utf-8-sig", newline="")
        else:
            stage.path(path.name).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        if empty_note:
            stage.path(note.name).write_text(empty_note.rstrip("\n") + "\n", encoding="utf-8")
    if not empty_note:
        remove_owned(note)  # an earlier empty answer's note, which no longer holds
    return [path, note] if empty_note else [path]
