"""Fixtures for the sign-in provider tests: real providers on 127.0.0.1 (`support.oidc`), and apps
configured for them on the `make_app` databases (SQLite, and PostgreSQL when it can run).

`mock_app(provider={...}, **config)` is an app whose provider `mock` is oidc-provider-mock;
`github_app(provider={...}, **config)` one whose `github` is the local GitHub stand-in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from fastauth.hooks import EventHooks
from support.oidc import CLIENT_ID, CLIENT_SECRET, PUBLIC_URL, GitHub, Issuer, github_stand_in, mock_issuer

MakeApp = Callable[..., Awaitable[Any]]


class Recorder(EventHooks):
    """Records the sign-ins (with their provider) and the password-reset codes mailed."""

    def __init__(self) -> None:
        self.signins: list[tuple[str, str | None]] = []
        self.reset_codes: dict[str, str] = {}

    async def on_signin(self, user: Any, provider: str | None = None) -> None:
        self.signins.append((user.email, provider))

    async def on_after_forgot_password(self, user: Any, token: str) -> None:
        self.reset_codes[user.email] = token


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with mock_issuer() as running:
        yield running


@pytest.fixture
def github() -> Iterator[GitHub]:
    with github_stand_in() as running:
        yield running


@pytest.fixture
def hooks() -> Recorder:
    return Recorder()


def _base(**overrides: Any) -> dict[str, Any]:
    return {"public_url": PUBLIC_URL, "cookie_secure": False, **overrides}


@pytest.fixture
def mock_app(make_app: MakeApp, issuer: Issuer, hooks: Recorder) -> MakeApp:
    async def make(*, provider: dict[str, Any] | None = None, **overrides: Any) -> Any:
        mock = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "issuer": issuer.url}
        return await make_app(hooks=hooks, **_base(oauth={"mock": {**mock, **(provider or {})}}, **overrides))

    return make


@pytest.fixture
def github_app(make_app: MakeApp, github: GitHub, hooks: Recorder) -> MakeApp:
    async def make(*, provider: dict[str, Any] | None = None, **overrides: Any) -> Any:
        config = github.provider_config(**(provider or {}))
        return await make_app(hooks=hooks, **_base(oauth={"github": config}, **overrides))

    return make
