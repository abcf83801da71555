"""Output formats: a query result as a text table, CSV, JSON, GeoJSON or Markdown.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["csv_text", "neutralise_cell"]

# --- CSV: the one writer of every CSV the atlas produces --------------------------------------

#: First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: A plain decimal number written as text: a spreadsheet reads it as that number, nothing runs.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


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
