"""A headless browser for the dashboard tests: Debian's Chromium driven by Playwright.

Import the ``browser`` fixture into a test module (``from tests.browser import browser``).
It skips, naming what is missing, only when Playwright or the browser is not there
(``scripts/ensure-chromium`` installs Chromium; ``make test`` runs it). ``CHROMIUM`` overrides
the browser's path. Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright for Python is not installed")
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        pytest.skip(f"no browser: {CHROMIUM} is missing (scripts/ensure-chromium installs "
                    "Debian's chromium when run as root with apt-get)")
    with sync_api.sync_playwright() as pw:
        # Playwright gives every launch a fresh profile directory of its own.
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def latest(page, expr: str):
    """Evaluate ``expr`` with ``s`` bound to the page's latest snapshot."""
    return page.evaluate(f"() => {{ const s = window.spillway.latest(); return {expr}; }}")


def chart_sizes(page) -> dict[str, tuple[int, int, int]]:
    """Chart name -> (canvas width, canvas height, points in the uPlot instance's data)."""
    return {name: (w, h, n) for name, w, h, n in page.evaluate(
        """() => Object.entries(window.spillway.charts).map(([k, u]) => {
            const c = u.root.querySelector('canvas');
            return [k, c ? c.width : 0, c ? c.height : 0, u.data[0].length]; })""")}


def open_dashboard(browser, url: str, timeout_ms: float) -> tuple[object, list[str]]:
    """A new page on the dashboard at ``url``, once it has drawn two snapshots; returns the
    page and the list its uncaught script errors are appended to. Asserts that the five charts
    drew: a canvas of non-zero size and data points in each uPlot instance."""
    page = browser.new_page(viewport={"width": 1280, "height": 1500})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function("() => window.spillway && window.spillway.updates >= 2",
                           timeout=timeout_ms)
    sizes = chart_sizes(page)
    assert sorted(sizes) == ["ack", "breaker", "depth", "rates", "slots"]
    for name, (w, h, points) in sizes.items():
        assert w > 0 and h > 0 and points > 0, (name, w, h, points)
    return page, errors


def screenshot_if_asked(page, settle_ms: float) -> None:
    """Save a full-page screenshot to ``$SPILLWAY_DASHBOARD_SCREENSHOT`` when it is set, after
    ``settle_ms`` milliseconds (more samples after the drain, for the picture)."""
    shot = os.environ.get("SPILLWAY_DASHBOARD_SCREENSHOT")
    if shot:
        page.wait_for_timeout(settle_ms)
        page.screenshot(path=shot, full_page=True)
