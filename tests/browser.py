"""Headless Chromium for tests that open a page: Debian's /usr/bin/chromium driven by
Playwright's Python package (which never downloads a browser of its own here: only the
executable path is used). Tests skip cleanly where either is missing.

    from browser import open_page
    with open_page(path) as page:   # a Playwright Page with `page.console_errors`
        ...
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium():
    """Playwright's sync API, or skip the test when Chromium or Playwright is not installed."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    return playwright.sync_playwright


@contextlib.contextmanager
def browser() -> Iterator[object]:
    """A headless Chromium browser, closed afterwards."""
    sync_playwright = require_chromium()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield instance
        finally:
            instance.close()


@contextlib.contextmanager
def open_page(path: str | Path, width: int = 1100, height: int = 900) -> Iterator[object]:
    """A file:// page loaded in headless Chromium, network refused. `page.console_errors`
    collects console errors and uncaught exceptions from the moment it starts loading."""
    with browser() as instance:
        page = instance.new_page(viewport={"width": width, "height": height})
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.route("http*://**", lambda route: (errors.append(f"network request: {route.request.url}"),
                                                route.abort()))
        page.console_errors = errors
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        yield page
