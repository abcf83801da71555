"""What may be shown of a string: secrets in URLs masked.

A database URL can carry a password in two places: ``user:password@host`` and
a query parameter (``?password=…``, ``passfile``, ``sslkey``, ``sslpassword``,
or any parameter whose name says it holds a secret). :func:`mask_url` masks
every one of them; every place that prints or stores a URL (messages, the
provenance block of the exports, ``show --format json``) shows it through this
function, so a secret never travels.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

__all__ = ["MASK", "SECRET_PARAMETER", "mask_url"]

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
