"""A real browser for UI and dashboard tests: Debian's Chromium driven by Playwright for Python.

Never `playwright install` (it downloads a browser, which this network refuses): the tests use the
system's /usr/bin/chromium (`.ci/run` installs the `chromium` package when it is missing), headless,
with the flags that keep it off the network. Use text selectors (Dagster's CSS classes are hashed)
and wait for text, not for network idle. A failed test's page is saved as `failure.png` in its
tmp folder.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("DQ_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per test process."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's `chromium` package (.ci/run does)", pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request, tmp_path):
    """A fresh page (own cookies and storage); on failure its screenshot is tmp_path/failure.png."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        try:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(f"screenshot of the failed page: {tmp_path / 'failure.png'}")
        except Exception as e:  # noqa: BLE001 - a screenshot must never hide the real failure
            print(f"no screenshot: {e}")
    context.close()
