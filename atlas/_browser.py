"""Open a page in headless Chromium (Debian's ``/usr/bin/chromium``) through Playwright.

Used by the map's tests, its benchmark and the screenshot of ``atlas build``.
Every request other than the page itself is recorded and aborted, so a page
that needs the network shows it instead of quietly loading.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CHROMIUM", "FLAGS", "Session", "available", "open_page", "screenshot"]

CHROMIUM = os.environ.get("ATLAS_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def available() -> bool:
    """Whether Playwright and a Chromium executable are installed.

    Examples
    --------
    >>> isinstance(available(), bool)
    True
    """
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).is_file() or shutil.which(CHROMIUM) is not None


@dataclass
class Session:
    """What happened while a page was open."""

    page: object
    url: str
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@contextmanager
def open_page(path: Path, size: tuple[int, int] = (1400, 900), allow: tuple[str, ...] = (),
              wait_for: str | None = "window.atlasReady === true",
              timeout_ms: int = 60_000) -> Iterator[Session]:
    """Open ``path`` in headless Chromium; abort and record every other request.

    Parameters
    ----------
    path : pathlib.Path
        The HTML file.
    size : (int, int)
        Viewport width and height.
    allow : tuple of str
        URL prefixes let through (default none).
    wait_for : str, optional
        A JavaScript expression to wait for after loading.
    timeout_ms : int
        How long to wait for it.

    Yields
    ------
    Session
    """
    from playwright.sync_api import sync_playwright

    url = Path(path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="atlas-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=FLAGS, headless=True,
            viewport={"width": size[0], "height": size[1]})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            session = Session(page=page, url=url)

            def route(r):
                req = r.request.url
                if req == url or (allow and req.startswith(allow)):
                    r.continue_()
                else:
                    session.blocked.append(req)
                    r.abort()

            context.route("**/*", route)
            page.on("request", lambda req: session.requests.append(req.url))
            page.on("console", lambda msg: msg.type == "error" and session.console_errors.append(msg.text))
            page.on("pageerror", lambda exc: session.page_errors.append(str(exc)))
            page.goto(url, wait_until="load", timeout=timeout_ms)
            if wait_for:
                page.wait_for_function(wait_for, timeout=timeout_ms)
            yield session
        finally:
            context.close()


def screenshot(html: Path, png: Path, size: tuple[int, int] = (1400, 900)) -> Path:
    """Save a PNG of the page as headless Chromium shows it.

    Parameters
    ----------
    html : pathlib.Path
        The page.
    png : pathlib.Path
        Where to write the image.
    size : (int, int)
        Viewport width and height.

    Returns
    -------
    pathlib.Path
        ``png``.

    Examples
    --------
    >>> screenshot(Path("output/atlas.html"), Path("output/map.png"))  # doctest: +SKIP
    PosixPath('output/map.png')
    """
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    with open_page(html, size=size) as s:
        s.page.wait_for_timeout(300)
        s.page.screenshot(path=str(png))
    return png
