"""What the browser tests (tests/browser/) share: screenshots and the assertions on the sign-in page's
state, message and focus. Playwright is imported only when a helper runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["ARTIFACTS", "focused", "message", "shot", "state"]

#: Where the screenshots of each page state go (git ignores it).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


def shot(page: Any, name: str) -> None:
    """A full-page screenshot, `ARTIFACTS/NAME.png`."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def state(page: Any) -> Any:
    """An assertion on `<body>` (its `data-state` says which view is shown)."""
    from playwright.sync_api import expect

    return expect(page.locator("body"))


def message(page: Any) -> Any:
    """An assertion on the page's message line."""
    from playwright.sync_api import expect

    return expect(page.locator("#message"))


def focused(page: Any) -> str:
    """The id of the element that has the focus."""
    return str(page.evaluate("document.activeElement && document.activeElement.id"))
