"""What the browser tests share: Debian's headless Chromium through Playwright (one per test module),
and pages that fail their test on a script error or a Content-Security-Policy violation.

Skipped when /usr/bin/chromium or the playwright package is missing, unless
FASTAUTH_TEST_REQUIRE_SERVICES=1 (CI), where that is a failure. Playwright's own browser download is
never used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.servers import missing

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1100, "height": 820}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not for the whole session: Playwright's sync API keeps an event loop
    running in this thread while it is open, which the asyncio tests that follow could not run under."""
    if not Path(CHROMIUM).is_file():
        missing(f"{CHROMIUM} not found (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing("the playwright package is not installed (pip install 'playwright>=1.40')")
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions do: on a loaded CI machine 5 s (Playwright's default) is not
    # always enough for a page that waits on the server and on the virtual authenticator.
    expect.set_options(timeout=8000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """`new_page(base_url, viewport=DESKTOP)`: a page in a fresh browser context (its own cookie jar),
    not yet loaded. Script errors and Content-Security-Policy violations on it fail the test."""
    contexts: list[Any] = []
    problems: list[str] = []

    def console(msg: Any) -> None:
        # Chromium logs every 4xx answer as "Failed to load resource": expected here (401 before a refresh).
        if "Content Security Policy" in msg.text or (
            msg.type == "error" and "Failed to load" not in msg.text
        ):
            problems.append(f"console {msg.type}: {msg.text}")

    def factory(base_url: str, viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport, base_url=base_url)
        context.set_default_timeout(8000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("console", console)
        return page

    yield factory
    for context in contexts:
        context.close()
    assert not problems, problems
