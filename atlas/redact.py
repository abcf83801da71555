"""What may be shown of a string: secrets in URLs masked, controls escaped, XML kept valid.

A database URL can carry a password in two places: ``user:password@host`` and
a query parameter (``?password=…``, ``passfile``, ``sslkey``, ``sslpassword``,
or any parameter whose name says it holds a secret). :func:`mask_url` masks
every one of them; every place that prints or stores a URL (messages, the
provenance block of the exports, ``show --format json``) shows it through this
function, so a secret never travels.

Strings from data are shown by their medium's rules: :func:`terminal_text`
for a terminal (controls written out as escapes), :func:`neutral_bidi` for a
name or id on a page, :func:`xml_text` for an XML document (illegal code
points replaced), :func:`json_text` for JSON (the same data, nothing raw that
a terminal acts on). CSV keeps its data exact (``atlas.formats.csv_text``).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

__all__ = ["BIDI_CONTROLS", "MASK", "SECRET_PARAMETER", "json_text", "mask_url", "neutral_bidi", "terminal_text",
           "xml_text"]

MASK = "***"
#: A query parameter whose value is a secret or the path of one (libpq's ``password``,
#: ``passfile``, ``sslkey``, ``sslpassword``, ``sslcert``, ``sslrootcert``, ``sslcrl``; any
#: ``token``, ``secret``, ``key`` or ``auth``).
SECRET_PARAMETER = re.compile(r"pass|secret|token|key|auth|ssl(cert|crl|rootcert)|credential", re.I)
_USERINFO = re.compile(r"^(?P<user>[^:@/]*):(?P<password>[^@/]*)@", re.S)


def mask_url(url: str) -> str:
    """The URL with every secret masked: the userinfo password and secret query parameters.

    Parameters
    ----------
    url : str
        Any URL (a text that is not a URL comes back unchanged, but for an
        ``a:b@`` prefix, which is masked as a password).

    Returns
    -------
    str

    Examples
    --------
    >>> mask_url("postgresql://me:s3cret@db.example/gis?schema=atlas")
    'postgresql://me:***@db.example/gis?schema=atlas'
    >>> mask_url("postgresql://me@db/gis?password=s3cret&sslkey=/home/me/k.pem&schema=atlas")
    'postgresql://me@db/gis?password=***&sslkey=***&schema=atlas'
    >>> mask_url("postgresql:///gis?host=/run/postgresql&PassWord=x")
    'postgresql:///gis?host=/run/postgresql&PassWord=***'
    """
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:  # an invalid URL (a bad port, brackets): mask whatever looks like a secret
        return _mask_loose(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":" + MASK
        netloc = f"{userinfo}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{quote(k, safe='/')}={MASK if SECRET_PARAMETER.search(k) else quote(v, safe='/:')}"
                         for k, v in pairs)
    out = urlunsplit((parts.scheme, netloc, parts.path, query, MASK if parts.fragment else ""))
    if parts.scheme and not netloc and text[len(parts.scheme):].startswith("://"):
        out = out.replace(f"{parts.scheme}:", f"{parts.scheme}://", 1)  # postgresql:///db keeps its //
    return out


def _mask_loose(text: str) -> str:
    """Mask ``user:pw@`` and ``secret=value`` in a text that does not parse as a URL."""
    text = re.sub(r"(//[^:@/]*):[^@/]*@", rf"\1:{MASK}@", text)
    return re.sub(r"([?&;\s]([^=&;\s]*)=)([^&;\s]*)",
                  lambda m: m.group(1) + (MASK if SECRET_PARAMETER.search(m.group(2)) else m.group(3)), text)


# --- what a person, an XML parser or a JSON reader may be shown of a string from data -----------

#: Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): a name holding
#: U+202E shows ``evil\u202egpj.exe`` as ``evilexe.jpg``.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
#: What a terminal may act on: C0 controls (ESC starts every escape sequence), DEL, C1 controls (CSI,
#: OSC ...), the bidi controls, and lone surrogates (the bytes of a file name that is not UTF-8).
_TERMINAL = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}\ud800-\udfff]")
#: Code points XML 1.0 forbids (every C0 control but tab, newline and carriage return; U+FFFE,
#: U+FFFF; lone surrogates): one of them makes a whole KML or QGIS project unreadable.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Characters that JSON leaves raw but a terminal or a JavaScript parser acts on.
_JSON_RAW = re.compile(f"[\x7f-\x9f{BIDI_CONTROLS}\u2028\u2029\ud800-\udfff]")


def _escape(ch: str) -> str:
    cp = ord(ch)
    if 0xDC80 <= cp <= 0xDCFF:  # a byte of a file name that is not UTF-8 (surrogateescape)
        return f"\\x{cp - 0xDC00:02x}"
    return f"\\x{cp:02x}" if cp <= 0xFF else f"\\u{cp:04x}"


def terminal_text(text: object, keep: str = "\n\t") -> str:
    """``text`` as a terminal may show it: every control character written out as an escape.

    Every face of the atlas (the ``atlas`` command's tables, messages, warnings
    and progress; :func:`atlas.show`) prints text from data through this
    function, so an imported name cannot set the window title, write the
    clipboard, clear the screen or reorder what follows it.

    Parameters
    ----------
    text : object
        Any text (``str(text)`` is shown).
    keep : str, default newline and tab
        Controls kept as they are (the lines of a message); a table cell keeps none.

    Returns
    -------
    str
        ``text`` with C0 controls, DEL, C1 controls, bidi controls and lone
        surrogates written as ``\\x1b``, ``\\u202e``; a byte of a non-UTF-8 file
        name as that byte (``\\xff``).

    Examples
    --------
    >>> terminal_text("Camp \\x1b]0;owned\\x07 14\\u202e")
    'Camp \\\\x1b]0;owned\\\\x07 14\\\\u202e'
    >>> terminal_text("two\\nlines"), terminal_text("two\\nlines", keep="")
    ('two\\nlines', 'two\\\\x0alines')
    """
    text = str(text)
    return _TERMINAL.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), text)


def neutral_bidi(text: str) -> str:
    """``text`` with its bidi controls written out (``\\u202e``): for names and ids on a page.

    Examples
    --------
    >>> neutral_bidi("interviews\\u202evsc.exe")
    'interviews\\\\u202evsc.exe'
    """
    return _BIDI.sub(lambda m: _escape(m.group()), text)


def xml_text(text: str) -> str:
    """``text`` with every code point XML 1.0 forbids replaced by U+FFFD (�).

    Applied to every XML document the atlas writes (the KML of a KMZ, a QGIS
    project ``.qgs``, a QML style), after serialisation: element and attribute
    names are the atlas's own, so an illegal code point there can only come
    from data, and it is replaced, visibly, rather than dropped.

    Examples
    --------
    >>> xml_text("Vertical\\x0btab, bell\\x07, byte \\udcff") == "Vertical\\ufffdtab, bell\\ufffd, byte \\ufffd"
    True
    """
    return _XML_ILLEGAL.sub("\ufffd", text)


def json_text(document: str) -> str:
    """A serialised JSON document with DEL, C1, bidi and line-separator characters as ``\\uXXXX``.

    JSON escapes C0 controls itself; these it leaves raw. Written as escapes,
    they are the same data to every JSON reader and nothing to a terminal
    (they can only occur inside strings, so the replacement is exact).

    Examples
    --------
    >>> import json
    >>> doc = json.dumps({"name": "a\\x9b2J\\u202eb"}, ensure_ascii=False)
    >>> json_text(doc)
    '{"name": "a\\\\u009b2J\\\\u202eb"}'
    >>> json.loads(json_text(doc)) == json.loads(doc)
    True
    """
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", document)
