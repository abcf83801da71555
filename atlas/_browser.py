"""Open a page in headless Chromium (Debian's ``/usr/bin/chromium``) through Playwright.

Used by the map's tests, its benchmark and the screenshot of ``atlas build``.
Every request other than the page itself is recorded and aborted, so a page
that needs the network shows it instead of quietly loading.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CHROMIUM", "FLAGS", "Session", "available", "chromium", "open_page", "screenshot"]

CHROMIUM = os.environ.get("ATLAS_CHROMIUM", "/usr/bin/chromium")


def executable() -> str:
    """The Chromium to run: ``$ATLAS_CHROMIUM`` as it is now, else ``/usr/bin/chromium``."""
    return os.environ.get("ATLAS_CHROMIUM", "/usr/bin/chromium")
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
    return Path(executable()).is_file() or shutil.which(executable()) is not None


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
def chromium() -> Iterator[object]:
    """Launch headless Chromium once (a fresh temporary profile); yield the Playwright browser.

    Yields
    ------
    playwright.sync_api.Browser
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable(), args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(path: Path, size: tuple[int, int] = (1400, 900), allow: tuple[str, ...] = (),
              wait_for: str | None = "window.atlasReady === true",
              timeout_ms: int = 60_000, browser=None) -> Iterator[Session]:
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
    browser : playwright Browser, optional
        One from :func:`chromium`, to reuse; default: launch one for this page.

    Yields
    ------
    Session
    """
    if browser is None:
        with chromium() as own, open_page(path, size, allow, wait_for, timeout_ms, own) as session:
            yield session
        return
    url = Path(path).resolve().as_uri()
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    try:
        page = context.new_page()
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
        if wait_for:  # as a function: a bare expression would be eval'd on each poll, which the CSP forbids
            page.wait_for_function(f"() => ({wait_for})", timeout=timeout_ms)
        yield session
    finally:
        context.close()


def _shoot(html: Path, png: Path, size: tuple[int, int]) -> None:
    with open_page(html, size=size) as s:
        s.page.wait_for_timeout(300)
        s.page.screenshot(path=str(png))


def screenshot(html: Path, png: Path, size: tuple[int, int] = (1400, 900)) -> Path:
    """Save a PNG of the page as headless Chromium shows it.

    Runs in a child process, so it works from a notebook or a test whose own
    event loop or Playwright session is running.

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

    Raises
    ------
    RuntimeError
        If Chromium could not render the page.

    Examples
    --------
    >>> import tempfile, atlas
    >>> folder = Path(tempfile.mkdtemp())
    >>> png = screenshot(atlas.write_map(folder / "atlas.html"), folder / "map.png")  # needs Chromium
    >>> png.read_bytes()[1:4] == b"PNG"
    True
    """
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "atlas._browser", str(html), str(png), str(size[0]), str(size[1])],
        capture_output=True, text=True, timeout=300)
    if result.returncode != 0 or not png.is_file():
        raise RuntimeError(f"screenshot of {html} failed: {result.stderr.strip()[-500:]}")
    return png


if __name__ == "__main__":
    _shoot(Path(sys.argv[1]), Path(sys.argv[2]), (int(sys.argv[3]), int(sys.argv[4])))
