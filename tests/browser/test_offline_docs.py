"""`/docs` (Swagger UI) and `/redoc` (ReDoc) of `fastauth serve` in Chromium with no network: every request
to a host other than 127.0.0.1 is aborted and counted, and the pages must render with none attempted.

Skipped when /usr/bin/chromium or the playwright package is missing, unless
FASTAUTH_TEST_REQUIRE_SERVICES=1 (CI), where that is a failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from support.page import shot
from support.servers import clean_env, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("serve"), clean_env()) as process:
        yield process.base


@pytest.fixture
def offline(new_page: Callable[..., Any], server: str) -> Iterator[tuple[Any, list[str]]]:
    """A page on `server` whose requests leave 127.0.0.1 never: each one elsewhere is aborted and listed.
    The list must be empty at the end of the test."""
    page = new_page(server)
    external: list[str] = []

    def gate(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            external.append(url)
            route.abort("internetdisconnected")

    page.context.route("**/*", gate)
    yield page, external
    assert external == [], f"requests outside 127.0.0.1: {external}"


def test_swagger_ui_renders_from_local_assets(offline: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect

    page, external = offline
    page.goto("/docs")
    expect(page.locator('.opblock-summary-path[data-path="/auth/login"]')).to_be_visible()
    expect(page.locator("button.authorize")).to_be_visible()  # the OAuth2 password flow is offered
    assert page.evaluate("typeof SwaggerUIBundle") == "function"
    shot(page, "offline-swagger-ui")
    assert external == []


def test_redoc_renders_from_local_assets(offline: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect

    page, external = offline
    page.goto("/redoc")
    expect(page.locator(".api-info h1")).to_contain_text("fastauth")
    expect(page.locator(".menu-content")).to_contain_text("Login")
    expect(page.get_by_text("/auth/login").first).to_be_attached()
    shot(page, "offline-redoc")
    assert external == []


def test_the_sign_in_page_links_to_the_offline_docs(offline: tuple[Any, list[str]]) -> None:
    from playwright.sync_api import expect

    page, external = offline
    page.goto("/")
    page.get_by_role("link", name="API docs", exact=True).click()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/docs$"))
    expect(page.locator('.opblock-summary-path[data-path="/auth/login"]')).to_be_visible()
    assert external == []


def test_the_swagger_oauth2_redirect_and_the_assets_are_served(server: str) -> None:
    html = httpx.get(f"{server}/docs").text
    assert "/docs/oauth2-redirect" in html and "https://" not in html
    redirect = httpx.get(f"{server}/docs/oauth2-redirect")
    assert redirect.status_code == 200 and "oauth2" in redirect.text
    assert "https://" not in httpx.get(f"{server}/redoc").text
    for path in (
        "/docs/static/swagger-ui-bundle.js",
        "/docs/static/swagger-ui.css",
        "/docs/static/favicon.png",
        "/redoc/redoc.standalone.js",
        "/redoc/logo-mini.svg",
        "/redoc/favicon.png",
    ):
        r = httpx.get(f"{server}{path}")
        assert r.status_code == 200 and len(r.content) > 300, path
