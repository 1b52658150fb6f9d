"""The one error table, seen over HTTP: a hook's own exception is a 500 hook error (never a 422 about the
email), the core's errors raised in the application's own routes are answered by the table `mount()`
installs, and the table in docs/architecture.md is the code's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fastauth import EventHooks, FastAuth, FastAuthConfig
from fastauth.errors import RateLimited, SessionNotFound, StoreUnavailable
from fastauth.web.errors import TABLE
from support.http import PASSWORD

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


class Failing(EventHooks):
    def __init__(self, hook: str, error: Exception) -> None:
        self.hook, self.error = hook, error

    async def modify_jwt(self, token: dict[str, Any], user: Any) -> dict[str, Any]:
        if self.hook == "modify_jwt":
            raise self.error
        return token

    async def on_signin(self, user: Any) -> None:
        if self.hook == "on_signin":
            raise self.error


@pytest.mark.parametrize(
    "error", [ValueError("not an email, says the hook"), KeyError("x"), RuntimeError("db")]
)
async def test_a_hook_raising_is_a_500_hook_error_that_leaves_no_account(
    make_app: Any, error: Exception
) -> None:
    a = await make_app(hooks=Failing("modify_jwt", error))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=a.app, raise_app_exceptions=False), base_url="http://testserver"
    )
    try:
        r = await client.post("/auth/register", json={"email": "alice@example.com", "password": PASSWORD})
    finally:
        await client.aclose()
    assert (r.status_code, r.json()) == (
        500,
        {"detail": "Internal error in an authentication hook", "code": "hook_error"},
    )
    assert "says the hook" not in r.text
    assert await a.auth.adapter.get_user_by_email("alice@example.com") is None


async def test_a_failing_on_signin_is_a_500_hook_error(make_app: Any) -> None:
    a = await make_app(hooks=Failing("on_signin", RuntimeError("audit log down")))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=a.app, raise_app_exceptions=False), base_url="http://testserver"
    )
    try:
        r = await client.post("/auth/register", json={"email": "bob@example.com", "password": PASSWORD})
    finally:
        await client.aclose()
    assert (r.status_code, r.json()) == (
        500,
        {"detail": "Internal error in an authentication hook", "code": "hook_error"},
    )
    assert "access_token" not in r.text


async def test_the_core_errors_of_the_applications_own_routes_are_answered_by_the_table(
    tmp_path: Path,
) -> None:
    auth = FastAuth(FastAuthConfig(secret="s" * 64, database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"))
    app = FastAPI()
    auth.mount(app)

    @app.get("/busy")
    async def busy() -> None:
        raise RateLimited(7)

    @app.get("/down")
    async def down() -> None:
        raise StoreUnavailable("database unavailable: OSError")

    @app.get("/gone")
    async def gone() -> None:
        raise SessionNotFound("no such session")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        busy_r = await client.get("/busy")
        down_r = await client.get("/down")
        gone_r = await client.get("/gone")
    assert (busy_r.status_code, busy_r.headers["retry-after"], busy_r.json()) == (
        429, "7", {"detail": "Too many attempts; try again later", "code": "rate_limited"},
    )  # fmt: skip
    assert (down_r.status_code, down_r.headers["retry-after"]) == (503, "1")
    assert "OSError" not in down_r.text
    assert (gone_r.status_code, gone_r.json()) == (
        404,
        {"detail": "No such session", "code": "session_not_found"},
    )


def _documented() -> dict[str, int]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### The answers", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", section, flags=re.MULTILINE)
    return {code: int(status) for code, status in rows}


def test_the_documented_table_is_the_code() -> None:
    assert _documented() == {code: answer.status for code, answer in TABLE.items()}
