"""The app the HTTP flow tests run: a FastAuth mounted on FastAPI with protected routes, behind the
`make_app` fixture (tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Depends, FastAPI

from fastauth import FastAuth, FastAuthConfig
from fastauth.passwords import Argon2Params

TEST_SECRET = "test-secret-" + "x" * 40
#: Real argon2id, cheaper parameters so the suite stays fast; the OWASP default is tested on its own.
FAST_HASHER_PARAMS = Argon2Params(time_cost=1, memory_cost=1024, parallelism=1)


def make_config(database_url: str, **overrides: Any) -> FastAuthConfig:
    values: dict[str, Any] = {
        "secret": TEST_SECRET,
        "database_url": database_url,
        "rate_limit_enabled": False,
    }
    values.update(overrides)
    return FastAuthConfig(**values)


class AuthApp:
    """A FastAuth mounted on a FastAPI app with protected routes, and an httpx client for it."""

    def __init__(self, auth: FastAuth, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.auth, self.app, self.client = auth, app, client

    async def register(
        self, email: str = "alice@example.com", password: str = "correct horse"
    ) -> dict[str, Any]:
        response = await self.client.post(
            f"{self.auth.config.route_prefix}/register", json={"email": email, "password": password}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())


def build_app(auth: FastAuth) -> FastAPI:
    app = FastAPI()
    auth.mount(app)

    @app.get("/private")
    async def private(user: Any = Depends(auth.get_current_user)) -> dict[str, Any]:
        return {"id": user.id, "email": user.email}

    @app.post("/private")
    async def private_post(user: Any = Depends(auth.get_current_user)) -> dict[str, Any]:
        return {"id": user.id}

    @app.get("/claims")
    async def claims(claims: dict[str, Any] = Depends(auth.get_current_claims)) -> dict[str, Any]:
        return claims

    @app.get("/admin")
    async def admin(user: Any = Depends(auth.get_current_superuser)) -> dict[str, Any]:
        return {"id": user.id}

    @app.get("/optional")
    async def optional(user: Any = Depends(auth.get_optional_user)) -> dict[str, Any]:
        return {"user": user.id if user else None}

    @app.get("/editor")
    async def editor(user: Any = Depends(auth.require_roles("editor", fresh=True))) -> dict[str, Any]:
        return {"id": user.id}

    return app
