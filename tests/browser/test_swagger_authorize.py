"""Swagger's Authorize button on `/docs` of `fastauth serve`, in Chromium: it posts the password form to the
RFC 6749 token endpoint `/auth/token`, signs in, and shows the reason (`invalid_grant`, the description)
when the password is wrong.

Skipped when /usr/bin/chromium or the playwright package is missing, unless
FASTAUTH_TEST_REQUIRE_SERVICES=1 (CI), where that is a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support.page import shot
from support.servers import clean_env, register, serve

pytestmark = pytest.mark.browser

EMAIL = "swagger@example.com"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("serve"), clean_env()) as process:
        register(process.base, EMAIL, PASSWORD)
        yield process.base


def _authorize(new_page: Callable[..., Any], server: str, password: str) -> tuple[Any, list[str]]:
    """Open /docs, fill the Authorize dialog and submit it; the page and the token requests it sent."""
    page = new_page(server)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(f"{r.method} {r.url}") if "/auth/" in r.url else None)
    page.goto("/docs")
    page.locator("button.authorize").first.click()
    page.locator("#oauth_username").fill(EMAIL)
    page.locator("#oauth_password").fill(password)
    page.locator(".auth-container button.authorize").first.click()
    return page, sent


def test_authorize_signs_in_through_the_token_endpoint(new_page: Callable[..., Any], server: str) -> None:
    from playwright.sync_api import expect

    page, sent = _authorize(new_page, server, PASSWORD)
    expect(page.get_by_role("heading", name="Authorized")).to_be_visible()
    expect(page.get_by_role("button", name="Remove authorization")).to_be_visible()
    shot(page, "swagger-authorized")
    assert sent == [f"POST {server}/auth/token"]


def test_authorize_shows_why_a_wrong_password_is_refused(new_page: Callable[..., Any], server: str) -> None:
    from playwright.sync_api import expect

    page, sent = _authorize(new_page, server, "wrong password")
    errors = page.locator(".auth-container .errors")
    expect(errors).to_contain_text("invalid_grant")
    expect(errors).to_contain_text("Invalid email or password")
    shot(page, "swagger-refused")
    assert sent == [f"POST {server}/auth/token"]
